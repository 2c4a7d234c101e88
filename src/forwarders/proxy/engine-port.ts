/**
 * Connects the proxy forwarder to the engine's data path: every synthesized packet becomes an
 * engine.processPacket() call (after feeding the clock), the verdict becomes a relay decision.
 */
import { parseIp, type Ip } from '../../core/addr.ts';
import type { MutablePacketIn, Verdict } from '../../core/engine.ts';
import type { RtDest } from '../../core/scheduler.ts';
import type { ForwarderEngine } from '../../dataplane/forwarder.ts';
import type { Flow, FlowPort, Target } from './flow.ts';
import { TCP_FLAG } from './flow.ts';

/** The part of the engine a port drives (src/dataplane/forwarder.ts). */
export type DataPath = Pick<ForwarderEngine, 'setTime' | 'processPacket'>;

/** A destination scheduleAhead() chose (an engine destination record, passed back as is). */
export type AheadDest = RtDest;

/** Maps a verdict to the real server to connect to: the verdict's port, else the virtual port. */
export type VerdictTarget = (v: Verdict, f: { readonly vport: number }) => Target | null;

export const defaultVerdictTarget: VerdictTarget = (v, f) => {
  if (v.action !== 'forward' || !v.dest) return null;
  return { addr: v.dest.addr, port: v.dport || v.dest.port || f.vport };
};

/**
 * A flow with its addresses parsed once (the engine's packets are filled from it): what open()
 * and packet() build for a Flow, or what a caller that has the addresses as Ip values (the relay
 * workers' binary events, cluster.ts) builds itself for openParsed()/packetParsed().
 */
export interface ParsedFlow {
  readonly af: 4 | 6;
  readonly protocol: 'tcp' | 'udp';
  readonly c: Ip;
  readonly cport: number;
  readonly v: Ip;
  readonly vport: number;
  /** The real server once scheduled (replies are reported from it). */
  d: Ip | null;
  dport: number;
}

export class EnginePort implements FlowPort {
  /** Packets and bytes the engine was told about (for status). */
  packets = 0;
  /**
   * Flows the engine refused, by verdict reason: a new one with no real server available
   * (no-dest), an open one whose real server was removed (dest-unavailable), the drop_packet
   * defence. Not table-full: the engine counts that itself (counters().tableFull).
   */
  readonly refused: Record<string, number> = {};
  /** Inside batch(): the clock was set once for the whole batch. */
  private batched = false;
  /** The PacketIn the port refills for every call (the engine does not keep it). */
  private readonly p: MutablePacketIn = { dir: 'in', af: 4, protocol: 'tcp', saddr: null as unknown as Ip, sport: 0, daddr: null as unknown as Ip, dport: 0, tcpFlags: 0, bytes: 0, mark: 0 };
  /** The engine's verdict object, handed back for reuse (src/core/engine.ts processPacket(p, out)). */
  private v: Verdict | undefined;
  constructor(private readonly dp: DataPath, private readonly now: () => number, private readonly target: VerdictTarget = defaultVerdictTarget) {}

  /**
   * Runs fn with the engine clock set once (a batch of events that arrived together, e.g. one
   * IPC message from a relay worker) instead of before every packet.
   */
  batch<T>(fn: () => T): T {
    if (this.batched) return fn();
    this.tick();
    this.batched = true;
    try {
      return fn();
    } finally {
      this.batched = false;
    }
  }

  /** The flow's parsed form, kept in its portRef (this port's own record of the flow). */
  private parsed(f: Flow): ParsedFlow {
    let x = f.portRef as ParsedFlow | undefined;
    if (!x) {
      x = { af: f.af, protocol: f.protocol, c: this.ip(f.caddr), cport: f.cport, v: this.ip(f.vaddr), vport: f.vport, d: null, dport: 0 };
      f.portRef = x;
    }
    return x;
  }

  /** Parsed addresses, shared (Ip values are immutable): clients and VIPs repeat. */
  private readonly ipCache = new Map<string, Ip>();
  private ip(s: string): Ip {
    let ip = this.ipCache.get(s);
    if (!ip) {
      ip = parseIp(s)!;
      if (this.ipCache.size >= 4096) this.ipCache.clear();
      this.ipCache.set(s, ip);
    }
    return ip;
  }

  /** Last time given to the engine (seconds); it keeps time in 1/64 s ticks, so 1 ms is plenty. */
  private lastTime = -1;
  private tick(): void {
    const t = this.now();
    if (t - this.lastTime >= 0.001 || t < this.lastTime) {
      this.lastTime = t;
      this.dp.setTime(t);
    }
  }

  private send(ip: ParsedFlow, dir: 'in' | 'out', flags: number, bytes: number, ahead?: AheadDest): Verdict {
    if (!this.batched) this.tick();
    this.packets++;
    const p = this.p;
    p.dir = dir;
    p.af = ip.af;
    p.protocol = ip.protocol;
    p.tcpFlags = flags;
    p.bytes = bytes;
    // Replies are reported as the director sees them under NAT: from the real server to the client.
    if (dir === 'in') {
      p.saddr = ip.c; p.sport = ip.cport; p.daddr = ip.v; p.dport = ip.vport;
    } else {
      p.saddr = ip.d ?? ip.v; p.sport = ip.d ? ip.dport : ip.vport; p.daddr = ip.c; p.dport = ip.cport;
    }
    const v = this.dp.processPacket(p, this.v, ahead);
    this.v = v;
    return v;
  }

  /**
   * A new flow: its SYN (datagram) to the engine, which schedules it, or binds it to `ahead` (a
   * destination scheduleAhead() chose, which the relay already connected to).
   */
  open(f: Flow, bytes: number, ahead?: AheadDest): Target | null {
    return this.openParsed(this.parsed(f), bytes, ahead);
  }

  /** open() for a flow whose addresses are parsed already. */
  openParsed(ip: ParsedFlow, bytes: number, ahead?: AheadDest): Target | null {
    const v = this.send(ip, 'in', ip.protocol === 'tcp' ? TCP_FLAG.SYN : 0, bytes, ahead);
    const t = this.target(v, ip);
    if (t) {
      ip.d = this.ip(t.addr);
      ip.dport = t.port;
    } else this.refuse(v);
    return t;
  }

  private refuse(v: Verdict): void {
    if (v.reason === '' || v.reason === 'table-full') return;
    this.refused[v.reason] = (this.refused[v.reason] ?? 0) + 1;
  }

  packet(f: Flow, dir: 'in' | 'out', flags: number, bytes: number, pkts: number): boolean {
    return this.packetParsed(this.parsed(f), dir, flags, bytes, pkts);
  }

  /** packet() for a flow whose addresses are parsed already. */
  packetParsed(ip: ParsedFlow, dir: 'in' | 'out', flags: number, bytes: number, pkts: number): boolean {
    let ok = true;
    if (pkts > 1 && !this.batched) this.tick();
    const was = this.batched;
    this.batched = true;
    // pkts packets carrying bytes in all: equal shares, the remainder on the last one.
    const per = Math.floor(bytes / pkts);
    const last = bytes - per * (pkts - 1);
    for (let i = 0; i < pkts; i++) {
      const v = this.send(ip, dir, flags, i === pkts - 1 ? last : per);
      if (v.action === 'drop' || v.action === 'reject') {
        // Counted once per flow: the relay resets it on the first refusal.
        if (ok) this.refuse(v);
        ok = false;
      }
    }
    this.batched = was;
    return ok;
  }
}
