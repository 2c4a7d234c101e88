/**
 * sh — Source Hashing (spec §2.10, ip_vs_sh.c). 256 buckets rebuilt on add/del/edit: walk the
 * list cyclically, each dest filling max(weight, 1) consecutive buckets. Key = source address
 * (destination for inverse ICMP lookups), plus the source port with sh-port (SCHED2).
 * sh-fallback (SCHED1) probes bucket (2*ih + k) & 255 for k = 0..255 until an empty bucket.
 */
import { DEST_F, type RtDest, type RtServiceView, type SchedPacket, type SchedulerFactory, type Scheduler } from '../scheduler.ts';
import { SVC_F } from '../types.ts';
import { foldAddr, hash32 } from '../hash.ts';

export const SH_TAB_BITS = 8;
export const SH_TAB_SIZE = 1 << SH_TAB_BITS;
const MASK = SH_TAB_SIZE - 1;

/** ip_vs_sh_hashkey(). */
export function shHashKey(fold: number, port: number, offset: number): number {
  return (offset + hash32((port + fold) >>> 0, SH_TAB_BITS)) & MASK;
}

/** ip_vs_sh_reassign(): the bucket table for a list. */
export function shBuckets(list: readonly RtDest[]): (RtDest | null)[] {
  const b = new Array<RtDest | null>(SH_TAB_SIZE).fill(null);
  const n = list.length;
  if (n === 0) return b;
  let p = 0, count = 0;
  for (let i = 0; i < SH_TAB_SIZE; i++) {
    const d = list[p]!;
    b[i] = d;
    if (++count >= d.weight) { p = (p + 1) % n; count = 0; }
  }
  return b;
}

const unavailable = (d: RtDest): boolean => d.weight <= 0 || (d.flags & DEST_F.OVERLOAD) !== 0;

/** The hash inputs the kernel uses for sh and mh (addr fold, port per SCHED2 flag). */
export function hashInputs(svc: RtServiceView, pkt: SchedPacket): { fold: number; port: number } {
  const inv = pkt.inverse === true;
  const fold = foldAddr(inv ? pkt.daddr : pkt.saddr);
  const port = (svc.flags & SVC_F.SCHED2) !== 0 ? (inv ? pkt.dport : pkt.sport) & 0xffff : 0;
  return { fold, port };
}

export class ShScheduler implements Scheduler {
  readonly name = 'sh';
  buckets: (RtDest | null)[];
  constructor(svc: RtServiceView) {
    this.buckets = shBuckets(svc.dests);
  }
  private rebuild(svc: RtServiceView): void {
    this.buckets = shBuckets(svc.dests);
  }
  addDest(svc: RtServiceView): void { this.rebuild(svc); }
  delDest(svc: RtServiceView): void { this.rebuild(svc); }
  updDest(svc: RtServiceView): void { this.rebuild(svc); }
  done(): void { this.buckets = shBuckets([]); }

  schedule(svc: RtServiceView, pkt: SchedPacket): RtDest | null {
    const { fold, port } = hashInputs(svc, pkt);
    const ih = shHashKey(fold, port, 0);
    const d = this.buckets[ih]!;
    if ((svc.flags & SVC_F.SCHED1) === 0) return d === null || unavailable(d) ? null : d;
    if (d === null) return null;
    if (!unavailable(d)) return d;
    for (let off = 0; off < SH_TAB_SIZE; off++) {
      const roff = (off + ih) % SH_TAB_SIZE;
      const e = this.buckets[shHashKey(fold, port, roff)]!;
      if (e === null) break;
      if (!unavailable(e)) return e;
    }
    return null;
  }
}

export const shFactory: SchedulerFactory = (svc) => new ShScheduler(svc);
