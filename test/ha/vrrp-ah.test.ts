/**
 * auth_type AH (RFC 2402 as keepalived 2.2.7 does it): golden packets captured from a real
 * keepalived (vrid 60, priority 150, password s3cret, 10.96.0.2 to 224.0.0.18), built and checked
 * byte for byte; and what makes a packet fail.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ahKey, checkAhPacket, encodeAhPacket } from '../../src/ha/vrrp-ah.ts';
import { decodeAdvert, encodeAdvert } from '../../src/ha/vrrp-codec.ts';

/** tcpdump -x of keepalived's first two adverts (IP header with the kernel's checksum). */
const CAPTURED = [
  '45c0 0040 0001 0000 ff33 d055 0a60 0002 e000 0012 7004 0000 0a60 0002 0000 0001 8763 ace5 421b fc86 d1be c660 213c 9601 0201 3bfd 0a60 0064 0000 0000 0000 0000',
  '45c0 0040 0002 0000 ff33 d054 0a60 0002 e000 0012 7004 0000 0a60 0002 0000 0002 562b 8336 581f dc35 31d7 9250 213c 9601 0201 3bfd 0a60 0064 0000 0000 0000 0000',
].map((h) => new Uint8Array(Buffer.from(h.replace(/ /g, ''), 'hex')));
const SRC = new Uint8Array([10, 96, 0, 2]);
const DST = new Uint8Array([224, 0, 0, 18]);
const key = ahKey('s3cret');

test('keepalived\'s AH adverts are accepted: ICV, SPI and the sequence number read; the VRRP message inside has auth type 2', () => {
  CAPTURED.forEach((pkt, i) => {
    const r = checkAhPacket(pkt, key, false);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.seq, i + 1);
    const d = decodeAdvert(r.vrrp, 4, SRC, DST, 255);
    assert.ok(!('error' in d));
    assert.deepEqual([d.vrid, d.priority, d.authType, d.interval], [60, 150, 2, 1]);
  });
});

test('tsvs builds the packets keepalived sends, byte for byte (the kernel adds the IP checksum)', () => {
  CAPTURED.forEach((pkt, i) => {
    const vrrp = encodeAdvert({ version: 2, vrid: 60, priority: 150, interval: 1, af: 4, addrs: [new Uint8Array([10, 96, 0, 100])], authType: 2, password: '' }, SRC, DST);
    const mine = encodeAhPacket({ src: SRC, dst: DST, id: i + 1, ttl: 255, seq: i + 1, unicast: false, vrrp }, key);
    const want = Buffer.from(pkt);
    want[10] = 0; want[11] = 0;
    assert.equal(Buffer.from(mine).toString('hex'), want.toString('hex'));
  });
});

test('a wrong password, a changed byte, a rewritten source or an AH for another protocol fail the check; TOS and TTL (multicast) changes do not', () => {
  const pkt = CAPTURED[0]!;
  const mutate = (f: (b: Uint8Array) => void) => { const b = new Uint8Array(pkt); f(b); return b; };
  assert.deepEqual(checkAhPacket(pkt, ahKey('s3cre7'), false), { ok: false, error: 'bad-icv' });
  assert.deepEqual(checkAhPacket(mutate((b) => { b[46] = 200; }), key, false), { ok: false, error: 'bad-icv' }, 'priority changed');
  assert.deepEqual(checkAhPacket(mutate((b) => { b[4] = 9; }), key, false), { ok: false, error: 'bad-icv' }, 'IP id is covered');
  assert.deepEqual(checkAhPacket(mutate((b) => { b[20] = 6; }), key, false), { ok: false, error: 'other-protocol' });
  assert.deepEqual(checkAhPacket(pkt.subarray(0, 40), key, false), { ok: false, error: 'truncated' });
  assert.ok(checkAhPacket(mutate((b) => { b[1] = 0; b[10] = 1; }), key, false).ok, 'TOS and checksum are mutable');
  // Unicast: the TTL is left out of the ICV (keepalived), so a router's decrement is allowed.
  const uni = encodeAhPacket({ src: SRC, dst: new Uint8Array([10, 96, 0, 1]), id: 1, ttl: 255, seq: 1, unicast: true, vrrp: pkt.subarray(44) }, key);
  assert.ok(checkAhPacket(new Uint8Array([...uni.subarray(0, 8), 250, ...uni.subarray(9)]), key, true).ok);
  assert.deepEqual(checkAhPacket(new Uint8Array([...uni.subarray(0, 8), 250, ...uni.subarray(9)]), key, false), { ok: false, error: 'bad-icv' });
  // A rewritten source address (the ICV covers it, and the SPI names the sender) fails.
  assert.deepEqual(checkAhPacket(mutate((b) => { b.set([10, 96, 0, 1], 12); }), key, false), { ok: false, error: 'bad-icv' });
});
