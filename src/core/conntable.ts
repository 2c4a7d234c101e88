/**
 * The connection table in compact memory (structure of arrays, one slot per entry).
 *
 * Layout per slot (bytes): caddr0 4, vaddr 4 (index into an address pool), cport/vport/dport 6,
 * proto 1, state 1, flags 2, dest 4, control 4, nControl 4, timeout 4, expires 8, wnext/wprev 8,
 * gen 2, inPkts 1, and a 16-byte hot lookup record (client address word, ports, protocol/flags,
 * chain link: one cache line per chain step) = 73 bytes, plus 4 bytes per hash bucket (buckets = capacity rounded up
 * to a power of two) and 12 more bytes per slot for the upper IPv6 client-address words, which
 * are only allocated once the first IPv6 entry appears.
 *
 * - Hash: one chained table keyed by (protocol, client address, client port), like the kernel's
 *   ip_vs_conn_tab; client->director lookups compare (vaddr, vport), reply lookups compare the
 *   real server address and port. Chains are index-linked through the record's 4th word; -1 ends a chain.
 * - Free slots are linked through the same word.
 * - Expiry: a hashed timer wheel of 65,536 slots of 1/64 s (horizon 1,024 s); entries with a
 *   later expiry stay in their slot and are skipped until their round comes. Each entry is in
 *   the wheel at most once (doubly linked: O(1) re-arm on every packet).
 * - Capacity grows by doubling up to `max`; when `max` entries exist, alloc() answers -1.
 * - Capacity shrinks (shrinkIfSparse, the engine asks once a second) when at most an eighth of
 *   it is in use: the live entries above the new capacity move into free slots below it, so a
 *   flood's memory goes back once its entries have expired. A moved entry keeps its handle (a
 *   small map from its old handle, dropped when the entry is freed): forwarders holding it see
 *   no difference.
 */
import type { Ip } from './addr.ts';

export const CF = {
  USED: 0x1,
  TEMPLATE: 0x2,
  INACTIVE: 0x4,
  NOOUTPUT: 0x8,
  AF6: 0x10,
  INWHEEL: 0x20,
  /** Template state ASSURED (templates only). */
  ASSURED: 0x40,
  /** Expired "now" (expire_now: timeout 0) - lets the template drop rule of ip_vs_conn_expire apply. */
  EXPIRE_NOW: 0x80,
  // bits 8-9: forwarding method code
  /** One-packet-scheduling entry: never hashed, freed right after its packet. */
  ONEPACKET: 0x400,
} as const;

export const WHEEL_BITS = 16;
export const WHEEL_SIZE = 1 << WHEEL_BITS;
export const TICKS_PER_SECOND = 64;

/** Interned addresses (VIPs, fwmark template addresses): small, refcounted. */
export class AddrPool {
  readonly ips: (Ip | undefined)[] = [];
  private refs: number[] = [];
  private byKey = new Map<string | number, number>();
  private freeIdx: number[] = [];

  private static key(ip: Ip): string | number {
    return ip.af === 4 ? ip.words[0]! : ip.words.join(',');
  }

  acquire(ip: Ip): number {
    const k = AddrPool.key(ip);
    let i = this.byKey.get(k);
    if (i === undefined) {
      i = this.freeIdx.pop() ?? this.ips.length;
      this.ips[i] = { af: ip.af, words: ip.words.slice() };
      this.refs[i] = 0;
      this.byKey.set(k, i);
    }
    this.refs[i]!++;
    return i;
  }

  release(i: number): void {
    if (--this.refs[i]! === 0) {
      this.byKey.delete(AddrPool.key(this.ips[i]!));
      this.ips[i] = undefined;
      this.freeIdx.push(i);
    }
  }

  get size(): number {
    return this.byKey.size;
  }
}

