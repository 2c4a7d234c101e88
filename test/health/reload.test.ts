/**
 * HealthManager.update(): a reload keeps the running health state of everything unchanged and
 * emits only the operations the change needs. Fake clock; the last test uses real HTTP servers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { HealthManager } from '../../src/health/manager.ts';
import { FakeClock } from '../../src/health/fakes.ts';
import { applyHealthOps } from '../../src/health/apply.ts';
import type { CheckContext } from '../../src/health/checker.ts';
import type { CheckResult, CheckerDef, HealthOp, HealthRealServer, HealthService } from '../../src/health/types.ts';
import type { DestSpec, Errno, IpvsBackend, IpvsCommand, ServiceKey } from '../../src/core/types.ts';
import { parseKeepalived } from '../../src/config/keepalived.ts';
import { memorySource, } from '../../src/config/source.ts';
import { toHealthServices } from '../../src/config/desired.ts';
import { planReload } from '../../src/config/diff.ts';

const KEY: ServiceKey = { af: 4, fwmark: 0, protocol: 'tcp', addr: '10.0.0.1', port: 80 };
const KEY2: ServiceKey = { af: 4, fwmark: 0, protocol: 'tcp', addr: '10.0.0.2', port: 443 };
const TCP: CheckerDef = { type: 'TCP_CHECK', retry: 2, delay_before_retry: 1, warmup: 0 };
const httpGet = (path: string, extra: Partial<CheckerDef> = {}): CheckerDef => ({ type: 'HTTP_GET', url: [{ path }], retry: 1, delay_before_retry: 1, warmup: 0, ...extra } as CheckerDef);

function rs(addr: string, extra: Partial<HealthRealServer> = {}): HealthRealServer {
  return { addr, port: 80, weight: 10, checkers: [TCP], ...extra };
}
function svc(extra: Partial<HealthService> = {}): HealthService {
  return { key: KEY, delay_loop: 5, real_servers: [rs('10.1.0.1'), rs('10.1.0.2')], ...extra };
}

function fmt(op: HealthOp): string {
  switch (op.op) {
    case 'add': return `add ${op.dest.addr} w${op.dest.weight}${op.dest.fwd !== 'masq' ? ` ${op.dest.fwd}` : ''}`;
    case 'set-weight': return `weight ${op.dest.addr} w${op.weight}${op.dest.fwd !== 'masq' ? ` ${op.dest.fwd}` : ''}`;
    case 'remove': return `remove ${op.addr}`;
    case 'exec': return `exec ${op.event} ${op.script}`;
  }
}

/**
 * Check results keyed by "<real addr> <checker>", checker = type, or "HTTP_GET <path>";
 * unknown keys pass. Logs every check run.
 */
class Checks {
  readonly fail = new Set<string>();
  readonly weight = new Map<string, number>();
  readonly log: string[] = [];
  static id(def: CheckerDef, addr: string): string {
    return def.type === 'HTTP_GET' ? `${addr} HTTP_GET ${def.url[0]!.path}` : `${addr} ${def.type}`;
  }
  runner = async (def: CheckerDef, ctx: CheckContext): Promise<CheckResult> => {
    const id = Checks.id(def, ctx.target.addr);
    this.log.push(id);
    const w = this.weight.get(id);
    return this.fail.has(id) ? { ok: false, reason: 'refused', latencyMs: 1 } : { ok: true, reason: 'ok', latencyMs: 1, ...(w !== undefined ? { weight: w } : {}) };
  };
}

function setup(services: HealthService[], random: () => number = () => 0) {
  const clock = new FakeClock();
  const checks = new Checks();
  const ops: string[] = [];
  const m = new HealthManager({ services, clock, runCheck: checks.runner, random, onOps: (b) => ops.push(...b.map(fmt)) });
  return { m, clock, checks, ops, take: () => ops.splice(0) };
}
type Ctx = ReturnType<typeof setup>;

const dest = (m: HealthManager, addr: string, s = 0) => m.status().services[s]!.dests.find((d) => d.dest.startsWith(`${addr}:`));

interface Case {
  name: string;
  before: HealthService[];
  /** Runs after start() (ops of start discarded). */
  prep?: (c: Ctx) => Promise<void>;
  after: HealthService[];
  carry?: { start?: string[]; stop?: string[] };
  want: string[];
  /** True: every pending timer of the kept checkers is the same one (not re-armed). */
  timersKept?: boolean;
  /** Checks after the reload (ops of the reload already taken). */
  then?: (c: Ctx) => Promise<void>;
}

