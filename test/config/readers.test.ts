import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SVC_F } from '../../src/core/types.ts';
import { keepalivedTestExit, type DesiredState, type Diagnostic } from '../../src/config/desired.ts';
import { parseKeepalived } from '../../src/config/keepalived.ts';
import { parseLdirectord } from '../../src/config/ldirectord.ts';
import { loadConfig } from '../../src/config/load.ts';
import { FakeScriptHost } from '../../src/health/fakes.ts';
import { memorySource } from '../../src/config/source.ts';

const FX = join(import.meta.dirname, 'fixtures');
const errors = (ds: readonly Diagnostic[]) => ds.filter((d) => d.severity === 'error');
const warnings = (ds: readonly Diagnostic[]) => ds.filter((d) => d.severity === 'warning');

function load(name: string, configId = 'lb1'): { state: DesiredState; diagnostics: readonly Diagnostic[] } {
  // Scripts the fixtures name exist, root-owned and safe, as on the director they were written for.
  // Interfaces unchecked: the fixtures name the director's (eth0, eth1...), not this host's.
  const r = loadConfig(join(FX, name), { configId, interfaces: null, scriptHost: new FakeScriptHost({ everyScriptExists: true }) });
  assert.deepEqual(errors(r.diagnostics).map((d) => `${d.line}:${d.col} ${d.message}`), [], `${name} has errors`);
  assert.ok(r.state);
  return { state: r.state, diagnostics: r.diagnostics };
}
const ka = (text: string, files: Record<string, string> = {}) => parseKeepalived('/etc/keepalived/keepalived.conf', memorySource({ '/etc/keepalived/keepalived.conf': text, ...files }));
const ld = (text: string) => parseLdirectord('/etc/ha.d/ldirectord.cf', memorySource({ '/etc/ha.d/ldirectord.cf': text }));

test('every fixture (seeds and realistic files) loads without errors, except the scraped seeds ldirectord and keepalived refuse', () => {
  const names = readdirSync(FX).filter((f) => /\.(conf|cf)$/.test(f) && !f.includes('oneline') && !f.startsWith('seed-004'));
  assert.ok(names.length >= 8);
  for (const n of names) load(n);
  load('ka-include/keepalived.conf');
});

test('seed 003 (keepalived DR, restored line breaks) gives the tutorial services, weights and checks', () => {
  const { state, diagnostics } = load('seed-003-keepalived.conf');
  assert.equal(state.services.length, 1);
  const v = state.services[0]!;
  assert.equal(v.key, 'tcp 10.10.10.22:80');
  assert.equal(v.spec.scheduler, 'wrr');
  assert.equal(v.lb_kind, 'route');
  assert.equal(v.delay_loop, 6);
  assert.equal(v.spec.flags & SVC_F.PERSISTENT, 0);
  assert.deepEqual(v.reals.map((r) => [r.key, r.dest.weight, r.dest.fwd]), [['10.10.10.31:80', 3, 'route'], ['10.10.10.32:80', 3, 'route']]);
  // keepalived 2.2.7 knows nb_get_retry in HTTP_GET/SSL_GET only: in TCP_CHECK it is an unknown keyword, ignored.
  assert.deepEqual(v.reals[0]!.checkers[0], { type: 'TCP_CHECK', connect_timeout: 10, delay_before_retry: 3, connect_port: 80 });
  assert.ok(warnings(diagnostics).some((d) => d.line === 47 && /Unknown keyword 'nb_get_retry'/.test(d.message)));
  const vi = state.vrrp.instances[0]!;
  assert.deepEqual([vi.name, vi.state, vi.interface, vi.virtual_router_id, vi.priority, vi.advert_int], ['VI_1', 'MASTER', 'eth0', 51, 100, 1]);
  assert.deepEqual(vi.authentication, { auth_type: 'PASS', auth_pass: '1111' });
  assert.deepEqual(vi.virtual_ipaddress.map((a) => `${a.addr}/${a.prefix}`), ['10.10.10.22/32']);
  assert.equal(state.global.router_id, 'LVS_DEVEL');
  assert.ok(warnings(diagnostics).some((d) => d.line === 40 && /nat_mask/.test(d.message)), 'obsolete nat_mask warns with its line');
});

