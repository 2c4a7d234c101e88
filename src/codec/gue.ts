/**
 * GUE, Generic UDP Encapsulation (draft-ietf-intarea-gue; Linux fou/gue), as LVS uses it for
 * `ipvsadm -i --tun-type gue --tun-port P` (net/netfilter/ipvs/ip_vs_xmit.c ipvs_gue_encap):
 *
 *   outer IPv4/IPv6 (protocol 17) | UDP (sport from the flow hash, dport P) | GUE | inner IP packet
 *
 * GUE header (4 bytes): version 0 (2 bits), C = 0 (data), Hlen = 0 (32-bit words of optional
 * fields), Proto = the inner IP protocol (4 IPv4, 41 IPv6), Flags = 0. The UDP checksum is computed
 * (over the outer pseudo-header) with `--tun-csum` or `--tun-remcsum`, and 0 ("none", also over
 * IPv6, RFC 6935 as the kernel does) with `--tun-nocsum`.
 *
 * Remote checksum offload (`--tun-remcsum`): the kernel adds the REMCSUM private option only for a
 * packet whose inner checksum is still partial (CHECKSUM_PARTIAL, i.e. generated on the director
 * itself with offloads); a forwarded packet from the wire carries a complete inner checksum, so
 * IPVS sends it without the option — and so does this encoder. The decoder handles the option
 * (it completes the inner checksum from the start/offset pair) as Linux fou does.
 *
 * Outer IP header fields as ./ipip.ts (TOS, TTL, DF, ID from the inner packet).
 * The UDP source port spreads flows like udp_flow_src_port(): a hash of the inner flow scaled
 * into the default ephemeral range [32768, 60999).
 */
import * as __checksum from './checksum.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { checksum, pseudoSum4, pseudoSum6, rd16, rd32, wr16, wr32 } = __checksum;
import * as __ip from './ip.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { IPPROTO, IPV4_HLEN, IPV6_HLEN, UDP_HLEN } = __ip;
import * as __ipip from './ipip.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { readInnerIp, writeOuterIp } = __ipip;
import type { IpipInner } from './ipip.ts';
import * as __frame from './frame.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { DropReason } = __frame;

/** The GUE base header. */
export const GUE_HLEN = 4;
/** UDP + GUE: the encapsulation bytes between the outer IP header and the inner packet. */
export const GUE_ENCAP_LEN = UDP_HLEN + GUE_HLEN;
export const GUE_OVERHEAD4 = IPV4_HLEN + GUE_ENCAP_LEN;
export const GUE_OVERHEAD6 = IPV6_HLEN + GUE_ENCAP_LEN;
/** GUE flags: private data field present (Linux GUE_FLAG_PRIV). */
export const GUE_FLAG_PRIV = 0x0001;
/** Private flags: remote checksum offload option follows (Linux GUE_PFLAG_REMCSUM). */
export const GUE_PFLAG_REMCSUM = 0x80000000;

/** Default ip_local_port_range, which udp_flow_src_port() scales the flow hash into. */
export const GUE_SPORT_MIN = 32768;
export const GUE_SPORT_MAX = 60999;

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/**
 * A 32-bit hash of a flow (murmur3-style over addresses, protocol and ports; fixed seed, so
 * outputs are reproducible). `src`/`dst`: address words (1 for IPv4, 4 for IPv6).
 */
export function flowHash(af: number, src: ArrayLike<number>, dst: ArrayLike<number>, proto: number, sport: number, dport: number): number {
  let h = 0x7473_7673; // "tsvs"
  const n = af === 4 ? 1 : 4;
  for (let i = 0; i < n; i++) h = mix(h, src[i]! | 0);
  for (let i = 0; i < n; i++) h = mix(h, dst[i]! | 0);
  h = mix(h, ((proto & 0xff) << 16) | (af & 0xff));
  h = mix(h, ((sport & 0xffff) << 16) | (dport & 0xffff));
  return fmix(h ^ (2 * n + 2) * 4);
}

/** udp_flow_src_port(): the hash scaled into [GUE_SPORT_MIN, GUE_SPORT_MAX). */
export function gueSourcePort(hash: number): number {
  return GUE_SPORT_MIN + Math.floor(((hash >>> 0) * (GUE_SPORT_MAX - GUE_SPORT_MIN)) / 4294967296);
}

/**
 * Writes outer IP + UDP + GUE ending exactly where the inner packet (family `innerAf`, length
 * `innerLen`) starts at `innerOff`; the outer IP header starts at
 * `innerOff - (outerAf === 4 ? GUE_OVERHEAD4 : GUE_OVERHEAD6)`. `csum`: compute the UDP checksum
 * (else 0). Returns the outer packet length.
 */
