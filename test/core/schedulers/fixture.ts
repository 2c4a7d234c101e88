/**
 * Test fixture: an RtServiceView with RtDest objects, mutated the way the engine does it (kernel
 * list order, AVAILABLE/OVERLOAD/last_weight rules of spec §1.2-1.3), calling the scheduler hooks
 * of every bound scheduler. Several schedulers can be bound to one fixture (index vs reference).
 */
import { parseIp, type Ip } from '../../../src/core/addr.ts';
import { DEST_F, type RtDest, type RtServiceView, type SchedEnv, type SchedPacket, type Scheduler, type SchedulerFactory } from '../../../src/core/scheduler.ts';
import type { Af, Protocol } from '../../../src/core/types.ts';

export interface MutableDest extends RtDest {
  activeConns: number;
  inactConns: number;
  flags: number;
}

export interface MutableService extends RtServiceView {
  flags: number;
  dests: MutableDest[];
}

/** Small deterministic PRNG (mulberry32) for reproducible random tests. */
export { seededRandom as prng } from '../../../src/core/random.ts';

export function ip(s: string): Ip {
  const r = parseIp(s);
  if (r === null) throw new Error(`bad ip ${s}`);
  return r;
}

export function packet(saddr: string, sport = 12345, daddr = '10.0.0.100', dport = 80, protocol: Protocol = 'tcp'): SchedPacket {
  return { protocol, saddr: ip(saddr), sport, daddr: ip(daddr), dport };
}

let nextId = 1;

export class Fixture {
  readonly svc: MutableService;
  readonly scheds: Scheduler[] = [];
  now = 0;
  /** Random values each decision hands every bound scheduler (the same sequence to each). */
  random: () => number = Math.random;

  constructor(opts: { af?: Af; flags?: number; fwmark?: number; protocol?: Protocol } = {}) {
    this.svc = { af: opts.af ?? 4, fwmark: opts.fwmark ?? 0, protocol: opts.protocol ?? 'tcp', flags: opts.flags ?? 0, dests: [] };
  }

  bind(factory: SchedulerFactory): Scheduler {
    const s = factory(this.svc);
    if (s === 'EINVAL') throw new Error('EINVAL');
    this.scheds.push(s);
    return s;
  }

  add(addr: string, port = 80, weight = 1, th: { u?: number; l?: number } = {}): MutableDest {
    const p = ip(addr);
    const d: MutableDest = {
      af: p.af, ip: p, addr, port, fwd: 'masq', weight, lastWeight: weight,
      uThreshold: th.u ?? 0, lThreshold: th.l ?? 0, activeConns: 0, inactConns: 0, persistConns: 0,
      flags: DEST_F.AVAILABLE, id: nextId++,
    };
    this.svc.dests.unshift(d);
    for (const s of this.scheds) s.addDest?.(this.svc, d);
    return d;
  }

  /** Adds dests in the given order (so the last one ends up at list index 0). */
  addAll(specs: ReadonlyArray<readonly [string, number]>): MutableDest[] {
    return specs.map(([a, w]) => this.add(a, 80, w));
  }

  del(d: RtDest): void {
    const i = this.svc.dests.indexOf(d as MutableDest);
    if (i < 0) throw new Error('not in list');
    this.svc.dests.splice(i, 1);
    (d as MutableDest).flags &= ~DEST_F.AVAILABLE;
    for (const s of this.scheds) s.delDest?.(this.svc, d, i);
  }

  /** Re-add a deleted dest object (the kernel restores it from the dest trash: same object, same id). */
  readd(d: MutableDest, weight = d.weight): void {
    if (this.svc.dests.includes(d)) throw new Error('still in list');
    d.weight = weight;
    if (weight !== 0) (d as { lastWeight: number }).lastWeight = weight;
    d.flags |= DEST_F.AVAILABLE;
    if (d.uThreshold === 0) d.flags &= ~DEST_F.OVERLOAD; // __ip_vs_update_dest with the same thresholds
    this.svc.dests.unshift(d);
    for (const s of this.scheds) s.addDest?.(this.svc, d);
  }

  /** ipvsadm -e: weight / thresholds, with the kernel's last_weight and OVERLOAD rules. */
  edit(d: MutableDest, e: { weight?: number; u?: number; l?: number }): void {
    const oldU = d.uThreshold;
    if (e.weight !== undefined) {
      d.weight = e.weight;
      if (e.weight !== 0) d.lastWeight = e.weight;
    }
    if (e.u !== undefined) d.uThreshold = e.u;
    if (e.l !== undefined) d.lThreshold = e.l;
    d.flags |= DEST_F.AVAILABLE;
    if (d.uThreshold === 0 || d.uThreshold > oldU) d.flags &= ~DEST_F.OVERLOAD;
    for (const s of this.scheds) s.updDest?.(this.svc, d);
  }

  conns(d: MutableDest, active: number, inactive = d.inactConns): void {
    d.activeConns = active;
    d.inactConns = inactive;
    for (const s of this.scheds) s.countsChanged?.(this.svc, d);
  }

  overload(d: MutableDest, on: boolean): void {
    if (on) d.flags |= DEST_F.OVERLOAD;
    else d.flags &= ~DEST_F.OVERLOAD;
    for (const s of this.scheds) s.countsChanged?.(this.svc, d);
  }

  setFlags(flags: number): void {
    this.svc.flags = flags;
  }

  tick(now: number): void {
    this.now = now;
    for (const s of this.scheds) s.tick?.(this.svc, now);
  }

  /** One decision per bound scheduler (all see the same random values). */
  pickAll(pkt: SchedPacket = packet('192.168.1.1')): (RtDest | null)[] {
    const draws = [this.random(), this.random(), this.random(), this.random()];
    return this.scheds.map((s) => {
      let i = 0;
      const env: SchedEnv = { now: this.now, random: () => draws[i++ % draws.length]! };
      return s.schedule(this.svc, pkt, env);
    });
  }

  /** A decision of the first bound scheduler. */
  pick(pkt?: SchedPacket): RtDest | null {
    return this.pickAll(pkt)[0]!;
  }

  /** Address of the first scheduler's pick ('-' for none). */
  pickAddr(pkt?: SchedPacket): string {
    const d = this.pick(pkt);
    return d === null ? '-' : d.addr;
  }

  /** n decisions as addresses. */
  seq(n: number, pkt?: SchedPacket): string[] {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.pickAddr(pkt));
    return out;
  }
}