const downAfter = async (c: Ctx, id: string) => { c.checks.fail.add(id); await c.clock.advance(2000); };

const cases: Case[] = [
  {
    name: 'no change: no ops and no timer re-armed',
    before: [svc()], after: [svc()], want: [], timersKept: true,
  },
  {
    name: 'no change with servers in every state (down, inhibited, sorry active): no ops',
    before: [svc({ sorry_server: { addr: '10.9.9.9', port: 80 }, quorum: 20, real_servers: [rs('10.1.0.1'), rs('10.1.0.2', { inhibit_on_failure: true })] })],
    prep: async (c) => { await downAfter(c, '10.1.0.1 TCP_CHECK'); },
    after: [svc({ sorry_server: { addr: '10.9.9.9', port: 80 }, quorum: 20, real_servers: [rs('10.1.0.1'), rs('10.1.0.2', { inhibit_on_failure: true })] })],
    want: [], timersKept: true,
  },
  {
    name: 'weight raised on a healthy server: one set-weight op',
    before: [svc()], after: [svc({ real_servers: [rs('10.1.0.1', { weight: 25 }), rs('10.1.0.2')] })],
    want: ['weight 10.1.0.1 w25'], timersKept: true,
  },
  {
    name: 'weight lowered on a healthy server: one set-weight op',
    before: [svc()], after: [svc({ real_servers: [rs('10.1.0.1', { weight: 3 }), rs('10.1.0.2')] })],
    want: ['weight 10.1.0.1 w3'], timersKept: true,
  },
  {
    name: 'weight changed on a down server: no op now, it returns with the new weight',
    before: [svc()],
    prep: async (c) => { await downAfter(c, '10.1.0.1 TCP_CHECK'); },
    after: [svc({ real_servers: [rs('10.1.0.1', { weight: 7 }), rs('10.1.0.2')] })],
    want: [], timersKept: true,
    then: async (c) => {
      c.checks.fail.clear();
      await c.clock.advance(5000);
      assert.deepEqual(c.take(), ['add 10.1.0.1 w7']);
    },
  },
  {
    name: 'forwarding method changed: a set-weight op carrying the new dest, checker kept (same target)',
    before: [svc()], after: [svc({ real_servers: [rs('10.1.0.1', { fwd: 'route' }), rs('10.1.0.2')] })],
    want: ['weight 10.1.0.1 w10 route'], timersKept: true,
  },
  {
    name: 'the failing checker removed: the server comes back at once (notify_up)',
    before: [svc({ real_servers: [rs('10.1.0.1', { checkers: [TCP, httpGet('/health')], notify_up: '/up' }), rs('10.1.0.2')] })],
    prep: async (c) => { await downAfter(c, '10.1.0.1 HTTP_GET /health'); assert.deepEqual(c.take(), ['remove 10.1.0.1']); },
    after: [svc({ real_servers: [rs('10.1.0.1', { checkers: [TCP], notify_up: '/up' }), rs('10.1.0.2')] })],
    want: ['add 10.1.0.1 w10', 'exec notify_up /up'],
    then: async (c) => {
      await c.clock.advance(20000);
      assert.ok(!c.checks.log.slice(-8).some((l) => l.includes('HTTP_GET')), 'the removed checker no longer runs');
    },
  },
  {
    name: 'a checker added to a healthy server: no op; the server stays up until the new checker fails (after its retries)',
    before: [svc()],
    after: [svc({ real_servers: [rs('10.1.0.1', { checkers: [TCP, httpGet('/new')] }), rs('10.1.0.2')] })],
    want: [],
    then: async (c) => {
      assert.equal(dest(c.m, '10.1.0.1')!.checkers[1]!.state, 'pending');
      c.checks.fail.add('10.1.0.1 HTTP_GET /new');
      await c.clock.advance(0);
      assert.deepEqual(c.take(), [], 'first failure: retry 1 of 1');
      await c.clock.advance(1000);
      assert.deepEqual(c.take(), ['remove 10.1.0.1']);
    },
  },
  {
    name: 'checker definition changed (url path) on a healthy server: restarted, server kept up until the new checker decides',
    before: [svc({ real_servers: [rs('10.1.0.1', { checkers: [httpGet('/old')] }), rs('10.1.0.2')] })],
    prep: async (c) => { await c.clock.advance(2500); },
    after: [svc({ real_servers: [rs('10.1.0.1', { checkers: [httpGet('/new')] }), rs('10.1.0.2')] })],
    want: [],
    then: async (c) => {
      const ck = dest(c.m, '10.1.0.1')!.checkers[0]!;
      assert.equal(ck.state, 'pending');
      assert.equal(ck.checks, 0, 'a new checker starts with fresh counters');
      assert.equal(dest(c.m, '10.1.0.1')!.alive, true);
      assert.equal(dest(c.m, '10.1.0.2')!.checkers[0]!.checks, 1, 'the unchanged neighbour keeps its counters');
      c.checks.fail.add('10.1.0.1 HTTP_GET /new');
      await c.clock.advance(1000);
      assert.deepEqual(c.take(), ['remove 10.1.0.1']);
      await c.clock.advance(20000);
      assert.equal(c.checks.log.filter((l) => l === '10.1.0.1 HTTP_GET /old').length, 1, 'the old checker never ran again');
    },
  },
  {
    name: 'checker definition changed on a down server: it stays down; the new checker\'s first success brings it back',
    before: [svc({ real_servers: [rs('10.1.0.1', { checkers: [httpGet('/old')] }), rs('10.1.0.2')] })],
    prep: async (c) => { await downAfter(c, '10.1.0.1 HTTP_GET /old'); assert.deepEqual(c.take(), ['remove 10.1.0.1']); },
    after: [svc({ real_servers: [rs('10.1.0.1', { checkers: [httpGet('/new')] }), rs('10.1.0.2')] })],
    want: [],
    then: async (c) => {
      assert.equal(dest(c.m, '10.1.0.1')!.alive, false);
      await c.clock.advance(0);
      assert.deepEqual(c.take(), ['add 10.1.0.1 w10']);
    },
  },
  {
    name: 'carry.start forces a restart of a checker whose definition looks equal',
    before: [svc()], prep: async (c) => { await c.clock.advance(0); }, after: [svc()], carry: { start: ['tcp 10.0.0.1:80 10.1.0.1:80 #0'], stop: ['tcp 10.0.0.1:80 10.1.0.1:80 #0'] },
    want: [],
    then: async (c) => { assert.equal(dest(c.m, '10.1.0.1')!.checkers[0]!.state, 'pending'); assert.equal(dest(c.m, '10.1.0.2')!.checkers[0]!.state, 'up'); },
  },
  {
    name: 'a server added: in the table at once (non-alpha)',
    before: [svc()], after: [svc({ real_servers: [rs('10.1.0.1'), rs('10.1.0.2'), rs('10.1.0.3', { weight: 4 })] })],
    want: ['add 10.1.0.3 w4'],
    then: async (c) => { assert.equal(dest(c.m, '10.1.0.3')!.checkers[0]!.state, 'pending'); },
  },
  {
    name: 'a server added with alpha: out of the table until its first success',
    before: [svc()], after: [svc({ real_servers: [rs('10.1.0.1'), rs('10.1.0.2'), rs('10.1.0.3', { alpha: true })] })],
    want: [],
    then: async (c) => { await c.clock.advance(0); assert.deepEqual(c.take(), ['add 10.1.0.3 w10']); },
  },
  {
    name: 'a server added with alpha and inhibit_on_failure: added at weight 0, raised on its first success',
    before: [svc()], after: [svc({ real_servers: [rs('10.1.0.1'), rs('10.1.0.2'), rs('10.1.0.3', { alpha: true, inhibit_on_failure: true })] })],
    want: ['add 10.1.0.3 w0'],
    then: async (c) => { await c.clock.advance(0); assert.deepEqual(c.take(), ['weight 10.1.0.3 w10']); },
  },
  {
    name: 'alpha turned on for the service: existing servers keep their state',
    before: [svc()], after: [svc({ alpha: true })], want: [], timersKept: true,
  },
  {
    name: 'an alive server removed: removed from the table, its notify_down runs (keepalived does, omega or not)',
    before: [svc({ real_servers: [rs('10.1.0.1'), rs('10.1.0.2', { notify_down: '/down' })] })],
    after: [svc({ real_servers: [rs('10.1.0.1')] })],
    want: ['remove 10.1.0.2', 'exec notify_down /down'],
    then: async (c) => { await c.clock.advance(20000); assert.ok(!c.checks.log.slice(-6).some((l) => l.startsWith('10.1.0.2')), 'its checker stopped'); },
  },
  {
    name: 'a down inhibited server removed: removed (not left at weight 0), no notify',
    before: [svc({ real_servers: [rs('10.1.0.1'), rs('10.1.0.2', { inhibit_on_failure: true, notify_down: '/down' })] })],
    prep: async (c) => { await downAfter(c, '10.1.0.2 TCP_CHECK'); assert.deepEqual(c.take(), ['weight 10.1.0.2 w0', 'exec notify_down /down']); },
    after: [svc({ real_servers: [rs('10.1.0.1')] })],
    want: ['remove 10.1.0.2'],
  },
  {
    name: 'a server removed takes the alive weight under quorum: quorum_down once, sorry server in, the rest out',
    before: [svc({ quorum: 15, quorum_down: '/qd', quorum_up: '/qu', sorry_server: { addr: '10.9.9.9', port: 80 } })],
    after: [svc({ quorum: 15, quorum_down: '/qd', quorum_up: '/qu', sorry_server: { addr: '10.9.9.9', port: 80 }, real_servers: [rs('10.1.0.1')] })],
    want: ['add 10.9.9.9 w1', 'remove 10.1.0.2', 'remove 10.1.0.1', 'exec quorum_down /qd'],
    then: async (c) => { await c.clock.advance(30000); assert.deepEqual(c.take(), [], 'fired once'); },
  },
  {
    name: 'quorum raised above the alive weight: quorum_down once',
    before: [svc({ quorum: 15, quorum_down: '/qd', quorum_up: '/qu' })],
    after: [svc({ quorum: 25, quorum_down: '/qd', quorum_up: '/qu' })],
    want: ['exec quorum_down /qd'],
    then: async (c) => { await c.clock.advance(30000); assert.deepEqual(c.take(), []); },
  },
  {
    name: 'quorum lowered under the alive weight: quorum_up once, the sorry server leaves',
    before: [svc({ quorum: 25, quorum_down: '/qd', quorum_up: '/qu', sorry_server: { addr: '10.9.9.9', port: 80 } })],
    prep: async (c) => { c.take(); },
    after: [svc({ quorum: 20, quorum_down: '/qd', quorum_up: '/qu', sorry_server: { addr: '10.9.9.9', port: 80 } })],
    want: ['add 10.1.0.1 w10', 'add 10.1.0.2 w10', 'remove 10.9.9.9', 'exec quorum_up /qu'],
    then: async (c) => { await c.clock.advance(30000); assert.deepEqual(c.take(), []); },
  },
  {
    name: 'sorry server moved while active: the old one leaves, the new one comes in',
    before: [svc({ quorum: 25, sorry_server: { addr: '10.9.9.9', port: 80 } })],
    after: [svc({ quorum: 25, sorry_server: { addr: '10.9.9.8', port: 80 } })],
    want: ['add 10.9.9.8 w1', 'remove 10.9.9.9'],
  },
  {
    name: 'a MISC_CHECK misc_dynamic weight survives a reload; a configured weight change does not override it',
    before: [svc({ real_servers: [rs('10.1.0.1', { checkers: [{ type: 'MISC_CHECK', misc_path: '/x', misc_dynamic: true, warmup: 0 }] })] })],
    prep: async (c) => { c.checks.weight.set('10.1.0.1 MISC_CHECK', 3); await c.clock.advance(0); assert.deepEqual(c.take(), ['weight 10.1.0.1 w3']); },
    after: [svc({ real_servers: [rs('10.1.0.1', { weight: 50, checkers: [{ type: 'MISC_CHECK', misc_path: '/x', misc_dynamic: true, warmup: 0 }] })] })],
    want: [], timersKept: true,
    then: async (c) => { assert.equal(dest(c.m, '10.1.0.1')!.effectiveWeight, 3); assert.deepEqual(c.m.view()('tcp 10.0.0.1:80', '10.1.0.1:80'), { up: true, weight: 3 }); },
  },
  {
    name: 'a failure count in progress carries over: the server goes down after the remaining retries only',
    before: [svc()],
    prep: async (c) => { c.checks.fail.add('10.1.0.1 TCP_CHECK'); await c.clock.advance(0); await c.clock.advance(1000); assert.deepEqual(c.take(), []); },
    after: [svc({ real_servers: [rs('10.1.0.1', { weight: 11 }), rs('10.1.0.2')] })],
    want: ['weight 10.1.0.1 w11'], timersKept: true,
    then: async (c) => {
      assert.equal(dest(c.m, '10.1.0.1')!.checkers[0]!.consecutiveFailures, 2);
      await c.clock.advance(1000);
      assert.deepEqual(c.take(), ['remove 10.1.0.1'], 'third failure (retry 2 used before the reload)');
    },
  },
  {
    name: 'a service removed: its dests leave, notify_down for alive servers, quorum_down (keepalived on reload)',
    before: [svc({ quorum_down: '/qd', real_servers: [rs('10.1.0.1', { notify_down: '/d1' })] }), svc({ key: KEY2, real_servers: [rs('10.2.0.1')] })],
    after: [svc({ key: KEY2, real_servers: [rs('10.2.0.1')] })],
    want: ['remove 10.1.0.1', 'exec notify_down /d1', 'exec quorum_down /qd'],
    then: async (c) => {
      assert.deepEqual(c.m.status().services.map((s) => s.service), ['TCP 10.0.0.2:443']);
      await c.clock.advance(20000);
      assert.ok(!c.checks.log.slice(-4).some((l) => l.startsWith('10.1.0.1')));
    },
  },
  {
    name: 'a service added: its servers are added, its checks start',
    before: [svc()], after: [svc(), svc({ key: KEY2, real_servers: [rs('10.2.0.1', { weight: 2 })] })],
    want: ['add 10.2.0.1 w2'],
    then: async (c) => { await c.clock.advance(0); assert.ok(c.checks.log.includes('10.2.0.1 TCP_CHECK')); },
  },
];

