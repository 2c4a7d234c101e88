/**
 * fo — Weighted Fail Over (spec §2.12, ip_vs_fo.c) and ovf — Weighted Overflow (spec §2.13,
 * ip_vs_ovf.c): the highest weight among eligible dests, first in list order wins ties.
 * fo: eligible = not OVERLOAD, weight > 0. ovf additionally requires activeconns <= weight.
 */
import { DEST_F, type RtDest, type RtServiceView, type SchedulerFactory } from '../scheduler.ts';
import { MinKeyScheduler } from './slots.ts';

export class MaxWeightScheduler extends MinKeyScheduler {
  constructor(svc: RtServiceView, readonly name: 'fo' | 'ovf') {
    super();
    this.resync(svc);
  }
  /** Key -weight: the least key is the first highest-weight eligible dest. */
  protected key(d: RtDest): number {
    return (d.flags & DEST_F.OVERLOAD) === 0 && d.weight > 0 && (this.name === 'fo' || d.activeConns <= d.weight) ? -d.weight : Infinity;
  }
  schedule(svc: RtServiceView): RtDest | null {
    this.ensure(svc);
    return this.best();
  }
}

export const foFactory: SchedulerFactory = (svc) => new MaxWeightScheduler(svc, 'fo');
