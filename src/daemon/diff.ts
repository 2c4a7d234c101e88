/**
 * The commands that turn the running rules into the desired ones, keeping everything that did
 * not change (so a reload keeps connections, counters and persistence of unchanged services).
 */
import { SVC_F, type DestSnapshot, type DestSpec, type IpvsCommand, type ServiceKey, type ServiceSnapshot, type ServiceSpec } from '../core/types.ts';

const USER_FLAGS = SVC_F.PERSISTENT | SVC_F.ONEPACKET | SVC_F.SCHED1 | SVC_F.SCHED2 | SVC_F.SCHED3;

function keyOf(s: ServiceKey): string {
  return `${s.af}|${s.fwmark}|${s.protocol}|${s.addr}|${s.port}`;
}
function destKey(d: { af: number; addr: string; port: number }): string {
  return `${d.af}|${d.addr}|${d.port}`;
}

export function serviceSpec(s: ServiceSnapshot): ServiceSpec {
  return { af: s.af, fwmark: s.fwmark, protocol: s.protocol, addr: s.addr, port: s.port, scheduler: s.scheduler, flags: s.flags & USER_FLAGS, timeout: s.timeout, netmask: s.netmask, pe: s.pe };
}
export function serviceKey(s: ServiceKey): ServiceKey {
  return { af: s.af, fwmark: s.fwmark, protocol: s.protocol, addr: s.addr, port: s.port };
}
export function destSpec(d: DestSnapshot): DestSpec {
  return { af: d.af, addr: d.addr, port: d.port, fwd: d.fwd, weight: d.weight, uThreshold: d.uThreshold, lThreshold: d.lThreshold, tunType: d.tunType, tunPort: d.tunPort, tunCsum: d.tunCsum };
}

function sameSpec(a: ServiceSpec, b: ServiceSpec): boolean {
  return a.scheduler === b.scheduler && a.flags === b.flags && a.timeout === b.timeout && a.netmask === b.netmask && a.pe === b.pe;
}
function sameDest(a: DestSpec, b: DestSpec): boolean {
  return a.fwd === b.fwd && a.weight === b.weight && a.uThreshold === b.uThreshold && a.lThreshold === b.lThreshold && a.tunType === b.tunType && a.tunPort === b.tunPort && a.tunCsum === b.tunCsum;
}

export function diffRules(running: readonly ServiceSnapshot[], desired: readonly ServiceSnapshot[]): IpvsCommand[] {
  const out: IpvsCommand[] = [];
  const have = new Map(running.map((s) => [keyOf(s), s]));
  const want = new Map(desired.map((s) => [keyOf(s), s]));
  for (const [k, s] of have) if (!want.has(k)) out.push({ kind: 'delete-service', key: serviceKey(s) });
  for (const [k, w] of want) {
    const h = have.get(k);
    const key = serviceKey(w);
    if (!h) {
      out.push({ kind: 'add-service', svc: serviceSpec(w) });
    } else if (!sameSpec(serviceSpec(h), serviceSpec(w))) {
      out.push({ kind: 'edit-service', svc: serviceSpec(w) });
    }
    const hd = new Map((h?.dests ?? []).map((d) => [destKey(d), d]));
    const wd = new Map(w.dests.map((d) => [destKey(d), d]));
    for (const [dk, d] of hd) if (!wd.has(dk)) out.push({ kind: 'delete-dest', key, af: d.af, addr: d.addr, port: d.port });
    // Snapshots list destinations newest first: add the oldest first to keep the kernel order.
    for (const d of [...w.dests].reverse()) {
      const old = hd.get(destKey(d));
      if (!old) out.push({ kind: 'add-dest', key, dest: destSpec(d) });
      else if (!sameDest(destSpec(old), destSpec(d))) out.push({ kind: 'edit-dest', key, dest: destSpec(d) });
    }
  }
  return out;
}
