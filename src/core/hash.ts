/**
 * The kernel hash functions the hashing schedulers depend on (pure, exact):
 *  - hash_32(v, bits)  (include/linux/hash.h, GOLDEN_RATIO_32 = 0x61C88647)
 *  - hsiphash on 64-bit kernels = SipHash-1-3 returning the low 32 bits (lib/siphash.c)
 *  - the IPv6 address fold every IPVS hash uses (XOR of the four 32-bit words)
 */
import type { Ip } from './addr.ts';

/** hash_32(val, bits) = (val * 0x61C88647 mod 2^32) >> (32 - bits). */
export function hash32(v: number, bits: number): number {
  return Math.imul(v >>> 0, 0x61c88647) >>> (32 - bits);
}

/** ntohl(addr_fold): IPv4 host-order address, or XOR of the four IPv6 words (host order). */
export function foldAddr(ip: Ip): number {
  const w = ip.words;
  if (ip.af === 4) return w[0]! >>> 0;
  return (w[0]! ^ w[1]! ^ w[2]! ^ w[3]!) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Generic SipHash-c-d over bytes (BigInt; reference and test-vector checks, not the hot path).

const M64 = (1n << 64n) - 1n;
const rotl = (x: bigint, b: bigint): bigint => ((x << b) | (x >> (64n - b))) & M64;

/** SipHash-c-d of `data` with 64-bit keys k0, k1 (as the kernel's PREAMBLE/POSTAMBLE). Returns the 64-bit result. */
export function siphashBytes(c: number, d: number, data: Uint8Array, k0: bigint, k1: bigint): bigint {
  let v0 = 0x736f6d6570736575n ^ k0;
  let v1 = 0x646f72616e646f6dn ^ k1;
  let v2 = 0x6c7967656e657261n ^ k0;
  let v3 = 0x7465646279746573n ^ k1;
  const round = (): void => {
    v0 = (v0 + v1) & M64; v1 = rotl(v1, 13n); v1 ^= v0; v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & M64; v3 = rotl(v3, 16n); v3 ^= v2;
    v0 = (v0 + v3) & M64; v3 = rotl(v3, 21n); v3 ^= v0;
    v2 = (v2 + v1) & M64; v1 = rotl(v1, 17n); v1 ^= v2; v2 = rotl(v2, 32n);
  };
  const len = data.length;
  const full = len - (len % 8);
  for (let i = 0; i < full; i += 8) {
    let m = 0n;
    for (let j = 7; j >= 0; j--) m = (m << 8n) | BigInt(data[i + j]!);
    v3 ^= m;
    for (let r = 0; r < c; r++) round();
    v0 ^= m;
  }
  let b = (BigInt(len) & 0xffn) << 56n;
  for (let j = len - full - 1; j >= 0; j--) b |= BigInt(data[full + j]!) << BigInt(8 * j);
  v3 ^= b;
  for (let r = 0; r < c; r++) round();
  v0 ^= b;
  v2 ^= 0xffn;
  for (let r = 0; r < d; r++) round();
  return (v0 ^ v1 ^ v2 ^ v3) & M64;
}

/** Kernel hsiphash() on 64-bit (SipHash-1-3, low 32 bits) over bytes; BigInt reference. */
export function hsiphashBytes(data: Uint8Array, k0: bigint, k1: bigint): number {
  return Number(siphashBytes(1, 3, data, k0, k1) & 0xffffffffn);
}

// ---------------------------------------------------------------------------------------------
// Fast hsiphash of one u32 (the mh hot path) with 32-bit halves.

/** A 64-bit hsiphash key split into 32-bit halves. */
export interface HsipKey {
  readonly k0h: number; readonly k0l: number; readonly k1h: number; readonly k1l: number;
}

export function hsipKey(k0: bigint, k1: bigint): HsipKey {
  return {
    k0h: Number((k0 >> 32n) & 0xffffffffn), k0l: Number(k0 & 0xffffffffn),
    k1h: Number((k1 >> 32n) & 0xffffffffn), k1l: Number(k1 & 0xffffffffn),
  };
}

// state: v0h v0l v1h v1l v2h v2l v3h v3l
const S = new Uint32Array(8);

function sipround(): void {
  let v0h = S[0]!, v0l = S[1]!, v1h = S[2]!, v1l = S[3]!, v2h = S[4]!, v2l = S[5]!, v3h = S[6]!, v3l = S[7]!;
  let l: number, h: number;
  // v0 += v1
  l = (v0l + v1l) >>> 0; v0h = (v0h + v1h + (l < v0l ? 1 : 0)) >>> 0; v0l = l;
  // v1 = rol(v1, 13)
  h = ((v1h << 13) | (v1l >>> 19)) >>> 0; l = ((v1l << 13) | (v1h >>> 19)) >>> 0; v1h = h; v1l = l;
  v1h = (v1h ^ v0h) >>> 0; v1l = (v1l ^ v0l) >>> 0;
  // v0 = rol(v0, 32)
  h = v0h; v0h = v0l; v0l = h;
  // v2 += v3
  l = (v2l + v3l) >>> 0; v2h = (v2h + v3h + (l < v2l ? 1 : 0)) >>> 0; v2l = l;
  // v3 = rol(v3, 16)
  h = ((v3h << 16) | (v3l >>> 16)) >>> 0; l = ((v3l << 16) | (v3h >>> 16)) >>> 0; v3h = h; v3l = l;
  v3h = (v3h ^ v2h) >>> 0; v3l = (v3l ^ v2l) >>> 0;
  // v0 += v3
  l = (v0l + v3l) >>> 0; v0h = (v0h + v3h + (l < v0l ? 1 : 0)) >>> 0; v0l = l;
  // v3 = rol(v3, 21)
  h = ((v3h << 21) | (v3l >>> 11)) >>> 0; l = ((v3l << 21) | (v3h >>> 11)) >>> 0; v3h = h; v3l = l;
  v3h = (v3h ^ v0h) >>> 0; v3l = (v3l ^ v0l) >>> 0;
  // v2 += v1
  l = (v2l + v1l) >>> 0; v2h = (v2h + v1h + (l < v2l ? 1 : 0)) >>> 0; v2l = l;
  // v1 = rol(v1, 17)
  h = ((v1h << 17) | (v1l >>> 15)) >>> 0; l = ((v1l << 17) | (v1h >>> 15)) >>> 0; v1h = h; v1l = l;
  v1h = (v1h ^ v2h) >>> 0; v1l = (v1l ^ v2l) >>> 0;
  // v2 = rol(v2, 32)
  h = v2h; v2h = v2l; v2l = h;
  S[0] = v0h; S[1] = v0l; S[2] = v1h; S[3] = v1l; S[4] = v2h; S[5] = v2l; S[6] = v3h; S[7] = v3l;
}

/**
 * hsiphash_1u32(first, key) on a 64-bit kernel (identical to hsiphash(&u32, 4, key)):
 * b = (4 << 56) | first; v3 ^= b; 1 round; v0 ^= b; v2 ^= 0xff; 3 rounds; low 32 bits of v0^v1^v2^v3.
 */
export function hsiphash1u32(first: number, key: HsipKey): number {
  S[0] = (0x736f6d65 ^ key.k0h) >>> 0; S[1] = (0x70736575 ^ key.k0l) >>> 0;
  S[2] = (0x646f7261 ^ key.k1h) >>> 0; S[3] = (0x6e646f6d ^ key.k1l) >>> 0;
  S[4] = (0x6c796765 ^ key.k0h) >>> 0; S[5] = (0x6e657261 ^ key.k0l) >>> 0;
  S[6] = (0x74656462 ^ key.k1h) >>> 0; S[7] = (0x79746573 ^ key.k1l) >>> 0;
  const bh = 0x04000000, bl = first >>> 0;
  S[6] = (S[6]! ^ bh) >>> 0; S[7] = (S[7]! ^ bl) >>> 0;
  sipround();
  S[0] = (S[0]! ^ bh) >>> 0; S[1] = (S[1]! ^ bl) >>> 0;
  S[5] = (S[5]! ^ 0xff) >>> 0;
  sipround(); sipround(); sipround();
  return (S[1]! ^ S[3]! ^ S[5]! ^ S[7]!) >>> 0;
}
