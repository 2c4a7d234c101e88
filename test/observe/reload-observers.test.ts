/**
 * A reload (SIGHUP) re-reads the HTTP token file and follows the listener address of the
 * configuration file, on real daemons: new tokens take over at once, a bad token file keeps the
 * old tokens with a clear error in the log, a moved tsvs_http moves the listener, and an address
 * that cannot be taken keeps the old one.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { freePort, startDaemon, tmpDir, type DaemonProc } from '../daemon/helpers.ts';
import { call, startHttpDaemon, until } from './helpers.ts';

const T1 = 'admin-token-first-0123456789';
const T2 = 'admin-token-second-0123456789';
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

function tokens(file: string, text: string, mode = 0o600): void {
  writeFileSync(file, text);
  chmodSync(file, mode);
}

/** SIGHUP, then waits until the log has one more line matching `re`. */
async function hup(d: DaemonProc, re: RegExp): Promise<void> {
  const count = () => d.logs().split('\n').filter((l) => re.test(l)).length;
  const before = count();
  d.proc.kill('SIGHUP');
  await until(`log ${re}`, async () => count() > before);
}

test('a reload re-reads the token file; a bad one keeps the old tokens and says why', async (t: TestContext) => {
  const dir = tmpDir();
  const file = join(dir, 'tokens');
  tokens(file, `admin ${T1}\n`);
  writeFileSync(join(dir, 'rules'), '-A -t 10.3.0.1:80 -s rr\n');
  const d = await startHttpDaemon(['--forwarder', 'none', '--no-state', '--rules', join(dir, 'rules'), '--http-token', file], dir);
  t.after(() => d.stop());
  const role = async (tok: string) => (await call(d.http, 'GET', '/api/v1/whoami', undefined, bearer(tok))).status;
  assert.equal(await role(T1), 200);
  assert.equal(await role(T2), 401);

  tokens(file, `admin ${T2}\n`);
  await hup(d, /http tokens re-read/);
  assert.equal(await role(T2), 200, 'the new token works');
  assert.equal(await role(T1), 401, 'the old one no longer does');

  const bad: [string, string, number, RegExp][] = [
    ['readable by others', `admin ${T1}\n`, 0o644, /readable or writable by group or others/],
    ['a malformed line', `root ${T1}\n`, 0o600, /tokens:1: expected .*admin TOKEN.* or .*read TOKEN/],
    ['no tokens', '# none\n', 0o600, /no tokens/],
  ];
  for (const [what, text, mode, why] of bad) {
    tokens(file, text, mode);
    await hup(d, /http token file refused; the previous tokens stay in force/);
    const line = d.logs().split('\n').filter((l) => /http token file refused/.test(l)).pop()!;
    assert.match(line, why, what);
    assert.equal(await role(T2), 200, `${what}: the previous token still works`);
    assert.equal(await role(T1), 401, `${what}: nothing from the bad file was taken`);
  }
});

test('a reload follows tsvs_http to a new address; an address in use keeps the listener where it is', async (t: TestContext) => {
  const dir = tmpDir();
  const vport = await freePort();
  const [p1, p2] = [await freePort(), await freePort()];
  const conf = (port: number) => `global_defs {\n  tsvs_http 127.0.0.1:${port}\n}\nvirtual_server 127.0.0.1 ${vport} {\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  real_server 127.0.0.1 9 {\n    weight 2\n  }\n}\n`;
  const file = join(dir, 'keepalived.conf');
  writeFileSync(file, conf(p1));
  const d = await startDaemon(['--keepalived', file, '--no-state', '--workers', '0'], dir);
  t.after(() => d.stop());
  const up = async (port: number) => (await call(port, 'GET', '/metrics').catch(() => ({ status: 0 }))).status === 200;
  await until('listening on the first address', () => up(p1));

  writeFileSync(file, conf(p2));
  await hup(d, new RegExp(`127\\.0\\.0\\.1:${p2}.*http listening`));
  assert.equal(await up(p2), true, 'moved to the new address');
  assert.equal(await up(p1), false, 'the old address is closed');

  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => busy.close(() => r())));
  const p3 = (busy.address() as { port: number }).port;
  writeFileSync(file, conf(p3));
  await hup(d, /cannot move the http listener/);
  assert.match(d.logs(), new RegExp(`address already in use.*|it stays on 127\\.0\\.0\\.1:${p2}`));
  assert.equal(await up(p2), true, 'still on the previous address');
});
