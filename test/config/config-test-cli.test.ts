import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const FX = join(import.meta.dirname, 'fixtures');
const tsvs = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin', 'tsvs.mjs'), 'config-test', ...args], { encoding: 'utf8', timeout: 30000 });

test('config-test exits 0 and summarizes a good keepalived.conf', () => {
  const r = tsvs(join(FX, 'ka-dr-vrrp.conf'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /keepalived configuration OK/);
  assert.match(r.stdout, /2 virtual service\(s\), 4 real server\(s\), 4 checker\(s\), 2 vrrp instance\(s\), 1 sync group\(s\), 1 vrrp script\(s\)/);
});

test('config-test exits 1 and prints file:line:col errors for a broken file', () => {
  const r = tsvs(join(FX, 'seed-003-keepalived.oneline.conf'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /seed-003-keepalived\.oneline\.conf:4:\d+: error: unexpected end of file: expected '}'/);
  assert.match(r.stderr, /configuration refused/);
});

test('config-test prints warnings with file:line and still exits 0; --type auto detects ldirectord', () => {
  const r = tsvs(join(FX, 'seed-004-ldirectord.cf'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /seed-004-ldirectord\.cf:13:1: warning: 'scheduler' is not indented/);
  assert.match(r.stdout, /ldirectord configuration OK/);
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
