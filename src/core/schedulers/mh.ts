/**
 * mh — Maglev Hashing (spec §2.11, ip_vs_mh.c). Table M = 4093 rebuilt on add/del/edit from
 * last_weight (gcd-reduced, shifted to 6 bits); hash = 64-bit-kernel hsiphash (SipHash-1-3) of
 * the u32 offset + port + addr with the kernel's fixed keys. mh-fallback = SCHED1, mh-port = SCHED2.
 */
import { DEST_F, type RtDest, type RtServiceView, type SchedPacket, type SchedulerFactory, type Scheduler } from '../scheduler.ts';
import { SVC_F } from '../types.ts';
import { foldAddr, hsipKey, hsiphash1u32 } from '../hash.ts';
import { gcd } from './slots.ts';
import { hashInputs } from './sh.ts';

export const MH_TAB_SIZE = 4093;
export const MH_TAB_BITS = 6;
export const MH_HASH1 = hsipKey(2654435761n, 2654435761n);
export const MH_HASH2 = hsipKey(2654446892n, 2654446892n);

/** ip_vs_mh_hashkey(): hsiphash of u32 (offset + port + addr_fold). */
export function mhHashKey(fold: number, port: number, key: typeof MH_HASH1, offset: number): number {
  return hsiphash1u32((offset + port + fold) >>> 0, key);
}

const fls = (x: number): number => (x <= 0 ? 0 : 32 - Math.clz32(x));

interface Perm { offset: number; skip: number }
const permCache = new WeakMap<RtDest, Perm>();
function permOf(d: RtDest): Perm {
  let p = permCache.get(d);
  if (p === undefined) {
    const fold = foldAddr(d.ip);
    p = {
      offset: mhHashKey(fold, d.port, MH_HASH1, 0) % MH_TAB_SIZE,
      skip: (mhHashKey(fold, d.port, MH_HASH2, 0) % (MH_TAB_SIZE - 1)) + 1,
    };
    permCache.set(d, p);
  }
  return p;
}

/**
 * ip_vs_mh_reassign() into `table` (in place, as the kernel overwrites its lookup array).
 * Returns false (EINVAL) when there are more than M dests: the table is left untouched.
 */
export function mhPopulate(table: (RtDest | null)[], list: readonly RtDest[]): boolean {
  const n = list.length;
  if (n > MH_TAB_SIZE) return false;
  let g = 0, maxw = 0;
  for (const d of list) {
    const w = d.lastWeight;
    if (w > 0) g = g > 0 ? gcd(w, g) : w;
    if (w > maxw) maxw = w;
  }
  if (g < 1) { table.fill(null); return true; }
  const sh = fls(Math.trunc(maxw / g)) - MH_TAB_BITS;
  const rshift = sh >= 0 ? sh : 0;
  const perm = new Int32Array(n), skip = new Int32Array(n), turns = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const d = list[i]!;
    const p = permOf(d);
    perm[i] = p.offset;
    skip[i] = p.skip;
    const lw = d.lastWeight;
    const t = Math.trunc(lw / g) >> rshift;
    turns[i] = t !== 0 ? t : lw !== 0 ? 1 : 0;
  }
  const used = new Uint8Array(MH_TAB_SIZE);
  let filled = 0, dt = 0, i = 0;
  for (;;) {
    if (i === n) i = 0; // next round over the list
    if (turns[i]! < 1) { i++; continue; }
    let c = perm[i]!;
    while (used[c]) {
      c += skip[i]!;
      if (c >= MH_TAB_SIZE) c -= MH_TAB_SIZE;
    }
    perm[i] = c;
    used[c] = 1;
    table[c] = list[i]!;
    if (++filled === MH_TAB_SIZE) return true;
    if (++dt >= turns[i]!) { dt = 0; i++; }
  }
}

const unavailable = (d: RtDest): boolean => d.weight <= 0 || (d.flags & DEST_F.OVERLOAD) !== 0;

export class MhScheduler implements Scheduler {
  readonly name = 'mh';
  readonly table = new Array<RtDest | null>(MH_TAB_SIZE).fill(null);
  constructor(svc: RtServiceView) {
    mhPopulate(this.table, svc.dests);
  }
  private changed(svc: RtServiceView): void {
    mhPopulate(this.table, svc.dests); // EINVAL (> M dests) is ignored by the kernel
  }
  addDest(svc: RtServiceView): void { this.changed(svc); }
  delDest(svc: RtServiceView): void { this.changed(svc); }
  updDest(svc: RtServiceView): void { this.changed(svc); }
  done(): void { this.table.fill(null); }

  schedule(svc: RtServiceView, pkt: SchedPacket): RtDest | null {
    const { fold, port } = hashInputs(svc, pkt);
    const ih = mhHashKey(fold, port, MH_HASH1, 0) % MH_TAB_SIZE;
    const d = this.table[ih]!;
    if ((svc.flags & SVC_F.SCHED1) === 0) return d === null || unavailable(d) ? null : d;
    if (d === null) return null;
    if (!unavailable(d)) return d;
    for (let off = 0; off < MH_TAB_SIZE; off++) {
      const roff = (off + ih) % MH_TAB_SIZE;
      const e = this.table[mhHashKey(fold, port, MH_HASH1, roff) % MH_TAB_SIZE]!;
      if (e === null) break;
      if (!unavailable(e)) return e;
    }
    return null;
  }
}

export const mhFactory: SchedulerFactory = (svc) => (svc.dests.length > MH_TAB_SIZE ? 'EINVAL' : new MhScheduler(svc));
