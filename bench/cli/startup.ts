/**
 * Command start-up: the wall time of `tsvsadm -L -n` against a running daemon, against a bare
 * `node -e 0` measured in the same run (interleaved A B A B ..., the ratio pair by pair, so the
 * machine's drift cancels); the daemon's start-up (spawn to "ready" on its control socket, with
 * no forwarder and with the default proxy forwarder and its worker threads); and `tsvsadm -R`
 * of 10,000 lines in one call.
 *   bash bench/cli/run.sh [--runs 20] [--daemon-runs 10] [--repo DIR]
 * --repo: time another checkout's bin/ (e.g. an older commit, for a before/after pair).
 * Bounded: every process is timed out after 30 s; the daemons are stopped by PID.
 * Targets (issue 12): `tsvsadm -L -n` at most 1.5x `node -e 0`; `-R` of 10,000 lines under 2 s.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' }, 'daemon-runs': { type: 'string', default: '10' }, repo: { type: 'string' } } });
const REPO = values.repo ? resolve(values.repo) : fileURLToPath(new URL('../../', import.meta.url));
const TSVS = join(REPO, 'bin/tsvs.mjs');
const TSVSADM = join(REPO, 'bin/tsvsadm.mjs');
const RUNS = Number(values.runs);
const DAEMON_RUNS = Number(values['daemon-runs']);
if (!(RUNS >= 1 && RUNS <= 200) || !(DAEMON_RUNS >= 1 && DAEMON_RUNS <= 50)) {
  process.stderr.write('usage: startup.ts [--runs 1..200] [--daemon-runs 1..50] [--repo DIR]\n');
  process.exit(2);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const range = (xs: number[], digits = 3) => `median ${median(xs).toFixed(digits)} (min ${Math.min(...xs).toFixed(digits)}, max ${Math.max(...xs).toFixed(digits)})`;

/** Wall seconds of one whole process, spawn to exit. */
function wall(argv: string[], env: NodeJS.ProcessEnv = process.env, input?: string): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { env, input, stdio: [input === undefined ? 'ignore' : 'pipe', 'ignore', 'pipe'], timeout: 30000 });
  const t = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr?.toString()}`);
  return t;
}

interface Daemon { pid: number; stop(): Promise<void> }

/** Starts a daemon and resolves when it logs "ready": the seconds it took, and the handle. */
function startDaemon(dir: string, args: string[]): Promise<{ secs: number; d: Daemon }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const p = spawn(process.execPath, [TSVS, 'daemon', '--socket', join(dir, 'tsvs.sock'), '--no-state', '--log-level', 'info', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<void>((r) => p.on('exit', () => r()));
    let log = '';
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`daemon not ready in 30 s: ${log}`)); }, 30000);
    p.stderr!.on('data', (b: Buffer) => {
      log += b.toString();
      if (!log.includes('tsvs daemon ready')) return;
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      clearTimeout(timer);
      p.stderr!.removeAllListeners('data');
      p.stderr!.resume();
      resolve({ secs, d: { pid: p.pid!, stop: async () => { p.kill('SIGTERM'); await exited; } } });
    });
    p.on('exit', (c) => { clearTimeout(timer); reject(new Error(`daemon exited ${c}: ${log}`)); });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'tsvs-bench-cli-'));
const env = { ...process.env, TSVS_SOCKET: join(dir, 'tsvs.sock') };
const out = (s: string) => process.stdout.write(`${s}\n`);
try {
  out(`tsvs CLI start-up bench (node ${process.version}, ${new Date().toISOString().slice(0, 10)}); wall seconds per whole process`);
  if (!existsSync(TSVS) || !existsSync(TSVSADM)) throw new Error(`no bin/tsvs.mjs and bin/tsvsadm.mjs in ${REPO}`);

  // 1. tsvsadm -L -n against a running daemon (one service, three real servers), vs node -e 0.
  const { d } = await startDaemon(dir, ['--forwarder', 'none']);
  try {
    for (const argv of [['-A', '-t', '10.0.0.1:80', '-s', 'wrr'], ...[1, 2, 3].map((i) => ['-a', '-t', '10.0.0.1:80', '-r', `192.168.10.${i}:80`, '-m', '-w', String(i)])]) wall([process.execPath, TSVSADM, ...argv], env);
    const a: number[] = [], b: number[] = [], ratio: number[] = [];
    for (let i = 0; i < RUNS + 2; i++) {
      const tb = wall([process.execPath, '-e', '0']);
      const ta = wall([process.execPath, TSVSADM, '-L', '-n'], env);
      if (i < 2) continue; // warm-up (page cache)
      a.push(ta); b.push(tb); ratio.push(ta / tb);
    }
    out(`tsvsadm -L -n      ${range(a)}`);
    out(`node -e 0          ${range(b)}`);
    out(`ratio tsvsadm/node ${range(ratio, 2)}  (pairs: ${RUNS}; target <= 1.5)`);

    // 2. tsvsadm -R: 10,000 lines (10 services x 999 real servers) in one call, then -C.
    const lines: string[] = [];
    for (let s = 0; s < 10; s++) {
      lines.push(`-A -t 10.0.1.${s + 1}:80 -s wrr`);
      for (let r = 0; r < 999; r++) lines.push(`-a -t 10.0.1.${s + 1}:80 -r 10.2.${Math.floor(r / 250)}.${(r % 250) + 1}:8080 -m -w ${(r % 5) + 1}`);
    }
    const restore: number[] = [];
    for (let i = 0; i < 3; i++) {
      restore.push(wall([process.execPath, TSVSADM, '-R'], env, `${lines.join('\n')}\n`));
      wall([process.execPath, TSVSADM, '-C'], env);
    }
    out(`tsvsadm -R 10,000 lines  ${range(restore)}  (3 calls; target < 2 s)`);
  } finally {
    await d.stop();
  }

  // 3. Daemon start-up, spawn to ready.
  for (const [label, args] of [['--forwarder none', ['--forwarder', 'none']], ['--forwarder proxy (2 worker threads)', ['--workers', '2']]] as const) {
    const secs: number[] = [];
    for (let i = 0; i < DAEMON_RUNS; i++) {
      const r = await startDaemon(dir, [...args]);
      secs.push(r.secs);
      await r.d.stop();
    }
    out(`daemon ready, ${label}  ${range(secs)}  (${DAEMON_RUNS} starts)`);
  }
  const stamp = join(REPO, 'dist/.build-stamp');
  out(`commands: ${join(REPO, 'bin')}/ (${existsSync(stamp) ? `compiled dist/, stamp ${readFileSync(stamp, 'utf8').trim().slice(0, 12)}` : 'no dist/: run by its own loader'})`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
