// A probe in its own process (so the test's own work does not count as the daemon's stall):
// a persistent TCP connection through the proxy echoing 8 bytes every 10 ms, and a ping on the
// control socket every 100 ms (a new connection each). Reads commands on stdin, one per line:
// `report` prints {forwardWorstMs, rounds, pingWorstMs, pings, pingBusy, pingErrors} as one JSON
// line; `reset` zeroes them. Exits when stdin closes.
// Usage: node probe.mjs ECHO_PORT CONTROL_SOCKET
import { connect } from 'node:net';
import { createInterface } from 'node:readline';

const [port, socket] = [Number(process.argv[2]), process.argv[3]];
const zero = { forwardWorstMs: 0, rounds: 0, pingWorstMs: 0, pings: 0, pingBusy: 0, pingErrors: 0 };
const st = { ...zero };

const s = connect({ host: '127.0.0.1', port });
s.setNoDelay(true);
s.on('error', () => process.exit(3));
let sentAt = 0;
let inFlight = false;
let got = 0;
s.on('data', (d) => {
  got += d.length;
  while (got >= 8) {
    got -= 8;
    inFlight = false;
    st.rounds++;
    st.forwardWorstMs = Math.max(st.forwardWorstMs, performance.now() - sentAt);
  }
});
s.on('connect', () => {
  setInterval(() => {
    if (inFlight) {
      // Still waiting: the stall so far counts even if it never ends.
      st.forwardWorstMs = Math.max(st.forwardWorstMs, performance.now() - sentAt);
      return;
    }
    inFlight = true;
    sentAt = performance.now();
    s.write('12345678');
  }, 10);
});

function ping() {
  const t = performance.now();
  const c = connect(socket);
  let buf = '';
  let done = false;
  const end = (what) => {
    if (done) return;
    done = true;
    c.destroy();
    if (what === 'pong') {
      st.pings++;
      st.pingWorstMs = Math.max(st.pingWorstMs, performance.now() - t);
    } else if (what === 'busy') st.pingBusy++;
    else st.pingErrors++;
    setTimeout(ping, 100);
  };
  c.setEncoding('utf8');
  c.on('connect', () => c.write('{"v":1,"id":"probe","op":"ping"}\n'));
  c.on('data', (d) => {
    buf += d;
    if (buf.includes('\n')) end(buf.includes('"pong":true') ? 'pong' : buf.includes('"EBUSY"') ? 'busy' : 'other');
  });
  c.on('error', () => end('error'));
  c.on('close', () => end('error'));
}
ping();

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'report') process.stdout.write(JSON.stringify(st) + '\n');
  if (line === 'reset') Object.assign(st, zero);
}).on('close', () => process.exit(0));
