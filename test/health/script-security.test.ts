/**
 * keepalived 2.2.7's script rules (lib/notify.c), on a fake file system and user database:
 * who runs a script, which scripts may not run, and what keepalived -t reports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkScriptSecure, mayRun, SC, type ScriptUser } from '../../src/health/script-security.ts';
import { applyScriptPolicy } from '../../src/config/script-policy.ts';
import { parseKeepalived } from '../../src/config/keepalived.ts';
import { memorySource } from '../../src/config/source.ts';
import { FakeScriptHost } from '../../src/health/fakes.ts';
import type { DesiredState } from '../../src/config/desired.ts';

const ROOT: ScriptUser = { uid: 0, gid: 0, name: 'root' };
const NOBODY: ScriptUser = { uid: 65534, gid: 65534, name: 'nobody' };
const dir = (mode = 0o755, uid = 0, gid = 0) => ({ uid, gid, mode: 0o040000 | mode });
const file = (mode = 0o755, uid = 0, gid = 0) => ({ uid, gid, mode: 0o100000 | mode });

const secureCases: { name: string; files: Record<string, { uid?: number; gid?: number; mode: number }>; as: ScriptUser; security: boolean; runs: boolean; flags: number; message?: RegExp }[] = [
  { name: 'root-owned 0755 script in root-owned directories runs as root', files: { '/opt/ok.sh': file() }, as: ROOT, security: true, runs: true, flags: SC.ISSCRIPT | SC.EXECUTABLE },
  { name: 'world-writable script run as root is disabled under enable_script_security', files: { '/opt/ww.sh': file(0o777) }, as: ROOT, security: true, runs: false, flags: SC.ISSCRIPT | SC.EXECUTABLE | SC.INSECURE | SC.INHIBIT, message: /^Unsafe permissions found for script '\/opt\/ww\.sh' - disabling\.$/ },
  { name: 'world-writable script run as root still runs without enable_script_security (flagged insecure)', files: { '/opt/ww.sh': file(0o777) }, as: ROOT, security: false, runs: true, flags: SC.ISSCRIPT | SC.EXECUTABLE | SC.INSECURE, message: /^Unsafe permissions found for script '\/opt\/ww\.sh'\.$/ },
  { name: 'a script in a directory writable by a non-root group is unsafe', files: { '/opt/g': dir(0o775, 0, 100), '/opt/g/x.sh': file() }, as: ROOT, security: true, runs: false, flags: SC.ISSCRIPT | SC.EXECUTABLE | SC.INSECURE | SC.INHIBIT },
  { name: 'a script in a directory owned by a non-root user is unsafe', files: { '/home/u': dir(0o755, 1000, 1000), '/home/u/x.sh': file() }, as: ROOT, security: true, runs: false, flags: SC.ISSCRIPT | SC.EXECUTABLE | SC.INSECURE | SC.INHIBIT },
  { name: 'a script owned by a non-root user is unsafe when root runs it', files: { '/opt/u.sh': file(0o755, 1000) }, as: ROOT, security: true, runs: false, flags: SC.ISSCRIPT | SC.EXECUTABLE | SC.INSECURE | SC.INHIBIT },
  { name: 'a world-writable directory with the sticky bit (/tmp) is safe', files: { '/tmp': dir(0o1777), '/tmp/x.sh': file() }, as: ROOT, security: true, runs: true, flags: SC.ISSCRIPT | SC.EXECUTABLE },
  { name: 'an unprivileged user may run a world-writable script (no protection needed)', files: { '/opt/ww.sh': file(0o777) }, as: NOBODY, security: true, runs: true, flags: SC.ISSCRIPT | SC.EXECUTABLE },
  { name: 'a script the user cannot execute is disabled', files: { '/opt/own.sh': file(0o700) }, as: NOBODY, security: true, runs: false, flags: SC.ISSCRIPT, message: /is not executable for uid:gid 65534:65534 - disabling/ },
  { name: 'a missing script is not found', files: {}, as: ROOT, security: true, runs: false, flags: SC.NOTFOUND, message: /cannot be accessed/ },
  { name: 'a set-uid root script needs protection even when nobody runs it', files: { '/opt/suid': file(0o4777) }, as: NOBODY, security: true, runs: false, flags: SC.ISSCRIPT | SC.EXECUTABLE | SC.INSECURE | SC.INHIBIT },
];

for (const c of secureCases) {
  test(`check_script_secure: ${c.name}`, () => {
    const host = new FakeScriptHost({ files: c.files });
    const path = Object.keys(c.files).find((p) => p.endsWith('.sh') || p.endsWith('suid')) ?? '/opt/missing.sh';
    const v = checkScriptSecure(path, c.as, c.security, host);
    assert.equal(v.flags, c.flags, v.messages.join('\n'));
    assert.equal(mayRun(v), c.runs);
    if (c.message) assert.ok(v.messages.some((m) => c.message!.test(m)), v.messages.join('\n'));
  });
}

test('check_script_secure: a bare command name is found in PATH as the user would find it', () => {
  const host = new FakeScriptHost({ files: { '/usr/bin/true': file() } });
  const v = checkScriptSecure('true', ROOT, true, host);
  assert.equal(v.path, '/usr/bin/true');
  assert.ok(mayRun(v));
});

function conf(globalDefs: string, misc = '/opt/check.sh', extra = ''): DesiredState {
  const text = `global_defs {\n${globalDefs}\n}\nvirtual_server 10.0.0.1 80 {\n  lb_kind NAT\n  protocol TCP\n  quorum_up "/opt/q.sh up"\n  real_server 10.0.0.2 80 {\n    notify_up "/opt/n.sh up" ${extra}\n    MISC_CHECK {\n      misc_path "${misc}"\n    }\n  }\n}\n`;
  const r = parseKeepalived('/etc/keepalived/keepalived.conf', memorySource({ '/etc/keepalived/keepalived.conf': text }));
  assert.ok(r.state, JSON.stringify(r.diagnostics));
  return r.state;
}
const safeFiles = { '/opt/check.sh': file(), '/opt/q.sh': file(), '/opt/n.sh': file(), '/opt/ww.sh': file(0o777) };
const users = { nobody: { uid: 65534, gid: 65534 }, keepalived_script: { uid: 998, gid: 998 } };

const policyCases: { name: string; global: string; misc?: string; extra?: string; users?: Record<string, { uid: number; gid: number }>; default: string | null; miscKept: boolean; security: RegExp | null; errors?: RegExp }[] = [
  { name: 'script_user names the default user', global: '  script_user nobody\n  enable_script_security', default: 'nobody', miscKept: true, security: null },
  { name: 'without script_user, keepalived_script is the default when it exists', global: '  enable_script_security', default: 'keepalived_script', miscKept: true, security: null },
  { name: 'without script_user or keepalived_script, the daemon\'s own user (root) runs them, and keepalived -t flags the missing enable_script_security', global: '', users: {}, default: 'uid 0', miscKept: true, security: /^SECURITY VIOLATION - check scripts are being executed but script_security not enabled\.$/ },
  { name: 'enable_script_security with no user to run scripts as: none may run', global: '  enable_script_security', users: {}, default: null, miscKept: false, security: null, errors: /Unable to set default user keepalived_script for script/ },
  { name: 'a world-writable MISC_CHECK run as root is removed under enable_script_security', global: '  script_user root\n  enable_script_security', misc: '/opt/ww.sh', default: 'root', miscKept: false, security: null },
  { name: 'a world-writable MISC_CHECK run as root without enable_script_security: kept, and keepalived -t says there are insecure scripts', global: '  script_user root', misc: '/opt/ww.sh', default: 'root', miscKept: true, security: /There are insecure scripts\.$/ },
  { name: 'an unknown script_user is a configuration error', global: '  script_user no_such_user_x', default: null, miscKept: false, security: null, errors: /Script user 'no_such_user_x' does not exist/ },
];

for (const c of policyCases) {
  test(`script policy: ${c.name}`, () => {
    const host = new FakeScriptHost({ files: safeFiles, users: c.users ?? users });
    const r = applyScriptPolicy(conf(c.global, c.misc), host);
    assert.equal(r.policy.defaultUser?.name ?? null, c.default);
    const errs = r.diagnostics.filter((d) => d.severity === 'error');
    if (c.errors) assert.ok(errs.some((d) => c.errors!.test(d.message)), JSON.stringify(r.diagnostics));
    else assert.deepEqual(errs, []);
    const checkers = r.state.services[0]!.reals[0]!.checkers;
    assert.equal(checkers.length, c.miscKept ? 1 : 0);
    const sec = r.diagnostics.filter((d) => d.security);
    if (c.security) assert.ok(sec.length === 1 && c.security.test(sec[0]!.message), JSON.stringify(sec));
    else assert.deepEqual(sec, []);
  });
}

test('script policy: `notify_up SCRIPT USER` runs as that user; an unknown one drops the script with keepalived\'s message', () => {
  const host = new FakeScriptHost({ files: safeFiles, users });
  const ok = applyScriptPolicy(conf('  enable_script_security', undefined, 'nobody'), host);
  const rs = ok.state.services[0]!.reals[0]!;
  assert.equal(rs.notify_up, '/opt/n.sh up');
  assert.equal(rs.script_users?.notify_up, 'nobody');
  assert.equal(ok.policy.users['nobody']?.uid, 65534);
  const bad = applyScriptPolicy(conf('  enable_script_security', undefined, 'nosuchuser'), host);
  assert.equal(bad.state.services[0]!.reals[0]!.notify_up, undefined);
  assert.ok(bad.diagnostics.some((d) => /Invalid user\/group for notify_up script \/opt\/n\.sh up - ignoring/.test(d.message)));
});
