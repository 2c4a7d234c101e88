/**
 * Scheduler decision cost: `npx tsx bench/engine/schedulers.ts [--quick]`
 *
 * For every scheduler at 10, 1,000 and 10,000 destinations: ns per decision and decisions/s of
 * the indexed implementation (src/core/schedulers) and, as the in-run peer, of the plain kernel
 * scan port (test/core/schedulers/reference.ts), with realistic changing connection counts: each
 * decision binds a connection to the picked dest (activeconns + 1) and one random dest ages a
 * connection (active -> inactive -> gone), both reported through countsChanged. The hook calls
 * are inside the timed loop. Each figure is the best of 3 timed runs (shared 2-core machine). mh is capped at its table size (4093 dests; more is EINVAL).
 */
import { performance } from 'node:perf_hooks';
import { getSchedulerFactory, schedulerNames } from '../../src/core/schedulers/index.ts';
import type { RtDest, SchedEnv, SchedPacket, Scheduler, SchedulerFactory } from '../../src/core/scheduler.ts';
import { Fixture, packet, prng, type MutableDest } from '../../test/core/schedulers/fixture.ts';
import { referenceFactory } from '../../test/core/schedulers/reference.ts';

const quick = process.argv.includes('--quick');
const SIZES = [10, 1000, 10000];
const BUDGET_MS = quick ? 15 : 50;
/** Best of REPS timed runs: the machine is shared, the minimum is the least disturbed figure. */
const REPS = 3;

interface Row { name: string; n: number; ns: number; refNs: number }

function build(n: number, seed: number): { f: Fixture; dests: MutableDest[] } {
  const rnd = prng(seed);
  const f = new Fixture();
  const dests: MutableDest[] = [];
  for (let i = 0; i < n; i++) {
    const d = f.add(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 80, 1 + Math.floor(rnd() * 5));
    d.activeConns = Math.floor(rnd() * 20);
    d.inactConns = Math.floor(rnd() * 50);
    dests.push(d);
  }
  return { f, dests };
}

function measure(factory: SchedulerFactory, n: number): number {
  const { f, dests } = build(n, 42);
  const s = factory(f.svc);
  if (s === 'EINVAL') return NaN;
  const sched: Scheduler = s;
  const svc = f.svc;
  const rnd = prng(7);
  const pkts: SchedPacket[] = [];
  for (let i = 0; i < 1024; i++) pkts.push(packet(`192.168.${i >> 8}.${i & 255}`, 1024 + i, `172.16.${(i * 7) & 3}.${(i * 13) & 255}`));
  const env: SchedEnv = { now: 0, random: rnd };
  let done = 0;
  let i = 0;
  const step = (): void => {
    const d = sched.schedule(svc, pkts[i & 1023]!, env) as MutableDest | null;
    if (d !== null) { d.activeConns++; sched.countsChanged?.(svc, d as RtDest); }
    const r = dests[Math.floor(rnd() * dests.length)]!;
    if (r.activeConns > 0) { r.activeConns--; r.inactConns++; } else if (r.inactConns > 0) r.inactConns--;
    sched.countsChanged?.(svc, r);
    i++;
  };
  for (let k = 0; k < 2000; k++) step(); // warm-up
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < BUDGET_MS) {
    for (let k = 0; k < 256; k++) step();
    done += 256;
    t = performance.now();
    (env as { now: number }).now = (t - t0) / 1000;
  }
  return ((t - t0) * 1e6) / done;
}

const rows: Row[] = [];
const t0 = performance.now();
for (const name of schedulerNames) {
  for (const size of SIZES) {
    const n = name === 'mh' ? Math.min(size, 4093) : size;
    let ns = Infinity, refNs = Infinity;
    for (let r = 0; r < REPS; r++) {
      ns = Math.min(ns, measure(getSchedulerFactory(name)!, n));
      refNs = Math.min(refNs, measure(referenceFactory(name)!, n));
    }
    rows.push({ name, n, ns, refNs });
  }
}
const fmt = (x: number, w: number): string => (Number.isFinite(x) ? x.toFixed(0) : '-').padStart(w);
console.log('scheduler  dests   ns/decision  decisions/s   kernel-scan ns  ratio(scan/index)  <=1us');
for (const r of rows) {
  console.log(
    `${r.name.padEnd(9)} ${String(r.n).padStart(6)} ${fmt(r.ns, 13)} ${fmt(1e9 / r.ns, 12)} ${fmt(r.refNs, 16)} ${(r.refNs / r.ns).toFixed(1).padStart(18)}  ${r.ns <= 1000 ? 'yes' : 'NO'}`,
  );
}
const worst = rows.reduce((a, b) => (b.ns > a.ns ? b : a));
console.log(`worst: ${worst.name} at ${worst.n} dests: ${worst.ns.toFixed(0)} ns/decision (incl. 2 countsChanged hooks); total run ${((performance.now() - t0) / 1000).toFixed(1)} s`);
