/**
 * `parseFrame`: one pass over an Ethernet frame into a flat, reusable metadata object.
 *
 * Never throws and never allocates (when a meta object is passed in): any input, including
 * garbage offsets, yields either `reason === 0` (well formed, fields valid) or a non-zero
 * `reason` from `DropReason` saying why the frame cannot be forwarded.
 *
 * Addresses are host-order u32 words compatible with src/core/addr.ts `Ip.words`: IPv4 uses
 * `src[0]`/`dst[0]`, IPv6 all four. Offsets (`l3Off`, `l4Off`, inner ones) are absolute
 * positions in the buffer, so the forwarding step can rewrite in place.
 *
 * What is checked (what a router's ip_rcv / ipv6_rcv would check, plus what the L4 rewrite
 * needs): Ethernet and one 802.1Q tag; IPv4 version, IHL ≥ 5, total length within the frame
 * and ≥ IHL, header checksum; IPv6 version, payload length within the frame (no jumbograms),
 * the extension-header chain; fragments (IPv4 MF/offset, IPv6 non-atomic fragment header) are
 * refused with FRAGMENT (no reassembly here); IPv4 options are parsed over (the L4 header is
 * found from IHL) and kept; TCP data offset; UDP length; UDP over IPv6 with a zero checksum
 * (forbidden by RFC 8200) is refused; ICMP/ICMPv6 errors have their quoted inner IP header and
 * ports parsed for "related connection" lookups.
 */
import * as __ethernet from './ethernet.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { ETHERTYPE, ETH_HLEN, VLAN_HLEN } = __ethernet;
import * as __checksum from './checksum.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { checksum, rd16, rd32 } = __checksum;
import type { Ipv6Walk } from './ip.ts';
import * as __ip from './ip.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { ICMP_HLEN, IPPROTO, IPV4_HLEN, IPV6_HLEN, IP_MF, IP_OFFMASK, IP_DF, TCP_HLEN, UDP_HLEN, isIcmp4Error, isIcmp6Error, walkIpv6 } = __ip;

/** Why a frame was not forwarded. 0 = no reason (well formed / forwarded). */
export const DropReason = {
  NONE: 0,
  TRUNCATED_ETH: 1,
  TRUNCATED_IP: 2,
  TRUNCATED_L4: 3,
  BAD_IHL: 4,
  BAD_TOTAL_LEN: 5,
  BAD_VERSION: 6,
  BAD_IP_CSUM: 7,
  FRAGMENT: 8,
  UNSUPPORTED: 9,
  BAD_L4_LEN: 10,
  UDP6_ZERO_CSUM: 11,
  BAD_ICMP_INNER: 12,
  BAD_OFFSET: 13,
  TTL_EXPIRED: 14,
  TOO_BIG: 15,
  NO_ROOM: 16,
  BAD_DECISION: 17,
  NOT_RELATED: 18,
  /** Tunnel decapsulation (real-server agents): a bad GRE checksum. */
  BAD_TUNNEL_CSUM: 19,
  /** virtio-net header (PACKET_VNET_HDR, src/codec/offload.ts): a flag we do not know. */
  VNET_BAD_FLAGS: 20,
  /** virtio-net header: a GSO type we cannot segment, or one that does not match the packet. */
  VNET_BAD_GSO: 21,
  /** virtio-net header: a partial checksum that is not the TCP/UDP checksum of this packet. */
  VNET_BAD_CSUM: 22,
  /** Longer than a ring frame and not copied whole (the socket's receive buffer was full). */
  GIANT: 23,
} as const;
export type DropReasonCode = (typeof DropReason)[keyof typeof DropReason];
export const DROP_REASON_COUNT = 24;
export const DROP_REASON_NAMES: readonly string[] = (() => {
  const names: string[] = [];
  for (const [k, v] of Object.entries(DropReason)) names[v] = k.toLowerCase().replace(/_/g, '-');
  return names;
})();

/** What the frame carries. */
export const FrameKind = { NONE: 0, IP: 1, ARP: 2 } as const;

