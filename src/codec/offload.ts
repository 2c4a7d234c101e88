/**
 * Offloads on the receive side: the virtio-net header an AF_PACKET socket with PACKET_VNET_HDR
 * writes in front of every frame, partial checksums, and GSO super-packets. Pure and
 * allocation-free, like the rest of src/codec.
 *
 * Why: with checksum offload on (the default on veth, so in every container), a packet a local
 * stack sent carries a *partial* TCP/UDP checksum (CHECKSUM_PARTIAL): the checksum field holds
 * only the pseudo-header sum, and whoever transmits it on a wire completes it. With TSO/GSO (or GRO
 * on a real NIC) one frame may be a super-packet of up to 64 KiB that the stack segments on the
 * way out. A tap (AF_PACKET) sees both as they are; forwarded as if complete, the real server
 * drops them (`cksum 0x5659 (incorrect -> 0x6670)`). The virtio-net header says which it is.
 *
 * ## The header (struct virtio_net_hdr, 10 bytes, little-endian on these hosts)
 * flags u8 (NEEDS_CSUM 1: the checksum at csum_start + csum_offset is partial; DATA_VALID 2: the
 * receiver verified it), gso_type u8 (NONE 0, TCPV4 1, UDP 3 (UFO, never produced by current
 * kernels), TCPV6 4, UDP_L4 5, | ECN 0x80), hdr_len u16 (not trusted: the kernel writes its
 * linear length), gso_size u16 (payload bytes per segment: the MSS), csum_start u16 (from the
 * start of the Ethernet header), csum_offset u16 (from csum_start).
 *
 * ## What `planOffload` does with a parsed frame (`parseFrame` of the same bytes)
 * - Unknown flags (anything but NEEDS_CSUM and DATA_VALID): VNET_BAD_FLAGS, not forwarded.
 * - GSO: the type must be one we segment and match the packet (TCPV4: IPv4 TCP, TCPV6: IPv6 TCP,
 *   UDP_L4: UDP), gso_size ≥ 8, at most MAX_SEGMENTS segments; else VNET_BAD_GSO. A super-packet
 *   whose payload fits in one segment is treated as a single packet.
 * - NEEDS_CSUM without segmentation: the partial checksum must be the TCP/UDP checksum of this
 *   packet (csum_start = the L4 header, csum_offset 16 / 6), else VNET_BAD_CSUM (e.g. an SCTP
 *   CRC32c offload: a one's-complement sum would be wrong). It is completed in place: the
 *   one's-complement sum from csum_start to the end of the IP packet (the field holds the
 *   pseudo-header sum), folded, complemented, 0 sent as 0xffff (the kernel's skb_checksum_help).
 *
 * ## Segmentation (`writeGsoSegment`, as the kernel's tcp_gso_segment / __udp_gso_segment)
 * Segment i carries payload bytes [i * gso_size, (i + 1) * gso_size) after a copy of the
 * Ethernet, IP (options / extension headers included) and TCP/UDP headers. IPv4: total length,
 * identification + i (mod 2^16), header checksum. IPv6: payload length. TCP: sequence number +
 * i * gso_size; FIN and PSH only on the last segment, CWR only on the first. UDP: length. The
 * L4 checksum is computed in full for every segment (the partial value is not used).
 */
import * as __checksum from './checksum.ts';
// Local bindings: tsx turns cross-module references into getter calls on the hot path.
const { fold16, pseudoSum4, pseudoSum6, rd32, sum16, wr16, wr32 } = __checksum;
import type { FrameMeta } from './frame.ts';
import * as __frame from './frame.ts';
const { DropReason } = __frame;
import * as __ip from './ip.ts';
const { IPPROTO, ipv4SetChecksum } = __ip;

