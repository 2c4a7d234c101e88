import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeAdvert, decodeAdvert, type VrrpAdvert } from '../../src/ha/vrrp-codec.ts';

const ip4 = (s: string) => new Uint8Array(s.split('.').map(Number));
const src = ip4('10.0.0.2');
const dst = ip4('224.0.0.18');

// A keepalived v2 advert (vrid 51, prio 100, 1 s, PASS "1111", VIP 192.168.200.16) built by hand
// from RFC 3768 §5.1; checksum computed independently below.
const keepalivedV2 = Uint8Array.from([
  0x21, 51, 100, 1, 1, 1, 0, 0, 192, 168, 200, 16, 0x31, 0x31, 0x31, 0x31, 0, 0, 0, 0,
]);
function rfc1071(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return ~s & 0xffff;
}
{
  const c = rfc1071(keepalivedV2);
  keepalivedV2[6] = c >> 8;
  keepalivedV2[7] = c & 0xff;
}

test('v2 with PASS authentication encodes to the RFC 3768 layout and decodes back', () => {
  const a: VrrpAdvert = { version: 2, vrid: 51, priority: 100, interval: 1, af: 4, addrs: [ip4('192.168.200.16')], authType: 1, password: '1111' };
  assert.deepEqual(encodeAdvert(a, src, dst), keepalivedV2);
  const d = decodeAdvert(keepalivedV2, 4, src, dst, 255);
  assert.ok(!('error' in d));
  assert.equal(d.password, '1111');
  assert.equal(d.vrid, 51);
  assert.deepEqual([...d.addrs[0]!], [192, 168, 200, 16]);
});

test('v3 IPv4 checksum covers the pseudo-header: same message from another source fails', () => {
  const a: VrrpAdvert = { version: 3, vrid: 7, priority: 200, interval: 10, af: 4, addrs: [ip4('10.0.0.100')], authType: 0, password: '' };
  const m = encodeAdvert(a, src, dst);
  const ok = decodeAdvert(m, 4, src, dst, 255);
  assert.ok(!('error' in ok) && ok.interval === 10);
  assert.deepEqual(decodeAdvert(m, 4, ip4('10.0.0.3'), dst, 255), { error: 'bad-checksum' });
});

test('v3 IPv6 round trip', () => {
  const s6 = new Uint8Array(16); s6[0] = 0xfe; s6[1] = 0x80; s6[15] = 2;
  const d6 = new Uint8Array(16); d6[0] = 0xff; d6[1] = 0x02; d6[15] = 0x12;
  const vip = new Uint8Array(16); vip[0] = 0x20; vip[1] = 0x01; vip[15] = 0x64;
  const m = encodeAdvert({ version: 3, vrid: 9, priority: 120, interval: 100, af: 6, addrs: [vip], authType: 0, password: '' }, s6, d6);
  const d = decodeAdvert(m, 6, s6, d6, 255);
  assert.ok(!('error' in d));
  assert.deepEqual([...d.addrs[0]!], [...vip]);
});

const bad: { name: string; mutate: (m: Uint8Array) => Uint8Array; ttl?: number; error: string }[] = [
  { name: 'TTL other than 255', mutate: (m) => m, ttl: 64, error: 'bad-ttl' },
  { name: 'flipped byte (checksum)', mutate: (m) => { const c = m.slice(); c[2] ^= 1; return c; }, error: 'bad-checksum' },
  { name: 'version 4', mutate: (m) => { const c = m.slice(); c[0] = 0x41; return c; }, error: 'bad-version' },
  { name: 'type 2', mutate: (m) => { const c = m.slice(); c[0] = 0x22; return c; }, error: 'bad-type' },
  { name: 'truncated', mutate: (m) => m.slice(0, 10), error: 'truncated' },
  { name: 'address count beyond the message', mutate: (m) => { const c = m.slice(); c[3] = 9; return c; }, error: 'truncated' },
];
for (const b of bad) {
  test(`decode rejects ${b.name}`, () => {
    assert.deepEqual(decodeAdvert(b.mutate(keepalivedV2), 4, src, dst, b.ttl ?? 255), { error: b.error });
  });
}

test('fuzz: random bytes never throw', () => {
  for (let i = 0; i < 5000; i++) {
    const m = new Uint8Array(Math.floor(Math.random() * 60));
    for (let j = 0; j < m.length; j++) m[j] = Math.floor(Math.random() * 256);
    decodeAdvert(m, Math.random() < 0.5 ? 4 : 6, src, dst, 255);
  }
});
