/**
 * End to end with real processes: Debian nginx (own prefix and config, started and stopped by
 * PID) as real servers, a Node server as the sorry server, the real clock, real checks, and the
 * ops applied to an in-memory destination table. Scripts are real shell scripts.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { HealthManager } from '../../src/health/manager.ts';
import { applyHealthOps } from '../../src/health/apply.ts';
import { realScriptRunner } from '../../src/health/io.ts';
import type { Errno, IpvsBackend, IpvsCommand } from '../../src/core/types.ts';
import type { HealthService } from '../../src/health/types.ts';

const NGINX = '/usr/sbin/nginx';
const tmp = mkdtempSync(join(tmpdir(), 'tsvs-nginx-'));
const procs = new Set<ChildProcess>();
after(() => {
  for (const p of procs) if (p.exitCode === null && p.pid) p.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

const INDEX = 'tsvs real server\n';

/** Starts nginx in the foreground with its own prefix; returns a stop function (by PID). */
async function startNginx(name: string, port: number): Promise<() => Promise<void>> {
  const prefix = join(tmp, name);
  mkdirSync(join(prefix, 'html'), { recursive: true });
  writeFileSync(join(prefix, 'html', 'index.html'), INDEX);
  writeFileSync(join(prefix, 'nginx.conf'), `
daemon off;
master_process off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${prefix}/tmp;
  proxy_temp_path ${prefix}/tmp;
  fastcgi_temp_path ${prefix}/tmp;
  uwsgi_temp_path ${prefix}/tmp;
  scgi_temp_path ${prefix}/tmp;
  server {
    listen 127.0.0.1:${port};
    root ${prefix}/html;
    location /500 { return 500; }
  }
}
`);
  const p = spawn(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf')], { stdio: 'ignore' });
  procs.add(p);
  const t0 = Date.now();
  for (;;) {
    const up = await new Promise<boolean>((r) => { const c = net.connect(port, '127.0.0.1'); c.on('connect', () => { c.destroy(); r(true); }); c.on('error', () => r(false)); });
    if (up) break;
    if (p.exitCode !== null || Date.now() - t0 > 5000) throw new Error(`nginx ${name} did not start: ${readFileSync(join(prefix, 'error.log'), 'utf8')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return () => new Promise<void>((r) => {
    if (p.exitCode !== null) { r(); return; }
    p.once('exit', () => { procs.delete(p); r(); });
    p.kill('SIGTERM');
  });
}

/** Destination table standing in for the engine. */
class Table implements IpvsBackend {
  readonly w = new Map<string, number>();
  info() { return { version: '1.2.1', connTableSize: 4096 }; }
  apply(cmd: IpvsCommand): Errno | null {
    if (cmd.kind === 'add-dest') { const k = `${cmd.dest.addr}:${cmd.dest.port}`; if (this.w.has(k)) return 'EEXIST'; this.w.set(k, cmd.dest.weight); return null; }
    if (cmd.kind === 'edit-dest') { const k = `${cmd.dest.addr}:${cmd.dest.port}`; if (!this.w.has(k)) return 'ENOENT'; this.w.set(k, cmd.dest.weight); return null; }
    if (cmd.kind === 'delete-dest') return this.w.delete(`${cmd.addr}:${cmd.port}`) ? null : 'ENOENT';
    return 'EINVAL';
  }
  services() { return []; }
  service() { return null; }
  connections() { return []; }
  timeouts() { return { tcp: 900, tcpfin: 120, udp: 300 }; }
  daemons() { return []; }
  snapshot() { return Object.fromEntries([...this.w].sort()); }
}

async function waitFor(what: string, pred: () => boolean, ms: number): Promise<number> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - t0;
}

test('nginx real servers: a stopped one leaves within the configured time, returns when started; sorry server when all fail; quorum scripts once per crossing', { skip: !existsSync(NGINX) && 'nginx not installed' }, async () => {
  const [p1, p2, sorryPort] = [await freePort(), await freePort(), await freePort()];
  const stop1 = await startNginx('a', p1);
  let stop2 = await startNginx('b', p2);
  const sorry = http.createServer((_q, s) => s.end('sorry\n'));
  await new Promise<void>((r) => sorry.listen(sorryPort, '127.0.0.1', () => r()));
  const log = join(tmp, 'quorum.log');
  const script = join(tmp, 'q.sh');
  writeFileSync(script, `#!/bin/sh\necho "$1" >> ${log}\n`);
  chmodSync(script, 0o755);

  const digest = createHash('md5').update(INDEX).digest('hex');
  const check = { type: 'HTTP_GET' as const, url: [{ path: '/', digest }], connect_timeout: 0.5, retry: 1, delay_before_retry: 0.1, warmup: 0 };
  const svc: HealthService = {
    key: { af: 4, fwmark: 0, protocol: 'tcp', addr: '10.0.0.1', port: 80 },
    delay_loop: 0.2,
    quorum: 1,
    quorum_up: `${script} up`,
    quorum_down: `${script} down`,
    sorry_server: { addr: '127.0.0.1', port: sorryPort },
    real_servers: [
      { addr: '127.0.0.1', port: p1, weight: 5, checkers: [check] },
      { addr: '127.0.0.1', port: p2, weight: 7, checkers: [check] },
    ],
  };
  const table = new Table();
  const m = new HealthManager({ services: [svc], scripts: realScriptRunner, onOps: (ops) => applyHealthOps(ops, table, realScriptRunner) });
  const k1 = `127.0.0.1:${p1}`, k2 = `127.0.0.1:${p2}`, ks = `127.0.0.1:${sorryPort}`;
  try {
    m.start();
    assert.deepEqual(table.snapshot(), { [k1]: 5, [k2]: 7 });
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual(table.snapshot(), { [k1]: 5, [k2]: 7 }, 'healthy servers stay');

    // Budget: one delay_loop until the next check + (retry+1) checks each bounded by connect_timeout + delay_before_retry.
    const budget = 200 + 2 * (500 + 100) + 300;
    await stop2();
    const left = await waitFor('stopped nginx leaves', () => !table.w.has(k2), budget);
    assert.deepEqual(table.snapshot(), { [k1]: 5 });
    const st = m.status().services[0]!.dests.find((d) => d.dest === k2)!;
    assert.equal(st.alive, false);
    assert.match(st.checkers[0]!.lastResult!.reason, /^refused/);

    stop2 = await startNginx('b', p2);
    await waitFor('restarted nginx returns', () => table.w.get(k2) === 7, 200 + 500 + 300);

    await stop2();
    await stop1();
    await waitFor('sorry server takes over', () => table.w.has(ks) && table.w.size === 1, budget + 300);
    await waitFor('quorum_down ran', () => existsSync(log) && readFileSync(log, 'utf8').includes('down'), 1000);
    await new Promise((r) => setTimeout(r, 600)); // more failing rounds: no repeats
    assert.equal(readFileSync(log, 'utf8'), 'down\n');

    stop2 = await startNginx('b', p2);
    await waitFor('real server back, sorry server gone', () => table.w.get(k2) === 7 && !table.w.has(ks), 200 + 500 + 300);
    await waitFor('quorum_up ran', () => readFileSync(log, 'utf8') === 'down\nup\n', 1000);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(readFileSync(log, 'utf8'), 'down\nup\n', 'each crossing fires once');
    process.stdout.write(`# stopped nginx left the table after ${left} ms (budget ${budget} ms)\n`);
  } finally {
    m.stop();
    await stop2();
    await stop1();
    await new Promise<void>((r) => sorry.close(() => r()));
  }
});

test('nginx: wrong digest and wrong status keep a server out; a MISC_CHECK script changes its weight', { skip: !existsSync(NGINX) && 'nginx not installed' }, async () => {
  const port = await freePort();
  const stop = await startNginx('c', port);
  const wfile = join(tmp, 'weight');
  writeFileSync(wfile, '0');
  const misc = join(tmp, 'w.sh');
  writeFileSync(misc, `#!/bin/sh\nexit $(cat ${wfile})\n`);
  chmodSync(misc, 0o755);
  const base = { connect_timeout: 0.5, retry: 0, warmup: 0 };
  const svc: HealthService = {
    key: { af: 4, fwmark: 0, protocol: 'tcp', addr: '10.0.0.2', port: 80 },
    delay_loop: 0.15,
    alpha: true,
    real_servers: [
      { addr: '127.0.0.1', port, weight: 4, checkers: [{ type: 'HTTP_GET', url: [{ path: '/', digest: '0'.repeat(32) }], ...base }] },
      { addr: '127.0.0.2', port, weight: 4, checkers: [{ type: 'HTTP_GET', url: [{ path: '/500' }], connect_ip: '127.0.0.1', ...base }] },
      { addr: '127.0.0.3', port, weight: 4, checkers: [{ type: 'MISC_CHECK', misc_path: misc, misc_dynamic: true, misc_timeout: 1, ...base }] },
    ],
  };
  const table = new Table();
  const m = new HealthManager({ services: [svc], onOps: (ops) => applyHealthOps(ops, table) });
  try {
    m.start();
    await waitFor('MISC server added', () => table.w.get(`127.0.0.3:${port}`) === 4, 1500);
    // The script can answer before nginx does: wait for both HTTP checks' first results too.
    await waitFor('both HTTP checks answered', () => m.status().services[0]!.dests.slice(0, 2).every((d) => d.checkers[0]!.lastResult !== null), 1500);
    const st = m.status().services[0]!.dests;
    assert.match(st[0]!.checkers[0]!.lastResult?.reason ?? '', /^digest mismatch/);
    assert.match(st[1]!.checkers[0]!.lastResult?.reason ?? '', /^status 500/);
    assert.deepEqual(table.snapshot(), { [`127.0.0.3:${port}`]: 4 });
    writeFileSync(wfile, '9');
    await waitFor('exit 9 sets weight 7', () => table.w.get(`127.0.0.3:${port}`) === 7, 1500);
    writeFileSync(wfile, '1');
    await waitFor('exit 1 removes it', () => !table.w.has(`127.0.0.3:${port}`), 1500);
  } finally {
    m.stop();
    await stop();
  }
});
