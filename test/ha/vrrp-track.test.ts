import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScriptState, implicitInterfaces, trackOutcome } from '../../src/ha/vrrp-track.ts';
import { parseKeepalived } from '../../src/config/keepalived.ts';
import { memorySource } from '../../src/config/source.ts';

test('a script changes state only after rise successes / fall failures in a row', () => {
  const s = new ScriptState({ name: 'chk', weight: -20, reverse: false, rise: 2, fall: 3, initFail: false });
  assert.equal(s.ok, true);
  assert.deepEqual([false, false, true, false, false, false].map((r) => s.feed(r)), [false, false, false, false, false, true]);
  assert.equal(s.ok, false);
  assert.deepEqual([true, false, true, true].map((r) => s.feed(r)), [false, false, false, true]);
  assert.equal(s.ok, true);
});

test('init_fail starts failed; reverse inverts the exit status', () => {
  const a = new ScriptState({ name: 'a', weight: 0, reverse: false, rise: 1, fall: 1, initFail: true });
  assert.equal(a.ok, false);
  const r = new ScriptState({ name: 'r', weight: 0, reverse: true, rise: 1, fall: 1, initFail: false });
  assert.equal(r.feed(true), true);
  assert.equal(r.ok, false);
});

const cases: { name: string; scripts: [boolean, number][]; ifs: [boolean, number][]; faults: number; delta: number }[] = [
  { name: 'weight 0 script failing: FAULT', scripts: [[false, 0]], ifs: [], faults: 1, delta: 0 },
  { name: 'positive weight adds while succeeding', scripts: [[true, 10], [false, 5]], ifs: [], faults: 0, delta: 10 },
  { name: 'negative weight subtracts while failing', scripts: [[false, -30], [true, -5]], ifs: [], faults: 0, delta: -30 },
  { name: 'interface down without weight: FAULT', scripts: [], ifs: [[false, 0]], faults: 1, delta: 0 },
  { name: 'interface down with negative weight lowers priority', scripts: [], ifs: [[false, -50], [true, -50]], faults: 0, delta: -50 },
];
for (const c of cases) {
  test(`track outcome: ${c.name}`, () => {
    const o = trackOutcome({
      scripts: c.scripts.map(([ok, weight], i) => ({ ok, weight, name: `s${i}` })),
      interfaces: c.ifs.map(([up, weight], i) => ({ up, weight, name: `if${i}` })),
    });
    assert.equal(o.faults.length, c.faults);
    assert.equal(o.delta, c.delta);
  });
}

/** An instance on eth0 with `body` inside, read as keepalived.conf (eth0..eth3 exist). */
const instanceOf = (body: string) => {
  const text = `vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 1\n  priority 100\n${body}\n}\n`;
  const r = parseKeepalived('k.conf', memorySource({ 'k.conf': text }), { interfaces: new Map(['eth0', 'eth1', 'eth2', 'eth3'].map((n) => [n, { loopback: false, multicast: true }])) });
  const i = r.state?.vrrp.instances[0];
  assert.ok(i, r.diagnostics.map((d) => d.message).join('\n'));
  return i;
};
const IMPLICIT: ReadonlyArray<{ name: string; body: string; tracked: string[] }> = [
  { name: 'its own interface, with no address on it', body: '  virtual_ipaddress {\n    10.0.0.1/24 dev eth1\n  }', tracked: ['eth0', 'eth1'] },
  { name: 'dont_track_primary: not its own interface, nor for an address on it; another address\'s interface still', body: '  dont_track_primary\n  virtual_ipaddress {\n    10.0.0.1/24\n    10.0.0.2/24 dev eth0\n    10.0.0.3/24 dev eth1\n  }', tracked: ['eth1'] },
  { name: 'dont_track_primary: a virtual route through its own interface still tracks it', body: '  dont_track_primary\n  virtual_ipaddress {\n    10.0.0.1/24\n  }\n  virtual_routes {\n    10.9.0.0/24 dev eth0\n  }', tracked: ['eth0'] },
  { name: 'no_track addresses: only its own interface', body: '  virtual_ipaddress {\n    10.0.0.1/24 dev eth2 no_track\n  }', tracked: ['eth0'] },
];
for (const c of IMPLICIT) {
  test(`tracked without track_interface (keepalived's vrrp_complete_instance): ${c.name}`, () => {
    assert.deepEqual(implicitInterfaces(instanceOf(c.body)).sort(), c.tracked);
  });
}
