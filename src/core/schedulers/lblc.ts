/**
 * lblc — Locality-Based Least Connection (spec §2.7, ip_vs_lblc.c), and the cache/GC machinery
 * lblcr shares. The cache is the kernel's: 1024 buckets keyed by hash_32(fold(daddr), 10), an
 * entry counter with the kernel's quirk (replacing an entry's dest counts one more entry), a 60 s
 * timer driven by tick(now) (first run 60 s after the scheduler first sees time), a full expiry
 * pass every 30 runs (sysctl lblc_expiration, default 24 h) and the partial clean above 16384
 * entries (entries unused for 6 min, from a rover). The weighted-least new pick uses the wlc index.
 */
import type { Ip } from '../addr.ts';
import { DEST_F, type RtDest, type RtServiceView, type SchedEnv, type SchedPacket, type SchedulerFactory } from '../scheduler.ts';
import { foldAddr, hash32 } from '../hash.ts';
import { SlotScheduler, overhead } from './slots.ts';
import { WeightedLeastIndex } from './wlc.ts';

export const LBLC_TAB_BITS = 10;
export const LBLC_TAB_SIZE = 1 << LBLC_TAB_BITS;
export const LBLC_MAX_SIZE = LBLC_TAB_SIZE * 16;
export const CHECK_EXPIRE_INTERVAL = 60;
export const COUNT_FOR_FULL_EXPIRATION = 30;
export const ENTRY_TIMEOUT = 6 * 60;
export const DEFAULT_EXPIRATION = 24 * 60 * 60;

export interface LocalityOptions {
  /** sysctl lblc_expiration / lblcr_expiration in seconds, read at each use. Default 24 h. */
  readonly expiration?: () => number;
  /** Engine time at which the service was bound (arms the 60 s timer); default: first time seen. */
  readonly startTime?: number;
}

export interface CacheEntry {
  readonly af: number;
  readonly words: readonly number[];
  lastuse: number;
}

function sameAddr(e: CacheEntry, ip: Ip): boolean {
  if (e.af !== ip.af) return false;
  const a = e.words, b = ip.words;
  if (ip.af === 4) return a[0] === b[0];
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3];
}

export abstract class LocalityScheduler<E extends CacheEntry> extends SlotScheduler {
  protected readonly idx = new WeightedLeastIndex(overhead);
  /** Per slot: activeconns * 2 < weight (is_overloaded()'s "some less loaded dest"). */
  private under = new Uint8Array(0);
  /**
   * Per slot s, at 4s: [1 if a dest is there (AVAILABLE) and not OVERLOAD, its overhead (C int),
   * its weight, unused] — one cache line read per member in lblcr's set scans.
   */
  protected slotInfo = new Int32Array(0);
  /** Bumped whenever slots may have been reassigned (rebuild, add, delete): cached slot numbers are stale. */
  protected slotEpoch = 0;
  private underCount = 0;
  readonly buckets: E[][] = Array.from({ length: LBLC_TAB_SIZE }, () => []);
  /** The kernel's atomic entries counter (see the replacement quirk above). */
  entries = 0;
  rover = 0;
  counter = 1;
  private nextCheck: number | undefined;
  protected readonly expiration: () => number;

  constructor(svc: RtServiceView, opts: LocalityOptions) {
    super();
    this.expiration = opts.expiration ?? (() => DEFAULT_EXPIRATION);
    if (opts.startTime !== undefined) this.nextCheck = opts.startTime + CHECK_EXPIRE_INTERVAL;
    this.resync(svc);
  }

  protected rebuildIndex(): void {
    this.idx.rebuild(this.slots);
    const cap = this.slots.cap;
    this.under = new Uint8Array(cap);
    this.slotInfo = new Int32Array(4 * cap);
    this.slotEpoch++;
    this.underCount = 0;
    for (let s = this.slots.lo; s < cap; s++) this.setUnder(s, this.slots.at[s]!);
  }
  protected override listChanged(_svc: RtServiceView): void {
    this.slotEpoch++;
  }
  private setUnder(s: number, d: RtDest | null): void {
    const u = d !== null && Math.imul(d.activeConns, 2) < d.weight ? 1 : 0;
    this.underCount += u - this.under[s]!;
    this.under[s] = u;
    if (d !== null && (d.flags & DEST_F.OVERLOAD) === 0) {
      const info = this.slotInfo;
      info[4 * s] = 1;
      info[4 * s + 1] = overhead(d);
      info[4 * s + 2] = d.weight;
    } else {
      this.slotInfo[4 * s] = 0;
    }
  }
  protected load(s: number, d: RtDest | null): void {
    this.idx.load(s, d);
    this.setUnder(s, d);
  }

