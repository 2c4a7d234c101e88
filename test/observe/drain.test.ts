/**
 * Graceful drain on a real daemon (proxy forwarder in-process): open connections keep working,
 * new ones (even from clients with a persistence template) go elsewhere, the real server leaves
 * when its last connection ends or at the timeout; progress in `tsvs drain`, the API, /metrics.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { closeServer, freePort, httpGet, nameServer, REPO, sleep, tmpDir, tsvsadm } from '../daemon/helpers.ts';
import { call, metrics, startHttpDaemon, until, value, type HttpDaemon } from './helpers.ts';

const ADMIN = 'admin-token-0123456789abcdef';
const A = { authorization: `Bearer ${ADMIN}` };

let d: HttpDaemon;
let rs1: Awaited<ReturnType<typeof nameServer>>;
let rs2: Awaited<ReturnType<typeof nameServer>>;
const open: Socket[] = [];

before(async () => {
  rs1 = await nameServer('rs1');
  rs2 = await nameServer('rs2');
  const dir = tmpDir();
  writeFileSync(join(dir, 'tokens'), `admin ${ADMIN}\n`);
  chmodSync(join(dir, 'tokens'), 0o600);
  d = await startHttpDaemon(['--forwarder', 'proxy', '--workers', '0', '--no-state', '--http-token', join(dir, 'tokens')], dir);
});
after(async () => {
  for (const s of open) s.destroy();
  await d?.stop();
  await closeServer(rs1.server);
  await closeServer(rs2.server);
});

async function adm(...argv: string[]): Promise<string> {
  const r = await tsvsadm(d.socket, argv);
  assert.equal(r.code, 0, `tsvsadm ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A service with rs1 and rs2 (weights 1); returns its port and id. */
async function service(extra: string[] = []): Promise<{ vport: number; sid: string }> {
  const vport = await freePort();
  await adm('-A', '-t', `127.0.0.1:${vport}`, '-s', 'rr', ...extra);
  await adm('-a', '-t', `127.0.0.1:${vport}`, '-r', `127.0.0.1:${rs1.port}`, '-m');
  await adm('-a', '-t', `127.0.0.1:${vport}`, '-r', `127.0.0.1:${rs2.port}`, '-m');
  return { vport, sid: `tcp-127.0.0.1-${vport}` };
}

/** An idle connection through the VIP that reached the server named `want` (retried until the scheduler gives it). */
async function idleTo(vport: number, want: string): Promise<Socket> {
  const servers = [rs1, rs2];
  for (let i = 0; i < 8; i++) {
    // Our own listeners only: the HTTP server handles its sockets on 'connection' too.
    const handlers: (() => void)[] = [];
    const reached = new Promise<string | null>((resolve) => {
      const t = setTimeout(() => resolve(null), 3000);
      servers.forEach((rs, n) => {
        const h = (): void => { clearTimeout(t); resolve(`rs${n + 1}`); };
        handlers.push(h);
        rs.server.once('connection', h);
      });
    });
    const s = connect(vport, '127.0.0.1');
    await new Promise<void>((r, j) => { s.once('connect', () => r()); s.once('error', j); });
    const got = await reached;
    servers.forEach((rs, n) => rs.server.off('connection', handlers[n]!));
    if (got === want) {
      open.push(s);
      return s;
    }
    s.destroy();
    await sleep(50);
  }
  throw new Error(`no connection reached ${want}`);
}

const realLine = (out: string, port: number) => out.split('\n').find((l) => l.includes(`127.0.0.1:${port} `));

test('API drain: weight 0 at once, open connection untouched, new ones elsewhere; the server leaves when its connection ends', async () => {
  const { vport, sid } = await service();
  const idle = await idleTo(vport, 'rs1');
  const r = await call(d.http, 'POST', `/api/v1/services/${sid}/reals/127.0.0.1-${rs1.port}/drain`, { timeout: 30 }, A);
  assert.equal(r.status, 202, r.text);
  const dr = JSON.parse(r.text);
  assert.deepEqual([dr.state, dr.activeConns, dr.then, dr.weightBefore], ['draining', 1, 'delete', 1]);
  assert.match(realLine(await adm('-L', '-n', '-t', `127.0.0.1:${vport}`), rs1.port)!, /Masq +0 +1 /);
  const m = await metrics(d.http);
  assert.equal(value(m.samples, 'tsvs_backend_draining', { local_port: String(vport), remote_port: String(rs1.port) }), 1);
  assert.equal(value(m.samples, 'node_ipvs_backend_weight', { local_port: String(vport), remote_port: String(rs1.port) }), 0);
  const before2 = rs2.hits();
  for (let i = 0; i < 4; i++) assert.equal((await httpGet(vport)).body.toString(), 'rs2\n');
  assert.equal(rs2.hits() - before2, 4);
  // A second drain of the same server is refused.
  const again = await call(d.http, 'POST', `/api/v1/services/${sid}/reals/127.0.0.1-${rs1.port}/drain`, {}, A);
  assert.equal(again.status, 409);
  assert.equal(JSON.parse(again.text).error.code, 'EEXIST');
  // The open connection still works through the drain.
  idle.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const reply = await new Promise<string>((res) => { let t = ''; idle.on('data', (b: Buffer) => (t += b.toString())); idle.on('close', () => res(t)); });
  assert.match(reply, /rs1\n/);
  const done = await until('drained', async () => {
    const ds = JSON.parse((await call(d.http, 'GET', '/api/v1/drains', undefined, A)).text).drains as { id: string; state: string }[];
    return ds.find((x) => x.id === `${sid}/127.0.0.1-${rs1.port}` && x.state !== 'draining');
  });
  assert.equal(done.state, 'drained');
  assert.equal(realLine(await adm('-L', '-n', '-t', `127.0.0.1:${vport}`), rs1.port), undefined, 'deleted');
  assert.equal((await metrics(d.http)).samples.filter((s) => s.name === 'tsvs_backend_draining' && s.labels['local_port'] === String(vport)).length, 0);
});

