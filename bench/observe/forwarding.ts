/**
 * bench/observe/forwarding: what a 1-second Prometheus scrape loop costs forwarding (issue 16:
 * at most 3% of req/s). One tsvs daemon (proxy forwarder, default workers, --http) holding
 * 1,000 services x 10 real servers (999 of them idle listeners on 127.1.x.y), wrk through the
 * one live service to nginx. The machine's noise between rounds (±10-15% on a shared 2-vCPU box)
 * is larger than the effect, so the runs are many short pairs of rounds, "no scrape" and "GET
 * /metrics every second" on the same daemon, in ABBA order (off-on, on-off, ...: a drift in the
 * machine's load favours neither); the figure is the median of the pairs' ratios. Beside it, the
 * director's CPU per request in each mode (utime+stime of the daemon, all its threads), which
 * noise from other processes moves much less than req/s.
 *
 * Env: BENCH_SECONDS (3 per round), BENCH_CONNS (32), BENCH_PAIRS (12), BENCH_WORKLOADS (0,1:
 * new connection per request / keep-alive, 1 KiB). Defaults take about 3 minutes.
 * Run: flock /tmp/tsvs-suite.lock npx tsx bench/observe/forwarding.ts
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, sleep } from '../../test/daemon/helpers.ts';

const REPO = new URL('../../', import.meta.url).pathname;
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 3);
const CONNS = Number(process.env['BENCH_CONNS'] ?? 32);
const PAIRS = Number(process.env['BENCH_PAIRS'] ?? 12);
const WORKLOADS = (process.env['BENCH_WORKLOADS'] ?? '0,1').split(',').map(Number);
const children: ChildProcess[] = [];

async function waitPort(port: number, host = '127.0.0.1'): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, host);
      s.on('connect', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${host}:${port} never opened`);
}

function scrape(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(performance.now() - t0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** utime + stime of a process (all threads), ms (/proc/PID/stat fields 14 and 15, USER_HZ 100). */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

