/**
 * wrr — Weighted Round Robin (spec §2.2, ip_vs_wrr.c), with the kernel's exact cursor (cl),
 * current weight (cw), max weight (mw) and gcd step (di) behaviour, including the realistic
 * start (cw recomputed on every add/del/edit). The pass walk is done with a max-weight index:
 * "first slot after the cursor whose dest is not OVERLOAD and has weight >= cw" is O(log n),
 * and runs of passes that cannot pick anything are skipped arithmetically.
 */
import { DEST_F, type RtDest, type RtServiceView, type SchedulerFactory } from '../scheduler.ts';
import { GcdTree, MaxTree, SlotScheduler } from './slots.ts';

export class WrrScheduler extends SlotScheduler {
  readonly name = 'wrr';
  /** Cursor: null = list head. */
  private cl: RtDest | null = null;
  private cw = 0;
  private mw = 0;
  private di = 1;
  /** Max weight over eligible (not OVERLOAD) dests. */
  private elig = new MaxTree(1);
  /** Max weight over all dests (ip_vs_wrr_max_weight). */
  private all = new MaxTree(1);
  /** gcd of weights > 0. */
  private g = new GcdTree(1);

  constructor(svc: RtServiceView) {
    super();
    this.resync(svc);
    // init_service: cl = head, di, mw, cw = mw.
    this.recompute();
    this.cw = this.mw;
  }
  get state(): { cw: number; mw: number; di: number; cl: RtDest | null } {
    return { cw: this.cw, mw: this.mw, di: this.di, cl: this.cl };
  }
  protected rebuildIndex(): void {
    const cap = this.slots.cap;
    this.elig = new MaxTree(cap);
    this.all = new MaxTree(cap);
    this.g = new GcdTree(cap);
    for (let s = this.slots.lo; s < cap; s++) this.leaf(s, this.slots.at[s]!);
    this.elig.build();
    this.all.build();
    this.g.build();
  }
  private leaf(s: number, d: RtDest | null): void {
    this.elig.setLeaf(s, d !== null && (d.flags & DEST_F.OVERLOAD) === 0 ? d.weight : -1);
    this.all.setLeaf(s, d !== null ? d.weight : -1);
    this.g.setLeaf(s, d !== null && d.weight > 0 ? d.weight : 0);
  }
  protected load(s: number, d: RtDest | null): void {
    this.elig.set(s, d !== null && (d.flags & DEST_F.OVERLOAD) === 0 ? d.weight : -1);
    this.all.set(s, d !== null ? d.weight : -1);
    this.g.set(s, d !== null && d.weight > 0 ? d.weight : 0);
  }
  private recompute(): void {
    const g = this.g.root();
    this.di = g > 0 ? g : 1;
    const m = this.all.max();
    this.mw = (m > 0 ? m : 0) - (this.di - 1);
  }
  /** ip_vs_wrr_dest_changed(). */
  protected override listChanged(_svc: RtServiceView): void {
    this.cl = null;
    this.recompute();
    if (this.cw > this.mw || this.cw === 0) this.cw = this.mw;
    else if (this.di > 1) this.cw = Math.trunc(this.cw / this.di) * this.di + 1;
  }
  override countsChanged(svc: RtServiceView, dest: RtDest): void {
    const s = this.slots.slotOf(dest);
    if (s < 0) return;
    const v = (dest.flags & DEST_F.OVERLOAD) === 0 ? dest.weight : -1;
    if (this.elig.mx[this.elig.cap + s] !== v) this.elig.set(s, v);
  }

  schedule(svc: RtServiceView): RtDest | null {
    if (svc.dests.length !== this.slots.count) {
      this.resync(svc);
    }
    if (this.mw === 0) return null;
    const HEAD = -1;
    const lastSlot = this.cl === null ? HEAD : this.slots.slotOf(this.cl);
    const last = lastSlot;
    let pos = lastSlot; // scan starts after pos
    let stop = -2; // none
    let lastPass = false, restarted = false;
    const di = this.di;
    for (;;) {
      if (pos === HEAD && stop === -2) {
        // Passes from the head that find nothing (no eligible weight >= cw) only step cw down.
        const floor = Math.max(this.elig.max(), di);
        if (this.cw - di > floor) {
          const k = Math.ceil((this.cw - floor) / di) - 1;
          if (k > 0) { this.cw -= k * di; lastPass = false; }
        }
      }
      const cand = this.elig.firstAtLeast(pos + 1, this.cw);
      if (stop !== -2 && stop > pos && (cand < 0 || cand > stop)) {
        // The stop element was examined and not picked.
        this.cl = this.slots.at[stop]!;
        return null;
      }
      if (cand >= 0) {
        return (this.cl = this.slots.at[cand]!);
      }
      this.cw -= di;
      if (this.cw <= 0) {
        this.cw = this.mw;
        if (lastPass || last === HEAD) {
          this.cl = null;
          return null;
        }
        restarted = true;
      }
      lastPass = this.cw <= di;
      if (lastPass && restarted && last !== HEAD) stop = last;
      pos = HEAD;
    }
  }
  done(): void {
    this.cl = null;
  }
}

export const wrrFactory: SchedulerFactory = (svc) => new WrrScheduler(svc);
