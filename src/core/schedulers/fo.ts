/**
 * fo — Weighted Fail Over (spec §2.12, ip_vs_fo.c) and ovf — Weighted Overflow (spec §2.13,
 * ip_vs_ovf.c): the highest weight among eligible dests, first in list order wins ties.
 * fo: eligible = not OVERLOAD, weight > 0. ovf additionally requires activeconns <= weight.
 */
import { DEST_F, type RtDest, type RtServiceView, type SchedulerFactory } from '../scheduler.ts';
import { ArgTree, SlotScheduler } from './slots.ts';

export class MaxWeightScheduler extends SlotScheduler {
  private w = new Float64Array(0);
  private tree = new ArgTree(1, () => false);
  constructor(svc: RtServiceView, readonly name: 'fo' | 'ovf') {
    super();
    this.resync(svc);
  }
  protected rebuildIndex(): void {
    const cap = this.slots.cap;
    const w = (this.w = new Float64Array(cap));
    this.tree = new ArgTree(cap, (a, b) => w[b]! > w[a]!);
    for (let s = this.slots.lo; s < cap; s++) this.leaf(s, this.slots.at[s]!);
    this.tree.build();
  }
  private leaf(s: number, d: RtDest | null): void {
    const ok = d !== null && (d.flags & DEST_F.OVERLOAD) === 0 && d.weight > 0 &&
      (this.name === 'fo' || d.activeConns <= d.weight);
    if (ok) this.w[s] = d.weight;
    this.tree.setLeaf(s, ok);
  }
  protected load(s: number, d: RtDest | null): void {
    const was = this.tree.isSet(s), w = this.w[s];
    this.leaf(s, d);
    if (was === this.tree.isSet(s) && (!was || w === this.w[s])) return;
    this.tree.update(s);
  }
  schedule(svc: RtServiceView): RtDest | null {
    this.ensure(svc);
    const r = this.tree.root();
    return r < 0 ? null : this.slots.at[r]!;
  }
}

export const foFactory: SchedulerFactory = (svc) => new MaxWeightScheduler(svc, 'fo');
