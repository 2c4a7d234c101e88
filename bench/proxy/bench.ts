/**
 * bench/proxy: wrk through tsvs (proxy forwarder) vs HAProxy (mode tcp) vs nginx stream.
 * Same backends (one nginx, two ports, static 1 KiB and 1 MiB files), same core budget (each
 * proxy gets BENCH_WORKERS worker processes/threads, default 2 = the machine's cores), one run.
 * Workloads: new TCP connection per request (1 KiB), keep-alive 1 KiB, keep-alive 1 MiB.
 * Figures: requests/s, p50/p99 latency (wrk --latency), proxy CPU per request (from /proc).
 * Env: BENCH_SECONDS (10), BENCH_CONNS (32), BENCH_WORKERS (CPUs), BENCH_ONLY (haproxy,tsvs,nginx),
 * BENCH_ROUNDS (3: the machine is noisy; proxies are interleaved per workload and medians reported), BENCH_WORKLOADS
 * (0,1,2), BENCH_TSVS_WORKERS, BENCH_TSVS_NODE_ARGS (e.g. --cpu-prof --cpu-prof-dir=DIR),
 * BENCH_TSVS_RELAYS (e.g. epoll,net: one tsvs daemon per TCP relay kind, --proxy-relay kind,
 * named tsvs-<kind>, all interleaved in the same run; without it one tsvs with the default),
 * BENCH_TSVS_ARGS (more tsvs daemon flags for every tsvs, e.g. "--proxy-ahead off"),
 * BENCH_TSVS_TREES (e.g. before=/tmp/old-checkout: one more tsvs daemon per entry, run from that
 * checkout and named tsvs-<name>, interleaved with this checkout's: a before/after in one run).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';

const REPO = new URL('../../', import.meta.url).pathname;
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);
const CONNS = Number(process.env['BENCH_CONNS'] ?? 32);
const WORKERS = Number(process.env['BENCH_WORKERS'] ?? availableParallelism());
const ONLY = (process.env['BENCH_ONLY'] ?? 'haproxy,tsvs,nginx').split(',');
const ROUNDS = Math.max(1, Number(process.env['BENCH_ROUNDS'] ?? 3));
const ONLY_WL = (process.env['BENCH_WORKLOADS'] ?? '0,1,2').split(',').map(Number);
const RELAYS = (process.env['BENCH_TSVS_RELAYS'] ?? '').split(',').filter(Boolean);
const TREES = (process.env['BENCH_TSVS_TREES'] ?? '').split(',').filter(Boolean).map((e) => {
  const i = e.indexOf('=');
  const repo = e.slice(i + 1);
  if (i <= 0 || !existsSync(join(repo, 'bin/tsvs.mjs'))) throw new Error(`BENCH_TSVS_TREES: '${e}' is not name=/path/to/a/tsvs/checkout`);
  // Its daemon runs the checkout's compiled dist/ (where it has a build step).
  const build = join(repo, 'scripts/build.mjs');
  if (existsSync(build) && spawnSync(process.execPath, [build, '--quiet'], { stdio: 'inherit' }).status !== 0) throw new Error(`BENCH_TSVS_TREES: cannot build ${repo}`);
  return { name: e.slice(0, i), repo };
});
const dir = mkdtempSync(join(tmpdir(), 'tsvs-bench-'));
chmodSync(dir, 0o755); // nginx workers run unprivileged and must read the files
const children: ChildProcess[] = [];

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function start(cmd: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let err = '';
  p.stderr!.on('data', (d: Buffer) => { err += d.toString(); if (err.length > 20000) err = err.slice(-10000); });
  p.on('exit', (c) => { if (c && c !== 0 && !stopping.has(p)) process.stderr.write(`${cmd} exited ${c}: ${err.slice(-2000)}\n`); });
  children.push(p);
  return p;
}
const stopping = new Set<ChildProcess>();
async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  stopping.add(p);
  const done = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 5000);
  await done;
  clearTimeout(t);
}

async function waitPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = require_net().connect(port, '127.0.0.1');
      s.on('connect', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`port ${port} never opened`);
}
import * as netMod from 'node:net';
function require_net() { return netMod; }

/** All pids in the process tree rooted at pid. */
function tree(pid: number): number[] {
  const out = [pid];
  const r = spawnSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' });
  const kids = new Map<number, number[]>();
  for (const line of r.stdout.trim().split('\n')) {
    const [a, b] = line.trim().split(/\s+/).map(Number);
    if (!kids.has(b!)) kids.set(b!, []);
    kids.get(b!)!.push(a!);
  }
  for (let i = 0; i < out.length; i++) out.push(...(kids.get(out[i]!) ?? []));
  return out;
}
const CLK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);
/** [user, system] CPU seconds of the processes. */
function cpuSeconds(pids: number[]): [number, number] {
  let u = 0, k = 0;
  for (const p of pids) {
    try {
      const s = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      u += Number(f[11]);
      k += Number(f[12]); // utime, stime
    } catch { /* gone */ }
  }
  return [u / CLK, k / CLK];
}

