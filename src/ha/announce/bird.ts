/**
 * The BGP announcer, driving BIRD 2 (Debian's `bird2`; docs/SCALE-OUT.md says why BIRD). tsvs
 * speaks no BGP itself: it writes a BIRD configuration whose static protocols hold the prefixes
 * to announce, and asks BIRD to re-read it (`configure`, over BIRD's control socket, the protocol
 * `birdc` speaks); BIRD exports those routes to every peer with its own address as next hop.
 *
 * BIRD runs as the daemon's child (`bird -f`), started through `setpriv --pdeathsig KILL`: when
 * the daemon dies, even by SIGKILL, the kernel kills BIRD, whose TCP sessions then close and the
 * routers withdraw this director's routes at once. A hung machine (no FIN, no RST) is left to
 * the BGP hold timer (`--bgp-hold`). BIRD exiting on its own is restarted (with the current
 * prefixes, which are in the file) after a pause.
 *
 * Pure parts (tested without BIRD): renderBirdConfig, parseBirdReply, parseProtocols.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { existsSync, rmSync } from 'node:fs';
import { parsePrefix } from './controller.ts';

/** What BIRD is told (from the daemon's --bgp-* options). */
export interface BgpSettings {
  readonly localAs: number;
  /** Neighbour addresses (IPv4 peers carry the IPv4 prefixes, IPv6 peers the IPv6 ones). */
  readonly peers: readonly string[];
  readonly peerAs: number;
  /** BGP router id (an IPv4 address). */
  readonly routerId: string;
  /** Hold time proposed to peers (s, >= 3); keepalives every third of it. */
  readonly holdSeconds: number;
}

/** BIRD protocol name of the n-th peer (1-based). */
export const peerName = (n: number): string => `tsvs_peer${n}`;

/**
 * BIRD's configuration for `s`, announcing `prefixes` (canonical "addr/len"). Static routes are
 * blackholes: they exist only to be exported (this BIRD has no kernel protocol and never touches
 * the director's routing table). Graceful restart is off: a router must not keep a dead
 * director's routes as stale ones.
 */
export function renderBirdConfig(s: BgpSettings, prefixes: readonly string[]): string {
  const v4 = prefixes.filter((p) => !p.includes(':')), v6 = prefixes.filter((p) => p.includes(':'));
  const keepalive = Math.max(1, Math.floor(s.holdSeconds / 3));
  const lines = [
    '# Written by tsvs daemon (--bgp bird); rewritten on every change: do not edit.',
    `router id ${s.routerId};`,
    'log stderr all;',
    'timeformat protocol iso long;',
    'protocol device {}',
    `protocol static tsvs_vip4 { ipv4; ${v4.map((p) => `route ${p} blackhole; `).join('')}}`,
    `protocol static tsvs_vip6 { ipv6; ${v6.map((p) => `route ${p} blackhole; `).join('')}}`,
  ];
  s.peers.forEach((addr, i) => {
    const six = addr.includes(':');
    lines.push(
      `protocol bgp ${peerName(i + 1)} {`,
      `  local as ${s.localAs};`,
      `  neighbor ${addr} as ${s.peerAs};`,
      `  hold time ${s.holdSeconds};`,
      `  keepalive time ${keepalive};`,
      '  connect delay time 1;',
      '  connect retry time 2;',
      '  error wait time 1, 10;',
      '  graceful restart off;',
      `  ${six ? 'ipv6' : 'ipv4'} { import none; export where proto = "${six ? 'tsvs_vip6' : 'tsvs_vip4'}"; next hop self; };`,
      '}',
    );
  });
  return lines.join('\n') + '\n';
}

/** One reply of BIRD's control socket: its lines (code, text) and whether it ended well. */
export interface BirdReply {
  readonly ok: boolean;
  readonly lines: readonly { readonly code: number; readonly text: string }[];
}

/**
 * Splits BIRD's control socket output into complete replies. A line is "DDDD-text" (more follows),
 * "DDDD text" (the reply's last line) or " text" (continues the previous code). Codes 8xxx and
 * 9xxx are errors (birdc's client.c reads the same way).
 */
export function parseBirdReply(buf: string): { replies: BirdReply[]; rest: string } {
  const replies: BirdReply[] = [];
  let lines: { code: number; text: string }[] = [];
  let code = 0;
  let at = 0;
  /** Where the reply being read began (an unfinished one stays in the buffer whole). */
  let start = 0;
  for (;;) {
    const nl = buf.indexOf('\n', at);
    if (nl < 0) break;
    const line = buf.slice(at, nl);
    at = nl + 1;
    const m = /^(\d{4})([ -])(.*)$/.exec(line);
    if (m) {
      code = Number(m[1]);
      lines.push({ code, text: m[3]! });
      if (m[2] === ' ') {
        replies.push({ ok: !lines.some((l) => l.code >= 8000), lines });
        lines = [];
        start = at;
      }
    } else lines.push({ code, text: line.startsWith(' ') || line.startsWith('+') ? line.slice(1) : line });
  }
  return { replies, rest: buf.slice(start) };
}

