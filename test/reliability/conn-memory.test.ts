/**
 * Memory per connection in both forwarders: the daemon's resident memory before and while it
 * holds N idle established connections (fixtures/hold-conns.mjs: each got its answer and stays
 * open). The proxy (loopback, no root; default relay threads) holds two sockets and a relay per
 * connection; the packet forwarder (DR lab, root, the kernel fast path) a connection-table entry
 * and a fast path flow (its kernel map is kernel memory, not the daemon's). Figures printed:
 * bytes of RSS per connection, and V8's heap per connection. Measured 1.7 KB (proxy) and 1.5 KB
 * (DR) of RSS a connection (bench/RESULTS.md); the bounds asserted leave room for a collector's
 * timing (8 KB, 4 KB).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { labNs, LAB, readLabState } from '../../src/lab/topology.ts';
import { closeServer, freePort, sleep, startDaemon, tmpDir, type DaemonProc } from '../daemon/helpers.ts';
import { daemonStatus, echoServer, figures, labSuite, rssMb } from './helpers.ts';

const root = process.getuid?.() === 0;
const fixture = new URL('./fixtures/hold-conns.mjs', import.meta.url).pathname;

/** Holds `n` connections from another process (`prefix`: e.g. `ip netns exec NS`); resolves once they answered. */
async function hold(prefix: readonly string[], host: string, port: number, n: number): Promise<{ held: number; failed: number; p: ChildProcess }> {
  const argv = [...prefix, 'prlimit', `--nofile=${n + 1000}`, '--', process.execPath, fixture, host, String(port), String(n), '120000'];
  const p = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => {
    createInterface({ input: p.stdout! }).once('line', resolve);
    p.on('exit', () => resolve('exited'));
  });
  const m = /^held (\d+) failed (\d+)$/.exec(line);
  assert.ok(m, `hold-conns: ${line}`);
  return { held: Number(m[1]), failed: Number(m[2]), p };
}

function release(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return Promise.resolve();
  const gone = new Promise<void>((r) => p.on('exit', () => r()));
  p.stdin!.end();
  setTimeout(() => p.kill('SIGKILL'), 3000).unref();
  return gone;
}

interface Measured { n: number; held: number; rss0: number; rss1: number; heap0: number; heap1: number; entries: number }

/** RSS and V8 heap (used) of the daemon before and while holding `n` connections (warmed up with a first, smaller round). */
async function measure(pid: number, socket: string, open: (n: number) => Promise<{ held: number; failed: number; p: ChildProcess }>, n: number): Promise<Measured> {
  const heapUsed = async (): Promise<number> => ((await daemonStatus(socket))['memory'] as { heapUsed: number }).heapUsed;
  // A first round that is let go: what the daemon allocates once (pools, code) is not counted.
  const warm = await open(Math.min(500, n));
  await release(warm.p);
  await sleep(1500);
  const rss0 = rssMb(pid), heap0 = await heapUsed();
  const h = await open(n);
  try {
    await sleep(1500);
    const rss1 = rssMb(pid), heap1 = await heapUsed();
    const entries = ((await daemonStatus(socket))['table'] as { entries: number }).entries;
    return { n, held: h.held, rss0, rss1, heap0, heap1, entries };
  } finally {
    await release(h.p);
  }
}

function report(name: string, m: Measured): { rssPerConn: number; heapPerConn: number } {
  const rssPerConn = ((m.rss1 - m.rss0) * 1048576) / m.held;
  const heapPerConn = (m.heap1 - m.heap0) / m.held;
  figures(`memory per connection (${name})`, { connections: m.held, tableEntries: m.entries, rssBeforeMb: m.rss0, rssHeldMb: m.rss1, rssBytesPerConn: rssPerConn, heapBytesPerConn: heapPerConn });
  return { rssPerConn, heapPerConn };
}

describe('memory per connection: proxy forwarder (loopback)', { timeout: 90_000 }, () => {
  const N = 5000;
  let d: DaemonProc | null = null;
  let echo: Awaited<ReturnType<typeof echoServer>>;
  before(async () => {
    echo = await echoServer();
  });
  after(async () => {
    await d?.stop('SIGKILL');
    await closeServer(echo.server);
  });

  it(`${N} idle relayed connections: at most 8 KB of RSS each`, async () => {
    const vport = await freePort();
    const dir = tmpDir('tsvs-rel-mem-');
    writeFileSync(join(dir, 'rules'), `-A -t 127.0.0.1:${vport} -s rr\n-a -t 127.0.0.1:${vport} -r 127.0.0.1:${echo.port} -m -w 1\n`);
    d = await startDaemon(['--no-state', '--rules', join(dir, 'rules')], dir);
    const m = await measure(d.proc.pid!, d.socket, (n) => hold([], '127.0.0.1', vport, n), N);
    const r = report('proxy', m);
    assert.equal(m.held, N, 'every connection was relayed');
    assert.ok(m.entries >= N, `the table lists them (${m.entries})`);
    assert.ok(r.rssPerConn < 8 * 1024, `${Math.round(r.rssPerConn)} bytes of RSS per proxied connection`);
  });
});

describe('memory per connection: packet forwarder, DR lab, kernel fast path', { skip: root ? false : 'needs root (network namespaces, AF_PACKET, tc, BPF)', timeout: 120_000 }, () => {
  const N = 5000;
  const prefix = `tsvs-cm${process.pid % 10000}`;
  labSuite(prefix, 'dr', { fastPath: 'tc' });

  it(`${N} idle established connections: at most 4 KB of RSS each`, async () => {
    const dir = readLabState(prefix)!.directors[0]!;
    const m = await measure(dir.pid, dir.socket, (n) => hold(['ip', 'netns', 'exec', labNs(prefix).client], LAB.vip, LAB.port, n), N);
    const r = report('packet DR, fast path', m);
    assert.equal(m.held, N, 'every connection was answered');
    assert.ok(m.entries >= N, `the table lists them (${m.entries})`);
    assert.ok(r.rssPerConn < 4096, `${Math.round(r.rssPerConn)} bytes of RSS per DR connection`);
  });
});
