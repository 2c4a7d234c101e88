/**
 * VRRPv2 authentication type 2 (IP Authentication Header, RFC 2402) as keepalived sends and
 * checks it (vrrp.c): the whole IPv4 packet is built here, IP header (TOS 0xc0, protocol 51),
 * then a 24-byte AH (next header 112, payload length 4, SPI = the sender's address, a sequence
 * number, a 96-bit ICV), then the VRRP message (auth type 2, its 8 auth bytes zero).
 * The ICV is HMAC-MD5 keyed by the password (8 bytes, zero padded), truncated to 12 bytes, over
 * the IP header with its mutable fields zeroed (TOS, fragment offset, checksum; and TTL for
 * unicast) and the AH with a zero ICV, then the VRRP message. Pure (node:crypto's HMAC only).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { VRRP_PROTO } from './vrrp-codec.ts';

export const IPPROTO_AH = 51;
/** sizeof(ipsec_ah_t): next header, payload length, reserved, SPI, sequence, 12-byte ICV. */
export const AH_LEN = 24;
/** AH payload length field: (24 / 4) - 2. */
const AH_PLEN = 4;
const ICV_LEN = 12;
const IPV4_HDR = 20;
/** keepalived's sequence limit: past it the counter has "cycled" (the instance stops being master). */
export const AH_SEQ_MAX = 0xfffffffd;

/** The key: the password's first 8 bytes, zero padded (keepalived's auth_data). */
export function ahKey(password: string): Buffer {
  const k = Buffer.alloc(8);
  Buffer.from(password, 'utf8').copy(k, 0, 0, 8);
  return k;
}

function icv(key: Buffer, hdr: Uint8Array, unicast: boolean, vrrp: Uint8Array): Buffer {
  const h = Buffer.from(hdr); // IP header + AH, copied: the mutable fields are zeroed in the copy
  h[1] = 0; // TOS
  h[6] = 0; h[7] = 0; // flags + fragment offset
  h[10] = 0; h[11] = 0; // header checksum
  if (unicast) h[8] = 0; // TTL (keepalived: for unicast only)
  const ihl = (h[0]! & 0x0f) * 4;
  h.fill(0, ihl + 12, ihl + AH_LEN); // the ICV itself
  return createHmac('md5', key).update(h).update(vrrp).digest().subarray(0, ICV_LEN);
}

export interface AhPacket {
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  /** IP identification (keepalived: a per-instance counter that skips 0, so the kernel keeps it). */
  readonly id: number;
  readonly ttl: number;
  readonly seq: number;
  readonly unicast: boolean;
  /** The VRRP message (auth type 2, zero auth bytes). */
  readonly vrrp: Uint8Array;
}

/** The whole IPv4 packet with its AH (the kernel fills the IP checksum: IP_HDRINCL). */
export function encodeAhPacket(p: AhPacket, key: Buffer): Uint8Array {
  const b = new Uint8Array(IPV4_HDR + AH_LEN + p.vrrp.length);
  const v = new DataView(b.buffer);
  b[0] = 0x45;
  b[1] = 0xc0; // internetwork control, as keepalived sets it
  v.setUint16(2, b.length);
  v.setUint16(4, p.id & 0xffff);
  b[8] = p.ttl;
  b[9] = IPPROTO_AH;
  b.set(p.src.subarray(0, 4), 12);
  b.set(p.dst.subarray(0, 4), 16);
  b[20] = VRRP_PROTO;
  b[21] = AH_PLEN;
  b.set(p.src.subarray(0, 4), 24); // SPI: the sender's address (keepalived's choice)
  v.setUint32(28, p.seq >>> 0);
  b.set(p.vrrp, IPV4_HDR + AH_LEN);
  b.set(icv(key, b.subarray(0, IPV4_HDR + AH_LEN), p.unicast, p.vrrp), 32);
  return b;
}

export type AhCheck =
  | { readonly ok: true; readonly seq: number; readonly vrrp: Uint8Array }
  /** 'other-protocol': an AH for something else (keepalived ignores it silently). */
  | { readonly ok: false; readonly error: 'truncated' | 'other-protocol' | 'bad-icv' | 'bad-spi' };

/**
 * Checks a received IPv4 packet with an AH (keepalived's vrrp_in_chk_ipsecah, without the
 * sequence check: the caller holds the counter). Returns the VRRP message inside.
 */
export function checkAhPacket(pkt: Uint8Array, key: Buffer, unicast: boolean): AhCheck {
  if (pkt.length < IPV4_HDR) return { ok: false, error: 'truncated' };
  const ihl = (pkt[0]! & 0x0f) * 4;
  if (pkt.length < ihl + AH_LEN + 8) return { ok: false, error: 'truncated' };
  if (pkt[ihl] !== VRRP_PROTO) return { ok: false, error: 'other-protocol' };
  const vrrp = pkt.subarray(ihl + AH_LEN);
  const want = icv(key, pkt.subarray(0, ihl + AH_LEN), unicast, vrrp);
  if (!timingSafeEqual(want, Buffer.from(pkt.subarray(ihl + 12, ihl + AH_LEN)))) return { ok: false, error: 'bad-icv' };
  if (!Buffer.from(pkt.subarray(ihl + 4, ihl + 8)).equals(Buffer.from(pkt.subarray(12, 16)))) return { ok: false, error: 'bad-spi' };
  const seq = new DataView(pkt.buffer, pkt.byteOffset).getUint32(ihl + 8);
  return { ok: true, seq, vrrp: new Uint8Array(vrrp) };
}
