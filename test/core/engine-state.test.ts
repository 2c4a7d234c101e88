/** TCP/UDP state machine, ActiveConn/InActConn accounting and expiry (spec §3.2-§3.4). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rig, svcKey } from './engine-rig.ts';

const VIP = '10.0.0.1:80';
const C = '172.16.5.77:40001';

interface Step { dir: 'in' | 'out'; fl: string; state: string; active: number; inact: number; expires: number }

const flows: { name: string; fwd: 'masq' | 'route' | 'tunnel'; steps: Step[] }[] = [
  {
    name: 'NAT, client closes first', fwd: 'masq', steps: [
      { dir: 'in', fl: 'S', state: 'SYN_RECV', active: 1, inact: 0, expires: 60 },
      { dir: 'out', fl: 'SA', state: 'SYN_RECV', active: 1, inact: 0, expires: 60 },
      { dir: 'in', fl: 'A', state: 'ESTABLISHED', active: 1, inact: 0, expires: 900 },
      { dir: 'in', fl: 'PA', state: 'ESTABLISHED', active: 1, inact: 0, expires: 900 },
      { dir: 'in', fl: 'FA', state: 'CLOSE_WAIT', active: 0, inact: 1, expires: 60 },
      { dir: 'out', fl: 'FA', state: 'TIME_WAIT', active: 0, inact: 1, expires: 120 },
      { dir: 'in', fl: 'A', state: 'TIME_WAIT', active: 0, inact: 1, expires: 120 },
    ],
  },
  {
    name: 'NAT, server closes first', fwd: 'masq', steps: [
      { dir: 'in', fl: 'S', state: 'SYN_RECV', active: 1, inact: 0, expires: 60 },
      { dir: 'out', fl: 'SA', state: 'SYN_RECV', active: 1, inact: 0, expires: 60 },
      { dir: 'in', fl: 'A', state: 'ESTABLISHED', active: 1, inact: 0, expires: 900 },
      { dir: 'out', fl: 'FA', state: 'FIN_WAIT', active: 0, inact: 1, expires: 120 },
      { dir: 'in', fl: 'A', state: 'FIN_WAIT', active: 0, inact: 1, expires: 120 },
      { dir: 'in', fl: 'FA', state: 'TIME_WAIT', active: 0, inact: 1, expires: 120 },
    ],
  },
  {
    name: 'DR uses the INPUT-ONLY table', fwd: 'route', steps: [
      { dir: 'in', fl: 'S', state: 'SYN_RECV', active: 1, inact: 0, expires: 60 },
      { dir: 'in', fl: 'A', state: 'ESTABLISHED', active: 1, inact: 0, expires: 900 },
      { dir: 'in', fl: 'FA', state: 'FIN_WAIT', active: 0, inact: 1, expires: 120 },
      { dir: 'in', fl: 'A', state: 'FIN_WAIT', active: 0, inact: 1, expires: 120 },
    ],
  },
  {
    name: 'TUN, RST closes', fwd: 'tunnel', steps: [
      { dir: 'in', fl: 'S', state: 'SYN_RECV', active: 1, inact: 0, expires: 60 },
      { dir: 'in', fl: 'A', state: 'ESTABLISHED', active: 1, inact: 0, expires: 900 },
      { dir: 'in', fl: 'R', state: 'CLOSE', active: 0, inact: 1, expires: 10 },
    ],
  },
  {
    name: 'packet without flags moves to CLOSE', fwd: 'masq', steps: [
      { dir: 'in', fl: 'S', state: 'SYN_RECV', active: 1, inact: 0, expires: 60 },
      { dir: 'in', fl: '', state: 'CLOSE', active: 0, inact: 1, expires: 10 },
    ],
  },
];

for (const f of flows) {
  test(`state machine: ${f.name}`, () => {
    const key = svcKey('tcp', '10.0.0.1', 80);
    const r = new Rig().service(key, { scheduler: 'rr' }).dest(key, '192.168.10.1', 80, f.fwd);
    let t = 1;
    for (const [i, s] of f.steps.entries()) {
      r.at(t);
      const v = s.dir === 'in' ? r.in('tcp', C, VIP, s.fl) : r.out('tcp', '192.168.10.1:80', C, s.fl);
      assert.equal(v.action, 'forward', `step ${i}`);
      assert.equal(v.state, s.state, `step ${i} state`);
      assert.equal(v.isNew, i === 0);
      assert.deepEqual(r.counts(key, '192.168.10.1:80'), [s.active, s.inact], `step ${i} counts`);
      const c = r.e.connections();
      assert.equal(c.length, 1);
      assert.equal(c[0]!.expiresIn, s.expires, `step ${i} expiry`);
      t += 1;
    }
    // expires exactly `expires` seconds after the last packet
    const last = f.steps.at(-1)!.expires;
    r.at(t - 1 + last - 0.001);
    assert.equal(r.e.connections().length, 1);
    r.at(t - 1 + last);
    assert.equal(r.e.connections().length, 0);
    assert.deepEqual(r.counts(key, '192.168.10.1:80'), [0, 0]);
  });
}

test('an output packet clears NOOUTPUT: a DR connection then follows the INPUT table', () => {
  const key = svcKey('tcp', '10.0.0.1', 80);
  const r = new Rig().service(key).dest(key, '192.168.10.1', 80, 'route');
  r.in('tcp', C, VIP, 'S');
  r.in('tcp', C, VIP, 'A');
  r.out('tcp', '192.168.10.1:80', C, 'A');
  // INPUT table: client FIN from ESTABLISHED -> CLOSE_WAIT (INPUT-ONLY would say FIN_WAIT)
  assert.equal(r.in('tcp', C, VIP, 'FA').state, 'CLOSE_WAIT');
});

test('a new UDP entry lives the udp timeout (300 s) after its first packet', () => {
  const key = svcKey('udp', '10.0.0.1', 53);
  const r = new Rig().service(key).dest(key, '192.168.10.1', 53);
  const v = r.in('udp', C, '10.0.0.1:53');
  assert.equal(v.state, 'UDP');
  assert.equal(r.e.connections()[0]!.expiresIn, 300);
});

test('UDP flows are always InActConn, replies keep them alive, expiry after the udp timeout', () => {
  const key = svcKey('udp', '10.0.0.1', 53);
  const r = new Rig().service(key).dest(key, '192.168.10.1', 53);
  r.in('udp', C, '10.0.0.1:53');
  r.at(100);
  const o = r.out('udp', '192.168.10.1:53', C);
  assert.equal(o.action, 'forward');
  assert.equal(o.vport, 53);
  assert.deepEqual(r.counts(key, '192.168.10.1:53'), [0, 1]);
  r.at(399.9);
  assert.equal(r.e.connections().length, 1);
  r.at(400);
  assert.equal(r.e.connections().length, 0);
});

test('--set changes ESTABLISHED, FIN_WAIT and UDP timeouts; 0 keeps the value', () => {
  const key = svcKey('tcp', '10.0.0.1', 80);
  const r = new Rig().service(key).dest(key, '192.168.10.1', 80);
  r.ok(r.e.apply({ kind: 'set-timeouts', tcp: 100, tcpfin: 0, udp: 7 }));
  assert.deepEqual(r.e.timeouts(), { tcp: 100, tcpfin: 120, udp: 7 });
  r.in('tcp', C, VIP, 'S');
  r.in('tcp', C, VIP, 'A');
  assert.equal(r.e.connections()[0]!.expiresIn, 100);
  assert.equal(r.e.apply({ kind: 'set-timeouts', tcp: -1, tcpfin: 0, udp: 0 }), 'EINVAL');
});

test('non-SYN TCP packets without a connection pass untouched; sloppy_tcp schedules them', () => {
  const key = svcKey('tcp', '10.0.0.1', 80);
  const r = new Rig().service(key).dest(key, '192.168.10.1', 80);
  const v = r.in('tcp', C, VIP, 'A');
  assert.equal(v.action, 'pass');
  assert.equal(v.reason, 'no-conn');
  r.ok(r.e.setSysctl('sloppy_tcp', 1));
  const w = r.in('tcp', C, VIP, 'A');
  assert.equal(w.action, 'forward');
  assert.equal(w.state, 'ESTABLISHED');
  assert.equal(r.in('tcp', '172.16.5.78:1', VIP, 'R').action, 'pass');
});

test('no service: pass; service without destinations: reject (ICMP unreachable)', () => {
  const key = svcKey('tcp', '10.0.0.1', 80);
  const r = new Rig().service(key);
  assert.equal(r.in('tcp', C, '10.0.0.2:80', 'S').action, 'pass');
  const v = r.in('tcp', C, VIP, 'S');
  assert.equal(v.action, 'reject');
  assert.equal(v.reason, 'no-dest');
});

test('conn_reuse_mode: a SYN on a TIME_WAIT entry is scheduled as a new connection; mode 0 keeps it', () => {
  for (const mode of [1, 0]) {
    const key = svcKey('tcp', '10.0.0.1', 80);
    const r = new Rig().service(key, { scheduler: 'rr' }).dest(key, '192.168.10.1', 80).dest(key, '192.168.10.2', 80);
    r.ok(r.e.setSysctl('conn_reuse_mode', mode));
    const first = r.in('tcp', C, VIP, 'S').dest!.addr;
    r.in('tcp', C, VIP, 'A');
    r.in('tcp', C, VIP, 'FA');
    r.out('tcp', `${first}:80`, C, 'FA');
    assert.equal(r.in('tcp', C, VIP, 'A').state, 'TIME_WAIT');
    const v = r.in('tcp', C, VIP, 'S');
    if (mode) {
      assert.equal(v.isNew, true);
      assert.notEqual(v.dest!.addr, first);
      assert.equal(v.state, 'SYN_RECV');
      assert.equal(r.e.connections().length, 1);
    } else {
      assert.equal(v.isNew, false);
      assert.equal(v.dest!.addr, first);
      assert.equal(v.state, 'SYN_RECV');
    }
  }
});

test('expire_nodest_conn=0: packets of a deleted destination are dropped, the entry stays', () => {
  const key = svcKey('tcp', '10.0.0.1', 80);
  const r = new Rig().service(key).dest(key, '192.168.10.1', 80).dest(key, '192.168.10.2', 80);
  const d = r.in('tcp', C, VIP, 'S').dest!;
  r.in('tcp', C, VIP, 'A');
  r.ok(r.e.apply({ kind: 'delete-dest', key, af: 4, addr: d.addr, port: 80 }));
  const v = r.in('tcp', C, VIP, 'A');
  assert.equal(v.action, 'drop');
  assert.equal(v.reason, 'dest-unavailable');
  assert.equal(r.e.connections().length, 1);
});

test('expire_nodest_conn=1: deleting a destination expires its entries; a new SYN is rescheduled', () => {
  const key = svcKey('tcp', '10.0.0.1', 80);
  const r = new Rig({ sysctl: { expire_nodest_conn: 1 } }).service(key).dest(key, '192.168.10.1', 80).dest(key, '192.168.10.2', 80);
  const d = r.in('tcp', C, VIP, 'S').dest!;
  r.in('tcp', C, VIP, 'A');
  r.ok(r.e.apply({ kind: 'delete-dest', key, af: 4, addr: d.addr, port: 80 }));
  assert.equal(r.e.connections().length, 0);
  // a non-SYN now passes (no entry), a SYN goes to the remaining server
  assert.equal(r.in('tcp', C, VIP, 'A').action, 'pass');
  const v = r.in('tcp', C, VIP, 'S');
  assert.equal(v.action, 'forward');
  assert.notEqual(v.dest!.addr, d.addr);
});

test('expire_nodest_conn=1: a SYN hitting an entry whose destination has weight 0 is rescheduled', () => {
  const key = svcKey('tcp', '10.0.0.1', 80);
  const r = new Rig({ sysctl: { expire_nodest_conn: 1 } }).service(key).dest(key, '192.168.10.1', 80).dest(key, '192.168.10.2', 80);
  const d = r.in('tcp', C, VIP, 'S').dest!;
  r.ok(r.e.apply({ kind: 'edit-dest', key, dest: { af: 4, addr: d.addr, port: 80, fwd: 'masq', weight: 0, uThreshold: 0, lThreshold: 0, tunType: 'ipip', tunPort: 0, tunCsum: 'nocsum' } }));
  const v = r.in('tcp', C, VIP, 'S');
  assert.equal(v.isNew, true);
  assert.notEqual(v.dest!.addr, d.addr);
});
