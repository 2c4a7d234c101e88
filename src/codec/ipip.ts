/**
 * IP-in-IP (RFC 2003 / RFC 2473): the encapsulation LVS uses for -i (tunnel) real servers.
 * Outer IPv4 protocol / IPv6 next header: 4 for an IPv4 inner packet, 41 for IPv6.
 *
 * Outer header fields follow the kernel's ip_vs_tunnel_xmit: TOS (DS field incl. ECN) and TTL
 * copied from the inner packet (after the forwarding TTL decrement), DF copied from the inner
 * IPv4 packet (IPv6 inner: DF set, as IPv6 must not be fragmented on the way), IPv4 ID copied
 * from the inner IPv4 packet (0 for IPv6 inner) so outputs are reproducible.
 */
import * as __checksum from './checksum.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { rd16, checksum } = __checksum;
import type { Ipv6Walk } from './ip.ts';
import * as __ip from './ip.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { IPPROTO, IPV4_HLEN, IPV6_HLEN, IP_DF, IP_MF, IP_OFFMASK, walkIpv6, writeIpv4Header, writeIpv6Header } = __ip;
import * as __frame from './frame.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { DropReason } = __frame;

export const IPIP_OVERHEAD4 = IPV4_HLEN;
export const IPIP_OVERHEAD6 = IPV6_HLEN;

/**
 * Writes the outer header ending exactly where the inner packet starts: the inner IP packet
 * (family `innerAf`, length `innerLen`) is at `innerOff`, the outer header is written at
 * `innerOff - (outerAf === 4 ? 20 : 40)`. `src`/`dst` are address words (Ip.words).
 * Returns the outer packet length.
 */
export function writeIpipOuter(
  b: Uint8Array, innerOff: number, innerLen: number, innerAf: number, outerAf: number,
  src: ArrayLike<number>, dst: ArrayLike<number>,
): number {
  return writeOuterIp(b, innerOff, innerLen, innerAf === 4 ? IPPROTO.IPIP : IPPROTO.IPV6, innerOff, innerAf, outerAf, src, dst);
}

/**
 * The outer IP header of any of the tunnel encapsulations (IPIP, GUE, GRE): written right before
 * the tunnel payload `b[payOff .. payOff+payLen)` (encapsulation headers + inner packet) with
 * protocol `proto`; TOS, TTL, DF and ID come from the inner packet at `innerOff` as described
 * at the top of this file. Returns the outer packet length.
 */
export function writeOuterIp(
  b: Uint8Array, payOff: number, payLen: number, proto: number, innerOff: number, innerAf: number, outerAf: number,
  src: ArrayLike<number>, dst: ArrayLike<number>,
): number {
  let tos: number, ttl: number, df: boolean, id: number;
  if (innerAf === 4) {
    tos = b[innerOff + 1]!;
    ttl = b[innerOff + 8]!;
    df = (rd16(b, innerOff + 6) & IP_DF) !== 0;
    id = rd16(b, innerOff + 4);
  } else {
    tos = ((b[innerOff]! & 0x0f) << 4) | (b[innerOff + 1]! >>> 4);
    ttl = b[innerOff + 7]!;
    df = true;
    id = 0;
  }
  if (outerAf === 4) {
    writeIpv4Header(b, payOff - IPV4_HLEN, tos, payLen + IPV4_HLEN, id, df ? IP_DF : 0, ttl, proto, src[0]!, dst[0]!);
    return payLen + IPV4_HLEN;
  }
  writeIpv6Header(b, payOff - IPV6_HLEN, tos, 0, payLen, proto, ttl, src, dst);
  return payLen + IPV6_HLEN;
}

/**
 * Copies an inner IP packet into `out` behind a fresh outer header (for callers without headroom).
 * Returns the outer packet length.
 */
export function ipipEncapsulate(
  out: Uint8Array, outOff: number, inner: Uint8Array, innerOff: number, innerLen: number, innerAf: number,
  outerAf: number, src: ArrayLike<number>, dst: ArrayLike<number>,
): number {
  const hl = outerAf === 4 ? IPV4_HLEN : IPV6_HLEN;
  out.set(inner.subarray(innerOff, innerOff + innerLen), outOff + hl);
  return writeIpipOuter(out, outOff + hl, innerLen, innerAf, outerAf, src, dst);
}

/** Where the inner packet of an IPIP packet is (reusable result). */
export interface IpipInner {
  innerOff: number;
  innerLen: number;
  innerAf: number;
  /** Outer source address words (the director), for agents that check it. */
  outerSrc: Uint32Array;
}

export function createIpipInner(): IpipInner {
  return { innerOff: 0, innerLen: 0, innerAf: 0, outerSrc: new Uint32Array(4) };
}

const walk: Ipv6Walk = { protocol: -1, l4Off: 0, fragOffset: -1, moreFrags: false, fragId: 0 };

/** Where an outer IP packet's payload is (reusable result of `readOuterIp`). */
export interface OuterIp {
  /** IPv4 protocol / IPv6 upper-layer next header. */
  proto: number;
  /** Payload start and end (absolute offsets). */
  payOff: number;
  payEnd: number;
}

