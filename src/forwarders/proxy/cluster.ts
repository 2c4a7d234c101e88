/**
 * Multi-core proxy: the daemon's main thread owns the one engine; N relay workers accept TCP
 * connections on shared listening sockets (the kernel spreads accepts) and relay bytes.
 * Workers are threads of the daemon process (worker_threads): the main thread opens one listening
 * socket per service and hands each worker its own descriptor of it (one accept queue for all,
 * EPOLLEXCLUSIVE: no thundering herd; SHARED_ACCEPT below); messages travel over in-process
 * MessagePorts (no pipe, no JSON, cheaper context switches: this halved the proxy's CPU per new
 * connection). With the workerMode option 'processes', or the net relay, they are cluster worker
 * processes (SCHED_NONE, relaying on net.Socket) talking over IPC. Workers get their options
 * (relay kind, speculative I/O, log level) in workerData (threads) or argv (processes). Workers
 * ask the primary for every scheduling decision and
 * report every synthesized packet over IPC, batched per event-loop turn, so lc/wlc/sed/nq and
 * the ActiveConn/InActConn columns see every worker's connections. UDP services are relayed by
 * the primary itself.
 *
 * Decisions ahead (thread mode; the services src/dataplane/ahead.ts admits: rr and wrr without
 * persistence or thresholds): per TCP service one ring in a SharedArrayBuffer shared by all workers
 * (ahead-ring.ts), which the primary keeps filled with destinations the engine chose in its rr/wrr
 * order. A worker connects a new client to the next one at once and reports the flow as
 * OPEN_AHEAD with its token, lazily with its packet reports (within LAZY_MS); the engine binds
 * the connection to that destination (no round trip before the connect). One sequence for all workers, taken in arrival order: consecutive
 * connections alternate as with the kernel's one rr pointer. Refilled when half are taken (the
 * worker that finds it so asks: 'fill'), and after every batch of reports; a rule
 * change that touches the service drops what waits (those rr/wrr steps are skipped). When the ring
 * is empty a worker asks as before. The ahead option off turns it off.
 *
 * Messages (flows are numbered by their worker):
 *   worker -> primary  {t:'eb', b: ArrayBuffer, n}  a batch of events in binary (./event-batch.ts:
 *                        OPEN, OPEN_AHEAD, PKT, CLOSED; transferred between threads, copied over IPC)
 *                      {t:'fill'}  a decision ring is under half full (at most one per refill)
 *                      {t:'synced', id, failed}    {t:'ready'}
 *   primary -> worker  {t:'r', r: [id, addr|null, port, ...]} (answers to OPEN, sent as soon as the
 *                      batch is processed)   {t:'k', ids: number[]} (reset these flows)
 *                      (the sync message also carries rings: {lkey: SharedArrayBuffer})
 *                      {t:'sync', id, services, timeouts, proxyProtocol, connectTimeoutMs}
 */
import cluster from 'node:cluster';
import { entryExecArgv, entryFile, startThread } from '../../os/entries.ts';
import type { IpvsCommand, ServiceKey } from '../../core/types.ts';
import { serviceKeyString, serviceKeyText } from '../../core/service-key.ts';
import { EnginePort, type AheadDest, type ParsedFlow } from './engine-port.ts';
import type { Forwarder, ForwarderEngine } from '../../dataplane/forwarder.ts';
import { EV, EV_WORDS, batchWords, eventIp } from './event-batch.ts';
import type { Ip } from '../../core/addr.ts';
import { AheadRing, SLOTS, createAheadRing } from './ahead-ring.ts';
import { AheadRings, proxyEligible, type AheadStore } from '../../dataplane/ahead.ts';
import { DestTokens } from '../dest-tokens.ts';
import { listenSocket } from '../../os/epoll.ts';
import { sys } from '../../os/libc.ts';
import { ProxyForwarder, proxyRefusal, type ForwarderLog, type ListenerStatus, type RelayKind } from './forwarder.ts';
import type { ProxyOptions } from '../../dataplane/options.ts';
import { RELAY_ARG, type RelayWorkerInit } from './worker-init.ts';
import { admissionDrops, type Admission } from './admission.ts';

