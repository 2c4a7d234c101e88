/**
 * Classify (pure, no I/O): which parsed frames the engine must see, as the engine's PacketIn.
 * TCP/UDP packets to a VIP (`in`) or from a NAT real server (`out`), and ICMP errors quoting
 * such a packet (the quoted tuple, swapped back, is what the engine looks up); everything else is
 * the kernel's business. The drivers (forwarder.ts, nfq-forwarder.ts) call it per frame.
 */
import type { Ip } from '../../core/addr.ts';
import type { MutablePacketIn } from '../../core/engine.ts';
import { TCP_FLAG } from '../../core/proto.ts';
import type { FrameMeta } from '../../codec/frame.ts';
import { IPPROTO } from '../../codec/ip.ts';

/**
 * What the engine decides on: its PacketIn, filled in place (`mark` is only non-zero on the
 * NFQUEUE path, AF_PACKET cannot see marks; `bytes` is the IP total length).
 */
export type PacketMeta = MutablePacketIn;

/** Set key of an IPv6 address given as 4 words (the forwarder's IPv6 VIP / RIP sets). */
export function key6(w: ArrayLike<number>): string {
  return `${w[0]! >>> 0}.${w[1]! >>> 0}.${w[2]! >>> 0}.${w[3]! >>> 0}`;
}

/** A set of IPv6 addresses as key6 strings (a Set, or every address on the NFQUEUE path). */
export interface AddrSet6 {
  has(k: string): boolean;
  readonly size: number;
}

/** IPv6 addresses the forwarder handles: VIPs (`in`) and NAT real servers (`out`), as key6 strings. */
export interface Addrs6 {
  readonly inAddrs: AddrSet6;
  readonly outAddrs: AddrSet6;
}

export const NO_ADDRS6: Addrs6 = { inAddrs: new Set(), outAddrs: new Set() };

/** IPv4 address sets (host-order u32): VIPs, and NAT real servers. */
export interface AddrSet {
  has(v: number): boolean;
}

function ipv4(v: number): Ip {
  return { af: 4, words: [v] };
}

/** Writes an IPv4 address into `ip` when it is a private IPv4 record, else returns a new one. */
function setIpv4(ip: Ip, v: number): Ip {
  if (ip.af === 4 && ip.words.length === 1) {
    (ip.words as number[])[0] = v;
    return ip;
  }
  return ipv4(v);
}

export function newMeta(): PacketMeta {
  return { dir: 'in', af: 4, protocol: 'tcp', saddr: ipv4(0), sport: 0, daddr: ipv4(0), dport: 0, tcpFlags: 0, bytes: 0, mark: 0 };
}

/**
 * Offers a parsed frame to the engine: fills `meta` and returns true when the packet is one of
 * ours (TCP/UDP to a VIP or from a NAT real server, or an ICMP error quoting such a packet).
 */
export function classify(m: FrameMeta, inAddrs: AddrSet, outAddrs: AddrSet, meta: PacketMeta, a6: Addrs6 = NO_ADDRS6): boolean {
  if (m.af === 6) return classify6(m, a6, meta);
  if (m.af !== 4) return false;
  const p = m.protocol;
  if (p === IPPROTO.TCP || p === IPPROTO.UDP) {
    const d = m.dst[0]!, s = m.src[0]!;
    if (inAddrs.has(d)) meta.dir = 'in';
    else if (outAddrs.has(s)) meta.dir = 'out';
    else return false;
    meta.protocol = p === IPPROTO.TCP ? 'tcp' : 'udp';
    meta.saddr = setIpv4(meta.saddr, s);
    meta.daddr = setIpv4(meta.daddr, d);
    meta.sport = m.sport;
    meta.dport = m.dport;
    meta.tcpFlags = m.tcpFlags;
  } else if (p === IPPROTO.ICMP && m.icmpError && m.innerAf === 4 && m.innerL4Off >= 0 &&
    (m.innerProtocol === IPPROTO.TCP || m.innerProtocol === IPPROTO.UDP)) {
    // The quoted packet is the other direction of the connection: swap it back.
    if (inAddrs.has(m.innerSrc[0]!)) meta.dir = 'in';
    else if (outAddrs.has(m.innerDst[0]!)) meta.dir = 'out';
    else return false;
    meta.protocol = m.innerProtocol === IPPROTO.TCP ? 'tcp' : 'udp';
    meta.saddr = setIpv4(meta.saddr, m.innerDst[0]!);
    meta.sport = m.innerDport;
    meta.daddr = setIpv4(meta.daddr, m.innerSrc[0]!);
    meta.dport = m.innerSport;
    // IPVS does not move TCP state on ICMP; ACK keeps an established connection where it is
    // (the engine has no ICMP entry point), and a missing connection is never created.
    meta.tcpFlags = TCP_FLAG.ACK;
  } else return false;
  meta.af = 4;
  meta.bytes = m.ipTotalLen;
  meta.mark = 0;
  return true;
}

function ip6(w: ArrayLike<number>): Ip {
  return { af: 6, words: [w[0]! >>> 0, w[1]! >>> 0, w[2]! >>> 0, w[3]! >>> 0] };
}

/** classify() for IPv6 frames (new address records per packet: IPv6 is the rarer path). */
function classify6(m: FrameMeta, a6: Addrs6, meta: PacketMeta): boolean {
  if (a6.inAddrs.size === 0 && a6.outAddrs.size === 0) return false;
  const p = m.protocol;
  if (p === IPPROTO.TCP || p === IPPROTO.UDP) {
    if (a6.inAddrs.has(key6(m.dst))) meta.dir = 'in';
    else if (a6.outAddrs.has(key6(m.src))) meta.dir = 'out';
    else return false;
    meta.protocol = p === IPPROTO.TCP ? 'tcp' : 'udp';
    meta.saddr = ip6(m.src);
    meta.daddr = ip6(m.dst);
    meta.sport = m.sport;
    meta.dport = m.dport;
    meta.tcpFlags = m.tcpFlags;
  } else if (p === IPPROTO.ICMPV6 && m.icmpError && m.innerAf === 6 && m.innerL4Off >= 0 &&
    (m.innerProtocol === IPPROTO.TCP || m.innerProtocol === IPPROTO.UDP)) {
    if (a6.inAddrs.has(key6(m.innerSrc))) meta.dir = 'in';
    else if (a6.outAddrs.has(key6(m.innerDst))) meta.dir = 'out';
    else return false;
    meta.protocol = m.innerProtocol === IPPROTO.TCP ? 'tcp' : 'udp';
    meta.saddr = ip6(m.innerDst);
    meta.sport = m.innerDport;
    meta.daddr = ip6(m.innerSrc);
    meta.dport = m.innerSport;
    meta.tcpFlags = TCP_FLAG.ACK;
  } else return false;
  meta.af = 6;
  meta.bytes = m.ipTotalLen;
  meta.mark = 0;
  return true;
}

/**
 * Whether a frame the parser refused (m.reason set) was addressed to a VIP or came from a NAT
 * real server, when its IPv4 header is long enough to tell: such frames are dropped and counted.
 */
export function malformedOurs(buf: Uint8Array, m: FrameMeta, inAddrs: AddrSet, outAddrs: AddrSet): boolean {
  if (m.etherType !== 0x0800) return false;
  const l3 = m.l3Off;
  if (l3 + 20 > m.off + m.len) return true; // too short to say: malformed for every receiver, counted
  const rd = (o: number) => ((buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!) >>> 0;
  return inAddrs.has(rd(l3 + 16)) || outAddrs.has(rd(l3 + 12));
}