test('seed 003 as scraped (one line) is read as keepalived reads it: every word it reports, nothing configured, exit 5', () => {
  const r = loadConfig(join(FX, 'seed-003-keepalived.oneline.conf'), { interfaces: null });
  assert.ok(r.state);
  assert.deepEqual([r.state.services.length, r.state.vrrp.instances.length], [0, 0]);
  // keepalived -t's own report of this file: the first '#' hides the rest of the 1023-byte read,
  // the next read starts at 'WLC'; one '{' is never closed.
  const said = r.diagnostics.filter((d) => d.ka !== 'none').map((d) => d.message);
  assert.deepEqual([...new Set(said)].sort(), [
    "There are 1 missing '}'s or extra '{'s", "Unexpected '{' - ignoring", "Unknown keyword 'Global_defs'", "Unknown keyword 'Notification_email_from'",
    "Unknown keyword 'WLC'", "Unknown keyword '[email\u00a0protected]'", "Unknown keyword '}'", "Unknown keyword 'notification_email'",
  ].sort());
  assert.equal(keepalivedTestExit(r.diagnostics, false), 5);
});

test('seed 004 (ldirectord, options printed unindented) is refused as ldirectord refuses it: Unknown command at the first, then it stops', () => {
  const r = loadConfig(join(FX, 'seed-004-ldirectord.cf'), { interfaces: null });
  assert.equal(r.state, null);
  // ldirectord stops at the first (line 9), and so does tsvs; a note counts the rest (lines 11-17).
  assert.deepEqual(errors(r.diagnostics).map((d) => d.line), [9]);
  assert.match(warnings(r.diagnostics).map((d) => d.message).join('\n'), /ldirectord stops at this error; 4 later problem\(s\) not reported/);
  assert.match(errors(r.diagnostics)[0]!.message, /^Unknown command real=192\.168\.159\.120:80 gate 2\s+2表示权重 \('real' belongs in a virtual section, indented\)$/);
});

test('seed 001 (ldirectord quiescent=no only) loads with a nothing-to-balance warning', () => {
  const { state, diagnostics } = load('seed-001-ldirectord.cf');
  assert.equal(state.services.length, 0);
  assert.equal(state.global.options['quiescent'], 'no');
  assert.equal(warnings(diagnostics).length, 1);
});

test('NAT web file: persistence, granularity, alpha/omega, quorum, sorry server, HTTP_GET urls and thresholds', () => {
  const { state } = load('ka-nat-http.conf');
  const v = state.services[0]!;
  assert.equal(v.spec.timeout, 300);
  assert.equal(v.spec.netmask, 0xffffff00);
  assert.equal(v.spec.flags, SVC_F.PERSISTENT);
  assert.deepEqual([v.alpha, v.omega, v.quorum, v.hysteresis], [true, true, 2, 1]);
  assert.equal(v.quorum_up, '/usr/local/bin/lvs-quorum up web');
  assert.deepEqual(v.sorry_server, { addr: '10.0.0.250', port: 8080, fwd: 'masq', weight: 1 });
  assert.equal(v.sorry_server_inhibit, true);
  const r0 = v.reals[0]!;
  assert.deepEqual([r0.dest.uThreshold, r0.dest.lThreshold, r0.inhibit_on_failure, r0.notify_down], [1000, 800, true, '/usr/local/bin/rs-notify down 10.0.0.11']);
  const c0 = r0.checkers[0]!;
  assert.equal(c0.type, 'HTTP_GET');
  if (c0.type !== 'HTTP_GET') return;
  assert.deepEqual(c0.url, [
    { path: '/healthz', digest: '9b3a3a4b0a2e8e2f7f4d9f0c1b2a3d4e', status_code: [200] },
    { path: '/ready', status_code: [[200, 299], 304] },
  ]);
  assert.deepEqual([c0.connect_port, c0.connect_timeout, c0.retry, c0.delay_before_retry, c0.warmup], [8080, 3, 3, 2, 5]);
  const c1 = v.reals[1]!.checkers[0]!;
  assert.equal(c1.type === 'HTTP_GET' && c1.virtualhost, 'www.example.com');
  assert.equal(v.reals[1]!.inhibit_on_failure, false);
  assert.deepEqual(state.global.lvs_timeouts, { tcp: 900, tcpfin: 120, udp: 300 });
  assert.deepEqual(state.global.notification_email, ['ops@example.com', 'oncall@example.com']);
});

