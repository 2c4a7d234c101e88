/** The HTTP listener and the /proc files from the configuration file: tsvs_http, tsvs_procfs, tsvs_http_token. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, REPO, startDaemon, tmpDir } from '../daemon/helpers.ts';
import { call, metrics, value } from './helpers.ts';

function conf(globals: string, vport: number): string {
  return `global_defs {\n${globals}}\nvirtual_server 127.0.0.1 ${vport} {\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  real_server 127.0.0.1 9 {\n    weight 2\n  }\n}\n`;
}

test('keepalived.conf global_defs tsvs_http and tsvs_procfs start the listener and the files (paths relative to the file)', async () => {
  const dir = tmpDir();
  const port = await freePort();
  const vport = await freePort();
  writeFileSync(join(dir, 'keepalived.conf'), conf(`  tsvs_http 127.0.0.1:${port}\n  tsvs_procfs proc\n`, vport));
  const check = spawnSync(process.execPath, [join(REPO, 'bin/tsvs.mjs'), 'config-test', join(dir, 'keepalived.conf')], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stderr);
  assert.doesNotMatch(check.stderr, /tsvs_/, 'no warning for tsvs\'s own keys');
  const d = await startDaemon(['--keepalived', join(dir, 'keepalived.conf'), '--no-state', '--workers', '0'], dir);
  try {
    const m = await metrics(port);
    assert.equal(value(m.samples, 'node_ipvs_backend_weight', { local_port: String(vport), remote_port: '9' }), 2);
    assert.match(readFileSync(join(dir, 'proc/net/ip_vs'), 'utf8'), /-> 7F000001:0009 +Masq +2 /);
  } finally {
    await d.stop();
  }
  assert.equal(existsSync(join(dir, 'proc/net/ip_vs')), false, 'the files are removed on stop');
});

test('the command line wins over the file; a bad tsvs_http stops the start naming the file and key', async () => {
  const dir = tmpDir();
  const port = await freePort();
  const vport = await freePort();
  writeFileSync(join(dir, 'keepalived.conf'), conf('  tsvs_http 127.0.0.1:1\n', vport));
  const d = await startDaemon(['--keepalived', join(dir, 'keepalived.conf'), '--no-state', '--workers', '0', '--http', `127.0.0.1:${port}`], dir);
  try {
    assert.equal((await call(port, 'GET', '/metrics')).status, 200);
  } finally {
    await d.stop();
  }
  writeFileSync(join(dir, 'keepalived.conf'), conf('  tsvs_http localhost:80\n', vport));
  const r = spawnSync(process.execPath, [join(REPO, 'bin/tsvs.mjs'), 'daemon', '--keepalived', join(dir, 'keepalived.conf'), '--no-state', '--workers', '0', '--socket', join(dir, 's2.sock')], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /keepalived\.conf: tsvs_http: 'localhost' is not an IPv4 address/);
});
