/** rr — Round Robin (spec §2.1, net/netfilter/ipvs/ip_vs_rr.c). */
import { DEST_F, type RtDest, type RtServiceView, type Scheduler, type SchedulerFactory } from '../scheduler.ts';

function eligible(d: RtDest): boolean {
  return (d.flags & DEST_F.OVERLOAD) === 0 && d.weight > 0;
}

export class RrScheduler implements Scheduler {
  readonly name = 'rr';
  /** null = list head. */
  private cursor: RtDest | null = null;

  schedule(svc: RtServiceView): RtDest | null {
    const list = svc.dests;
    const n = list.length;
    const c = this.cursor === null ? -1 : list.indexOf(this.cursor);
    if (c < 0) {
      for (let i = 0; i < n; i++) if (eligible(list[i]!)) return (this.cursor = list[i]!);
      return null;
    }
    for (let k = 1; k <= n; k++) {
      const d = list[(c + k) % n]!;
      if (eligible(d)) return (this.cursor = d);
    }
    return null;
  }

  delDest(svc: RtServiceView, dest: RtDest, formerIndex: number): void {
    if (this.cursor === dest) this.cursor = formerIndex > 0 ? svc.dests[formerIndex - 1]! : null;
  }
}

export const rrFactory: SchedulerFactory = () => new RrScheduler();
