#!/usr/bin/env bash
# tsvs proxy forwarder vs HAProxy (mode tcp) vs nginx stream, same backends, same core budget,
# in one run. Bounded: BENCH_SECONDS per run (default 10) x 3 workloads x 3 proxies x BENCH_ROUNDS.
# Usage: bench/proxy/run.sh   (env: BENCH_SECONDS, BENCH_CONNS, BENCH_WORKERS, BENCH_ONLY=tsvs,haproxy,nginx,
#        BENCH_ROUNDS (default 3: interleaved, medians), BENCH_WORKLOADS=0,1,2; see bench.ts)
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" = 0 ] && [ "${BENCH_SKIP_SETUP:-0}" != 1 ]; then bash scripts/setup.sh; fi
for b in wrk haproxy nginx; do command -v "$b" >/dev/null || { echo "bench/proxy: $b is missing (run scripts/setup.sh as root)" >&2; exit 1; }; done
node scripts/build.mjs --quiet # the daemon runs the compiled dist/
exec node --import tsx bench/proxy/bench.ts "$@"
