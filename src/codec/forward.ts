/**
 * The pure forwarding step: given a parsed frame (`parseFrame`) and the engine's decision for
 * it, rewrite the frame in place (or build a new one in a scratch buffer) and say what to do.
 * No I/O, no allocation on the forwarding paths, never throws on any frame.
 *
 * ## Decision input (`ForwardDecision`)
 * One object per connection (or per packet, reused); the integration (engine verdict → this
 * input) fills it:
 * - `method`: the destination's forwarding method, as in core/types.ts FwdMethod:
 *   `'masq'` (NAT), `'route'` (DR), `'tunnel'` (IPIP), `'local'` (deliver to the director).
 * - `dir`: `'in'` for client → virtual service packets; `'out'` for a real server's reply
 *   (only masq sees replies: DR/TUN replies bypass the director).
 * - `rip`/`rport`: the real server (core/addr.ts `Ip`) and its port. For firewall-mark services
 *   pass the port the connection uses (the packet's own destination port when the dest port is 0).
 * - `vip`/`vport`: the virtual address and port the client used (fwmark: the packet's own).
 * - `srcMac`/`dstMac`: Ethernet addresses of the egress hop (director's interface → real
 *   server for DR/NAT-in and TUN, → client's next hop for NAT-out). 6-byte Uint8Arrays.
 * - `tunnelSrc`: the director's address used as the outer source for `'tunnel'` (same family
 *   as `rip`); null otherwise.
 * - `tunType` / `tunPort` / `tunCsum` (optional, `'tunnel'` only): the destination's
 *   `--tun-type ipip|gue|gre`, `--tun-port` and `--tun-nocsum|--tun-csum|--tun-remcsum`
 *   (core/types.ts TunType/TunCsum). Absent: IPIP.
 * - `mtu`: the egress link MTU (bytes of IP packet); 0 = do not check.
 * - `ttlExpired`: `'icmp'` (default; answer ICMP time exceeded like a router) or `'drop'`.
 *
 * ## What each method does (as Linux IPVS ip_vs_xmit.c / ip_vs_core.c)
 * - All but `local`: TTL/hop limit decremented as a router does (IPVS decrement_ttl); a packet
 *   arriving with TTL ≤ 1 is not forwarded: ICMP time exceeded back to the sender (reject) or
 *   dropped; never an ICMP error about an ICMP error. IPv4 header checksum updated incrementally.
 * - Egress MTU (ensure_mtu_is_adequate): a packet that would exceed `mtu` (tunnel: after adding
 *   the outer header) with DF set (IPv4) or any IPv6 packet is answered with ICMP
 *   fragmentation-needed / packet-too-big carrying the usable MTU (mtu − tunnel overhead;
 *   v6 at least 1280), verdict reject. IPv4 without DF would need fragmenting: dropped TOO_BIG
 *   (this step does not fragment; the integration can leave such packets to the kernel).
 * - `masq` in: destination address → RIP, destination port → rport; out: source address → VIP,
 *   source port → vport. TCP/UDP checksums updated incrementally (RFC 1624) for the address
 *   (pseudo-header) and port; a zero IPv4 UDP checksum stays zero (no checksum), a computed 0
 *   becomes 0xffff. Egress MACs from the decision. SCTP under masq: UNSUPPORTED (CRC32c).
 * - `masq` ICMP errors related to a connection (ip_vs_nat_icmp): in (from the client side,
 *   quoting the director's reply VIP:vport → client): outer destination → RIP, inner source
 *   → RIP, inner source port → rport. Out (from the real-server side, quoting the client's
 *   packet client → RIP:rport): outer source → VIP, inner destination → VIP, inner destination
 *   port → vport. Outer and inner IPv4 header checksums and the ICMP/ICMPv6 checksum are
 *   recomputed in full (the quoted L4 checksum is left alone, as IPVS does). The inner
 *   address must match the decision (VIP for in, RIP for out) or the packet is NOT_RELATED.
 * - `route` (DR): only the Ethernet addresses change (plus the TTL decrement).
 * - `tunnel`: encapsulated toward RIP from `tunnelSrc` by `tunType` (absent: `'ipip'`):
 *   IPIP (./ipip.ts: TOS, TTL, DF copied from the inner packet; outer protocol 4/41),
 *   GUE (./gue.ts: outer UDP to `tunPort`, source port from the inner flow's hash, 4-byte GUE
 *   header; UDP checksum with `tunCsum` 'csum' or 'remcsum', 0 with 'nocsum'/absent; a GUE
 *   decision without a port is BAD_DECISION) or GRE (./gre.ts: protocol 47, 4-byte header, 8 with
 *   the checksum when `tunCsum` is 'csum'). Overhead (outer v4): IPIP 20, GUE 32, GRE 24 / 28;
 *   outer v6: 20 more. Built in place when the frame has at least the overhead as headroom
 *   before `off` in `buf` (the output frame then starts before `off`), otherwise copied into
 *   `scratch`. The Ethernet header keeps the input's 802.1Q tag.
 * - `local`: pass, frame untouched (the director's own stack answers).
 *
 * ## Output (`ForwardResult`)
 * `verdict`, an ACTION_CODE of the decision vocabulary (core/types.ts): forward, drop, reject
 * (an ICMP error to send back instead of the packet) or pass (local); `reason` (DropReason; for
 * reject the reason the original was not forwarded: TTL_EXPIRED or TOO_BIG), and the frame to
 * send: `buf`, `off`, `len` (either the input buffer or `scratch`). forward goes out toward
 * `dstMac`; reject goes back out of the ingress interface (its Ethernet addresses are the
 * input's, swapped). Every drop and every reject is counted in `counters` by reason when given. Ethernet padding is not carried over.
 */