export interface PeerStatus {
  readonly name: string;
  readonly address: string;
  /** BIRD's protocol state ("up", "start", "down") and BGP state ("Established", "Active", ...). */
  readonly state: string;
  readonly bgpState: string;
  readonly since: string;
  readonly info: string;
}

/**
 * The BGP rows of `show protocols` ("tsvs_peer1 BGP --- up 05:58:43.034 Established"), with
 * each peer's address (from the settings, by name).
 */
export function parseProtocols(reply: BirdReply, peers: readonly string[]): PeerStatus[] {
  const out: PeerStatus[] = [];
  for (const l of reply.lines) {
    // "tsvs_peer1 BGP --- up 2026-12-07 05:58:43 Established" (timeformat protocol iso long)
    const m = /^(\S+)\s+BGP\s+\S+\s+(\S+)\s+(\S+ \S+)\s*(\S*)\s*(.*)$/.exec(l.text.trim());
    if (!m) continue;
    const n = /^tsvs_peer(\d+)$/.exec(m[1]!);
    if (!n) continue;
    out.push({ name: m[1]!, address: peers[Number(n[1]) - 1] ?? '?', state: m[2]!, since: m[3]!, bgpState: m[4] ?? '', info: (m[5] ?? '').trim() });
  }
  return out;
}

/** The source address this machine reaches `peer` from (`ip route get`): the default router id. */
export function sourceAddressTo(peer: string): string | null {
  const r = spawnSync('ip', ['-j', 'route', 'get', peer], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  try {
    const j = JSON.parse(r.stdout) as { prefsrc?: string }[];
    return j[0]?.prefsrc ?? null;
  } catch {
    return null;
  }
}

/** Sends one command to BIRD's control socket; resolves with its reply (rejects on timeout or socket errors). */
export function birdCommand(socketPath: string, command: string, timeoutMs = 5000): Promise<BirdReply> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    let buf = '';
    let greeted = false;
    let done = false;
    const finish = (e: Error | null, r?: BirdReply): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (e) reject(e);
      else resolve(r!);
    };
    const timer = setTimeout(() => finish(new Error(`BIRD did not answer '${command}' within ${timeoutMs} ms`)), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buf += d;
      const { replies, rest } = parseBirdReply(buf);
      buf = rest;
      for (const r of replies) {
        if (!greeted) {
          // "0001 BIRD 2.0.12 ready."
          greeted = true;
          sock.write(command + '\n');
          continue;
        }
        finish(null, r);
        return;
      }
    });
    sock.on('error', (e) => finish(e));
    sock.on('close', () => finish(new Error(`BIRD closed its control socket before answering '${command}'`)));
  });
}

export interface BirdLog {
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
  error(o: object, m: string): void;
}

export interface BirdAnnouncerOptions {
  readonly settings: BgpSettings;
  /** Where BIRD's configuration and control socket go (`<base>.conf`, `<base>.ctl`). */
  readonly base: string;
  /** The command that runs BIRD (default ['bird']). */
  readonly command?: readonly string[];
  readonly log: BirdLog;
  /** Writes a file atomically (the daemon's state.ts atomicWrite). */
  readonly write: (path: string, text: string) => void;
}

/** Pause before BIRD is started again after it exited on its own (ms). */
export const BIRD_RESTART_MS = 1000;

export class BirdAnnouncer {
  readonly confPath: string;
  readonly ctlPath: string;
  private child: ChildProcess | null = null;
  private stopping = false;
  private prefixes: readonly string[] = [];
  /** The last set() asked for (prefixes is what the file says once it ran). */
  private requested: readonly string[] = [];
  /** What BIRD last confirmed it runs (null: not known, e.g. BIRD restarting). */
  private applied: readonly string[] | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private restartTimer: NodeJS.Timeout | null = null;
  private starts = 0;
  private lastError: string | null = null;
  /** Resolves when the running child's control socket answered. */
  private ready: Promise<void> = Promise.resolve();

  constructor(private readonly o: BirdAnnouncerOptions) {
    this.confPath = `${o.base}.conf`;
    this.ctlPath = `${o.base}.ctl`;
    for (const p of o.settings.peers) if (!parsePrefix(p)) throw new Error(`--bgp-peer ${p} is not an address`);
  }

  /** Writes the configuration (nothing announced yet) and starts BIRD; resolves once it answers. */
  async start(): Promise<void> {
    this.o.write(this.confPath, renderBirdConfig(this.o.settings, this.prefixes));
    const check = spawnSync(this.command()[0]!, [...this.command().slice(1), '-p', '-c', this.confPath], { encoding: 'utf8' });
    if (check.error) throw new Error(`cannot run ${this.command().join(' ')}: ${check.error.message} (install Debian's bird2)`);
    if (check.status !== 0) throw new Error(`BIRD refuses the generated configuration ${this.confPath}: ${(check.stderr || check.stdout).trim()}`);
    this.spawnBird();
    await this.ready;
  }

