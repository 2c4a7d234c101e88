/**
 * Traffic helpers shared by the lab tests: a process in a namespace with its output collected,
 * the lab real servers' byte pattern, polling with a deadline, and tcpdump around an action.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A process in a namespace with its output collected; resolves with the exit code and output. */
export function runIn(ns: string, argv: string[]): { child: ChildProcess; done: Promise<{ code: number | null; out: Buffer; err: string }> } {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const done = new Promise<{ code: number | null; out: Buffer; err: string }>((res) => child.on('close', (code) => res({ code, out: Buffer.concat(out), err })));
  return { child, done };
}

/** The pattern the lab's real servers stream (/big, /stream/N). */
export function pattern(bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < 256 && i < bytes; i++) b[i] = (i * 31 + 7) & 255;
  for (let n = 256; n < bytes; n *= 2) b.copy(b, n, 0, Math.min(n, bytes - n));
  return b;
}

/** Polls `cond` every `stepMs` up to `timeoutMs`: the ms it took to hold, or -1. */
export async function waitAsync(cond: () => Promise<boolean> | boolean, timeoutMs: number, stepMs = 50): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    if (await cond()) return performance.now() - t0;
    await sleep(stepMs);
  }
  return (await cond()) ? performance.now() - t0 : -1;
}

/**
 * Runs tcpdump in `netns` on eth0 with `filter` while `action` runs; returns its text output
 * (-nn -vv: checksums verified). Stops it by PID after `count` packets or `ms`.
 */
export async function capture(netns: string, filter: string, count: number, action: () => void | Promise<void>, ms = 8000): Promise<string> {
  const p = spawn('ip', ['netns', 'exec', netns, 'tcpdump', '-i', 'eth0', '-nn', '-vv', '-l', '-c', String(count), filter], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  p.stdout.on('data', (d) => { out += d; });
  p.stderr.on('data', (d) => { err += d; });
  const done = new Promise<void>((r) => p.on('exit', () => r()));
  const t0 = Date.now();
  while (!err.includes('listening on') && Date.now() - t0 < 5000) await sleep(20);
  try {
    await action();
    await Promise.race([done, sleep(ms)]);
  } finally {
    if (p.exitCode === null && p.pid) { try { process.kill(p.pid, 'SIGTERM'); } catch { /* gone */ } await Promise.race([done, sleep(2000)]); }
  }
  return out;
}