for (const c of cases) {
  test(`reload: ${c.name}`, async () => {
    // random: 0.5 at start, 0.1 afterwards: a re-armed first check would land elsewhere.
    const phase = { started: false };
    const ctx = setup(c.before, () => (phase.started ? 0.1 : 0.5));
    ctx.m.start();
    phase.started = true;
    ctx.take();
    if (c.prep) await c.prep(ctx);
    ctx.take();
    const before = ctx.clock.deadlines;
    const st0 = JSON.stringify(ctx.m.status());
    const ops = ctx.m.update(c.after, c.carry);
    assert.deepEqual(ops.map(fmt), c.want);
    assert.deepEqual(ctx.take(), c.want, 'the same batch goes to onOps');
    if (c.timersKept) {
      assert.deepEqual(ctx.clock.deadlines, before, 'timers untouched');
      if (c.want.length === 0) {
        const strip = (s: string) => JSON.parse(s).services.map((v: { dests: { checkers: unknown }[] }) => v.dests.map((d) => d.checkers));
        assert.deepEqual(strip(JSON.stringify(ctx.m.status())), strip(st0), 'checker states carried');
      }
    }
    if (c.then) await c.then(ctx);
    ctx.m.stop();
    assert.equal(ctx.clock.pending, 0, 'no timer leaks after stop');
  });
}