test('DR + VRRP file: sh-port flag, default persistence, SSL/DNS/UDP checks, vrrp instances, scripts, sync group', () => {
  const { state, diagnostics } = load('ka-dr-vrrp.conf');
  const [https, dns] = state.services;
  assert.equal(https!.spec.timeout, 360, 'persistence_timeout without a value = 360');
  assert.equal(https!.spec.flags, SVC_F.PERSISTENT | SVC_F.SCHED2);
  assert.deepEqual(https!.reals[1]!.checkers[0], { type: 'SSL_GET', url: [{ path: '/status', status_code: [200] }], virtualhost: 'api.example.com', enable_sni: true, connect_timeout: 4 });
  assert.equal(dns!.spec.protocol, 'udp');
  assert.equal(dns!.spec.flags & SVC_F.ONEPACKET, SVC_F.ONEPACKET);
  assert.deepEqual(dns!.reals[0]!.checkers[0], { type: 'DNS_CHECK', dns_type: 'A', name: 'www.example.com', connect_timeout: 2, retry: 2 });
  assert.deepEqual(dns!.reals[1]!.checkers[0], { type: 'UDP_CHECK', payload: '00010000', require_reply: true, connect_timeout: 2 });
  const [web, gw] = state.vrrp.instances;
  assert.deepEqual(web!.virtual_ipaddress[0], { addr: '192.168.1.100', prefix: 24, dev: 'eth0', label: 'eth0:vip', extra: [] });
  // As keepalived: nopreempt cannot work with initial state MASTER (cleared); in a sync group
  // (without sync_group_tracking_weight) tracked weights are ignored and weighted scripts dropped.
  assert.equal(web!.nopreempt, false);
  assert.deepEqual(web!.track_interface, [{ name: 'eth1' }]);
  assert.deepEqual(web!.track_script, []);
  assert.ok(['(VI_WEB) Warning - nopreempt will not work with initial state MASTER - clearing', '(VI_WEB) ignoring eth1 tracked interface weight due to SYNC group',
    '(VI_WEB) ignoring tracked script chk_nginx with weights due to SYNC group'].every((m) => diagnostics.some((d) => d.message === m)));
  assert.equal(web!.notify.notify_master, '/etc/keepalived/notify.sh master');
  assert.deepEqual([gw!.unicast_src_ip, gw!.unicast_peer], ['10.1.0.2', ['10.1.0.3']]);
  assert.deepEqual(state.vrrp.scripts[0]!, { name: 'chk_nginx', script: '/usr/bin/pgrep -x nginx', interval: 2, timeout: 1, weight: -20, reverse: false, rise: 2, fall: 3, init_fail: false, at: state.vrrp.scripts[0]!.at });
  assert.deepEqual(state.vrrp.syncGroups[0]!.group, ['VI_WEB', 'VI_GW']);
  assert.deepEqual(state.vrrp.static_ipaddress[0], { addr: '172.16.0.10', prefix: 24, dev: 'eth2', scope: 'link', extra: [] });
  assert.deepEqual(state.global.lvs_sync_daemon, { interface: 'eth0', instance: 'VI_WEB', syncid: 7 });
});