import type { Ip } from '../core/addr.ts';
import { ACTION_CODE, type FwdMethod, type TunCsum, type TunType } from '../core/types.ts';
import * as __checksum from './checksum.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { checksum, csumReplace16, csumReplace32, pseudoSum6, rd16, rd32, wr16, wr32 } = __checksum;
import type { DropCounters } from './counters.ts';
import * as __ethernet from './ethernet.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { ETHERTYPE, copyMac, writeEthernet } = __ethernet;
import type { FrameMeta } from './frame.ts';
import * as __frame from './frame.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { DropReason, FrameKind } = __frame;
import * as __icmp from './icmp.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { buildIcmpErrorFrame, IcmpErrorKind } = __icmp;
import * as __ip from './ip.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { IPPROTO, IPV4_HLEN, IPV6_HLEN, ipv4SetChecksum } = __ip;
import * as __ipip from './ipip.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { writeIpipOuter } = __ipip;
import * as __gue from './gue.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { GUE_ENCAP_LEN, flowHash, gueSourcePort, writeGueOuter } = __gue;
import * as __gre from './gre.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { greHeaderLen, writeGreOuter } = __gre;

export interface ForwardDecision {
  method: FwdMethod;
  dir: 'in' | 'out';
  rip: Ip;
  rport: number;
  vip: Ip;
  vport: number;
  srcMac: Uint8Array;
  dstMac: Uint8Array;
  tunnelSrc: Ip | null;
  mtu: number;
  ttlExpired?: 'icmp' | 'drop';
  /** Tunnel encapsulation (`'tunnel'` only); absent = 'ipip'. */
  tunType?: TunType;
  /** GUE destination UDP port (required for 'gue'). */
  tunPort?: number;
  /** GUE: UDP checksum unless 'nocsum' (absent = 'nocsum'); GRE: checksum field with 'csum'. */
  tunCsum?: TunCsum;
}

/** Tunnel type codes (the hot path compares small integers). */
const TUN_IPIP = 0, TUN_GUE = 1, TUN_GRE = 2;

/**
 * Bytes a tunnel adds in front of the inner packet: outer IP header + encapsulation headers
 * (the kernel's MTU reduction in __ip_vs_get_out_rt for IP_VS_RT_MODE_TUNNEL).
 */
export function tunnelOverhead(outerAf: number, tunType: TunType | undefined, tunCsum: TunCsum | undefined): number {
  const ip = outerAf === 4 ? IPV4_HLEN : IPV6_HLEN;
  if (tunType === 'gue') return ip + GUE_ENCAP_LEN;
  if (tunType === 'gre') return ip + greHeaderLen(tunCsum === 'csum');
  return ip;
}

/** ForwardResult.verdict: an ACTION_CODE (core/types.ts), the decision vocabulary's numbers. */
const DROP = ACTION_CODE.drop, FORWARD = ACTION_CODE.forward, REJECT = ACTION_CODE.reject, PASS = ACTION_CODE.pass;

