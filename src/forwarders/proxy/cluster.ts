/**
 * Multi-core proxy: the daemon's main thread owns the one engine; N relay workers accept TCP
 * connections on shared listening sockets (the kernel spreads accepts) and relay bytes.
 * Workers are threads of the daemon process (worker_threads) when the raw libuv handles and
 * koffi are available: the main thread opens each listening socket and hands every worker its
 * own dup() of it, and messages travel over in-process MessagePorts (no pipe, no JSON, cheaper
 * context switches: this halved the proxy's CPU per new connection). Otherwise (or with
 * TSVS_PROXY_PROCS=1) they are cluster worker processes (SCHED_NONE) talking over IPC. Workers ask the primary for every scheduling decision and
 * report every synthesized packet over IPC, batched per event-loop turn, so lc/wlc/sed/nq and
 * the ActiveConn/InActConn columns see every worker's connections. UDP services are relayed by
 * the primary itself.
 *
 * IPC messages (JSON; flows are numbered by their worker; events are flat arrays):
 *   worker -> primary  {t:'ev', e: [...events]}  events: OPEN id af caddr cport vaddr vport bytes
 *                        | PKT id dir(0 in, 1 out) flags bytes pkts | CLOSED id
 *                      {t:'synced', id, failed}    {t:'ready'}
 *   primary -> worker  {t:'r', r: [id, addr|null, port, ...]} (answers to OPEN, sent as soon as the
 *                      batch is processed)   {t:'k', ids: number[]} (reset these flows)
 *                      {t:'sync', id, services, timeouts, proxyProtocol, connectTimeoutMs}
 */
import cluster from 'node:cluster';
import { createServer, type Server } from 'node:net';
import { createRequire } from 'node:module';
import { Worker as Thread } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { IpvsCommand, ServiceKey } from '../../core/types.ts';
import { EnginePort, type DataPath } from '../../daemon/engine-port.ts';
import type { Flow } from './flow.ts';
import { rawBindings } from './raw-relay.ts';
import { ProxyForwarder, proxyRefusal, type ForwarderLog, type ListenerStatus } from './forwarder.ts';
import type { ProxyProtocolVersion } from './proxy-protocol.ts';

/** Event codes of the worker -> primary stream. */
export const EV = { OPEN: 1, PKT: 2, CLOSED: 3 } as const;

export interface ClusterOptions {
  readonly workers: number;
  readonly proxyProtocol: ProxyProtocolVersion | null;
  readonly connectTimeoutMs: number;
  readonly log: ForwarderLog & { error(o: object, msg: string): void };
}

interface EngineWithTimeouts extends DataPath {
  timeouts(): { tcp: number; tcpfin: number; udp: number };
}

/** A relay worker as the primary talks to it: a cluster process or a thread. */
interface RelayWorker {
  send(m: object): void;
  kill(): void;
  once(ev: 'exit', fn: () => void): void;
  readonly id: number;
}

interface WorkerState {
  w: RelayWorker;
  /** Thread mode: services whose listening socket this worker was given a descriptor of. */
  sent: Set<string>;
  flows: Map<number, Flow>;
  ready: Promise<void>;
  alive: boolean;
}

export class ClusterForwarder {
  private readonly port: EnginePort;
  private readonly udp: ProxyForwarder;
  private readonly workers: WorkerState[] = [];
  private syncId = 0;
  private readonly pending = new Map<string, { left: number; failed: ListenerStatus[]; done: () => void }>();
  private lastServices: readonly ServiceKey[] = [];
  private closing = false;

  constructor(private readonly engine: EngineWithTimeouts, now: () => number, private readonly opts: ClusterOptions) {
    this.port = new EnginePort(engine, now);
    this.udp = new ProxyForwarder(this.port, { proxyProtocol: opts.proxyProtocol, connectTimeoutMs: opts.connectTimeoutMs, timeouts: () => engine.timeouts(), log: opts.log });
    this.fds = process.env['TSVS_PROXY_PROCS'] === '1' ? null : fdTools();
    if (!this.fds) {
      cluster.schedulingPolicy = cluster.SCHED_NONE;
      cluster.setupPrimary({ exec: fileURLToPath(new URL('./worker-entry.mjs', import.meta.url)), args: [], silent: false, serialization: 'advanced' });
    }
    for (let i = 0; i < opts.workers; i++) this.fork();
  }

  /** Thread mode: dup()/close() of listening sockets (null: process mode). */
  private readonly fds: FdTools | null;
  /** Thread mode: one listening socket per TCP service (an fd no libuv handle polls), by lkey. */
  private readonly sockets = new Map<string, { fd: number; error?: string }>();

  get mode(): 'threads' | 'processes' {
    return this.fds ? 'threads' : 'processes';
  }

