#!/usr/bin/env bash
# tsvsadm and daemon start-up (see startup.ts): builds dist/ first (idempotent), then measures the
# compiled commands as installed. Usage: bash bench/cli/run.sh [--runs 20] [--daemon-runs 10]
set -euo pipefail
cd "$(dirname "$0")/../.."
node scripts/build.mjs --quiet
exec timeout --kill-after=10 600 node --import tsx bench/cli/startup.ts "$@"
