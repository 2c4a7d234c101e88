import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HealthManager, effectiveRetry } from '../../src/health/manager.ts';
import { FakeClock, ScriptedChecks } from '../../src/health/fakes.ts';
import { applyHealthOps } from '../../src/health/apply.ts';
import { renderStatusJson, renderStatusTable } from '../../src/health/render.ts';
import type { CheckerDef, HealthOp, HealthRealServer, HealthService } from '../../src/health/types.ts';
import type { Errno, IpvsBackend, IpvsCommand } from '../../src/core/types.ts';

const KEY = { af: 4, fwmark: 0, protocol: 'tcp', addr: '10.0.0.1', port: 80 } as const;
const TCP: CheckerDef = { type: 'TCP_CHECK', connect_timeout: 1, retry: 2, delay_before_retry: 1, warmup: 0 };

function rs(addr: string, extra: Partial<HealthRealServer> = {}): HealthRealServer {
  return { addr, port: 80, weight: 10, checkers: [TCP], ...extra };
}

/** Renders ops compactly so tests compare readable strings. */
function fmt(op: HealthOp): string {
  switch (op.op) {
    case 'add': return `add ${op.dest.addr} w${op.dest.weight}`;
    case 'set-weight': return `weight ${op.dest.addr} w${op.weight}`;
    case 'remove': return `remove ${op.addr}`;
    case 'exec': return `exec ${op.event} ${op.script}`;
  }
}

function setup(svc: Partial<HealthService>, random = () => 0) {
  const clock = new FakeClock();
  const checks = new ScriptedChecks();
  const ops: string[] = [];
  const raw: HealthOp[] = [];
  const service: HealthService = { key: KEY, delay_loop: 5, real_servers: [rs('10.1.0.1'), rs('10.1.0.2')], ...svc };
  const m = new HealthManager({ services: [service], clock, runCheck: checks.runner, random, onOps: (b) => { raw.push(...b); ops.push(...b.map(fmt)); } });
  return { m, clock, checks, ops, raw, take: () => ops.splice(0) };
}

test('start adds every non-alpha real server with its configured weight', () => {
  const { m, take } = setup({});
  m.start();
  assert.deepEqual(take(), ['add 10.1.0.1 w10', 'add 10.1.0.2 w10']);
});

test('a failing server is removed only after retry+1 failures spaced by delay_before_retry, and comes back on the first success', async () => {
  const { m, clock, checks, take } = setup({});
  m.start(); take();
  checks.set('10.1.0.1:80', { ok: false, reason: 'refused' });
  await clock.advance(0);        // first check at warmup 0: failure 1 (retry 1 of 2)
  assert.deepEqual(take(), []);
  await clock.advance(1000);     // failure 2 (retry 2 of 2)
  assert.deepEqual(take(), []);
  await clock.advance(999);
  assert.deepEqual(take(), []);
  await clock.advance(1);        // failure 3 -> down
  assert.deepEqual(take(), ['remove 10.1.0.1']);
  checks.set('10.1.0.1:80', { ok: true });
  await clock.advance(4999);     // next check after delay_loop (5 s)
  assert.deepEqual(take(), []);
  await clock.advance(1);
  assert.deepEqual(take(), ['add 10.1.0.1 w10']);
});

test('a success between failures resets the retry count', async () => {
  const { m, clock, checks, take } = setup({});
  m.start(); take();
  checks.set('10.1.0.1:80', { ok: false });
  await clock.advance(0);
  await clock.advance(1000);
  checks.set('10.1.0.1:80', { ok: true });
  await clock.advance(1000);     // success: counter reset
  checks.set('10.1.0.1:80', { ok: false });
  await clock.advance(5000);
  await clock.advance(1000);
  assert.deepEqual(take(), [], 'two failures after a success are still within retry=2');
  await clock.advance(1000);
  assert.deepEqual(take(), ['remove 10.1.0.1']);
});

