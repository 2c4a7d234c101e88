/**
 * bench/scaleout: several active directors behind ECMP (`tsvs lab up dr --directors 3`,
 * docs/SCALE-OUT.md). Root; builds and removes its own namespaces (prefix tsvs-bso).
 *  1. Aggregate throughput with 1, 2 and 3 announcing directors (the others drained: running,
 *     withdrawn), rounds interleaved: wrk -t2 -c64 from the client through the VIP (keep-alive,
 *     "/", DR: replies go from the real servers straight to the client), and the CPU each
 *     director's daemon spent (utime + stime of its process, all threads) per second of load.
 *  2. Withdrawal at the router (its kernel route to the VIP polled every ~2 ms) after kill -9 of a
 *     director, SIGTERM, the drain op, and a hung BIRD (SIGSTOP: only the hold timer, 3 s here).
 *  3. Flows broken per event under the bounded flow load (src/lab/flows.ts): kill -9, drain, join;
 *     with the longest wait any request saw.
 * Env: ROUNDS (3), WRK_SECONDS (8), EVENTS (5).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { LAB, labDown, labNs, labRouterDirectors, labStartDirector, labUp, labSocket, readLabState, type DirectorName } from '../../src/lab/topology.ts';
import { untilHopWithdrawn } from '../../src/lab/bgp-router.ts';
import { directorFlows, runFlows, type FlowResult } from '../../src/lab/flows.ts';
import { callDaemon } from '../../src/daemon/protocol.ts';
import { alive } from '../../src/lab/netns.ts';

const ROUNDS = Number(process.env['ROUNDS'] ?? 3);
const WRK_SECONDS = Number(process.env['WRK_SECONDS'] ?? 8);
const EVENTS = Number(process.env['EVENTS'] ?? 5);
const prefix = 'tsvs-bso';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DIRS: DirectorName[] = ['dir1', 'dir2', 'dir3'];
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : NaN; };
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

const director = (d: DirectorName) => readLabState(prefix)!.directors.find((x) => x.name === d)!;
/** CPU seconds (user + system, every thread) of a process. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const v = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(v[11]) + Number(v[12])) / 100;
}
async function announce(d: DirectorName, action: 'drain' | 'resume'): Promise<void> {
  const r = await callDaemon(labSocket(prefix, d), { v: 1, id: 1, op: 'announce', action }, 5000);
  if (!r.ok) throw new Error(`${d}: ${r.error.message}`);
}
async function routedBy(want: DirectorName[], ms = 20000): Promise<void> {
  const key = [...want].sort().join();
  for (const t0 = Date.now(); Date.now() - t0 < ms;) {
    if (labRouterDirectors(prefix).join() === key) return;
    await sleep(20);
  }
  throw new Error(`the router did not route through ${key} (it routes through ${labRouterDirectors(prefix).join()})`);
}
const untilWithdrawn = async (ip: string, t0: number): Promise<number> => {
  const t = await untilHopWithdrawn(labNs(prefix).router, `${LAB.vip}/32`, ip, t0, 15000);
  return t < 0 ? NaN : t;
};

/** The machine's CPU counters (/proc/stat "cpu": busy and total jiffies, every CPU). */
function machineCpu(): { busy: number; total: number } {
  const v = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - v[3]! - v[4]!, total };
}

