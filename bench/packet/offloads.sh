#!/usr/bin/env bash
# bench/packet/offloads.ts: the packet forwarder with the veths' default offloads vs offloads off,
# one lab at a time (namespaces tsvs-bench-off-*), bounded (BENCH_SECONDS per wrk run x 4 runs x
# BENCH_ROUNDS), removed at the end. Take the shared lock: flock /tmp/tsvs-suite.lock bash bench/packet/offloads.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" != 0 ]; then echo "bench/packet/offloads needs root (network namespaces, AF_PACKET)"; exit 0; fi
exec timeout --kill-after=10 900 node --import tsx bench/packet/offloads.ts "$@"