const inhibitCases = [
  { name: 'inhibit_on_failure on the real server', svc: { real_servers: [rs('10.1.0.1', { inhibit_on_failure: true }), rs('10.1.0.2')] } },
  { name: 'inhibit_on_failure on the virtual server (ldirectord quiescent=yes)', svc: { inhibit_on_failure: true } },
];
for (const c of inhibitCases) {
  test(`${c.name}: a failing server stays with weight 0 and returns to its weight`, async () => {
    const { m, clock, checks, take } = setup(c.svc);
    m.start(); take();
    checks.set('10.1.0.1:80', { ok: false });
    await clock.advance(2000);
    assert.deepEqual(take(), ['weight 10.1.0.1 w0']);
    checks.set('10.1.0.1:80', { ok: true });
    await clock.advance(5000);
    assert.deepEqual(take(), ['weight 10.1.0.1 w10']);
  });
}

test('alpha: servers start out of the table and are added on their first successful check', async () => {
  const { m, clock, checks, take } = setup({ alpha: true });
  checks.set('10.1.0.2:80', { ok: false });
  m.start();
  assert.deepEqual(take(), []);
  await clock.advance(0);
  assert.deepEqual(take(), ['add 10.1.0.1 w10'], 'the failing one stays out, with no retries needed');
  assert.equal(m.status().services[0]!.dests[1]!.alive, false);
});

test('alpha with inhibit_on_failure: servers start at weight 0', () => {
  const { m, take } = setup({ alpha: true, inhibit_on_failure: true });
  m.start();
  assert.deepEqual(take(), ['add 10.1.0.1 w0', 'add 10.1.0.2 w0']);
});

test('the sorry server takes over when every real server fails, and leaves when one returns', async () => {
  const { m, clock, checks, take } = setup({ sorry_server: { addr: '10.9.9.9', port: 8080 } });
  m.start();
  assert.deepEqual(take(), ['add 10.1.0.1 w10', 'add 10.1.0.2 w10']);
  checks.set('10.1.0.1:80', { ok: false });
  await clock.advance(2000);
  assert.deepEqual(take(), ['remove 10.1.0.1']);
  checks.set('10.1.0.2:80', { ok: false });
  await clock.advance(5000);
  assert.deepEqual(take(), ['add 10.9.9.9 w1', 'remove 10.1.0.2']);
  assert.equal(m.status().services[0]!.sorryActive, true);
  checks.set('10.1.0.2:80', { ok: true });
  await clock.advance(5000);
  assert.deepEqual(take(), ['add 10.1.0.2 w10', 'remove 10.9.9.9']);
});

test('sorry_server_inhibit keeps the sorry server at weight 0 while it is not needed', async () => {
  const { m, clock, checks, take } = setup({ sorry_server: { addr: '10.9.9.9', port: 8080, weight: 3 }, sorry_server_inhibit: true, real_servers: [rs('10.1.0.1')] });
  m.start();
  assert.deepEqual(take(), ['add 10.1.0.1 w10', 'add 10.9.9.9 w0']);
  checks.set('10.1.0.1:80', { ok: false });
  await clock.advance(2000);
  assert.deepEqual(take(), ['weight 10.9.9.9 w3', 'remove 10.1.0.1']);
  checks.set('10.1.0.1:80', { ok: true });
  await clock.advance(5000);
  assert.deepEqual(take(), ['add 10.1.0.1 w10', 'weight 10.9.9.9 w0']);
});

test('while the sorry server is active, inhibited real servers sit at weight 0', async () => {
  const { m, clock, checks, take } = setup({ sorry_server: { addr: '10.9.9.9', port: 8080 }, inhibit_on_failure: true, quorum: 15 });
  m.start();
  assert.deepEqual(take(), ['add 10.1.0.1 w10', 'add 10.1.0.2 w10']);
  checks.set('10.1.0.1:80', { ok: false });
  await clock.advance(2000);   // alive weight 10 < quorum 15: the alive one leaves too
  assert.deepEqual(take(), ['add 10.9.9.9 w1', 'weight 10.1.0.1 w0', 'weight 10.1.0.2 w0']);
});