  private spawn(onMessage: (m: WorkerMsg) => void, onExit: (code: number | null, signal: string | null) => void): RelayWorker {
    if (this.fds) {
      const t = new Thread(new URL('./worker-entry.mjs', import.meta.url), { workerData: { tsvsRelay: true }, stdout: false, stderr: false });
      t.on('message', onMessage);
      t.on('error', (e) => this.opts.log.error({ err: e.message }, 'relay thread failed'));
      t.on('exit', (code) => onExit(code, null));
      return { send: (m) => t.postMessage(m), kill: () => void t.terminate(), once: (ev, fn) => t.once(ev, fn), id: t.threadId };
    }
    const w = cluster.fork({ TSVS_WORKER: '1' });
    w.on('message', onMessage);
    w.on('exit', (code, signal) => onExit(code, signal));
    return { send: (m) => w.send(m), kill: () => w.process.kill('SIGKILL'), once: (ev, fn) => w.once(ev, fn), id: w.process.pid ?? 0 };
  }

  private fork(): WorkerState {
    let resolveReady!: () => void;
    // eslint-disable-next-line prefer-const
    let st: WorkerState;
    const w = this.spawn((m) => {
      if (m.t === 'ev') this.port.batch(() => this.onEvents(st, m.e!));
      else if (m.t === 'ready') resolveReady();
      else if (m.t === 'synced') {
        const p = this.pending.get(m.id!);
        if (p) {
          p.failed.push(...(m.failed ?? []));
          if (--p.left === 0) p.done();
        }
      }
    }, (code, signal) => {
      st.alive = false;
      // Flows of a dead worker: their sockets are gone; tell the engine they were reset.
      for (const f of st.flows.values()) this.port.packet(f, 'in', 4, 40, 1);
      st.flows.clear();
      const i = this.workers.indexOf(st);
      if (i >= 0) this.workers.splice(i, 1);
      for (const p of this.pending.values()) if (--p.left === 0) p.done();
      if (!this.closing) {
        this.opts.log.error({ worker: w.id, code, signal }, 'relay worker died; starting another');
        const n = this.fork();
        void n.ready.then(() => this.sendSync(n, String(++this.syncId)));
      }
    });
    st = { w, sent: new Set(), flows: new Map(), ready: new Promise((r) => (resolveReady = r)), alive: true };
    this.workers.push(st);
    return st;
  }

  private onEvents(st: WorkerState, e: (number | string)[]): void {
    const r: (number | string | null)[] = [];
    const k: number[] = [];
    for (let i = 0; i < e.length;) {
      const op = e[i]!;
      if (op === EV.OPEN) {
        const id = e[i + 1] as number;
        const f: Flow = { af: e[i + 2] as 4 | 6, protocol: 'tcp', caddr: e[i + 3] as string, cport: e[i + 4] as number, vaddr: e[i + 5] as string, vport: e[i + 6] as number };
        st.flows.set(id, f);
        const t = this.port.open(f, e[i + 7] as number);
        r.push(id, t ? t.addr : null, t ? t.port : 0);
        i += 8;
      } else if (op === EV.PKT) {
        const id = e[i + 1] as number;
        const f = st.flows.get(id);
        if (f && !this.port.packet(f, e[i + 2] === 0 ? 'in' : 'out', e[i + 3] as number, e[i + 4] as number, e[i + 5] as number)) k.push(id);
        i += 6;
      } else if (op === EV.CLOSED) {
        st.flows.delete(e[i + 1] as number);
        i += 2;
      } else break;
    }
    if (!st.alive) return;
    if (r.length) st.w.send({ t: 'r', r });
    if (k.length) st.w.send({ t: 'k', ids: k });
  }

  refusal(cmd: IpvsCommand): string | null {
    return proxyRefusal(cmd);
  }

  private sendSync(st: WorkerState, id: string): void {
    const services = this.lastServices.filter((s) => s.protocol === 'tcp' && s.fwmark === 0);
    let fds: Record<string, number> | undefined;
    if (this.fds) {
      // Every worker gets its own descriptor of each listening socket (closing it is its own business).
      fds = {};
      const keys = new Set<string>();
      for (const s of services) {
        const k = lkey(s);
        const sock = this.sockets.get(k);
        if (!sock || sock.fd < 0) continue;
        keys.add(k);
        if (st.sent.has(k)) continue;
        const d = this.fds.dup(sock.fd);
        if (d >= 0) {
          fds[k] = d;
          st.sent.add(k);
        }
      }
      for (const k of st.sent) if (!keys.has(k)) st.sent.delete(k);
    }
    st.w.send({ t: 'sync', id, services, fds, timeouts: this.engine.timeouts(), proxyProtocol: this.opts.proxyProtocol, connectTimeoutMs: this.opts.connectTimeoutMs });
  }

