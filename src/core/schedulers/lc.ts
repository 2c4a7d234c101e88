/** lc — Least Connection (spec §2.3, ip_vs_lc.c): min overhead over eligible dests, first wins ties. */
import { DEST_F, type RtDest, type RtServiceView, type SchedulerFactory } from '../scheduler.ts';
import { MinKeyScheduler, overhead } from './slots.ts';

export class LcScheduler extends MinKeyScheduler {
  readonly name = 'lc';
  constructor(svc: RtServiceView) {
    super();
    this.resync(svc);
  }
  protected key(d: RtDest): number {
    return (d.flags & DEST_F.OVERLOAD) === 0 && d.weight !== 0 ? overhead(d) : Infinity;
  }
  schedule(svc: RtServiceView): RtDest | null {
    this.ensure(svc);
    return this.best();
  }
}

export const lcFactory: SchedulerFactory = (svc) => new LcScheduler(svc);
