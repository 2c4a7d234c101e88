/**
 * The ring workers' flow cache (pure, no I/O; the clock is passed in): the engine's decision for
 * each direction of a connection, so the connection's next packets are forwarded at once while
 * the engine still decides every one of them, in order, a little later (forwarder.ts,
 * channel.ts). Rules:
 * - only a forward bound to a connection is cached (not one-packet scheduling, not ICMP);
 * - the map key is the client side (IPv4: address * 65536 + port; IPv6: the address's key6 text
 *   and the port), per direction, and every hit is checked against the whole tuple (protocol,
 *   the other side's address and port);
 * - a TCP SYN never hits (the engine may reschedule a reused tuple), nor does an entry older
 *   than FLOW_TTL_MS without a packet; both drop the entry, and the packet goes to the engine;
 * - the engine's later answer for a packet forwarded from the cache confirms the entry, or drops
 *   it when it differs (`divergent`);
 * - at most `max` entries per direction (then the map starts over); any rule change clears it.
 */
import { TCP_FLAG } from '../../core/proto.ts';
import type { Ip } from '../../core/addr.ts';
import { IPPROTO } from '../../codec/ip.ts';
import { ACTION_CODE } from '../../core/types.ts';
import type { Action } from './decision.ts';
import { key6, type PacketMeta } from './classify.ts';

/**
 * How long a cached decision is used without a synchronous answer from the engine (ms, refreshed
 * by every packet of the flow). The engine's shortest connection timeout is 1 s (ipvsadm --set),
 * and every packet the worker forwards from the cache refreshes the engine's timer as well (a
 * little later): a cached flow never outlives its connection.
 */
export const FLOW_TTL_MS = 1000;
export const FLOW_MAX = 1 << 16;

/** A flow's key (flowKey): a number for IPv4, text for IPv6, -1 when never cached. */
export type FlowKey = number | string;
/** The other side's address as a cache entry checks it: IPv4 as a number, IPv6 as key6 text. */
export type FlowPeer = number | string;

/** A cached decision for one connection direction: the Action, and the tuple it was given for. */
export interface FlowEntry extends Action {
  key: FlowKey;
  proto: number;
  peer: FlowPeer;
  peerPort: number;
  /** Clock (ms) after which the entry must be confirmed by the engine again. */
  expires: number;
}

/**
 * The cache key of a classified packet (its client side), or -1 when it is never cached (ICMP).
 * IPv6 keys are text: the rarer family pays a string per packet, IPv4 none.
 */
export function flowKey(meta: PacketMeta, proto: number): FlowKey {
  if (proto === IPPROTO.ICMP) return -1;
  const out = meta.dir === 'out';
  const client = out ? meta.daddr : meta.saddr;
  const port = out ? meta.dport : meta.sport;
  return client.af === 6 ? `${key6(client.words)}/${port}` : client.words[0]! * 65536 + port;
}

/** The other side of the packet (the VIP, or the real server of a reply) as flowKey's entries check it. */
export function flowPeer(meta: PacketMeta): FlowPeer {
  const peer = meta.dir === 'out' ? meta.saddr : meta.daddr;
  return peer.af === 6 ? key6(peer.words) : peer.words[0]!;
}

const sameIp = (a: Ip | null, b: Ip | null): boolean =>
  a === b || (a !== null && b !== null && a.words[0] === b.words[0] && a.words[1] === b.words[1] && a.words[2] === b.words[2] && a.words[3] === b.words[3]);

export class FlowCache {
  private readonly flowsIn = new Map<FlowKey, FlowEntry>();
  private readonly flowsOut = new Map<FlowKey, FlowEntry>();

  /** `enabled` false (tsvs daemon --flow-cache off): nothing is ever remembered. */
  constructor(readonly enabled: boolean, private readonly max = FLOW_MAX) {}

  /**
   * The decision to forward this packet with now (its expiry moved on), or undefined: none, or
   * one that may not be used for it (a SYN, expired, another tuple under the same key), which is
   * dropped so that the flow's next packets wait for the engine's answer too.
   */
  take(meta: PacketMeta, proto: number, key: FlowKey, nowMs: number): FlowEntry | undefined {
    if (key === -1) return undefined;
    const out = meta.dir === 'out';
    const flows = out ? this.flowsOut : this.flowsIn;
    const e = flows.get(key);
    if (e === undefined) return undefined;
    const peer = flowPeer(meta);
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
   * protocol and the other side's address (flowPeer) and port): remembered when it may be reused.
   */
  remember(key: FlowKey, out: boolean, proto: number, peer: FlowPeer, peerPort: number, a: Action, nowMs: number): void {
    if (!this.enabled || key === -1 || a.kind !== ACTION_CODE.forward || a.conn < 0) return;
    // One family end to end: a mixed-family tunnel (an IPv4 VIP's IPv6 real server, or the other
    // way) is not cached.
    if (typeof key === 'number' ? a.rip6 !== null || a.vip6 !== null : a.rip6 === null) return;
    const flows = out ? this.flowsOut : this.flowsIn;
    if (flows.size >= this.max) flows.clear();
    flows.set(key, {
      kind: a.kind, method: a.method, dir: a.dir, rip: a.rip, rport: a.rport, vip: a.vip, vport: a.vport, rip6: a.rip6, vip6: a.vip6, conn: a.conn,
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
      sameIp(a.rip6, e.rip6) && sameIp(a.vip6, e.vip6) && a.tun === e.tun && a.tunPort === e.tunPort && a.tunCsum === e.tunCsum) return true;
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
