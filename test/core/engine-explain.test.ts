/**
 * Engine.explain (tsvs explain): the destination it predicts is the one the next real connection
 * gets, and predicting moves nothing (explaining twice, then connecting, still agrees: a moved
 * rr/wrr cursor or a created template would make the real connection go elsewhere).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SVC_F, type ServiceSpec } from '../../src/core/types.ts';
import type { Explanation } from '../../src/core/explain.ts';
import { destSpec, Rig, svcKey } from './engine-rig.ts';

const VIP = '10.0.0.1:80';
const key = svcKey('tcp', '10.0.0.1', 80);

function explain(r: Rig, client: string, port: number | null = null): Explanation {
  const x = r.e.explain(key, client, port);
  assert.ok(x && x !== 'EINVAL', `explain answered ${String(x)}`);
  return x;
}

interface Case {
  name: string;
  svc: Partial<ServiceSpec>;
  weights: number[];
  /** clients of the successive new connections */
  clients: string[];
}

const cases: Case[] = [
  { name: 'rr walks its cursor', svc: { scheduler: 'rr' }, weights: [1, 1, 1], clients: ['172.16.0.1', '172.16.0.2', '172.16.0.3', '172.16.0.4'] },
  { name: 'wrr follows weights 3:2:1', svc: { scheduler: 'wrr' }, weights: [3, 2, 1], clients: Array.from({ length: 12 }, (_, i) => `172.16.0.${i + 1}`) },
  { name: 'sh hashes the client address', svc: { scheduler: 'sh' }, weights: [1, 1, 1], clients: ['172.16.0.1', '172.16.9.7', '172.16.0.1', '10.9.8.7'] },
  { name: 'rr skips weight 0', svc: { scheduler: 'rr' }, weights: [1, 0, 1], clients: ['172.16.0.1', '172.16.0.2', '172.16.0.3', '172.16.0.4'] },
  { name: 'wlc with persistence: template after the first', svc: { scheduler: 'wlc', flags: SVC_F.PERSISTENT, timeout: 300 }, weights: [1, 1, 1], clients: ['172.16.0.1', '172.16.0.1', '172.16.0.2', '172.16.0.1'] },
];

for (const c of cases) {
  test(`explain predicts the real choice without moving state: ${c.name}`, () => {
    const r = new Rig().service(key, c.svc);
    c.weights.forEach((w, i) => r.dest(key, `192.168.10.${i + 1}`, 8080, 'masq', { weight: w }));
    const seen = new Set<string>();
    c.clients.forEach((client, i) => {
      const a = explain(r, client, 1000 + i);
      const b = explain(r, client, 1000 + i); // a second dry run must answer the same
      assert.deepEqual(b, a);
      assert.ok(a.dest, `no dest predicted for ${client}`);
      assert.equal(a.outcome, c.svc.flags && seen.has(client) ? 'template' : 'scheduled');
      const v = r.in('tcp', `${client}:${1000 + i}`, VIP, 'S');
      assert.equal(v.action, 'forward');
      assert.equal(`${v.dest!.addr}:${v.dest!.port}`, `${a.dest.addr}:${a.dest.port}`, `connection ${i} from ${client}`);
      seen.add(client);
    });
    if (c.weights.includes(0)) {
      const x = explain(r, '172.16.1.1');
      assert.deepEqual(x.dests.find((d) => d.weight === 0)!.skipped, ['weight-0']);
    }
  });
}

test('explain creates no entry and shows an existing connection as its table entry', () => {
  const r = new Rig().service(key, { scheduler: 'rr', flags: SVC_F.PERSISTENT, timeout: 300 });
  r.dest(key, '192.168.10.1', 8080).dest(key, '192.168.10.2', 8080);
  const fresh = explain(r, '172.16.0.1', 5555);
  assert.equal(fresh.template, null);
  assert.equal(r.e.connections().length, 0, 'a dry run created an entry');
  const v = r.in('tcp', '172.16.0.1:5555', VIP, 'S');
  const x = explain(r, '172.16.0.1', 5555);
  assert.equal(x.outcome, 'existing');
  assert.deepEqual([x.connection?.caddr, x.connection?.cport, x.connection?.daddr, x.connection?.state], ['172.16.0.1', 5555, v.dest!.addr, 'SYN_RECV']);
  // another port of the same client: not existing, but under the template
  const y = explain(r, '172.16.0.1', 5556);
  assert.equal(y.outcome, 'template');
  assert.equal(y.template?.daddr, v.dest!.addr);
  assert.equal(r.e.connections().length, 2); // the connection and its template only
});

