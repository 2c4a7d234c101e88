/** Statistics, estimator (§4), zeroing, control-plane errnos (§1.2, §5.4), trash, table full, IPv6. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Stats } from '../../src/core/stats.ts';
import { SVC_F } from '../../src/core/types.ts';
import { destSpec, Rig, svcKey, svcSpec } from './engine-rig.ts';

/** Independent re-statement of the kernel estimator with BigInt. */
function refEstimator(deltasPerPeriod: number[][]): bigint[] {
  const avg = [0n, 0n, 0n, 0n, 0n];
  for (const d of deltasPerPeriod) {
    for (let i = 0; i < 5; i++) {
      const rate = BigInt(d[i]!) << (i < 3 ? 9n : 4n);
      const diff = rate - avg[i]!;
      // arithmetic shift right by 2 (floor for negatives)
      const sh = diff >= 0n ? diff >> 2n : -((-diff + 3n) >> 2n);
      avg[i] = avg[i]! + sh;
    }
  }
  return avg;
}

test('estimator: EWMA 1/4 of delta<<9 (conns, packets) and delta<<4 (bytes), over several periods', () => {
  const periods = [
    [10, 100, 80, 150000, 9000000],
    [0, 0, 0, 0, 0],
    [7, 3000001, 2999999, 4294967296 * 3, 17],
    [1, 1, 1, 1, 1],
    [0, 0, 0, 0, 0],
  ];
  const s = new Stats();
  for (const d of periods) {
    s.conns += d[0]!; s.inpkts += d[1]!; s.outpkts += d[2]!; s.inbytes += d[3]!; s.outbytes += d[4]!;
    s.estimate();
  }
  const ref = refEstimator(periods);
  assert.deepEqual(s.rawAverages().map((x) => BigInt(x)), ref);
  const r = s.rates();
  assert.deepEqual(
    [r.cps, r.inpps, r.outpps, r.inbps, r.outbps],
    [0, 1, 2, 3, 4].map((i) => Number(i < 3 ? (ref[i]! + 511n) >> 10n : (ref[i]! + 15n) >> 5n)),
  );
});

