/**
 * Test helpers for network namespaces and processes: everything created here is named with the
 * test's PID and removed by the returned cleanup (namespaces by name we created, processes by PID).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const isRoot = process.getuid?.() === 0;

/** Why a case beside Debian's keepalived cannot run here (`needs`: what root is for), or false. */
export function keepalivedSkip(needs = 'network namespaces, raw sockets'): string | false {
  return !isRoot ? `needs root (${needs})` : !existsSync('/usr/sbin/keepalived') ? 'keepalived not installed (run scripts/setup.sh)' : false;
}

export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function nsExec(ns: string, cmd: string[]): string {
  return sh('ip', ['netns', 'exec', ns, ...cmd]);
}

export class Lab {
  readonly namespaces: string[] = [];
  readonly children: ChildProcess[] = [];
  private links = 0;
  constructor(readonly tag: string) {}

  ns(name: string): string {
    const full = `tsvs-${this.tag}-${name}-${process.pid}`.slice(0, 40);
    try { sh('ip', ['netns', 'del', full]); } catch { /* not there */ }
    sh('ip', ['netns', 'add', full]);
    this.namespaces.push(full);
    nsExec(full, ['ip', 'link', 'set', 'lo', 'up']);
    return full;
  }

  /** A veth pair between two namespaces with the given addresses (CIDR); returns the device names. */
  link(a: string, aAddr: string, b: string, bAddr: string): [string, string] {
    const n = this.links++;
    const da = `v${process.pid % 100000}a${n}`;
    const db = `v${process.pid % 100000}b${n}`;
    sh('ip', ['link', 'add', da, 'type', 'veth', 'peer', 'name', db]);
    sh('ip', ['link', 'set', da, 'netns', a]);
    sh('ip', ['link', 'set', db, 'netns', b]);
    nsExec(a, ['ip', 'addr', 'add', aAddr, 'dev', da]);
    nsExec(b, ['ip', 'addr', 'add', bAddr, 'dev', db]);
    nsExec(a, ['ip', 'link', 'set', da, 'up']);
    nsExec(b, ['ip', 'link', 'set', db, 'up']);
    return [da, db];
  }

  spawnIn(ns: string, cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): ChildProcess {
    const c = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    this.children.push(c);
    return c;
  }

  async cleanup(): Promise<void> {
    for (const c of this.children) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGKILL');
        await new Promise((r) => c.once('exit', r));
      }
    }
    for (const ns of this.namespaces) {
      try { sh('ip', ['netns', 'del', ns]); } catch { /* gone */ }
    }
  }
}

/** What keepalivedPair hands its body. */
export interface KeepalivedPair {
  readonly lab: Lab;
  /** A scratch directory (configuration files, pid files), removed after. */
  readonly dir: string;
  /** keepalived's namespace and device, SUBNET.1/24. */
  readonly a: string;
  readonly da: string;
  /** tsvs's namespace and device, SUBNET.2/24. */
  readonly b: string;
  readonly db: string;
}

/**
 * Two namespaces joined by a veth pair, the one a real keepalived runs in (`ka`) and tsvs's
 * (`tv`), and a scratch directory; `body` runs the test, then its processes, the namespaces and
 * the directory go, whatever happened.
 */
export async function keepalivedPair(tag: string, subnet: string, body: (p: KeepalivedPair) => Promise<void>): Promise<void> {
  const lab = new Lab(tag);
  const dir = mkdtempSync(join(tmpdir(), `tsvs-${tag}-`));
  try {
    const a = lab.ns('ka');
    const b = lab.ns('tv');
    const [da, db] = lab.link(a, `${subnet}.1/24`, b, `${subnet}.2/24`);
    await body({ lab, dir, a, b, da, db });
  } finally {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function hasAddr(ns: string, dev: string, addr: string): boolean {
  return nsExec(ns, ['ip', '-br', 'addr', 'show', 'dev', dev]).includes(` ${addr}/`);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every `stepMs` until true or `timeoutMs`; returns elapsed ms, or -1 on timeout. */
export async function waitFor(cond: () => boolean, timeoutMs: number, stepMs = 10): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    if (cond()) return performance.now() - t0;
    await sleep(stepMs);
  }
  return cond() ? performance.now() - t0 : -1;
}
