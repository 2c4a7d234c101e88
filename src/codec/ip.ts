/**
 * IPv4 / IPv6 / TCP / UDP / ICMP constants and small header helpers (read, write, walk).
 * Pure, allocation-free; offsets are absolute positions in the buffer.
 */
import * as __checksum from './checksum.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { checksum, rd16, rd32, wr16, wr32 } = __checksum;

export const IPPROTO = {
  HOPOPTS: 0, ICMP: 1, IPIP: 4, TCP: 6, UDP: 17, IPV6: 41, ROUTING: 43, FRAGMENT: 44,
  ESP: 50, AH: 51, ICMPV6: 58, NONE: 59, DSTOPTS: 60, SCTP: 132,
} as const;

export const IPV4_HLEN = 20;
export const IPV6_HLEN = 40;
export const TCP_HLEN = 20;
export const UDP_HLEN = 8;
export const ICMP_HLEN = 8;

/** IPv4 fragment field bits. */
export const IP_DF = 0x4000;
export const IP_MF = 0x2000;
export const IP_OFFMASK = 0x1fff;

export const ICMP4 = {
  ECHO_REPLY: 0, DEST_UNREACH: 3, SOURCE_QUENCH: 4, REDIRECT: 5, ECHO_REQUEST: 8, TIME_EXCEEDED: 11, PARAMETER_PROB: 12,
  // codes for DEST_UNREACH
  NET_UNREACH: 0, HOST_UNREACH: 1, PROT_UNREACH: 2, PORT_UNREACH: 3, FRAG_NEEDED: 4,
  // code for TIME_EXCEEDED
  EXC_TTL: 0,
} as const;

export const ICMP6 = {
  DEST_UNREACH: 1, PKT_TOOBIG: 2, TIME_EXCEED: 3, PARAMPROB: 4, ECHO_REQUEST: 128, ECHO_REPLY: 129,
  // codes for DEST_UNREACH
  NOROUTE: 0, ADM_PROHIBITED: 1, ADDR_UNREACH: 3, PORT_UNREACH: 4,
  // code for TIME_EXCEED
  EXC_HOPLIMIT: 0,
} as const;

/** Is this an ICMPv4 error type (one that quotes an offending datagram)? */
export function isIcmp4Error(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

/** Is this an ICMPv6 error type (< 128 in the defined range 1..4)? */
export function isIcmp6Error(type: number): boolean {
  return type >= 1 && type <= 4;
}

/** Is `nh` an IPv6 extension header the walker steps over? */
export function isIpv6ExtHeader(nh: number): boolean {
  return nh === 0 || nh === 43 || nh === 44 || nh === 60 || nh === 51;
}

/** Result of an IPv6 extension-header walk (reusable). */
export interface Ipv6Walk {
  /** Final (upper-layer) protocol, or -1 on a malformed chain. */
  protocol: number;
  /** Absolute offset of the upper-layer header. */
  l4Off: number;
  /** Fragment header seen: offset in 8-byte units and M flag; -1 when none. */
  fragOffset: number;
  moreFrags: boolean;
  fragId: number;
}

/** Maximum extension headers walked before giving up (a chain longer than this is unsupported). */
export const IPV6_MAX_EXT = 8;

/**
 * Walks IPv6 extension headers starting with next-header `nh` at absolute `off`, bounded by
 * `end`. Returns false when a header is truncated or the chain is too long.
 */
export function walkIpv6(b: Uint8Array, nh: number, off: number, end: number, out: Ipv6Walk): boolean {
  out.protocol = -1;
  out.l4Off = off;
  out.fragOffset = -1;
  out.moreFrags = false;
  out.fragId = 0;
  for (let n = 0; n <= IPV6_MAX_EXT; n++) {
    if (!isIpv6ExtHeader(nh)) {
      out.protocol = nh;
      out.l4Off = off;
      return true;
    }
    if (off + 8 > end) return false;
    let hl: number;
    if (nh === IPPROTO.FRAGMENT) {
      const fo = rd16(b, off + 2);
      out.fragOffset = fo >>> 3;
      out.moreFrags = (fo & 1) === 1;
      out.fragId = rd32(b, off + 4);
      hl = 8;
    } else if (nh === IPPROTO.AH) {
      hl = (b[off + 1]! + 2) * 4;
    } else {
      hl = (b[off + 1]! + 1) * 8;
    }
    if (off + hl > end) return false;
    nh = b[off]!;
    off += hl;
  }
  return false;
}

/** Writes a 20-byte IPv4 header (no options) with its checksum; returns 20. */
export function writeIpv4Header(
  b: Uint8Array, off: number, tos: number, totalLen: number, id: number, fragField: number,
  ttl: number, protocol: number, src: number, dst: number,
): number {
  b[off] = 0x45;
  b[off + 1] = tos & 0xff;
  wr16(b, off + 2, totalLen);
  wr16(b, off + 4, id & 0xffff);
  wr16(b, off + 6, fragField & 0xffff);
  b[off + 8] = ttl & 0xff;
  b[off + 9] = protocol & 0xff;
  wr16(b, off + 10, 0);
  wr32(b, off + 12, src >>> 0);
  wr32(b, off + 16, dst >>> 0);
  wr16(b, off + 10, checksum(b, off, IPV4_HLEN));
  return IPV4_HLEN;
}

/** Writes a 40-byte IPv6 header; addresses as 4 host-order words each; returns 40. */
export function writeIpv6Header(
  b: Uint8Array, off: number, tclass: number, flowLabel: number, payloadLen: number, nextHeader: number,
  hopLimit: number, src: ArrayLike<number>, dst: ArrayLike<number>,
): number {
  wr32(b, off, ((6 << 28) | ((tclass & 0xff) << 20) | (flowLabel & 0xfffff)) >>> 0);
  wr16(b, off + 4, payloadLen);
  b[off + 6] = nextHeader & 0xff;
  b[off + 7] = hopLimit & 0xff;
  for (let i = 0; i < 4; i++) {
    wr32(b, off + 8 + 4 * i, src[i]! >>> 0);
    wr32(b, off + 24 + 4 * i, dst[i]! >>> 0);
  }
  return IPV6_HLEN;
}

/** Recomputes an IPv4 header checksum in place (header length from IHL). */
export function ipv4SetChecksum(b: Uint8Array, l3Off: number): void {
  const hl = (b[l3Off]! & 0x0f) * 4;
  wr16(b, l3Off + 10, 0);
  wr16(b, l3Off + 10, checksum(b, l3Off, hl));
}

/** Reads the four host-order words of an IPv6 address at `off` into `out`. */
export function readIpv6Words(b: Uint8Array, off: number, out: Uint32Array | number[]): void {
  out[0] = rd32(b, off);
  out[1] = rd32(b, off + 4);
  out[2] = rd32(b, off + 8);
  out[3] = rd32(b, off + 12);
}
