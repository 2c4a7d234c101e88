/**
 * GRE (RFC 2784, RFC 2890 key/sequence on receive), as LVS uses it for
 * `ipvsadm -i --tun-type gre [--tun-csum]` (net/netfilter/ipvs/ip_vs_xmit.c ipvs_gre_encap):
 *
 *   outer IPv4/IPv6 (protocol 47) | GRE | inner IP packet
 *
 * GRE header: flags/version word (C = 0x8000 with `--tun-csum`, version 0), protocol type 0x0800
 * (inner IPv4) or 0x86DD (inner IPv6); with C the checksum (over the GRE header and payload,
 * RFC 1071, no pseudo-header) and 16 reserved bits follow: 4 bytes, or 8 with the checksum.
 * No key, no sequence number. Outer IP header fields as ./ipip.ts.
 */
import * as __checksum from './checksum.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { checksum, rd16, wr16 } = __checksum;
import * as __ip from './ip.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { IPV4_HLEN, IPV6_HLEN } = __ip;
import * as __ipip from './ipip.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { createOuterIp, readInnerIp, readOuterIp, writeOuterIp } = __ipip;
import type { IpipInner } from './ipip.ts';
import * as __frame from './frame.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { DropReason } = __frame;

export const IPPROTO_GRE = 47;
export const GRE_HLEN = 4;
export const GRE_CSUM_HLEN = 8;
export const GRE_FLAGS = { CSUM: 0x8000, ROUTING: 0x4000, KEY: 0x2000, SEQ: 0x1000, VERSION: 0x0007 } as const;
export const ETH_P = { IPV4: 0x0800, IPV6: 0x86dd } as const;

/** GRE header length for the checksum flag. */
export function greHeaderLen(csum: boolean): number {
  return csum ? GRE_CSUM_HLEN : GRE_HLEN;
}

/** Outer IP + GRE header bytes. */
export function greOverhead(outerAf: number, csum: boolean): number {
  return (outerAf === 4 ? IPV4_HLEN : IPV6_HLEN) + greHeaderLen(csum);
}

/**
 * Writes outer IP + GRE ending exactly where the inner packet (family `innerAf`, length
 * `innerLen`) starts at `innerOff`; the outer IP header starts at
 * `innerOff - greOverhead(outerAf, csum)`. Returns the outer packet length.
 */
export function writeGreOuter(
  b: Uint8Array, innerOff: number, innerLen: number, innerAf: number, outerAf: number,
  src: ArrayLike<number>, dst: ArrayLike<number>, csum: boolean,
): number {
  const hl = greHeaderLen(csum);
  const g = innerOff - hl;
  wr16(b, g, csum ? GRE_FLAGS.CSUM : 0);
  wr16(b, g + 2, innerAf === 4 ? ETH_P.IPV4 : ETH_P.IPV6);
  if (csum) {
    wr16(b, g + 4, 0);
    wr16(b, g + 6, 0);
    wr16(b, g + 4, checksum(b, g, hl + innerLen));
  }
  return writeOuterIp(b, g, hl + innerLen, IPPROTO_GRE, innerOff, innerAf, outerAf, src, dst);
}

/** Copies an inner IP packet into `out` behind fresh outer IP + GRE headers. Returns the outer length. */
export function greEncapsulate(
  out: Uint8Array, outOff: number, inner: Uint8Array, innerOff: number, innerLen: number, innerAf: number,
  outerAf: number, src: ArrayLike<number>, dst: ArrayLike<number>, csum: boolean,
): number {
  const hl = greOverhead(outerAf, csum);
  out.set(inner.subarray(innerOff, innerOff + innerLen), outOff + hl);
  return writeGreOuter(out, outOff + hl, innerLen, innerAf, outerAf, src, dst, csum);
}

const outer = createOuterIp();

/**
 * Decapsulates a GRE packet starting at its outer IP header `b[off .. off+len)` — what a raw
 * socket for protocol 47 receives on the real server. Accepts version 0 with the checksum (verified),
 * key and sequence fields (skipped); routing (RFC 1701) and other versions are UNSUPPORTED, as
 * are protocol types other than IPv4/IPv6. A bad GRE checksum is BAD_TUNNEL_CSUM.
 * Returns 0 and fills `res`, or a DropReason. Never throws.
 */
export function greDecapsulate(b: Uint8Array, off: number, len: number, res: IpipInner): number {
  const r = readOuterIp(b, off, len, outer, res);
  if (r !== 0) return r;
  if (outer.proto !== IPPROTO_GRE) return DropReason.UNSUPPORTED;
  return greDecapsulatePayload(b, outer.payOff, outer.payEnd - outer.payOff, res);
}

/**
 * Decapsulates a GRE header and its inner packet `b[off .. off+len)`, without the outer IP
 * header: what a raw IPv6 socket for protocol 47 receives (IPv6 raw sockets deliver the payload
 * only). Same checks as greDecapsulate; `res.outerSrc` is left alone. Never throws.
 */
export function greDecapsulatePayload(b: Uint8Array, off: number, len: number, res: IpipInner): number {
  if (!(off >= 0) || !(len >= 0) || off + len > b.length) return DropReason.BAD_OFFSET;
  const g = off, end = off + len;
  if (end - g < GRE_HLEN) return DropReason.TRUNCATED_L4;
  const flags = rd16(b, g);
  if (flags & (GRE_FLAGS.ROUTING | GRE_FLAGS.VERSION)) return DropReason.UNSUPPORTED;
  const hl = GRE_HLEN + (flags & GRE_FLAGS.CSUM ? 4 : 0) + (flags & GRE_FLAGS.KEY ? 4 : 0) + (flags & GRE_FLAGS.SEQ ? 4 : 0);
  if (end - g < hl) return DropReason.TRUNCATED_L4;
  if ((flags & GRE_FLAGS.CSUM) && checksum(b, g, end - g) !== 0) return DropReason.BAD_TUNNEL_CSUM;
  const pt = rd16(b, g + 2);
  if (pt !== ETH_P.IPV4 && pt !== ETH_P.IPV6) return DropReason.UNSUPPORTED;
  return readInnerIp(b, g + hl, end, pt === ETH_P.IPV4 ? 4 : 6, res);
}
