/** lc — Least Connection (spec §2.3, ip_vs_lc.c): min overhead over eligible dests, first wins ties. */
import { DEST_F, type RtDest, type RtServiceView, type SchedulerFactory } from '../scheduler.ts';
import { MinTree, SlotScheduler, overhead } from './slots.ts';

const key = (d: RtDest | null): number =>
  d !== null && (d.flags & DEST_F.OVERLOAD) === 0 && d.weight !== 0 ? overhead(d) : Infinity;

export class LcScheduler extends SlotScheduler {
  readonly name = 'lc';
  private tree = new MinTree(1);
  constructor(svc: RtServiceView) {
    super();
    this.resync(svc);
  }
  protected rebuildIndex(): void {
    const t = (this.tree = new MinTree(this.slots.cap));
    for (let s = this.slots.lo; s < this.slots.cap; s++) t.setLeaf(s, key(this.slots.at[s]!));
    t.build();
  }
  protected load(s: number, d: RtDest | null): void {
    this.tree.set(s, key(d));
  }
  schedule(svc: RtServiceView): RtDest | null {
    this.ensure(svc);
    const r = this.tree.root();
    return r < 0 ? null : this.slots.at[r]!;
  }
}

export const lcFactory: SchedulerFactory = (svc) => new LcScheduler(svc);