test('TUN/fwmark file: fwmark key, gue tunnel per real server, MISC_CHECK dynamic, SMTP, IPv6 canonical addresses', () => {
  const { state } = load('ka-tun-fwmark.conf');
  const [fw, smtp, v6] = state.services;
  assert.equal(fw!.key, 'fwmark 10');
  assert.deepEqual([fw!.spec.addr, fw!.spec.port, fw!.spec.protocol], ['0.0.0.0', 0, 'tcp']);
  assert.deepEqual(fw!.reals[0]!.checkers[0], { type: 'MISC_CHECK', misc_path: '/usr/local/bin/check-app 172.20.1.10 --deep', misc_timeout: 8, misc_dynamic: true });
  assert.deepEqual([fw!.reals[1]!.dest.fwd, fw!.reals[1]!.dest.tunType, fw!.reals[1]!.dest.tunPort, fw!.reals[1]!.dest.tunCsum], ['tunnel', 'gue', 6080, 'csum']);
  assert.equal(smtp!.reals[1]!.dest.port, 2525, 'NAT may change the port');
  assert.deepEqual(smtp!.reals[0]!.checkers[0], { type: 'SMTP_CHECK', helo_name: 'lvs.example.com', connect_timeout: 10, retry: 2 });
  assert.equal(v6!.key, 'tcp [2001:db8::100]:80');
  assert.equal(v6!.spec.netmask, 64);
  assert.equal(v6!.reals[1]!.key, '[2001:db8::12]:80');
});

test('virtual_server_group expands address ranges and fwmarks into one service each, sharing real servers', () => {
  const { state } = load('ka-group.conf');
  assert.deepEqual(state.services.map((s) => s.key), [
    'tcp 192.168.20.10:80', 'tcp 192.168.20.11:80', 'tcp 192.168.20.12:80', 'tcp 192.168.20.50:8080', 'fwmark 20', 'fwmark 21',
  ]);
  assert.ok(state.services.every((s) => s.group === (s.spec.fwmark ? 'MARKS' : 'WEB')));
  assert.deepEqual(state.services[3]!.reals.map((r) => r.key), ['10.20.0.1:80', '10.20.0.2:80'], 'NAT keeps the real port');
  assert.deepEqual(state.services[4]!.reals.map((r) => r.key), ['10.20.1.1:0']);
});

test('include with a glob reads files relative to the including file; $VAR and @conditionals apply', () => {
  const a = load('ka-include/keepalived.conf', 'lb1').state;
  assert.equal(a.files.length, 3);
  assert.deepEqual(a.services.map((s) => s.key), ['tcp 192.168.30.1:80', 'tcp 192.168.30.1:143']);
  assert.deepEqual([a.vrrp.instances[0]!.state, a.vrrp.instances[0]!.priority, a.vrrp.instances[0]!.virtual_ipaddress[0]!.addr], ['MASTER', 200, '192.168.30.1']);
  const b = load('ka-include/keepalived.conf', 'lb2').state;
  assert.deepEqual([b.vrrp.instances[0]!.state, b.vrrp.instances[0]!.priority], ['BACKUP', 100]);
});

test('ldirectord web file: globals inherited, per-real request/receive, fallback, masq persistence, ranges', () => {
  const { state } = load('ld-web.cf');
  const [http, https, ssh] = state.services;
  assert.equal(http!.delay_loop, 5);
  assert.deepEqual(http!.reals[2]!.checkers[0], { type: 'negotiate', service: 'http', request: '/alive.html', receive: 'I am alive', negotiatetimeout: 10, virtualhost: 'some.domain.com.au', failurecount: 2 });
  assert.equal(http!.reals[0]!.checkers[0]!.type === 'negotiate' && http!.reals[0]!.checkers[0]!.request, 'index.html');
  assert.deepEqual(http!.sorry_server, { addr: '127.0.0.1', port: 80, fwd: 'route', weight: 1 });
  assert.equal(http!.inhibit_on_failure, true);
  assert.deepEqual([https!.spec.timeout, https!.spec.netmask, https!.inhibit_on_failure, https!.reals[0]!.dest.fwd, https!.reals[0]!.dest.weight], [600, 0xffffff00, false, 'masq', 5]);
  assert.deepEqual(ssh!.reals.map((r) => r.key), ['10.6.0.10:22', '10.6.0.11:22', '10.6.0.12:22']);
  assert.deepEqual(ssh!.reals[0]!.checkers[0], { type: 'connect', checktimeout: 3, failurecount: 2, connect_port: 22 });
});

