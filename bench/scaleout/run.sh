#!/usr/bin/env bash
# Several active directors behind ECMP: throughput with 1, 2, 3 directors and their CPU, the time
# from a director's death (or stop, drain, hang) to its withdrawal at the router, flows broken per
# event. Root; builds and removes its own namespaces (prefix tsvs-bso). ~4 min with the defaults.
set -euo pipefail
cd "$(dirname "$0")/../.."
trap 'node bin/tsvs.mjs lab down --prefix tsvs-bso >/dev/null 2>&1 || true' EXIT
node scripts/build.mjs >/dev/null
timeout 1200 node --import tsx bench/scaleout/scaleout.ts
