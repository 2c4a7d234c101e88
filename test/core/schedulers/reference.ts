/**
 * Straightforward "kernel scan" ports of every scheduler: each decision walks svc.dests exactly as
 * the kernel's C code does. They are the in-test oracle for the indexed implementations in
 * src/core/schedulers/ and the in-run peer of bench/engine/schedulers.ts.
 */
import { DEST_F, type RtDest, type RtServiceView, type SchedEnv, type SchedPacket, type Scheduler, type SchedulerFactory } from '../../../src/core/scheduler.ts';
import { SVC_F } from '../../../src/core/types.ts';
import { foldAddr, hash32, hsiphashBytes } from '../../../src/core/hash.ts';
import { LblcScheduler, type LocalityOptions } from '../../../src/core/schedulers/lblc.ts';
import { LblcrScheduler, type LblcrEntry } from '../../../src/core/schedulers/lblcr.ts';

const OVL = DEST_F.OVERLOAD;
const oh = (d: RtDest): number => ((d.activeConns << 8) + d.inactConns) | 0;
const big = (a: number, b: number): bigint => BigInt(a) * BigInt(b);

class RefRr implements Scheduler {
  readonly name = 'rr';
  cursor: RtDest | null = null;
  schedule(svc: RtServiceView): RtDest | null {
    const l = svc.dests;
    const start = this.cursor === null ? -1 : l.indexOf(this.cursor);
    // list_for_each_entry_continue from the cursor; the cursor element is examined last.
    if (start < 0) {
      for (const d of l) if (!(d.flags & OVL) && d.weight > 0) return (this.cursor = d);
      return null;
    }
    for (let pass = 0; pass < 2; pass++) {
      for (let i = pass === 0 ? start + 1 : 0; i < l.length; i++) {
        const d = l[i]!;
        if (!(d.flags & OVL) && d.weight > 0) return (this.cursor = d);
        if (i === start) return null;
      }
    }
    return null;
  }
  delDest(svc: RtServiceView, dest: RtDest, idx: number): void {
    if (this.cursor === dest) this.cursor = idx > 0 ? svc.dests[idx - 1]! : null;
  }
}

class RefWrr implements Scheduler {
  readonly name = 'wrr';
  cl: RtDest | null = null;
  cw: number;
  mw = 0;
  di = 1;
  constructor(svc: RtServiceView) {
    this.calc(svc);
    this.cw = this.mw;
  }
  private calc(svc: RtServiceView): void {
    let g = 0, m = 0;
    for (const d of svc.dests) {
      if (d.weight > 0) { let a = d.weight, b = g; while (b) { const t = a % b; a = b; b = t; } g = a; }
      if (d.weight > m) m = d.weight;
    }
    this.di = g ? g : 1;
    this.mw = m - (this.di - 1);
  }
  private changed(svc: RtServiceView): void {
    this.cl = null;
    this.calc(svc);
    if (this.cw > this.mw || !this.cw) this.cw = this.mw;
    else if (this.di > 1) this.cw = Math.trunc(this.cw / this.di) * this.di + 1;
  }
  addDest(svc: RtServiceView): void { this.changed(svc); }
  delDest(svc: RtServiceView): void { this.changed(svc); }
  updDest(svc: RtServiceView): void { this.changed(svc); }
  schedule(svc: RtServiceView): RtDest | null {
    const l = svc.dests;
    if (this.mw === 0) return null;
    const last = this.cl;
    let stop: RtDest | null = null;
    let lastPass = false, restarted = false;
    let i = last === null ? -1 : l.indexOf(last);
    for (;;) {
      for (i = i + 1; i < l.length; i++) {
        const d = l[i]!;
        if (!(d.flags & OVL) && d.weight >= this.cw) return (this.cl = d);
        if (d === stop) { this.cl = d; return null; }
      }
      this.cw -= this.di;
      if (this.cw <= 0) {
        this.cw = this.mw;
        if (lastPass || last === null) { this.cl = null; return null; }
        restarted = true;
      }
      lastPass = this.cw <= this.di;
      if (lastPass && restarted && last !== null) stop = last;
      i = -1;
    }
  }
}

