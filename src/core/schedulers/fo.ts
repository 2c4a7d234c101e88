/**
 * fo — Weighted Fail Over (spec §2.12, ip_vs_fo.c) and ovf — Weighted Overflow (spec §2.13,
 * ip_vs_ovf.c): the highest weight among eligible dests, first in list order wins ties.
 * fo: eligible = not OVERLOAD, weight > 0. ovf additionally requires activeconns <= weight.
 */
import { DEST_F, type RtDest, type RtServiceView, type SchedulerFactory } from '../scheduler.ts';
import { MinTree, SlotScheduler } from './slots.ts';

export class MaxWeightScheduler extends SlotScheduler {
  /** Min tree over -weight: the root is the first highest-weight eligible dest. */
  private tree = new MinTree(1);
  constructor(svc: RtServiceView, readonly name: 'fo' | 'ovf') {
    super();
    this.resync(svc);
  }
  private key(d: RtDest | null): number {
    return d !== null && (d.flags & DEST_F.OVERLOAD) === 0 && d.weight > 0 &&
      (this.name === 'fo' || d.activeConns <= d.weight) ? -d.weight : Infinity;
  }
  protected rebuildIndex(): void {
    const t = (this.tree = new MinTree(this.slots.cap));
    for (let s = this.slots.lo; s < this.slots.cap; s++) t.setLeaf(s, this.key(this.slots.at[s]!));
    t.build();
  }
  protected load(s: number, d: RtDest | null): void {
    this.tree.set(s, this.key(d));
  }
  schedule(svc: RtServiceView): RtDest | null {
    this.ensure(svc);
    const r = this.tree.root();
    return r < 0 ? null : this.slots.at[r]!;
  }
}

export const foFactory: SchedulerFactory = (svc) => new MaxWeightScheduler(svc, 'fo');
