import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const FX = join(import.meta.dirname, 'fixtures');
const tsvs = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin', 'tsvs.mjs'), 'config-test', ...args], { encoding: 'utf8', timeout: 30000 });

test('config-test exits 0 and summarizes a keepalived.conf keepalived -t passes', () => {
  const r = tsvs(join(FX, 'ka-group.conf'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /keepalived configuration OK \(0 warning\(s\)\)/);
  assert.match(r.stdout, /6 virtual service\(s\), 10 real server\(s\), 8 checker\(s\), 0 vrrp instance\(s\), 0 sync group\(s\), 0 vrrp script\(s\)/);
});

test('config-test exits 5 as keepalived -t does and prints file:line:col for what keepalived reports', () => {
  const r = tsvs(join(FX, 'seed-003-keepalived.oneline.conf'));
  assert.equal(r.status, 5);
  assert.match(r.stderr, /seed-003-keepalived\.oneline\.conf:4:1: warning: Unknown keyword 'Global_defs'/);
  assert.match(r.stderr, /keepalived -t reports: exit 5/);
});

// keepalived -t's exit codes (keepalived 2.2.7 core/main.c config_test_exit, lib/scheduler.h), each
// checked against the real keepalived -t on the same text.
const EXITS: { name: string; text: string; exit: number; says: RegExp }[] = [
  { name: 'clean', text: 'global_defs {\n router_id A\n}\n', exit: 0, says: /configuration OK/ },
  { name: 'unknown keyword: 5', text: 'global_defs {\n router_id A\n colour blue\n}\n', exit: 5, says: /Unknown keyword 'colour'/ },
  { name: 'a file tsvs refuses: 5', text: 'virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n  HTTP_GET {\n   url {\n    path /\n    digest xyz\n   }\n  }\n }\n}\n', exit: 5, says: /configuration refused/ },
  { name: 'missing parameter: 2 (keepalived -t stops there)', text: 'vrrp_instance VI_1 {\n state\n}\n', exit: 2, says: /\*\*\* Configuration line starting `state` is missing a parameter after keyword `state` at word position 2 \(expected MASTER\|BACKUP\)/ },
  // keepalived 2.2.7 knows neither (global_parser.c installs no such keyword): Unknown keyword, exit 5.
  { name: 'lvs_id and script_security are not keepalived 2.2.7 keywords: 5', text: 'global_defs {\n lvs_id LB1\n script_security\n}\n', exit: 5, says: /:2:2: warning: Unknown keyword 'lvs_id'[\s\S]*:3:2: warning: Unknown keyword 'script_security'/ },
  // keepalived acts on these and -t accepts them: config-test says at file:line that tsvs does not, and exits 0 as -t does.
  { name: 'global keywords tsvs does not act on: said at file:line, exit 0', text: 'global_defs {\n vrrp_garp_master_delay 3\n enable_snmp_vrrp\n notify_fifo /run/ka.fifo\n}\n', exit: 0, says: /:2:2: note: 'vrrp_garp_master_delay' is read but tsvs does not act on it[\s\S]*:3:2: note: 'enable_snmp_vrrp' is read but tsvs does not act on it[\s\S]*:4:2: note: 'notify_fifo' is read but tsvs does not act on it/ },
  // Another VRRP group is used as keepalived uses it (exit 0); an address that is not multicast is skipped in its words (5).
  { name: 'vrrp_mcast_group4 with a multicast group: 0', text: 'global_defs {\n vrrp_mcast_group4 224.0.0.19\n}\n', exit: 0, says: /OK/ },
  { name: 'vrrp_mcast_group4 not multicast: 5', text: 'global_defs {\n vrrp_mcast_group4 10.0.0.9\n}\n', exit: 5, says: /:2:20: warning: vrrp_mcast_group4 \[10\.0\.0\.9\] is not multicast\. Skipping/ },
  { name: 'missing include under include_check: 6', text: 'global_defs {\n include_check\n}\ninclude /nonexistent/x.conf\n', exit: 6, says: /Config files missing/ },
];
for (const c of EXITS) {
  test(`config-test exit code follows keepalived -t: ${c.name}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvs-ct-'));
    try {
      const f = join(dir, 'keepalived.conf');
      writeFileSync(f, c.text);
      const r = tsvs(f);
      assert.equal(r.status, c.exit, r.stderr + r.stdout);
      assert.match(r.stderr + r.stdout, c.says);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
}

test('config-test exits 4 when the file cannot be read', () => {
  const r = tsvs('--type', 'keepalived', '/nonexistent/keepalived.conf');
  assert.equal(r.status, 4);
  assert.match(r.stderr, /cannot read the configuration file/);
});

test('config-test prints problems with file:line:col; --type auto detects ldirectord', () => {
  const r = tsvs(join(FX, 'seed-004-ldirectord.cf'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /seed-004-ldirectord\.cf:9:1: error: Unknown command real=/);
  // ldirectord stops at its first error; so does config-test, and a note says how many it left.
  assert.match(r.stderr, /seed-004-ldirectord\.cf:9:1: note: ldirectord stops at this error; 4 later problem\(s\) not reported/);
  assert.match(r.stderr, /ldirectord: 1 error\(s\)/);
});

test('config-test --dump prints the rules in ipvsadm -S form', () => {
  const r = tsvs('--dump', join(FX, 'ld-web.cf'));
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines[0], '-A -t 192.168.6.240:80 -s rr');
  assert.ok(lines.includes('-a -t 192.168.6.240:80 -r 192.168.6.3:80 -g -w 3'));
  assert.ok(lines.includes('-A -t 192.168.6.241:443 -s wlc -p 600 -M 255.255.255.0'));
  assert.ok(lines.includes('-a -t 192.168.6.241:443 -r 10.6.0.2:443 -m -w 5'));
});

test('config-test usage errors exit 2', () => {
  assert.equal(tsvs().status, 2);
  assert.equal(tsvs('--type', 'nginx', 'x').status, 2);
  assert.equal(tsvs('--bogus', 'x').status, 2);
});