async function throughput(label: string): Promise<void> {
  const rows = new Map<number, { rps: number[]; cpu: number[][]; busy: number[] }>([1, 2, 3].map((n) => [n, { rps: [], cpu: [], busy: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const n of [1, 2, 3]) {
      for (const [i, d] of DIRS.entries()) await announce(d, i < n ? 'resume' : 'drain');
      await routedBy(DIRS.slice(0, n));
      await sleep(300);
      const pids = DIRS.map((d) => director(d).pid);
      const c0 = pids.map(cpuSeconds);
      const m0 = machineCpu();
      const t0 = performance.now();
      const r = spawnSync('ip', ['netns', 'exec', labNs(prefix).client, 'wrk', '-t2', '-c64', `-d${WRK_SECONDS}s`, '--timeout', '5s', `http://${LAB.vip}/`], { encoding: 'utf8' });
      const secs = (performance.now() - t0) / 1000;
      const cpu = pids.map((p, i) => ((cpuSeconds(p) - c0[i]!) / secs) * 100);
      const m1 = machineCpu();
      const busy = ((m1.busy - m0.busy) / (m1.total - m0.total)) * 100;
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? NaN);
      const errs = /Socket errors: .*/.exec(r.stdout)?.[0] ?? 'no socket errors';
      console.log(`${label} round ${round + 1}, ${n} director(s): ${fmt(rps)} req/s, director CPU ${cpu.map((c) => `${fmt(c)}%`).join(' / ')}, machine ${fmt(busy)}% busy (${errs})`);
      rows.get(n)!.rps.push(rps);
      rows.get(n)!.cpu.push(cpu);
      rows.get(n)!.busy.push(busy);
    }
  }
  for (const d of DIRS) await announce(d, 'resume');
  await routedBy(DIRS);
  const base = median(rows.get(1)!.rps);
  console.log(`\n${label}\n\n| announcing directors | req/s (median) | vs 1 | CPU per director (median, % of a core) | directors' CPU per 10k req | machine busy (2 CPUs) |`);
  console.log('|---|---|---|---|---|---|');
  for (const [n, r] of rows) {
    const cpu = DIRS.map((_, i) => median(r.cpu.map((c) => c[i]!)));
    const active = cpu.slice(0, n);
    const total = cpu.reduce((a, b) => a + b, 0);
    console.log(`| ${n} | ${fmt(median(r.rps))} | ${fmt(median(r.rps) / base, 2)}x | ${active.map((c) => `${fmt(c)}%`).join(', ')}${n < 3 ? ` (drained: ${cpu.slice(n).map((c) => `${fmt(c, 1)}%`).join(', ')})` : ''} | ${fmt((total / 100) / (median(r.rps) / 10000), 3)} core-s | ${fmt(median(r.busy))}% |`);
  }
}

async function withdrawals(): Promise<void> {
  const times: Record<string, number[]> = { 'kill -9 (daemon; BIRD dies with it)': [], 'SIGTERM (withdraw, 500 ms grace, stop)': [], 'drain op': [], 'BIRD hung (SIGSTOP): hold timer 3 s': [] };
  for (let i = 0; i < EVENTS; i++) {
    const d: DirectorName = DIRS[i % 3]!;
    const ip = director(d).ip;
    let t0 = performance.now();
    process.kill(director(d).pid, 'SIGKILL');
    times['kill -9 (daemon; BIRD dies with it)']!.push(await untilWithdrawn(ip, t0));
    while (alive(director(d).pid)) await sleep(5);
    await labStartDirector(prefix, d);
    await routedBy(DIRS);
    t0 = performance.now();
    process.kill(director(d).pid, 'SIGTERM');
    times['SIGTERM (withdraw, 500 ms grace, stop)']!.push(await untilWithdrawn(ip, t0));
    while (alive(director(d).pid)) await sleep(5);
    await labStartDirector(prefix, d);
    await routedBy(DIRS);
    t0 = performance.now();
    await announce(d, 'drain');
    times['drain op']!.push(await untilWithdrawn(ip, t0));
    await announce(d, 'resume');
    await routedBy(DIRS);
    const st = await callDaemon(labSocket(prefix, d), { v: 1, id: 1, op: 'announce', action: 'status' }, 5000);
    if (!st.ok) throw new Error(st.error.message);
    const bird = (st['bgp'] as { bird: { pid: number } }).bird.pid;
    t0 = performance.now();
    process.kill(bird, 'SIGSTOP');
    times['BIRD hung (SIGSTOP): hold timer 3 s']!.push(await untilWithdrawn(ip, t0));
    process.kill(bird, 'SIGCONT');
    await routedBy(DIRS, 30000);
  }
  console.log(`\n| event (${EVENTS} each) | withdrawn at the router: median | worst | best |`);
  console.log('|---|---|---|---|');
  for (const [k, v] of Object.entries(times)) console.log(`| ${k} | ${fmt(median(v))} ms | ${fmt(Math.max(...v))} ms | ${fmt(Math.min(...v))} ms |`);
}

async function brokenPerEvent(): Promise<void> {
  const out: { event: string; flows: FlowResult[]; moved: number }[] = [];
  for (let i = 0; i < EVENTS; i++) {
    const d: DirectorName = DIRS[i % 3]!;
    let on = new Map<number, string>();
    out.push({ event: 'kill -9', flows: await runFlows(prefix, async () => { on = await directorFlows(prefix, d, { established: true }); process.kill(director(d).pid, 'SIGKILL'); }), moved: 0 });
    out[out.length - 1]!.moved = out[out.length - 1]!.flows.filter((f) => on.has(f.lport)).length;
    while (alive(director(d).pid)) await sleep(5);
    out.push({ event: 'join (the killed director starts again)', flows: await runFlows(prefix, async () => { await labStartDirector(prefix, d); await routedBy(DIRS); await sleep(500); on = await directorFlows(prefix, d, { established: true }); }), moved: 0 });
    out[out.length - 1]!.moved = out[out.length - 1]!.flows.filter((f) => on.has(f.lport)).length;
    out.push({ event: 'drain', flows: await runFlows(prefix, async () => { on = await directorFlows(prefix, d, { established: true }); await announce(d, 'drain'); }), moved: 0 });
    out[out.length - 1]!.moved = out[out.length - 1]!.flows.filter((f) => on.has(f.lport)).length;
    await announce(d, 'resume');
    await routedBy(DIRS);
  }
  console.log(`\n| event (${EVENTS} each, 27 flows: 24 keep-alive request flows + 3 paced downloads) | flows broken (total) | flows that changed director (median) | longest wait for an answer (worst) |`);
  console.log('|---|---|---|---|');
  for (const ev of [...new Set(out.map((o) => o.event))]) {
    const runs = out.filter((o) => o.event === ev);
    const br = runs.reduce((n, r) => n + r.flows.filter((f) => f.broken).length, 0);
    const total = runs.reduce((n, r) => n + r.flows.length, 0);
    console.log(`| ${ev} | ${br} of ${total} | ${median(runs.map((r) => r.moved))} | ${fmt(Math.max(...runs.flatMap((r) => r.flows.map((f) => f.maxWaitMs))))} ms |`);
  }
}

console.log(`bench/scaleout ${new Date().toISOString()} (${ROUNDS} rounds, wrk ${WRK_SECONDS} s, ${EVENTS} events each)`);
await labUp('dr', { prefix, directors: 3 });
spawnSync('ip', ['netns', 'exec', labNs(prefix).client, 'sysctl', '-q', '-w', 'net.ipv4.tcp_rmem=4096 65536 131072']);
try {
  await throughput('kernel fast path (--fast-path auto: tc), the lab\'s default');
  await withdrawals();
  await brokenPerEvent();
  // The directors again, every packet through user space: what forwarding costs a director's process.
  for (const d of DIRS) {
    process.kill(director(d).pid, 'SIGTERM');
    while (alive(director(d).pid)) await sleep(10);
    await labStartDirector(prefix, d, ['--fast-path', 'none']);
  }
  await routedBy(DIRS);
  await throughput('--fast-path none: every packet through the daemon');
} finally {
  await labDown(prefix);
}