test('reload before start only replaces the definitions', () => {
  const c = setup([svc()]);
  assert.deepEqual(c.m.update([svc({ real_servers: [rs('10.1.0.9')] })]), []);
  assert.deepEqual(c.m.start().map(fmt), ['add 10.1.0.9 w10']);
  assert.equal(c.m.services()[0]!.real_servers[0]!.addr, '10.1.0.9');
});

test('a check in flight for a checker retired by a reload is discarded', async () => {
  const clock = new FakeClock();
  let release: (r: CheckResult) => void = () => {};
  const ops: string[] = [];
  const results: string[] = [];
  const m = new HealthManager({
    services: [svc({ real_servers: [rs('10.1.0.1', { checkers: [{ ...TCP, retry: 0 }] })] })], clock,
    runCheck: () => new Promise<CheckResult>((r) => { release = r; }), random: () => 0,
    onOps: (b) => ops.push(...b.map(fmt)),
    onResult: (_s, d, _c, r) => results.push(`${d} ${r.reason}`),
  });
  m.start(); ops.length = 0;
  await clock.advance(0);                                     // check started, pending
  m.update([svc({ real_servers: [rs('10.1.0.1', { checkers: [{ ...TCP, retry: 0, connect_timeout: 2 }] })] })]);
  release({ ok: false, reason: 'refused', latencyMs: 1 });    // the old checker's answer
  await clock.advance(0);
  assert.deepEqual(ops, [], 'the retired checker\'s failure does not take the server down');
  assert.deepEqual(results, [], 'nor is it recorded');
  assert.equal(clock.pending, 0, 'nor does it re-arm a timer (the new checker\'s check is in flight)');
  m.stop();
});