export function createOuterIp(): OuterIp {
  return { proto: 0, payOff: 0, payEnd: 0 };
}

/**
 * Validates the outer IP header at `b[off .. off+len)` (version, lengths, IPv4 header checksum, no
 * fragments), fills `o` and the outer source words in `res.outerSrc`. Returns 0 or a DropReason.
 */
export function readOuterIp(b: Uint8Array, off: number, len: number, o: OuterIp, res: IpipInner): number {
  if (!(off >= 0) || !(len >= 0) || off + len > b.length) return DropReason.BAD_OFFSET;
  if (len < 1) return DropReason.TRUNCATED_IP;
  const v = b[off]! >>> 4;
  if (v === 4) {
    if (len < IPV4_HLEN) return DropReason.TRUNCATED_IP;
    const hl = (b[off]! & 0x0f) * 4;
    if (hl < IPV4_HLEN) return DropReason.BAD_IHL;
    const tot = rd16(b, off + 2);
    if (tot > len) return DropReason.BAD_TOTAL_LEN;
    if (hl > tot) return DropReason.BAD_IHL;
    if (checksum(b, off, hl) !== 0) return DropReason.BAD_IP_CSUM;
    if ((rd16(b, off + 6) & (IP_MF | IP_OFFMASK)) !== 0) return DropReason.FRAGMENT;
    o.proto = b[off + 9]!;
    o.payOff = off + hl;
    o.payEnd = off + tot;
    res.outerSrc[0] = ((b[off + 12]! << 24) | (b[off + 13]! << 16) | (b[off + 14]! << 8) | b[off + 15]!) >>> 0;
    res.outerSrc[1] = res.outerSrc[2] = res.outerSrc[3] = 0;
    return 0;
  }
  if (v === 6) {
    if (len < IPV6_HLEN) return DropReason.TRUNCATED_IP;
    const tot = IPV6_HLEN + rd16(b, off + 4);
    if (tot > len) return DropReason.BAD_TOTAL_LEN;
    if (!walkIpv6(b, b[off + 6]!, off + IPV6_HLEN, off + tot, walk)) return DropReason.TRUNCATED_IP;
    if (walk.fragOffset > 0 || walk.moreFrags) return DropReason.FRAGMENT;
    o.proto = walk.protocol;
    o.payOff = walk.l4Off;
    o.payEnd = off + tot;
    for (let i = 0; i < 4; i++) {
      const a = off + 8 + 4 * i;
      res.outerSrc[i] = ((b[a]! << 24) | (b[a + 1]! << 16) | (b[a + 2]! << 8) | b[a + 3]!) >>> 0;
    }
    return 0;
  }
  return DropReason.BAD_VERSION;
}

/**
 * Validates an inner IP packet of family `iv` (4 or 6) at `b[inner .. end)` and fills `res`
 * (its total length may be shorter than the space: link padding). Returns 0 or a DropReason.
 */
export function readInnerIp(b: Uint8Array, inner: number, end: number, iv: number, res: IpipInner): number {
  const ilen = end - inner;
  if (ilen < (iv === 4 ? IPV4_HLEN : IPV6_HLEN)) return DropReason.TRUNCATED_IP;
  if (b[inner]! >>> 4 !== iv) return DropReason.BAD_VERSION;
  const itot = iv === 4 ? rd16(b, inner + 2) : IPV6_HLEN + rd16(b, inner + 4);
  if (itot > ilen) return DropReason.BAD_TOTAL_LEN;
  res.innerOff = inner;
  res.innerLen = itot;
  res.innerAf = iv;
  return 0;
}

const outer = createOuterIp();

/**
 * Decapsulates an IP packet starting at its (outer) IP header `b[off .. off+len)` — what a raw
 * socket for protocol 4/41 receives on the real server. Returns 0 and fills `res`, or a DropReason.
 * Never throws.
 */
export function ipipDecapsulate(b: Uint8Array, off: number, len: number, res: IpipInner): number {
  const r = readOuterIp(b, off, len, outer, res);
  if (r !== 0) return r;
  const proto = outer.proto;
  if (proto !== IPPROTO.IPIP && proto !== IPPROTO.IPV6) return DropReason.UNSUPPORTED;
  return readInnerIp(b, outer.payOff, outer.payEnd, proto === IPPROTO.IPIP ? 4 : 6, res);
}

/**
 * The inner packet of an IPIP/IP6IP6 datagram received on a raw IPv6 socket for protocol 41
 * (`innerAf` 6) or 4 (`innerAf` 4): IPv6 raw sockets deliver the payload only, which is the
 * inner packet itself. Returns 0 and fills `res` (outerSrc left alone), or a DropReason.
 */
export function ipipPayloadDecapsulate(b: Uint8Array, off: number, len: number, innerAf: 4 | 6, res: IpipInner): number {
  if (!(off >= 0) || !(len >= 0) || off + len > b.length) return DropReason.BAD_OFFSET;
  return readInnerIp(b, off, off + len, innerAf, res);
}