interface Result { rps: number; p50: number; p99: number; cpuUsPerReq: number; sysShare: number; requests: number; errors: number }

function ms(s: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(s.trim());
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

async function wrk(port: number, path: string, close: boolean, pids: number[]): Promise<Result> {
  const args = ['-t', '2', '-c', String(CONNS), '-d', `${SECONDS}s`, '--latency', '--timeout', '5s'];
  if (close) args.push('-H', 'Connection: close');
  args.push(`http://127.0.0.1:${port}${path}`);
  const c0 = cpuSeconds(pids);
  const r = await new Promise<string>((resolve) => {
    const p = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', () => resolve(out));
  });
  const c1 = cpuSeconds(pids);
  const requests = Number(/(\d+) requests in/.exec(r)?.[1] ?? 0);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r)?.[1] ?? 0);
  const p50 = ms(/\s50%\s+(\S+)/.exec(r)?.[1] ?? '');
  const p99 = ms(/\s99%\s+(\S+)/.exec(r)?.[1] ?? '');
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(r);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(r)?.[1] ?? 0);
  const errors = (errs ? errs.slice(1).map(Number).reduce((a, b) => a + b, 0) : 0) + non2xx;
  const user = c1[0] - c0[0], sys = c1[1] - c0[1];
  return { rps, p50, p99, requests, errors, cpuUsPerReq: requests ? ((user + sys) / requests) * 1e6 : NaN, sysShare: user + sys > 0 ? sys / (user + sys) : NaN };
}

