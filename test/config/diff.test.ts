import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IpvsCommand, ServiceSnapshot } from '../../src/core/types.ts';
import type { DesiredState, LoadResult } from '../../src/config/desired.ts';
import { diffRules, healthCarry, planReload, targetRules } from '../../src/config/diff.ts';
import { parseKeepalived } from '../../src/config/keepalived.ts';
import { memorySource } from '../../src/config/source.ts';

function parse(text: string): LoadResult {
  return parseKeepalived('/k.conf', memorySource({ '/k.conf': text }));
}
function state(text: string): DesiredState {
  const r = parse(text);
  assert.ok(r.state, JSON.stringify(r.diagnostics));
  return r.state;
}

/** A small config generator: services as "vip:port sched [p=N]" with real servers "ip:port w". */
function conf(svcs: { vip: string; sched?: string; persist?: number; kind?: string; reals: [string, number][]; checker?: string; inhibit?: boolean }[]): string {
  return svcs.map((s) => {
    const [a, p] = s.vip.split(':');
    return `virtual_server ${a} ${p} {\n protocol TCP\n lb_algo ${s.sched ?? 'wlc'}\n lb_kind ${s.kind ?? 'NAT'}\n` +
      (s.persist ? ` persistence_timeout ${s.persist}\n` : '') + (s.inhibit ? ' inhibit_on_failure\n' : '') +
      s.reals.map(([r, w]) => { const [ra, rp] = r.split(':'); return ` real_server ${ra} ${rp} {\n  weight ${w}\n  ${s.checker ?? 'TCP_CHECK {\n   connect_timeout 3\n  }'}\n }\n`; }).join('') + '}\n';
  }).join('');
}

const summarize = (cmds: readonly IpvsCommand[]) => cmds.map((c) => {
  switch (c.kind) {
    case 'add-service': case 'edit-service': return `${c.kind} ${c.svc.addr}:${c.svc.port} ${c.svc.scheduler}${c.svc.timeout ? ' p' + c.svc.timeout : ''}`;
    case 'delete-service': return `${c.kind} ${c.key.addr}:${c.key.port}`;
    case 'add-dest': case 'edit-dest': return `${c.kind} ${c.key.addr}:${c.key.port} ${c.dest.addr}:${c.dest.port} w${c.dest.weight}`;
    case 'delete-dest': return `${c.kind} ${c.key.addr}:${c.key.port} ${c.addr}:${c.port}`;
    default: return c.kind;
  }
});

const BASE = [
  { vip: '10.0.0.1:80', reals: [['10.1.0.1:80', 1], ['10.1.0.2:80', 1]] as [string, number][] },
  { vip: '10.0.0.2:443', reals: [['10.1.0.3:443', 2]] as [string, number][] },
];

const CASES: { name: string; next: Parameters<typeof conf>[0]; want: string[] }[] = [
  { name: 'identical config: no command at all', next: BASE, want: [] },
  { name: 'changed weight is one edit-dest, not delete+add', next: [{ ...BASE[0]!, reals: [['10.1.0.1:80', 5], ['10.1.0.2:80', 1]] }, BASE[1]!], want: ['edit-dest 10.0.0.1:80 10.1.0.1:80 w5'] },
  { name: 'changed scheduler is one edit-service', next: [{ ...BASE[0]!, sched: 'rr' }, BASE[1]!], want: ['edit-service 10.0.0.1:80 rr'] },
  { name: 'added persistence is one edit-service', next: [BASE[0]!, { ...BASE[1]!, persist: 600 }], want: ['edit-service 10.0.0.2:443 wlc p600'] },
  { name: 'removed service is one delete-service', next: [BASE[0]!], want: ['delete-service 10.0.0.2:443'] },
  { name: 'removed real server is one delete-dest', next: [{ ...BASE[0]!, reals: [['10.1.0.1:80', 1]] }, BASE[1]!], want: ['delete-dest 10.0.0.1:80 10.1.0.2:80'] },
  { name: 'new real server is one add-dest', next: [{ ...BASE[0]!, reals: [['10.1.0.1:80', 1], ['10.1.0.2:80', 1], ['10.1.0.9:80', 4]] }, BASE[1]!], want: ['add-dest 10.0.0.1:80 10.1.0.9:80 w4'] },
  { name: 'new service is add-service then its dests', next: [...BASE, { vip: '10.0.0.3:25', reals: [['10.1.0.5:25', 1]] }], want: ['add-service 10.0.0.3:25 wlc', 'add-dest 10.0.0.3:25 10.1.0.5:25 w1'] },
  { name: 'changed forwarding method is an edit-dest', next: [{ ...BASE[0]!, kind: 'DR' }, BASE[1]!], want: ['edit-dest 10.0.0.1:80 10.1.0.1:80 w1', 'edit-dest 10.0.0.1:80 10.1.0.2:80 w1'] },
  { name: 'changed checker only: no IPVS command', next: [{ ...BASE[0]!, checker: 'TCP_CHECK {\n   connect_timeout 9\n  }' }, BASE[1]!], want: [] },
  {
    name: 'several changes at once, deletions first',
    next: [{ ...BASE[0]!, sched: 'wrr', reals: [['10.1.0.2:80', 3], ['10.1.0.7:80', 1]] }],
    want: ['delete-service 10.0.0.2:443', 'edit-service 10.0.0.1:80 wrr', 'delete-dest 10.0.0.1:80 10.1.0.1:80', 'edit-dest 10.0.0.1:80 10.1.0.2:80 w3', 'add-dest 10.0.0.1:80 10.1.0.7:80 w1'],
  },
];

