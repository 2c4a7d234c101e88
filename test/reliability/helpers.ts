/**
 * Shared pieces of the reliability suite: a daemon's resident memory and descriptors, a probe
 * process that measures how long forwarding and the control socket stall, raw control-socket
 * clients, and the figures line every test prints.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { readdirSync, readFileSync } from 'node:fs';
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { callDaemon } from '../../src/daemon/protocol.ts';
import { labUp, labDown, type LabMode, type LabUpOptions } from '../../src/lab/topology.ts';
import { listNetns, alive } from '../../src/lab/netns.ts';

/** Resident set size of a process in MB (VmRSS). */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 102.4) / 10 : NaN;
}

/** Descriptors a process holds. */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** A TCP echo server on 127.0.0.1. */
export async function echoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as { port: number }).port };
}

export interface ProbeFigures {
  /** Worst round trip of 8 bytes echoed through the forwarder (one every 10 ms). */
  forwardWorstMs: number;
  rounds: number;
  /** Worst ping on the control socket (a new connection every 100 ms). */
  pingWorstMs: number;
  pings: number;
  /** Pings answered EBUSY, and pings that got no answer (reset, refused, closed). */
  pingBusy: number;
  pingErrors: number;
}

/**
 * test/reliability/probe.mjs in its own process, so that what the test itself does (thousands
 * of sockets, megabytes of junk) does not count as a stall of the daemon.
 */
export class Probe {
  private readonly proc: ChildProcess;
  private readonly waiters: ((f: ProbeFigures) => void)[] = [];
  constructor(echoPort: number, socket: string) {
    this.proc = spawn(process.execPath, [new URL('./probe.mjs', import.meta.url).pathname, String(echoPort), socket], { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.proc.stdout! }).on('line', (l) => this.waiters.shift()?.(JSON.parse(l) as ProbeFigures));
  }
  report(): Promise<ProbeFigures> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.proc.stdin!.write('report\n');
    });
  }
  reset(): void {
    this.proc.stdin!.write('reset\n');
  }
  stop(): void {
    this.proc.stdin!.end();
    setTimeout(() => this.proc.kill('SIGKILL'), 1000).unref();
  }
}

/** A raw control-socket client: writes what it is given, collects answer lines. */
export class RawClient {
  readonly sock: Socket;
  readonly lines: string[] = [];
  closed = false;
  error: string | null = null;
  private buf = '';
  constructor(path: string, read = true) {
    this.sock = connect(path);
    this.sock.on('error', (e: NodeJS.ErrnoException) => { this.error = e.code ?? e.message; });
    this.sock.on('close', () => { this.closed = true; });
    if (read) {
      this.sock.setEncoding('utf8');
      this.sock.on('data', (d: string) => {
        this.buf += d;
        let nl: number;
        while ((nl = this.buf.indexOf('\n')) >= 0) {
          this.lines.push(this.buf.slice(0, nl));
          this.buf = this.buf.slice(nl + 1);
        }
      });
    } else {
      // Never read: answers pile up on the daemon's side.
      this.sock.pause();
    }
  }
  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.sock.connecting) return resolve();
      this.sock.once('connect', () => resolve());
      this.sock.once('error', reject);
    });
  }
  async until(pred: () => boolean, timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > end) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
    return true;
  }
}

/** The daemon's status answer (throws when it does not answer). */
export async function daemonStatus(socket: string): Promise<Record<string, unknown>> {
  const r = await callDaemon(socket, { v: 1, id: 's', op: 'status' }, 10_000);
  if (!r.ok) throw new Error(`status refused: ${r.error.code} ${r.error.message}`);
  return r as unknown as Record<string, unknown>;
}

/** Milliseconds a ping takes to be answered. */
export async function pingMs(socket: string, timeoutMs = 10_000): Promise<number> {
  const t = performance.now();
  const r = await callDaemon(socket, { v: 1, id: 'p', op: 'ping' }, timeoutMs);
  if (!r.ok) throw new Error(`ping refused: ${r.error.code}`);
  return performance.now() - t;
}

/** One line of figures, easy to grep from a CI log: `# figures <case>: k=v ...`. */
export function figures(name: string, f: Record<string, number | string>): void {
  const parts = Object.entries(f).map(([k, v]) => `${k}=${typeof v === 'number' ? Math.round(v * 10) / 10 : v}`);
  console.log(`# figures ${name}: ${parts.join(' ')}`);
}