test('drain on a persistent service: the client\'s template no longer sends it to the drained server', async () => {
  const { vport, sid } = await service(['-p', '300']);
  // Persistence: every connection from 127.0.0.1 goes to one server; keep one open there.
  const first = (await httpGet(vport)).body.toString().trim();
  const home = first === 'rs1' ? rs1 : rs2;
  const other = first === 'rs1' ? 'rs2' : 'rs1';
  await idleTo(vport, first);
  const r = await call(d.http, 'POST', `/api/v1/services/${sid}/reals/127.0.0.1-${home.port}/drain`, { timeout: 30, then: 'keep' }, A);
  assert.equal(r.status, 202, r.text);
  for (let i = 0; i < 3; i++) assert.equal((await httpGet(vport)).body.toString().trim(), other);
});

test('tsvs drain shows the progress and ends when the last connection closes; --then keep leaves it at weight 0', async () => {
  const { vport } = await service();
  const idle = await idleTo(vport, 'rs2');
  const p = spawn(process.execPath, [join(REPO, 'bin/tsvs.mjs'), 'drain', '-t', `127.0.0.1:${vport}`, '-r', `127.0.0.1:${rs2.port}`, '--then', 'keep', '--timeout', '20', '--socket', d.socket], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  p.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exit = new Promise<number | null>((r) => p.on('exit', (c) => r(c)));
  await until('progress line', async () => /draining TCP 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+: 1 active, 0 inactive connections, \d+ s left/.test(out));
  idle.destroy();
  assert.equal(await exit, 0, out);
  assert.match(out, /drained TCP 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+: no active connections; kept at weight 0\n$/);
  assert.match(realLine(await adm('-L', '-n', '-t', `127.0.0.1:${vport}`), rs2.port)!, /Masq +0 /);
});

test('a drain times out with connections left (exit 1), and --cancel restores the weight', async () => {
  const { vport, sid } = await service();
  await adm('-e', '-t', `127.0.0.1:${vport}`, '-r', `127.0.0.1:${rs1.port}`, '-m', '-w', '4');
  await idleTo(vport, 'rs1');
  const run = (args: string[]) => new Promise<{ code: number | null; out: string }>((res) => {
    const p = spawn(process.execPath, [join(REPO, 'bin/tsvs.mjs'), 'drain', '-t', `127.0.0.1:${vport}`, '-r', `127.0.0.1:${rs1.port}`, '--socket', d.socket, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    p.on('exit', (code) => res({ code, out }));
  });
  const t = await run(['--timeout', '1', '--then', 'keep']);
  assert.equal(t.code, 1, t.out);
  assert.match(t.out, /timed out draining .* with 1 active connections; kept at weight 0/);
  // Start again without waiting, then cancel: the weight before the drain (0 now) is restored.
  await adm('-e', '-t', `127.0.0.1:${vport}`, '-r', `127.0.0.1:${rs1.port}`, '-m', '-w', '4');
  const s = await run(['--no-wait']);
  assert.equal(s.code, 0, s.out);
  const st = spawnSync(process.execPath, [join(REPO, 'bin/tsvs.mjs'), 'status', '--socket', d.socket], { encoding: 'utf8' });
  assert.match(st.stdout, new RegExp(`draining TCP 127\\.0\\.0\\.1:${vport} -> 127\\.0\\.0\\.1:${rs1.port}: 1 active connections, \\d+ s left, then delete`), st.stdout);
  assert.match(realLine(await adm('-L', '-n', '-t', `127.0.0.1:${vport}`), rs1.port)!, /Masq +0 /);
  const c = await run(['--cancel']);
  assert.equal(c.code, 0, c.out);
  assert.match(c.out, /cancelled the drain .*; weight 4 restored/);
  assert.match(realLine(await adm('-L', '-n', '-t', `127.0.0.1:${vport}`), rs1.port)!, /Masq +4 /);
  const ds = JSON.parse((await call(d.http, 'GET', '/api/v1/drains', undefined, A)).text).drains as { id: string; state: string }[];
  assert.deepEqual(ds.filter((x) => x.id === `${sid}/127.0.0.1-${rs1.port}`).map((x) => x.state), ['cancelled']);
});

const BAD: [string[], number, RegExp][] = [
  [['-t', '127.0.0.1:1', '-r', '127.0.0.1:2'], 1, /ESRCH: No such service: TCP 127\.0\.0\.1:1/],
  [['-t', '127.0.0.1:1'], 2, /give the real server/],
  [['-r', '127.0.0.1:2'], 2, /give exactly one service/],
  [['-t', '127.0.0.1:1', '-r', '127.0.0.1:2', '--then', 'drop'], 2, /--then must be delete or keep/],
  [['-t', '127.0.0.1:1', '-r', '127.0.0.1:2', '--timeout=-3'], 2, /--timeout must be seconds/],
  [['-t', 'nonsense', '-r', '127.0.0.1:2'], 2, /.+/],
];

test('tsvs drain refuses bad arguments (exit 2) and unknown services (exit 1) with a clear message', async () => {
  for (const [args, code, re] of BAD) {
    const r = await new Promise<{ code: number | null; err: string }>((res) => {
      const p = spawn(process.execPath, [join(REPO, 'bin/tsvs.mjs'), 'drain', ...args, '--socket', d.socket], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr!.on('data', (b: Buffer) => (err += b.toString()));
      p.on('exit', (c) => res({ code: c, err }));
    });
    assert.equal(r.code, code, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, re, args.join(' '));
  }
  await sleep(0);
});
