/**
 * Index plumbing shared by the scanning schedulers, so a decision costs O(1)..O(log n) instead of
 * a scan of the destination list, while giving exactly the kernel scan's answer.
 *
 * Kernel list order is "newest first" and inserts only happen at the head. So every destination
 * gets a *slot* number that only ever decreases for newer destinations: ascending slot order ==
 * list order. Deletions leave holes. When the free space below the lowest slot runs out, the
 * slots are compacted (rebuilt from svc.dests), amortised O(1) per add.
 *
 * Trees over slots (heap layout, leaves at cap + slot) combine left-to-right, so "first in list
 * order wins ties" is simply "the left child wins unless the right one is strictly better".
 */
import type { RtDest, RtServiceView, Scheduler, SchedEnv, SchedPacket } from '../scheduler.ts';

export class SlotList {
  cap = 16;
  /** Lowest used slot; slots below it are free for new (head) inserts. */
  lo = 16;
  count = 0;
  at: (RtDest | null)[] = [];
  private readonly slotById = new Map<number, number>();

  constructor(list: readonly RtDest[]) {
    const n = list.length;
    let cap = 16;
    while (cap < 2 * n + 16) cap *= 2;
    this.cap = cap;
    this.lo = cap - n;
    this.at = new Array<RtDest | null>(cap).fill(null);
    for (let i = 0; i < n; i++) {
      const d = list[i]!;
      this.at[this.lo + i] = d;
      this.slotById.set(d.id, this.lo + i);
    }
    this.count = n;
  }

  /** Slot for a new head dest, or -1 when the caller must rebuild from svc.dests (full / duplicate). */
  pushFront(d: RtDest): number {
    if (this.lo === 0 || this.slotById.has(d.id)) return -1;
    const s = --this.lo;
    this.at[s] = d;
    this.slotById.set(d.id, s);
    this.count++;
    return s;
  }

  remove(d: RtDest): number {
    const s = this.slotById.get(d.id);
    if (s === undefined) return -1;
    this.slotById.delete(d.id);
    this.at[s] = null;
    this.count--;
    return s;
  }

  slotOf(d: RtDest): number {
    const s = this.slotById.get(d.id);
    return s === undefined ? -1 : s;
  }

  has(d: RtDest): boolean {
    const s = this.slotById.get(d.id);
    return s !== undefined && this.at[s] === d;
  }
}

/** Kernel ip_vs_dest_conn_overhead(): (activeconns << 8) + inactconns, as a C int. */
export function overhead(d: RtDest): number {
  return ((d.activeConns << 8) + d.inactConns) | 0;
}

/** a*b > c*d exactly (the kernel's (__s64) products). */
export function mulGt(a: number, b: number, c: number, d: number): boolean {
  const x = a * b, y = c * d;
  if (Math.abs(x) <= Number.MAX_SAFE_INTEGER && Math.abs(y) <= Number.MAX_SAFE_INTEGER) return x > y;
  return BigInt(a) * BigInt(b) > BigInt(c) * BigInt(d);
}

/** Arg-best tree: node = best slot of its subtree (-1 none); better(a, b) = b (to the right) strictly beats a. */
export class ArgTree {
  readonly best: Int32Array;
  constructor(readonly cap: number, private readonly better: (a: number, b: number) => boolean) {
    this.best = new Int32Array(2 * cap).fill(-1);
  }
  setLeaf(slot: number, present: boolean): void {
    this.best[this.cap + slot] = present ? slot : -1;
  }
  isSet(slot: number): boolean {
    return this.best[this.cap + slot]! >= 0;
  }
  update(slot: number): void {
    const best = this.best;
    for (let n = (this.cap + slot) >> 1; n >= 1; n >>= 1) {
      const l = best[2 * n]!, r = best[2 * n + 1]!;
      const nb = l < 0 ? r : r < 0 ? l : this.better(l, r) ? r : l;
      const old = best[n]!;
      best[n] = nb;
      // Same winner, and it is not the slot whose key changed: nothing above can change.
      if (nb === old && nb !== slot) return;
    }
  }
  build(): void {
    const best = this.best;
    for (let n = this.cap - 1; n >= 1; n--) {
      const l = best[2 * n]!, r = best[2 * n + 1]!;
      best[n] = l < 0 ? r : r < 0 ? l : this.better(l, r) ? r : l;
    }
  }
  root(): number {
    return this.best[1]!;
  }
  /** For a "leftmost present" tree (better always false): first present slot >= from, or -1. */
  firstFrom(from: number): number {
    if (from >= this.cap) return -1;
    const best = this.best;
    let n = this.cap + from;
    if (best[n]! >= 0) return best[n]!;
    while (n > 1) {
      if ((n & 1) === 0 && best[n + 1]! >= 0) return best[n + 1]!;
      n >>= 1;
    }
    return -1;
  }
}