class RefLc implements Scheduler {
  readonly name = 'lc';
  schedule(svc: RtServiceView): RtDest | null {
    let least: RtDest | null = null, loh = 0;
    for (const d of svc.dests) {
      if (d.flags & OVL || d.weight === 0) continue;
      const doh = oh(d);
      if (least === null || doh < loh) { least = d; loh = doh; }
    }
    return least;
  }
}

/** wlc-like scan with a cost function (wlc, sed, lblc/lblcr new pick). */
function wlcScan(list: readonly RtDest[], cost: (d: RtDest) => number): RtDest | null {
  let i = 0, least: RtDest | null = null;
  for (; i < list.length; i++) {
    const d = list[i]!;
    if (d.flags & OVL) continue;
    if (d.weight > 0) { least = d; break; }
  }
  if (least === null) return null;
  let loh = cost(least);
  for (i++; i < list.length; i++) {
    const d = list[i]!;
    if (d.flags & OVL) continue;
    const doh = cost(d);
    if (big(loh, d.weight) > big(doh, least.weight)) { least = d; loh = doh; }
  }
  return least;
}

class RefWlc implements Scheduler {
  constructor(readonly name: string, private readonly cost: (d: RtDest) => number) {}
  schedule(svc: RtServiceView): RtDest | null { return wlcScan(svc.dests, this.cost); }
}

class RefNq implements Scheduler {
  readonly name = 'nq';
  schedule(svc: RtServiceView): RtDest | null {
    let least: RtDest | null = null, loh = 0;
    for (const d of svc.dests) {
      if (d.flags & OVL || !d.weight) continue;
      const doh = d.activeConns + 1;
      if (d.activeConns === 0) return d;
      if (least === null || big(loh, d.weight) > big(doh, least.weight)) { least = d; loh = doh; }
    }
    return least;
  }
}

class RefFo implements Scheduler {
  readonly name = 'fo';
  schedule(svc: RtServiceView): RtDest | null {
    let h: RtDest | null = null, hw = 0;
    for (const d of svc.dests) if (!(d.flags & OVL) && d.weight > hw) { h = d; hw = d.weight; }
    return h;
  }
}

class RefOvf implements Scheduler {
  readonly name = 'ovf';
  schedule(svc: RtServiceView): RtDest | null {
    let h: RtDest | null = null;
    for (const d of svc.dests) {
      const w = d.weight;
      if (d.flags & OVL || d.activeConns > w || w === 0) continue;
      if (h === null || w > h.weight) h = d;
    }
    return h;
  }
}

class RefTwos implements Scheduler {
  readonly name = 'twos';
  schedule(svc: RtServiceView, _p: SchedPacket, env: SchedEnv): RtDest | null {
    let total = 0;
    let c1: RtDest | null = null, c2: RtDest | null = null;
    for (const d of svc.dests) if (!(d.flags & OVL) && d.weight > 0) { total += d.weight; c1 = d; }
    if (c1 === null) return null;
    total += 1;
    let r1 = Math.floor(env.random() * total), r2 = Math.floor(env.random() * total);
    let w1 = -1, w2 = -1, o1 = 0, o2 = 0;
    for (const d of svc.dests) {
      if (d.flags & OVL) continue;
      const w = d.weight;
      if (w <= 0) continue;
      r1 -= w; r2 -= w;
      if (r1 <= 0 && w1 === -1) { c1 = d; w1 = w; o1 = oh(d); }
      if (r2 <= 0 && w2 === -1) { c2 = d; w2 = w; o2 = oh(d); }
      if (w1 !== -1 && w2 !== -1) break;
    }
    if (c2 !== null && Math.imul(w2, o1) > Math.imul(w1, o2)) c1 = c2;
    return c1;
  }
}