export interface ForwardResult {
  /** ACTION_CODE: forward, drop, reject (an ICMP error to send back) or pass (the director's own). */
  verdict: number;
  reason: number;
  buf: Uint8Array;
  off: number;
  len: number;
}

export function createForwardResult(): ForwardResult {
  return { verdict: 0, reason: 0, buf: new Uint8Array(0), off: 0, len: 0 };
}

/** Minimum scratch size that fits any reply or a copied tunnel frame of a 64 KiB packet. */
export const SCRATCH_BYTES = 65536 + 18 + 40;

function drop(res: ForwardResult, reason: number, buf: Uint8Array, off: number, len: number, c: DropCounters | undefined): number {
  res.verdict = DROP;
  res.reason = reason;
  res.buf = buf;
  res.off = off;
  res.len = len;
  c?.count(reason);
  return DROP;
}

function reply(res: ForwardResult, reason: number, scratch: Uint8Array, len: number, c: DropCounters | undefined): number {
  res.verdict = REJECT;
  res.reason = reason;
  res.buf = scratch;
  res.off = 0;
  res.len = len;
  c?.count(reason);
  return REJECT;
}

function forwarded(res: ForwardResult, buf: Uint8Array, off: number, len: number): number {
  res.verdict = FORWARD;
  res.reason = 0;
  res.buf = buf;
  res.off = off;
  res.len = len;
  return FORWARD;
}

function sameAddr(words: Uint32Array, ip: Ip): boolean {
  const w = ip.words;
  if (ip.af === 4) return words[0] === w[0];
  return words[0] === w[0] && words[1] === w[1] && words[2] === w[2] && words[3] === w[3];
}

/** Decrements the TTL / hop limit in place (IPv4 checksum updated incrementally). */
function decTtl(b: Uint8Array, m: FrameMeta): void {
  const l3 = m.l3Off;
  if (m.af === 4) {
    const oldW = rd16(b, l3 + 8);
    b[l3 + 8] = b[l3 + 8]! - 1;
    wr16(b, l3 + 10, csumReplace16(rd16(b, l3 + 10), oldW, oldW - 0x100));
  } else {
    b[l3 + 7] = b[l3 + 7]! - 1;
  }
}

/** Offset of the L4 checksum field for TCP/UDP, or -1 (UDP over IPv4 with no checksum: -2). */
function l4CsumOff(b: Uint8Array, m: FrameMeta): number {
  if (m.protocol === IPPROTO.TCP) return m.l4Off + 16;
  if (m.protocol === IPPROTO.UDP) return m.af === 4 && rd16(b, m.l4Off + 6) === 0 ? -2 : m.l4Off + 6;
  return -1;
}

function storeL4(b: Uint8Array, m: FrameMeta, co: number, c: number): void {
  // UDP: a computed 0 is sent as 0xffff (0 means "no checksum").
  if (m.protocol === IPPROTO.UDP && c === 0) c = 0xffff;
  wr16(b, co, c);
}

/**
 * Rewrites one address (src at +12/+8, dst at +16/+24 of the IP header) and one port in place,
 * updating the IPv4 header checksum and the L4 checksum incrementally.
 */
function natRewrite(b: Uint8Array, m: FrameMeta, isDst: boolean, addr: Ip, port: number): void {
  const l3 = m.l3Off;
  const co = l4CsumOff(b, m);
  let lc = co >= 0 ? rd16(b, co) : 0;
  if (m.af === 4) {
    const ao = l3 + (isDst ? 16 : 12);
    const old = rd32(b, ao);
    const nv = addr.words[0]! >>> 0;
    wr32(b, ao, nv);
    wr16(b, l3 + 10, csumReplace32(rd16(b, l3 + 10), old, nv));
    if (co >= 0) lc = csumReplace32(lc, old, nv);
  } else {
    const ao = l3 + (isDst ? 24 : 8);
    for (let i = 0; i < 4; i++) {
      const old = rd32(b, ao + 4 * i);
      const nv = addr.words[i]! >>> 0;
      if (old === nv) continue;
      wr32(b, ao + 4 * i, nv);
      if (co >= 0) lc = csumReplace32(lc, old, nv);
    }
  }
  const po = m.l4Off + (isDst ? 2 : 0);
  const oldPort = rd16(b, po);
  wr16(b, po, port);
  if (co >= 0) {
    lc = csumReplace16(lc, oldPort, port);
    storeL4(b, m, co, lc);
  }
}

