/**
 * nq — Never Queue (spec §2.6, ip_vs_nq.c): the first eligible idle dest (activeconns == 0) in
 * list order, else the minimum (activeconns + 1) / weight, first wins ties.
 *
 * Indexed as a weighted-least tree with cost 0 for idle dests and activeconns + 1 otherwise: an
 * idle dest is never beaten (0 * w > c * w' is false) and beats every busy one (c * w > 0), so
 * the root is the kernel's answer (weights are >= 0 and activeconns < 2^31 - 1, as in the kernel).
 */
import { DEST_F, type RtDest, type RtServiceView, type SchedulerFactory } from '../scheduler.ts';
import { RatioTree, SlotScheduler } from './slots.ts';

const eligible = (d: RtDest | null): d is RtDest => d !== null && (d.flags & DEST_F.OVERLOAD) === 0 && d.weight > 0; // kernel: weight != 0; weights are >= 0
const cost = (d: RtDest): number => (d.activeConns === 0 ? 0 : (d.activeConns + 1) | 0);

export class NqScheduler extends SlotScheduler {
  readonly name = 'nq';
  private tree = new RatioTree(1);
  constructor(svc: RtServiceView) {
    super();
    this.resync(svc);
  }
  protected rebuildIndex(): void {
    const t = (this.tree = new RatioTree(this.slots.cap));
    for (let s = this.slots.lo; s < this.slots.cap; s++) {
      const d = this.slots.at[s]!;
      if (eligible(d)) t.setLeaf(s, true, cost(d), d.weight);
    }
    t.build();
  }
  protected load(s: number, d: RtDest | null): void {
    if (eligible(d)) this.tree.set(s, true, cost(d), d.weight);
    else this.tree.set(s, false, 0, 0);
  }
  schedule(svc: RtServiceView): RtDest | null {
    this.ensure(svc);
    const r = this.tree.root();
    return r < 0 ? null : this.slots.at[r]!;
  }
}

export const nqFactory: SchedulerFactory = (svc) => new NqScheduler(svc);
