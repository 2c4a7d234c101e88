/** lc — Least Connection (spec §2.3, ip_vs_lc.c): min overhead over eligible dests, first wins ties. */
import { DEST_F, type RtDest, type RtServiceView, type SchedulerFactory } from '../scheduler.ts';
import { ArgTree, SlotScheduler, overhead } from './slots.ts';

export class LcScheduler extends SlotScheduler {
  readonly name = 'lc';
  private oh = new Float64Array(0);
  private tree = new ArgTree(1, () => false);
  constructor(svc: RtServiceView) {
    super();
    this.resync(svc);
  }
  protected rebuildIndex(): void {
    const cap = this.slots.cap;
    const oh = (this.oh = new Float64Array(cap));
    this.tree = new ArgTree(cap, (a, b) => oh[b]! < oh[a]!);
    for (let s = this.slots.lo; s < cap; s++) this.leaf(s, this.slots.at[s]!);
    this.tree.build();
  }
  private leaf(s: number, d: RtDest | null): void {
    const ok = d !== null && (d.flags & DEST_F.OVERLOAD) === 0 && d.weight !== 0;
    if (ok) this.oh[s] = overhead(d);
    this.tree.setLeaf(s, ok);
  }
  protected load(s: number, d: RtDest | null): void {
    const was = this.tree.isSet(s), oh = this.oh[s];
    this.leaf(s, d);
    if (was === this.tree.isSet(s) && (!was || oh === this.oh[s])) return;
    this.tree.update(s);
  }
  schedule(svc: RtServiceView): RtDest | null {
    this.ensure(svc);
    const r = this.tree.root();
    return r < 0 ? null : this.slots.at[r]!;
  }
}

export const lcFactory: SchedulerFactory = (svc) => new LcScheduler(svc);