  private command(): readonly string[] {
    return this.o.command ?? ['bird'];
  }

  private spawnBird(): void {
    rmSync(this.ctlPath, { force: true });
    const argv = ['--pdeathsig', 'KILL', ...this.command(), '-f', '-c', this.confPath, '-s', this.ctlPath];
    const child = spawn('setpriv', argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.starts++;
    this.applied = null;
    let tail = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      tail += d;
      let nl: number;
      while ((nl = tail.indexOf('\n')) >= 0) {
        const line = tail.slice(0, nl);
        tail = tail.slice(nl + 1);
        if (line.trim() !== '') (/<(ERR|WARN|BUG|FATAL)>/.test(line) ? this.o.log.warn : this.o.log.info).call(this.o.log, { bird: line }, 'bird');
      }
    });
    child.on('error', (e) => this.o.log.error({ err: e.message }, 'cannot start BIRD (setpriv from util-linux, bird from bird2)'));
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = null;
      this.applied = null;
      if (this.stopping) return;
      this.lastError = `BIRD exited (${signal ?? `code ${code}`})`;
      this.o.log.error({ code, signal, restartInMs: BIRD_RESTART_MS }, 'BIRD exited; starting it again (its routes were withdrawn when its sessions closed)');
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        if (this.stopping) return;
        this.o.write(this.confPath, renderBirdConfig(this.o.settings, this.prefixes));
        this.spawnBird();
      }, BIRD_RESTART_MS);
    });
    this.ready = this.waitReady(child);
  }

  private async waitReady(child: ChildProcess): Promise<void> {
    const until = Date.now() + 10_000;
    while (Date.now() < until && this.child === child) {
      if (existsSync(this.ctlPath)) {
        try {
          await birdCommand(this.ctlPath, 'show status', 1000);
          this.applied = this.prefixes;
          this.lastError = null;
          return;
        } catch { /* not listening yet */ }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (this.child === child) throw new Error(`BIRD did not open its control socket ${this.ctlPath} within 10 s`);
  }

  /** Announces exactly `prefixes` (canonical "addr/len"), withdrawing the others. Calls run one at a time. */
  set(prefixes: readonly string[]): Promise<void> {
    const want = [...prefixes].sort();
    this.requested = want;
    const p = this.chain.then(() => this.apply(want));
    this.chain = p.catch(() => {});
    return p;
  }

  private async apply(prefixes: readonly string[]): Promise<void> {
    this.prefixes = prefixes;
    this.o.write(this.confPath, renderBirdConfig(this.o.settings, prefixes));
    // BIRD not running (restarting): it reads the file when it starts.
    if (!this.child) return;
    await this.ready.catch(() => {});
    try {
      const r = await birdCommand(this.ctlPath, 'configure');
      if (!r.ok) throw new Error(r.lines.map((l) => l.text).join('; '));
      this.applied = prefixes;
      this.lastError = null;
      this.o.log.info({ announce: prefixes }, 'BGP announcement changed');
    } catch (e) {
      this.lastError = (e as Error).message;
      this.o.log.error({ err: this.lastError, announce: prefixes }, 'BIRD did not take the new announcement');
      throw e;
    }
  }

  /** BIRD's state and its peers' sessions (as `show protocols` says). */
  async status(): Promise<{ running: boolean; pid: number | null; starts: number; announced: readonly string[] | null; wanted: readonly string[]; peers: PeerStatus[]; error: string | null }> {
    let peers: PeerStatus[] = [];
    let error = this.lastError;
    if (this.child) {
      try {
        peers = parseProtocols(await birdCommand(this.ctlPath, 'show protocols', 2000), this.o.settings.peers);
      } catch (e) {
        error = (e as Error).message;
      }
    }
    return { running: this.child !== null, pid: this.child?.pid ?? null, starts: this.starts, announced: this.applied, wanted: this.prefixes, peers, error };
  }

  /**
   * Withdraws everything, waits `graceMs` (routers move the flows while this director still
   * forwards what is in flight), then stops BIRD (SIGTERM: it closes its sessions with a
   * notification).
   */
  async stop(graceMs: number): Promise<void> {
    if (this.child && (this.requested.length > 0 || this.prefixes.length > 0)) {
      if (this.requested.length > 0) void this.set([]).catch(() => {});
      await this.chain;
      await new Promise((r) => setTimeout(r, graceMs));
    }
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
      child.once('exit', () => { clearTimeout(kill); resolve(); });
      child.kill('SIGTERM');
    });
    rmSync(this.ctlPath, { force: true });
  }
}
