/**
 * bench/observe/forwarding: what a 1-second Prometheus scrape loop costs forwarding (issue 16:
 * at most 3% of req/s). One tsvs daemon (proxy forwarder, default workers, --http) holding
 * 1,000 services x 10 real servers (999 of them idle listeners on 127.1.x.y), wrk through the
 * one live service to nginx; rounds alternate "no scrape" and "GET /metrics every second"
 * (same daemon, same run), medians reported.
 *
 * Env: BENCH_SECONDS (10), BENCH_CONNS (32), BENCH_ROUNDS (3), BENCH_WORKLOADS (0,1: new
 * connection per request / keep-alive, 1 KiB).
 * Run: flock /tmp/tsvs-suite.lock npx tsx bench/observe/forwarding.ts
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, sleep } from '../../test/daemon/helpers.ts';

const REPO = new URL('../../', import.meta.url).pathname;
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);
const CONNS = Number(process.env['BENCH_CONNS'] ?? 32);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
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

async function wrk(port: number, close: boolean): Promise<{ rps: number; errors: number }> {
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
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0), errors: errs ? errs.slice(1).map(Number).reduce((a, b) => a + b, 0) : 0 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

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
  children.push(spawn(process.execPath, [join(REPO, 'bin/tsvs.mjs'), 'daemon', '--socket', join(dir, 's.sock'), '--no-state', '--rules', join(dir, 'rules'), '--http', `127.0.0.1:${http}`, '--log-level', 'error'], { stdio: ['ignore', 'ignore', 'inherit'] }));
  await waitPort(vport);
  await waitPort(http);
  await sleep(1000);
  const workloads = [{ name: 'new connection per request, 1 KiB', close: true }, { name: 'keep-alive, 1 KiB', close: false }].filter((_, i) => WORKLOADS.includes(i));
  console.log(`# ${new Date().toISOString()} load ${loadavg().map((x) => x.toFixed(2)).join(' ')}; 1,000 services x 10 real servers in the table; wrk -t2 -c${CONNS} ${SECONDS}s; ${ROUNDS} rounds per mode, alternating`);
  for (const w of workloads) {
    const without: number[] = [];
    const withScrape: number[] = [];
    const scrapeMs: number[] = [];
    let errors = 0;
    await wrk(vport, w.close); // warm up
    for (let r = 0; r < ROUNDS; r++) {
      for (const mode of r % 2 === 0 ? ['off', 'on'] : ['on', 'off']) {
        let stop = false;
        const loop = mode === 'on' ? (async () => {
          while (!stop) {
            const t0 = Date.now();
            scrapeMs.push(await scrape(http));
            await sleep(Math.max(0, 1000 - (Date.now() - t0)));
          }
        })() : Promise.resolve();
        const res = await wrk(vport, w.close);
        stop = true;
        await loop;
        errors += res.errors;
        (mode === 'on' ? withScrape : without).push(res.rps);
        await sleep(500);
      }
    }
    const a = median(without);
    const b = median(withScrape);
    console.log(`${w.name}: req/s without scrapes ${a.toFixed(0)} [${without.map((x) => x.toFixed(0)).join(', ')}], with a scrape every second ${b.toFixed(0)} [${withScrape.map((x) => x.toFixed(0)).join(', ')}]; cost ${(((a - b) / a) * 100).toFixed(1)}% (target <= 3%); scrape during load median ${median(scrapeMs).toFixed(0)} ms, ${scrapeMs.length} scrapes; socket errors ${errors}`);
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
