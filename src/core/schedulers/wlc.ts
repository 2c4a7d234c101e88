/** wlc — Weighted Least Connection, the default scheduler (spec §2.4, ip_vs_wlc.c). */
import { DEST_F, type RtDest, type RtServiceView, type SchedulerFactory } from '../scheduler.ts';
import { ArgTree, SlotScheduler, mulGt, overhead, type SlotList } from './slots.ts';

/**
 * The kernel's weighted-least pick over the whole list (wlc, sed, lblc/lblcr's new pick):
 * first dest not OVERLOAD with weight > 0, then later non-OVERLOAD dests replace it iff
 * cost(least) * w(d) > cost(d) * w(least). Weight-0 dests can never win, so they are left out.
 */
export class WeightedLeastIndex {
  oh = new Float64Array(0);
  w = new Float64Array(0);
  tree = new ArgTree(1, () => false);
  constructor(private readonly cost: (d: RtDest) => number) {}

  rebuild(slots: SlotList): void {
    const cap = slots.cap;
    this.oh = new Float64Array(cap);
    this.w = new Float64Array(cap);
    const oh = this.oh, w = this.w;
    this.tree = new ArgTree(cap, (a, b) => mulGt(oh[a]!, w[b]!, oh[b]!, w[a]!));
    for (let s = slots.lo; s < cap; s++) this.leaf(s, slots.at[s]!);
    this.tree.build();
  }
  private leaf(s: number, d: RtDest | null): void {
    if (d === null || (d.flags & DEST_F.OVERLOAD) !== 0 || d.weight <= 0) {
      this.tree.setLeaf(s, false);
    } else {
      this.oh[s] = this.cost(d);
      this.w[s] = d.weight;
      this.tree.setLeaf(s, true);
    }
  }
  load(s: number, d: RtDest | null): void {
    const was = this.tree.isSet(s), oh = this.oh[s], w = this.w[s];
    this.leaf(s, d);
    if (was === this.tree.isSet(s) && (!was || (oh === this.oh[s] && w === this.w[s]))) return;
    this.tree.update(s);
  }
  pick(slots: SlotList): RtDest | null {
    const r = this.tree.root();
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
