/**
 * dh — Destination Hashing (spec §2.9, ip_vs_dh.c). 256 buckets rebuilt on add/del only (not
 * on edit): bucket i gets list element i mod n. Key = hash_32(packet daddr, 8). The bucket's dest
 * is used if AVAILABLE, weight > 0 and not OVERLOAD, else none (no fallback).
 */
import { DEST_F, type RtDest, type RtServiceView, type SchedPacket, type SchedulerFactory, type Scheduler } from '../scheduler.ts';
import { foldAddr, hash32 } from '../hash.ts';

export const DH_TAB_BITS = 8;
export const DH_TAB_SIZE = 1 << DH_TAB_BITS;

export function dhBuckets(list: readonly RtDest[]): (RtDest | null)[] {
  const n = list.length;
  const b = new Array<RtDest | null>(DH_TAB_SIZE).fill(null);
  if (n > 0) for (let i = 0; i < DH_TAB_SIZE; i++) b[i] = list[i % n]!;
  return b;
}

export class DhScheduler implements Scheduler {
  readonly name = 'dh';
  buckets: (RtDest | null)[];
  /** Dests currently in the list (the kernel's AVAILABLE flag). */
  private readonly live = new Set<RtDest>();
  constructor(svc: RtServiceView) {
    this.buckets = dhBuckets(svc.dests);
    for (const d of svc.dests) this.live.add(d);
  }
  addDest(svc: RtServiceView, dest: RtDest): void {
    this.live.add(dest);
    this.buckets = dhBuckets(svc.dests);
  }
  delDest(svc: RtServiceView, dest: RtDest): void {
    this.live.delete(dest);
    this.buckets = dhBuckets(svc.dests);
  }
  done(): void { this.buckets = dhBuckets([]); this.live.clear(); }

  schedule(_svc: RtServiceView, pkt: SchedPacket): RtDest | null {
    const d = this.buckets[hash32(foldAddr(pkt.daddr), DH_TAB_BITS)]!;
    if (d === null || !this.live.has(d) || d.weight <= 0 || (d.flags & DEST_F.OVERLOAD) !== 0) return null;
    return d;
  }
}

export const dhFactory: SchedulerFactory = (svc) => new DhScheduler(svc);
