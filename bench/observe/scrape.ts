/**
 * bench/observe/scrape: the cost of one GET /metrics on a daemon holding 1,000 services x 10 real
 * servers (issue 16: at most 50 ms), against node_exporter's ipvs collector scraping the same
 * table from the --procfs files tsvs keeps (the peer, in the same run, interleaved per round).
 * Wall time from request to last byte on loopback, sequential scrapes.
 *
 * Env: BENCH_SERVICES (1000), BENCH_REALS (10), BENCH_ROUNDS (40).
 * Run: flock /tmp/tsvs-suite.lock npx tsx bench/observe/scrape.ts
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, sleep } from '../../test/daemon/helpers.ts';
import { MetricsLabelCache, renderMetricsChunks } from '../../src/observe/metrics.ts';
import { PromText } from '../../src/observe/prom.ts';
import { bigSnapshot, snapshot } from '../../test/observe/fixtures.ts';
import { Engine } from '../../src/core/engine.ts';
import { parseIpvsadm, isFailure } from '../../src/ipvsadm/index.ts';

const REPO = new URL('../../', import.meta.url).pathname;
const SERVICES = Number(process.env['BENCH_SERVICES'] ?? 1000);
const REALS = Number(process.env['BENCH_REALS'] ?? 10);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 40);
const NODE_EXPORTER = '/usr/bin/prometheus-node-exporter';
const children: ChildProcess[] = [];

function get(port: number, path = '/metrics'): Promise<{ ms: number; bytes: number; status: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ ms: performance.now() - t0, bytes, status: res.statusCode ?? 0 }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function waitUp(port: number, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await get(port, '/')).status > 0) return;
    } catch { /* not yet */ }
    await sleep(100);
  }
  throw new Error(`${what} did not come up on ${port}`);
}

