/** Small builders for engine tests. */
import { parseIp, prefixToMask4, type Ip } from '../../src/core/addr.ts';
import { Engine, type EngineOptions, type Verdict } from '../../src/core/engine.ts';
import type { DestSpec, FwdMethod, Protocol, ServiceKey, ServiceSpec } from '../../src/core/types.ts';

export function ip(s: string): Ip {
  const r = parseIp(s);
  if (!r) throw new Error(`bad ip ${s}`);
  return r;
}

export function svcKey(protocol: Protocol, addr: string, port: number, fwmark = 0): ServiceKey {
  const af = addr.includes(':') ? 6 : 4;
  return fwmark ? { af, fwmark, protocol: 'tcp', addr: af === 6 ? '::' : '0.0.0.0', port: 0 } : { af, fwmark: 0, protocol, addr, port };
}

export function svcSpec(key: ServiceKey, o: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    ...key, scheduler: 'wlc', flags: 0, timeout: 0, netmask: key.af === 6 ? 128 : prefixToMask4(32), pe: '', ...o,
  };
}

export function destSpec(addr: string, port: number, fwd: FwdMethod = 'masq', o: Partial<DestSpec> = {}): DestSpec {
  return {
    af: addr.includes(':') ? 6 : 4, addr, port, fwd, weight: 1, uThreshold: 0, lThreshold: 0, tunType: 'ipip',
    tunPort: 0, tunCsum: 'nocsum', ...o,
  };
}

export const F = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

/** "S", "SA", "A", "FA", "R", "" -> flag bits. */
export function flags(s: string): number {
  let f = 0;
  for (const c of s) f |= { F: F.FIN, S: F.SYN, R: F.RST, P: F.PSH, A: F.ACK }[c as 'F']!;
  return f;
}

export class Rig {
  readonly e: Engine;
  constructor(opts: EngineOptions = {}) {
    this.e = new Engine({ random: () => 0.5, ...opts });
  }
  ok(r: string | null): void {
    if (r !== null) throw new Error(`engine said ${r}`);
  }
  service(key: ServiceKey, o: Partial<ServiceSpec> = {}): this {
    this.ok(this.e.apply({ kind: 'add-service', svc: svcSpec(key, o) }));
    return this;
  }
  dest(key: ServiceKey, addr: string, port: number, fwd: FwdMethod = 'masq', o: Partial<DestSpec> = {}): this {
    this.ok(this.e.apply({ kind: 'add-dest', key, dest: destSpec(addr, port, fwd, o) }));
    return this;
  }
  at(t: number): this {
    this.e.setTime(t);
    return this;
  }
  /** Client packet "src:port" -> "vip:port". */
  in(proto: Protocol, src: string, dst: string, fl = '', bytes = 60, mark = 0): Verdict {
    const [sa, sp] = split(src), [da, dp] = split(dst);
    return this.e.processPacket({
      dir: 'in', af: sa.af, protocol: proto, saddr: sa, sport: sp, daddr: da, dport: dp, tcpFlags: flags(fl), bytes, mark,
    });
  }
  /** Real server reply "rs:port" -> "client:port". */
  out(proto: Protocol, src: string, dst: string, fl = '', bytes = 60): Verdict {
    const [sa, sp] = split(src), [da, dp] = split(dst);
    return this.e.processPacket({
      dir: 'out', af: sa.af, protocol: proto, saddr: sa, sport: sp, daddr: da, dport: dp, tcpFlags: flags(fl), bytes, mark: 0,
    });
  }
  dests(key: ServiceKey): { addr: string; active: number; inact: number; persist: number; overloaded: boolean }[] {
    const s = this.e.service(key);
    if (!s) throw new Error('no service');
    return s.dests.map((d) => ({ addr: `${d.addr}:${d.port}`, active: d.activeConns, inact: d.inactConns, persist: d.persistConns, overloaded: d.overloaded }));
  }
  counts(key: ServiceKey, addrPort: string): [number, number] {
    const d = this.dests(key).find((x) => x.addr === addrPort);
    if (!d) throw new Error(`no dest ${addrPort}`);
    return [d.active, d.inact];
  }
}

function split(s: string): [Ip, number] {
  const m = /^\[(.+)\]:(\d+)$/.exec(s) ?? /^(.+):(\d+)$/.exec(s);
  if (!m) throw new Error(`bad endpoint ${s}`);
  return [ip(m[1]!), Number(m[2])];
}
