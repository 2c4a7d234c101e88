/** The kernel hash functions behind dh/sh/lblc/lblcr/mh, checked against published vectors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { foldAddr, hash32, hsipKey, hsiphash1u32, hsiphashBytes, siphashBytes } from '../../../src/core/hash.ts';
import { ip } from './fixture.ts';

const K0 = 0x0706050403020100n, K1 = 0x0f0e0d0c0b0a0908n;
const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i);

test('SipHash-2-4 matches the reference test vectors (key 00..0f, message 00..len-1)', () => {
  const vectors: Array<[number, bigint]> = [
    [0, 0x726fdb47dd0e0e31n], [1, 0x74f839c593dc67fdn], [2, 0x0d6c8009d9a94f5an],
    [3, 0x85676696d7fb7e2dn], [63, 0x958a324ceb064572n],
  ];
  for (const [len, want] of vectors) assert.equal(siphashBytes(2, 4, bytes(len), K0, K1), want, `len ${len}`);
});

test('64-bit kernel hsiphash (SipHash-1-3, low 32 bits) matches the kernel self-test vectors', () => {
  // lib/siphash_kunit.c test_vectors_hsiphash (BITS_PER_LONG == 64), first 16 lengths.
  const want = [
    0x050fc4dc, 0x7d57ca93, 0x4dc7d44d, 0xe7ddf7fb, 0x88d38328, 0x49533b67, 0xc59f22a7, 0x9bb11140,
    0x8d299a8e, 0x6c063de4, 0x92ff097f, 0xf94dc352, 0x57b4d9a2, 0x1229ffa7, 0xc0f95d34, 0x2a519956,
  ];
  want.forEach((w, len) => assert.equal(hsiphashBytes(bytes(len), K0, K1), w, `len ${len}`));
});

test('fast hsiphash_1u32 equals hsiphash over the 4 little-endian bytes', () => {
  const key = hsipKey(K0, K1);
  assert.equal(hsiphash1u32(0x03020100, key), 0x88d38328);
  const mk = 2654435761n;
  for (const v of [0, 1, 80, 0x0a000001, 0xffffffff, 0xdeadbeef, 123456789]) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    assert.equal(hsiphash1u32(v, hsipKey(mk, mk)), hsiphashBytes(b, mk, mk), `v ${v}`);
    assert.equal(hsiphash1u32(v, key), hsiphashBytes(b, K0, K1), `v ${v}`);
  }
});

test('hash_32 is the golden-ratio multiply keeping the top bits', () => {
  const ref = (v: number, b: number): number => Number(((BigInt(v) * 0x61c88647n) & 0xffffffffn) >> BigInt(32 - b));
  for (const v of [0, 1, 0x0a000001, 0xc0a80101, 0xffffffff, 0x80000000]) {
    for (const b of [8, 10]) assert.equal(hash32(v, b), ref(v, b), `${v} ${b}`);
  }
  assert.equal(hash32(0x0a000001, 8), 39);
});

test('addresses fold to host-order u32 (IPv6: XOR of the four words)', () => {
  assert.equal(foldAddr(ip('10.0.0.1')), 0x0a000001);
  assert.equal(foldAddr(ip('2001:db8::1')), (0x20010db8 ^ 0 ^ 0 ^ 1) >>> 0);
});
