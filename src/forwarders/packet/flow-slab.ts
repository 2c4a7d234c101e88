/**
 * The storage behind the kernel fast path's table (fastpath.ts): one slot per installed flow in
 * typed arrays (structure of arrays), hashed by the client's address and port, a free list, and
 * compaction when the table has emptied (after a flood), so that its memory goes back.
 *
 * Why not a Map of objects: a SYN flood installs one flow per SYN (SYN_RECV, "report the
 * first ACK"); as objects with their two key buffers they cost about 1.1 KB of resident memory
 * each (measured: 65,536 flows, +72 MB RSS), and V8 kept most of it after they were gone. A slot
 * here is 79 bytes (see SLOT_BYTES) plus 4 per hash bucket, and the arrays are reallocated smaller
 * once three quarters of the slots are free.
 *
 * Next hops are interned (refcounted): a slot keeps an index, and the same NextHop object comes
 * back (fastpath.ts compares hops by identity).
 */
import type { NextHop } from '../../os/neigh.ts';

/** Slot flags. */
/** (FIN_IN, FIN_OUT: the engine has decided the client's, the real server's FIN of a NAT connection whose close the kernel carries.) */
/**
 * MISSING: a sweep found the flow gone from the kernel once; the next visit that finds it gone
 * too counts it evicted (fastpath.ts sweepOne: the kernel may have ended it just after the events
 * were read, and its END report, with its last counters, is then still to come).
 */
export const SF = { USED: 1, NEED_ACK: 2, NAT: 4, OUT: 8, FIN_IN: 16, FIN_OUT: 32, MISSING: 64 } as const;

/**
 * Bytes per slot: saddr, daddr, rip, vip 16; sport, dport, rport, vport 8; proto, flags, tun 3;
 * hop 4; conn, pkts, bytes, outPkts, outBytes 40; chain link 4 = 75; buckets 4 more.
 * (A tunnel's outer source is its hop's `src`: NextHop is immutable and interned, so the slot's
 * hop index keeps it.)
 */
export const SLOT_BYTES = 79;

const MIN_CAP = 256;

export class FlowSlab {
  cap = 0;
  /** Slots in use (hashed flows and closing ones). */
  used = 0;
  private hwm = 0;
  private freeHead = -1;
  private mask = 0;

  saddr!: Uint32Array;
  daddr!: Uint32Array;
  rip!: Uint32Array;
  vip!: Uint32Array;
  sport!: Uint16Array;
  dport!: Uint16Array;
  rport!: Uint16Array;
  vport!: Uint16Array;
  proto!: Uint8Array;
  flags!: Uint8Array;
  /** A tunnel's kind (FLOW_NAT.TUN_*), 0 for DR and NAT. */
  tun!: Uint8Array;
  hop!: Int32Array;
  conn!: Float64Array;
  pkts!: Float64Array;
  bytes!: Float64Array;
  outPkts!: Float64Array;
  outBytes!: Float64Array;
  /** Hash chain link; also the free list's. */
  next!: Int32Array;
  buckets!: Int32Array;

  private readonly hops: (NextHop | undefined)[] = [];
  private readonly hopRefs: number[] = [];
  private readonly hopIdx = new Map<NextHop, number>();
  private readonly hopFree: number[] = [];

  constructor() {
    this.resize(MIN_CAP, null);
  }

  /** High-water mark: every used slot is below it (iteration bound). */
  get limit(): number {
    return this.hwm;
  }

  /** Bytes held by the arrays (docs, tests). */
  bytesHeld(): number {
    return this.cap * (SLOT_BYTES - 4) + this.buckets.byteLength;
  }

  /**
   * New arrays of `cap` slots. `remap` (compaction) receives old slot -> new slot for the
   * caller's own references; without it the slots keep their numbers (growth).
   */
  private resize(cap: number, remap: ((from: number, to: number) => void) | null): void {
    const old = this.cap > 0 ? this : null;
    const fields = ['saddr', 'daddr', 'rip', 'vip', 'sport', 'dport', 'rport', 'vport', 'proto', 'flags', 'tun', 'hop', 'conn', 'pkts', 'bytes', 'outPkts', 'outBytes'] as const;
    const prev = old ? fields.map((f) => this[f]) : null;
    const oldHwm = this.hwm;
    this.saddr = new Uint32Array(cap);
    this.daddr = new Uint32Array(cap);
    this.rip = new Uint32Array(cap);
    this.vip = new Uint32Array(cap);
    this.sport = new Uint16Array(cap);
    this.dport = new Uint16Array(cap);
    this.rport = new Uint16Array(cap);
    this.vport = new Uint16Array(cap);
    this.proto = new Uint8Array(cap);
    this.flags = new Uint8Array(cap);
    this.tun = new Uint8Array(cap);
    this.hop = new Int32Array(cap);
    this.conn = new Float64Array(cap);
    this.pkts = new Float64Array(cap);
    this.bytes = new Float64Array(cap);
    this.outPkts = new Float64Array(cap);
    this.outBytes = new Float64Array(cap);
    const oldNext = this.next;
    this.next = new Int32Array(cap);
    let nb = MIN_CAP;
    while (nb < cap) nb *= 2;
    this.buckets = new Int32Array(nb).fill(-1);
    this.mask = nb - 1;
    this.cap = cap;
    if (!prev) return;
    if (!remap) {
      // Growth: same slot numbers, free list kept (it lives in `next`).
      fields.forEach((f, i) => (this[f] as { set(a: ArrayLike<number>): void }).set(prev[i]! as ArrayLike<number>));
      this.next.set(oldNext);
    } else {
      // Compaction: live slots packed at the bottom, in order.
      let to = 0;
      const flagsOld = prev[fields.indexOf('flags')]! as Uint8Array;
      for (let s = 0; s < oldHwm; s++) {
        if (!(flagsOld[s]! & SF.USED)) continue;
        fields.forEach((f, i) => ((this[f] as unknown as number[])[to] = (prev[i] as unknown as number[])[s]!));
        remap(s, to);
        to++;
      }
      this.hwm = to;
      this.freeHead = -1;
    }
    for (let s = 0; s < this.hwm; s++) {
      if (this.flags[s]! & SF.USED) this.link(s);
    }
  }

