/**
 * The ring workers' flow cache (pure, no I/O; the clock is passed in): the engine's decision for
 * each direction of a connection, so the connection's next packets are forwarded at once while
 * the engine still decides every one of them, in order, a little later (forwarder.ts,
 * channel.ts). Rules:
 * - only a forward bound to a connection is cached (not one-packet scheduling, not ICMP);
 * - the map key is the client side (address * 65536 + port, per direction), and every hit is
 *   checked against the whole tuple (protocol, the other side's address and port);
 * - a TCP SYN never hits (the engine may reschedule a reused tuple), nor does an entry older
 *   than FLOW_TTL_MS without a packet; both drop the entry, and the packet goes to the engine;
 * - the engine's later answer for a packet forwarded from the cache confirms the entry, or drops
 *   it when it differs (`divergent`);
 * - at most `max` entries per direction (then the map starts over); any rule change clears it.
 */
import { TCP_FLAG } from '../../core/proto.ts';
import { IPPROTO } from '../../codec/ip.ts';
import { ACTION_CODE } from '../../core/types.ts';
import type { Action } from './decision.ts';
import type { PacketMeta } from './classify.ts';

/**
 * How long a cached decision is used without a synchronous answer from the engine (ms, refreshed
 * by every packet of the flow). The engine's shortest connection timeout is 1 s (ipvsadm --set),
 * and every packet the worker forwards from the cache refreshes the engine's timer as well (a
 * little later): a cached flow never outlives its connection.
 */
export const FLOW_TTL_MS = 1000;
export const FLOW_MAX = 1 << 16;

/** A cached decision for one connection direction: the Action, and the tuple it was given for. */
export interface FlowEntry extends Action {
  key: number;
  proto: number;
  peer: number;
  peerPort: number;
  /** Clock (ms) after which the entry must be confirmed by the engine again. */
  expires: number;
}

/**
 * The cache key of a classified IPv4 packet (its client side), or -1 when it is never cached:
 * ICMP, and IPv6 (the rarer family: each of its packets waits for the engine's answer).
 */
export function flowKey(meta: PacketMeta, proto: number): number {
  if (proto === IPPROTO.ICMP || meta.af === 6) return -1;
  return meta.dir === 'out' ? meta.daddr.words[0]! * 65536 + meta.dport : meta.saddr.words[0]! * 65536 + meta.sport;
}

export class FlowCache {
  private readonly flowsIn = new Map<number, FlowEntry>();
  private readonly flowsOut = new Map<number, FlowEntry>();

  /** `enabled` false (tsvs daemon --flow-cache off): nothing is ever remembered. */
  constructor(readonly enabled: boolean, private readonly max = FLOW_MAX) {}

  /**
   * The decision to forward this packet with now (its expiry moved on), or undefined: none, or
   * one that may not be used for it (a SYN, expired, another tuple under the same key), which is
   * dropped so that the flow's next packets wait for the engine's answer too.
   */
  take(meta: PacketMeta, proto: number, key: number, nowMs: number): FlowEntry | undefined {
    if (key < 0) return undefined;
    const out = meta.dir === 'out';
    const flows = out ? this.flowsOut : this.flowsIn;
    const e = flows.get(key);
    if (e === undefined) return undefined;
    const peer = out ? meta.saddr.words[0]! : meta.daddr.words[0]!;
    const peerPort = out ? meta.sport : meta.dport;
    if (e.proto === proto && e.peer === peer && e.peerPort === peerPort && e.expires > nowMs &&
      !(proto === IPPROTO.TCP && (meta.tcpFlags & TCP_FLAG.SYN))) {
      e.expires = nowMs + FLOW_TTL_MS;
      return e;
    }
    flows.delete(key);
    return undefined;
  }

  /**
   * The engine's answer `a` for a packet that went to it (key from flowKey, the direction, its
   * protocol and the other side's address and port): remembered when it may be reused.
   */
  remember(key: number, out: boolean, proto: number, peer: number, peerPort: number, a: Action, nowMs: number): void {
    // (A mixed-family tunnel's IPv6 real server is not cached either.)
    if (!this.enabled || key < 0 || a.kind !== ACTION_CODE.forward || a.conn < 0 || a.rip6 !== null) return;
    const flows = out ? this.flowsOut : this.flowsIn;
    if (flows.size >= this.max) flows.clear();
    flows.set(key, {
      kind: a.kind, method: a.method, dir: a.dir, rip: a.rip, rport: a.rport, vip: a.vip, vport: a.vport, rip6: null, vip6: null, conn: a.conn,
      tun: a.tun, tunPort: a.tunPort, tunCsum: a.tunCsum, fast: 0,
      key, proto, peer, peerPort, expires: nowMs + FLOW_TTL_MS,
    });
  }

  /**
   * The engine's answer `a` for a packet forwarded from `e`: true when they agree; otherwise the
   * entry is dropped (if still cached) and false is returned.
   */
  confirm(e: FlowEntry, a: Action): boolean {
    if (a.kind === e.kind && a.conn >= 0 && a.method === e.method && a.rip === e.rip && a.rport === e.rport && a.vip === e.vip && a.vport === e.vport &&
      a.tun === e.tun && a.tunPort === e.tunPort && a.tunCsum === e.tunCsum) return true;
    const flows = e.dir === 'out' ? this.flowsOut : this.flowsIn;
    if (flows.get(e.key) === e) flows.delete(e.key);
    return false;
  }

  /** Forget everything (a rule change, an engine restart of the channel). */
  clear(): void {
    this.flowsIn.clear();
    this.flowsOut.clear();
  }

  get size(): number {
    return this.flowsIn.size + this.flowsOut.size;
  }
}