/*
 * sharedAccept (the default): one listening socket per service, its accept queue shared by every
 * worker (each watches its own descriptor of it with EPOLLEXCLUSIVE: one worker woken per
 * connection). Whoever is free takes the next connection; with one SO_REUSEPORT socket per worker
 * (sharedAccept off, the kernel hashing connections to queues) a busy worker's queue waits: p99 of
 * a new connection per request 8.1 vs 8.9 ms and 7.8 vs 8.7 ms in two A/B sessions
 * (bench/RESULTS.md).
 */

/** What the primary gives its relay workers besides the options. */
export interface ClusterDeps {
  readonly log: ForwarderLog & { error(o: object, msg: string): void };
  /** The daemon's log level: the workers log at the same. */
  readonly logLevel: string;
  /** Admission of new connections (./admission.ts): shared with relay threads; processes get maxconn's share. */
  readonly admission?: Admission;
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
  /** Thread mode: services whose listening socket this worker was given. */
  sent: Set<string>;
  /** Thread mode: sockets opened for this worker, not handed over yet. */
  opened: Map<string, number>;
  flows: Map<number, MutableParsedFlow>;
  ready: Promise<void>;
  alive: boolean;
  /** The TCP relay kind the worker reported. */
  relay?: RelayKind;
}

export class ClusterForwarder implements Forwarder {
  private readonly port: EnginePort;
  private readonly udp: ProxyForwarder;
  private readonly workers: WorkerState[] = [];
  private syncId = 0;
  private readonly pending = new Map<string, { left: number; failed: ListenerStatus[]; done: () => void }>();
  private lastServices: readonly ServiceKey[] = [];
  private closing = false;

  private readonly init: RelayWorkerInit;

  constructor(private readonly engine: ForwarderEngine, now: () => number, private readonly opts: ProxyOptions, private readonly deps: ClusterDeps) {
    this.port = new EnginePort(engine, now);
    this.udp = new ProxyForwarder(this.port, { ...opts, timeouts: () => engine.timeouts(), log: deps.log });
    // The net relay listens itself: it cannot take over the descriptors the thread mode hands out.
    this.fds = opts.workerMode === 'processes' || opts.relay === 'net' ? null : fdTools();
    this.init = {
      relay: opts.relay, speculate: opts.speculate, logLevel: deps.logLevel,
      ...(deps.admission ? (this.fds ? { admission: deps.admission.sab } : { maxconn: Math.ceil(opts.maxconn / Math.max(1, opts.workers)) }) : {}),
    };
    if (!this.fds) {
      cluster.schedulingPolicy = cluster.SCHED_NONE;
      cluster.setupPrimary({ exec: entryFile('proxyWorker'), execArgv: [...process.execArgv, ...entryExecArgv()], args: [RELAY_ARG, JSON.stringify(this.init)], silent: false, serialization: 'advanced' });
    }
    this.rings = this.fds && opts.ahead ? new AheadRings(this.ringStore(), engine, proxyEligible) : null;
    for (let i = 0; i < opts.workers; i++) this.fork();
  }

  /** The relay workers' rings (./ahead-ring.ts) as the decisions-ahead policy drives them. */
  private ringStore(): AheadStore<AheadRing> {
    return {
      capacity: SLOTS,
      open: () => new AheadRing(createAheadRing()),
      waiting: (r) => r.waiting(),
      push: (r, dest, key) => r.push(this.aheadTokens.token(dest), dest.af, dest.ip.words, dest.port || key.port),
      drop: (r) => void r.drop(),
      close: () => {},
      refilling: (r) => r.refilling(),
    };
  }

  /** Thread mode: listening sockets through koffi (null: process mode). */
  private readonly fds: FdTools | null;
  /** Thread mode: TCP services with their listening state (error when the first socket failed), by lkey. */
  private readonly sockets = new Map<string, { error?: string }>();

