#!/usr/bin/env bash
# Installs everything tsvs needs on a fresh Debian machine, idempotently.
# Safe to run repeatedly: skips apt when every package is present, npm when node_modules is current,
# the build when dist/ was compiled from the current sources.
set -euo pipefail
cd "$(dirname "$0")/.."

# prometheus-node-exporter: the oracle for --procfs (test/observe); chromium: the dashboard test.
APT_PACKAGES=(iproute2 nftables iptables ethtool curl nginx-light libnginx-mod-stream haproxy keepalived ldirectord wrk tcpdump procps kmod clang libbpf1 socat bird2 util-linux prometheus-node-exporter chromium hping3)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    # Packages like nginx and keepalived must not start system-wide daemons: tests start their own.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
  else
    echo "setup: not root, cannot install: ${missing[*]} (tests that need them will skip)" >&2
  fi
fi

# A node_modules that is a symlink belongs to another checkout (a worktree or an exported copy
# sharing it): `npm ci` would reinstall that checkout's packages under it, so leave it alone.
if [ -L node_modules ]; then
  echo "setup: node_modules is a symlink to $(readlink node_modules); not reinstalling it" >&2
elif [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

# Compile src/ into dist/ (what bin/tsvs.mjs, bin/tsvsadm.mjs and the daemon's workers run).
node scripts/build.mjs
