#!/usr/bin/env bash
# Builds the Debian packages with dpkg-deb, into OUTDIR (default packaging/out), from the npm
# package (packaging/npm-pack.sh, also left in OUTDIR):
#   tsvs_VERSION-1_ARCH.deb       /usr/sbin/tsvs, /usr/sbin/tsvsadm (the package in /usr/lib/tsvs,
#                                 node_modules included), the systemd unit tsvs.service, /etc/tsvs/rules,
#                                 man pages tsvs(8) and tsvsadm(8)
#   tsvs-ipvsadm_VERSION-1_all.deb  opt-in: ipvsadm, ipvsadm-save and ipvsadm-restore run tsvsadm, so
#                                 scripts written for ipvsadm run unchanged (replaces the ipvsadm package)
# Usage: packaging/build-deb.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-packaging/out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
VERSION=$(node -p "require('./package.json').version")
DEBVER="$VERSION-1"
ARCH=$(dpkg --print-architecture) # koffi's native binary in node_modules is this machine's
MAINT='tsvs maintainers <tsvs@localhost>'

WORK=$(mktemp -d /tmp/tsvs-deb.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
TGZ=$(bash packaging/npm-pack.sh "$OUT" | tail -n 1)

# --- tsvs ---
R="$WORK/tsvs"
mkdir -p "$R/DEBIAN" "$R/usr/lib/tsvs" "$R/usr/sbin" "$R/lib/systemd/system" "$R/etc/tsvs" \
  "$R/usr/share/man/man8" "$R/usr/share/doc/tsvs"
tar -xzf "$TGZ" -C "$R/usr/lib/tsvs" --strip-components=1 --no-same-owner
rm -rf "$R/usr/lib/tsvs/man" "$R/usr/lib/tsvs/packaging"
# Relative links, so the tree also works unpacked elsewhere (dpkg -x DIR).
ln -s ../lib/tsvs/bin/tsvs.mjs "$R/usr/sbin/tsvs"
ln -s ../lib/tsvs/bin/tsvsadm.mjs "$R/usr/sbin/tsvsadm"
install -m 0644 packaging/tsvs.service "$R/lib/systemd/system/tsvs.service"
: > "$R/etc/tsvs/rules" # ipvsadm -S lines; empty: the daemon starts with no services
for m in tsvs tsvsadm; do gzip -9n < "man/$m.8" > "$R/usr/share/man/man8/$m.8.gz"; done
mv "$R/usr/lib/tsvs/README.md" "$R/usr/lib/tsvs/docs" "$R/usr/share/doc/tsvs/"
cat > "$R/usr/share/doc/tsvs/copyright" <<C
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: tsvs
Files: *
License: MIT
Comment: bundled Node.js modules under /usr/lib/tsvs/node_modules carry their own licenses (koffi: MIT, pino: MIT).
C
echo /etc/tsvs/rules > "$R/DEBIAN/conffiles"
cat > "$R/DEBIAN/control" <<C
Package: tsvs
Version: $DEBVER
Architecture: $ARCH
Maintainer: $MAINT
Installed-Size: $(du -sk --exclude=DEBIAN "$R" | cut -f1)
Depends: nodejs (>= 20)
Recommends: iproute2, nftables
Suggests: clang, libbpf1, bird2, tsvs-ipvsadm
Section: net
Priority: optional
Description: Linux Virtual Server load balancer in user space, ipvsadm-compatible
 tsvs does what LVS does (kernel IPVS, ipvsadm, keepalived, ldirectord) without
 the kernel's IPVS: virtual services with the kernel's schedulers, health checks,
 VRRP failover and connection sync. tsvsadm speaks ipvsadm 1.31's command line;
 tsvs daemon forwards with sockets (no root) or packets (NAT, DR, TUN).
C
cat > "$R/DEBIAN/postinst" <<'S'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
exit 0
S
cat > "$R/DEBIAN/prerm" <<'S'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then systemctl stop tsvs.service >/dev/null 2>&1 || true; fi
exit 0
S
cat > "$R/DEBIAN/postrm" <<'S'
#!/bin/sh
set -e
if [ "$1" = purge ]; then rm -rf /var/lib/tsvs; fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
exit 0
S
chmod 0755 "$R/DEBIAN/postinst" "$R/DEBIAN/prerm" "$R/DEBIAN/postrm"

# --- tsvs-ipvsadm ---
A="$WORK/tsvs-ipvsadm"
mkdir -p "$A/DEBIAN" "$A/usr/sbin" "$A/usr/share/man/man8" "$A/usr/share/doc/tsvs-ipvsadm"
ln -s tsvsadm "$A/usr/sbin/ipvsadm"
install -m 0755 packaging/ipvsadm/ipvsadm-save packaging/ipvsadm/ipvsadm-restore "$A/usr/sbin/"
for m in ipvsadm ipvsadm-save ipvsadm-restore; do ln -s tsvsadm.8.gz "$A/usr/share/man/man8/$m.8.gz"; done
cp "$R/usr/share/doc/tsvs/copyright" "$A/usr/share/doc/tsvs-ipvsadm/copyright"
cat > "$A/DEBIAN/control" <<C
Package: tsvs-ipvsadm
Version: $DEBVER
Architecture: all
Maintainer: $MAINT
Installed-Size: $(du -sk --exclude=DEBIAN "$A" | cut -f1)
Depends: tsvs (= $DEBVER)
Conflicts: ipvsadm
Replaces: ipvsadm
Provides: ipvsadm
Section: net
Priority: optional
Description: ipvsadm, ipvsadm-save and ipvsadm-restore run by tsvs's tsvsadm
 Opt-in companion of tsvs: installs the ipvsadm commands as tsvsadm (with -S and
 -R for ipvsadm-save and ipvsadm-restore), so scripts written for ipvsadm
 administer the tsvs daemon unchanged. Replaces the ipvsadm package.
C

for p in "$R" "$A"; do
  find "$p" -type d -exec chmod 0755 {} +
  dpkg-deb --root-owner-group -Zxz --build "$p" "$OUT" >/dev/null
done
ls "$TGZ" "$OUT"/tsvs_"$DEBVER"_"$ARCH".deb "$OUT"/tsvs-ipvsadm_"$DEBVER"_all.deb
