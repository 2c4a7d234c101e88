#!/usr/bin/env bash
# Director failover time: kill -9 of the VRRP master -> first probe answered through the backup.
# tsvs pair (forwarding, synced) vs keepalived pair (VIP only), at advert_int 1 s and 0.1 s.
# Root; builds and removes its own namespaces (prefix tsvs-bfo). RUNS=20 by default (~8 min).
set -euo pipefail
cd "$(dirname "$0")/../.."
trap 'node bin/tsvs.mjs lab down --prefix tsvs-bfo >/dev/null 2>&1 || true' EXIT
timeout 1500 node --import tsx bench/failover/failover.ts