class RefDh implements Scheduler {
  readonly name = 'dh';
  b: (RtDest | null)[] = [];
  constructor(svc: RtServiceView) { this.re(svc); }
  private re(svc: RtServiceView): void {
    const n = svc.dests.length;
    this.b = Array.from({ length: 256 }, (_, i) => (n ? svc.dests[i % n]! : null));
  }
  addDest(svc: RtServiceView): void { this.re(svc); }
  delDest(svc: RtServiceView): void { this.re(svc); }
  schedule(_svc: RtServiceView, p: SchedPacket): RtDest | null {
    const d = this.b[hash32(foldAddr(p.daddr), 8)]!;
    if (!d || !(d.flags & DEST_F.AVAILABLE) || d.weight <= 0 || d.flags & OVL) return null;
    return d;
  }
}

function portOf(svc: RtServiceView, p: SchedPacket): number {
  return svc.flags & SVC_F.SCHED2 ? (p.inverse ? p.dport : p.sport) : 0;
}
const unavail = (d: RtDest): boolean => d.weight <= 0 || (d.flags & OVL) !== 0;

class RefSh implements Scheduler {
  readonly name = 'sh';
  b: (RtDest | null)[] = [];
  constructor(svc: RtServiceView) { this.re(svc); }
  private re(svc: RtServiceView): void {
    const l = svc.dests;
    this.b = new Array(256).fill(null);
    let p = 0, c = 0;
    for (let i = 0; i < 256 && l.length; i++) {
      if (p === l.length) p = 0;
      this.b[i] = l[p]!;
      if (++c >= l[p]!.weight) { p++; c = 0; }
    }
  }
  addDest(svc: RtServiceView): void { this.re(svc); }
  delDest(svc: RtServiceView): void { this.re(svc); }
  updDest(svc: RtServiceView): void { this.re(svc); }
  schedule(svc: RtServiceView, p: SchedPacket): RtDest | null {
    const a = foldAddr(p.inverse ? p.daddr : p.saddr);
    const port = portOf(svc, p);
    const key = (off: number): number => (off + hash32((port + a) >>> 0, 8)) & 255;
    const ih = key(0);
    const d = this.b[ih]!;
    if (!(svc.flags & SVC_F.SCHED1)) return !d || unavail(d) ? null : d;
    if (!d) return null;
    if (!unavail(d)) return d;
    for (let off = 0; off < 256; off++) {
      const e = this.b[key((off + ih) % 256)]!;
      if (!e) break;
      if (!unavail(e)) return e;
    }
    return null;
  }
}

const MHK1 = 2654435761n, MHK2 = 2654446892n;
function mhHash(v: number, k: bigint): number {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return hsiphashBytes(b, k, k);
}

class RefMh implements Scheduler {
  readonly name = 'mh';
  t: (RtDest | null)[] = new Array(4093).fill(null);
  constructor(svc: RtServiceView) { this.re(svc); }
  private re(svc: RtServiceView): void {
    const M = 4093, l = svc.dests;
    if (l.length > M) return;
    let g = 0, mw = 0;
    for (const d of l) {
      if (d.lastWeight > 0) { let a = d.lastWeight, b = g; while (b) { const t = a % b; a = b; b = t; } g = a; }
      if (d.lastWeight > mw) mw = d.lastWeight;
    }
    if (g < 1) { this.t.fill(null); return; }
    const fls = (x: number): number => (x ? 32 - Math.clz32(x) : 0);
    const rs = Math.max(0, fls(Math.trunc(mw / g)) - 6);
    const ds = l.map((d) => {
      const v = (foldAddr(d.ip) + d.port) >>> 0;
      const t = Math.trunc(d.lastWeight / g) >> rs;
      return { perm: mhHash(v, MHK1) % M, skip: (mhHash(v, MHK2) % (M - 1)) + 1, turns: t ? t : d.lastWeight !== 0 ? 1 : 0 };
    });
    const used = new Array<boolean>(M).fill(false);
    let n = 0, dt = 0;
    while (n < M) {
      for (let p = 0; p < l.length; ) {
        const s = ds[p]!;
        if (s.turns < 1) { p++; continue; }
        let c = s.perm;
        while (used[c]) { s.perm += s.skip; if (s.perm >= M) s.perm -= M; c = s.perm; }
        used[c] = true;
        this.t[c] = l[p]!;
        if (++n === M) return;
        if (++dt >= s.turns) { dt = 0; p++; }
      }
    }
  }
  addDest(svc: RtServiceView): void { this.re(svc); }
  delDest(svc: RtServiceView): void { this.re(svc); }
  updDest(svc: RtServiceView): void { this.re(svc); }
  schedule(svc: RtServiceView, p: SchedPacket): RtDest | null {
    const a = foldAddr(p.inverse ? p.daddr : p.saddr);
    const port = portOf(svc, p);
    const h = (off: number): number => mhHash((off + port + a) >>> 0, MHK1) % 4093;
    const ih = h(0);
    const d = this.t[ih]!;
    if (!(svc.flags & SVC_F.SCHED1)) return !d || unavail(d) ? null : d;
    if (!d) return null;
    if (!unavail(d)) return d;
    for (let off = 0; off < 4093; off++) {
      const e = this.t[h((off + ih) % 4093)]!;
      if (!e) break;
      if (!unavail(e)) return e;
    }
    return null;
  }
}

