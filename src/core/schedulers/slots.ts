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

/**
 * dest id -> slot, open addressing (linear probing, backward-shift deletion) over one Int32Array
 * of [id, slot] pairs kept at most half full: the lookup every countsChanged hook does, one cache
 * line instead of a Map probe. Ids outside int32 (never, in practice) go to a plain Map.
 */
export class IdSlotMap {
  private t: Int32Array;
  private mask: number;
  private shift: number;
  private big: Map<number, number> | null = null;
  size = 0;
  constructor(expected = 8) {
    let bits = 4;
    while (1 << bits < 2 * expected + 2) bits++;
    this.mask = (1 << bits) - 1;
    this.shift = 32 - bits;
    this.t = new Int32Array(2 << bits).fill(-1);
  }
  /** The slot for id, or -1. */
  get(id: number): number {
    if ((id | 0) !== id || id < 0) return this.big?.get(id) ?? -1;
    const t = this.t, mask = this.mask;
    for (let i = Math.imul(id, 0x9e3779b1) >>> this.shift; ; i = (i + 1) & mask) {
      const k = t[2 * i]!;
      if (k === id) return t[2 * i + 1]!;
      if (k === -1) return -1;
    }
  }
  set(id: number, v: number): void {
    if ((id | 0) !== id || id < 0) {
      const big = (this.big ??= new Map());
      if (!big.has(id)) this.size++;
      big.set(id, v);
      return;
    }
    if (2 * (this.size + 1) > this.mask + 1) this.grow();
    const t = this.t, mask = this.mask;
    for (let i = Math.imul(id, 0x9e3779b1) >>> this.shift; ; i = (i + 1) & mask) {
      const k = t[2 * i]!;
      if (k === id) { t[2 * i + 1] = v; return; }
      if (k === -1) { t[2 * i] = id; t[2 * i + 1] = v; this.size++; return; }
    }
  }
  delete(id: number): boolean {
    if ((id | 0) !== id || id < 0) {
      if (this.big?.delete(id) !== true) return false;
      this.size--;
      return true;
    }
    const t = this.t, mask = this.mask, shift = this.shift;
    let i = Math.imul(id, 0x9e3779b1) >>> shift;
    for (; ; i = (i + 1) & mask) {
      const k = t[2 * i]!;
      if (k === -1) return false;
      if (k === id) break;
    }
    // Backward shift: move later members of the probe run into the hole when their home allows.
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const k = t[2 * j]!;
      if (k === -1) break;
      const h = Math.imul(k, 0x9e3779b1) >>> shift;
      // k may move to i iff its home is not cyclically in (i, j].
      if (i <= j ? h <= i || h > j : h <= i && h > j) {
        t[2 * i] = k; t[2 * i + 1] = t[2 * j + 1]!; i = j;
      }
    }
    t[2 * i] = -1;
    this.size--;
    return true;
  }
  private grow(): void {
    const old = this.t;
    const bits = 33 - this.shift;
    this.mask = (1 << bits) - 1;
    this.shift = 32 - bits;
    this.t = new Int32Array(2 << bits).fill(-1);
    const bigSize = this.big?.size ?? 0;
    this.size = bigSize;
    for (let i = 0; i < old.length; i += 2) if (old[i]! !== -1) this.set(old[i]!, old[i + 1]!);
  }
}

export class SlotList {
  cap = 16;
  /** Lowest used slot; slots below it are free for new (head) inserts. */
  lo = 16;
  count = 0;
  at: (RtDest | null)[] = [];
  private readonly slotById: IdSlotMap;

  constructor(list: readonly RtDest[]) {
    const n = list.length;
    // Room for max(16, n/2) head inserts before the next compaction (amortised O(1) per add).
    let cap = 16;
    while (cap < n + Math.max(16, n >> 1)) cap *= 2;
    this.cap = cap;
    this.lo = cap - n;
    this.at = new Array<RtDest | null>(cap).fill(null);
    this.slotById = new IdSlotMap(n + 8);
    for (let i = 0; i < n; i++) {
      const d = list[i]!;
      this.at[this.lo + i] = d;
      this.slotById.set(d.id, this.lo + i);
    }
    this.count = n;
  }

