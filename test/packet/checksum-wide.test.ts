/**
 * sum16's wide path (host-order 32-bit words for runs of 256+ bytes at even addresses) must give
 * exactly the byte-pair sum: random buffers, every alignment of the view and the offset, odd
 * lengths, all-zero and all-0xff data (the 0 / 0xffff edge of one's-complement).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checksum, fold16, sum16 } from '../../src/codec/checksum.ts';

function reference(b: Uint8Array, off: number, len: number, init: number): number {
  let s = init;
  for (let i = 0; i < len; i += 2) s += (b[off + i]! << 8) | (i + 1 < len ? b[off + i + 1]! : 0);
  return s;
}

test('sum16 and checksum equal the byte-pair reference for long runs at every alignment', () => {
  let x = 0x9e3779b9;
  const r = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
  const backing = new Uint8Array(66000 + 16);
  let wide = 0;
  for (let t = 0; t < 3000; t++) {
    const fill = t % 5;
    for (let i = 0; i < backing.length; i++) backing[i] = fill === 0 ? 0xff : fill === 1 ? 0 : r() & 255;
    const base = t % 8;
    const b = new Uint8Array(backing.buffer, base, backing.length - base);
    const off = r() % 40;
    const len = t < 30 ? 65535 - (t & 1) : 200 + (r() % 2000);
    const init = t % 3 === 0 ? 0 : r() % 200000;
    if (len >= 256 && ((base + off) & 1) === 0) wide++;
    assert.equal(fold16(sum16(b, off, len, init)), fold16(reference(b, off, len, init)), `t=${t} base=${base} off=${off} len=${len}`);
    assert.equal(checksum(b, off, len, init), ~fold16(reference(b, off, len, init)) & 0xffff, `checksum t=${t}`);
  }
  assert.ok(wide > 1000, `wide path exercised ${wide} times`);
});