function writeAddr(b: Uint8Array, o: number, ip: Ip): void {
  if (ip.af === 4) wr32(b, o, ip.words[0]! >>> 0);
  else for (let i = 0; i < 4; i++) wr32(b, o + 4 * i, ip.words[i]! >>> 0);
}

/** ip_vs_nat_icmp / ip_vs_nat_icmp_v6 on an (already TTL-decremented) ICMP error. */
function natIcmp(b: Uint8Array, m: FrameMeta, d: ForwardDecision): void {
  const l3 = m.l3Off, il3 = m.innerL3Off;
  const v6 = m.af === 6;
  const a = v6 ? 8 : 12; // source address offset in the IP header; destination = a + (v6 ? 16 : 4)
  const da = v6 ? 24 : 16;
  if (d.dir === 'in') {
    writeAddr(b, l3 + da, d.rip);
    writeAddr(b, il3 + a, d.rip);
    if (m.innerL4Off >= 0) wr16(b, m.innerL4Off, d.rport);
  } else {
    writeAddr(b, l3 + a, d.vip);
    writeAddr(b, il3 + da, d.vip);
    if (m.innerL4Off >= 0) wr16(b, m.innerL4Off + 2, d.vport);
  }
  const l4 = m.l4Off;
  wr16(b, l4 + 2, 0);
  if (!v6) {
    ipv4SetChecksum(b, l3);
    ipv4SetChecksum(b, il3);
    wr16(b, l4 + 2, checksum(b, l4, m.l4Len));
  } else {
    wr16(b, l4 + 2, checksum(b, l4, m.l4Len, pseudoSum6(b, l3 + 8, l3 + 24, IPPROTO.ICMPV6, m.l4Len)));
  }
}

/**
 * Applies decision `d` to the frame `buf[off .. off+len)` whose parse is `meta`.
 * Returns the verdict (also in `res.verdict`). `scratch` (≥ SCRATCH_BYTES for the general case)
 * receives ICMP replies and tunnel frames without headroom.
 */