test('a template whose real server went to weight 0 (expire_quiescent_template=1) is reported unusable and the scheduler chooses', () => {
  const r = new Rig({ sysctl: { expire_quiescent_template: 1 } }).service(key, { scheduler: 'rr', flags: SVC_F.PERSISTENT, timeout: 300 });
  r.dest(key, '192.168.10.1', 8080).dest(key, '192.168.10.2', 8080);
  const v = r.in('tcp', '172.16.0.1:5555', VIP, 'S');
  r.ok(r.e.apply({ kind: 'edit-dest', key, dest: destSpec(v.dest!.addr, 8080, 'masq', { weight: 0 }) }));
  const x = explain(r, '172.16.0.1', 6000);
  assert.notEqual(x.template, null);
  assert.match(x.templateUnusable ?? '', /weight 0/);
  assert.equal(x.outcome, 'scheduled');
  assert.notEqual(x.dest?.addr, v.dest!.addr);
  const tpl = r.e.connections().find((c) => c.template)!;
  assert.equal(tpl.vport, 80, 'a dry run neutralised the template');
});

test('explain of an unknown service is null and of a client of the other family EINVAL', () => {
  const r = new Rig().service(key, { scheduler: 'rr' }).dest(key, '192.168.10.1', 80);
  assert.equal(r.e.explain(svcKey('tcp', '10.0.0.2', 80), '172.16.0.1', null), null);
  assert.equal(r.e.explain(key, '2001:db8::1', null), 'EINVAL');
  assert.equal(r.e.explain(key, 'nonsense', null), 'EINVAL');
});

test('explain marks a real server over its upper threshold overloaded and predicts around it', () => {
  const r = new Rig().service(key, { scheduler: 'rr' });
  r.dest(key, '192.168.10.1', 8080, 'masq', { uThreshold: 1 }).dest(key, '192.168.10.2', 8080);
  r.in('tcp', '172.16.0.1:1000', VIP, 'S');
  r.in('tcp', '172.16.0.2:1000', VIP, 'S'); // one connection each: .1 is at its threshold
  const x = explain(r, '172.16.0.3', 1000);
  assert.deepEqual(x.dests.find((d) => d.addr === '192.168.10.1')!.skipped, ['overloaded']);
  assert.equal(x.dest?.addr, '192.168.10.2');
  assert.equal(r.in('tcp', '172.16.0.3:1000', VIP, 'S').dest?.addr, '192.168.10.2');
});

test('explain of a fwmark service: scheduled, then the existing connection found by client address and port', () => {
  const fkey = svcKey('tcp', '0.0.0.0', 0, 7);
  const r = new Rig().service(fkey, { scheduler: 'rr' });
  r.dest(fkey, '192.168.10.1', 0).dest(fkey, '192.168.10.2', 0);
  const a = r.e.explain(fkey, '172.16.0.1', 4000);
  assert.ok(a && a !== 'EINVAL');
  assert.equal(a.service, 'FWM 7');
  const v = r.in('tcp', '172.16.0.1:4000', '10.0.0.9:443', 'S', 60, 7);
  assert.equal(v.dest?.addr, a.dest?.addr);
  const b = r.e.explain(fkey, '172.16.0.1', 4000);
  assert.ok(b && b !== 'EINVAL');
  assert.equal(b.outcome, 'existing');
  assert.deepEqual([b.connection?.vaddr, b.connection?.vport], ['10.0.0.9', 443]);
});

test('every scheduler but twos (random): explain predicts each of 8 real connections', async () => {
  const { schedulerNames } = await import('../../src/core/schedulers/index.ts');
  for (const name of schedulerNames.filter((n) => n !== 'twos')) {
    const r = new Rig().service(key, { scheduler: name });
    [3, 2, 1].forEach((w, i) => r.dest(key, `192.168.10.${i + 1}`, 8080, 'masq', { weight: w }));
    for (let i = 0; i < 8; i++) {
      const client = `172.16.${i % 3}.${i + 1}`;
      const a = explain(r, client, 2000 + i);
      const v = r.in('tcp', `${client}:${2000 + i}`, VIP, 'S');
      assert.equal(v.dest?.addr, a.dest?.addr, `${name}: connection ${i}`);
    }
  }
});