  /** Slot for a new head dest, or -1 when the caller must rebuild from svc.dests (full / duplicate). */
  pushFront(d: RtDest): number {
    if (this.lo === 0 || this.slotById.get(d.id) >= 0) return -1;
    const s = --this.lo;
    this.at[s] = d;
    this.slotById.set(d.id, s);
    this.count++;
    return s;
  }

  remove(d: RtDest): number {
    const s = this.slotById.get(d.id);
    if (s < 0) return -1;
    this.slotById.delete(d.id);
    this.at[s] = null;
    this.count--;
    return s;
  }

  slotOf(d: RtDest): number {
    return this.slotById.get(d.id);
  }

  has(d: RtDest): boolean {
    const s = this.slotById.get(d.id);
    return s >= 0 && this.at[s] === d;
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

/**
 * Min tree over slots: every node holds its subtree winner's key and slot side by side in one
 * array (node n at [2n, 2n+1]; siblings share a cache line, no indirection on the update path),
 * absent = +Infinity / -1, ties go to the left (list order).
 * lc uses key = overhead, fo/ovf key = -weight, rr key = 0 (leftmost present).
 */
export class MinTree {
  /** [key, slot] per node, heap layout (root 1, leaves cap + slot). */
  readonly t: Float64Array;
  constructor(readonly cap: number) {
    const t = (this.t = new Float64Array(4 * cap));
    for (let i = 0; i < t.length; i += 2) { t[i] = Infinity; t[i + 1] = -1; }
  }
  /** Leaf only (call build() after a batch). */
  setLeaf(slot: number, k: number): void {
    const i = 2 * (this.cap + slot);
    this.t[i] = k;
    this.t[i + 1] = k === Infinity ? -1 : slot;
  }
  /** Set a leaf (Infinity = absent) and repair the path; stops where a node is unchanged. */
  set(slot: number, k: number): void {
    const t = this.t;
    let n = this.cap + slot;
    const a = k === Infinity ? -1 : slot;
    if (t[2 * n] === k && t[2 * n + 1] === a) return;
    t[2 * n] = k;
    t[2 * n + 1] = a;
    for (n >>= 1; n >= 1; n >>= 1) {
      const i = 4 * n; // left child's key; right child's key at i + 2
      const c = i + 2 * +(t[i + 2]! < t[i]!);
      const nk = t[c]!, na = t[c + 1]!;
      if (t[2 * n] === nk && t[2 * n + 1] === na) return;
      t[2 * n] = nk;
      t[2 * n + 1] = na;
    }
  }
  build(): void {
    const t = this.t;
    for (let n = this.cap - 1; n >= 1; n--) {
      const i = 4 * n;
      const c = t[i + 2]! < t[i]! ? i + 2 : i;
      t[2 * n] = t[c]!;
      t[2 * n + 1] = t[c + 1]!;
    }
  }
  /** Slot of the minimum (first in list order among equals), or -1. */
  root(): number {
    return this.t[3]!;
  }
  /** First slot >= from whose key <= x, or -1. */
  firstAtMost(from: number, x: number): number {
    if (from >= this.cap) return -1;
    const t = this.t;
    let n = this.cap + from;
    if (t[2 * n]! <= x) return from;
    for (;;) {
      if (n <= 1) return -1;
      if ((n & 1) === 0 && t[2 * n + 2]! <= x) { n = n + 1; break; }
      n >>= 1;
    }
    while (n < this.cap) n = t[4 * n]! <= x ? 2 * n : 2 * n + 1;
    return n - this.cap;
  }
}

/**
 * Weighted-least tree (wlc, sed, lblc/lblcr's new pick, nq): every node holds its winner's
 * [slot, cost, weight] in one Int32Array (node n at 4n; siblings share a cache line). b (right
 * of a) wins iff cost(a) * w(b) > cost(b) * w(a), exactly (the kernel's __s64 products of C ints;
 * BigInt only for equal doubles beyond 2^53). Ties go to the left (list order).
 *
 * Present leaves must have weight > 0 (every user's eligibility rule; the kernel's weights are
 * 0..INT_MAX). An absent leaf is [-1, cost 1, weight 0], which the same comparison ranks below
 * every present one (1 * w > c * 0 and c * 0 > 1 * w is false), so the update path has no
 * presence branches.
 */
export class RatioTree {
  readonly t: Int32Array;
  constructor(readonly cap: number) {
    const t = (this.t = new Int32Array(8 * cap));
    for (let i = 0; i < t.length; i += 4) { t[i] = -1; t[i + 1] = 1; }
  }
  /** Leaf only (call build() after a batch). */
  setLeaf(slot: number, present: boolean, cost: number, w: number): void {
    const i = 4 * (this.cap + slot), t = this.t;
    if (present) { t[i] = slot; t[i + 1] = cost; t[i + 2] = w; } else { t[i] = -1; t[i + 1] = 1; t[i + 2] = 0; }
  }
  /** Set a leaf and repair the path; stops where a node is unchanged. */
  set(slot: number, present: boolean, cost: number, w: number): void {
    const t = this.t;
    let n = this.cap + slot;
    let i = 4 * n;
    if (present) {
      if (t[i] === slot && t[i + 1] === cost && t[i + 2] === w) return;
      t[i] = slot; t[i + 1] = cost; t[i + 2] = w;
    } else {
      if (t[i]! < 0) return;
      t[i] = -1; t[i + 1] = 1; t[i + 2] = 0;
    }
    for (n >>= 1; n >= 1; n >>= 1) {
      const l = 8 * n;
      const ol = t[l + 1]!, wl = t[l + 2]!, or = t[l + 5]!, wr = t[l + 6]!;
      const x = ol * wr, y = or * wl;
      // Exact doubles below 2^53 (always, for realistic counts): a branch-free pick.
      const c = x <= 9007199254740991 && y <= 9007199254740991 && x >= -9007199254740991 && y >= -9007199254740991
        ? l + 4 * +(x > y)
        : (mulGt(ol, wr, or, wl) ? l + 4 : l);
      i = 4 * n;
      const a = t[c]!, co = t[c + 1]!, cw = t[c + 2]!;
      if (t[i] === a && t[i + 1] === co && t[i + 2] === cw) return;
      t[i] = a; t[i + 1] = co; t[i + 2] = cw;
    }
  }
  build(): void {
    const t = this.t;
    for (let n = this.cap - 1; n >= 1; n--) {
      const l = 8 * n;
      const ol = t[l + 1]!, wl = t[l + 2]!, or = t[l + 5]!, wr = t[l + 6]!;
      const c = mulGt(ol, wr, or, wl) ? l + 4 : l;
      const i = 4 * n;
      t[i] = t[c]!; t[i + 1] = t[c + 1]!; t[i + 2] = t[c + 2]!;
    }
  }
  root(): number {
    return this.t[4]!;
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
  /**
   * Smallest slot whose inclusive prefix sum is >= r (r >= 1, r <= total). Branch-free descent:
   * with r <= total the first probe (t[cap] = total) never moves, and afterwards pos is a multiple
   * of 2 * step below cap, so pos + step stays in range.
   */
  lowerBound(r: number): number {
    let pos = 0;
    const t = this.t;
    for (let step = this.cap >> 1; step > 0; step >>= 1) {
      const v = t[pos + step]!;
      const go = +(v < r);
      pos += go * step;
      r -= go * v;
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

/**
 * A scheduler whose choice is "the first slot (list order) with the smallest key": a MinTree
 * over key(dest), with Infinity for ineligible dests. rr, lc, fo and ovf differ only in key().
 */
export abstract class MinKeyScheduler extends SlotScheduler {
  protected tree = new MinTree(1);
  /** The dest's key; Infinity = never chosen. Called on updates only, never per comparison. */
  protected abstract key(d: RtDest): number;
  private keyOf(d: RtDest | null): number {
    return d === null ? Infinity : this.key(d);
  }
  protected rebuildIndex(): void {
    const t = (this.tree = new MinTree(this.slots.cap));
    for (let s = this.slots.lo; s < this.slots.cap; s++) t.setLeaf(s, this.keyOf(this.slots.at[s]!));
    t.build();
  }
  protected load(s: number, d: RtDest | null): void {
    this.tree.set(s, this.keyOf(d));
  }
  /** The first dest of least key, or null. */
  protected best(): RtDest | null {
    const r = this.tree.root();
    return r < 0 ? null : this.slots.at[r]!;
  }
}
