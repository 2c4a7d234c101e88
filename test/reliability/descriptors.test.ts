/**
 * Limits that refuse cleanly (no root needed): a daemon under a low descriptor limit
 * (prlimit --nofile=1024:1024) held by hundreds of idle proxied clients. New clients past the
 * budget are reset at once (not left to time out), counted and logged once per interval;
 * tsvsadm -L -n and tsvs status keep answering; closing the idle clients lets new ones in again.
 * The per-service maximum (proxy-maxconn) is held across relay threads. Figures are printed.
 */
import { test, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { startDaemon, tmpDir, closeServer, freePort, sleep, tsvsadm, REPO, type DaemonProc } from '../daemon/helpers.ts';
import { RawClient, daemonStatus, echoServer, figures, openFds } from './helpers.ts';

const echo = await echoServer();
after(() => closeServer(echo.server));

interface Limits { nofile: { soft: number; hard: number }; reserve: number; proxy: { active: number; budget: number; maxconn: number; refusedDescriptors: number; refusedMaxconn: number } }

async function startLab(t: TestContext, extra: string[], nofile: number | null): Promise<{ d: DaemonProc; vport: number }> {
  const dir = tmpDir('tsvs-rel-fd-');
  const vport = await freePort();
  writeFileSync(join(dir, 'rules'), `-A -t 127.0.0.1:${vport} -s rr\n-a -t 127.0.0.1:${vport} -r 127.0.0.1:${echo.port} -m -w 1\n`);
  const launcher = nofile ? ['prlimit', `--nofile=${nofile}:${nofile}`, '--'] : [];
  const d = await startDaemon(['--no-state', '--rules', join(dir, 'rules'), ...extra], dir, {}, launcher);
  t.after(() => d.stop('SIGKILL'));
  return { d, vport };
}

/** Opens a client; resolves how it ended up within `ms`: 'open' (relayed: the echo answered), 'reset', or 'timeout'. */
function client(port: number, ms = 3000): Promise<{ s: Socket; state: 'open' | 'reset' | 'timeout' | 'closed'; ms: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const s = connect({ host: '127.0.0.1', port });
    let done = false;
    const end = (state: 'open' | 'reset' | 'timeout' | 'closed'): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ s, state, ms: performance.now() - t0 });
    };
    const timer = setTimeout(() => end('timeout'), ms);
    s.on('error', (e: NodeJS.ErrnoException) => end(e.code === 'ECONNRESET' || e.code === 'EPIPE' ? 'reset' : 'closed'));
    s.on('close', () => end('closed'));
    s.on('data', () => end('open'));
    s.on('connect', () => s.write('x'));
  });
}

async function limits(d: DaemonProc): Promise<Limits> {
  return (await daemonStatus(d.socket))['limits'] as Limits;
}

/** Until the daemon has closed its side of the clients that left (at most `n` relayed), bounded at 5 s. */
async function untilActive(d: DaemonProc, n: number): Promise<void> {
  for (const t0 = Date.now(); (await limits(d)).proxy.active > n && Date.now() - t0 < 5000;) await sleep(50);
}

function tsvsStatus(socket: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(REPO, 'bin/tsvs.mjs'), 'status', '--socket', socket], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    p.on('exit', (code) => resolve({ code, out }));
  });
}

