/**
 * lblcr — LBLC with Replication (spec §2.8, ip_vs_lblcr.c): each cached address maps to a set of
 * dests (newest first) with its lastmod; the set's weighted-least member is used unless
 * lblc-overloaded; a set older than lblcr_expiration sheds its weighted-most member.
 *
 * Like the kernel, a decision scans the cached set (ip_vs_dest_set_min()); the scan reads each
 * member's slot in per-slot typed arrays the hooks keep current (no object walks), with the
 * members' slots cached per entry and refreshed only after the dest list changed.
 */
import type { Ip } from '../addr.ts';
import type { RtDest, RtServiceView, SchedEnv, SchedPacket, SchedulerFactory } from '../scheduler.ts';
import { mulGt, overhead } from './slots.ts';
import { LocalityScheduler, type CacheEntry, type LocalityOptions } from './lblc.ts';

export interface LblcrEntry extends CacheEntry {
  /** The set, oldest first (the kernel's list read backwards: inserts are appends). */
  readonly dests: RtDest[];
  /** dests[i]'s slot as of `epoch` (-1: not in the service's list, i.e. not AVAILABLE). */
  slots: number[];
  epoch: number;
  lastmod: number;
}

export class LblcrScheduler extends LocalityScheduler<LblcrEntry> {
  readonly name = 'lblcr';
  constructor(svc: RtServiceView, opts: LocalityOptions = {}) {
    super(svc, opts);
  }

  private slotsOf(en: LblcrEntry): number[] {
    if (en.epoch !== this.slotEpoch) {
      const sl = en.slots;
      for (let i = 0; i < en.dests.length; i++) {
        const d = en.dests[i]!;
        sl[i] = this.slots.has(d) ? this.slots.slotOf(d) : -1;
      }
      en.epoch = this.slotEpoch;
    }
    return en.slots;
  }

  /**
   * ip_vs_dest_set_min(): newest first, the first member that is not OVERLOAD, has weight > 0
   * and is AVAILABLE; then later non-OVERLOAD AVAILABLE members replace it iff
   * loh * w(d) > doh * w(least) (__s64). Members not in the list are never picked.
   */
  protected setMin(en: LblcrEntry): RtDest | null {
    const sl = this.slotsOf(en);
    const info = this.slotInfo;
    let i = sl.length - 1;
    let ls = -1;
    for (; i >= 0; i--) {
      const s = sl[i]!;
      if (s >= 0 && info[4 * s] === 1 && info[4 * s + 2]! > 0) { ls = s; break; }
    }
    if (ls < 0) return null;
    let li = i, loh = info[4 * ls + 1]!, lw = info[4 * ls + 2]!;
    for (i--; i >= 0; i--) {
      const s = sl[i]!;
      if (s < 0 || info[4 * s] !== 1) continue;
      const doh = info[4 * s + 1]!, dw = info[4 * s + 2]!;
      const x = loh * dw, y = doh * lw;
      if (x > y || (x === y && (x > 9007199254740991 || x < -9007199254740991) && mulGt(loh, dw, doh, lw))) {
        li = i; loh = doh; lw = dw;
      }
    }
    return en.dests[li]!;
  }

  /** ip_vs_dest_set_max(): newest first; the weighted-most member with weight > 0 (any state). */
  private setMaxIndex(set: readonly RtDest[]): number {
    let i = set.length - 1;
    for (; i >= 0; i--) if (set[i]!.weight > 0) break;
    if (i < 0) return -1;
    let mi = i;
    let most = set[i]!, moh = overhead(most);
    for (i--; i >= 0; i--) {
      const d = set[i]!;
      const doh = overhead(d);
      if (mulGt(doh, most.weight, moh, d.weight) && d.weight > 0) { most = d; moh = doh; mi = i; }
    }
    return mi;
  }

  schedule(svc: RtServiceView, pkt: SchedPacket, env: SchedEnv): RtDest | null {
    this.ensure(svc);
    const now = env.now;
    this.seen(now);
    const b = this.bucketOf(pkt.daddr);
    const en = this.find(b, pkt.daddr);
    if (en !== undefined) {
      en.lastuse = now;
      let dest = this.setMin(en);
      if (en.dests.length > 1 && now > en.lastmod + this.expiration()) {
        const m = this.setMaxIndex(en.dests);
        if (m >= 0) {
          en.dests.splice(m, 1);
          en.slots.splice(m, 1);
          en.lastmod = now;
        }
      }
      if (dest !== null && !this.isOverloaded(dest, svc)) return dest;
      dest = this.pickNew(svc);
      if (dest === null) return null;
      if (!en.dests.includes(dest)) {
        en.dests.push(dest);
        en.slots.push(this.slots.has(dest) ? this.slots.slotOf(dest) : -1);
        en.lastmod = now;
      }
      return dest;
    }
    const dest = this.pickNew(svc);
    if (dest === null) return null;
    this.hashIn(b, {
      af: pkt.daddr.af, words: pkt.daddr.words.slice(), lastuse: now, lastmod: now,
      dests: [dest], slots: [this.slots.has(dest) ? this.slots.slotOf(dest) : -1], epoch: this.slotEpoch,
    });
    return dest;
  }

  /** The cached set for an address, newest first (tests, listings). */
  cachedSet(ip: Ip): readonly RtDest[] | undefined {
    return this.find(this.bucketOf(ip), ip)?.dests.slice().reverse();
  }
}

export function makeLblcrFactory(opts: LocalityOptions = {}): SchedulerFactory {
  return (svc) => new LblcrScheduler(svc, opts);
}
export const lblcrFactory: SchedulerFactory = makeLblcrFactory();