/** Flat metadata of one frame; create once per worker with `createFrameMeta()` and reuse. */
export interface FrameMeta {
  /** 0 when well formed; otherwise a DropReason. */
  reason: number;
  kind: number;
  /** Frame start and length as given. */
  off: number;
  len: number;
  etherType: number;
  /** 802.1Q TCI or -1. */
  vlanTci: number;
  /** 4 or 6 for IP frames, 0 otherwise. */
  af: number;
  l3Off: number;
  /** IPv4 header length incl. options; IPv6 40 (extension headers counted in l4Off). */
  l3HdrLen: number;
  /** IPv4 total length / IPv6 40 + payload length: the IP packet length (Ethernet padding excluded). */
  ipTotalLen: number;
  /** Upper-layer protocol after any IPv6 extension headers. */
  protocol: number;
  l4Off: number;
  /** Bytes from l4Off to the end of the IP packet. */
  l4Len: number;
  ttl: number;
  tos: number;
  ipId: number;
  /** IPv4 DF bit (IPv6: always false; routers never fragment v6). */
  df: boolean;
  moreFrags: boolean;
  /** Fragment offset in 8-byte units (0 for unfragmented). */
  fragOffset: number;
  /** IPv4: src[0]; IPv6: four words. */
  src: Uint32Array;
  dst: Uint32Array;
  sport: number;
  dport: number;
  /** TCP flags byte (FIN 1 SYN 2 RST 4 PSH 8 ACK 16 URG 32 ECE 64 CWR 128), 0 for non-TCP. */
  tcpFlags: number;
  /** TCP header length incl. options (0 for non-TCP). */
  l4HdrLen: number;
  /** ICMP/ICMPv6 type and code, -1 for non-ICMP. */
  icmpType: number;
  icmpCode: number;
  /** ICMP error quoting an inner packet (parsed below). */
  icmpError: boolean;
  innerAf: number;
  innerL3Off: number;
  innerL3HdrLen: number;
  innerProtocol: number;
  /** -1 when the quoted datagram is too short for ports or carries no ports. */
  innerL4Off: number;
  innerSrc: Uint32Array;
  innerDst: Uint32Array;
  innerSport: number;
  innerDport: number;
  /** Inner packet is a non-first fragment (no ports). */
  innerFrag: boolean;
}

export function createFrameMeta(): FrameMeta {
  return {
    reason: 0, kind: 0, off: 0, len: 0, etherType: -1, vlanTci: -1, af: 0, l3Off: 0, l3HdrLen: 0, ipTotalLen: 0,
    protocol: -1, l4Off: 0, l4Len: 0, ttl: 0, tos: 0, ipId: 0, df: false, moreFrags: false, fragOffset: 0,
    src: new Uint32Array(4), dst: new Uint32Array(4), sport: 0, dport: 0, tcpFlags: 0, l4HdrLen: 0,
    icmpType: -1, icmpCode: -1, icmpError: false, innerAf: 0, innerL3Off: -1, innerL3HdrLen: 0, innerProtocol: -1,
    innerL4Off: -1, innerSrc: new Uint32Array(4), innerDst: new Uint32Array(4), innerSport: 0, innerDport: 0,
    innerFrag: false,
  };
}

const defaultMeta = createFrameMeta();
const walk: Ipv6Walk = { protocol: -1, l4Off: 0, fragOffset: -1, moreFrags: false, fragId: 0 };

function reset(m: FrameMeta, off: number, len: number): void {
  m.reason = 0; m.kind = 0; m.off = off; m.len = len; m.etherType = -1; m.vlanTci = -1; m.af = 0;
  m.l3Off = 0; m.l3HdrLen = 0; m.ipTotalLen = 0; m.protocol = -1; m.l4Off = 0; m.l4Len = 0; m.ttl = 0;
  m.tos = 0; m.ipId = 0; m.df = false; m.moreFrags = false; m.fragOffset = 0;
  m.src[0] = m.src[1] = m.src[2] = m.src[3] = 0;
  m.dst[0] = m.dst[1] = m.dst[2] = m.dst[3] = 0;
  m.sport = 0; m.dport = 0; m.tcpFlags = 0; m.l4HdrLen = 0; m.icmpType = -1; m.icmpCode = -1;
  m.icmpError = false; m.innerAf = 0; m.innerL3Off = -1; m.innerL3HdrLen = 0; m.innerProtocol = -1; m.innerL4Off = -1;
  m.innerSrc[0] = m.innerSrc[1] = m.innerSrc[2] = m.innerSrc[3] = 0;
  m.innerDst[0] = m.innerDst[1] = m.innerDst[2] = m.innerDst[3] = 0;
  m.innerSport = 0; m.innerDport = 0; m.innerFrag = false;
}

function fail(m: FrameMeta, r: number): FrameMeta {
  m.reason = r;
  return m;
}

/**
 * Parses the frame `buf[offset .. offset+len)`. Returns `meta` (the shared default one when not
 * given), with `meta.reason === 0` when the frame is well formed.
 */
