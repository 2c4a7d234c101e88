/** wlc — Weighted Least Connection, the default scheduler (spec §2.4, ip_vs_wlc.c). */
import { DEST_F, type RtDest, type RtServiceView, type SchedulerFactory } from '../scheduler.ts';
import { RatioTree, SlotScheduler, overhead, type SlotList } from './slots.ts';

/**
 * The kernel's weighted-least pick over the whole list (wlc, sed, lblc/lblcr's new pick):
 * first dest not OVERLOAD with weight > 0, then later non-OVERLOAD dests replace it iff
 * cost(least) * w(d) > cost(d) * w(least). Weight-0 dests can never win, so they are left out.
 */
export class WeightedLeastIndex {
  tree = new RatioTree(1);
  constructor(private readonly cost: (d: RtDest) => number) {}

  rebuild(slots: SlotList): void {
    const t = (this.tree = new RatioTree(slots.cap));
    for (let s = slots.lo; s < slots.cap; s++) {
      const d = slots.at[s]!;
      if (d !== null && (d.flags & DEST_F.OVERLOAD) === 0 && d.weight > 0) t.setLeaf(s, true, this.cost(d), d.weight);
    }
    t.build();
  }
  load(s: number, d: RtDest | null): void {
    if (d === null || (d.flags & DEST_F.OVERLOAD) !== 0 || d.weight <= 0) this.tree.set(s, false, 0, 0);
    else this.tree.set(s, true, this.cost(d), d.weight);
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
