/**
 * ICMP / ICMPv6 error builders (RFC 792, 1191, 4443, 8201): destination/port unreachable,
 * fragmentation needed (with next-hop MTU), packet too big, time exceeded. They quote the
 * offending datagram as the kernel's icmp_send / icmp6_send do: v4 up to a 576-byte reply,
 * v6 up to a 1280-byte reply. The reply's IP source is chosen by the caller (the director
 * answers from the address the client talked to: the VIP), TTL/hop limit 64, TOS 0xc0
 * (internetwork control, as Linux icmp_send sets for errors), DF clear, IP ID 0.
 *
 * Parsing of errors (the quoted inner packet, for "related connection" lookups) is part of
 * `parseFrame` in ./frame.ts.
 */
import * as __checksum from './checksum.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { checksum, pseudoSum6, wr16, wr32 } = __checksum;
import * as __ethernet from './ethernet.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { ETHERTYPE, writeEthernet } = __ethernet;
import type { FrameMeta } from './frame.ts';
import * as __ip from './ip.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { ICMP_HLEN, ICMP4, ICMP6, IPPROTO, IPV4_HLEN, IPV6_HLEN, writeIpv4Header, writeIpv6Header } = __ip;

export const ICMP4_MAX_REPLY = 576;
export const ICMP6_MAX_REPLY = 1280;
export const ICMP_REPLY_TTL = 64;
export const ICMP_REPLY_TOS = 0xc0;

/**
 * Writes an IPv4 packet carrying an ICMP error at `out[o]`. `rest` is the second 32-bit word
 * of the ICMP header (next-hop MTU in its low 16 bits for FRAG_NEEDED, else 0). Quotes up to
 * 548 bytes of `orig[origOff .. origOff+origLen)` (which may overlap `out`). Returns the IP length.
 */
export function writeIcmp4Error(
  out: Uint8Array, o: number, type: number, code: number, rest: number, src: number, dst: number,
  orig: Uint8Array, origOff: number, origLen: number,
): number {
  const q = Math.min(origLen, ICMP4_MAX_REPLY - IPV4_HLEN - ICMP_HLEN);
  const l4 = o + IPV4_HLEN;
  out.set(orig.subarray(origOff, origOff + q), l4 + ICMP_HLEN);
  out[l4] = type;
  out[l4 + 1] = code;
  wr16(out, l4 + 2, 0);
  wr32(out, l4 + 4, rest >>> 0);
  wr16(out, l4 + 2, checksum(out, l4, ICMP_HLEN + q));
  const total = IPV4_HLEN + ICMP_HLEN + q;
  writeIpv4Header(out, o, ICMP_REPLY_TOS, total, 0, 0, ICMP_REPLY_TTL, IPPROTO.ICMP, src, dst);
  return total;
}

/** Writes an IPv6 packet carrying an ICMPv6 error (`rest` = MTU for PKT_TOOBIG). Returns the IP length. */
export function writeIcmp6Error(
  out: Uint8Array, o: number, type: number, code: number, rest: number, src: ArrayLike<number>, dst: ArrayLike<number>,
  orig: Uint8Array, origOff: number, origLen: number,
): number {
  const q = Math.min(origLen, ICMP6_MAX_REPLY - IPV6_HLEN - ICMP_HLEN);
  const l4 = o + IPV6_HLEN;
  out.set(orig.subarray(origOff, origOff + q), l4 + ICMP_HLEN);
  const plen = ICMP_HLEN + q;
  writeIpv6Header(out, o, 0, 0, plen, IPPROTO.ICMPV6, ICMP_REPLY_TTL, src, dst);
  out[l4] = type;
  out[l4 + 1] = code;
  wr16(out, l4 + 2, 0);
  wr32(out, l4 + 4, rest >>> 0);
  wr16(out, l4 + 2, checksum(out, l4, plen, pseudoSum6(out, o + 8, o + 24, IPPROTO.ICMPV6, plen)));
  return IPV6_HLEN + plen;
}

/** The kinds of error the director sends back. */
export const IcmpErrorKind = { PORT_UNREACH: 1, FRAG_NEEDED: 2, TIME_EXCEEDED: 3 } as const;

/**
 * Builds a whole Ethernet frame at `out[outOff]` answering the (well-formed IP) frame described by
 * `meta` in `buf` with an ICMP error of `kind`, back to its sender: Ethernet addresses swapped,
 * same 802.1Q tag, IP source `src` (words; default the packet's own destination, i.e. the VIP).
 * `mtu` is the next-hop MTU for FRAG_NEEDED (v4) / PKT_TOOBIG (v6). Returns the frame length.
 * `out` may be `buf` only when the regions do not overlap; use a scratch buffer.
 */
export function buildIcmpErrorFrame(
  out: Uint8Array, outOff: number, buf: Uint8Array, meta: FrameMeta, kind: number, mtu = 0, src?: ArrayLike<number>,
): number {
  const s = src ?? meta.dst;
  // Swap MACs: copy source MAC first (the regions are distinct buffers or distinct places).
  const so = meta.off;
  const v6 = meta.af === 6;
  const eh = writeEthernet(out, outOff, buf.subarray(so + 6, so + 12), buf.subarray(so, so + 6), v6 ? ETHERTYPE.IPV6 : ETHERTYPE.IPV4, meta.vlanTci);
  const ipOff = outOff + eh;
  let n: number;
  if (!v6) {
    let type: number = ICMP4.DEST_UNREACH, code: number = ICMP4.PORT_UNREACH, rest = 0;
    if (kind === IcmpErrorKind.FRAG_NEEDED) { code = ICMP4.FRAG_NEEDED; rest = mtu & 0xffff; }
    else if (kind === IcmpErrorKind.TIME_EXCEEDED) { type = ICMP4.TIME_EXCEEDED; code = ICMP4.EXC_TTL; }
    n = writeIcmp4Error(out, ipOff, type, code, rest, s[0]!, meta.src[0]!, buf, meta.l3Off, meta.ipTotalLen);
  } else {
    let type: number = ICMP6.DEST_UNREACH, code: number = ICMP6.PORT_UNREACH, rest = 0;
    if (kind === IcmpErrorKind.FRAG_NEEDED) { type = ICMP6.PKT_TOOBIG; code = 0; rest = mtu; }
    else if (kind === IcmpErrorKind.TIME_EXCEEDED) { type = ICMP6.TIME_EXCEED; code = ICMP6.EXC_HOPLIMIT; }
    n = writeIcmp6Error(out, ipOff, type, code, rest, s, meta.src, buf, meta.l3Off, meta.ipTotalLen);
  }
  return eh + n;
}