  get mode(): 'threads' | 'processes' {
    return this.fds ? 'threads' : 'processes';
  }

  private spawn(onMessage: (m: WorkerMsg) => void, onExit: (code: number | null, signal: string | null) => void): RelayWorker {
    if (this.fds) {
      const t = startThread('proxyWorker', { workerData: { tsvsRelay: this.init }, stdout: false, stderr: false });
      t.on('message', onMessage);
      t.on('error', (e) => this.deps.log.error({ err: e.message }, 'relay thread failed'));
      t.on('exit', (code) => onExit(code, null));
      return { send: (m) => t.postMessage(m), kill: () => void t.terminate(), once: (ev, fn) => t.once(ev, fn), id: t.threadId };
    }
    const w = cluster.fork();
    w.on('message', onMessage);
    w.on('exit', (code, signal) => onExit(code, signal));
    return { send: (m) => w.send(m), kill: () => w.process.kill('SIGKILL'), once: (ev, fn) => w.once(ev, fn), id: w.process.pid ?? 0 };
  }

  private fork(): WorkerState {
    let resolveReady!: () => void;
    // eslint-disable-next-line prefer-const
    let st: WorkerState;
    const w = this.spawn((m) => {
      if (m.t === 'eb') this.port.batch(() => this.onEvents(st, batchWords(m.b!, m.n!)));
      else if (m.t === 'fill') this.refill();
      else if (m.t === 'ready') resolveReady();
      else if (m.t === 'synced') {
        if (m.relay) st.relay = m.relay;
        const p = this.pending.get(m.id!);
        if (p) {
          p.failed.push(...(m.failed ?? []));
          if (--p.left === 0) p.done();
        }
      }
    }, (code, signal) => {
      st.alive = false;
      // Flows of a dead worker: their sockets are gone; tell the engine they were reset.
      for (const f of st.flows.values()) this.port.packetParsed(f, 'in', 4, 40, 1);
      st.flows.clear();
      if (this.fds) for (const fd of st.opened.values()) this.fds.close(fd);
      st.opened.clear();
      const i = this.workers.indexOf(st);
      if (i >= 0) this.workers.splice(i, 1);
      for (const p of this.pending.values()) if (--p.left === 0) p.done();
      if (!this.closing) {
        this.deps.log.error({ worker: w.id, code, signal }, 'relay worker died; starting another');
        const n = this.fork();
        void n.ready.then(() => this.sendSync(n, String(++this.syncId)));
      }
    });
    st = { w, sent: new Set(), opened: new Map(), flows: new Map(), ready: new Promise((r) => (resolveReady = r)), alive: true };
    this.workers.push(st);
    return st;
  }

  private onEvents(st: WorkerState, e: Float64Array): void {
    const r: (number | string | null)[] = [];
    const k: number[] = [];
    for (let i = 0; i < e.length;) {
      const op = e[i]!;
      // An unknown code or a cut event ends the batch.
      const len: number = EV_WORDS[op as 1 | 2 | 3 | 4] ?? 0;
      if (len === 0 || i + len > e.length) break;
      if (op === EV.OPEN || op === EV.OPEN_AHEAD) {
        const id = e[i + 1]!, af = e[i + 2] === 6 ? 6 : 4, bytes = e[i + 13]!;
        const f = this.flowRecord(af, eventIp(e, i + 3, af), e[i + 7]!, eventIp(e, i + 8, af), e[i + 12]!);
        st.flows.set(id, f);
        if (op === EV.OPEN) {
          const t = this.port.openParsed(f, bytes);
          r.push(id, t ? t.addr : null, t ? t.port : 0);
          this.decisions.asked++;
        } else {
          const a = this.aheadTokens.dest(e[i + 14]!);
          this.decisions.ahead++;
          // The worker connected to `a` already: a different answer (the destination was removed
          // meanwhile) resets the flow.
          const t = a ? this.port.openParsed(f, bytes, a) : null;
          if (!t || t.addr !== a!.addr || t.port !== (a!.port || f.vport)) k.push(id);
        }
      } else if (op === EV.PKT) {
        const id = e[i + 1]!;
        const f = st.flows.get(id);
        if (f && !this.port.packetParsed(f, e[i + 2] === 0 ? 'in' : 'out', e[i + 3]!, e[i + 4]!, e[i + 5]!)) k.push(id);
      } else {
        // CLOSED
        const f = st.flows.get(e[i + 1]!);
        if (f) {
          st.flows.delete(e[i + 1]!);
          if (this.spare.length < 4096) this.spare.push(f);
        }
      }
      i += len;
    }
    if (!st.alive) return;
    if (r.length) st.w.send({ t: 'r', r });
    if (k.length) st.w.send({ t: 'k', ids: k });
    this.refill();
  }

