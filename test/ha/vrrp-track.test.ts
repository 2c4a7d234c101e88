import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScriptState, trackOutcome } from '../../src/ha/vrrp-track.ts';

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
