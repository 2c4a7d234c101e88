/** Small helpers for namespace labs: run commands (optionally inside a netns), spawn tracked processes. */
import { execFileSync, spawn, spawnSync } from 'node:child_process';

export function sh(argv: readonly string[], input?: string): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Runs a command; returns exit status and output instead of throwing. */
export function shTry(argv: readonly string[]): { status: number; out: string; err: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  return { status: r.status ?? -1, out: r.stdout ?? '', err: r.stderr ?? '' };
}

export function nsArgv(ns: string | undefined, argv: readonly string[]): string[] {
  return ns ? ['ip', 'netns', 'exec', ns, ...argv] : [...argv];
}

export function nsSh(ns: string | undefined, argv: readonly string[]): string {
  return sh(nsArgv(ns, argv));
}

export function listNetns(): string[] {
  const r = shTry(['ip', '-j', 'netns', 'list']);
  if (r.status !== 0 || !r.out.trim()) return [];
  return (JSON.parse(r.out) as { name: string }[]).map((x) => x.name);
}

/** Starts a detached process inside `ns`; `ip netns exec` execs, so the PID is the program's. */
export function spawnInNs(ns: string, argv: readonly string[], logFile?: string): number {
  const out = logFile ? (awaitOpen(logFile)) : 'ignore';
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${argv.join(' ')} in ${ns}`);
  return child.pid;
}

import { openSync } from 'node:fs';
/** Starts a detached process in the current namespace. */
export function spawnDetached(argv: readonly string[], logFile?: string): number {
  const out = logFile ? openSync(logFile, 'a') : 'ignore';
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${argv.join(' ')}`);
  return child.pid;
}
function awaitOpen(p: string): number {
  return openSync(p, 'a');
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after `graceMs`. */
export async function killPid(pid: number, graceMs = 1500): Promise<void> {
  if (!alive(pid)) return;
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  const until = Date.now() + graceMs;
  while (alive(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  if (alive(pid)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

export async function waitFor(check: () => boolean, timeoutMs: number, stepMs = 50): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return check();
}

/** Turns off checksum/segmentation offloads (captured frames then carry full checksums). */
export function offloadsOff(ns: string, dev: string): void {
  shTry(nsArgv(ns, ['ethtool', '-K', dev, 'tx', 'off', 'rx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off']));
}