  /**
   * Records of closed flows, reused for new ones: at 10k connections/s one record each was most
   * of what the primary allocated (and garbage collection on this thread takes CPU from the relays).
   */
  private readonly spare: MutableParsedFlow[] = [];
  private flowRecord(af: 4 | 6, c: Ip, cport: number, v: Ip, vport: number): MutableParsedFlow {
    const f = this.spare.pop();
    if (!f) return { af, protocol: 'tcp', c, cport, v, vport, d: null, dport: 0 };
    f.af = af; f.c = c; f.cport = cport; f.v = v; f.vport = vport; f.d = null; f.dport = 0;
    return f;
  }

  /** Destinations handed out ahead, by token. */
  private readonly aheadTokens = new DestTokens<AheadDest>();

  /** New connections decided ahead (taken from a ring) and asked for (a round trip). */
  private readonly decisions = { ahead: 0, asked: 0 };

  /**
   * Thread mode: the decision rings of the TCP services the policy admits (src/dataplane/ahead.ts),
   * by serviceKeyString; null without decisions ahead (process mode, or the proxy-ahead option off).
   */
  private readonly rings: AheadRings<AheadRing> | null;

  /** Tops up every ring under half full with the engine's next rr/wrr choices. */
  private refill(): void {
    this.rings?.refill();
  }

  refusal(cmd: IpvsCommand): string | null {
    return proxyRefusal(cmd);
  }

  private sendSync(st: WorkerState, id: string): void {
    const services = this.lastServices.filter((s) => s.protocol === 'tcp' && s.fwmark === 0);
    let fds: Record<string, number> | undefined;
    if (this.fds) {
      // Every worker listens on its own SO_REUSEPORT socket of each service (closing it is its own business).
      fds = {};
      const keys = new Set<string>();
      for (const s of services) {
        const k = lkey(s);
        const sock = this.sockets.get(k);
        if (!sock || sock.error !== undefined) continue;
        keys.add(k);
        if (st.sent.has(k)) continue;
        let fd = st.opened.get(k);
        st.opened.delete(k);
        if (fd === undefined) {
          try {
            fd = this.fds.listen(s);
          } catch (e) {
            this.deps.log.warn({ protocol: 'tcp', addr: s.addr, port: s.port, err: (e as Error).message }, 'relay worker cannot listen for virtual service');
            continue;
          }
        }
        fds[k] = fd;
        st.sent.add(k);
      }
      for (const k of st.sent) if (!keys.has(k)) st.sent.delete(k);
      for (const [k, fd] of st.opened) {
        if (!keys.has(k)) {
          this.fds.close(fd);
          st.opened.delete(k);
        }
      }
    }
    const rings = this.rings ? Object.fromEntries([...this.rings.entries()].map(([k, r]) => [k, r.sab])) : undefined;
    st.w.send({ t: 'sync', id, services, fds, rings, timeouts: this.engine.timeouts(), proxyProtocol: this.opts.proxyProtocol, connectTimeoutMs: this.opts.connectTimeoutMs });
  }