for (const workers of [0, 2]) {
  test(`descriptor budget (nofile 1024, --workers ${workers}): idle clients fill it, the next are reset at once and counted; the control socket answers; freed, new clients get in`, async (t) => {
    const { d, vport } = await startLab(t, ['--workers', String(workers)], 1024);
    const l0 = await limits(d);
    assert.equal(l0.nofile.soft, 1024);
    const budget = l0.proxy.budget;
    assert.ok(budget > 300 && budget < 512, `budget ${budget}`);
    // Fill the budget with idle relayed clients, then 100 more.
    const held: Socket[] = [];
    const extra: { state: string; ms: number }[] = [];
    for (let i = 0; i < budget + 100; i += 50) {
      const batch = await Promise.all(Array.from({ length: Math.min(50, budget + 100 - i) }, () => client(vport)));
      for (const c of batch) {
        if (c.state === 'open') held.push(c.s);
        else {
          extra.push({ state: c.state, ms: c.ms });
          c.s.destroy();
        }
      }
    }
    const l1 = await limits(d);
    const fds = openFds(d.proc.pid!);
    const adm = await tsvsadm(d.socket, ['-L', '-n']);
    const st = await tsvsStatus(d.socket);
    const worstRefusalMs = Math.max(...extra.map((x) => x.ms));
    figures(`descriptors workers=${workers}`, { nofile: 1024, budget, held: held.length, refused: extra.length, worstRefusalMs, daemonFds: fds, refusedCounted: l1.proxy.refusedDescriptors });
    assert.equal(held.length, budget, 'exactly the budget is relayed');
    assert.ok(extra.every((x) => x.state === 'reset'), `refused clients are reset: ${JSON.stringify(extra.filter((x) => x.state !== 'reset').slice(0, 3))}`);
    assert.ok(worstRefusalMs < 1000, `a refusal took ${worstRefusalMs} ms`);
    assert.equal(l1.proxy.refusedDescriptors, extra.length);
    assert.equal(l1.proxy.active, budget);
    assert.ok(fds < 1024 - 64, `the daemon holds ${fds} descriptors: the reserve is kept`);
    assert.equal(adm.code, 0, adm.stderr);
    assert.match(adm.stdout, new RegExp(`127\\.0\\.0\\.1:${vport}`));
    assert.equal(st.code, 0, st.out);
    // Logged, rate-limited: one line for the burst, not one per refusal.
    const lines = d.logs().split('\n').filter((x) => x.includes('descriptor budget used up')).length;
    assert.ok(lines >= 1 && lines <= 2, `${lines} log lines`);
    // Free half: new clients get in again.
    for (const s of held.splice(0, 100)) s.destroy();
    await untilActive(d, budget - 100);
    const again = await Promise.all(Array.from({ length: 20 }, () => client(vport)));
    assert.ok(again.every((c) => c.state === 'open'), 'freed descriptors admit new clients');
    for (const c of again) c.s.destroy();
    for (const s of held) s.destroy();
  });
}

test('proxy-maxconn holds per service across relay threads: past it new clients are reset and counted', async (t) => {
  const { d, vport } = await startLab(t, ['--workers', '2', '--proxy-maxconn', '5'], null);
  const cs = await Promise.all(Array.from({ length: 8 }, () => client(vport)));
  const open = cs.filter((c) => c.state === 'open').length;
  const reset = cs.filter((c) => c.state === 'reset').length;
  const l = await limits(d);
  figures('maxconn 5', { clients: 8, open, reset, refusedMaxconn: l.proxy.refusedMaxconn });
  assert.equal(open, 5);
  assert.equal(reset, 3);
  assert.equal(l.proxy.refusedMaxconn, 3);
  assert.equal(l.proxy.maxconn, 5);
  for (const c of cs) c.s.destroy();
  await untilActive(d, 0);
  const next = await client(vport);
  assert.equal(next.state, 'open', 'closed connections free their places');
  next.s.destroy();
});

test('out of descriptors (nofile 80), every new control client is answered (pong, or EMFILE on the spare descriptor), none reset or left waiting; freed, tsvsadm works', async (t) => {
  const { d } = await startLab(t, ['--workers', '0'], 80);
  const clients: RawClient[] = [];
  for (let i = 0; i < 100; i++) {
    const c = new RawClient(d.socket);
    c.sock.write('{"v":1,"id":1,"op":"ping"}\n');
    clients.push(c);
    await c.until(() => c.lines.length > 0 || c.closed, 3000);
  }
  const pong = clients.filter((c) => c.lines[0]?.includes('"pong":true')).length;
  const emfile = clients.filter((c) => c.lines[0]?.includes('"code":"EMFILE"')).length;
  const none = clients.filter((c) => c.lines.length === 0).map((c) => c.error ?? 'no answer');
  figures('control out of descriptors', { nofile: 80, clients: 100, pong, emfile, unanswered: none.length });
  assert.deepEqual(none, []);
  assert.ok(emfile > 0 && pong > 0);
  for (const c of clients) c.sock.destroy();
  await sleep(300);
  const adm = await tsvsadm(d.socket, ['-L', '-n']);
  assert.equal(adm.code, 0, adm.stderr);
  const st = await daemonStatus(d.socket);
  assert.equal((st['control'] as { noDescriptors: number }).noDescriptors, emfile);
});