export function forwardFrame(
  buf: Uint8Array, off: number, len: number, meta: FrameMeta, d: ForwardDecision,
  res: ForwardResult, scratch: Uint8Array, counters?: DropCounters,
): number {
  const m = meta;
  if (m.reason !== 0) return drop(res, m.reason, buf, off, len, counters);
  if (m.kind !== FrameKind.IP || m.off !== off || m.len !== len) {
    return drop(res, m.kind !== FrameKind.IP ? DropReason.UNSUPPORTED : DropReason.BAD_OFFSET, buf, off, len, counters);
  }
  const method = d.method;
  if (method === 'local') {
    res.verdict = PASS;
    res.reason = 0;
    res.buf = buf;
    res.off = off;
    res.len = len;
    return PASS;
  }
  const af = m.af;
  const tunnel = method === 'tunnel';
  // Decision sanity: masq/route keep the family; tunnel may change it (outer = tunnelSrc's).
  let tt = TUN_IPIP;
  if (tunnel) {
    if (!d.tunnelSrc || d.tunnelSrc.af !== d.rip.af) return drop(res, DropReason.BAD_DECISION, buf, off, len, counters);
    const t = d.tunType;
    if (t === 'gue') {
      tt = TUN_GUE;
      const p = d.tunPort;
      if (p === undefined || !(p >= 1 && p <= 65535)) return drop(res, DropReason.BAD_DECISION, buf, off, len, counters);
    } else if (t === 'gre') tt = TUN_GRE;
    else if (t !== undefined && t !== 'ipip') return drop(res, DropReason.BAD_DECISION, buf, off, len, counters);
  } else if (method === 'masq') {
    if (d.rip.af !== af || d.vip.af !== af) return drop(res, DropReason.BAD_DECISION, buf, off, len, counters);
    if (m.icmpError) {
      if (m.innerAf !== af) return drop(res, DropReason.NOT_RELATED, buf, off, len, counters);
      const ok = d.dir === 'in' ? sameAddr(m.innerSrc, d.vip) : sameAddr(m.innerDst, d.rip);
      if (!ok) return drop(res, DropReason.NOT_RELATED, buf, off, len, counters);
    } else if (m.protocol !== IPPROTO.TCP && m.protocol !== IPPROTO.UDP) {
      return drop(res, DropReason.UNSUPPORTED, buf, off, len, counters);
    }
  } else if (method !== 'route') {
    return drop(res, DropReason.BAD_DECISION, buf, off, len, counters);
  }
  if (d.srcMac.length < 6 || d.dstMac.length < 6) return drop(res, DropReason.BAD_DECISION, buf, off, len, counters);

  // TTL / hop limit: checked before anything is written.
  if (m.ttl <= 1) {
    if (m.icmpError || d.ttlExpired === 'drop' || scratch.length < 18 + 1280) {
      return drop(res, DropReason.TTL_EXPIRED, buf, off, len, counters);
    }
    const n = buildIcmpErrorFrame(scratch, 0, buf, m, IcmpErrorKind.TIME_EXCEEDED, 0, d.dir === 'out' ? d.vip.words : undefined);
    return reply(res, DropReason.TTL_EXPIRED, scratch, n, counters);
  }

  // Egress MTU.
  const outerAf = tunnel ? d.rip.af : af;
  const overhead = tunnel ? tunnelOverhead(outerAf, d.tunType, d.tunCsum) : 0;
  if (d.mtu > 0 && m.ipTotalLen + overhead > d.mtu) {
    const usable = d.mtu - overhead;
    if ((af === 6 || m.df) && !m.icmpError && scratch.length >= 18 + 1280) {
      const report = af === 6 ? Math.max(1280, usable) : usable;
      if (af === 4 && report < 68) return drop(res, DropReason.TOO_BIG, buf, off, len, counters);
      const n = buildIcmpErrorFrame(scratch, 0, buf, m, IcmpErrorKind.FRAG_NEEDED, report, d.dir === 'out' ? d.vip.words : undefined);
      return reply(res, DropReason.TOO_BIG, scratch, n, counters);
    }
    return drop(res, DropReason.TOO_BIG, buf, off, len, counters);
  }

  const ethLen = m.l3Off - off;
  const outLen = ethLen + m.ipTotalLen;

  if (tunnel) {
    const need = ethLen + overhead + m.ipTotalLen;
    let ob: Uint8Array, inner: number;
    if (off >= overhead) {
      ob = buf;
      inner = m.l3Off;
    } else {
      if (scratch.length < need) return drop(res, DropReason.NO_ROOM, buf, off, len, counters);
      ob = scratch;
      inner = ethLen + overhead;
      scratch.set(buf.subarray(m.l3Off, m.l3Off + m.ipTotalLen), inner);
    }
    // TTL decrement on the inner packet (IPVS decrements before encapsulating).
    if (af === 4) {
      const oldW = rd16(ob, inner + 8);
      ob[inner + 8] = ob[inner + 8]! - 1;
      wr16(ob, inner + 10, csumReplace16(rd16(ob, inner + 10), oldW, oldW - 0x100));
    } else {
      ob[inner + 7] = ob[inner + 7]! - 1;
    }
    if (tt === TUN_IPIP) writeIpipOuter(ob, inner, m.ipTotalLen, af, outerAf, d.tunnelSrc!.words, d.rip.words);
    else if (tt === TUN_GUE) {
      const sport = gueSourcePort(flowHash(af, m.src, m.dst, m.protocol, m.sport, m.dport));
      const cs = d.tunCsum === 'csum' || d.tunCsum === 'remcsum';
      writeGueOuter(ob, inner, m.ipTotalLen, af, outerAf, d.tunnelSrc!.words, d.rip.words, sport, d.tunPort!, cs);
    } else writeGreOuter(ob, inner, m.ipTotalLen, af, outerAf, d.tunnelSrc!.words, d.rip.words, d.tunCsum === 'csum');
    const start = inner - overhead - ethLen;
    writeEthernet(ob, start, d.dstMac, d.srcMac, outerAf === 4 ? ETHERTYPE.IPV4 : ETHERTYPE.IPV6, m.vlanTci);
    return forwarded(res, ob, start, need);
  }

  decTtl(buf, m);
  if (method === 'masq') {
    if (m.icmpError) natIcmp(buf, m, d);
    else if (d.dir === 'in') natRewrite(buf, m, true, d.rip, d.rport);
    else natRewrite(buf, m, false, d.vip, d.vport);
  }
  copyMac(buf, off, d.dstMac, 0);
  copyMac(buf, off + 6, d.srcMac, 0);
  return forwarded(res, buf, off, outLen);
}