/** utime + stime of a process (all threads), ms (/proc/PID/stat fields 14 and 15, USER_HZ 100). */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const fmt = (xs: number[]) => `median ${q(xs, 0.5).toFixed(1)} ms, p95 ${q(xs, 0.95).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms`;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-bench-scrape-'));
  const lines: string[] = [];
  for (let i = 0; i < SERVICES; i++) {
    const vip = `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}:80`;
    lines.push(`-A -t ${vip} -s wlc`);
    for (let j = 0; j < REALS; j++) lines.push(`-a -t ${vip} -r 172.${16 + (i >> 16)}.${(i >> 8) & 255}.${(i & 255)}:${8000 + j} -m -w ${1 + j}`);
  }
  writeFileSync(join(dir, 'rules'), lines.join('\n') + '\n');
  const httpPort = await freePort();
  const d = spawn(process.execPath, [join(REPO, 'bin/tsvs.mjs'), 'daemon', '--socket', join(dir, 's.sock'), '--no-state', '--forwarder', 'none', '--rules', join(dir, 'rules'),
    '--http', `127.0.0.1:${httpPort}`, '--procfs', join(dir, 'proc'), '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(d);
  await waitUp(httpPort, 'tsvs');
  let nePort = 0;
  let nePid = 0;
  if (existsSync(NODE_EXPORTER)) {
    nePort = await freePort();
    const ne = spawn(NODE_EXPORTER, ['--path.procfs', join(dir, 'proc'), '--collector.disable-defaults', '--collector.ipvs', '--web.listen-address', `127.0.0.1:${nePort}`], { stdio: 'ignore' });
    children.push(ne);
    nePid = ne.pid!;
    await waitUp(nePort, 'node_exporter');
  }
  // Warm up (JIT, first procfs write).
  for (let i = 0; i < 5; i++) {
    await get(httpPort);
    if (nePort) await get(nePort);
  }
  const ours: number[] = [];
  const theirs: number[] = [];
  let oursBytes = 0;
  let theirsBytes = 0;
  // CPU per scrape: each side's CPU time over its scrapes only (the daemon also rewrites the
  // procfs files every second: measured apart, below, and subtracted).
  let oursCpu = 0;
  let theirsCpu = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const c0 = cpuMs(d.pid!);
    const a = await get(httpPort);
    oursCpu += cpuMs(d.pid!) - c0;
    ours.push(a.ms);
    oursBytes = a.bytes;
    if (nePort) {
      const c1 = cpuMs(nePid);
      const b = await get(nePort);
      theirsCpu += cpuMs(nePid) - c1;
      theirs.push(b.ms);
      theirsBytes = b.bytes;
    }
    await sleep(20);
  }
  // The daemon's idle CPU (procfs rewrites, tick) over the same wall time, to subtract.
  const idleWall = ours.reduce((a, b) => a + b, 0);
  const i0 = cpuMs(d.pid!);
  await sleep(idleWall);
  const idleCpu = cpuMs(d.pid!) - i0;
  // The renderer alone, in this process, on an equivalent hand-built snapshot.
  const snap = bigSnapshot(SERVICES, REALS);
  // As the server renders: label sets kept and the buffer reused between scrapes.
  const render: number[] = [];
  const cache = new MetricsLabelCache();
  const writer = new PromText();
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now();
    writer.reset();
    for (const _ of renderMetricsChunks(snap, { version: 'bench', cache, writer }));
    render.push(performance.now() - t0);
  }
  // The daemon's path, in this process: the same rules in an engine, read by the renderer
  // straight from it (Engine.visitServices), against snapshotting it first (Engine.services()).
  const e = new Engine();
  for (const l of lines) {
    const p = parseIpvsadm(l.split(' '));
    if (isFailure(p) || p.kind !== 'apply' || e.apply(p.command) !== null) throw new Error(`rule not applied: ${l}`);
  }
  const { services: _, ...rest } = snapshot();
  const live = { ...rest, visitServices: (v: Parameters<Engine['visitServices']>[0]) => e.visitServices(v) };
  const viaSnap: number[] = [];
  const viaVisit: number[] = [];
  const snapCache = new MetricsLabelCache();
  const liveCache = new MetricsLabelCache();
  for (let i = 0; i < ROUNDS; i++) {
    let t0 = performance.now();
    for (const _ of renderMetricsChunks({ ...rest, services: e.services() }, { version: 'bench', cache: snapCache, writer: writer.reset() }));
    viaSnap.push(performance.now() - t0);
    t0 = performance.now();
    for (const _ of renderMetricsChunks(live, { version: 'bench', cache: liveCache, writer: writer.reset() }));
    viaVisit.push(performance.now() - t0);
  }
  console.log(`# ${new Date().toISOString()} load ${loadavg().map((x) => x.toFixed(2)).join(' ')}; ${SERVICES} services x ${REALS} real servers; ${ROUNDS} rounds`);
  console.log(`tsvs GET /metrics:            ${fmt(ours)}; ${(oursBytes / 1e6).toFixed(2)} MB; daemon CPU ${(oursCpu / ROUNDS).toFixed(1)} ms/scrape (${((oursCpu - idleCpu) / ROUNDS).toFixed(1)} without the procfs rewrites)`);
  if (nePort) console.log(`node_exporter ipvs (procfs):  ${fmt(theirs)}; ${(theirsBytes / 1e6).toFixed(2)} MB; CPU ${(theirsCpu / ROUNDS).toFixed(1)} ms/scrape`);
  console.log(`renderMetrics alone:          ${fmt(render)}`);
  console.log(`engine read in place + render: ${fmt(viaVisit)} (snapshot + render: ${fmt(viaSnap)})`);
  if (nePort) console.log(`ratio node_exporter/tsvs (median): ${(q(theirs, 0.5) / q(ours, 0.5)).toFixed(2)}x`);
  console.log(`target: median and p95 <= 50 ms: ${q(ours, 0.5) <= 50 && q(ours, 0.95) <= 50 ? 'met' : 'NOT met'}`);
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  });