/** Max tree over slot values (-1 = absent) with "first slot >= from whose value >= x". */
export class MaxTree {
  readonly mx: Float64Array;
  constructor(readonly cap: number) {
    this.mx = new Float64Array(2 * cap).fill(-1);
  }
  set(slot: number, v: number): void {
    const mx = this.mx;
    let n = this.cap + slot;
    mx[n] = v;
    for (n >>= 1; n >= 1; n >>= 1) {
      const l = mx[2 * n]!, r = mx[2 * n + 1]!;
      mx[n] = l > r ? l : r;
    }
  }
  setLeaf(slot: number, v: number): void {
    this.mx[this.cap + slot] = v;
  }
  build(): void {
    const mx = this.mx;
    for (let n = this.cap - 1; n >= 1; n--) {
      const l = mx[2 * n]!, r = mx[2 * n + 1]!;
      mx[n] = l > r ? l : r;
    }
  }
  max(): number {
    return this.mx[1]!;
  }
  firstAtLeast(from: number, x: number): number {
    if (from >= this.cap) return -1;
    const mx = this.mx;
    let n = this.cap + from;
    if (mx[n]! >= x) return from;
    for (;;) {
      if (n <= 1) return -1;
      if ((n & 1) === 0 && mx[n + 1]! >= x) { n = n + 1; break; }
      n >>= 1;
    }
    while (n < this.cap) n = mx[2 * n]! >= x ? 2 * n : 2 * n + 1;
    return n - this.cap;
  }
}

export function gcd(a: number, b: number): number {
  while (b) { const t = a % b; a = b; b = t; }
  return a;
}

/** gcd tree over slot values (0 = absent / weight <= 0). */
export class GcdTree {
  readonly g: Float64Array;
  constructor(readonly cap: number) {
    this.g = new Float64Array(2 * cap);
  }
  setLeaf(slot: number, v: number): void {
    this.g[this.cap + slot] = v;
  }
  set(slot: number, v: number): void {
    const g = this.g;
    let n = this.cap + slot;
    g[n] = v;
    for (n >>= 1; n >= 1; n >>= 1) g[n] = gcd(g[2 * n]!, g[2 * n + 1]!);
  }
  build(): void {
    for (let n = this.cap - 1; n >= 1; n--) this.g[n] = gcd(this.g[2 * n]!, this.g[2 * n + 1]!);
  }
  root(): number {
    return this.g[1]!;
  }
}

/** Fenwick tree of non-negative integer slot weights with lower-bound search. */
export class Fenwick {
  readonly t: Float64Array;
  readonly v: Float64Array;
  total = 0;
  constructor(readonly cap: number) {
    this.t = new Float64Array(cap + 1);
    this.v = new Float64Array(cap);
  }
  set(slot: number, w: number): void {
    const delta = w - this.v[slot]!;
    if (delta === 0) return;
    this.v[slot] = w;
    this.total += delta;
    for (let i = slot + 1; i <= this.cap; i += i & -i) this.t[i] += delta;
  }
  /** Smallest slot whose inclusive prefix sum is >= r (r >= 1, r <= total). */
  lowerBound(r: number): number {
    let pos = 0;
    const t = this.t;
    for (let step = this.cap; step > 0; step >>= 1) {
      const nx = pos + step;
      if (nx <= this.cap && t[nx]! < r) { pos = nx; r -= t[nx]!; }
    }
    return pos; // 0-based slot = pos (1-based index pos+1)
  }
}

/**
 * Base class: keeps the SlotList in step with the engine's hooks; subclasses keep their indexes
 * in `load(slot, dest|null)` and `rebuildIndex()`.
 */
export abstract class SlotScheduler implements Scheduler {
  abstract readonly name: string;
  protected slots!: SlotList;

  /** Subclass constructors call this last. */
  protected resync(svc: RtServiceView): void {
    this.slots = new SlotList(svc.dests);
    this.rebuildIndex();
  }
  /** (Re)allocate indexes for this.slots.cap and fill them from this.slots.at. */
  protected abstract rebuildIndex(): void;
  /** A slot's dest changed (or vanished: null); update leaf and paths. */
  protected abstract load(slot: number, d: RtDest | null): void;
  /** After add/del/edit (the kernel's add_dest/del_dest/upd_dest). */
  protected listChanged(_svc: RtServiceView): void {}

  /** Cheap guard: if the engine's list and ours disagree in size, rebuild. */
  protected ensure(svc: RtServiceView): void {
    if (svc.dests.length !== this.slots.count) this.resync(svc);
  }

  abstract schedule(svc: RtServiceView, pkt: SchedPacket, env: SchedEnv): RtDest | null;

  addDest(svc: RtServiceView, dest: RtDest): void {
    const s = this.slots.pushFront(dest);
    if (s < 0 || svc.dests[0] !== dest) this.resync(svc);
    else this.load(s, dest);
    this.listChanged(svc);
  }
  delDest(svc: RtServiceView, dest: RtDest, _formerIndex: number): void {
    const s = this.slots.remove(dest);
    if (s >= 0) this.load(s, null);
    if (svc.dests.length !== this.slots.count) this.resync(svc);
    this.listChanged(svc);
  }
  updDest(svc: RtServiceView, dest: RtDest): void {
    const s = this.slots.slotOf(dest);
    if (s >= 0) this.load(s, dest);
    this.listChanged(svc);
  }
  countsChanged(_svc: RtServiceView, dest: RtDest): void {
    const s = this.slots.slotOf(dest);
    if (s >= 0) this.load(s, dest);
  }
}