/** lblc/lblcr with the kernel's scans for the new pick, is_overloaded() and AVAILABLE. */
class RefLblc extends LblcScheduler {
  protected override pickNew(svc: RtServiceView): RtDest | null { return wlcScan(svc.dests, oh); }
  protected override isOverloaded(d: RtDest, svc: RtServiceView): boolean {
    return d.activeConns > d.weight && svc.dests.some((m) => Math.imul(m.activeConns, 2) < m.weight);
  }
  protected override available(d: RtDest): boolean { return (d.flags & DEST_F.AVAILABLE) !== 0; }
}
class RefLblcr extends LblcrScheduler {
  protected override pickNew(svc: RtServiceView): RtDest | null { return wlcScan(svc.dests, oh); }
  /** ip_vs_dest_set_min() as written: walk the set newest first reading the dests themselves. */
  protected override setMin(en: LblcrEntry): RtDest | null {
    const set = en.dests.slice().reverse();
    let i = 0, least: RtDest | null = null;
    for (; i < set.length; i++) {
      const d = set[i]!;
      if (d.flags & OVL) continue;
      if (d.weight > 0 && d.flags & DEST_F.AVAILABLE) { least = d; break; }
    }
    if (least === null) return null;
    let loh = oh(least);
    for (i++; i < set.length; i++) {
      const d = set[i]!;
      if (d.flags & OVL) continue;
      const doh = oh(d);
      if (big(loh, d.weight) > big(doh, least.weight) && d.flags & DEST_F.AVAILABLE) { least = d; loh = doh; }
    }
    return least;
  }
  protected override isOverloaded(d: RtDest, svc: RtServiceView): boolean {
    return d.activeConns > d.weight && svc.dests.some((m) => Math.imul(m.activeConns, 2) < m.weight);
  }
  protected override available(d: RtDest): boolean { return (d.flags & DEST_F.AVAILABLE) !== 0; }
}

export function referenceFactory(name: string, opts: LocalityOptions = {}): SchedulerFactory | undefined {
  switch (name) {
    case 'rr': return () => new RefRr();
    case 'wrr': return (svc) => new RefWrr(svc);
    case 'lc': return () => new RefLc();
    case 'wlc': return () => new RefWlc('wlc', oh);
    case 'sed': return () => new RefWlc('sed', (d) => (d.activeConns + 1) | 0);
    case 'nq': return () => new RefNq();
    case 'fo': return () => new RefFo();
    case 'ovf': return () => new RefOvf();
    case 'twos': return () => new RefTwos();
    case 'dh': return (svc) => new RefDh(svc);
    case 'sh': return (svc) => new RefSh(svc);
    case 'mh': return (svc) => (svc.dests.length > 4093 ? 'EINVAL' : new RefMh(svc));
    case 'lblc': return (svc) => new RefLblc(svc, opts);
    case 'lblcr': return (svc) => new RefLblcr(svc, opts);
    default: return undefined;
  }
}
