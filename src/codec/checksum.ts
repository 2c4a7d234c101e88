/**
 * Internet checksums. Pure, allocation-free, on byte views with offsets.
 *
 * - Full checksum (RFC 1071): `sum16` accumulates big-endian 16-bit words into an unfolded
 *   number, `fold16` folds it, `checksum` returns the complemented 16-bit value to store.
 * - Incremental update (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')): `csumReplace16` for a
 *   16-bit field change (port, TTL/protocol word), `csumReplace32` for a 32-bit change (an
 *   IPv4 address, one word of an IPv6 address).
 * - Pseudo-header sums for TCP/UDP/ICMPv6: `pseudoSum4`, `pseudoSum6`.
 *
 * Addresses are host-order u32 numbers (words), as in src/core/addr.ts `Ip.words`.
 */

/** Little-endian host: the wide path below reads 32-bit words in host order. */
const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Bytes from which a 32-bit word view pays for its allocation. */
const WIDE_MIN = 256;

/**
 * Unfolded one's-complement sum of `len` bytes at `off` (big-endian words, odd tail padded).
 * Long runs are summed as host-order 32-bit words (RFC 1071 §2(A)/(B): the sum is independent
 * of byte order up to a final swap, and 2^16 ≡ 1 mod 0xffff folds 32-bit words), about 4x
 * fewer loads than byte pairs: it matters for full tunnel checksums (GUE UDP, GRE) of 1500-byte
 * packets. The result may then be folded already; callers only fold/complement it.
 */
export function sum16(b: Uint8Array, off: number, len: number, init = 0): number {
  if (LE && len >= WIDE_MIN && ((b.byteOffset + off) & 1) === 0) return init + sumWide(b, off, len);
  let s = init;
  const end = off + (len & ~1);
  let i = off;
  // Two words per iteration keeps the loop short; the sum stays exact below 2^53.
  for (; i + 3 < end; i += 4) s += ((b[i]! << 8) | b[i + 1]!) + ((b[i + 2]! << 8) | b[i + 3]!);
  for (; i < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (len & 1) s += b[end]! << 8;
  return s;
}

/** sum16 for long runs at an even absolute address (little-endian host). */
function sumWide(b: Uint8Array, off: number, len: number): number {
  let s = 0;
  let i = off;
  const end = off + len;
  // Big-endian 16-bit words up to a 4-byte aligned address.
  while (((b.byteOffset + i) & 3) !== 0 && i + 1 < end) { s += (b[i]! << 8) | b[i + 1]!; i += 2; }
  const n = (end - i) >>> 2;
  const w = new Uint32Array(b.buffer, b.byteOffset + i, n);
  let t = 0;
  let k = 0;
  for (; k + 3 < n; k += 4) t += w[k]! + w[k + 1]! + w[k + 2]! + w[k + 3]!;
  for (; k < n; k++) t += w[k]!;
  // t sums byte-swapped 16-bit words: fold, then swap back.
  t = fold16(t);
  s += ((t & 0xff) << 8) | (t >>> 8);
  i += n * 4;
  for (; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (i < end) s += b[i]! << 8;
  return s;
}

/** Folds an unfolded sum to 16 bits (not complemented). */
export function fold16(s: number): number {
  if (s > 0xffffffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** The checksum to store: ~fold(sum) over the bytes, plus an optional initial (pseudo-header) sum. */
export function checksum(b: Uint8Array, off: number, len: number, init = 0): number {
  return ~fold16(sum16(b, off, len, init)) & 0xffff;
}

/** RFC 1624 eqn. 3 for one 16-bit field: old checksum hc, old value m, new value mp. */
export function csumReplace16(hc: number, m: number, mp: number): number {
  let s = (~hc & 0xffff) + (~m & 0xffff) + (mp & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** RFC 1624 eqn. 3 for a 32-bit field (two 16-bit words): old checksum hc, old value, new value. */
export function csumReplace32(hc: number, old32: number, new32: number): number {
  let s = (~hc & 0xffff) + (~(old32 >>> 16) & 0xffff) + (~old32 & 0xffff) + (new32 >>> 16) + (new32 & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** Pseudo-header sum for IPv4 (RFC 793/768): addresses, protocol, L4 length. Unfolded. */
export function pseudoSum4(src: number, dst: number, protocol: number, l4len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + l4len;
}

/** Pseudo-header sum for IPv6 (RFC 8200 §8.1) from the address bytes in `b`. Unfolded. */
export function pseudoSum6(b: Uint8Array, srcOff: number, dstOff: number, nextHeader: number, l4len: number): number {
  return sum16(b, srcOff, 16, sum16(b, dstOff, 16)) + (l4len >>> 16) + (l4len & 0xffff) + nextHeader;
}

/** Reads a big-endian u16. */
export function rd16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

/** Reads a big-endian u32 as an unsigned number. */
export function rd32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

export function wr16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

export function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