test('view() answers planReload\'s HealthView: up and live weight by service key and real key', async () => {
  const c = setup([svc()]);
  c.m.start();
  await downAfter(c, '10.1.0.2 TCP_CHECK');
  const v = c.m.view();
  assert.deepEqual(v('tcp 10.0.0.1:80', '10.1.0.1:80'), { up: true, weight: 10 });
  assert.deepEqual(v('tcp 10.0.0.1:80', '10.1.0.2:80'), { up: false, weight: 10 });
  assert.equal(v('tcp 10.0.0.1:80', '10.1.0.3:80'), undefined);
  assert.equal(v('tcp 10.0.0.9:80', '10.1.0.1:80'), undefined);
  c.m.stop();
});

/** A backend holding services and dests, applying ipvsadm-level commands. */
class Table implements IpvsBackend {
  readonly svcs = new Map<string, { key: ServiceKey; dests: Map<string, DestSpec> }>();
  readonly log: string[] = [];
  private k(key: ServiceKey) { return `${key.protocol} ${key.addr}:${key.port}`; }
  info() { return { version: '1.2.1', connTableSize: 4096 }; }
  apply(cmd: IpvsCommand): Errno | null {
    switch (cmd.kind) {
      case 'add-service': this.svcs.set(this.k(cmd.svc), { key: cmd.svc, dests: new Map() }); this.log.push(`add-service ${cmd.svc.addr}`); return null;
      case 'edit-service': return null;
      case 'delete-service': this.log.push(`delete-service ${cmd.key.addr}`); return this.svcs.delete(this.k(cmd.key)) ? null : 'ESRCH';
      case 'set-timeouts': return null;
      case 'add-dest': case 'edit-dest': case 'delete-dest': {
        const s = this.svcs.get(this.k(cmd.key));
        if (!s) return 'ESRCH';
        const addr = cmd.kind === 'delete-dest' ? cmd.addr : cmd.dest.addr;
        this.log.push(`${cmd.kind} ${addr}${cmd.kind !== 'delete-dest' ? ` w${cmd.dest.weight}` : ''}`);
        if (cmd.kind === 'delete-dest') return s.dests.delete(addr) ? null : 'ENOENT';
        if (cmd.kind === 'add-dest' && s.dests.has(addr)) return 'EEXIST';
        if (cmd.kind === 'edit-dest' && !s.dests.has(addr)) return 'ENOENT';
        s.dests.set(addr, cmd.dest);
        return null;
      }
      default: return 'EINVAL';
    }
  }
  services() {
    const zero = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 } as never;
    return [...this.svcs.values()].map((s) => ({
      ...s.key, scheduler: 'wlc', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '', stats: zero, rates: zero,
      dests: [...s.dests.values()].map((d) => ({ ...d, activeConns: 0, inactConns: 0, persistConns: 0, overloaded: false, stats: zero, rates: zero })),
    }));
  }
  service() { return null; }
  connections() { return []; }
  timeouts() { return { tcp: 900, tcpfin: 120, udp: 300 }; }
  daemons() { return []; }
  weights(): string[] { return [...this.svcs.values()].flatMap((s) => [...s.dests.values()].map((d) => `${s.key.addr} ${d.addr} w${d.weight}`)).sort(); }
}

