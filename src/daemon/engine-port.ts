/**
 * Connects the proxy forwarder to the engine's data path: every synthesized packet becomes an
 * engine.processPacket() call (after feeding the clock), the verdict becomes a relay decision.
 */
import { parseIp, type Ip } from '../core/addr.ts';
import type { Flow, FlowPort, Target } from '../forwarders/proxy/flow.ts';
import { TCP_FLAG } from '../forwarders/proxy/flow.ts';

/** The part of a packet the engine's data path reads (src/core/engine.ts PacketIn). */
export interface DataPathPacket {
  dir: 'in' | 'out';
  af: 4 | 6;
  protocol: 'tcp' | 'udp';
  saddr: Ip;
  sport: number;
  daddr: Ip;
  dport: number;
  tcpFlags: number;
  bytes: number;
  mark: number;
}

/** The part of a verdict the proxy needs. */
export interface DataPathVerdict {
  action: string;
  dest?: { addr: string; port: number } | null;
}

export interface DataPath {
  setTime(now: number): void;
  /** `out` is a verdict object the engine may reuse (src/core/engine.ts). */
  processPacket(p: DataPathPacket, out?: never): DataPathVerdict;
}

/** Maps a verdict to the real server to connect to: the destination's port, else the virtual port. */
export type VerdictTarget = (v: DataPathVerdict, f: Flow) => Target | null;

export const defaultVerdictTarget: VerdictTarget = (v, f) => {
  if (v.action !== 'forward' || !v.dest) return null;
  const dv = v as unknown as { dport?: number; destPort?: number };
  const port = dv.dport ?? dv.destPort ?? (v.dest.port || f.vport);
  return { addr: v.dest.addr, port };
};

interface FlowIps { c: Ip; v: Ip; d: Ip | null; dport: number }

export class EnginePort implements FlowPort {
  private readonly ips = new WeakMap<Flow, FlowIps>();
  /** Packets and bytes the engine was told about (for status). */
  packets = 0;
  constructor(private readonly dp: DataPath, private readonly now: () => number, private readonly target: VerdictTarget = defaultVerdictTarget) {}

  private flowIps(f: Flow): FlowIps {
    let x = this.ips.get(f);
    if (!x) {
      x = { c: parseIp(f.caddr)!, v: parseIp(f.vaddr)!, d: null, dport: 0 };
      this.ips.set(f, x);
    }
    return x;
  }

  private send(f: Flow, dir: 'in' | 'out', flags: number, bytes: number): DataPathVerdict {
    const ip = this.flowIps(f);
    this.dp.setTime(this.now());
    this.packets++;
    // Replies are reported as the director sees them under NAT: from the real server to the client.
    return dir === 'in'
      ? this.dp.processPacket({ dir, af: f.af, protocol: f.protocol, saddr: ip.c, sport: f.cport, daddr: ip.v, dport: f.vport, tcpFlags: flags, bytes, mark: 0 })
      : this.dp.processPacket({ dir, af: f.af, protocol: f.protocol, saddr: ip.d ?? ip.v, sport: ip.d ? ip.dport : f.vport, daddr: ip.c, dport: f.cport, tcpFlags: flags, bytes, mark: 0 });
  }

  open(f: Flow, bytes: number): Target | null {
    const v = this.send(f, 'in', f.protocol === 'tcp' ? TCP_FLAG.SYN : 0, bytes);
    const t = this.target(v, f);
    if (t) {
      const ip = this.flowIps(f);
      ip.d = parseIp(t.addr);
      ip.dport = t.port;
    }
    return t;
  }

  packet(f: Flow, dir: 'in' | 'out', flags: number, bytes: number, pkts: number): boolean {
    let ok = true;
    const per = Math.floor(bytes / pkts);
    for (let i = 0; i < pkts; i++) {
      const b = i === pkts - 1 ? bytes - per * (pkts - 1) : per;
      const v = this.send(f, dir, flags, b);
      if (v.action === 'drop' || v.action === 'reject') ok = false;
    }
    return ok;
  }
}
