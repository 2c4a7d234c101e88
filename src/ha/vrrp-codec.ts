/**
 * VRRP advertisement codec: v2 (RFC 3768) and v3 (RFC 5798), IPv4 and IPv6. Pure.
 *
 * v2: checksum over the VRRP message only; advert interval in seconds; authentication type 0
 *     (none) or 1 (simple text password, 8 bytes, zero padded), as keepalived sends it.
 * v3: checksum over the IPv4/IPv6 pseudo-header + message; max advert interval in centiseconds
 *     (12 bits); no authentication.
 */
import { checksum, sum16 } from '../codec/checksum.ts';

export const VRRP_PROTO = 112;
export const VRRP_MCAST_V4 = '224.0.0.18';
export const VRRP_MCAST_V6 = 'ff02::12';

export interface VrrpAdvert {
  readonly version: 2 | 3;
  readonly vrid: number;
  readonly priority: number;
  /** v2: seconds; v3: centiseconds. */
  readonly interval: number;
  readonly af: 4 | 6;
  /** Virtual addresses as raw bytes (4 or 16 each). */
  readonly addrs: readonly Uint8Array[];
  /** v2 only: 0 none, 1 simple password. */
  readonly authType: number;
  /** v2 PASS: up to 8 bytes. */
  readonly password: string;
}

export type DecodeError =
  | 'truncated'
  | 'bad-version'
  | 'bad-type'
  | 'bad-checksum'
  | 'bad-ttl'
  | 'bad-length'
  | 'bad-auth'
  | 'wrong-vrid';

/** Encodes the VRRP message (no IP header). src/dst are needed for the v3 pseudo-header. */
export function encodeAdvert(a: VrrpAdvert, src: Uint8Array, dst: Uint8Array): Uint8Array {
  const alen = a.af === 4 ? 4 : 16;
  const authLen = a.version === 2 ? 8 : 0;
  const len = 8 + a.addrs.length * alen + authLen;
  const b = new Uint8Array(len);
  b[0] = (a.version << 4) | 1;
  b[1] = a.vrid;
  b[2] = a.priority;
  b[3] = a.addrs.length;
  if (a.version === 2) {
    b[4] = a.authType;
    b[5] = a.interval & 0xff;
  } else {
    const iv = a.interval & 0x0fff;
    b[4] = iv >> 8;
    b[5] = iv & 0xff;
  }
  let off = 8;
  for (const addr of a.addrs) {
    b.set(addr.subarray(0, alen), off);
    off += alen;
  }
  if (a.version === 2 && a.authType === 1) {
    const pw = new TextEncoder().encode(a.password).subarray(0, 8);
    b.set(pw, off);
  }
  const sum = a.version === 3 ? pseudoHeaderSum(src, dst, len) : 0;
  const c = checksum(b, 0, len, sum);
  b[6] = c >> 8;
  b[7] = c & 0xff;
  return b;
}

function pseudoHeaderSum(src: Uint8Array, dst: Uint8Array, len: number): number {
  const s = sum16(dst, 0, dst.length, sum16(src, 0, src.length));
  if (src.length === 4) return s + VRRP_PROTO + len;
  return s + (len >>> 16) + (len & 0xffff) + VRRP_PROTO;
}

/**
 * Decodes a VRRP message. `ttl` (IPv4 TTL / IPv6 hop limit) must be 255 (RFC 3768 §7.1).
 * src/dst are the IP header's addresses (for the v3 checksum).
 */
export function decodeAdvert(
  msg: Uint8Array,
  af: 4 | 6,
  src: Uint8Array,
  dst: Uint8Array,
  ttl: number,
): VrrpAdvert | { error: DecodeError } {
  if (ttl !== 255) return { error: 'bad-ttl' };
  if (msg.length < 8) return { error: 'truncated' };
  const version = msg[0]! >> 4;
  if (version !== 2 && version !== 3) return { error: 'bad-version' };
  if ((msg[0]! & 0x0f) !== 1) return { error: 'bad-type' };
  const count = msg[3]!;
  const alen = af === 4 ? 4 : 16;
  const authLen = version === 2 ? 8 : 0;
  const need = 8 + count * alen + authLen;
  if (version === 2 && af === 6) return { error: 'bad-version' };
  if (msg.length < need) return { error: 'truncated' };
  const sum = version === 3 ? pseudoHeaderSum(src, dst, msg.length) : 0;
  if (checksum(msg, 0, msg.length, sum) !== 0) return { error: 'bad-checksum' };
  const addrs: Uint8Array[] = [];
  for (let i = 0; i < count; i++) addrs.push(msg.slice(8 + i * alen, 8 + (i + 1) * alen));
  let authType = 0;
  let password = '';
  let interval: number;
  if (version === 2) {
    authType = msg[4]!;
    interval = msg[5]!;
    if (authType === 1) {
      const raw = msg.subarray(8 + count * alen, need);
      const end = raw.indexOf(0);
      password = new TextDecoder().decode(end < 0 ? raw : raw.subarray(0, end));
    }
  } else {
    interval = ((msg[4]! & 0x0f) << 8) | msg[5]!;
  }
  return { version: version as 2 | 3, vrid: msg[1]!, priority: msg[2]!, interval, af, addrs, authType, password };
}
