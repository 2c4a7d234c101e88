/**
 * twos — Power of Two Choices (spec §2.14, ip_vs_twos.c). T = sum of eligible weights
 * (not OVERLOAD, weight > 0); r1, r2 uniform in [0, T] (env.random, drawn r1 then r2); choice =
 * first eligible dest (list order) whose running weight sum reaches r (r = 0 behaves as 1);
 * choice2 wins iff w2 * oh1 > w1 * oh2 in C int arithmetic. Prefix sums via a Fenwick tree.
 */
import { DEST_F, type RtDest, type RtServiceView, type SchedEnv, type SchedulerFactory } from '../scheduler.ts';
import { Fenwick, SlotScheduler, overhead } from './slots.ts';

export class TwosScheduler extends SlotScheduler {
  readonly name = 'twos';
  private fw = new Fenwick(1);
  constructor(svc: RtServiceView) {
    super();
    this.resync(svc);
  }
  protected rebuildIndex(): void {
    this.fw = new Fenwick(this.slots.cap);
    for (let s = this.slots.lo; s < this.slots.cap; s++) this.load(s, this.slots.at[s]!);
  }
  protected load(s: number, d: RtDest | null): void {
    this.fw.set(s, d !== null && (d.flags & DEST_F.OVERLOAD) === 0 && d.weight > 0 ? d.weight : 0);
  }
  schedule(svc: RtServiceView, _pkt: unknown, env: SchedEnv): RtDest | null {
    this.ensure(svc);
    const total = this.fw.total;
    if (total <= 0) return null;
    const r1 = Math.floor(env.random() * (total + 1));
    const r2 = Math.floor(env.random() * (total + 1));
    const c1 = this.slots.at[this.fw.lowerBound(r1 > 0 ? r1 : 1)]!;
    const c2 = this.slots.at[this.fw.lowerBound(r2 > 0 ? r2 : 1)]!;
    return Math.imul(c2.weight, overhead(c1)) > Math.imul(c1.weight, overhead(c2)) ? c2 : c1;
  }
}

export const twosFactory: SchedulerFactory = (svc) => new TwosScheduler(svc);
