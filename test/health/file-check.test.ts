/**
 * keepalived FILE_CHECK (check_file.c, track_file.c): a tracked file's number decides for a real
 * server. Real files in a temporary directory; the manager with the real checker under a fake clock.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCheck } from '../../src/health/checkers/index.ts';
import { FakeClock } from '../../src/health/fakes.ts';
import { HealthManager, effectiveRetry } from '../../src/health/manager.ts';
import { FILE_CHECK_FAULT, fileCheckStatus } from '../../src/health/track-file.ts';
import type { CheckerDef, HealthOp } from '../../src/health/types.ts';
import { realScriptRunner } from '../../src/health/io.ts';
import { keepalivedTestExit } from '../../src/config/desired.ts';
import { parseKeepalived } from '../../src/config/keepalived.ts';
import { memorySource } from '../../src/config/source.ts';

const tmp = mkdtempSync(join(tmpdir(), 'tsvs-filecheck-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const STATUS: readonly [number, number, boolean, number][] = [
  [0, 0, false, 0], [1, 0, false, FILE_CHECK_FAULT], [-3, 0, false, FILE_CHECK_FAULT], [0, 0, true, FILE_CHECK_FAULT], [7, 0, true, 0],
  [2, 5, false, 10], [2, 5, true, -10], [-4, 3, false, -12], [0x7fffffff, 2, false, 0x7fffffff], [-0x80000000, 1, false, FILE_CHECK_FAULT],
];
for (const [value, weight, reverse, want] of STATUS) {
  test(`FILE_CHECK: value ${value}, weight ${weight}${reverse ? ' reverse' : ''} -> ${want === FILE_CHECK_FAULT ? 'down' : `weight ${want >= 0 ? '+' : ''}${want}`}`, () => {
    assert.equal(fileCheckStatus(value, weight, reverse), want);
  });
}

const def = (file: string, weight: number, reverse = false): CheckerDef => ({ type: 'FILE_CHECK', track_file: 'tf', file, weight, reverse });
const ctx = { target: { addr: '127.0.0.1', port: 80 }, scripts: realScriptRunner, delayLoop: 5 };

test('FILE_CHECK reads the file as keepalived does (strtol base 0; missing or empty is 0) and applies its rule', async () => {
  const f = join(tmp, 'state');
  const cases: readonly [string | null, number, boolean, boolean, number | undefined][] = [
    [null, 0, false, true, 0], ['', 0, false, true, 0], ['0\n', 0, false, true, 0], ['1\n', 0, false, false, undefined],
    ['0x10', 2, false, true, 32], ['  -3 extra', 4, false, true, -12], ['010', 1, true, true, -8], ['junk', 0, false, true, 0],
  ];
  for (const [text, weight, reverse, ok, change] of cases) {
    rmSync(f, { force: true });
    if (text !== null) writeFileSync(f, text);
    const r = await runCheck(def(f, weight, reverse), ctx);
    assert.equal(r.ok, ok, `${JSON.stringify(text)} weight ${weight}: ${r.reason}`);
    assert.equal(r.weightChange, change, JSON.stringify(text));
  }
});

test('FILE_CHECK in the manager: no retries; the value x weight moves the real server\'s weight, a fault takes it out', async () => {
  const f = join(tmp, 'mgr');
  writeFileSync(f, '2\n');
  const clock = new FakeClock();
  const ops: string[] = [];
  const fmt = (op: HealthOp): string => op.op === 'set-weight' ? `weight ${op.dest.addr} w${op.weight}` : op.op === 'add' ? `add ${op.dest.addr} w${op.dest.weight}` : op.op === 'remove' ? `remove ${op.addr}` : op.op;
  let pending = 0;
  const runner = async (d: CheckerDef, c: typeof ctx) => { pending++; try { return await runCheck(d, c); } finally { pending--; } };
  const m = new HealthManager({
    services: [{ key: { af: 4, fwmark: 0, protocol: 'tcp', addr: '10.0.0.1', port: 80 }, delay_loop: 5, real_servers: [{ addr: '10.1.0.1', port: 80, weight: 10, checkers: [{ ...def(f, 5), retry: 3, warmup: 0 }] }] }],
    clock, runCheck: runner, random: () => 0, onOps: (b) => ops.push(...b.map(fmt)),
  });
  assert.equal(effectiveRetry({ ...def(f, 5), retry: 3 }), 0, 'an inherited retry does not apply to a file');
  const step = async (ms: number): Promise<string[]> => {
    await clock.advance(ms);
    for (let i = 0; i < 200 && pending > 0; i++) await new Promise((r) => setTimeout(r, 5));
    await clock.advance(0);
    return ops.splice(0);
  };
  m.start();
  assert.deepEqual(ops.splice(0), ['add 10.1.0.1 w10']);
  assert.deepEqual(await step(0), ['weight 10.1.0.1 w20']);
  writeFileSync(f, '-3\n');
  assert.deepEqual(await step(5000), ['weight 10.1.0.1 w0'], 'never below 0');
  writeFileSync(f, '0\n');
  assert.deepEqual(await step(5000), ['weight 10.1.0.1 w10']);
  m.stop();
});

test('FILE_CHECK config: the track_file defined before it gives the file and weight, the checker\'s own weight wins; an unknown or missing track_file is ignored as keepalived ignores it', () => {
  const K = '/etc/keepalived/keepalived.conf';
  const conf = (check: string) => parseKeepalived(K, memorySource({ [K]: `track_file tf {\n file /run/tf\n weight 3 reverse\n}\nvirtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind DR\n protocol TCP\n real_server 10.0.0.2 80 {\n  FILE_CHECK {\n${check}\n  }\n }\n}\n` }));
  const ck = (check: string) => conf(check).state!.services[0]!.reals[0]!.checkers;
  assert.deepEqual(ck('   track_file tf'), [{ type: 'FILE_CHECK', track_file: 'tf', file: '/run/tf', weight: 3, reverse: true }]);
  assert.deepEqual(ck('   track_file tf\n   weight -2'), [{ type: 'FILE_CHECK', track_file: 'tf', file: '/run/tf', weight: -2, reverse: false }]);
  for (const [check, msg] of [['   track_file nope', 'track_file nope not found'], ['   weight 2', 'FILE_CHECK has no track_file specified - ignoring']] as const) {
    const r = conf(check);
    assert.ok(r.diagnostics.some((d) => d.severity === 'warning' && d.message === msg), JSON.stringify(r.diagnostics));
    assert.equal(keepalivedTestExit(r.diagnostics, !r.state), 5, 'keepalived -t fails on it');
    assert.deepEqual(r.state!.services[0]!.reals[0]!.checkers, [], 'the checker is dropped');
  }
});
