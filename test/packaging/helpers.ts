/**
 * Helpers for the packaging tests: build the npm and Debian packages once, run installed commands
 * from a directory that is not the checkout, start an installed daemon.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REPO = new URL('../../', import.meta.url).pathname;

export function tmpDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export interface Ran { code: number | null; stdout: string; stderr: string }

/** Runs a command to completion (bounded), in `cwd`, with stdin `input`. */
export function run(cmd: string, args: readonly string[], opts: { cwd: string; env?: Record<string, string>; input?: string; timeoutMs?: number }): Ran {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, input: opts.input ?? '', encoding: 'utf8', timeout: opts.timeoutMs ?? 30000 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a command and fails with its output when it does not exit 0. */
export function runOk(cmd: string, args: readonly string[], opts: Parameters<typeof run>[2]): string {
  const r = run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

export interface Packages { dir: string; tgz: string; deb: string; ipvsadmDeb: string }

/** Builds the npm tarball and both Debian packages into a fresh directory (packaging/build-deb.sh). */
export function buildPackages(): Packages {
  const dir = tmpDir('tsvs-pkg-');
  const out = runOk('bash', [join(REPO, 'packaging/build-deb.sh'), dir], { cwd: REPO, timeoutMs: 120000 }).trim().split('\n');
  const find = (re: RegExp) => {
    const f = out.find((l) => re.test(l));
    if (!f) throw new Error(`build-deb.sh did not report ${re}: ${out.join('\n')}`);
    return f;
  };
  return { dir, tgz: find(/\/tsvs-[^/]*\.tgz$/), deb: find(/\/tsvs_[^/]*\.deb$/), ipvsadmDeb: find(/\/tsvs-ipvsadm_[^/]*_all\.deb$/) };
}

export interface Daemon { proc: ChildProcess; socket: string; logs: () => string; stop(): Promise<void> }

/** Starts an installed `tsvs daemon` (the file given) from `cwd` and waits until it is ready. */
export async function startDaemon(tsvs: string, cwd: string, args: readonly string[] = []): Promise<Daemon> {
  const socket = join(cwd, 'tsvs.sock');
  const proc = spawn(tsvs, ['daemon', '--socket', socket, '--no-state', '--log-level', 'info', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  proc.stdout!.on('data', (d: Buffer) => (logs += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (logs += d.toString()));
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  const deadline = Date.now() + 15000;
  while (!logs.includes('tsvs daemon ready')) {
    if (proc.exitCode !== null) throw new Error(`installed daemon exited ${proc.exitCode}: ${logs}`);
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error(`installed daemon did not start: ${logs}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    proc, socket, logs: () => logs,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 8000);
      await exited;
      clearTimeout(t);
    },
  };
}
