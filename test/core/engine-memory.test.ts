/**
 * The connection table's memory under a flood (src/core/conntable.ts): a flood's entries grow
 * the table's arrays; once they have expired the table gives the memory back, and the entries
 * that live on (moved into the smaller arrays) keep their handles, timers and templates.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SVC_F } from '../../src/core/types.ts';
import { Rig, svcKey } from './engine-rig.ts';

const K = svcKey('tcp', '10.0.0.1', 80);
const P = svcKey('tcp', '10.0.0.2', 443);

test('50,000 half-open entries grow the table (72 bytes an entry); 61 s later they are gone and the table is back to its empty size; survivors keep handle, timer and template', () => {
  const r = new Rig();
  r.service(K).dest(K, '192.168.1.1', 80, 'route').dest(K, '192.168.1.2', 80, 'route');
  r.service(P, { flags: SVC_F.PERSISTENT, timeout: 3600 }).dest(P, '192.168.1.1', 443, 'route').dest(P, '192.168.1.2', 443, 'route');
  r.at(1);
  const empty = r.e.tableMemory();
  const N = 50_000;
  for (let i = 0; i < N; i++) r.in('tcp', `172.16.${(i >> 8) & 255}.${i & 255}:${10000 + (i % 50000)}`, '10.0.0.1:80', 'S');
  // Entries that outlive the flood, created last (the highest slots): one established, one
  // persistent (a template and its connection).
  const est = r.in('tcp', '198.51.100.7:5555', '10.0.0.1:80', 'S');
  r.in('tcp', '198.51.100.7:5555', '10.0.0.1:80', 'A');
  const pers = r.in('tcp', '198.51.100.8:6000', '10.0.0.2:443', 'S');
  r.in('tcp', '198.51.100.8:6000', '10.0.0.2:443', 'A');
  const grown = r.e.tableMemory();
  assert.equal(r.e.sizes().entries, N + 3);
  assert.ok(grown.bytes - empty.bytes <= (N + 3) * 72 * 2 + grown.capacity * 4, `grew ${grown.bytes - empty.bytes} bytes for ${N + 3} entries`);
  // Keep the survivors busy while the flood's SYN_RECV entries (60 s) expire.
  for (let t = 10; t <= 62; t += 2) {
    r.at(1 + t);
    r.in('tcp', '198.51.100.7:5555', '10.0.0.1:80', 'PA');
    r.in('tcp', '198.51.100.8:6000', '10.0.0.2:443', 'PA');
  }
  assert.equal(r.e.sizes().entries, 3, 'the established connection, the persistent one and its template');
  assert.deepEqual(r.e.tableMemory(), empty, 'the arrays are back to their empty size');
  // The survivors answer to the handles they had.
  assert.ok(r.e.countForwarded(est.conn, 1, 100), 'the established entry by its old handle');
  assert.equal(r.e.connInfo(est.conn)?.state, 'ESTABLISHED');
  assert.equal(r.e.connInfo(pers.conn)?.cport, 6000);
  assert.equal(r.e.connInfo(pers.template)?.cport, 0, 'the template by its old handle');
  const again = r.in('tcp', '198.51.100.7:5555', '10.0.0.1:80', 'PA');
  assert.equal(again.conn, est.conn, 'the engine still names it by its old handle');
  // The persistent client's next connection follows the template to the same server.
  const next = r.in('tcp', '198.51.100.8:6001', '10.0.0.2:443', 'S');
  assert.equal(next.template, pers.template);
  assert.equal(next.dest?.addr, pers.dest?.addr);
  // The timers moved with the entries: idle, they expire on time (ESTABLISHED 900 s; the
  // template once nothing it controls is left).
  r.at(63 + 899);
  assert.equal(r.e.connInfo(est.conn)?.state, 'ESTABLISHED');
  r.at(63 + 901 + 3600);
  assert.equal(r.e.sizes().entries, 0);
  // And the table grows again.
  for (let i = 0; i < 5000; i++) r.in('tcp', `172.17.${(i >> 8) & 255}.${i & 255}:2000`, '10.0.0.1:80', 'S');
  assert.equal(r.e.sizes().entries, 5000);
});