  /** The weighted-least pick over the whole list (__ip_vs_lblc(r)_schedule()). */
  protected pickNew(_svc: RtServiceView): RtDest | null {
    return this.idx.pick(this.slots);
  }
  /** is_overloaded(): activeconns > weight and some dest of the list has activeconns*2 < weight. */
  protected isOverloaded(d: RtDest, _svc: RtServiceView): boolean {
    return d.activeConns > d.weight && this.underCount > 0;
  }
  /** The kernel's AVAILABLE flag: the dest is in the service's list. */
  protected available(d: RtDest): boolean {
    return this.slots.has(d);
  }

  protected bucketOf(ip: Ip): number {
    return hash32(foldAddr(ip), LBLC_TAB_BITS);
  }
  protected find(b: number, ip: Ip): E | undefined {
    for (const e of this.buckets[b]!) if (sameAddr(e, ip)) return e;
    return undefined;
  }
  protected unlink(b: number, e: E): void {
    const list = this.buckets[b]!;
    const i = list.indexOf(e);
    if (i >= 0) list.splice(i, 1);
  }
  protected hashIn(b: number, e: E): void {
    this.buckets[b]!.push(e); // order inside a bucket is never observable
    this.entries++;
  }
  private armed(now: number): void {
    if (this.nextCheck === undefined) this.nextCheck = now + CHECK_EXPIRE_INTERVAL;
  }
  protected seen(now: number): void {
    this.armed(now);
  }

  tick(_svc: RtServiceView, now: number): void {
    this.armed(now);
    while (now >= this.nextCheck!) {
      this.checkExpire(this.nextCheck!);
      this.nextCheck! += CHECK_EXPIRE_INTERVAL;
    }
  }

  /** ip_vs_lblc(r)_check_expire(). */
  checkExpire(now: number): void {
    if (this.counter % COUNT_FOR_FULL_EXPIRATION === 0) {
      this.fullCheck(now);
      this.counter = 1;
      return;
    }
    if (this.entries <= LBLC_MAX_SIZE) {
      this.counter++;
      return;
    }
    let goal = Math.trunc(((this.entries - LBLC_MAX_SIZE) * 4) / 3);
    if (goal > LBLC_MAX_SIZE / 2) goal = LBLC_MAX_SIZE / 2;
    let j = this.rover;
    for (let i = 0; i < LBLC_TAB_SIZE; i++) {
      j = (j + 1) & (LBLC_TAB_SIZE - 1);
      const list = this.buckets[j]!;
      for (let k = list.length - 1; k >= 0; k--) {
        if (now < list[k]!.lastuse + ENTRY_TIMEOUT) continue;
        list.splice(k, 1);
        this.entries--;
        goal--;
      }
      if (goal <= 0) break;
    }
    this.rover = j;
  }

  fullCheck(now: number): void {
    const exp = this.expiration();
    for (const list of this.buckets) {
      for (let k = list.length - 1; k >= 0; k--) {
        if (now < list[k]!.lastuse + exp) continue;
        list.splice(k, 1);
        this.entries--;
      }
    }
  }

  /** Number of cached addresses (what is really in the table). */
  get size(): number {
    let n = 0;
    for (const l of this.buckets) n += l.length;
    return n;
  }

  done(): void {
    for (const l of this.buckets) { this.entries -= l.length; l.length = 0; }
  }
}

export interface LblcEntry extends CacheEntry {
  dest: RtDest;
}

export class LblcScheduler extends LocalityScheduler<LblcEntry> {
  readonly name = 'lblc';
  constructor(svc: RtServiceView, opts: LocalityOptions = {}) {
    super(svc, opts);
  }
  schedule(svc: RtServiceView, pkt: SchedPacket, env: SchedEnv): RtDest | null {
    this.ensure(svc);
    const now = env.now;
    this.seen(now);
    const b = this.bucketOf(pkt.daddr);
    const en = this.find(b, pkt.daddr);
    if (en !== undefined) {
      en.lastuse = now;
      const d = en.dest;
      if (this.available(d) && d.weight > 0 && !this.isOverloaded(d, svc)) return d;
    }
    const dest = this.pickNew(svc);
    if (dest === null) return null;
    // ip_vs_lblc_new(): a different dest replaces the entry: the kernel unlinks the old entry
    // without decrementing the counter and hashes a new one (entries + 1). Order inside a bucket
    // never matters (addresses are unique; expiry passes take whole buckets), so the entry is
    // reused in place.
    if (en !== undefined) {
      if (en.dest !== dest) { en.dest = dest; this.entries++; }
      return dest;
    }
    this.hashIn(b, { af: pkt.daddr.af, words: pkt.daddr.words.slice(), lastuse: now, dest });
    return dest;
  }
  /** The cached dest for an address (tests, listings). */
  cached(ip: Ip): RtDest | undefined {
    return this.find(this.bucketOf(ip), ip)?.dest;
  }
}

export function makeLblcFactory(opts: LocalityOptions = {}): SchedulerFactory {
  return (svc) => new LblcScheduler(svc, opts);
}
export const lblcFactory: SchedulerFactory = makeLblcFactory();