test('quorum commands fire once per crossing, with hysteresis', async () => {
  const once: CheckerDef = { ...TCP, retry: 0 };
  const servers = ['10.1.0.1', '10.1.0.2', '10.1.0.3'].map((a) => rs(a, { checkers: [once] }));
  const { m, clock, checks, take } = setup({ real_servers: servers, quorum: 20, hysteresis: 5, quorum_up: '/bin/up', quorum_down: '/bin/down' });
  m.start(); take();
  const set = async (addr: string, ok: boolean) => { checks.set(`${addr}:80`, { ok }); await clock.advance(5000); };
  await set('10.1.0.1', false);            // 30 -> 20: still >= 20-5
  assert.deepEqual(take().filter((s) => s.startsWith('exec')), []);
  await set('10.1.0.2', false);            // 20 -> 10: < 15 -> down
  assert.deepEqual(take().filter((s) => s.startsWith('exec')), ['exec quorum_down /bin/down']);
  await set('10.1.0.3', false);            // 10 -> 0: already down, nothing more
  assert.deepEqual(take().filter((s) => s.startsWith('exec')), []);
  await set('10.1.0.3', true);             // 0 -> 10
  await set('10.1.0.2', true);             // 10 -> 20: needs 25 to come back up
  assert.deepEqual(take().filter((s) => s.startsWith('exec')), []);
  await set('10.1.0.1', true);             // 30 >= 25 -> up
  assert.deepEqual(take().filter((s) => s.startsWith('exec')), ['exec quorum_up /bin/up']);
  await clock.advance(20000);              // steady: no repeats
  assert.deepEqual(take(), []);
});

test('MISC_CHECK misc_dynamic: the exit code sets the weight, exit 0 restores the configured weight', async () => {
  const misc: CheckerDef = { type: 'MISC_CHECK', misc_path: '/x', misc_dynamic: true, warmup: 0 };
  const { m, clock, checks, take } = setup({ real_servers: [rs('10.1.0.1', { checkers: [misc] })] });
  m.start(); take();
  checks.set('10.1.0.1:80', { ok: true, weight: 3 });
  await clock.advance(0);
  assert.deepEqual(take(), ['weight 10.1.0.1 w3']);
  checks.set('10.1.0.1:80', { ok: true, weight: 42 });
  await clock.advance(5000);
  assert.deepEqual(take(), ['weight 10.1.0.1 w42']);
  checks.set('10.1.0.1:80', { ok: true });
  await clock.advance(5000);
  assert.deepEqual(take(), ['weight 10.1.0.1 w10']);
  assert.equal(m.status().services[0]!.dests[0]!.effectiveWeight, 10);
});

test('notify_down / notify_up scripts run on each alive change, after the table change', async () => {
  const { m, clock, checks, take } = setup({ real_servers: [rs('10.1.0.1', { notify_up: '/n up', notify_down: '/n down' }), rs('10.1.0.2')] });
  m.start(); take();
  checks.set('10.1.0.1:80', { ok: false });
  await clock.advance(2000);
  assert.deepEqual(take(), ['remove 10.1.0.1', 'exec notify_down /n down']);
  await clock.advance(5000);
  assert.deepEqual(take(), []);
  checks.set('10.1.0.1:80', { ok: true });
  await clock.advance(5000);
  assert.deepEqual(take(), ['add 10.1.0.1 w10', 'exec notify_up /n up']);
});

test('a server with several checkers is alive only while all of them pass', async () => {
  const two: CheckerDef[] = [TCP, { type: 'HTTP_GET', url: [{ path: '/' }], connect_port: 8080, retry: 0, warmup: 0 }];
  const clock = new FakeClock();
  const results = new Map<string, boolean>([['TCP_CHECK', true], ['HTTP_GET', true]]);
  const ops: string[] = [];
  const m = new HealthManager({
    services: [{ key: KEY, delay_loop: 5, real_servers: [rs('10.1.0.1', { checkers: two })] }], clock,
    runCheck: async (def) => ({ ok: results.get(def.type)!, reason: results.get(def.type) ? 'ok' : 'status 500', latencyMs: 1 }),
    onOps: (b) => ops.push(...b.map(fmt)),
  });
  m.start(); ops.length = 0;
  results.set('HTTP_GET', false);
  await clock.advance(0);
  assert.deepEqual(ops.splice(0), ['remove 10.1.0.1'], 'HTTP_GET (retry 0) failed');
  results.set('TCP_CHECK', false);
  await clock.advance(7000);
  assert.deepEqual(ops.splice(0), [], 'TCP_CHECK failed too (after its retries)');
  results.set('HTTP_GET', true);
  await clock.advance(5000);
  assert.deepEqual(ops.splice(0), [], 'HTTP_GET passes again but TCP_CHECK is still down');
  assert.equal(m.status().services[0]!.dests[0]!.alive, false);
  results.set('TCP_CHECK', true);
  await clock.advance(5000);
  assert.deepEqual(ops.splice(0), ['add 10.1.0.1 w10']);
});

