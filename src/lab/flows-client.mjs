// A bounded load of long-lived flows for the lab (tsvs lab, test/lab/scale-out.test.ts, bench):
// each flow is one TCP connection to HOST:PORT that first asks /whoami (which real server it
// reached), then either keeps asking "/" on the same keep-alive connection every INTERVAL ms
// ("requests"), or downloads /stream/MiB reading at RATE bytes/s and checking every byte of the
// lab's pattern ("download"). A flow breaks on a reset, an early close, a wrong byte, a changed
// real server, or no answer within TIMEOUT ms. Plain JS, no loader (starts fast in a namespace).
// argv: one JSON object { host, port, requests, downloads, mib, rate, intervalMs, durationMs, timeoutMs }.
// Prints one JSON line {"ready":...,"ports":[client ports]} once every flow knows its real server, and one {"flows":[...]} at the end
// (per flow: kind, lport, server, requests, bytes, broken, brokenAt, maxWaitMs: the longest wait for an answer).
import net from 'node:net';

const o = JSON.parse(process.argv[2] ?? '{}');
const host = o.host, port = o.port ?? 80;
const intervalMs = o.intervalMs ?? 50, durationMs = o.durationMs ?? 10000, timeoutMs = o.timeoutMs ?? 3000;
const t0 = performance.now();
const now = () => Math.round(performance.now() - t0);
const flows = [];
let stopping = false;

function flow(kind) {
  const f = { kind, lport: 0, server: null, requests: 0, bytes: 0, broken: null, brokenAt: null, done: false, maxWaitMs: 0 };
  flows.push(f);
  const s = net.connect({ host, port });
  s.setNoDelay(true);
  let buf = Buffer.alloc(0);
  let want = null; // { kind: 'whoami' | 'ping' | 'stream', since }
  let timer = null;
  let left = 0; // stream bytes still expected
  let off = 0; // stream offset (pattern check)
  const arm = () => { clearTimeout(timer); timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms (${want?.kind})`), timeoutMs); };
  const fail = (why) => {
    if (f.broken || f.done) return;
    f.broken = why;
    f.brokenAt = now();
    clearTimeout(timer);
    s.destroy();
  };
  const finish = () => {
    if (f.broken || f.done) return;
    f.done = true;
    clearTimeout(timer);
    s.end();
  };
  const ask = (what, path) => {
    want = { kind: what, since: performance.now() };
    s.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    arm();
  };
  const next = () => {
    if (kind === 'requests' && stopping) return finish();
    if (kind === 'requests') setTimeout(() => (stopping ? finish() : ask('ping', '/')), intervalMs);
    else if (f.bytes === 0 && want?.kind !== 'stream') ask('stream', `/stream/${o.mib ?? 8}`);
    else finish();
  };
  // Reading paced to `rate` bytes/s for downloads: pause, resume once the budget allows.
  let budgetAt = performance.now(), budget = 0;
  const pace = (n) => {
    if (!o.rate || kind !== 'download') return;
    budget -= n;
    const t = performance.now();
    budget += ((t - budgetAt) / 1000) * o.rate;
    budgetAt = t;
    if (budget < 0) { s.pause(); setTimeout(() => s.resume(), Math.ceil((-budget / o.rate) * 1000)); }
  };
  s.on('connect', () => { f.lport = s.localPort; ask('whoami', '/whoami'); });
  s.on('data', (d) => {
    if (f.broken) return;
    if (want?.kind === 'stream' && left > 0) {
      // body bytes of the stream: checked against the pattern as they come
      const n = Math.min(d.length, left);
      for (let i = 0; i < n; i++) if (d[i] !== ((((off + i) & 255) * 31 + 7) & 255)) return fail(`wrong byte at ${off + i}`);
      off += n; left -= n; f.bytes += n;
      arm();
      pace(n);
      if (left === 0) { want = null; next(); }
      return;
    }
    buf = Buffer.concat([buf, d]);
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = buf.subarray(0, end).toString();
    const len = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? -1);
    if (!/^HTTP\/1\.1 200/.test(head) || len < 0) return fail(`bad answer: ${head.split('\r\n')[0]}`);
    if (want.kind === 'stream') {
      left = len;
      off = 0;
      const rest = buf.subarray(end + 4);
      buf = Buffer.alloc(0);
      if (rest.length > 0) s.emit('data', rest);
      return;
    }
    if (buf.length < end + 4 + len) return;
    const body = buf.subarray(end + 4, end + 4 + len).toString().trim();
    buf = buf.subarray(end + 4 + len);
    clearTimeout(timer);
    f.maxWaitMs = Math.max(f.maxWaitMs, Math.round(performance.now() - want.since));
    if (want.kind === 'whoami') {
      f.server = body.split(' ')[0];
      want = null;
      checkReady();
    } else {
      if (body !== f.server) return fail(`answered by ${body}, not ${f.server}`);
      f.requests++;
      want = null;
    }
    next();
  });
  s.on('error', (e) => fail(e.code ?? e.message));
  s.on('close', () => { if (!f.done) fail('closed'); });
}

let ready = false;
function checkReady() {
  if (ready || flows.some((f) => f.server === null && !f.broken)) return;
  ready = true;
  process.stdout.write(JSON.stringify({ ready: now(), flows: flows.length, ports: flows.map((f) => f.lport), broken: flows.filter((f) => f.broken).length }) + '\n');
}

for (let i = 0; i < (o.requests ?? 0); i++) flow('requests');
for (let i = 0; i < (o.downloads ?? 0); i++) flow('download');
setTimeout(() => { stopping = true; }, durationMs);
// Hard bound: whatever is still open after the duration and one timeout is broken.
setTimeout(() => {
  for (const f of flows) if (!f.done && !f.broken) { f.broken = 'still open at the end'; f.brokenAt = now(); }
  report();
}, durationMs + timeoutMs + 1000).unref();
const poll = setInterval(() => {
  if (stopping && flows.every((f) => f.done || f.broken)) report();
}, 50);
let reported = false;
function report() {
  if (reported) return;
  reported = true;
  clearInterval(poll);
  process.stdout.write(JSON.stringify({ flows }) + '\n');
  process.exit(0);
}