test('estimator in the engine runs every 2 s of engine time; -Z zeroes rates and counters', () => {
  const key = svcKey('udp', '10.0.0.1', 53);
  const r = new Rig().service(key).dest(key, '192.168.10.1', 53);
  // 100 packets of 1000 bytes per second for 10 s
  for (let i = 0; i < 1000; i++) {
    const t = i / 100;
    r.at(t);
    r.in('udp', `172.16.${Math.floor(t)}.1:1000`, '10.0.0.1:53', '', 1000);
  }
  r.at(10);
  const s = r.e.service(key)!;
  assert.equal(s.stats.inpkts, 1000);
  assert.equal(s.stats.inbytes, 1000000);
  assert.ok(s.rates.inpps > 60 && s.rates.inpps <= 100, `inpps ${s.rates.inpps}`);
  r.ok(r.e.apply({ kind: 'zero' }));
  const z = r.e.service(key)!;
  assert.deepEqual(z.stats, { conns: 0, inpkts: 0, inbytes: 0, outpkts: 0, outbytes: 0 });
  assert.deepEqual(z.rates, { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
  assert.deepEqual(z.dests[0]!.stats.inpkts, 0);
  r.in('udp', '172.16.0.1:1000', '10.0.0.1:53', '', 1000);
  assert.equal(r.e.service(key)!.stats.inpkts, 1);
  assert.equal(r.e.totalStats().inpkts, 1);
  assert.equal(r.e.apply({ kind: 'zero', key: svcKey('udp', '10.0.0.9', 53) }), 'ESRCH');
});

test('run_estimation=0 freezes the rates', () => {
  const key = svcKey('udp', '10.0.0.1', 53);
  const r = new Rig({ sysctl: { run_estimation: 0 } }).service(key).dest(key, '192.168.10.1', 53);
  for (let i = 0; i < 50; i++) r.in('udp', `172.16.0.${i}:1000`, '10.0.0.1:53');
  r.at(10);
  assert.equal(r.e.service(key)!.rates.inpps, 0);
});

test('stats count conns (not templates), in/out packets and bytes, only while the dest is available', () => {
  const key = svcKey('tcp', '10.0.0.1', 80);
  const r = new Rig().service(key, { flags: SVC_F.PERSISTENT, timeout: 300 }).dest(key, '192.168.10.1', 80);
  r.in('tcp', '172.16.0.1:1000', '10.0.0.1:80', 'S', 60);
  r.out('tcp', '192.168.10.1:80', '172.16.0.1:1000', 'SA', 60);
  r.in('tcp', '172.16.0.1:1000', '10.0.0.1:80', 'A', 52);
  r.in('tcp', '172.16.0.1:1000', '10.0.0.1:80', 'PA', 1500);
  const s = r.e.service(key)!;
  assert.deepEqual(s.stats, { conns: 1, inpkts: 3, outpkts: 1, inbytes: 1612, outbytes: 60 });
  assert.deepEqual(s.dests[0]!.stats, s.stats);
  r.ok(r.e.apply({ kind: 'delete-dest', key, af: 4, addr: '192.168.10.1', port: 80 }));
  r.out('tcp', '192.168.10.1:80', '172.16.0.1:1000', 'A', 60);
  assert.equal(r.e.totalStats().outpkts, 1);
});

test('a deleted destination re-added while referenced comes back from the trash with its stats', () => {
  const key = svcKey('tcp', '10.0.0.1', 80);
  const r = new Rig().service(key).dest(key, '192.168.10.1', 80);
  r.in('tcp', '172.16.0.1:1000', '10.0.0.1:80', 'S');
  r.ok(r.e.apply({ kind: 'delete-dest', key, af: 4, addr: '192.168.10.1', port: 80 }));
  r.dest(key, '192.168.10.1', 80);
  const d = r.e.service(key)!.dests[0]!;
  assert.equal(d.stats.conns, 1);
  assert.equal(d.activeConns, 1);
  // freed after 120 s unreferenced: a fresh dest then
  r.ok(r.e.apply({ kind: 'delete-dest', key, af: 4, addr: '192.168.10.1', port: 80 }));
  r.at(2000);
  r.dest(key, '192.168.10.1', 80);
  assert.equal(r.e.service(key)!.dests[0]!.stats.conns, 0);
});

test('control plane errnos follow the kernel', () => {
  const key = svcKey('tcp', '10.0.0.1', 80);
  const r = new Rig().service(key);
  const cases: [string, string | null][] = [
    ['add existing service', r.e.apply({ kind: 'add-service', svc: svcSpec(key) })],
    ['unknown scheduler', r.e.apply({ kind: 'add-service', svc: svcSpec(svcKey('tcp', '10.0.0.2', 80), { scheduler: 'nope' }) })],
    ['unknown pe', r.e.apply({ kind: 'add-service', svc: svcSpec(svcKey('tcp', '10.0.0.2', 80), { pe: 'xyz' }) })],
    ['bad v6 prefix', r.e.apply({ kind: 'add-service', svc: svcSpec(svcKey('tcp', '2001:db8::1', 80), { netmask: 129 }) })],
    ['edit missing service', r.e.apply({ kind: 'edit-service', svc: svcSpec(svcKey('tcp', '10.0.0.9', 80)) })],
    ['delete missing service', r.e.apply({ kind: 'delete-service', key: svcKey('tcp', '10.0.0.9', 80) })],
    ['dest on missing service', r.e.apply({ kind: 'add-dest', key: svcKey('tcp', '10.0.0.9', 80), dest: destSpec('192.168.1.1', 80) })],
    ['negative weight', r.e.apply({ kind: 'add-dest', key, dest: destSpec('192.168.1.1', 80, 'masq', { weight: -1 }) })],
    ['l > u threshold', r.e.apply({ kind: 'add-dest', key, dest: destSpec('192.168.1.1', 80, 'masq', { uThreshold: 1, lThreshold: 2 }) })],
    ['gue without port', r.e.apply({ kind: 'add-dest', key, dest: destSpec('192.168.1.1', 80, 'tunnel', { tunType: 'gue' }) })],
    ['multicast dest', r.e.apply({ kind: 'add-dest', key, dest: destSpec('224.0.0.1', 80) })],
    ['v6 dest on v4 service, not tunnel', r.e.apply({ kind: 'add-dest', key, dest: destSpec('2001:db8::5', 80) })],
    ['v6 dest on v4 service, tunnel', r.e.apply({ kind: 'add-dest', key, dest: destSpec('2001:db8::5', 80, 'tunnel') })],
    ['add dest', r.e.apply({ kind: 'add-dest', key, dest: destSpec('192.168.1.1', 80) })],
    ['add dest twice', r.e.apply({ kind: 'add-dest', key, dest: destSpec('192.168.1.1', 80) })],
    ['edit missing dest', r.e.apply({ kind: 'edit-dest', key, dest: destSpec('192.168.1.2', 80) })],
    ['delete missing dest', r.e.apply({ kind: 'delete-dest', key, af: 4, addr: '192.168.1.2', port: 80 })],
    ['stop daemon not running', r.e.apply({ kind: 'stop-daemon', state: 'master', syncid: 0 })],
  ];
  assert.deepEqual(cases, [
    ['add existing service', 'EEXIST'], ['unknown scheduler', 'ENOENT'], ['unknown pe', 'ENOENT'],
    ['bad v6 prefix', 'EINVAL'], ['edit missing service', 'ESRCH'], ['delete missing service', 'ESRCH'],
    ['dest on missing service', 'ESRCH'], ['negative weight', 'ERANGE'], ['l > u threshold', 'ERANGE'],
    ['gue without port', 'EINVAL'], ['multicast dest', 'EINVAL'], ['v6 dest on v4 service, not tunnel', 'EINVAL'],
    ['v6 dest on v4 service, tunnel', null], ['add dest', null], ['add dest twice', 'EEXIST'],
    ['edit missing dest', 'ENOENT'], ['delete missing dest', 'ENOENT'], ['stop daemon not running', 'ESRCH'],
  ]);
});

test('-E is a full replace; the scheduler is rebound only when it changes (rr keeps its cursor)', () => {
  const key = svcKey('tcp', '10.0.0.1', 80);
  const r = new Rig().service(key, { scheduler: 'rr', flags: SVC_F.PERSISTENT, timeout: 100 });
  for (const a of ['192.168.10.1', '192.168.10.2', '192.168.10.3']) r.dest(key, a, 80);
  r.ok(r.e.apply({ kind: 'edit-service', svc: svcSpec(key, { scheduler: 'rr' }) }));
  const s = r.e.service(key)!;
  assert.equal(s.flags & SVC_F.PERSISTENT, 0);
  const a = r.in('tcp', '172.16.0.1:1', '10.0.0.1:80', 'S').dest!.addr;
  r.ok(r.e.apply({ kind: 'edit-service', svc: svcSpec(key, { scheduler: 'rr' }) }));
  const b = r.in('tcp', '172.16.0.2:1', '10.0.0.1:80', 'S').dest!.addr;
  assert.deepEqual([a, b], ['192.168.10.3', '192.168.10.2']);
  r.ok(r.e.apply({ kind: 'edit-service', svc: svcSpec(key, { scheduler: 'wlc' }) }));
  assert.equal(r.e.service(key)!.scheduler, 'wlc');
});

test('last_weight follows the latest non-zero weight', () => {
  const key = svcKey('tcp', '10.0.0.1', 80);
  const r = new Rig().service(key).dest(key, '192.168.10.1', 80, 'masq', { weight: 5 });
  r.ok(r.e.apply({ kind: 'edit-dest', key, dest: destSpec('192.168.10.1', 80, 'masq', { weight: 0 }) }));
  const d = (r.e as unknown as { destById: { lastWeight: number; weight: number }[] }).destById[1]!;
  assert.deepEqual([d.weight, d.lastWeight], [0, 5]);
});

test('table full: new connections are dropped and counted; existing ones keep working', () => {
  const key = svcKey('udp', '10.0.0.1', 53);
  const r = new Rig({ connMax: 3 }).service(key).dest(key, '192.168.10.1', 53);
  for (let i = 1; i <= 3; i++) assert.equal(r.in('udp', `172.16.0.${i}:1000`, '10.0.0.1:53').action, 'forward');
  const v = r.in('udp', '172.16.0.4:1000', '10.0.0.1:53');
  assert.deepEqual([v.action, v.reason], ['drop', 'table-full']);
  assert.equal(r.e.counters().tableFull, 1);
  assert.equal(r.in('udp', '172.16.0.1:1000', '10.0.0.1:53').action, 'forward');
  r.at(300);
  assert.equal(r.in('udp', '172.16.0.4:1000', '10.0.0.1:53').action, 'forward');
});

test('IPv6 services: scheduling, NAT replies, persistence with a /64 prefix, -Lc addresses', () => {
  const key = svcKey('tcp', '2001:db8::1', 443);
  const r = new Rig().service(key, { scheduler: 'rr', flags: SVC_F.PERSISTENT, timeout: 300, netmask: 64 })
    .dest(key, '2001:db8:1::10', 8443).dest(key, '2001:db8:1::11', 8443);
  const a = r.in('tcp', '[2001:db8:9:9::1]:5000', '[2001:db8::1]:443', 'S');
  const b = r.in('tcp', '[2001:db8:9:9::2]:5000', '[2001:db8::1]:443', 'S');
  assert.equal(a.dest, b.dest);
  assert.equal(a.dport, 8443);
  const o = r.out('tcp', `[${a.dest!.addr}]:8443`, '[2001:db8:9:9::1]:5000', 'SA');
  assert.equal(o.action, 'forward');
  assert.equal(o.vport, 443);
  assert.deepEqual(o.vaddr, { af: 6, words: [0x20010db8, 0, 0, 1] });
  const tpl = r.e.connections().find((x) => x.template)!;
  assert.deepEqual([tpl.af, tpl.caddr, tpl.vaddr], [6, '2001:db8:9:9::', '2001:db8::1']);
});