const KA = (reals: string) => `virtual_server 10.0.0.1 80 {
  delay_loop 5
  lb_algo wrr
  lb_kind NAT
  protocol TCP
${reals}
}
`;
const real = (addr: string, weight: number, path: string) => `  real_server ${addr} 80 {
    weight ${weight}
    HTTP_GET {
      url {
        path ${path}
      }
      connect_timeout 1
      retry 0
      delay_before_retry 1
    }
  }`;

test('with planReload and a live table: the daemon sequence ends with the table health wants, no delete+add of kept servers', async () => {
  const load = (text: string) => parseKeepalived('/k.conf', memorySource({ '/k.conf': text }));
  const v1 = load(KA([real('10.1.0.1', 10, '/a'), real('10.1.0.2', 10, '/a'), real('10.1.0.3', 10, '/a')].join('\n')));
  assert.ok(v1.state, JSON.stringify(v1.diagnostics));
  const table = new Table();
  const clock = new FakeClock();
  const checks = new Checks();
  const m = new HealthManager({ services: toHealthServices(v1.state), clock, runCheck: checks.runner, random: () => 0, onOps: (ops) => applyHealthOps(ops, table) });
  const p1 = planReload({ next: v1, previous: null });
  assert.ok(p1.ok);
  for (const cmd of p1.commands) table.apply(cmd);
  m.start();
  checks.fail.add('10.1.0.2 HTTP_GET /a');
  checks.fail.add('10.1.0.3 HTTP_GET /a');
  await clock.advance(0);
  assert.deepEqual(table.weights(), ['10.0.0.1 10.1.0.1 w10']);
  table.log.length = 0;

  // v2: .1 weight 20 (healthy: an edit), .2 unchanged (down: stays out), .3 url changed (down: stays
  // out until its new checker passes), .4 new.
  const v2 = load(KA([real('10.1.0.1', 20, '/a'), real('10.1.0.2', 10, '/a'), real('10.1.0.3', 10, '/b'), real('10.1.0.4', 5, '/a')].join('\n')));
  const p2 = planReload({ next: v2, previous: v1.state, running: table.services(), health: m.view() });
  assert.ok(p2.ok);
  for (const cmd of p2.commands) table.apply(cmd);
  const ops = m.update(toHealthServices(v2.state!), p2.carry, { running: table.services() });
  assert.deepEqual(table.weights(), ['10.0.0.1 10.1.0.1 w20', '10.0.0.1 10.1.0.4 w5']);
  assert.ok(!table.log.some((l) => l === 'delete-dest 10.1.0.1'), `kept server never deleted: ${table.log.join(', ')}`);
  // .3's checker changed: planReload keeps its live (down) verdict, so it is never re-added
  // unchecked, and the manager has nothing to correct.
  assert.deepEqual(ops.map(fmt), []);
  assert.ok(!table.log.some((l) => l.startsWith('add-dest') && l.includes('10.1.0.3')), `down server not re-added: ${table.log.join(', ')}`);
  await clock.advance(0);                     // .3's new checker passes ('/b' is not failing)
  assert.deepEqual(table.weights(), ['10.0.0.1 10.1.0.1 w20', '10.0.0.1 10.1.0.3 w10', '10.0.0.1 10.1.0.4 w5']);
  m.stop();
});

