/** Persistence templates (§3.5), thresholds/OVERLOAD (§1.3), one-packet scheduling (§3.8). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prefixToMask4 } from '../../src/core/addr.ts';
import { SVC_F } from '../../src/core/types.ts';
import { Rig, svcKey } from './engine-rig.ts';

const VIP = '10.0.0.1:80';

test('persistence with -M 255.255.255.0: clients of one /24 share a template and a server', () => {
  const key = svcKey('tcp', '10.0.0.1', 80);
  const r = new Rig().service(key, { scheduler: 'rr', flags: SVC_F.PERSISTENT, timeout: 360, netmask: prefixToMask4(24) });
  for (const a of ['192.168.10.1', '192.168.10.2', '192.168.10.3']) r.dest(key, a, 8080);
  const a = r.in('tcp', '172.16.5.77:1000', VIP, 'S');
  const b = r.in('tcp', '172.16.5.99:2000', VIP, 'S');
  const c = r.in('tcp', '172.16.6.1:3000', VIP, 'S');
  assert.equal(a.dest, b.dest);
  assert.notEqual(a.dest, c.dest);
  assert.ok(a.template >= 0 && a.template === b.template);
  assert.equal(a.dport, 8080);
  const tpl = r.e.connections().filter((x) => x.template);
  assert.equal(tpl.length, 2);
  const t0 = tpl.find((x) => x.caddr === '172.16.5.0')!;
  assert.deepEqual(
    [t0.protocol, t0.cport, t0.vaddr, t0.vport, t0.daddr, t0.dport, t0.state, t0.expiresIn],
    ['TCP', 0, '10.0.0.1', 80, a.dest!.addr, 8080, 'NONE', 360],
  );
  assert.deepEqual(r.dests(key).find((d) => d.addr === `${a.dest!.addr}:8080`)!.persist, 1);
});

test('a template becomes ASSURED when a controlled TCP connection reaches ESTABLISHED', () => {
  const key = svcKey('tcp', '10.0.0.1', 80);
  const r = new Rig().service(key, { flags: SVC_F.PERSISTENT, timeout: 100 }).dest(key, '192.168.10.1', 80);
  r.in('tcp', '172.16.5.77:1000', VIP, 'S');
  assert.equal(r.e.connections().find((x) => x.template)!.state, 'NONE');
  r.in('tcp', '172.16.5.77:1000', VIP, 'A');
  assert.equal(r.e.connections().find((x) => x.template)!.state, 'ASSURED');
});

test('a template outlives its timeout while it controls connections (60 s re-arm), then expires', () => {
  const key = svcKey('tcp', '10.0.0.1', 80);
  const r = new Rig().service(key, { flags: SVC_F.PERSISTENT, timeout: 100 }).dest(key, '192.168.10.1', 80);
  r.in('tcp', '172.16.5.77:1000', VIP, 'S');
  r.in('tcp', '172.16.5.77:1000', VIP, 'A'); // ESTABLISHED: 900 s
  r.at(100);
  let tpl = r.e.connections().find((x) => x.template)!;
  assert.equal(tpl.expiresIn, 60); // re-armed at t=100 for 60 s
  r.at(160);
  assert.equal(r.e.connections().find((x) => x.template)!.expiresIn, 60);
  // the connection expires at 900; the template's next firing after that removes it
  r.at(900);
  assert.equal(r.e.connections().filter((x) => !x.template).length, 0);
  tpl = r.e.connections().find((x) => x.template)!;
  assert.ok(tpl.expiresIn > 0 && tpl.expiresIn <= 60);
  r.at(961);
  assert.equal(r.e.connections().length, 0);
  assert.deepEqual(r.dests(key)[0], { addr: '192.168.10.1:80', active: 0, inact: 0, persist: 0, overloaded: false });
});

test('a template re-used keeps sending the client to its server even when it is OVERLOADed', () => {
  const key = svcKey('tcp', '10.0.0.1', 80);
  const r = new Rig().service(key, { scheduler: 'rr', flags: SVC_F.PERSISTENT, timeout: 300 })
    .dest(key, '192.168.10.1', 80, 'masq', { uThreshold: 1 }).dest(key, '192.168.10.2', 80, 'masq', { uThreshold: 1 });
  const first = r.in('tcp', '172.16.5.77:1000', VIP, 'S').dest!;
  assert.ok(r.dests(key).find((d) => d.addr === `${first.addr}:80`)!.overloaded);
  const again = r.in('tcp', '172.16.5.77:1001', VIP, 'S').dest!;
  assert.equal(again, first);
});

test('invalid template (dest deleted) is neutralised and the client rescheduled', () => {
  const key = svcKey('tcp', '10.0.0.1', 80);
  const r = new Rig().service(key, { scheduler: 'rr', flags: SVC_F.PERSISTENT, timeout: 300 })
    .dest(key, '192.168.10.1', 80).dest(key, '192.168.10.2', 80);
  const first = r.in('tcp', '172.16.5.77:1000', VIP, 'S').dest!;
  r.ok(r.e.apply({ kind: 'delete-dest', key, af: 4, addr: first.addr, port: 80 }));
  const next = r.in('tcp', '172.16.5.77:1001', VIP, 'S');
  assert.notEqual(next.dest!.addr, first.addr);
  const old = r.e.connections().find((x) => x.template && x.daddr === first.addr)!;
  assert.equal(old.vport, 0xffff);
});

test('expire_quiescent_template=1: a template to a weight-0 server is not used', () => {
  for (const q of [0, 1]) {
    const key = svcKey('tcp', '10.0.0.1', 80);
    const r = new Rig({ sysctl: { expire_quiescent_template: q } }).service(key, { scheduler: 'rr', flags: SVC_F.PERSISTENT, timeout: 300 })
      .dest(key, '192.168.10.1', 80).dest(key, '192.168.10.2', 80);
    const first = r.in('tcp', '172.16.5.77:1000', VIP, 'S').dest!;
    r.ok(r.e.apply({ kind: 'edit-dest', key, dest: { af: 4, addr: first.addr, port: 80, fwd: 'masq', weight: 0, uThreshold: 0, lThreshold: 0, tunType: 'ipip', tunPort: 0, tunCsum: 'nocsum' } }));
    const next = r.in('tcp', '172.16.5.77:1001', VIP, 'S').dest!;
    assert.equal(next.addr === first.addr, q === 0, `expire_quiescent_template=${q}`);
  }
});

test('fwmark persistence: template protocol IP, virtual address = mark, port 0; shown in -Lc', () => {
  const key = svcKey('tcp', '0.0.0.0', 0, 1);
  const r = new Rig().service(key, { flags: SVC_F.PERSISTENT, timeout: 360 }).dest(key, '192.168.10.1', 0);
  const v = r.in('tcp', '172.16.5.77:1000', VIP, 'S', 60, 1);
  assert.equal(v.action, 'forward');
  assert.equal(v.dport, 80);
  const udp = r.in('udp', '172.16.5.77:1000', '10.0.0.1:53', '', 60, 1);
  assert.equal(udp.template, v.template, 'one template for every protocol of the mark');
  const tpl = r.e.connections().filter((x) => x.template);
  assert.equal(tpl.length, 1);
  assert.deepEqual([tpl[0]!.protocol, tpl[0]!.vaddr, tpl[0]!.vport, tpl[0]!.dport], ['IP', '0.0.0.1', 0, 0]);
});

test('port-0 catch-all persistent service: template virtual port 0, connection keeps the packet port', () => {
  const key = svcKey('tcp', '10.0.0.1', 0);
  const r = new Rig().service(key, { flags: SVC_F.PERSISTENT, timeout: 360 }).dest(key, '192.168.10.1', 0);
  const v = r.in('tcp', '172.16.5.77:1000', '10.0.0.1:443', 'S');
  assert.equal(v.dport, 443);
  const w = r.in('tcp', '172.16.5.77:1001', '10.0.0.1:22', 'S');
  assert.equal(w.template, v.template);
  const tpl = r.e.connections().find((x) => x.template)!;
  assert.deepEqual([tpl.vport, tpl.dport], [0, 0]);
});

test('non-persistent port-0 service never schedules', () => {
  const key = svcKey('tcp', '10.0.0.1', 0);
  const r = new Rig().service(key).dest(key, '192.168.10.1', 0);
  assert.equal(r.in('tcp', '172.16.5.77:1000', '10.0.0.1:443', 'S').action, 'reject');
});

test('thresholds: OVERLOAD set when active+inactive reaches -x, cleared below -y (or 3/4 of -x)', () => {
  const rows = [
    { u: 3, l: 0, clearAt: 2 }, // (n)*4 < 3*3 -> n <= 2
    { u: 4, l: 2, clearAt: 1 }, // n < 2
  ];
  for (const row of rows) {
    const key = svcKey('udp', '10.0.0.1', 53);
    const r = new Rig().service(key, { scheduler: 'wlc' }).dest(key, '192.168.10.1', 53, 'masq', { uThreshold: row.u, lThreshold: row.l });
    for (let i = 0; i < row.u; i++) {
      r.at(i);
      assert.equal(r.in('udp', `172.16.5.${i + 1}:1000`, '10.0.0.1:53').action, 'forward');
    }
    assert.equal(r.dests(key)[0]!.overloaded, true);
    assert.equal(r.in('udp', '172.16.6.1:1000', '10.0.0.1:53').action, 'reject', 'overloaded dest is skipped');
    // entries expire one per second (udp 300 s): created at t=0..u-1
    let t = 300;
    for (let n = row.u - 1; n >= 0; n--) {
      r.at(t++);
      assert.equal(r.dests(key)[0]!.overloaded, n > row.clearAt, `u=${row.u} l=${row.l} n=${n}`);
    }
  }
});

test('-e clears OVERLOAD when the new upper threshold is 0 or larger', () => {
  const key = svcKey('udp', '10.0.0.1', 53);
  const r = new Rig().service(key).dest(key, '192.168.10.1', 53, 'masq', { uThreshold: 1 });
  r.in('udp', '172.16.5.1:1000', '10.0.0.1:53');
  assert.equal(r.dests(key)[0]!.overloaded, true);
  r.ok(r.e.apply({ kind: 'edit-dest', key, dest: { af: 4, addr: '192.168.10.1', port: 53, fwd: 'masq', weight: 1, uThreshold: 5, lThreshold: 0, tunType: 'ipip', tunPort: 0, tunCsum: 'nocsum' } }));
  assert.equal(r.dests(key)[0]!.overloaded, false);
});

test('-o one-packet scheduling: every UDP packet scheduled alone, counted as a connection, not in -Lc', () => {
  const key = svcKey('udp', '10.0.0.1', 53);
  const r = new Rig().service(key, { scheduler: 'rr', flags: SVC_F.ONEPACKET }).dest(key, '192.168.10.1', 53).dest(key, '192.168.10.2', 53);
  const seen = [1, 2, 3, 4].map(() => r.in('udp', '172.16.5.1:1000', '10.0.0.1:53').dest!.addr);
  assert.deepEqual(seen, ['192.168.10.2', '192.168.10.1', '192.168.10.2', '192.168.10.1']);
  assert.equal(r.e.connections().length, 0);
  assert.equal(r.e.service(key)!.stats.conns, 4);
  assert.deepEqual(r.dests(key).map((d) => [d.active, d.inact]), [[0, 0], [0, 0]]);
});

test('-o with persistence: the template is a normal entry and pins the client', () => {
  const key = svcKey('udp', '10.0.0.1', 53);
  const r = new Rig().service(key, { scheduler: 'rr', flags: SVC_F.ONEPACKET | SVC_F.PERSISTENT, timeout: 60 })
    .dest(key, '192.168.10.1', 53).dest(key, '192.168.10.2', 53);
  const seen = new Set([1, 2, 3].map(() => r.in('udp', '172.16.5.1:1000', '10.0.0.1:53').dest!.addr));
  assert.equal(seen.size, 1);
  const c = r.e.connections();
  assert.equal(c.length, 1);
  assert.equal(c[0]!.template, true);
  r.at(60);
  assert.equal(r.e.connections().length, 0);
});
