/** wlc — Weighted Least Connection, the default scheduler (spec §2.4, ip_vs_wlc.c). */
import { DEST_F, type RtDest, type RtServiceView, type SchedulerFactory } from '../scheduler.ts';
import { SlotScheduler, mulGt, overhead, type SlotList } from './slots.ts';

/**
 * The kernel's weighted-least pick over the whole list (wlc, sed, lblc/lblcr's new pick):
 * first dest not OVERLOAD with weight > 0, then later non-OVERLOAD dests replace it iff
 * cost(least) * w(d) > cost(d) * w(least). Weight-0 dests can never win, so they are left out.
 */
export class WeightedLeastIndex {
  oh = new Float64Array(0);
  w = new Float64Array(0);
  /** Heap-layout arg-best tree (leaves at cap + slot), comparison inlined for speed. */
  best = new Int32Array(2).fill(-1);
  cap = 1;
  constructor(private readonly cost: (d: RtDest) => number) {}

  /** b (right of a) strictly beats a: cost(a) * w(b) > cost(b) * w(a), exact. */
  private beats(a: number, b: number): boolean {
    const x = this.oh[a]! * this.w[b]!, y = this.oh[b]! * this.w[a]!;
    if (x <= 9007199254740991 && x >= -9007199254740991 && y <= 9007199254740991 && y >= -9007199254740991) return x > y;
    return mulGt(this.oh[a]!, this.w[b]!, this.oh[b]!, this.w[a]!);
  }

  rebuild(slots: SlotList): void {
    const cap = (this.cap = slots.cap);
    this.oh = new Float64Array(cap);
    this.w = new Float64Array(cap);
    this.best = new Int32Array(2 * cap).fill(-1);
    for (let s = slots.lo; s < cap; s++) this.leaf(s, slots.at[s]!);
    const best = this.best;
    for (let n = cap - 1; n >= 1; n--) {
      const l = best[2 * n]!, r = best[2 * n + 1]!;
      best[n] = l < 0 ? r : r < 0 ? l : this.beats(l, r) ? r : l;
    }
  }
  private leaf(s: number, d: RtDest | null): void {
    if (d === null || (d.flags & DEST_F.OVERLOAD) !== 0 || d.weight <= 0) {
      this.best[this.cap + s] = -1;
    } else {
      this.oh[s] = this.cost(d);
      this.w[s] = d.weight;
      this.best[this.cap + s] = s;
    }
  }
  load(s: number, d: RtDest | null): void {
    const best = this.best;
    const was = best[this.cap + s]! >= 0, oh = this.oh[s], w = this.w[s];
    this.leaf(s, d);
    if (was === best[this.cap + s]! >= 0 && (!was || (oh === this.oh[s] && w === this.w[s]))) return;
    for (let n = (this.cap + s) >> 1; n >= 1; n >>= 1) {
      const l = best[2 * n]!, r = best[2 * n + 1]!;
      const nb = l < 0 ? r : r < 0 ? l : this.beats(l, r) ? r : l;
      const old = best[n]!;
      best[n] = nb;
      if (nb === old && nb !== s) return; // same winner, and not the changed slot
    }
  }
  pick(slots: SlotList): RtDest | null {
    const r = this.best[1]!;
    return r < 0 ? null : slots.at[r]!;
  }
}

export class WlcScheduler extends SlotScheduler {
  readonly name: string;
  protected readonly idx: WeightedLeastIndex;
  constructor(svc: RtServiceView, name = 'wlc', cost: (d: RtDest) => number = overhead) {
    super();
    this.name = name;
    this.idx = new WeightedLeastIndex(cost);
    this.resync(svc);
  }
  protected rebuildIndex(): void {
    this.idx.rebuild(this.slots);
  }
  protected load(slot: number, d: RtDest | null): void {
    this.idx.load(slot, d);
  }
  schedule(svc: RtServiceView): RtDest | null {
    this.ensure(svc);
    return this.idx.pick(this.slots);
  }
}

export const wlcFactory: SchedulerFactory = (svc) => new WlcScheduler(svc);
