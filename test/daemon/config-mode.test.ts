/**
 * `tsvs daemon --keepalived FILE` / `--ldirectord FILE` end to end: real daemon process, real HTTP
 * real servers, real clients (Node and wrk). Health checks drive the table; reloads apply only
 * the difference; a broken config is refused whole.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { closeServer, freePort, httpGet, nameServer, sleep, startDaemon, tmpDir, tsvsadm, REPO } from './helpers.ts';

function keepalivedConf(vport: number, reals: { port: number; weight: number; path?: string }[], extra = ''): string {
  return `global_defs {\n  router_id tsvs_test\n}\nvirtual_server 127.0.0.1 ${vport} {\n  delay_loop 0.3\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n${extra}${reals
    .map((r) => `  real_server 127.0.0.1 ${r.port} {\n    weight ${r.weight}\n    HTTP_GET {\n      url {\n        path ${r.path ?? '/'}\n        status_code 200\n      }\n      connect_timeout 1\n      retry 1\n      delay_before_retry 0.1\n    }\n  }\n`)
    .join('')}}\n`;
}

async function listing(sock: string): Promise<string> {
  const r = await tsvsadm(sock, ['-L', '-n']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

async function until(f: () => Promise<boolean>, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await f()) return true;
    await sleep(100);
  }
  return f();
}

const destLine = (port: number, weight: number) => new RegExp(`-> 127\\.0\\.0\\.1:${port} +Masq +${weight} `);

test('keepalived.conf: checked real servers enter the table, a stopped one leaves within delay_loop + timeout and comes back when it returns', { timeout: 60_000 }, async () => {
  const a = await nameServer('rs1');
  const b = await nameServer('rs2');
  const vport = await freePort();
  const dir = tmpDir();
  const conf = join(dir, 'keepalived.conf');
  writeFileSync(conf, keepalivedConf(vport, [{ port: a.port, weight: 3 }, { port: b.port, weight: 1 }]));
  const d = await startDaemon(['--keepalived', conf, '--no-state', '--workers', '0'], dir);
  try {
    assert.ok(await until(async () => destLine(a.port, 3).test(await listing(d.socket)) && destLine(b.port, 1).test(await listing(d.socket)), 5000));
    const names: string[] = [];
    for (let i = 0; i < 8; i++) names.push((await httpGet(vport)).body.toString().trim());
    assert.equal(names.filter((n) => n === 'rs1').length, 6, names.join(','));
    const t0 = Date.now();
    await closeServer(b.server);
    assert.ok(await until(async () => !(await listing(d.socket)).includes(`:${b.port} `), 5000), 'stopped server left the table');
    const left = Date.now() - t0;
    assert.ok(left < 3000, `left after ${left} ms`);
    for (let i = 0; i < 4; i++) assert.equal((await httpGet(vport)).body.toString().trim(), 'rs1');
    const b2 = await nameServer('rs2', b.port);
    assert.ok(await until(async () => destLine(b.port, 1).test(await listing(d.socket)), 5000), 'returned server is back');
    const st = spawn(process.execPath, [join(REPO, 'bin/tsvs.mjs'), 'status', '--json'], { env: { ...process.env, TSVS_SOCKET: d.socket } });
    let out = '';
    st.stdout.on('data', (x: Buffer) => (out += x.toString()));
    await new Promise((r) => st.on('exit', r));
    const status = JSON.parse(out) as { health: { services: { reals: { state?: string }[] }[] } };
    assert.ok(status.health.services.length === 1, out);
    await closeServer(b2.server);
  } finally {
    await d.stop();
    await closeServer(a.server);
  }
});

test('reload under load: a weight change is an edit, unchanged services keep serving with zero failed requests; a broken config is refused whole', { timeout: 90_000, skip: existsSync('/usr/bin/wrk') ? false : 'wrk not installed (scripts/setup.sh installs it)' }, async () => {
  const a = await nameServer('rs1');
  const b = await nameServer('rs2');
  const vport = await freePort();
  const dir = tmpDir();
  const conf = join(dir, 'keepalived.conf');
  writeFileSync(conf, keepalivedConf(vport, [{ port: a.port, weight: 1 }, { port: b.port, weight: 1 }]));
  const d = await startDaemon(['--keepalived', conf, '--no-state', '--workers', '0'], dir);
  try {
    assert.ok(await until(async () => destLine(b.port, 1).test(await listing(d.socket)), 5000));
    const wrk = spawn('wrk', ['-t1', '-c8', '-d6s', `http://127.0.0.1:${vport}/`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let wout = '';
    wrk.stdout.on('data', (x: Buffer) => (wout += x.toString()));
    const wrkDone = new Promise((r) => wrk.on('exit', r));
    await sleep(1000);
    const before = await tsvsadm(d.socket, ['-L', '-n', '--stats', '--exact']);
    // 1. weight change: applied as an edit (the dest is never deleted: its counters keep counting)
    writeFileSync(conf, keepalivedConf(vport, [{ port: a.port, weight: 5 }, { port: b.port, weight: 1 }]));
    const r1 = spawn(process.execPath, [join(REPO, 'bin/tsvs.mjs'), 'reload'], { env: { ...process.env, TSVS_SOCKET: d.socket } });
    assert.equal(await new Promise((r) => r1.on('exit', r)), 0);
    assert.ok(await until(async () => destLine(a.port, 5).test(await listing(d.socket)), 3000));
    await sleep(1000);
    // 2. a config with an error: refused, table unchanged (a missing parameter: keepalived -t stops there;
    // a stray '{' is not one, keepalived reads on past it, and so does tsvs)
    writeFileSync(conf, keepalivedConf(vport, [{ port: a.port, weight: 2 }]).replace('lb_algo wrr', 'lb_algo'));
    const r2 = spawn(process.execPath, [join(REPO, 'bin/tsvs.mjs'), 'reload'], { env: { ...process.env, TSVS_SOCKET: d.socket } });
    let r2err = '';
    r2.stderr.on('data', (x: Buffer) => (r2err += x.toString()));
    assert.equal(await new Promise((r) => r2.on('exit', r)), 1);
    assert.match(r2err, /refused/);
    const l = await listing(d.socket);
    assert.match(l, destLine(a.port, 5));
    assert.match(l, destLine(b.port, 1));
    // 3. SIGHUP with the same good file again: nothing to do
    writeFileSync(conf, keepalivedConf(vport, [{ port: a.port, weight: 5 }, { port: b.port, weight: 1 }]));
    d.proc.kill('SIGHUP');
    await wrkDone;
    const after = await tsvsadm(d.socket, ['-L', '-n', '--stats', '--exact']);
    const conns = (s: string, port: number) => Number(new RegExp(`127\\.0\\.0\\.1:${port} +(\\d+)`).exec(s)?.[1] ?? -1);
    assert.ok(conns(after.stdout, a.port) > conns(before.stdout, a.port), `counters kept counting:\n${before.stdout}\n${after.stdout}`);
    const reqs = Number(/(\d+) requests in/.exec(wout)?.[1] ?? 0);
    assert.ok(reqs > 100, wout);
    assert.doesNotMatch(wout, /Socket errors|Non-2xx/, wout);
    assert.match(d.logs(), /configuration reloaded/);
    assert.doesNotMatch(d.logs(), /"op":"remove"/);
  } finally {
    await d.stop();
    await closeServer(a.server);
    await closeServer(b.server);
  }
});

test('ldirectord.cf: negotiate check with request/receive; a server answering the wrong content is quiesced to weight 0', { timeout: 60_000 }, async () => {
  const good = await nameServer('alive');
  const bad = await nameServer('broken');
  const vport = await freePort();
  const dir = tmpDir();
  const conf = join(dir, 'ldirectord.cf');
  writeFileSync(conf, `checktimeout=1\ncheckinterval=1\nquiescent=yes\nvirtual=127.0.0.1:${vport}\n\treal=127.0.0.1:${good.port} masq 2\n\treal=127.0.0.1:${bad.port} masq 2\n\tservice=http\n\trequest="/"\n\treceive="alive"\n\tscheduler=rr\n\tprotocol=tcp\n\tchecktype=negotiate\n`);
  const d = await startDaemon(['--ldirectord', conf, '--no-state', '--workers', '0'], dir);
  try {
    assert.ok(await until(async () => destLine(bad.port, 0).test(await listing(d.socket)) && destLine(good.port, 2).test(await listing(d.socket)), 8000), await listing(d.socket));
    for (let i = 0; i < 4; i++) assert.equal((await httpGet(vport)).body.toString().trim(), 'alive');
  } finally {
    await d.stop();
    await closeServer(good.server);
    await closeServer(bad.server);
  }
});
