#!/usr/bin/env bash
# The two-command demo, step one: installs what tsvs needs, then starts a working VIP.
#   three HTTP real servers on 127.0.0.1:8081-8083 answering rs1/rs2/rs3,
#   a tsvs daemon (proxy forwarder, no root needed) with a wrr VIP on 127.0.0.1:8080, weights 3/2/1,
#   shows `tsvsadm -L -n`, sends a dozen requests, and keeps running until Ctrl-C.
# Environment: DEMO_EXIT_AFTER=1 (stop after the requests, for tests), DEMO_SKIP_SETUP=1,
#              DEMO_PORT (VIP port, default 8080), DEMO_RS_BASE (first real-server port, default 8081).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [ "${DEMO_SKIP_SETUP:-0}" != 1 ]; then
  echo "== setup (scripts/setup.sh)"
  bash scripts/setup.sh
fi
node scripts/build.mjs --quiet # compiled dist/ (setup builds it too; a no-op when current)

VIP=127.0.0.1
PORT=${DEMO_PORT:-8080}
BASE=${DEMO_RS_BASE:-8081}
RS1=$BASE; RS2=$((BASE + 1)); RS3=$((BASE + 2))
DIR=$(mktemp -d "${TMPDIR:-/tmp}/tsvs-demo.XXXXXX")
export TSVS_SOCKET=$DIR/tsvs.sock
TSVS="node $ROOT/bin/tsvs.mjs"
tsvsadm() { node "$ROOT/bin/tsvsadm.mjs" "$@"; }

PIDS=()
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "== stopping the demo"
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

for p in "$PORT" "$RS1" "$RS2" "$RS3"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "demo: port $p on 127.0.0.1 is already in use (set DEMO_PORT / DEMO_RS_BASE)" >&2
    exit 1
  fi
done

echo "== real servers: $VIP:$RS1=rs1 $VIP:$RS2=rs2 $VIP:$RS3=rs3"
$TSVS demo backends "$VIP:$RS1=rs1" "$VIP:$RS2=rs2" "$VIP:$RS3=rs3" >"$DIR/backends.log" 2>&1 &
PIDS+=($!)

echo "== tsvs daemon (control socket $TSVS_SOCKET, logs in $DIR/daemon.log)"
$TSVS daemon --socket "$TSVS_SOCKET" --state "$DIR/rules" >"$DIR/daemon.log" 2>&1 &
DAEMON=$!
PIDS+=($DAEMON)
for _ in $(seq 100); do
  [ -S "$TSVS_SOCKET" ] && tsvsadm -L -n >/dev/null 2>&1 && break
  kill -0 "$DAEMON" 2>/dev/null || { echo "demo: the daemon exited:" >&2; cat "$DIR/daemon.log" >&2; exit 1; }
  sleep 0.1
done
for _ in $(seq 50); do grep -q 'real servers up' "$DIR/backends.log" && break; sleep 0.1; done

run() { echo "\$ tsvsadm $*"; tsvsadm "$@"; }
run -A -t "$VIP:$PORT" -s wrr
run -a -t "$VIP:$PORT" -r "$VIP:$RS1" -m -w 3
run -a -t "$VIP:$PORT" -r "$VIP:$RS2" -m -w 2
run -a -t "$VIP:$PORT" -r "$VIP:$RS3" -m -w 1
echo
run -L -n
echo
echo "== 12 requests to http://$VIP:$PORT/"
answers=()
for i in $(seq 12); do
  a=$(curl -s --max-time 5 "http://$VIP:$PORT/" || echo "(failed)")
  answers+=("$a")
  printf '  request %2d -> %s\n' "$i" "$a"
done
echo "== spread (weights 3/2/1)"
printf '%s\n' "${answers[@]}" | sort | uniq -c | sed 's/^/  /'
echo
run -L -n --stats
echo

if [ "${DEMO_EXIT_AFTER:-0}" = 1 ]; then
  exit 0
fi
echo "The VIP stays up: try   curl http://$VIP:$PORT/   or   TSVS_SOCKET=$TSVS_SOCKET npx tsvsadm -L -n"
echo "Press Ctrl-C to stop."
wait "$DAEMON"