for (const c of CASES) {
  test(`reload diff from a previous desired state: ${c.name}`, () => {
    const prev = state(conf(BASE));
    const plan = planReload({ previous: prev, next: parse(conf(c.next)) });
    assert.ok(plan.ok);
    assert.deepEqual(summarize(plan.commands), c.want);
  });
  test(`reload diff from running snapshots gives the same commands: ${c.name}`, () => {
    const prev = state(conf(BASE));
    const running: ServiceSnapshot[] = targetRules(prev).map((r) => ({
      ...r.spec, stats: zeroStats, rates: zeroRates,
      dests: r.dests.map((d) => ({ ...d, activeConns: 7, inactConns: 1, persistConns: 0, overloaded: false, stats: zeroStats, rates: zeroRates })),
    }));
    const plan = planReload({ previous: prev, running, next: parse(conf(c.next)) });
    assert.ok(plan.ok);
    assert.deepEqual(summarize(plan.commands), c.want);
  });
}
const zeroStats = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 };
const zeroRates = { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };

test('a config with errors is refused whole: no commands, the diagnostics explain why', () => {
  const prev = state(conf(BASE));
  const bad = conf(BASE).replace('weight 2', 'weight two');
  const plan = planReload({ previous: prev, next: parse(bad) });
  assert.equal(plan.ok, false);
  assert.ok(!plan.ok && plan.diagnostics.some((d) => d.severity === 'error' && /weight/.test(d.message)));
  assert.equal('commands' in plan, false);
});

test('health state carries over for unchanged checkers, restarts for changed ones, stops for removed ones', () => {
  const prev = state(conf(BASE));
  const next = state(conf([{ ...BASE[0]!, reals: [['10.1.0.1:80', 9], ['10.1.0.2:80', 1]], checker: 'TCP_CHECK {\n   connect_timeout 3\n  }' }, { ...BASE[1]!, checker: 'TCP_CHECK {\n   connect_timeout 4\n  }' }]));
  const c = healthCarry(prev, next);
  assert.deepEqual(c.keep, ['tcp 10.0.0.1:80 10.1.0.1:80 #0', 'tcp 10.0.0.1:80 10.1.0.2:80 #0'], 'a weight change keeps checker state');
  assert.deepEqual(c.start, ['tcp 10.0.0.2:443 10.1.0.3:443 #0']);
  assert.deepEqual(c.stop, ['tcp 10.0.0.2:443 10.1.0.3:443 #0']);
  const gone = healthCarry(prev, state(conf([BASE[0]!])));
  assert.deepEqual(gone.stop, ['tcp 10.0.0.2:443 10.1.0.3:443 #0']);
});