  /**
   * Thread mode: opens the listening sockets of new TCP services, one per worker (the first
   * failure, e.g. EADDRINUSE, marks the service failed); forgets removed ones (workers close theirs).
   */
  private syncSockets(services: readonly ServiceKey[]): ListenerStatus[] {
    const fds = this.fds!;
    const want = new Map(services.filter((s) => s.protocol === 'tcp' && s.fwmark === 0).map((s) => [lkey(s), s]));
    for (const [k, sock] of this.sockets) {
      if (!want.has(k) || sock.error !== undefined) {
        this.sockets.delete(k);
        for (const w of this.workers) w.sent.delete(k);
      }
    }
    const failed: ListenerStatus[] = [];
    for (const [k, s] of want) {
      if (this.sockets.has(k)) continue;
      const opened: [WorkerState, number][] = [];
      try {
        if (this.opts.sharedAccept) {
          // One accept queue for every worker: each gets its own descriptor of the same socket.
          const first = fds.listen(s);
          this.workers.forEach((w, i) => opened.push([w, i === 0 ? first : (sys.dup(first) as number)]));
        } else for (const w of this.workers) opened.push([w, fds.listen(s)]);
        for (const [w, fd] of opened) w.opened.set(k, fd);
        this.sockets.set(k, {});
      } catch (e) {
        for (const [, fd] of opened) fds.close(fd);
        const error = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
        this.sockets.set(k, { error });
        this.deps.log.warn({ protocol: 'tcp', addr: s.addr, port: s.port, err: (e as Error).message }, 'cannot listen for virtual service');
        failed.push({ protocol: 'tcp', addr: s.addr, port: s.port, state: 'failed', error });
      }
    }
    return failed;
  }

  async sync(services: readonly ServiceKey[]): Promise<ListenerStatus[]> {
    this.lastServices = services.map((s) => ({ af: s.af, fwmark: s.fwmark, protocol: s.protocol, addr: s.addr, port: s.port }));
    await Promise.all(this.workers.map((w) => w.ready));
    const id = String(++this.syncId);
    const failed: ListenerStatus[] = this.fds ? this.syncSockets(this.lastServices) : [];
    this.rings?.sync(this.engine.services());
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
      const k = serviceKeyText(f.protocol, f.addr, f.port);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
  }

  status(): unknown {
    const relay = this.workers.find((w) => w.relay)?.relay;
    const tcp = this.lastServices.filter((s) => s.protocol === 'tcp' && s.fwmark === 0).map((s) => ({ protocol: 'tcp', addr: s.addr, port: s.port, state: 'listening', workers: this.workers.length, ...(relay ? { relay } : {}), decisions: { ...this.decisions } }));
    return [...tcp, ...(this.udp.status() as object[])];
  }

  /**
   * Refused new connections by reason: the engine's, here, and admission's, which relay threads
   * share (relay processes keep their own: not counted here).
   */
  drops(): Record<string, number> {
    return { ...this.port.refused, ...(this.fds ? admissionDrops(this.deps.admission?.status()) : {}) };
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
    if (this.fds) for (const st of this.workers) for (const fd of st.opened.values()) this.fds.close(fd);
    this.sockets.clear();
  }
}

type MutableParsedFlow = { -readonly [K in keyof ParsedFlow]: ParsedFlow[K] };
type WorkerMsg = { t: string; b?: ArrayBuffer; n?: number; id?: string; failed?: ListenerStatus[]; relay?: RelayKind };

const lkey = serviceKeyString;

interface FdTools {
  /** A listening TCP socket for s with SO_REUSEPORT (one per worker: the kernel spreads new connections). */
  listen(s: ServiceKey): number;
  close(fd: number): number;
}

/** Listening sockets through koffi (os/epoll.ts listenSocket). */
function fdTools(): FdTools {
  return { listen: (s) => listenSocket(s, { reusePort: true }), close: (fd) => sys.close(fd) as number };
}
