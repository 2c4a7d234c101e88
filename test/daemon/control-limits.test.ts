/**
 * The control socket's limits on a real Unix socket with a real ControlServer (small limits so
 * each is reached quickly): request size, clients, read-ahead and unread answers, idle clients,
 * half-closed clients; and the line reader's linear time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { connect } from 'node:net';
import { ControlServer, type ControlLimits } from '../../src/daemon/control-server.ts';
import { LineReader } from '../../src/daemon/line-reader.ts';
import type { Request } from '../../src/daemon/protocol.ts';
import { tmpDir, sleep } from './helpers.ts';
import { RawClient } from '../reliability/helpers.ts';

test('the line reader splits lines across chunks and refuses a long line at the chunk that passes the limit', () => {
  const cases: { chunks: string[]; max: number; lines: string[]; tooBigAt: number | null }[] = [
    { chunks: ['a\nb', 'c\n', '\n', 'd'], max: 10, lines: ['a', 'bc', ''], tooBigAt: null },
    { chunks: ['abc', 'def', 'ghi\n'], max: 9, lines: ['abcdefghi'], tooBigAt: null },
    { chunks: ['abc', 'def', 'ghij', 'never\n'], max: 9, lines: [], tooBigAt: 2 },
    { chunks: ['ok\n0123456789ab\nlost\n'], max: 9, lines: ['ok'], tooBigAt: 0 },
    { chunks: ['0123456789\n'], max: 10, lines: ['0123456789'], tooBigAt: null },
  ];
  for (const c of cases) {
    const lines: string[] = [];
    let tooBigAt: number | null = null;
    let i = 0;
    const r = new LineReader(c.max, (l) => lines.push(l.toString()), () => { tooBigAt = i; });
    for (; i < c.chunks.length; i++) r.push(Buffer.from(c.chunks[i]!));
    assert.deepEqual({ lines, tooBigAt }, { lines: c.lines, tooBigAt: c.tooBigAt }, JSON.stringify(c.chunks));
  }
});

test('the line reader takes 256 MB in 64 KiB chunks in linear time (one scan per byte)', () => {
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const time = (mb: number): number => {
    let n = 0;
    const r = new LineReader(1 << 30, () => n++, () => assert.fail('not too big'));
    const t = performance.now();
    for (let i = 0; i < mb * 16; i++) r.push(chunk);
    r.push(Buffer.from('\n'));
    assert.equal(n, 1);
    return performance.now() - t;
  };
  const small = time(16);
  const big = time(256);
  console.log(`# line reader: 16 MB ${small.toFixed(0)} ms, 256 MB ${big.toFixed(0)} ms`);
  // A quadratic reader (re-joining and re-scanning the growing line) takes minutes for 256 MB.
  assert.ok(big < 3000, `${big} ms`);
});

interface Harness { server: ControlServer; path: string; calls: () => number; close(): Promise<void> }

async function harness(limits: Partial<ControlLimits>, handler?: (req: Request) => Promise<Record<string, unknown>>): Promise<Harness> {
  const path = join(tmpDir('tsvs-ctl-'), 'ctl.sock');
  let calls = 0;
  const server = new ControlServer(path, async (req) => {
    calls++;
    return handler ? handler(req) : { echo: req.id };
  }, () => {}, limits);
  await server.listen();
  return { server, path, calls: () => calls, close: () => server.close() };
}

const line = (id: number | string, op = 'ping'): string => JSON.stringify({ v: 1, id, op }) + '\n';
const ids = (c: RawClient): unknown[] => c.lines.map((l) => (JSON.parse(l) as { id: unknown }).id);

test('a client over the limit gets an EBUSY line and an orderly close; the others keep working', async () => {
  const h = await harness({ maxClients: 2 });
  try {
    const a = new RawClient(h.path);
    const b = new RawClient(h.path);
    await Promise.all([a.connected(), b.connected()]);
    a.sock.write(line(1));
    await a.until(() => a.lines.length === 1, 2000);
    const c = new RawClient(h.path);
    c.sock.write(line(3));
    assert.ok(await c.until(() => c.closed, 3000), 'the refused client is closed');
    assert.equal(c.error, null, 'no reset, no EPIPE');
    assert.match(c.lines[0] ?? '', /"code":"EBUSY"/);
    b.sock.write(line(2));
    assert.ok(await b.until(() => b.lines.length === 1, 2000));
    assert.deepEqual(ids(b), [2]);
    assert.equal(h.server.stats.busy, 1);
    a.sock.destroy();
    b.sock.destroy();
  } finally {
    await h.close();
  }
});

test('an over-long request is answered ETOOBIG after the answers to the requests before it, then the client is closed', async () => {
  const h = await harness({ maxRequestBytes: 1024 });
  try {
    const c = new RawClient(h.path);
    c.sock.write(line(1) + line(2) + 'x'.repeat(5000) + '\n' + line(4));
    assert.ok(await c.until(() => c.closed, 3000));
    assert.deepEqual(ids(c), [1, 2, null]);
    assert.match(c.lines[2]!, /"code":"ETOOBIG"/);
    assert.equal(h.calls(), 2, 'nothing after the long line is handled');
  } finally {
    await h.close();
  }
});

test('a client that pipelines and never reads stops being read; once it reads, every answer comes in order', async () => {
  const big = 'y'.repeat(10_000);
  const h = await harness({ outputHighWater: 16 * 1024, maxQueuedRequests: 4 }, async (req) => ({ echo: req.id, big }));
  try {
    const c = new RawClient(h.path, false);
    await c.connected();
    const n = 3000;
    let text = '';
    for (let i = 0; i < n; i++) text += line(i);
    c.sock.write(text);
    await sleep(500);
    const handled = h.calls();
    // Bounded by what fits in the socket buffers (about 200 KB each way) and the limits, not by n.
    assert.ok(handled < 100, `${handled} requests handled for a client that reads nothing`);
    assert.ok(h.server.stats.backpressured > 0);
    // Now read everything.
    let buf = '';
    const got: number[] = [];
    c.sock.setEncoding('utf8');
    c.sock.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        got.push((JSON.parse(buf.slice(0, nl)) as { id: number }).id);
        buf = buf.slice(nl + 1);
      }
    });
    c.sock.resume();
    assert.ok(await c.until(() => got.length === n, 20_000), `${got.length} of ${n} answers`);
    assert.deepEqual(got, Array.from({ length: n }, (_, i) => i));
    c.sock.destroy();
  } finally {
    await h.close();
  }
});

test('a client that half-closes after its requests gets every answer, then EOF', async () => {
  const h = await harness({}, async (req) => {
    await sleep(50);
    return { echo: req.id };
  });
  try {
    const c = new RawClient(h.path);
    c.sock.end(line(1) + line(2) + line(3));
    assert.ok(await c.until(() => c.closed, 3000));
    assert.deepEqual(ids(c), [1, 2, 3]);
  } finally {
    await h.close();
  }
});

test('an idle client is closed after idleTimeoutMs; one whose request is still being handled is not', async () => {
  const h = await harness({ idleTimeoutMs: 300 }, async (req) => {
    if (req.id === 'slow') await sleep(900);
    return { echo: req.id };
  });
  try {
    const idle = new RawClient(h.path);
    const slow = new RawClient(h.path);
    await Promise.all([idle.connected(), slow.connected()]);
    slow.sock.write(line('slow'));
    assert.ok(await idle.until(() => idle.closed, 2000), 'the idle client is closed');
    assert.ok(await slow.until(() => slow.lines.length === 1, 3000), 'the slow answer arrives');
    assert.deepEqual(ids(slow), ['slow']);
    assert.ok(h.server.stats.idleClosed >= 1);
  } finally {
    await h.close();
  }
});

test('1,000 simultaneous connects are accepted a few per turn: none refused by the kernel, each answered or EBUSY', async () => {
  const h = await harness({ maxClients: 100 });
  try {
    const clients = Array.from({ length: 1000 }, (_, i) => {
      const s = connect(h.path);
      let got = '';
      let err: string | null = null;
      s.setEncoding('utf8');
      s.on('data', (d: string) => { got += d; if (got.includes('\n')) s.destroy(); });
      s.on('error', (e: NodeJS.ErrnoException) => { err = e.code ?? 'error'; });
      s.write(line(i));
      return { s, got: () => got, err: () => err };
    });
    const end = Date.now() + 15_000;
    while (clients.some((c) => !c.got().includes('\n') && c.err() === null) && Date.now() < end) await sleep(20);
    const errs = clients.map((c) => c.err()).filter((e) => e !== null);
    assert.deepEqual(errs, []);
    const ok = clients.filter((c) => c.got().includes('"ok":true')).length;
    const busy = clients.filter((c) => c.got().includes('EBUSY')).length;
    assert.equal(ok + busy, 1000);
    for (const c of clients) c.s.destroy();
  } finally {
    await h.close();
  }
});
