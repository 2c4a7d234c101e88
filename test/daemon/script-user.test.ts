/**
 * keepalived's script_user and enable_script_security on a real daemon, with the real
 * unprivileged user `nobody`: scripts run as script_user; with enable_script_security an unsafe
 * script never runs as root, not at start and not after someone makes it unsafe later; and
 * `tsvs config-test` fails as `keepalived -t` does when scripts run without script security.
 * Root only: changing to another user needs root.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { freePort, nameServer, closeServer, sleep, startDaemon, tmpDir, REPO } from './helpers.ts';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root (scripts change to another user)';

/** A test directory every user can enter, with an `out/` every user can write. */
function sharedDir(): { dir: string; out: string } {
  const dir = tmpDir('tsvs-script-');
  chmodSync(dir, 0o755);
  const out = join(dir, 'out');
  mkdirSync(out);
  chmodSync(out, 0o777);
  return { dir, out };
}

function script(path: string, body: string, mode: number): void {
  writeFileSync(path, `#!/bin/sh\n${body}\nexit 0\n`);
  chmodSync(path, mode);
}

function conf(globalDefs: string, vport: number, rport: number, misc: string): string {
  return `global_defs {\n${globalDefs}\n}\nvirtual_server 127.0.0.1 ${vport} {\n  delay_loop 0.3\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  real_server 127.0.0.1 ${rport} {\n    MISC_CHECK {\n      misc_path "${misc}"\n      misc_timeout 2\n    }\n  }\n}\n`;
}

async function waitFile(p: string, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) { if (existsSync(p)) return true; await sleep(100); }
  return existsSync(p);
}

function configTest(file: string): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [join(REPO, 'bin/tsvs.mjs'), 'config-test', file], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

test('MISC_CHECK runs as script_user (the real user nobody), not as root', { skip, timeout: 60_000 }, async () => {
  const { dir, out } = sharedDir();
  const rs = await nameServer('rs');
  const chk = join(dir, 'check.sh');
  // World-writable: harmless when nobody runs it (keepalived needs no protection for non-root users).
  script(chk, `id -u > ${out}/uid.tmp; id -g >> ${out}/uid.tmp; mv ${out}/uid.tmp ${out}/uid`, 0o777);
  const file = join(dir, 'keepalived.conf');
  writeFileSync(file, conf('  script_user nobody\n  enable_script_security', await freePort(), rs.port, chk));
  const d = await startDaemon(['--keepalived', file, '--no-state', '--workers', '0'], dir);
  try {
    assert.ok(await waitFile(join(out, 'uid'), 5000), `the check never ran: ${d.logs()}`);
    assert.deepEqual(readFileSync(join(out, 'uid'), 'utf8').trim().split('\n'), ['65534', '65534']);
    const ct = configTest(file);
    assert.equal(ct.code, 0, ct.out);
  } finally {
    await d.stop();
    await closeServer(rs.server);
  }
});

test('enable_script_security: a world-writable script that would run as root is refused with keepalived\'s message and never runs', { skip, timeout: 60_000 }, async () => {
  const { dir, out } = sharedDir();
  const rs = await nameServer('rs');
  const chk = join(dir, 'check.sh');
  script(chk, `touch ${out}/ran-as-$(id -u)`, 0o777);
  const file = join(dir, 'keepalived.conf');
  writeFileSync(file, conf('  script_user root\n  enable_script_security', await freePort(), rs.port, chk));
  const ct = configTest(file);
  assert.match(ct.out, new RegExp(`Unsafe permissions found for script '${chk.replace(/[.]/g, '\\.')}' - disabling\\.`));
  const d = await startDaemon(['--keepalived', file, '--no-state', '--workers', '0'], dir);
  try {
    await sleep(1500);
    assert.equal(existsSync(join(out, 'ran-as-0')), false, 'the unsafe script ran as root');
    assert.match(d.logs(), /Unsafe permissions found for script/);
  } finally {
    await d.stop();
    await closeServer(rs.server);
  }
});

test('enable_script_security: a safe script made world-writable while the daemon runs is not run as root again', { skip, timeout: 60_000 }, async () => {
  const { dir, out } = sharedDir();
  const rs = await nameServer('rs');
  const chk = join(dir, 'check.sh');
  script(chk, `touch ${out}/safe-ran`, 0o755);
  const file = join(dir, 'keepalived.conf');
  writeFileSync(file, conf('  script_user root\n  enable_script_security', await freePort(), rs.port, chk));
  const d = await startDaemon(['--keepalived', file, '--no-state', '--workers', '0'], dir);
  try {
    assert.ok(await waitFile(join(out, 'safe-ran'), 5000), 'the safe script ran');
    // Another user rewrites it: world-writable now, and its code is theirs.
    script(chk, `touch ${out}/rewritten-ran-as-$(id -u)`, 0o777);
    await sleep(1500);
    assert.equal(existsSync(join(out, 'rewritten-ran-as-0')), false, 'the rewritten script ran as root');
  } finally {
    await d.stop();
    await closeServer(rs.server);
  }
});

const cliCases: { name: string; global: string; mode: number; code: number; out: RegExp }[] = [
  { name: 'scripts without enable_script_security: SECURITY VIOLATION, exit 6', global: '  script_user root', mode: 0o755, code: 6, out: /SECURITY VIOLATION - check scripts are being executed but script_security not enabled\.(?! There)/ },
  { name: 'an insecure script without enable_script_security: SECURITY VIOLATION naming insecure scripts, exit 6', global: '  script_user root', mode: 0o777, code: 6, out: /SECURITY VIOLATION - check scripts are being executed but script_security not enabled\. There are insecure scripts\./ },
  { name: 'with enable_script_security and a safe script: OK, exit 0', global: '  script_user root\n  enable_script_security', mode: 0o755, code: 0, out: /configuration OK/ },
  { name: 'an unknown script_user: refused, exit 5 as keepalived -t', global: '  script_user tsvs_no_such_user\n  enable_script_security', mode: 0o755, code: 5, out: /Script user 'tsvs_no_such_user' does not exist/ },
];

for (const c of cliCases) {
  test(`tsvs config-test: ${c.name}`, { skip }, () => {
    const { dir } = sharedDir();
    const chk = join(dir, 'check.sh');
    script(chk, 'true', c.mode);
    const file = join(dir, 'keepalived.conf');
    writeFileSync(file, conf(c.global, 8080, 8081, chk));
    const r = configTest(file);
    assert.equal(r.code, c.code, r.out);
    assert.match(r.out, c.out);
  });
}