test('ldirectord fwmark/udp/external/IPv6 file', () => {
  const { state } = load('ld-fwmark-udp.cf');
  const [fw, dns, mysql, v6] = state.services;
  assert.equal(fw!.key, 'fwmark 5');
  assert.deepEqual(fw!.reals.map((r) => [r.key, r.dest.weight, r.checkers[0]!.type]), [['10.7.0.2:0', 1, 'ping'], ['10.7.0.3:0', 2, 'ping']]);
  assert.equal(dns!.spec.protocol, 'udp');
  assert.equal(dns!.reals[0]!.checkers[0]!.type === 'negotiate' && dns!.reals[0]!.checkers[0]!.service, 'dns');
  assert.deepEqual(mysql!.reals[0]!.checkers[0], { type: 'external', checkcommand: '/usr/local/bin/check_mysql_replication', checktimeout: 4, failurecount: 1 });
  assert.equal(v6!.key, 'tcp [2001:db8::60]:80');
  assert.equal(v6!.spec.scheduler, 'sed');
});

test('the desired state is deeply frozen', () => {
  const { state } = load('ka-nat-http.conf');
  assert.ok(Object.isFrozen(state) && Object.isFrozen(state.services[0]!.reals[0]!.dest) && Object.isFrozen(state.services[0]!.reals[0]!.checkers[0]));
});