  /** Thread mode: opens the listening sockets of new TCP services, closes those of removed ones. */
  private async syncSockets(services: readonly ServiceKey[]): Promise<ListenerStatus[]> {
    const fds = this.fds!;
    const want = new Map(services.filter((s) => s.protocol === 'tcp' && s.fwmark === 0).map((s) => [lkey(s), s]));
    for (const [k, sock] of this.sockets) {
      if (!want.has(k) || sock.fd < 0) {
        if (sock.fd >= 0) fds.close(sock.fd);
        this.sockets.delete(k);
        for (const w of this.workers) w.sent.delete(k);
      }
    }
    const failed: ListenerStatus[] = [];
    for (const [k, s] of want) {
      if (this.sockets.has(k)) continue;
      try {
        const fd = await listenFd(s, fds);
        this.sockets.set(k, { fd });
      } catch (e) {
        const error = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
        this.sockets.set(k, { fd: -1, error });
        this.opts.log.warn({ protocol: 'tcp', addr: s.addr, port: s.port, err: (e as Error).message }, 'cannot listen for virtual service');
      }
    }
    for (const [k, sock] of this.sockets) {
      const s = want.get(k)!;
      if (sock.fd < 0) failed.push({ protocol: 'tcp', addr: s.addr, port: s.port, state: 'failed', error: sock.error! });
    }
    return failed;
  }

  async sync(services: readonly ServiceKey[]): Promise<ListenerStatus[]> {
    this.lastServices = services.map((s) => ({ af: s.af, fwmark: s.fwmark, protocol: s.protocol, addr: s.addr, port: s.port }));
    await Promise.all(this.workers.map((w) => w.ready));
    const id = String(++this.syncId);
    const failed: ListenerStatus[] = this.fds ? await this.syncSockets(this.lastServices) : [];
    const done = new Promise<void>((resolve) => {
      this.pending.set(id, { left: this.workers.length, failed, done: resolve });
      if (this.workers.length === 0) resolve();
    });
    for (const w of this.workers) this.sendSync(w, id);
    const udpFailed = await this.udp.sync(this.lastServices.filter((s) => s.protocol === 'udp'));
    await done;
    this.pending.delete(id);
    // One entry per listener, even when every worker reported it.
    const seen = new Set<string>();
    return [...failed, ...udpFailed].filter((f) => {
      const k = `${f.protocol} ${f.addr} ${f.port}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
  }

  status(): unknown {
    const tcp = this.lastServices.filter((s) => s.protocol === 'tcp' && s.fwmark === 0).map((s) => ({ protocol: 'tcp', addr: s.addr, port: s.port, state: 'listening', workers: this.workers.length }));
    return [...tcp, ...(this.udp.status() as object[])];
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.udp.close();
    await Promise.all(this.workers.map((st) => new Promise<void>((resolve) => {
      if (!st.alive) return resolve();
      const t = setTimeout(() => { st.w.kill(); resolve(); }, 2000);
      st.w.once('exit', () => { clearTimeout(t); resolve(); });
      st.w.send({ t: 'stop' });
    })));
    if (this.fds) for (const sock of this.sockets.values()) if (sock.fd >= 0) this.fds.close(sock.fd);
    this.sockets.clear();
  }
}

type WorkerMsg = { t: string; e?: (number | string)[]; id?: string; failed?: ListenerStatus[] };

function lkey(k: ServiceKey): string {
  return `${k.protocol} ${k.addr} ${k.port}`;
}

interface FdTools {
  dup(fd: number): number;
  close(fd: number): number;
}

/** dup()/close() through koffi, or null when koffi or the raw relay bindings are missing. */
function fdTools(): FdTools | null {
  if (!rawBindings()) return null;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as { load(n: string): { func(sig: string): (...a: number[]) => number } };
    const libc = koffi.load('libc.so.6');
    const dup = libc.func('int dup(int)'), close = libc.func('int close(int)');
    return { dup: (fd) => dup(fd), close: (fd) => close(fd) };
  } catch {
    return null;
  }
}

/**
 * Opens a listening socket for a service and returns a descriptor of it that no event loop
 * polls: a net.Server listens (same errors as before: EADDRINUSE, EADDRNOTAVAIL...), its fd is
 * duplicated and the server closed again before this loop could accept anything on it.
 */
async function listenFd(s: ServiceKey, fds: FdTools): Promise<number> {
  const srv: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen({ host: s.addr, port: s.port, ipv6Only: s.af === 6, backlog: 4096 }, () => {
      srv.off('error', reject);
      resolve();
    });
  });
  const fd = (srv as unknown as { _handle: { fd: number } })._handle.fd;
  const d = fd >= 0 ? fds.dup(fd) : -1;
  srv.close();
  if (d < 0) throw new Error('cannot duplicate the listening socket');
  return d;
}