export const VNET_HDR_LEN = 10;
export const VNET_F = { NEEDS_CSUM: 1, DATA_VALID: 2 } as const;
export const VNET_GSO = { NONE: 0, TCPV4: 1, UDP: 3, TCPV6: 4, UDP_L4: 5, ECN: 0x80 } as const;
/** Flags this step understands; any other bit is VNET_BAD_FLAGS. */
const KNOWN_FLAGS = VNET_F.NEEDS_CSUM | VNET_F.DATA_VALID;
/** More segments than this (64 KiB at gso_size 32) is not a packet any stack builds: refused. */
export const MAX_SEGMENTS = 2048;
const MIN_GSO_SIZE = 8;

export interface VnetHdr {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

export function createVnetHdr(): VnetHdr {
  return { flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };
}

const shared = createVnetHdr();

/** Reads the 10-byte header at `off` (little-endian fields). */
export function readVnetHdr(b: Uint8Array, off: number, h: VnetHdr = shared): VnetHdr {
  h.flags = b[off]!;
  h.gsoType = b[off + 1]!;
  h.hdrLen = b[off + 2]! | (b[off + 3]! << 8);
  h.gsoSize = b[off + 4]! | (b[off + 5]! << 8);
  h.csumStart = b[off + 6]! | (b[off + 7]! << 8);
  h.csumOffset = b[off + 8]! | (b[off + 9]! << 8);
  return h;
}

/** Writes the header at `off` (tests, and a zero header in front of frames sent on a vnet socket). */
export function writeVnetHdr(b: Uint8Array, off: number, h: VnetHdr): void {
  b[off] = h.flags;
  b[off + 1] = h.gsoType;
  b[off + 2] = h.hdrLen & 0xff; b[off + 3] = h.hdrLen >>> 8;
  b[off + 4] = h.gsoSize & 0xff; b[off + 5] = h.gsoSize >>> 8;
  b[off + 6] = h.csumStart & 0xff; b[off + 7] = h.csumStart >>> 8;
  b[off + 8] = h.csumOffset & 0xff; b[off + 9] = h.csumOffset >>> 8;
}

/** What to do with a frame (a reusable record filled by planOffload). */
export interface OffloadPlan {
  /** 0, or why the frame is not forwarded (DropReason.VNET_*). */
  reason: number;
  /** A partial checksum was completed in place. */
  completed: boolean;
  /** > 1: a super-packet to forward as this many segments (writeGsoSegment); else 0. */
  segments: number;
  gsoSize: number;
}

export function createOffloadPlan(): OffloadPlan {
  return { reason: 0, completed: false, segments: 0, gsoSize: 0 };
}

function refuse(p: OffloadPlan, reason: number): OffloadPlan {
  p.reason = reason;
  return p;
}

/** Offset of the TCP/UDP checksum field from the L4 header, or -1. */
function l4CsumField(protocol: number): number {
  return protocol === IPPROTO.TCP ? 16 : protocol === IPPROTO.UDP ? 6 : -1;
}

/**
 * Checks the virtio-net header `h` of the well-formed frame `m` (parseFrame, reason 0) in `b`,
 * completes a partial checksum in place when the frame is forwarded whole, and says whether it
 * must be segmented. Never throws.
 */
export function planOffload(b: Uint8Array, m: FrameMeta, h: VnetHdr, p: OffloadPlan): OffloadPlan {
  p.reason = 0;
  p.completed = false;
  p.segments = 0;
  p.gsoSize = 0;
  if ((h.flags & ~KNOWN_FLAGS) !== 0) return refuse(p, DropReason.VNET_BAD_FLAGS);
  const gso = h.gsoType & ~VNET_GSO.ECN;
  if (gso !== VNET_GSO.NONE) {
    const proto = m.protocol;
    const fits = gso === VNET_GSO.TCPV4 ? m.af === 4 && proto === IPPROTO.TCP
      : gso === VNET_GSO.TCPV6 ? m.af === 6 && proto === IPPROTO.TCP
        : gso === VNET_GSO.UDP_L4 ? proto === IPPROTO.UDP : false;
    if (!fits || h.gsoSize < MIN_GSO_SIZE) return refuse(p, DropReason.VNET_BAD_GSO);
    const payload = m.l3Off + m.ipTotalLen - (m.l4Off + m.l4HdrLen);
    const n = Math.ceil(payload / h.gsoSize);
    if (n > MAX_SEGMENTS) return refuse(p, DropReason.VNET_BAD_GSO);
    if (n > 1) {
      p.segments = n;
      p.gsoSize = h.gsoSize;
      return p; // every segment gets a full checksum of its own
    }
  } else if (h.gsoType !== 0) {
    return refuse(p, DropReason.VNET_BAD_GSO); // ECN without a GSO type
  }
  if ((h.flags & VNET_F.NEEDS_CSUM) === 0) return p;
  const field = l4CsumField(m.protocol);
  if (field < 0 || h.csumStart !== m.l4Off - m.off || h.csumOffset !== field) return refuse(p, DropReason.VNET_BAD_CSUM);
  const co = m.l4Off + field;
  // The field holds the pseudo-header sum: summing the L4 bytes as they are gives the full sum.
  const c = ~fold16(sum16(b, m.l4Off, m.l3Off + m.ipTotalLen - m.l4Off)) & 0xffff;
  wr16(b, co, c === 0 ? 0xffff : c);
  p.completed = true;
  return p;
}

const TCP_FIN = 0x01, TCP_PSH = 0x08, TCP_CWR = 0x80;

/**
 * Writes segment `i` (0-based) of the super-packet `m` in `b`, cut at `gsoSize` payload bytes, as
 * a complete frame at `out[outOff ..]`. Returns its length (0 when `i` is past the last segment
 * or `out` has no room). `out` must not overlap the super-packet.
 */
export function writeGsoSegment(b: Uint8Array, m: FrameMeta, gsoSize: number, i: number, out: Uint8Array, outOff: number): number {
  const hdrEnd = m.l4Off + m.l4HdrLen;
  const ipEnd = m.l3Off + m.ipTotalLen;
  const start = hdrEnd + i * gsoSize;
  if (i < 0 || start >= ipEnd || gsoSize <= 0) return 0;
  const plen = Math.min(gsoSize, ipEnd - start);
  const hlen = hdrEnd - m.off;
  const len = hlen + plen;
  if (outOff + len > out.length) return 0;
  out.set(b.subarray(m.off, hdrEnd), outOff);
  out.set(b.subarray(start, start + plen), outOff + hlen);
  const l3 = outOff + (m.l3Off - m.off);
  const l4 = outOff + (m.l4Off - m.off);
  const l4len = len - (m.l4Off - m.off);
  const last = start + plen >= ipEnd;
  let pseudo: number;
  if (m.af === 4) {
    wr16(out, l3 + 2, len - (m.l3Off - m.off));
    wr16(out, l3 + 4, (m.ipId + i) & 0xffff);
    ipv4SetChecksum(out, l3);
    pseudo = pseudoSum4(rd32(out, l3 + 12), rd32(out, l3 + 16), m.protocol, l4len);
  } else {
    wr16(out, l3 + 4, len - (m.l3Off - m.off) - 40);
    pseudo = pseudoSum6(out, l3 + 8, l3 + 24, m.protocol, l4len);
  }
  let co: number;
  if (m.protocol === IPPROTO.TCP) {
    wr32(out, l4 + 4, (rd32(b, m.l4Off + 4) + i * gsoSize) >>> 0);
    let f = out[l4 + 13]!;
    if (!last) f &= ~(TCP_FIN | TCP_PSH);
    if (i > 0) f &= ~TCP_CWR;
    out[l4 + 13] = f;
    co = l4 + 16;
  } else {
    wr16(out, l4 + 4, l4len);
    co = l4 + 6;
  }
  wr16(out, co, 0);
  const c = ~fold16(sum16(out, l4, l4len, pseudo)) & 0xffff;
  wr16(out, co, c === 0 && m.protocol === IPPROTO.UDP ? 0xffff : c);
  return len;
}
