/**
 * A relay worker (see ./cluster.ts): accepts TCP connections for the services the primary
 * lists, asks the primary for each decision and reports packets, batched per event-loop turn
 * (consecutive data reads of a flow in one direction are merged into one event: exact totals).
 */
import { isMainThread, parentPort, threadId, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import type { ServiceKey } from '../../core/types.ts';
import { serviceKeyString, serviceKeyText } from '../../core/service-key.ts';
import { TCP_FLAG, type Flow, type FlowPort, type Target, type TargetReceiver } from './flow.ts';
import { ProxyForwarder } from './forwarder.ts';
import type { ProxyProtocolVersion } from './proxy-protocol.ts';
import { EventWriter } from './event-batch.ts';
import { AheadRing, type AheadChoice } from './ahead-ring.ts';
import { formatIp } from '../../core/addr.ts';
import { sockaddr } from '../../os/epoll.ts';
import { RELAY_ARG, type RelayWorkerInit } from './worker-init.ts';
import { Admission, connectionBudget } from './admission.ts';
import { getNofile } from '../../os/rlimit.ts';

/**
 * The target of a ring slot: one shared object per real server and port (a handful), with its
 * socket address, so a connection on a decision ahead builds no text and no sockaddr.
 */
const targets = new Map<number | string, Target>();
function aheadTarget(c: AheadChoice): Target {
  const k = c.af === 4 ? c.words[0]! * 65536 + c.port : `${c.words.join(',')} ${c.port}`;
  let t = targets.get(k);
  if (t === undefined) {
    const addr = formatIp(c.af === 4 ? { af: 4, words: [c.words[0]!] } : { af: 6, words: [c.words[0]!, c.words[1]!, c.words[2]!, c.words[3]!] });
    const sa = sockaddr(addr, c.port);
    t = sa ? { addr, port: c.port, sa } : { addr, port: c.port };
    if (targets.size > 4096) targets.clear();
    targets.set(k, t);
  }
  return t;
}

/** The way to the primary: the parent port of a relay thread, or the IPC channel of a cluster worker. */
const threaded = !isMainThread && (workerData as { tsvsRelay?: RelayWorkerInit } | null)?.tsvsRelay !== undefined;
/** Options from the primary: in workerData (a thread) or after RELAY_ARG in argv (a cluster process). */
const init: RelayWorkerInit = threaded ? (workerData as { tsvsRelay: RelayWorkerInit }).tsvsRelay : relayArgv();
function relayArgv(): RelayWorkerInit {
  const i = process.argv.indexOf(RELAY_ARG);
  if (i < 0 || process.argv[i + 1] === undefined) throw new Error(`relay worker: started without ${RELAY_ARG} (the primary passes its options)`);
  return JSON.parse(process.argv[i + 1]!) as RelayWorkerInit;
}

const log = pino({ name: 'tsvs-worker', level: init.logLevel, base: { pid: process.pid, ...(isMainThread ? {} : { thread: threadId }) } }, pino.destination({ fd: 2, sync: true }));

let timeouts = { tcp: 900, tcpfin: 120, udp: 300 };
let forwarder: ProxyForwarder | null = null;
let ppv: ProxyProtocolVersion | null = null;

interface FlowRec {
  id: number;
  f: Flow;
  /** Data not yet queued: consecutive reads in one direction are merged (exact totals). */
  pdir: 0 | 1;
  pbytes: number;
  ppkts: number;
  dirty: boolean;
}

const DATA = TCP_FLAG.ACK | TCP_FLAG.PSH;
/** Longest delay of a packet report to the engine (ms). */
const LAZY_MS = 20;

class RemotePort implements FlowPort {
  private readonly ev = new EventWriter();
  private queued = false;
  private nextId = 1;
  private readonly waiting = new Map<number, TargetReceiver>();
  /** Open flows by id (resets the primary asks for); a flow's own record is in its portRef. */
  readonly byId = new Map<number, Flow>();
  private dirty: FlowRec[] = [];

  private timer: NodeJS.Timeout | null = null;
  /** Scheduling requests go out at the end of this event-loop turn (latency of every new connection). */
  private queue(): void {
    if (!this.queued) {
      this.queued = true;
      setImmediate(this.flush);
    }
  }
  /**
   * Packet reports may wait up to LAZY_MS (they ride along with the next scheduling request when
   * there is one): one IPC message per turn per worker was a large share of a bulk transfer's CPU.
   */
  private lazy(): void {
    if (!this.queued && !this.timer) this.timer = setTimeout(this.flush, LAZY_MS);
  }
  private readonly flush = (): void => {
    this.queued = false;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    for (const r of this.dirty) this.emitData(r);
    this.dirty = [];
    if (this.ev.length === 0) return;
    const { buf, n } = this.ev.take();
    send({ t: 'eb', b: buf, n }, [buf]);
  };
  private emitData(r: FlowRec): void {
    if (!r.dirty) return;
    r.dirty = false;
    this.ev.pkt(r.id, r.pdir, DATA, r.pbytes, r.ppkts);
    r.pbytes = 0;
    r.ppkts = 0;
  }
  open(f: Flow, bytes: number): Promise<Target | null> {
    return new Promise((resolve) => this.openCb(f, bytes, { onTarget: resolve, onScheduleError: () => resolve(null) }));
  }
  openCb(f: Flow, bytes: number, to: TargetReceiver): void {
    const id = this.nextId++;
    const r: FlowRec = { id, f, pdir: 0, pbytes: 0, ppkts: 0, dirty: false };
    f.portRef = r;
    this.byId.set(id, f);
    const ring = this.ringOf(f);
    if (ring && ring.take(this.choice)) {
      // A decision the engine made ahead (cluster.ts): connect now, report the flow after.
      const c = this.choice;
      // Running low: the primary refills now rather than with the next batch of reports (at
      // 10k connections/s a ring lasts about as long as LAZY_MS).
      if (ring.wantsRefill()) send({ t: 'fill' });
      this.ev.open(id, f, bytes, c.token);
      this.lazy();
      to.onTarget(aheadTarget(c));
      return;
    }
    this.waiting.set(id, to);
    this.ev.open(id, f, bytes);
    this.queue();
  }
  /** Decision rings per service (lkey), shared with the primary and the other workers. */
  readonly rings = new Map<string, AheadRing>();
  /** The ring of the last service asked for (connections come in runs per service). */
  private lastRing: { vaddr: string; vport: number; ring: AheadRing | undefined } = { vaddr: '', vport: -1, ring: undefined };
  private ringOf(f: Flow): AheadRing | undefined {
    const l = this.lastRing;
    if (l.vaddr === f.vaddr && l.vport === f.vport) return l.ring;
    const ring = this.rings.get(serviceKeyText('tcp', f.vaddr, f.vport));
    this.lastRing = { vaddr: f.vaddr, vport: f.vport, ring };
    return ring;
  }
  /** The rings changed (a rule change): forget the cached one. */
  setRings(rings: Record<string, SharedArrayBuffer>): void {
    this.rings.clear();
    for (const [k, sab] of Object.entries(rings)) this.rings.set(k, new AheadRing(sab));
    this.lastRing = { vaddr: '', vport: -1, ring: undefined };
  }
  private readonly choice: AheadChoice = { token: 0, af: 4, words: [0], port: 0 };
  packet(f: Flow, dir: 'in' | 'out', flags: number, bytes: number, pkts: number): boolean {
    const r = f.portRef as FlowRec | undefined;
    if (!r) return true;
    const d = dir === 'in' ? 0 : 1;
    if (flags === DATA) {
      if (r.dirty && r.pdir !== d) this.emitData(r);
      if (!r.dirty) {
        r.dirty = true;
        r.pdir = d;
        this.dirty.push(r);
      }
      r.pbytes += bytes;
      r.ppkts += pkts;
    } else {
      this.emitData(r);
      this.ev.pkt(r.id, d, flags, bytes, pkts);
    }
    this.lazy();
    return true;
  }
  closed(f: Flow): void {
    const r = f.portRef as FlowRec | undefined;
    if (!r) return;
    this.emitData(r);
    f.portRef = undefined;
    this.byId.delete(r.id);
    this.ev.closed(r.id);
    this.lazy();
  }
  answer(r: (number | string | null)[]): void {
    for (let i = 0; i < r.length; i += 3) {
      const id = r[i] as number, addr = r[i + 1] as string | null;
      const w = this.waiting.get(id);
      this.waiting.delete(id);
      w?.onTarget(addr === null ? null : { addr, port: r[i + 2] as number });
    }
  }
}

const port = new RemotePort();
/** Threads admit against the daemon's table; a process against its own (its own descriptors). */
const admission = init.admission ? new Admission(init.admission) : init.maxconn !== undefined ? new Admission() : null;

function getForwarder(): ProxyForwarder {
  if (!forwarder) {
    // A cluster worker process accepts on handles the primary shares through Node's cluster
    // module: the epoll relay (bare descriptors it listens on itself) cannot take those over.
    const relay = threaded ? init.relay : 'net';
    forwarder = new ProxyForwarder(port, { proxyProtocol: ppv, connectTimeoutMs, timeouts: () => timeouts, log, relay, speculate: init.speculate, ...(admission ? { admission } : {}), ...(threaded ? { listenFd: (k: ServiceKey) => fds.get(lkey(k)) } : {}) });
  }
  return forwarder;
}
let connectTimeoutMs = 5000;

/** `transfer`: buffers handed over to the primary thread (copied over IPC). */
const send: (m: object, transfer?: ArrayBuffer[]) => void = threaded ? (m, transfer) => parentPort!.postMessage(m, transfer) : (m) => process.send!(m);
/** Thread mode: descriptors of the listening sockets the primary handed over, by service. */
const fds = new Map<string, number>();
const lkey = serviceKeyString;

type Msg = { t: string; rings?: Record<string, SharedArrayBuffer>; r?: (number | string | null)[]; ids?: number[]; id?: string; services?: ServiceKey[]; fds?: Record<string, number>; timeouts?: typeof timeouts; proxyProtocol?: ProxyProtocolVersion | null; connectTimeoutMs?: number };

function onMessage(m: Msg): void {
  switch (m.t) {
    case 'r':
      port.answer(m.r!);
      break;
    case 'k':
      for (const id of m.ids!) {
        const f = port.byId.get(id);
        if (f) forwarder?.abortFlow(f);
      }
      break;
    case 'sync': {
      port.setRings(m.rings ?? {});
      timeouts = m.timeouts!;
      ppv = m.proxyProtocol ?? null;
      connectTimeoutMs = m.connectTimeoutMs ?? connectTimeoutMs;
      let services = m.services!;
      if (threaded) {
        const want = new Set(services.map(lkey));
        for (const k of fds.keys()) if (!want.has(k)) fds.delete(k); // its listener closes the fd
        for (const [k, fd] of Object.entries(m.fds ?? {})) fds.set(k, fd);
        services = services.filter((s) => fds.has(lkey(s)));
      }
      if (admission && !threaded) admission.configure(connectionBudget(getNofile().soft, services.length), init.maxconn ?? 0);
      const fw = getForwarder();
      void fw.sync(services).then((failed) => send({ t: 'synced', id: m.id, failed: threaded ? [] : failed, relay: fw.relayKind }));
      break;
    }
    case 'stop':
      void (forwarder?.close() ?? Promise.resolve()).then(() => {
        if (threaded) parentPort!.close();
        process.exit(0);
      });
      break;
  }
}

if (threaded) {
  parentPort!.on('message', onMessage);
} else {
  process.on('message', onMessage);
  process.on('disconnect', () => process.exit(0));
  process.on('SIGINT', () => {}); // the primary decides when we stop
  process.on('SIGTERM', () => {});
  process.on('SIGHUP', () => {});
}
send({ t: 'ready' });