  private hashOf(saddr: number, sport: number): number {
    let h = Math.imul(saddr ^ (sport << 16) ^ sport, 0x9e3779b1);
    h ^= h >>> 15;
    return h & this.mask;
  }

  private link(s: number): void {
    const b = this.hashOf(this.saddr[s]!, this.sport[s]!);
    this.next[s] = this.buckets[b]!;
    this.buckets[b] = s;
  }

  /** Takes slot s out of its hash chain (it stays allocated: closing). */
  unlink(s: number): void {
    const b = this.hashOf(this.saddr[s]!, this.sport[s]!);
    let p = this.buckets[b]!;
    if (p === s) {
      this.buckets[b] = this.next[s]!;
      return;
    }
    while (p >= 0) {
      const n = this.next[p]!;
      if (n === s) {
        this.next[p] = this.next[s]!;
        return;
      }
      p = n;
    }
  }

  /** The hashed flow of this client address and port, or -1. */
  find(saddr: number, sport: number): number {
    for (let s = this.buckets[this.hashOf(saddr, sport)]!; s >= 0; s = this.next[s]!) {
      if (this.saddr[s] === saddr && this.sport[s] === sport) return s;
    }
    return -1;
  }

  /** A new hashed slot for this tuple (counters zero, no reply entry). */
  add(saddr: number, daddr: number, sport: number, dport: number, proto: number, conn: number, hop: NextHop): number {
    let s: number;
    if (this.freeHead >= 0) {
      s = this.freeHead;
      this.freeHead = this.next[s]!;
    } else {
      if (this.hwm >= this.cap) this.resize(this.cap * 2, null);
      s = this.hwm++;
    }
    this.saddr[s] = saddr;
    this.daddr[s] = daddr;
    this.sport[s] = sport;
    this.dport[s] = dport;
    this.proto[s] = proto;
    this.flags[s] = SF.USED;
    this.tun[s] = 0;
    this.conn[s] = conn;
    this.pkts[s] = this.bytes[s] = this.outPkts[s] = this.outBytes[s] = 0;
    this.rip[s] = this.vip[s] = this.rport[s] = this.vport[s] = 0;
    this.hop[s] = this.internHop(hop);
    this.used++;
    this.link(s);
    return s;
  }

  /** Frees slot s (already unlinked when `unlinked`). */
  free(s: number, unlinked: boolean): void {
    if (!unlinked) this.unlink(s);
    this.releaseHop(this.hop[s]!);
    this.flags[s] = 0;
    this.next[s] = this.freeHead;
    this.freeHead = s;
    this.used--;
  }

  hopOf(s: number): NextHop {
    return this.hops[this.hop[s]!]!;
  }

  setHop(s: number, hop: NextHop): void {
    if (this.hops[this.hop[s]!] === hop) return;
    const i = this.internHop(hop);
    this.releaseHop(this.hop[s]!);
    this.hop[s] = i;
  }

  private internHop(hop: NextHop): number {
    let i = this.hopIdx.get(hop);
    if (i === undefined) {
      i = this.hopFree.pop() ?? this.hops.length;
      this.hops[i] = hop;
      this.hopRefs[i] = 0;
      this.hopIdx.set(hop, i);
    }
    this.hopRefs[i]!++;
    return i;
  }

  private releaseHop(i: number): void {
    if (--this.hopRefs[i]! > 0) return;
    this.hopIdx.delete(this.hops[i]!);
    this.hops[i] = undefined;
    this.hopFree.push(i);
  }

  /**
   * Reallocates smaller when at most a quarter of the slots are used (never below 256 slots):
   * what a flood grew is given back once its flows are gone. Returns true when slots moved
   * (`remap` told each move).
   */
  shrinkIfSparse(remap: (from: number, to: number) => void): boolean {
    if (this.cap <= MIN_CAP || this.used * 4 > this.cap) return false;
    let cap = MIN_CAP;
    while (cap < this.used * 2) cap *= 2;
    if (cap >= this.cap) return false;
    this.resize(cap, remap);
    return true;
  }
}
