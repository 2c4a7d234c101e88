/**
 * /metrics read straight from the engine (Engine.visitServices, what the daemon scrapes) writes
 * byte for byte what the engine's snapshot (Engine.services()) renders to, as the table changes
 * between scrapes with one label cache kept across them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsLabelCache, renderMetrics } from '../../src/observe/metrics.ts';
import type { LiveSnapshot } from '../../src/observe/snapshot.ts';
import { SVC_F } from '../../src/core/types.ts';
import { Rig, destSpec, svcKey, svcSpec } from '../core/engine-rig.ts';
import { snapshot } from './fixtures.ts';

const web = svcKey('tcp', '10.0.0.1', 80);
const dns6 = svcKey('udp', '2001:db8::53', 53);
const mark4 = svcKey('tcp', '0.0.0.0', 0, 5);
const mark6 = svcKey('tcp', '::', 0, 5);

function table(): Rig {
  const r = new Rig();
  r.service(web, { flags: SVC_F.PERSISTENT, timeout: 300 }).dest(web, '192.168.1.1', 8080).dest(web, '192.168.1.2', 8080, 'masq', { weight: 3 }).dest(web, '192.168.1.3', 8081);
  r.service(dns6, { scheduler: 'rr' }).dest(dns6, '2001:db8::1', 53).dest(dns6, '2001:db8::2', 53);
  // Two firewall-mark services with one mark share node_exporter's labels: their rows are summed.
  r.service(mark4).dest(mark4, '10.1.1.1', 0, 'route');
  r.service(mark6).dest(mark6, '2001:db8::7', 0, 'route');
  // Traffic, so connection counts, counters and (after the estimator's 2 s) rates are not zero.
  for (let i = 0; i < 20; i++) {
    r.in('tcp', `172.16.0.${i + 1}:${40000 + i}`, '10.0.0.1:80', 'S', 60);
    r.in('tcp', `172.16.0.${i + 1}:${40000 + i}`, '10.0.0.1:80', 'A', 52);
  }
  for (let i = 0; i < 5; i++) r.in('udp', `[2001:db8:1::${i + 1}]:5353`, '[2001:db8::53]:53', '', 80);
  r.at(2);
  for (let i = 0; i < 7; i++) r.in('tcp', `172.16.1.${i + 1}:41000`, '10.0.0.1:80', 'S', 60);
  r.at(4);
  return r;
}

/** The table changed between scrapes: the label cache must follow every kind of change. */
const STEPS: [string, (r: Rig) => void][] = [
  ['as built', () => {}],
  ['the same again', () => {}],
  ['a real server deleted', (r) => r.ok(r.e.apply({ kind: 'delete-dest', key: web, af: 4, addr: '192.168.1.2', port: 8080 }))],
  ['a real server added (first in the list)', (r) => r.dest(web, '192.168.1.9', 8080, 'masq', { weight: 7 })],
  ['a weight changed', (r) => r.ok(r.e.apply({ kind: 'edit-dest', key: web, dest: destSpec('192.168.1.9', 8080, 'masq', { weight: 2 }) }))],
  ['scheduler and persistence changed', (r) => r.ok(r.e.apply({ kind: 'edit-service', svc: svcSpec(web, { scheduler: 'sh', flags: 0 }) }))],
  ['a service deleted', (r) => r.ok(r.e.apply({ kind: 'delete-service', key: dns6 }))],
  ['a service added', (r) => r.service(svcKey('sctp', '10.0.0.2', 9)).dest(svcKey('sctp', '10.0.0.2', 9), '192.168.2.1', 9)],
  ['every service gone', (r) => r.ok(r.e.apply({ kind: 'flush' }))],
  ['one service again', (r) => r.service(web).dest(web, '192.168.1.1', 8080)],
];

test('metrics read in place from the engine equal its snapshot\'s, byte for byte, as the table changes between scrapes', () => {
  const r = table();
  const live = new MetricsLabelCache();
  const snap = new MetricsLabelCache();
  let nonZero = false;
  for (const [what, change] of STEPS) {
    change(r);
    const base = snapshot({ total: { stats: r.e.totalStats(), rates: r.e.totalRates() } });
    const { services: _, ...rest } = base;
    const visited: LiveSnapshot = { ...rest, visitServices: (v) => r.e.visitServices(v) };
    const want = renderMetrics({ ...base, services: r.e.services() }, { version: '1', cache: snap });
    assert.equal(renderMetrics(visited, { version: '1', cache: live }), want, what);
    assert.equal(renderMetrics(visited, { version: '1' }), want, `${what} (no cache)`);
    nonZero ||= /^tsvs_service_connections_per_second\{[^}]*\} [1-9]/m.test(want) && /^node_ipvs_backend_connections_active\{[^}]*\} [1-9]/m.test(want);
  }
  assert.ok(nonZero, 'the table had traffic: rates and active connections are not all 0');
});