export function writeGueOuter(
  b: Uint8Array, innerOff: number, innerLen: number, innerAf: number, outerAf: number,
  src: ArrayLike<number>, dst: ArrayLike<number>, sport: number, dport: number, csum: boolean,
): number {
  const g = innerOff - GUE_HLEN;
  b[g] = 0; // version 0, C 0, Hlen 0
  b[g + 1] = innerAf === 4 ? IPPROTO.IPIP : IPPROTO.IPV6;
  b[g + 2] = 0;
  b[g + 3] = 0;
  const u = g - UDP_HLEN;
  const ulen = UDP_HLEN + GUE_HLEN + innerLen;
  wr16(b, u, sport);
  wr16(b, u + 2, dport);
  wr16(b, u + 4, ulen);
  wr16(b, u + 6, 0);
  const n = writeOuterIp(b, u, ulen, IPPROTO.UDP, innerOff, innerAf, outerAf, src, dst);
  if (csum) {
    const ph = outerAf === 4
      ? pseudoSum4(src[0]! >>> 0, dst[0]! >>> 0, IPPROTO.UDP, ulen)
      : pseudoSum6(b, u - IPV6_HLEN + 8, u - IPV6_HLEN + 24, IPPROTO.UDP, ulen);
    const c = checksum(b, u, ulen, ph);
    wr16(b, u + 6, c === 0 ? 0xffff : c);
  }
  return n;
}

/** Copies an inner IP packet into `out` behind fresh outer IP + UDP + GUE headers. Returns the outer length. */
export function gueEncapsulate(
  out: Uint8Array, outOff: number, inner: Uint8Array, innerOff: number, innerLen: number, innerAf: number,
  outerAf: number, src: ArrayLike<number>, dst: ArrayLike<number>, sport: number, dport: number, csum: boolean,
): number {
  const hl = outerAf === 4 ? GUE_OVERHEAD4 : GUE_OVERHEAD6;
  out.set(inner.subarray(innerOff, innerOff + innerLen), outOff + hl);
  return writeGueOuter(out, outOff + hl, innerLen, innerAf, outerAf, src, dst, sport, dport, csum);
}

/**
 * Decapsulates a GUE datagram's UDP payload `b[off .. off+len)` — what a UDP socket bound to
 * the tunnel port receives on the real server (the kernel has checked the UDP checksum).
 * Accepts GUE version 0 data messages with no options or the private REMCSUM option (the inner
 * checksum is then completed in place), and version 1 (direct IPv4/IPv6). Control messages,
 * unknown flags and inner protocols other than IPv4/IPv6 are UNSUPPORTED.
 * Returns 0 and fills `res` (outerSrc left alone), or a DropReason. Never throws.
 */
export function gueDecapsulate(b: Uint8Array, off: number, len: number, res: IpipInner): number {
  if (!(off >= 0) || !(len >= 0) || off + len > b.length) return DropReason.BAD_OFFSET;
  if (len < GUE_HLEN) return DropReason.TRUNCATED_L4;
  const end = off + len;
  const v0 = b[off]!;
  const ver = v0 >>> 6;
  if (ver === 1) {
    // Direct IP encapsulation: the first nibble is the IP version (0100 / 0110).
    const iv = v0 >>> 4;
    if (iv !== 4 && iv !== 6) return DropReason.BAD_VERSION;
    return readInnerIp(b, off, end, iv, res);
  }
  if (ver !== 0) return DropReason.BAD_VERSION;
  if (v0 & 0x20) return DropReason.UNSUPPORTED; // control message
  const optLen = (v0 & 0x1f) * 4;
  const inner = off + GUE_HLEN + optLen;
  if (inner > end) return DropReason.TRUNCATED_L4;
  const proto = b[off + 1]!;
  if (proto !== IPPROTO.IPIP && proto !== IPPROTO.IPV6) return DropReason.UNSUPPORTED;
  const flags = rd16(b, off + 2);
  if (flags & ~GUE_FLAG_PRIV) return DropReason.UNSUPPORTED;
  let remStart = -1, remField = -1;
  if (flags & GUE_FLAG_PRIV) {
    if (optLen < 4) return DropReason.TRUNCATED_L4;
    const priv = rd32(b, off + GUE_HLEN);
    if ((priv & ~GUE_PFLAG_REMCSUM) >>> 0) return DropReason.UNSUPPORTED;
    if (priv & GUE_PFLAG_REMCSUM) {
      if (optLen < 8) return DropReason.TRUNCATED_L4;
      remStart = rd16(b, off + GUE_HLEN + 4);
      remField = rd16(b, off + GUE_HLEN + 6);
    }
  }
  const r = readInnerIp(b, inner, end, proto === IPPROTO.IPIP ? 4 : 6, res);
  if (r !== 0) return r;
  if (remStart >= 0) {
    // The sender left the pseudo-header sum in the checksum field: complete it (remcsum_adjust).
    const s = inner + remStart, f = inner + remField;
    const iend = inner + res.innerLen;
    if (s >= iend || f + 2 > iend || f < s) return DropReason.BAD_L4_LEN;
    wr16(b, f, checksum(b, s, iend - s));
  }
  return 0;
}

/** Writes a GUE header with the REMCSUM option (for tests and tools: the decoder's input). */
export function writeGueRemcsumHeader(b: Uint8Array, off: number, innerAf: number, csumStart: number, csumField: number): number {
  b[off] = 2; // Hlen 2 words: private flags + remcsum
  b[off + 1] = innerAf === 4 ? IPPROTO.IPIP : IPPROTO.IPV6;
  wr16(b, off + 2, GUE_FLAG_PRIV);
  wr32(b, off + 4, GUE_PFLAG_REMCSUM);
  wr16(b, off + 8, csumStart);
  wr16(b, off + 10, csumField);
  return GUE_HLEN + 8;
}
