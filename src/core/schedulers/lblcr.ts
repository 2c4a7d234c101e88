/**
 * lblcr — LBLC with Replication (spec §2.8, ip_vs_lblcr.c): each cached address maps to a set of
 * dests (newest first) with its lastmod; the set's weighted-least member is used unless
 * lblc-overloaded; a set older than lblcr_expiration sheds its weighted-most member.
 */
import type { Ip } from '../addr.ts';
import { DEST_F, type RtDest, type RtServiceView, type SchedEnv, type SchedPacket, type SchedulerFactory } from '../scheduler.ts';
import { mulGt, overhead } from './slots.ts';
import { LocalityScheduler, type CacheEntry, type LocalityOptions } from './lblc.ts';

export interface LblcrEntry extends CacheEntry {
  /** Newest first. */
  readonly set: RtDest[];
  lastmod: number;
}

export class LblcrScheduler extends LocalityScheduler<LblcrEntry> {
  readonly name = 'lblcr';
  constructor(svc: RtServiceView, opts: LocalityOptions = {}) {
    super(svc, opts);
  }

  /** ip_vs_dest_set_min(). */
  private setMin(set: readonly RtDest[]): RtDest | null {
    let i = 0;
    let least: RtDest | null = null;
    for (; i < set.length; i++) {
      const d = set[i]!;
      if ((d.flags & DEST_F.OVERLOAD) !== 0) continue;
      if (d.weight > 0 && this.available(d)) { least = d; break; }
    }
    if (least === null) return null;
    let loh = overhead(least);
    for (i++; i < set.length; i++) {
      const d = set[i]!;
      if ((d.flags & DEST_F.OVERLOAD) !== 0) continue;
      const doh = overhead(d);
      if (mulGt(loh, d.weight, doh, least.weight) && this.available(d)) { least = d; loh = doh; }
    }
    return least;
  }

  /** ip_vs_dest_set_max(). */
  private setMax(set: readonly RtDest[]): RtDest | null {
    let i = 0;
    let most: RtDest | null = null;
    for (; i < set.length; i++) if (set[i]!.weight > 0) { most = set[i]!; break; }
    if (most === null) return null;
    let moh = overhead(most);
    for (i++; i < set.length; i++) {
      const d = set[i]!;
      const doh = overhead(d);
      if (mulGt(doh, most.weight, moh, d.weight) && d.weight > 0) { most = d; moh = doh; }
    }
    return most;
  }

  schedule(svc: RtServiceView, pkt: SchedPacket, env: SchedEnv): RtDest | null {
    this.ensure(svc);
    const now = env.now;
    this.seen(now);
    const b = this.bucketOf(pkt.daddr);
    const en = this.find(b, pkt.daddr);
    if (en !== undefined) {
      en.lastuse = now;
      let dest = this.setMin(en.set);
      if (en.set.length > 1 && now > en.lastmod + this.expiration()) {
        const m = this.setMax(en.set);
        if (m !== null) {
          en.set.splice(en.set.indexOf(m), 1);
          en.lastmod = now;
        }
      }
      if (dest !== null && !this.isOverloaded(dest, svc)) return dest;
      dest = this.pickNew(svc);
      if (dest === null) return null;
      if (!en.set.includes(dest)) { en.set.unshift(dest); en.lastmod = now; }
      return dest;
    }
    const dest = this.pickNew(svc);
    if (dest === null) return null;
    this.hashIn(b, { af: pkt.daddr.af, words: pkt.daddr.words.slice(), lastuse: now, set: [dest], lastmod: now });
    return dest;
  }

  /** The cached set for an address, newest first (tests, listings). */
  cachedSet(ip: Ip): readonly RtDest[] | undefined {
    return this.find(this.bucketOf(ip), ip)?.set;
  }
}

export function makeLblcrFactory(opts: LocalityOptions = {}): SchedulerFactory {
  return (svc) => new LblcrScheduler(svc, opts);
}
export const lblcrFactory: SchedulerFactory = makeLblcrFactory();
