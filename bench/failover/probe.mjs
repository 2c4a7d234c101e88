// UDP probe: sends "<seq>" to HOST:PORT every INTERVAL ms for DURATION s from one socket and
// prints "<seq> <sentNs> <recvNs>" (CLOCK_MONOTONIC, process.hrtime) for every answer.
// argv: host port intervalMs durationS
import dgram from 'node:dgram';

const [host, port, intervalMs, durationS] = process.argv.slice(2);
const sent = new Map();
const sock = dgram.createSocket('udp4');
let seq = 0;
sock.on('message', (m) => {
  const now = process.hrtime.bigint();
  const s = Number(String(m).split(':').pop());
  const t = sent.get(s);
  if (t === undefined) return;
  sent.delete(s);
  process.stdout.write(`${s} ${t} ${now}\n`);
});
sock.on('error', () => {});
const timer = setInterval(() => {
  seq++;
  sent.set(seq, process.hrtime.bigint());
  if (sent.size > 100000) sent.delete(seq - 100000);
  sock.send(String(seq), Number(port), host);
}, Number(intervalMs));
setTimeout(() => { clearInterval(timer); sock.close(); }, Number(durationS) * 1000);
process.on('SIGTERM', () => { clearInterval(timer); sock.close(); process.exit(0); });