// ---- errors and warnings: file:line:col and what was expected ----
const ERR_CASES: { name: string; text: string; line: number; col: number; msg: RegExp }[] = [
  { name: 'bad address', text: 'virtual_server 10.0.0.300 80 {\n}\n', line: 1, col: 16, msg: /expected an address.*got '10.0.0.300'/ },
  { name: 'weight not a number', text: 'virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n   weight heavy\n }\n}\n', line: 4, col: 11, msg: /expected a weight \(an integer 0\.\.65535\), got 'heavy'/ },
  { name: 'bad digest', text: 'virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n  HTTP_GET {\n   url {\n    path /\n    digest xyz\n   }\n  }\n }\n}\n', line: 7, col: 12, msg: /MD5 digest/ },
  { name: 'HTTP_GET without url', text: 'virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n  HTTP_GET {\n   connect_timeout 3\n  }\n }\n}\n', line: 4, col: 12, msg: /needs at least one 'url/ },
  { name: 'vrid out of range (then unset: VRRP does not start)', text: 'vrrp_instance A {\n interface eth0\n virtual_router_id 300\n}\n', line: 1, col: 15, msg: /^\(A\) the virtual router id must be set$/ },
];
for (const c of ERR_CASES) {
  test(`keepalived error carries file:line:col and what was expected: ${c.name}`, () => {
    const r = ka(c.text);
    assert.equal(r.state, null);
    const e = errors(r.diagnostics).find((d) => c.msg.test(d.message));
    assert.ok(e, `no error matching ${c.msg}: ${JSON.stringify(r.diagnostics)}`);
    assert.equal(e.file, '/etc/keepalived/keepalived.conf');
    assert.deepEqual([e.line, e.col], [c.line, c.col]);
  });
}

test('a virtual_server naming an undefined group is dropped, as keepalived drops it (a note: keepalived -t says nothing)', () => {
  const r = ka('virtual_server group NOPE {\n}\n');
  assert.deepEqual(r.state!.services, []);
  assert.deepEqual(r.diagnostics.map((d) => [d.line, d.col, d.ka, d.message]), [[1, 22, 'none', "virtual_server_group 'NOPE' is not defined: virtual server ignored"]]);
});

test('problems inside an included file name that file and its line', () => {
  const r = ka('include conf.d/*.conf\n', { '/etc/keepalived/conf.d/a.conf': 'virtual_server 1.2.3.4 80 {\n  lb_algo nope\n}\n' });
  const e = r.diagnostics.find((d) => /lvs_scheduler/.test(d.message))!;
  assert.deepEqual([e.file, e.line, e.col], ['/etc/keepalived/conf.d/a.conf', 2, 11]);
});

test('include loops are refused, not followed forever; missing includes are read as keepalived reads them', () => {
  const loop = ka('include keepalived.conf\n');
  assert.match(errors(loop.diagnostics)[0]!.message, /include loop/);
  // A glob that matches nothing is not a problem for keepalived; a missing named file is said, not counted.
  const none = ka('include nothing/*.conf\nglobal_defs {\n router_id A\n}\n');
  assert.ok(none.state);
  assert.deepEqual(none.diagnostics, []);
  const missing = ka('include nothing.conf\nglobal_defs {\n router_id A\n}\n');
  assert.match(missing.diagnostics[0]!.message, /Config files missing 'nothing.conf'/);
  assert.equal(keepalivedTestExit(missing.diagnostics, false), 0);
  // include_check makes it a missing configuration (keepalived exits 6, KEEPALIVED_EXIT_NO_CONFIG).
  const checked = ka('global_defs {\n include_check\n}\ninclude nothing.conf\n');
  assert.equal(keepalivedTestExit(checked.diagnostics, false), 6);
});

const WARN_CASES: { name: string; text: string; line: number; msg: RegExp }[] = [
  { name: 'bad lb_kind: ignored as keepalived does', text: 'virtual_server 10.0.0.1 80 {\n  lb_kind XX\n  protocol TCP\n  real_server 10.0.0.2 80 {\n  }\n}\n', line: 2, msg: /^PARSER : unknown \[XX\] routing method for virtual server\.$/ },
  { name: 'lb_kind is case-sensitive in keepalived', text: 'virtual_server 10.0.0.1 80 {\n  lb_kind dr\n  protocol TCP\n  real_server 10.0.0.2 80 {\n  }\n}\n', line: 2, msg: /^PARSER : unknown \[dr\] routing method for virtual server\.$/ },
  { name: 'a virtual_server without a port is port 0, as keepalived reads it', text: 'virtual_server 10.0.0.1 {\n protocol TCP\n}\n', line: 1, msg: /^Virtual server \[10\.0\.0\.1\]:tcp:0 has no real servers - ignoring$/ },
  { name: 'unknown scheduler: ignored as keepalived does', text: 'virtual_server 10.0.0.1 80 {\n  lb_algo fastest\n}\n', line: 2, msg: /^Invalid lvs_scheduler 'fastest' - ignoring$/ },
  { name: 'unknown keyword in real_server', text: 'virtual_server 1.1.1.1 80 {\n protocol TCP\n real_server 2.2.2.2 80 {\n  colour blue\n }\n}\n', line: 4, msg: /^Unknown keyword 'colour'$/ },
  { name: 'case-mismatched keyword (keepalived is case-sensitive)', text: 'virtual_server 1.1.1.1 80 {\n Protocol TCP\n real_server 2.2.2.2 80 {\n }\n}\n', line: 2, msg: /'Protocol' is not 'protocol' \(virtual_server\): keepalived's keywords are case-sensitive/ },
  { name: 'FILE_CHECK naming a track_file not defined before it', text: 'virtual_server 1.1.1.1 80 {\n protocol TCP\n real_server 2.2.2.2 80 {\n  FILE_CHECK {\n   track_file f\n  }\n }\n}\n', line: 5, msg: /^track_file f not found$/ },
  { name: 'no protocol -> UDP as keepalived', text: 'virtual_server 1.1.1.1 53 {\n real_server 2.2.2.2 53 {\n }\n}\n', line: 1, msg: /^Virtual server \[1\.1\.1\.1\]:none:53: no protocol set - defaulting to UDP$/ },
  { name: 'DR port mismatch reset', text: 'virtual_server 1.1.1.1 80 {\n protocol TCP\n lb_kind DR\n real_server 2.2.2.2 8080 {\n }\n}\n', line: 4, msg: /^WARNING - virtual server \[1\.1\.1\.1\]:tcp:80 and real server \[2\.2\.2\.2\]:tcp:8080 ports don't match - resetting$/ },
  { name: 'duplicate real server removed', text: 'virtual_server 1.1.1.1 80 {\n protocol TCP\n real_server 2.2.2.2 80 {\n }\n real_server 2.2.2.2 80 {\n }\n}\n', line: 5, msg: /^VS \[1\.1\.1\.1\]:tcp:80: real server \[2\.2\.2\.2\]:tcp:80 is duplicated - removing second rs$/ },
  { name: 'quorum above total weight', text: 'virtual_server 1.1.1.1 80 {\n protocol TCP\n quorum 10\n real_server 2.2.2.2 80 {\n  weight 3\n }\n}\n', line: 1, msg: /^Warning - quorum 10 for \[1\.1\.1\.1\]:tcp:80 exceeds total weight of real servers 3, reducing quorum to 3$/ },
  { name: 'virtual server without real servers', text: 'virtual_server 1.1.1.1 80 {\n protocol TCP\n}\n', line: 1, msg: /^Virtual server \[1\.1\.1\.1\]:tcp:80 has no real servers - ignoring$/ },
];
for (const c of WARN_CASES) {
  test(`keepalived warns with file:line: ${c.name}`, () => {
    const r = ka(c.text);
    assert.ok(r.state, JSON.stringify(r.diagnostics));
    const w = warnings(r.diagnostics).find((d) => c.msg.test(d.message));
    assert.ok(w, `no warning matching ${c.msg}: ${JSON.stringify(r.diagnostics)}`);
    assert.equal(w.line, c.line);
  });
}

test('keepalived corrections have the effect keepalived gives them', () => {
  const s = ka('virtual_server 1.1.1.1 80 {\n protocol TCP\n lb_kind DR\n quorum 10\n hysteresis 20\n real_server 2.2.2.2 8080 {\n  weight 3\n }\n}\nvirtual_server 1.1.1.1 0 {\n protocol TCP\n real_server 2.2.2.2 0 {\n }\n}\n').state!;
  assert.deepEqual([s.services[0]!.quorum, s.services[0]!.hysteresis, s.services[0]!.reals[0]!.dest.port], [3, 2, 80]);
  assert.equal(s.services[1]!.spec.timeout, 360, 'port 0 forces persistence');
});

const LD_ERR: { name: string; text: string; line: number; col: number; msg: RegExp }[] = [
  { name: 'hostname not resolved', text: 'virtual=www.example.com:80\n\treal=10.0.0.2:80 gate\n', line: 1, col: 9, msg: /host name 'www.example.com' is not resolved/ },
  { name: 'bad method', text: 'virtual=10.0.0.1:80\n\treal=10.0.0.2:80 bridge\n', line: 2, col: 19, msg: /expected gate\|masq\|ipip .* got 'bridge'/ },
  { name: 'bad checktype', text: 'virtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate\n\tchecktype=sometimes\n', line: 3, col: 12, msg: /checktype, got 'sometimes'/ },
  { name: 'virtual option at top level', text: 'scheduler=wrr\n', line: 1, col: 1, msg: /belongs in a virtual section/ },
  { name: 'not key=value', text: 'virtual=10.0.0.1:80\n\treal 10.0.0.2:80 gate\n', line: 2, col: 2, msg: /^Unknown command "real 10\.0\.0\.2:80 gate"$/ },
];
for (const c of LD_ERR) {
  test(`ldirectord error carries file:line:col: ${c.name}`, () => {
    const r = ld(c.text);
    assert.equal(r.state, null);
    const e = errors(r.diagnostics).find((d) => c.msg.test(d.message));
    assert.ok(e, JSON.stringify(r.diagnostics));
    assert.deepEqual([e.file, e.line, e.col], ['/etc/ha.d/ldirectord.cf', c.line, c.col]);
  });
}

test('ldirectord: an unknown command is an error with its line, as ldirectord stops there', () => {
  const r = ld('colour=blue\nvirtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate\n\tflavour=mint\n');
  assert.equal(r.state, null);
  assert.deepEqual(errors(r.diagnostics).map((d) => [d.line, d.message]), [[1, 'Unknown command colour=blue']]);
  assert.deepEqual(errors(ld('virtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate\n\tflavour=mint\n').diagnostics).map((d) => [d.line, d.message]), [[3, 'Unknown command "flavour=mint"']]);
});

test('ldirectord: as ldirectord reads them, virtual=10.0.0.1 is firewall mark 10 and checktype=external runs /bin/true by default', () => {
  const r = ld('virtual=10.0.0.1\n\treal=10.0.0.2 gate\n\tchecktype=external\n');
  assert.deepEqual(errors(r.diagnostics), []);
  assert.equal(r.state!.services[0]!.key, 'fwmark 10');
  assert.equal((r.state!.services[0]!.reals[0]!.checkers[0] as { checkcommand?: string }).checkcommand, '/bin/true');
  // yes/no are compared with the rest of the line, as ldirectord does: a trailing blank fails.
  assert.match(errors(ld('autoreload = yes \n').diagnostics)[0]!.message, /^autoreload must be 'yes' or 'no'$/);
});

test('ldirectord: servicename and comment are keywords; a blank line or an unindented one ends a virtual section', () => {
  const ok = ld('virtual=10.0.0.1:80\n\tservicename=web\n\tcomment=front end\n\treal=10.0.0.2:80 gate\n');
  assert.deepEqual(ok.diagnostics, []);
  assert.deepEqual(ok.state!.services[0]!.extra, { servicename: 'web', comment: 'front end' });
  const blank = ld('virtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate\n\n\tscheduler=rr\n');
  assert.deepEqual(errors(blank.diagnostics).map((d) => d.line), [4]);
  const unindented = ld('virtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate\nscheduler=rr\n');
  assert.match(errors(unindented.diagnostics)[0]!.message, /^Unknown command scheduler=rr \('scheduler' belongs in a virtual section, indented\)$/);
});

// ---- the real keepalived as an oracle (installed on the CI image) ----
const KEEPALIVED = ['/usr/sbin/keepalived', '/sbin/keepalived'].find((p) => existsSync(p));
test('keepalived -t finds no syntax problems in the realistic fixtures (environment warnings aside)', { skip: KEEPALIVED ? false : 'keepalived is not installed' }, () => {
  for (const f of ['ka-nat-http.conf', 'ka-dr-vrrp.conf', 'ka-tun-fwmark.conf', 'ka-group.conf', 'ka-include/keepalived.conf']) {
    const r = spawnSync(KEEPALIVED!, ['-t', '-f', join(FX, f)], { encoding: 'utf8', timeout: 20000 });
    const lines = (r.stderr + r.stdout).split('\n').filter((l) => l.trim() &&
      !/doesn't exist|Non-existent interface|Unknown interface|loopback|No VIP|nb_get_retry is deprecated|SECURITY VIOLATION|script_user|is not a regular/.test(l));
    assert.deepEqual(lines, [], `keepalived -t on ${f}`);
  }
});