/** One request of fixtures/http-load.mjs: when it ended (epoch ms), and the answer's first line or why it failed. */
export interface LoadRequest { t: number; ok: boolean; what: string }

/**
 * fixtures/http-load.mjs in its own process (`prefix`: e.g. `ip netns exec NS`): CONC loops of a
 * GET on a new connection for `durationMs`. Resolves every request once the load ends.
 */
export function httpLoad(prefix: readonly string[], host: string, port: number, durationMs: number, conc: number, timeoutMs = 2000): Promise<LoadRequest[]> {
  const fixture = new URL('./fixtures/http-load.mjs', import.meta.url).pathname;
  const argv = [...prefix, process.execPath, fixture, host, String(port), String(durationMs), String(conc), String(timeoutMs)];
  const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  const reqs: LoadRequest[] = [];
  createInterface({ input: p.stdout! }).on('line', (l) => {
    const m = /^([rf]) (\d+) (.*)$/.exec(l);
    if (m) reqs.push({ t: Number(m[2]), ok: m[1] === 'r', what: m[3]! });
  });
  // Bounded: the fixture ends by itself; this is the backstop.
  const guard = setTimeout(() => p.kill('SIGKILL'), durationMs + timeoutMs + 10_000);
  return new Promise((resolve) => p.on('close', () => { clearTimeout(guard); resolve(reqs); }));
}

/** The longest span (ms) within [from, to] in which no request of `reqs` succeeded. */
export function longestGap(reqs: readonly LoadRequest[], from: number, to: number): number {
  let last = from, worst = 0;
  for (const r of reqs) {
    if (!r.ok || r.t < from || r.t > to) continue;
    worst = Math.max(worst, r.t - last);
    last = r.t;
  }
  return Math.max(worst, to - last);
}

/**
 * A lab suite's before and after: the lab up (mode, options) before its tests; after them, what
 * `cleanup` stops first (processes the tests started), the lab down, and a check that its
 * namespaces and every process (the lab's and `extraPids()`) are gone.
 */
/** Why a SYN-flood lab case cannot run here (root and hping3 needed), or false. */
export const floodSkip: string | false = process.getuid?.() !== 0 ? 'needs root (network namespaces, AF_PACKET, tc, BPF)'
  : !spawnSync('sh', ['-c', 'command -v hping3'], { encoding: 'utf8' }).stdout.trim() ? 'needs hping3 (scripts/setup.sh installs it)' : false;

/** The fixture that downloads at a set rate from a lab address and prints its progress. */
export const slowDownload = fileURLToPath(new URL('./fixtures/slow-download.mjs', import.meta.url));

/**
 * What slow-download.mjs printed: how it ended ("done" or why not), the bytes it received, and
 * its worst stall (the longest time between two progress lines that show more bytes), in ms.
 */
export function downloadOutcome(out: string): { end: string; bytes: number; worstStallMs: number } {
  const ended = /^end (\S+) (\d+) (\d+)$/m.exec(out);
  const pr = [...out.matchAll(/^at (\d+) (\d+)$/gm)].map((m) => [Number(m[1]), Number(m[2])] as const);
  let stall = 0;
  for (let i = 1, last = pr[0]?.[0] ?? 0; i < pr.length; i++) {
    if (pr[i]![1] > pr[i - 1]![1]) {
      stall = Math.max(stall, pr[i]![0] - last);
      last = pr[i]![0];
    }
  }
  return { end: ended?.[1] ?? 'none', bytes: Number(ended?.[3] ?? 0), worstStallMs: stall };
}

export function labSuite(prefix: string, mode: LabMode, opts: Omit<LabUpOptions, 'prefix'>, cleanup: { before?: () => Promise<void> | void; extraPids?: () => readonly number[] } = {}): void {
  let pids: number[] = [];
  before(async () => {
    pids = (await labUp(mode, { ...opts, prefix })).pids;
  });
  after(async () => {
    await cleanup.before?.();
    await labDown(prefix);
    assert.deepEqual(listNetns().filter((n) => n.startsWith(prefix)), []);
    for (const p of [...pids, ...(cleanup.extraPids?.() ?? [])]) assert.equal(alive(p), false, `pid ${p} stopped`);
  });
}
