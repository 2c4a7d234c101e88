import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeSyncMessages, decodeSyncMessage, CONN_F, type SyncConn } from '../../src/ha/sync-codec.ts';

const v4 = (s: string) => new Uint8Array(s.split('.').map(Number));
const conn = (i: number, extra: Partial<SyncConn> = {}): SyncConn => ({
  af: 4, protocol: 6, flags: CONN_F.DROUTE | CONN_F.NOOUTPUT, state: 1, cport: 40000 + i, vport: 80, dport: 80,
  fwmark: 0, timeout: 900, caddr: v4(`172.16.0.${i % 250}`), vaddr: v4('10.0.0.1'), daddr: v4('192.168.10.2'), ...extra,
});

test('a v4 entry has the kernel layout: 8-byte header, 36-byte entry, fields big-endian', () => {
  const [m] = encodeSyncMessages(7, [conn(1)]);
  assert.equal(m!.length, 44);
  assert.deepEqual([...m!.subarray(0, 8)], [0, 7, 0, 44, 1, 1, 0, 0]);
  const dv = new DataView(m!.buffer);
  assert.equal(dv.getUint16(8 + 2), 36); // ver 0, size 36
  assert.equal(dv.getUint32(8 + 4), CONN_F.DROUTE | CONN_F.NOOUTPUT);
  assert.equal(dv.getUint16(8 + 10), 40001);
  assert.equal(dv.getUint32(8 + 20), 900);
  assert.deepEqual([...m!.subarray(8 + 32, 8 + 36)], [192, 168, 10, 2]);
});

test('round trip keeps every field and marks entries as synced; templates come back with state 0', () => {
  const tpl = conn(2, { protocol: 0, flags: CONN_F.TEMPLATE | CONN_F.DROUTE, state: 5, cport: 0, vport: 0, dport: 0, fwmark: 99, timeout: 360 });
  const v6 = conn(3, { af: 6, caddr: new Uint8Array(16).fill(1), vaddr: new Uint8Array(16).fill(2), daddr: new Uint8Array(16).fill(3) });
  const msgs = encodeSyncMessages(0, [conn(1), tpl, v6]);
  assert.equal(msgs.length, 1);
  const d = decodeSyncMessage(msgs[0]!, 0);
  assert.ok(!('error' in d));
  assert.equal(d.conns.length, 3);
  assert.equal(d.conns[0]!.cport, 40001);
  assert.equal(d.conns[0]!.flags, CONN_F.DROUTE | CONN_F.NOOUTPUT | CONN_F.SYNC);
  assert.equal(d.conns[1]!.state, 0);
  assert.equal(d.conns[1]!.fwmark, 99);
  assert.deepEqual([...d.conns[2]!.daddr], new Array(16).fill(3));
});

test('messages are split at maxlen (1472 by default) and at 255 entries', () => {
  const many = Array.from({ length: 100 }, (_, i) => conn(i));
  const msgs = encodeSyncMessages(1, many);
  assert.ok(msgs.every((m) => m.length <= 1472));
  assert.equal(msgs.reduce((n, m) => n + m[4]!, 0), 100);
  assert.equal(msgs[0]![4], Math.floor((1472 - 8) / 36));
});

test('one-packet entries are never synced', () => {
  assert.deepEqual(encodeSyncMessages(1, [conn(1, { flags: CONN_F.ONE_PACKET })]), []);
});

test('PE data and name options round trip with 4-byte alignment of the next entry', () => {
  const sip = conn(5, { protocol: 17, peData: new TextEncoder().encode('call-id-1'), peName: 'sip' });
  const msgs = encodeSyncMessages(0, [sip, conn(6)]);
  const d = decodeSyncMessage(msgs[0]!);
  assert.ok(!('error' in d));
  assert.equal(d.conns[0]!.peName, 'sip');
  assert.equal(new TextDecoder().decode(d.conns[0]!.peData), 'call-id-1');
  assert.equal(d.conns[1]!.cport, 40006);
});

test('a backup with a syncid ignores other syncids; syncid 0 accepts all', () => {
  const [m] = encodeSyncMessages(3, [conn(1)]);
  assert.deepEqual(decodeSyncMessage(m!, 4), { error: 'wrong-syncid' });
  assert.ok(!('error' in decodeSyncMessage(m!, 0)));
  assert.ok(!('error' in decodeSyncMessage(m!, 3)));
});

test('bad sizes are rejected, random bytes never throw', () => {
  const [m] = encodeSyncMessages(3, [conn(1)]);
  assert.deepEqual(decodeSyncMessage(m!.subarray(0, 40)), { error: 'bad-size' });
  for (let i = 0; i < 5000; i++) {
    const b = new Uint8Array(Math.floor(Math.random() * 120));
    for (let j = 0; j < b.length; j++) b[j] = Math.floor(Math.random() * 256);
    if (b.length >= 4) { b[2] = b.length >> 8; b[3] = b.length & 255; b[0] = 0; b[5] = 1; }
    decodeSyncMessage(b);
  }
});