test('warmup: the first check waits random() * warmup seconds', async () => {
  const def: CheckerDef = { type: 'TCP_CHECK', warmup: 10 };
  const { m, clock, checks } = setup({ real_servers: [rs('10.1.0.1', { checkers: [def] })] }, () => 0.25);
  m.start();
  await clock.advance(2499);
  assert.equal(checks.log.length, 0);
  await clock.advance(1);
  assert.equal(checks.log.length, 1);
});

test('warmup defaults to delay_loop', async () => {
  const { m, clock, checks } = setup({ delay_loop: 8, real_servers: [rs('10.1.0.1', { checkers: [{ type: 'TCP_CHECK' }] })] }, () => 0.5);
  m.start();
  await clock.advance(3999);
  assert.equal(checks.log.length, 0);
  await clock.advance(1);
  assert.equal(checks.log.length, 1);
});

const retryTable: { def: CheckerDef; want: number }[] = [
  { def: { type: 'TCP_CHECK' }, want: 1 },
  { def: { type: 'HTTP_GET', url: [] }, want: 1 },
  { def: { type: 'MISC_CHECK', misc_path: '/x' }, want: 0 },
  { def: { type: 'DNS_CHECK' }, want: 3 },
  { def: { type: 'TCP_CHECK', retry: 4 }, want: 4 },
  { def: { type: 'connect' }, want: 0 },
  { def: { type: 'negotiate', service: 'http', request: '/', receive: 'x', failurecount: 3 }, want: 2 },
];
for (const c of retryTable) {
  test(`effective retry of ${JSON.stringify(c.def)} is ${c.want}`, () => assert.equal(effectiveRetry(c.def), c.want));
}

test('ldirectord failurecount: down after that many failures, one checkinterval apart', async () => {
  const def: CheckerDef = { type: 'connect', failurecount: 3, warmup: 0 };
  const { m, clock, checks, take } = setup({ delay_loop: 2, real_servers: [rs('10.1.0.1', { checkers: [def] })], inhibit_on_failure: true });
  m.start(); take();
  checks.set('10.1.0.1:80', { ok: false });
  await clock.advance(0);
  await clock.advance(2000);
  assert.deepEqual(take(), []);
  await clock.advance(2000);
  assert.deepEqual(take(), ['weight 10.1.0.1 w0']);
});

test('checks go to the data path: the virtual port for DR real servers, connect_ip/connect_port when set', async () => {
  const svc: Partial<HealthService> = {
    lb_kind: 'route',
    real_servers: [rs('10.1.0.1', { port: 0 }), rs('10.1.0.2', { fwd: 'masq', port: 8080 }), rs('10.1.0.3', { checkers: [{ ...TCP, connect_ip: '10.2.0.3', connect_port: 9000 }] })],
  };
  const { m, clock, checks } = setup(svc);
  m.start();
  await clock.advance(0);
  assert.deepEqual(checks.log.sort(), ['TCP_CHECK 10.1.0.1:80', 'TCP_CHECK 10.1.0.2:8080', 'TCP_CHECK 10.1.0.3:80']);
  const targets = m.status().services[0]!.dests.map((d) => d.checkers[0]!.target);
  assert.deepEqual(targets, ['10.1.0.1:80', '10.1.0.2:8080', '10.2.0.3:9000']);
});

