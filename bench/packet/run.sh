#!/usr/bin/env bash
# bench/packet: the packet forwarder vs the kernel's ip_forward, and DR/TUN/NAT vs HAProxy,
# nginx stream and nftables DNAT, in one lab (network namespaces tsvs-bench-*), bounded in time
# (BENCH_SECONDS per HTTP run, BENCH_PACKETS per UDP burst) and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" != 0 ]; then echo "bench/packet needs root (network namespaces, AF_PACKET)"; exit 0; fi
exec timeout --kill-after=10 2400 node --import tsx bench/packet/run.ts "$@"