const runningOf = (key: ServiceKey, dests: [string, number][]) => ({
  ...key,
  dests: dests.map(([addr, weight]): DestSpec => ({ af: 4, addr, port: 80, fwd: 'masq', weight, uThreshold: 0, lThreshold: 0, tunType: 'ipip', tunPort: 0, tunCsum: 'nocsum' })),
});

const runningCases: { name: string; running: ReturnType<typeof runningOf>[]; after: HealthService[]; want: string[] }[] = [
  {
    name: 'the table already has what health wants (sorry server serving, .2 gone): no ops',
    running: [runningOf(KEY, [['10.9.9.9', 1]])],
    after: [svc({ quorum: 25, sorry_server: { addr: '10.9.9.9', port: 80 }, real_servers: [rs('10.1.0.1', { weight: 20 })] })],
    want: [],
  },
  {
    name: 'alive servers put back by the reload while the sorry server serves: taken out again',
    running: [runningOf(KEY, [['10.1.0.1', 10], ['10.1.0.2', 10], ['10.9.9.9', 1]])],
    after: [svc({ quorum: 25, sorry_server: { addr: '10.9.9.9', port: 80 } })],
    want: ['remove 10.1.0.1', 'remove 10.1.0.2'],
  },
  {
    name: 'a weight the reload did not edit: edited; a missing dest: added',
    running: [runningOf(KEY, [['10.1.0.1', 10]])],
    after: [svc({ real_servers: [rs('10.1.0.1', { weight: 12 }), rs('10.1.0.2')] })],
    want: ['weight 10.1.0.1 w12', 'add 10.1.0.2 w10'],
  },
  {
    name: 'a removed service already deleted from the table: scripts only, no dest ops',
    running: [],
    after: [],
    want: ['exec notify_down /d'],
  },
];

