/**
 * nq — Never Queue (spec §2.6, ip_vs_nq.c): the first eligible idle dest (activeconns == 0) in
 * list order, else the minimum (activeconns + 1) / weight, first wins ties.
 */
import { DEST_F, type RtDest, type RtServiceView, type SchedulerFactory } from '../scheduler.ts';
import { ArgTree, SlotScheduler, mulGt } from './slots.ts';

export class NqScheduler extends SlotScheduler {
  readonly name = 'nq';
  private act = new Float64Array(0);
  private w = new Float64Array(0);
  private tree = new ArgTree(1, () => false);
  constructor(svc: RtServiceView) {
    super();
    this.resync(svc);
  }
  protected rebuildIndex(): void {
    const cap = this.slots.cap;
    const act = (this.act = new Float64Array(cap));
    const w = (this.w = new Float64Array(cap));
    // b beats a iff a is not idle and (b is idle or (act(a)+1)*w(b) > (act(b)+1)*w(a)).
    this.tree = new ArgTree(cap, (a, b) =>
      act[a]! !== 0 && (act[b]! === 0 || mulGt((act[a]! + 1) | 0, w[b]!, (act[b]! + 1) | 0, w[a]!)));
    for (let s = this.slots.lo; s < cap; s++) this.leaf(s, this.slots.at[s]!);
    this.tree.build();
  }
  private leaf(s: number, d: RtDest | null): void {
    const ok = d !== null && (d.flags & DEST_F.OVERLOAD) === 0 && d.weight !== 0;
    if (ok) { this.act[s] = d.activeConns; this.w[s] = d.weight; }
    this.tree.setLeaf(s, ok);
  }
  protected load(s: number, d: RtDest | null): void {
    const was = this.tree.isSet(s), a = this.act[s], w = this.w[s];
    this.leaf(s, d);
    if (was === this.tree.isSet(s) && (!was || (a === this.act[s] && w === this.w[s]))) return;
    this.tree.update(s);
  }
  schedule(svc: RtServiceView): RtDest | null {
    this.ensure(svc);
    const r = this.tree.root();
    return r < 0 ? null : this.slots.at[r]!;
  }
}

export const nqFactory: SchedulerFactory = (svc) => new NqScheduler(svc);