export function parseFrame(buf: Uint8Array, offset: number, len: number, meta: FrameMeta = defaultMeta): FrameMeta {
  const m = meta;
  reset(m, offset, len);
  if ((offset >>> 0) !== offset || (len >>> 0) !== len || offset + len > buf.length) {
    return fail(m, DropReason.BAD_OFFSET);
  }
  if (len < ETH_HLEN) return fail(m, DropReason.TRUNCATED_ETH);
  let et = rd16(buf, offset + 12);
  let l3 = offset + ETH_HLEN;
  if (et === ETHERTYPE.VLAN) {
    if (len < ETH_HLEN + VLAN_HLEN) return fail(m, DropReason.TRUNCATED_ETH);
    m.vlanTci = rd16(buf, offset + 14);
    et = rd16(buf, offset + 16);
    l3 += VLAN_HLEN;
  }
  m.etherType = et;
  m.l3Off = l3;
  const end = offset + len;
  if (et === ETHERTYPE.ARP) {
    m.kind = FrameKind.ARP;
    if (end - l3 < 28) return fail(m, DropReason.TRUNCATED_IP);
    return m;
  }
  if (et === ETHERTYPE.IPV4) return parseIpv4(buf, l3, end, m);
  if (et === ETHERTYPE.IPV6) return parseIpv6(buf, l3, end, m);
  return fail(m, DropReason.UNSUPPORTED);
}

function parseIpv4(b: Uint8Array, l3: number, end: number, m: FrameMeta): FrameMeta {
  m.kind = FrameKind.IP;
  const avail = end - l3;
  if (avail < 1) return fail(m, DropReason.TRUNCATED_IP);
  if (b[l3]! >>> 4 !== 4) return fail(m, DropReason.BAD_VERSION);
  m.af = 4;
  if (avail < IPV4_HLEN) return fail(m, DropReason.TRUNCATED_IP);
  const hl = (b[l3]! & 0x0f) * 4;
  if (hl < IPV4_HLEN) return fail(m, DropReason.BAD_IHL);
  const tot = rd16(b, l3 + 2);
  if (tot > avail) return fail(m, hl > avail ? DropReason.TRUNCATED_IP : DropReason.BAD_TOTAL_LEN);
  if (hl > tot) return fail(m, DropReason.BAD_IHL);
  m.l3HdrLen = hl;
  m.ipTotalLen = tot;
  m.tos = b[l3 + 1]!;
  m.ipId = rd16(b, l3 + 4);
  const ff = rd16(b, l3 + 6);
  m.df = (ff & IP_DF) !== 0;
  m.moreFrags = (ff & IP_MF) !== 0;
  m.fragOffset = ff & IP_OFFMASK;
  m.ttl = b[l3 + 8]!;
  m.protocol = b[l3 + 9]!;
  m.src[0] = rd32(b, l3 + 12);
  m.dst[0] = rd32(b, l3 + 16);
  m.l4Off = l3 + hl;
  m.l4Len = tot - hl;
  if (checksum(b, l3, hl) !== 0) return fail(m, DropReason.BAD_IP_CSUM);
  if (m.moreFrags || m.fragOffset !== 0) return fail(m, DropReason.FRAGMENT);
  return parseL4(b, m, false);
}

function parseIpv6(b: Uint8Array, l3: number, end: number, m: FrameMeta): FrameMeta {
  m.kind = FrameKind.IP;
  const avail = end - l3;
  if (avail < 1) return fail(m, DropReason.TRUNCATED_IP);
  if (b[l3]! >>> 4 !== 6) return fail(m, DropReason.BAD_VERSION);
  m.af = 6;
  if (avail < IPV6_HLEN) return fail(m, DropReason.TRUNCATED_IP);
  const plen = rd16(b, l3 + 4);
  if (plen === 0) return fail(m, DropReason.BAD_TOTAL_LEN); // jumbogram or empty: not forwarded here
  const tot = IPV6_HLEN + plen;
  if (tot > avail) return fail(m, DropReason.BAD_TOTAL_LEN);
  m.l3HdrLen = IPV6_HLEN;
  m.ipTotalLen = tot;
  m.tos = ((b[l3]! & 0x0f) << 4) | (b[l3 + 1]! >>> 4);
  m.ttl = b[l3 + 7]!;
  for (let i = 0; i < 4; i++) {
    m.src[i] = rd32(b, l3 + 8 + 4 * i);
    m.dst[i] = rd32(b, l3 + 24 + 4 * i);
  }
  if (!walkIpv6(b, b[l3 + 6]!, l3 + IPV6_HLEN, l3 + tot, walk)) return fail(m, DropReason.TRUNCATED_IP);
  m.protocol = walk.protocol;
  m.l4Off = walk.l4Off;
  m.l4Len = l3 + tot - walk.l4Off;
  if (walk.fragOffset >= 0) {
    m.fragOffset = walk.fragOffset;
    m.moreFrags = walk.moreFrags;
    m.ipId = walk.fragId;
    if (walk.fragOffset !== 0 || walk.moreFrags) return fail(m, DropReason.FRAGMENT);
  }
  return parseL4(b, m, true);
}

