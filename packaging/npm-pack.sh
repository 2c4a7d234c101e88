#!/usr/bin/env bash
# Builds the npm package: OUTDIR/tsvs-VERSION.tgz (default OUTDIR: packaging/out), installable with
#   npm install -g tsvs-VERSION.tgz
# into working `tsvs` and `tsvsadm` commands. The tarball carries the compiled JavaScript (dist/) and
# its production dependencies (koffi, with this machine's native build, and pino: bundleDependencies),
# so installing it needs no registry.
# It packs a staged copy with a node_modules of its own, holding the production dependencies only
# (a checkout's node_modules may be a symlink or hold the dev tools; npm pack bundles neither well).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${1:-packaging/out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

node scripts/build.mjs --quiet
STAGE=$(mktemp -d /tmp/tsvs-npm-stage.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
cp -a package.json package-lock.json README.md bin dist bpf man docs "$STAGE"/
mkdir -p "$STAGE/packaging"
cp -a packaging/tsvs.service packaging/ipvsadm "$STAGE/packaging/"
cd "$STAGE"
# --ignore-scripts: nothing to compile (koffi loads its prebuilt binary); the tree is already built.
npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null
npm pack --ignore-scripts --pack-destination "$OUT" --loglevel=error | tail -n 1 | sed "s#^#$OUT/#"
