/**
 * rr — Round Robin (spec §2.1, ip_vs_rr.c). The cursor is a dest (or the list head); a decision
 * walks forward from the element after the cursor, wraps, and examines the cursor element last.
 * Eligible = not OVERLOAD and weight > 0. An index of eligible slots makes it O(log n) even when
 * most dests are quiesced or overloaded.
 */
import { DEST_F, type RtDest, type RtServiceView, type SchedulerFactory } from '../scheduler.ts';
import { MinKeyScheduler } from './slots.ts';

export class RrScheduler extends MinKeyScheduler {
  readonly name = 'rr';
  /** null = list head. */
  private cursor: RtDest | null = null;
  constructor(svc: RtServiceView) {
    super();
    this.resync(svc);
  }
  /** Key 0 = eligible, Infinity = not: the tree finds the next eligible slot after the cursor. */
  protected key(d: RtDest): number {
    return (d.flags & DEST_F.OVERLOAD) === 0 && d.weight > 0 ? 0 : Infinity;
  }
  schedule(svc: RtServiceView): RtDest | null {
    this.ensure(svc);
    const c = this.cursor === null ? -1 : this.slots.slotOf(this.cursor);
    let s: number;
    if (c < 0) {
      s = this.tree.root();
    } else {
      s = this.tree.firstAtMost(c + 1, 0);
      if (s < 0) {
        s = this.tree.root();
        if (s > c) s = -1;
      }
    }
    if (s < 0) return null;
    return (this.cursor = this.slots.at[s]!);
  }
  override delDest(svc: RtServiceView, dest: RtDest, formerIndex: number): void {
    // The kernel moves a deleted cursor to its predecessor (or the head).
    if (this.cursor === dest) this.cursor = formerIndex > 0 ? svc.dests[formerIndex - 1] ?? null : null;
    super.delDest(svc, dest, formerIndex);
  }
  done(): void {
    this.cursor = null;
  }
}

export const rrFactory: SchedulerFactory = (svc) => new RrScheduler(svc);