function parseL4(b: Uint8Array, m: FrameMeta, v6: boolean): FrameMeta {
  const p = m.protocol;
  const l4 = m.l4Off;
  const l4len = m.l4Len;
  if (p === IPPROTO.TCP) {
    if (l4len < TCP_HLEN) return fail(m, DropReason.TRUNCATED_L4);
    const doff = (b[l4 + 12]! >>> 4) * 4;
    if (doff < TCP_HLEN || doff > l4len) return fail(m, DropReason.TRUNCATED_L4);
    m.sport = rd16(b, l4);
    m.dport = rd16(b, l4 + 2);
    m.tcpFlags = b[l4 + 13]!;
    m.l4HdrLen = doff;
    return m;
  }
  if (p === IPPROTO.UDP) {
    if (l4len < UDP_HLEN) return fail(m, DropReason.TRUNCATED_L4);
    const ulen = rd16(b, l4 + 4);
    if (ulen < UDP_HLEN || ulen > l4len) return fail(m, DropReason.BAD_L4_LEN);
    m.sport = rd16(b, l4);
    m.dport = rd16(b, l4 + 2);
    m.l4HdrLen = UDP_HLEN;
    if (v6 && rd16(b, l4 + 6) === 0) return fail(m, DropReason.UDP6_ZERO_CSUM);
    return m;
  }
  if (p === IPPROTO.SCTP) {
    if (l4len < 12) return fail(m, DropReason.TRUNCATED_L4);
    m.sport = rd16(b, l4);
    m.dport = rd16(b, l4 + 2);
    m.l4HdrLen = 12;
    return m;
  }
  if ((p === IPPROTO.ICMP && !v6) || (p === IPPROTO.ICMPV6 && v6)) {
    if (l4len < ICMP_HLEN) return fail(m, DropReason.TRUNCATED_L4);
    m.icmpType = b[l4]!;
    m.icmpCode = b[l4 + 1]!;
    m.l4HdrLen = ICMP_HLEN;
    if (v6 ? isIcmp6Error(m.icmpType) : isIcmp4Error(m.icmpType)) {
      m.icmpError = true;
      return parseInner(b, m, l4 + ICMP_HLEN, l4 + l4len, v6);
    }
    // Echo: the identifier stands in for a port (sport = dport = id).
    m.sport = m.dport = rd16(b, l4 + 4);
    return m;
  }
  return m; // other protocols: well formed at L3, no ports
}

/** Parses the datagram quoted in an ICMP error (may be truncated after the L4 ports). */
function parseInner(b: Uint8Array, m: FrameMeta, ip: number, end: number, v6: boolean): FrameMeta {
  const avail = end - ip;
  m.innerL3Off = ip;
  if (!v6) {
    if (avail < IPV4_HLEN || b[ip]! >>> 4 !== 4) return fail(m, DropReason.BAD_ICMP_INNER);
    const hl = (b[ip]! & 0x0f) * 4;
    if (hl < IPV4_HLEN || hl > avail) return fail(m, DropReason.BAD_ICMP_INNER);
    m.innerAf = 4;
    m.innerL3HdrLen = hl;
    m.innerProtocol = b[ip + 9]!;
    m.innerSrc[0] = rd32(b, ip + 12);
    m.innerDst[0] = rd32(b, ip + 16);
    if ((rd16(b, ip + 6) & IP_OFFMASK) !== 0) {
      m.innerFrag = true;
      return m;
    }
    return innerPorts(b, m, ip + hl, end);
  }
  if (avail < IPV6_HLEN || b[ip]! >>> 4 !== 6) return fail(m, DropReason.BAD_ICMP_INNER);
  m.innerAf = 6;
  m.innerL3HdrLen = IPV6_HLEN;
  for (let i = 0; i < 4; i++) {
    m.innerSrc[i] = rd32(b, ip + 8 + 4 * i);
    m.innerDst[i] = rd32(b, ip + 24 + 4 * i);
  }
  if (!walkIpv6(b, b[ip + 6]!, ip + IPV6_HLEN, end, walk)) {
    m.innerProtocol = -1; // quoted chain cut short: related lookup impossible
    return fail(m, DropReason.BAD_ICMP_INNER);
  }
  m.innerProtocol = walk.protocol;
  if (walk.fragOffset > 0) {
    m.innerFrag = true;
    return m;
  }
  return innerPorts(b, m, walk.l4Off, end);
}

function innerPorts(b: Uint8Array, m: FrameMeta, l4: number, end: number): FrameMeta {
  const p = m.innerProtocol;
  if (p === IPPROTO.TCP || p === IPPROTO.UDP || p === IPPROTO.SCTP) {
    if (end - l4 < 4) return fail(m, DropReason.BAD_ICMP_INNER);
    m.innerL4Off = l4;
    m.innerSport = rd16(b, l4);
    m.innerDport = rd16(b, l4 + 2);
  }
  return m;
}