async function main(): Promise<void> {
  // Backends: one nginx, two ports, static files.
  writeFileSync(join(dir, '1k'), Buffer.alloc(1024, 'a'));
  writeFileSync(join(dir, '1m'), Buffer.alloc(1024 * 1024, 'b'));
  const [b1, b2] = [await freePort(), await freePort()];
  const modPath = '/usr/lib/nginx/modules/ngx_stream_module.so';
  writeFileSync(join(dir, 'backend.conf'), `daemon off; worker_processes 1; pid ${dir}/backend.pid; error_log ${dir}/backend.err;
events { worker_connections 4096; }
http { access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000; client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/ptmp; fastcgi_temp_path ${dir}/ftmp; uwsgi_temp_path ${dir}/utmp; scgi_temp_path ${dir}/stmp;
  server { listen 127.0.0.1:${b1}; listen 127.0.0.1:${b2}; root ${dir}; location / { } } }
`);
  const backend = start('nginx', ['-c', join(dir, 'backend.conf'), '-p', dir, '-e', join(dir, 'backend.err')]);
  await waitPort(b1);

  const workloads = [
    { name: 'new connection per request, 1 KiB', path: '/1k', close: true },
    { name: 'keep-alive, 1 KiB', path: '/1k', close: false },
    { name: 'keep-alive, 1 MiB', path: '/1m', close: false },
  ].filter((_, i) => ONLY_WL.includes(i));
  const results: Record<string, Result[]> = {};

  const proxies: { name: string; up: () => Promise<{ port: number; pid: number; down: () => Promise<void> }> }[] = [
    {
      name: 'haproxy',
      up: async () => {
        const port = await freePort();
        writeFileSync(join(dir, 'haproxy.cfg'), `global
  nbthread ${WORKERS}
  maxconn 4000
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
listen vip
  bind 127.0.0.1:${port}
  balance roundrobin
  server rs1 127.0.0.1:${b1}
  server rs2 127.0.0.1:${b2}
`);
        const p = start('haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')]);
        await waitPort(port);
        return { port, pid: p.pid!, down: () => stop(p) };
      },
    },
    ...[
      ...(RELAYS.length ? RELAYS : ['']).map((kind) => ({ kind, tag: kind || 'default', repo: REPO, name: kind ? `tsvs-${kind}` : 'tsvs' })),
      ...TREES.map((t) => ({ kind: '', tag: `tree-${t.name}`, repo: t.repo, name: `tsvs-${t.name}` })),
    ].map(({ kind, tag, repo, name }) => ({
      name,
      up: async () => {
        const port = await freePort();
        writeFileSync(join(dir, `tsvs-${tag}.rules`), `-A -t 127.0.0.1:${port} -s rr\n-a -t 127.0.0.1:${port} -r 127.0.0.1:${b1} -m -w 1\n-a -t 127.0.0.1:${port} -r 127.0.0.1:${b2} -m -w 1\n`);
        const nodeArgs = (process.env['BENCH_TSVS_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
        const p = start(process.execPath, [...nodeArgs, join(repo, 'bin/tsvs.mjs'), 'daemon', '--socket', join(dir, `tsvs-${tag}.sock`), '--no-state', '--rules', join(dir, `tsvs-${tag}.rules`), '--workers', String(process.env['BENCH_TSVS_WORKERS'] ?? WORKERS), '--log-level', 'warn', ...(kind ? ['--proxy-relay', kind] : []), ...(process.env['BENCH_TSVS_ARGS'] ?? '').split(' ').filter(Boolean)], {});
        await waitPort(port);
        await sleep(300);
        return { port, pid: p.pid!, down: () => stop(p) };
      },
    })),
    {
      name: 'nginx',
      up: async () => {
        if (!existsSync(modPath)) throw new Error(`${modPath} missing: install libnginx-mod-stream (scripts/setup.sh)`);
        const port = await freePort();
        writeFileSync(join(dir, 'stream.conf'), `load_module ${modPath};
daemon off; worker_processes ${WORKERS}; pid ${dir}/stream.pid; error_log ${dir}/stream.err;
events { worker_connections 8192; }
stream { upstream rs { server 127.0.0.1:${b1}; server 127.0.0.1:${b2}; }
  server { listen 127.0.0.1:${port}; proxy_pass rs; } }
`);
        const p = start('nginx', ['-c', join(dir, 'stream.conf'), '-p', dir, '-e', join(dir, 'stream.err')]);
        await waitPort(port);
        return { port, pid: p.pid!, down: () => stop(p) };
      },
    },
  ];

  console.log(`# bench/proxy: ${SECONDS}s per run, wrk -t2 -c${CONNS}, ${WORKERS} worker(s) per proxy, ${availableParallelism()} CPUs shared by wrk, backends and proxy; ${ROUNDS} round(s), proxies interleaved per workload; load average at start ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  // All proxies stay up (idle ones cost nothing); each workload is measured on every proxy in
  // turn, round after round, so a shared machine's changing load hits them alike.
  const up: { name: string; port: number; pid: number; down: () => Promise<void> }[] = [];
  for (const px of proxies.filter((p) => ONLY.includes(p.name.replace(/-.*/, '')))) {
    try {
      up.push({ name: px.name, ...(await px.up()) });
    } catch (e) {
      console.log(`${px.name}: cannot start: ${(e as Error).message}`);
    }
  }
  const runs: Record<string, Result[][]> = {};
  for (const h of up) runs[h.name] = workloads.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [wi, w] of workloads.entries()) {
      for (const h of up) {
        // Short warm-up, then the measured run.
        spawnSync('wrk', ['-t', '1', '-c', '4', '-d', '1s', `http://127.0.0.1:${h.port}${w.path}`]);
        const r = await wrk(h.port, w.path, w.close, tree(h.pid));
        runs[h.name]![wi]!.push(r);
        console.log(`${ROUNDS > 1 ? `[${round + 1}] ` : ''}${h.name.padEnd(8)} ${w.name.padEnd(36)} ${r.rps.toFixed(0).padStart(8)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  cpu ${r.cpuUsPerReq.toFixed(1)} us/req (${(r.sysShare * 100).toFixed(0)}% sys)  errors ${r.errors}  load ${loadavg()[0]!.toFixed(2)}`);
      }
    }
  }
  for (const h of up) await h.down();
  await stop(backend);
  // Per proxy and workload: the median of the rounds, field by field.
  const median = (xs: number[]): number => {
    const a = [...xs].sort((x, y) => x - y);
    return a.length % 2 ? a[(a.length - 1) / 2]! : (a[a.length / 2 - 1]! + a[a.length / 2]!) / 2;
  };
  for (const [name, per] of Object.entries(runs)) {
    results[name] = per.map((rs) => ({
      rps: median(rs.map((r) => r.rps)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)),
      cpuUsPerReq: median(rs.map((r) => r.cpuUsPerReq)), sysShare: median(rs.map((r) => r.sysShare)),
      requests: rs.reduce((n, r) => n + r.requests, 0), errors: rs.reduce((n, r) => n + r.errors, 0),
    }));
  }

  const base = results['haproxy'];
  if (base) {
    console.log(`\n# ratios vs HAProxy (${ROUNDS > 1 ? `medians of ${ROUNDS} rounds; ` : ''}req/s: higher is better; p99 and cpu/req: lower is better)`);
    console.log(`| workload | proxy | req/s | p50 ms | p99 ms | cpu us/req | req/s ratio | p99 ratio | cpu ratio |`);
    console.log(`|---|---|---|---|---|---|---|---|---|`);
    for (const [name, rs] of Object.entries(results)) {
      rs.forEach((r, i) => {
        const b = base[i]!;
        console.log(`| ${workloads[i]!.name} | ${name} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.cpuUsPerReq.toFixed(1)} | ${(r.rps / b.rps).toFixed(2)} | ${(r.p99 / b.p99).toFixed(2)} | ${(r.cpuUsPerReq / b.cpuUsPerReq).toFixed(2)} |`);
      });
    }
  }
}

const cleanup = async (): Promise<void> => {
  for (const c of children) await stop(c);
  rmSync(dir, { recursive: true, force: true });
};
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
main().then(cleanup, async (e) => { console.error(e); await cleanup(); process.exit(1); });