for (const c of runningCases) {
  test(`reload against the live table: ${c.name}`, () => {
    const before = c.name.includes('sorry') || c.name.includes('already has')
      ? [svc({ quorum: 25, sorry_server: { addr: '10.9.9.9', port: 80 } })]
      : [svc({ real_servers: [rs('10.1.0.1'), rs('10.1.0.2', { notify_down: '/d' })] })];
    const ctx = setup(before);
    ctx.m.start();
    ctx.take();
    assert.deepEqual(ctx.m.update(c.after, undefined, { running: c.running }).map(fmt), c.want);
    ctx.m.stop();
  });
}

// ---------- real HTTP servers on 127.0.0.1 ----------

async function startHttp(handler: http.RequestListener): Promise<{ server: http.Server; port: number; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return { server, port, close: () => new Promise<void>((r) => { server.close(() => r()); for (const s of sockets) s.destroy(); }) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) { if (Date.now() > end) throw new Error(`timed out waiting for ${what}`); await sleep(20); }
}

test('real HTTP servers: a reload changing weights keeps checks running; a url change restarts only that checker and takes the server out when the new url fails', async () => {
  const hits = new Map<string, number>();
  const handler = (name: string): http.RequestListener => (req, res) => {
    hits.set(`${name} ${req.url}`, (hits.get(`${name} ${req.url}`) ?? 0) + 1);
    if (req.url === '/ok') { res.end('fine'); return; }
    res.statusCode = 404; res.end('no');
  };
  const a = await startHttp(handler('a'));
  const b = await startHttp(handler('b'));
  const check = (path: string): CheckerDef => ({ type: 'HTTP_GET', url: [{ path }], connect_timeout: 1, retry: 1, delay_before_retry: 0.05, warmup: 0 });
  const service = (wa: number, pathB: string): HealthService => ({
    key: { af: 4, fwmark: 0, protocol: 'tcp', addr: '10.0.0.1', port: 80 }, delay_loop: 0.1,
    real_servers: [
      { addr: '127.0.0.1', port: a.port, weight: wa, checkers: [check('/ok')] },
      { addr: '127.0.0.1', port: b.port, weight: 10, checkers: [check(pathB)], notify_down: '/bin/true' },
    ],
  });
  const ops: string[] = [];
  const fmtP = (op: HealthOp) => op.op === 'exec' ? `exec ${op.event}` : op.op === 'remove' ? `remove ${op.port}` : `${op.op} ${op.dest.port} w${op.dest.weight}`;
  const m = new HealthManager({ services: [service(10, '/ok')], onOps: (batch) => ops.push(...batch.map(fmtP)) });
  try {
    m.start();
    assert.deepEqual(ops.splice(0), [`add ${a.port} w10`, `add ${b.port} w10`]);
    await until('both checked twice', () => (hits.get('a /ok') ?? 0) >= 2 && (hits.get('b /ok') ?? 0) >= 2);
    const aChecks = m.status().services[0]!.dests[0]!.checkers[0]!.checks;

    // Weight change: one set-weight op, the checker keeps its counters and keeps running.
    assert.deepEqual(m.update([service(30, '/ok')]).map(fmtP), [`set-weight ${a.port} w30`]);
    assert.ok(m.status().services[0]!.dests[0]!.checkers[0]!.checks >= aChecks, 'counters carried');
    const hitsA = hits.get('a /ok')!;
    await until('a checked after the reload', () => hits.get('a /ok')! > hitsA);
    assert.deepEqual(ops.splice(0), [`set-weight ${a.port} w30`]);

    // b's url changes to one that 404s: b stays in until the new checker fails twice (retry 1).
    const t0 = Date.now();
    assert.deepEqual(m.update([service(30, '/missing')]).map(fmtP), []);
    assert.equal(m.status().services[0]!.dests[1]!.alive, true, 'kept up until the new checker decides');
    await until('b removed', () => ops.includes(`remove ${b.port}`));
    const took = Date.now() - t0;
    assert.ok((hits.get('b /missing') ?? 0) >= 2, 'the new url was checked (and retried)');
    assert.deepEqual(ops.splice(0), [`remove ${b.port}`, 'exec notify_down']);
    const st = m.status().services[0]!.dests[1]!.checkers[0]!;
    assert.match(st.lastResult!.reason, /^status 404/);
    assert.ok(took < 2000, `took ${took} ms`);
    // a was never disturbed.
    assert.equal(m.status().services[0]!.dests[0]!.alive, true);
  } finally {
    m.stop();
    await a.close();
    await b.close();
  }
});