function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export class ConnTable {
  cap: number;
  readonly max: number;
  private readonly initialCap: number;
  count = 0;
  private hwm = 0;
  private freeHead = -1;
  private seed: number;

  caddr0!: Uint32Array;
  caddrX: Uint32Array | null = null;
  vaddr!: Uint32Array;
  cport!: Uint16Array;
  vport!: Uint16Array;
  dport!: Uint16Array;
  proto!: Uint8Array;
  state!: Uint8Array;
  /** Packets from the client, saturating at 255 (the kernel's in_pkts, for drop_entry). */
  inPkts!: Uint8Array;
  flags!: Uint16Array;
  dest!: Uint32Array;
  control!: Int32Array;
  nControl!: Uint32Array;
  timeout!: Uint32Array;
  expires!: Float64Array;
  /** Hot lookup record, 4 words per slot: [caddr0, cport<<16|vport, proto|TEMPLATE<<8|AF6<<9|vaddr<<10, next]. */
  rec!: Uint32Array;
  wnext!: Int32Array;
  wprev!: Int32Array;
  gen!: Uint16Array;
  buckets!: Int32Array;
  private mask = 0;

  readonly wheel = new Int32Array(WHEEL_SIZE).fill(-1);
  /** Absolute tick already fully processed (all entries due at or before its end handled). */
  wheelTick = -1;
  inWheel = 0;

  readonly pool = new AddrPool();

  constructor(max: number, initial = 1024, seed = 0) {
    this.max = Math.max(1, Math.floor(max));
    this.cap = Math.min(this.max, Math.max(16, initial));
    this.initialCap = this.cap;
    this.seed = seed >>> 0;
    this.allocArrays(this.cap, null);
  }

  private allocArrays(cap: number, old: ConnTable | null): void {
    const mk = <T extends Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array>(
      C: new (n: number) => T, prev: T | undefined,
    ): T => {
      const a = new C(cap);
      if (prev) a.set((prev.length > cap ? prev.subarray(0, cap) : prev) as never);
      return a;
    };
    this.caddr0 = mk(Uint32Array, old ? this.caddr0 : undefined);
    if (this.caddrX) {
      const x = new Uint32Array(cap * 3);
      x.set(this.caddrX.length > cap * 3 ? this.caddrX.subarray(0, cap * 3) : this.caddrX);
      this.caddrX = x;
    }
    this.vaddr = mk(Uint32Array, old ? this.vaddr : undefined);
    this.cport = mk(Uint16Array, old ? this.cport : undefined);
    this.vport = mk(Uint16Array, old ? this.vport : undefined);
    this.dport = mk(Uint16Array, old ? this.dport : undefined);
    this.proto = mk(Uint8Array, old ? this.proto : undefined);
    this.state = mk(Uint8Array, old ? this.state : undefined);
    this.inPkts = mk(Uint8Array, old ? this.inPkts : undefined);
    this.flags = mk(Uint16Array, old ? this.flags : undefined);
    this.dest = mk(Uint32Array, old ? this.dest : undefined);
    this.control = mk(Int32Array, old ? this.control : undefined);
    this.nControl = mk(Uint32Array, old ? this.nControl : undefined);
    this.timeout = mk(Uint32Array, old ? this.timeout : undefined);
    this.expires = mk(Float64Array, old ? this.expires : undefined);
    {
      const r = new Uint32Array(cap * 4);
      if (old) r.set(this.rec.length > cap * 4 ? this.rec.subarray(0, cap * 4) : this.rec);
      this.rec = r;
    }
    this.wnext = mk(Int32Array, old ? this.wnext : undefined);
    this.wprev = mk(Int32Array, old ? this.wprev : undefined);
    {
      // Slots beyond a capacity given back start their generations elsewhere than where they
      // left off, so a handle kept from before the shrink is unlikely to name a new entry.
      const g = new Uint16Array(cap);
      if (old) {
        g.set(this.gen.length > cap ? this.gen.subarray(0, cap) : this.gen);
        if (cap > this.gen.length && this.genEpoch) g.fill(this.genEpoch, this.gen.length);
      }
      this.gen = g;
    }
    const nb = pow2AtLeast(cap);
    if (!this.buckets || this.buckets.length !== nb) {
      this.buckets = new Int32Array(nb).fill(-1);
      this.mask = nb - 1;
      if (old) this.rehashAll();
    }
  }

  /** Generation given to slots regrown after a shrink (changes with every shrink). */
  private genEpoch = 0;
  /** Entries moved by a shrink: their handle -> their slot, and back. Null while none. */
  private moved: Map<number, number> | null = null;
  private movedFrom: Map<number, number> | null = null;

  /**
   * Gives memory back when at most an eighth of the capacity is in use (never below the initial
   * capacity): the new capacity holds the live entries four times over. O(capacity), rare (the
   * next shrink needs the table to empty by half again). Returns true when it shrank.
   */
  shrinkIfSparse(): boolean {
    if (this.cap <= this.initialCap || this.count * 8 > this.cap) return false;
    let ncap = this.initialCap;
    while (ncap < this.count * 4) ncap *= 2;
    if (ncap >= this.cap) return false;
    const free: number[] = [];
    for (let i = ncap - 1; i >= 0; i--) if (!(this.flags[i]! & CF.USED)) free.push(i);
    let remap: Map<number, number> | null = null;
    for (let s = ncap; s < this.hwm; s++) {
      if (!(this.flags[s]! & CF.USED)) continue;
      const d = free.pop()!;
      this.move(s, d);
      (remap ??= new Map()).set(s, d);
    }
    if (remap) {
      // Connections name their template by slot.
      for (let i = 0; i < ncap; i++) {
        const c = this.control[i]!;
        if (c >= 0 && this.flags[i]! & CF.USED) {
          const m = remap.get(c);
          if (m !== undefined) this.control[i] = m;
        }
      }
    }
    this.genEpoch = (this.genEpoch + 4099) & 0xffff || 1;
    let hwm = ncap;
    while (hwm > 0 && !(this.flags[hwm - 1]! & CF.USED)) hwm--;
    this.hwm = hwm;
    this.cap = ncap;
    this.allocArrays(ncap, this);
    // The free list again, lowest slots first; rehashing relinks every live entry.
    this.freeHead = -1;
    for (let i = hwm - 1; i >= 0; i--) {
      if (!(this.flags[i]! & CF.USED)) {
        this.rec[i * 4 + 3] = this.freeHead >>> 0;
        this.freeHead = i;
      }
    }
    this.rehashAll();
    return true;
  }

  /** Moves the live entry of slot s into the free slot d (shrink): same handle, same timer. */
  private move(s: number, d: number): void {
    const h = this.handleOf(s);
    const inWheel = (this.flags[s]! & CF.INWHEEL) !== 0;
    if (inWheel) this.disarm(s);
    this.caddr0[d] = this.caddr0[s]!;
    if (this.caddrX) this.caddrX.copyWithin(d * 3, s * 3, s * 3 + 3);
    this.vaddr[d] = this.vaddr[s]!;
    this.cport[d] = this.cport[s]!;
    this.vport[d] = this.vport[s]!;
    this.dport[d] = this.dport[s]!;
    this.proto[d] = this.proto[s]!;
    this.state[d] = this.state[s]!;
    this.inPkts[d] = this.inPkts[s]!;
    this.flags[d] = this.flags[s]!;
    this.dest[d] = this.dest[s]!;
    this.control[d] = this.control[s]!;
    this.nControl[d] = this.nControl[s]!;
    this.timeout[d] = this.timeout[s]!;
    this.expires[d] = this.expires[s]!;
    this.rec.copyWithin(d * 4, s * 4, s * 4 + 3);
    this.gen[d] = (this.gen[d]! + 1) & 0xffff;
    this.flags[s] = 0;
    if (inWheel) this.arm(d, this.expires[d]!);
    this.movedFrom?.delete(s);
    (this.moved ??= new Map()).set(h, d);
    (this.movedFrom ??= new Map()).set(d, h);
  }

  private rehashAll(): void {
    this.buckets.fill(-1);
    for (let i = 0; i < this.hwm; i++) {
      if (this.flags[i]! & CF.USED) {
        const b = this.bucketOf(i);
        this.rec[i * 4 + 3] = this.buckets[b]! >>> 0;
        this.buckets[b] = i;
      }
    }
  }

  /** Bytes held by the typed arrays (table + wheel), for the benchmark and docs. */
  bytes(): number {
    let n = 0;
    for (const a of [this.caddr0, this.caddrX, this.vaddr, this.cport, this.vport, this.dport, this.proto, this.state, this.inPkts,
      this.flags, this.dest, this.control, this.nControl, this.timeout, this.expires, this.rec, this.wnext,
      this.wprev, this.gen, this.buckets, this.wheel]) if (a) n += a.byteLength;
    return n;
  }

  ensureV6(): void {
    if (!this.caddrX) this.caddrX = new Uint32Array(this.cap * 3);
  }

  /** A free slot, or -1 when `max` entries exist. */
  alloc(): number {
    let s: number;
    if (this.freeHead >= 0) {
      s = this.freeHead;
      this.freeHead = this.rec[s * 4 + 3]! | 0;
    } else {
      if (this.hwm >= this.cap) {
        if (this.cap >= this.max) return -1;
        const ncap = Math.min(this.max, this.cap * 2);
        this.cap = ncap;
        this.allocArrays(ncap, this);
      }
      s = this.hwm++;
    }
    this.flags[s] = CF.USED;
    this.gen[s] = (this.gen[s]! + 1) & 0xffff;
    // Not the handle of an entry a shrink moved (it still answers to its old one).
    while (this.moved !== null && this.moved.has(this.gen[s]! * 0x1000000 + s)) this.gen[s] = (this.gen[s]! + 1) & 0xffff;
    this.control[s] = -1;
    this.nControl[s] = 0;
    this.inPkts[s] = 0;
    this.rec[s * 4 + 3] = 0xffffffff;
    this.count++;
    return s;
  }

  release(s: number): void {
    if (this.flags[s]! & CF.INWHEEL) this.disarm(s);
    this.flags[s] = 0;
    if (this.movedFrom !== null) this.forgetMoved(s);
    this.rec[s * 4 + 3] = this.freeHead >>> 0;
    this.freeHead = s;
    this.count--;
  }

  private forgetMoved(s: number): void {
    const h = this.movedFrom!.get(s);
    if (h === undefined) return;
    this.movedFrom!.delete(s);
    this.moved!.delete(h);
    if (this.movedFrom!.size === 0) this.moved = this.movedFrom = null;
  }

  handleOf(s: number): number {
    if (this.movedFrom !== null) {
      const h = this.movedFrom.get(s);
      if (h !== undefined) return h;
    }
    return this.gen[s]! * 0x1000000 + s;
  }

  /** Slot of a handle if it still names the same live entry, else -1. */
  slotOf(handle: number): number {
    if (!(handle >= 0)) return -1;
    if (this.moved !== null) {
      const m = this.moved.get(handle);
      if (m !== undefined) return m;
    }
    const s = handle % 0x1000000;
    if (s >= this.hwm || !(this.flags[s]! & CF.USED)) return -1;
    if (this.movedFrom !== null && this.movedFrom.has(s)) return -1;
    return Math.floor(handle / 0x1000000) === this.gen[s] ? s : -1;
  }

  private hash(proto: number, c0: number, cfold: number, cport: number): number {
    let h = (c0 ^ cfold ^ this.seed) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h ^= (cport << 8) | proto;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h ^= h >>> 16;
    return h & this.mask;
  }

  private bucketOf(s: number): number {
    let fold = 0;
    if (this.flags[s]! & CF.AF6) {
      const x = this.caddrX!;
      fold = x[s * 3]! ^ x[s * 3 + 1]! ^ x[s * 3 + 2]!;
    }
    return this.hash(this.proto[s]!, this.caddr0[s]!, fold, this.cport[s]!);
  }

  setClient(s: number, ip: Ip): void {
    this.caddr0[s] = ip.words[0]!;
    if (ip.af === 6) {
      this.ensureV6();
      const x = this.caddrX!;
      x[s * 3] = ip.words[1]!;
      x[s * 3 + 1] = ip.words[2]!;
      x[s * 3 + 2] = ip.words[3]!;
      this.flags[s]! |= CF.AF6;
    }
  }

  clientIp(s: number): Ip {
    if (this.flags[s]! & CF.AF6) {
      const x = this.caddrX!;
      return { af: 6, words: [this.caddr0[s]!, x[s * 3]!, x[s * 3 + 1]!, x[s * 3 + 2]!] };
    }
    return { af: 4, words: [this.caddr0[s]!] };
  }

  /** Hashes slot s in (after its key fields are set); writes its hot lookup record. */
  link(s: number): void {
    const b = this.bucketOf(s);
    const r = this.rec, o = s * 4, f = this.flags[s]!;
    r[o] = this.caddr0[s]!;
    r[o + 1] = ((this.cport[s]! << 16) | this.vport[s]!) >>> 0;
    r[o + 2] = (this.proto[s]! | ((f & CF.TEMPLATE) << 7) | ((f & CF.AF6) << 5) | (this.vaddr[s]! << 10)) >>> 0;
    r[o + 3] = this.buckets[b]! >>> 0;
    this.buckets[b] = s;
  }

  unlink(s: number): void {
    const b = this.bucketOf(s);
    const r = this.rec;
    let p = this.buckets[b]!;
    if (p === s) {
      this.buckets[b] = r[s * 4 + 3]! | 0;
      return;
    }
    while (p >= 0) {
      const n = r[p * 4 + 3]! | 0;
      if (n === s) {
        r[p * 4 + 3] = r[s * 4 + 3]!;
        return;
      }
      p = n;
    }
  }

  private clientEq(s: number, ip: Ip): boolean {
    if (this.caddr0[s] !== ip.words[0]) return false;
    const six = (this.flags[s]! & CF.AF6) !== 0;
    if (ip.af === 4) return !six;
    if (!six) return false;
    const x = this.caddrX!;
    const w = ip.words;
    return x[s * 3] === w[1] && x[s * 3 + 1] === w[2] && x[s * 3 + 2] === w[3];
  }

  /** Client->director lookup (ip_vs_conn_in_get / ip_vs_ct_in_get when template). */
  lookupIn(proto: number, caddr: Ip, cport: number, vaddr: Ip, vport: number, template: boolean): number {
    const w = caddr.words;
    const c0 = w[0]! >>> 0;
    const six = caddr.af === 6;
    const fold = six ? (w[1]! ^ w[2]! ^ w[3]!) : 0;
    const k1 = ((cport << 16) | vport) >>> 0;
    const k2 = proto | (template ? 0x100 : 0) | (six ? 0x200 : 0);
    const ips = this.pool.ips;
    const r = this.rec;
    for (let s = this.buckets[this.hash(proto, c0, fold, cport)]!; s >= 0; s = r[s * 4 + 3]! | 0) {
      const o = s * 4;
      const k = r[o + 2]!;
      if (r[o] !== c0 || r[o + 1] !== k1 || (k & 0x3ff) !== k2) continue;
      if (six) {
        const x = this.caddrX!;
        if (x[s * 3] !== w[1] || x[s * 3 + 1] !== w[2] || x[s * 3 + 2] !== w[3]) continue;
      }
      const v = ips[k >>> 10]!;
      if (v.af !== vaddr.af || v.words[0] !== vaddr.words[0]) continue;
      if (v.af === 6 && (v.words[1] !== vaddr.words[1] || v.words[2] !== vaddr.words[2] || v.words[3] !== vaddr.words[3])) continue;
      return s;
    }
    return -1;
  }

  /**
   * Reply lookup (ip_vs_conn_out_get): packet (saddr=real server, sport=dport, daddr=client,
   * dport=cport). destIps maps a dest id to its address.
   */
  lookupOut(proto: number, client: Ip, cport: number, server: Ip, sport: number, destIps: readonly (Ip | undefined)[]): number {
    const w = client.words;
    const fold = client.af === 6 ? (w[1]! ^ w[2]! ^ w[3]!) : 0;
    const r = this.rec;
    for (let s = this.buckets[this.hash(proto, w[0]!, fold, cport)]!; s >= 0; s = r[s * 4 + 3]! | 0) {
      if (r[s * 4] !== w[0]! >>> 0 || r[s * 4 + 1]! >>> 16 !== cport) continue;
      if (this.dport[s] !== sport || this.proto[s] !== proto) continue;
      if (this.flags[s]! & CF.TEMPLATE) continue;
      if (!this.clientEq(s, client)) continue;
      const d = destIps[this.dest[s]!];
      if (!d || d.af !== server.af || d.words[0] !== server.words[0]) continue;
      if (d.af === 6 && (d.words[1] !== server.words[1] || d.words[2] !== server.words[2] || d.words[3] !== server.words[3])) continue;
      return s;
    }
    return -1;
  }

  // ---- timer wheel --------------------------------------------------------------------------

  static tickOf(t: number): number {
    return Math.floor(t * TICKS_PER_SECOND);
  }

  /** (Re)arms the expiry timer of slot s at absolute time `at` (seconds). */
  arm(s: number, at: number): void {
    const f = this.flags[s]!;
    const ws = ConnTable.tickOf(at) & (WHEEL_SIZE - 1);
    if (f & CF.INWHEEL) {
      const old = ConnTable.tickOf(this.expires[s]!) & (WHEEL_SIZE - 1);
      this.expires[s] = at;
      if (old === ws) return;
      this.unwheel(s, old);
    } else {
      this.expires[s] = at;
      this.flags[s] = f | CF.INWHEEL;
      this.inWheel++;
    }
    const h = this.wheel[ws]!;
    this.wnext[s] = h;
    this.wprev[s] = -1;
    if (h >= 0) this.wprev[h] = s;
    this.wheel[ws] = s;
  }

  private unwheel(s: number, ws: number): void {
    const p = this.wprev[s]!, n = this.wnext[s]!;
    if (p >= 0) this.wnext[p] = n;
    else this.wheel[ws] = n;
    if (n >= 0) this.wprev[n] = p;
  }

  disarm(s: number): void {
    if (!(this.flags[s]! & CF.INWHEEL)) return;
    this.unwheel(s, ConnTable.tickOf(this.expires[s]!) & (WHEEL_SIZE - 1));
    this.flags[s]! &= ~CF.INWHEEL;
    this.inWheel--;
  }

  /**
   * Collects the entries due in wheel slot `tick` with expires <= now into `out` (disarmed).
   * Entries of later rounds stay.
   */
  collectDue(tick: number, now: number, out: number[]): void {
    const ws = tick & (WHEEL_SIZE - 1);
    let s = this.wheel[ws]!;
    while (s >= 0) {
      const n = this.wnext[s]!;
      if (this.expires[s]! <= now) {
        this.unwheel(s, ws);
        this.flags[s]! &= ~CF.INWHEEL;
        this.inWheel--;
        out.push(s);
      }
      s = n;
    }
  }

  /**
   * Calls fn for up to `max` live slots from slot `start` (slot order); returns where to go on,
   * or -1 when the end was reached.
   */
  forEachFrom(start: number, max: number, fn: (s: number) => void): number {
    let n = 0;
    for (let i = start; i < this.hwm; i++) {
      if (!(this.flags[i]! & CF.USED)) continue;
      if (n === max) return i;
      fn(i);
      n++;
    }
    return -1;
  }

  /** Calls fn for every live slot (slot order). */
  forEach(fn: (s: number) => void): void {
    for (let i = 0; i < this.hwm; i++) if (this.flags[i]! & CF.USED) fn(i);
  }
}