test('live health is respected on reload: a down server stays out, an inhibited one stays at weight 0', () => {
  const base = [{ ...BASE[0]!, inhibit: true }, BASE[1]!];
  const prev = state(conf(base));
  const health = (sk: string, rk: string) => (rk === '10.1.0.1:80' || rk === '10.1.0.3:443' ? { up: false } : { up: true });
  // Running table as the health manager left it: 10.1.0.1 at weight 0 (inhibit), 10.1.0.3 removed.
  const running = targetRules(prev, health);
  assert.deepEqual(running.map((r) => r.dests.map((d) => `${d.addr} w${d.weight}`)), [['10.1.0.1 w0', '10.1.0.2 w1'], []]);
  // Reload with an unrelated change: the failed servers must not come back, the weight-0 one stays 0.
  const nextText = conf([{ ...base[0]!, sched: 'rr' }, base[1]!]);
  const plan = planReload({ previous: prev, running: running.map((r) => ({ ...r.spec, stats: zeroStats, rates: zeroRates, dests: r.dests.map((d) => ({ ...d, activeConns: 0, inactConns: 0, persistConns: 0, overloaded: false, stats: zeroStats, rates: zeroRates })) })), next: parse(nextText), health });
  assert.ok(plan.ok);
  assert.deepEqual(summarize(plan.commands), ['edit-service 10.0.0.1:80 rr']);
  // A configured weight change on a live server applies; on a down one it waits for health.
  const plan2 = planReload({ previous: prev, next: parse(conf([{ ...base[0]!, reals: [['10.1.0.1:80', 4], ['10.1.0.2:80', 6]] }, base[1]!])), health });
  assert.ok(plan2.ok);
  assert.deepEqual(summarize(plan2.commands), ['edit-dest 10.0.0.1:80 10.1.0.2:80 w6']);
});

test('the sorry server enters when no real server is alive and leaves when one is back', () => {
  const s = state('virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_kind NAT\n sorry_server 10.9.9.9 8080\n real_server 10.1.0.1 80 {\n }\n}\n');
  const down = targetRules(s, () => ({ up: false }));
  assert.deepEqual(down[0]!.dests.map((d) => `${d.addr}:${d.port} w${d.weight}`), ['10.9.9.9:8080 w1']);
  const up = targetRules(s, () => ({ up: true }));
  const cmds = diffRules(down, up);
  assert.deepEqual(summarize(cmds), ['delete-dest 10.0.0.1:80 10.9.9.9:8080', 'add-dest 10.0.0.1:80 10.1.0.1:80 w1']);
});

test('alpha real servers start out of the table until health says they are up', () => {
  const s = state('virtual_server 10.0.0.1 80 {\n protocol TCP\n alpha\n real_server 10.1.0.1 80 {\n  TCP_CHECK {\n  }\n }\n}\n');
  assert.deepEqual(targetRules(s)[0]!.dests, []);
  assert.equal(targetRules(s, () => ({ up: true }))[0]!.dests.length, 1);
});

test('hand-added services survive a reload unless prune is all', () => {
  const prev = state(conf(BASE));
  const manual: ServiceSnapshot = { af: 4, fwmark: 0, protocol: 'tcp', addr: '10.0.0.99', port: 80, scheduler: 'rr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '', stats: zeroStats, rates: zeroRates, dests: [] };
  const running = [...targetRules(prev).map((r) => ({ ...r.spec, stats: zeroStats, rates: zeroRates, dests: [] })), manual];
  const keep = planReload({ previous: prev, running, next: parse(conf([BASE[0]!])) });
  assert.ok(keep.ok);
  assert.ok(!summarize(keep.commands).includes('delete-service 10.0.0.99:80'));
  assert.ok(summarize(keep.commands).includes('delete-service 10.0.0.2:443'));
  const all = planReload({ previous: prev, running, next: parse(conf([BASE[0]!])), prune: 'all' });
  assert.ok(all.ok && summarize(all.commands).includes('delete-service 10.0.0.99:80'));
});

test('lvs_timeouts produce set-timeouts only when they differ from the running ones', () => {
  const text = 'global_defs {\n lvs_timeouts tcp 900 tcpfin 120 udp 300\n}\n' + conf(BASE);
  const same = planReload({ previous: state(text), next: parse(text), timeouts: { tcp: 900, tcpfin: 120, udp: 300 } });
  assert.ok(same.ok && same.commands.length === 0);
  const diff = planReload({ previous: state(text), next: parse(text), timeouts: { tcp: 60, tcpfin: 120, udp: 300 } });
  assert.ok(diff.ok && diff.commands[0]!.kind === 'set-timeouts');
});