test('omega: stop runs notify_down for alive servers and quorum_down; without omega it runs nothing', () => {
  for (const omega of [true, false]) {
    const { m, take } = setup({ omega, quorum_down: '/q down', real_servers: [rs('10.1.0.1', { notify_down: '/n down' })] });
    m.start(); take();
    m.stop();
    assert.deepEqual(take(), omega ? ['exec notify_down /n down', 'exec quorum_down /q down'] : []);
  }
});

test('after stop no checks run and no timers remain', async () => {
  const { m, clock, checks } = setup({});
  m.start();
  m.stop();
  await clock.advance(60000);
  assert.equal(checks.log.length, 0);
  assert.equal(clock.pending, 0);
});

test('status reports each checker, its last result, reason and since when', async () => {
  const { m, clock, checks } = setup({});
  m.start();
  const t0 = clock.now();
  assert.equal(m.status().services[0]!.dests[0]!.checkers[0]!.state, 'pending');
  checks.set('10.1.0.1:80', { ok: false, reason: 'timeout: no answer', latencyMs: 1000 });
  await clock.advance(2000);
  const st = m.status();
  const c = st.services[0]!.dests[0]!.checkers[0]!;
  assert.equal(c.state, 'down');
  assert.equal(c.lastResult?.reason, 'timeout: no answer');
  assert.equal(c.since, t0 + 2000);
  assert.equal(c.consecutiveFailures, 3);
  assert.equal(c.checks, 3);
  assert.equal(st.services[0]!.dests[0]!.weight, null);
  assert.equal(st.services[0]!.dests[1]!.weight, 10);
  const table = renderStatusTable(st);
  assert.match(table, /TCP 10\.0\.0\.1:80/);
  assert.match(table, /10\.1\.0\.1:80\s+-\s+DOWN\s+TCP_CHECK\s+10\.1\.0\.1:80\s+FAIL\s+1000ms\s+0s\s+timeout: no answer/);
  assert.match(table, /10\.1\.0\.2:80\s+10\s+UP\s+TCP_CHECK/);
  assert.deepEqual(JSON.parse(renderStatusJson(st)), JSON.parse(JSON.stringify(st)));
});

/** A minimal in-memory backend that records destination commands. */
class DestTable implements IpvsBackend {
  readonly dests = new Map<string, number>();
  readonly cmds: string[] = [];
  info() { return { version: '1.2.1', connTableSize: 4096 }; }
  apply(cmd: IpvsCommand): Errno | null {
    this.cmds.push(cmd.kind);
    if (cmd.kind === 'add-dest') { if (this.dests.has(cmd.dest.addr)) return 'EEXIST'; this.dests.set(cmd.dest.addr, cmd.dest.weight); return null; }
    if (cmd.kind === 'edit-dest') { if (!this.dests.has(cmd.dest.addr)) return 'ENOENT'; this.dests.set(cmd.dest.addr, cmd.dest.weight); return null; }
    if (cmd.kind === 'delete-dest') { return this.dests.delete(cmd.addr) ? null : 'ENOENT'; }
    return 'EINVAL';
  }
  services() { return []; }
  service() { return null; }
  connections() { return []; }
  timeouts() { return { tcp: 900, tcpfin: 120, udp: 300 }; }
  daemons() { return []; }
}

test('applyHealthOps turns ops into add/edit/delete-dest commands and tolerates EEXIST/ENOENT', async () => {
  const { m, clock, checks, raw } = setup({ sorry_server: { addr: '10.9.9.9', port: 80 } });
  const be = new DestTable();
  be.dests.set('10.1.0.2', 1); // already present (e.g. from a previous run)
  m.start();
  checks.set('10.1.0.1:80', { ok: false });
  checks.set('10.1.0.2:80', { ok: false });
  await clock.advance(2000);
  const outcomes = applyHealthOps(raw, be);
  assert.ok(outcomes.every((o) => o.errno === null), JSON.stringify(outcomes));
  assert.deepEqual([...be.dests], [['10.9.9.9', 1]]);
  // start: add .1, add .2 (EEXIST -> edit); .1 down: delete; .2 down: sorry added, then .2 deleted.
  assert.deepEqual(be.cmds, ['add-dest', 'add-dest', 'edit-dest', 'delete-dest', 'add-dest', 'delete-dest']);
});
