/**
 * The health manager's e-mail alerts (keepalived's smtp_alert for checkers and quorum): when each
 * is due, with keepalived's subjects and bodies; and keepalived.conf's smtp_alert defaults.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HealthManager } from '../../src/health/manager.ts';
import { FakeClock, ScriptedChecks } from '../../src/health/fakes.ts';
import { alertText } from '../../src/health/smtp-alert.ts';
import { checkerAlertBody } from '../../src/health/alert-text.ts';
import type { CheckerDef, HealthAlert, HealthRealServer, HealthService } from '../../src/health/types.ts';
import { parseKeepalived } from '../../src/config/keepalived.ts';
import { memorySource } from '../../src/config/source.ts';
import { toHealthServices } from '../../src/config/desired.ts';

const KEY = { af: 4, fwmark: 0, protocol: 'tcp', addr: '10.0.0.1', port: 80 } as const;
const TCP: CheckerDef = { type: 'TCP_CHECK', retry: 0, warmup: 0 };
const MISC: CheckerDef = { type: 'MISC_CHECK', misc_path: '/bin/true', warmup: 0 };
const rs = (addr: string, extra: Partial<HealthRealServer> = {}): HealthRealServer => ({ addr, port: 80, weight: 1, checkers: [TCP], smtp_alert: true, ...extra });

function setup(svc: Partial<HealthService>) {
  const clock = new FakeClock();
  const checks = new ScriptedChecks();
  const alerts: string[] = [];
  const raw: HealthAlert[] = [];
  const service: HealthService = { key: KEY, delay_loop: 5, quorum: 2, smtp_alert: true, real_servers: [rs('10.1.0.1'), rs('10.1.0.2')], ...svc };
  const m = new HealthManager({
    services: [service], clock, runCheck: checks.runner, random: () => 0, onOps: () => {},
    onAlert: (a) => { raw.push(a); const t = alertText.health('lb', a); alerts.push(`${t.subject} | ${t.body}`); },
  });
  return { m, clock, checks, raw, take: () => alerts.splice(0) };
}

test('a checker going down and up mails the real server (its state after) and the quorum crossing, in keepalived words', async () => {
  const { m, clock, checks, take } = setup({});
  m.start();
  await clock.advance(0);
  assert.deepEqual(take(), [], 'a first success of a server already up is not mailed');
  checks.set('10.1.0.1:80', { ok: false, reason: 'refused' });
  await clock.advance(5000);
  assert.deepEqual(take(), [
    '[lb] Virtualserver [10.0.0.1]:tcp:80 - DOWN | => Lost quorum 2+0=2 <= 1 <=',
    '[lb] Realserver [10.1.0.1]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - DOWN | => TCP CHECK failed on service <=',
  ]);
  await clock.advance(5000);
  assert.deepEqual(take(), [], 'a server staying down is not mailed again');
  checks.set('10.1.0.1:80', { ok: true });
  await clock.advance(5000);
  assert.deepEqual(take(), [
    '[lb] Virtualserver [10.0.0.1]:tcp:80 - UP | => Gained quorum 2+0=2 <= 2 <=',
    '[lb] Realserver [10.1.0.1]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - UP | => TCP CHECK succeed on service <=',
  ]);
});

test('MISC_CHECK mails its first verdict too; smtp_alert off on a server or service mails nothing for it', async () => {
  const { m, clock, take } = setup({ smtp_alert: false, real_servers: [rs('10.1.0.1', { checkers: [MISC] }), rs('10.1.0.2', { checkers: [MISC], smtp_alert: false })] });
  m.start();
  await clock.advance(0);
  assert.deepEqual(take(), ['[lb] Realserver [10.1.0.1]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - UP | => MISC CHECK succeeded on service <=']);
});

test('a second checker failing on a server already down is mailed with serverChanged false (no_checker_emails drops it)', async () => {
  const { m, clock, checks, raw } = setup({ smtp_alert: false, real_servers: [rs('10.1.0.1', { checkers: [TCP, { ...TCP, connect_port: 81 }] })] });
  m.start();
  await clock.advance(0);
  checks.set('10.1.0.1:80', { ok: false, reason: 'refused' });
  await clock.advance(5000);
  assert.deepEqual(raw.map((a) => [a.state, a.serverChanged]), [['DOWN', true], ['DOWN', false]]);
});

test('checker bodies as keepalived writes them, per checker', () => {
  const down = { ok: false, reason: 'refused: x', latencyMs: 0 };
  const cases: [CheckerDef['type'], boolean, string][] = [
    ['HTTP_GET', false, '=> CHECK failed on service : HTTP request failed <='],
    ['SSL_GET', true, '=> CHECK succeed on service <='],
    ['DNS_CHECK', false, '=> DNS_CHECK: failed on service <='],
    ['PING_CHECK', true, '=> ICMP CHECK succeed on service <='],
    ['UDP_CHECK', false, '=> UDP CHECK failed on service <='],
    ['SMTP_CHECK', false, '=> CHECK failed on service : Error connecting to server [10.1.0.1]:25 <='],
  ];
  for (const [type, up, body] of cases) assert.equal(checkerAlertBody({ type } as CheckerDef, up, down, '[10.1.0.1]:25'), body, type);
  assert.equal(checkerAlertBody({ type: 'MISC_CHECK', misc_path: 'x' }, false, { ok: false, reason: 'timeout: killed', latencyMs: 0 }, ''), '=> MISC CHECK timed out on service <=');
  assert.equal(checkerAlertBody({ type: 'connect' }, false, down, ''), null, "ldirectord's checks have their own alerts");
});

const ka = (global: string, vs: string, real: string) => {
  const r = parseKeepalived('k.conf', memorySource({ 'k.conf': `global_defs {\n${global}\n}\nvirtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n${vs}\n real_server 10.1.0.1 80 {\n${real}\n  TCP_CHECK {\n  }\n }\n}\n` }));
  assert.ok(r.state, JSON.stringify(r.diagnostics));
  const h = toHealthServices(r.state)[0]!;
  return { vs: h.smtp_alert ?? false, rs: h.real_servers[0]!.smtp_alert ?? false, names: [h.alert_name, h.real_servers[0]!.alert_name], diags: r.diagnostics.map((d) => d.message) };
};

test("keepalived's smtp_alert defaults: real servers mail unless told not to, virtual servers only when asked; global_defs' smtp_alert_checker, then smtp_alert", () => {
  const cases: [string, string, string, boolean, boolean][] = [
    ['', '', '', false, true],
    ['smtp_alert off', '', '', false, false],
    ['smtp_alert', '', '', true, true],
    ['smtp_alert_checker off\nsmtp_alert on', '', '', false, false],
    ['smtp_alert off', 'smtp_alert', 'smtp_alert yes', true, true],
    ['', 'smtp_alert no', 'smtp_alert false', false, false],
  ];
  for (const [g, v, r, vs, rsOn] of cases) {
    const got = ka(g, v, r);
    assert.deepEqual([got.vs, got.rs], [vs, rsOn], `global '${g}' vs '${v}' rs '${r}'`);
  }
  assert.deepEqual(ka('', '', '').names, ['[10.0.0.1]:tcp:80', '[10.1.0.1]:tcp:80']);
  assert.ok(ka('', 'smtp_alert maybe', '').diags.includes('Invalid virtual_server smtp_alert parameter maybe'));
});

test('a reload that drops a live real server mails it "Removing"; one that drops a service mails its quorum lost at 0', async () => {
  const { m, clock, take } = setup({});
  m.start();
  await clock.advance(0);
  const svc: HealthService = { key: KEY, delay_loop: 5, quorum: 1, smtp_alert: true, real_servers: [rs('10.1.0.1')] };
  m.update([svc]);
  assert.deepEqual(take(), ['[lb] Realserver [10.1.0.2]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - DOWN | => Removing <=']);
  m.update([]);
  assert.deepEqual(take(), [
    '[lb] Realserver [10.1.0.1]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - DOWN | => Removing <=',
    '[lb] Virtualserver [10.0.0.1]:tcp:80 - DOWN | => Lost quorum 1+0=1 <= 0 <=',
  ]);
});