async function wrk(port: number, close: boolean): Promise<{ rps: number; requests: number; errors: number }> {
  const args = ['-t', '2', '-c', String(CONNS), '-d', `${SECONDS}s`, '--timeout', '5s'];
  if (close) args.push('-H', 'Connection: close');
  args.push(`http://127.0.0.1:${port}/1k`);
  const out = await new Promise<string>((resolve) => {
    const p = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let o = '';
    p.stdout!.on('data', (d: Buffer) => (o += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (o += d.toString()));
    p.on('exit', () => resolve(o));
  });
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0), requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? 0), errors: errs ? errs.slice(1).map(Number).reduce((a, b) => a + b, 0) : 0 };
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => {
  const s = sorted(xs);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const quartiles = (xs: number[]) => {
  const s = sorted(xs);
  return [s[Math.floor((s.length - 1) / 4)]!, s[Math.ceil(((s.length - 1) * 3) / 4)]!];
};

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-bench-fwd-'));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, '1k'), Buffer.alloc(1024, 'a'));
  const [b1, b2] = [await freePort(), await freePort()];
  writeFileSync(join(dir, 'backend.conf'), `daemon off; worker_processes 1; pid ${dir}/backend.pid; error_log ${dir}/backend.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/ptmp; fastcgi_temp_path ${dir}/ftmp; uwsgi_temp_path ${dir}/utmp; scgi_temp_path ${dir}/stmp;
  server { listen 127.0.0.1:${b1}; listen 127.0.0.1:${b2}; root ${dir}; location / { } } }
`);
  children.push(spawn('nginx', ['-c', join(dir, 'backend.conf'), '-p', dir, '-e', join(dir, 'backend.err')], { stdio: 'ignore' }));
  await waitPort(b1);
  const vport = await freePort();
  const http = await freePort();
  const lines = [`-A -t 127.0.0.1:${vport} -s rr`, `-a -t 127.0.0.1:${vport} -r 127.0.0.1:${b1} -m`, `-a -t 127.0.0.1:${vport} -r 127.0.0.1:${b2} -m`];
  for (let i = 0; i < 999; i++) {
    const vip = `127.1.${(i >> 8) + 1}.${i & 255}:8080`;
    lines.push(`-A -t ${vip} -s wlc`);
    for (let j = 0; j < 10; j++) lines.push(`-a -t ${vip} -r 127.0.0.1:${10000 + j} -m -w ${j + 1}`);
  }
  writeFileSync(join(dir, 'rules'), lines.join('\n') + '\n');
  const daemon = spawn(process.execPath, [join(REPO, 'bin/tsvs.mjs'), 'daemon', '--socket', join(dir, 's.sock'), '--no-state', '--rules', join(dir, 'rules'), '--http', `127.0.0.1:${http}`, '--log-level', 'error'], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(daemon);
  await waitPort(vport);
  await waitPort(http);
  await sleep(1000);
  const workloads = [{ name: 'new connection per request, 1 KiB', close: true }, { name: 'keep-alive, 1 KiB', close: false }].filter((_, i) => WORKLOADS.includes(i));
  console.log(`# ${new Date().toISOString()} load ${loadavg().map((x) => x.toFixed(2)).join(' ')}; 1,000 services x 10 real servers in the table; wrk -t2 -c${CONNS} ${SECONDS}s rounds; ${PAIRS} pairs per workload, ABBA order`);
  for (const w of workloads) {
    const ratios: number[] = [];
    const rps = { off: [] as number[], on: [] as number[] };
    const cpuPerReq = { off: [] as number[], on: [] as number[] };
    const scrapeMs: number[] = [];
    let errors = 0;
    await wrk(vport, w.close); // warm up
    for (let r = 0; r < PAIRS; r++) {
      const pair: Record<string, number> = {};
      for (const mode of (r % 2 === 0 ? ['off', 'on'] : ['on', 'off']) as ('off' | 'on')[]) {
        let stop = false;
        const loop = mode === 'on' ? (async () => {
          while (!stop) {
            const t0 = Date.now();
            scrapeMs.push(await scrape(http));
            // Stop as soon as the round ends (no scrape spills into the next round).
            for (let left = 1000 - (Date.now() - t0); left > 0 && !stop; left -= 50) await sleep(Math.min(50, left));
          }
        })() : Promise.resolve();
        const c0 = cpuMs(daemon.pid!);
        const res = await wrk(vport, w.close);
        const cpu = cpuMs(daemon.pid!) - c0;
        stop = true;
        await loop;
        errors += res.errors;
        rps[mode].push(res.rps);
        if (res.requests > 0) cpuPerReq[mode].push((cpu * 1000) / res.requests);
        pair[mode] = res.rps;
        await sleep(300);
      }
      if (pair['off']! > 0) ratios.push(pair['on']! / pair['off']!);
    }
    const cost = (1 - median(ratios)) * 100;
    const [q1, q3] = quartiles(ratios);
    const us = (xs: number[]) => `${median(xs).toFixed(0)} µs`;
    const cpuCost = ((median(cpuPerReq.on) - median(cpuPerReq.off)) / median(cpuPerReq.off)) * 100;
    console.log(`${w.name}:`);
    console.log(`  req/s median without ${median(rps.off).toFixed(0)}, with a scrape every second ${median(rps.on).toFixed(0)}`);
    console.log(`  paired ratio with/without: median ${median(ratios).toFixed(3)} (quartiles ${q1.toFixed(3)}-${q3.toFixed(3)}, ${ratios.length} pairs) => cost ${cost.toFixed(1)}% (target <= 3%)`);
    console.log(`  director CPU per request: without ${us(cpuPerReq.off)}, with ${us(cpuPerReq.on)} (${cpuCost >= 0 ? '+' : ''}${cpuCost.toFixed(1)}%)`);
    console.log(`  scrapes during load: ${scrapeMs.length}, median ${median(scrapeMs).toFixed(0)} ms, max ${Math.max(...scrapeMs).toFixed(0)} ms; socket errors ${errors}`);
  }
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  });
