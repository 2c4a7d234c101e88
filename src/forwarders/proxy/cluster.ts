/**
 * Multi-core proxy: the daemon process (cluster primary) owns the one engine; N worker
 * processes accept TCP connections on shared listening sockets (cluster SCHED_NONE: the kernel
 * spreads accepts) and relay bytes. Workers ask the primary for every scheduling decision and
 * report every synthesized packet over IPC, batched per event-loop turn, so lc/wlc/sed/nq and
 * the ActiveConn/InActConn columns see every worker's connections. UDP services are relayed by
 * the primary itself.
 *
 * IPC messages (JSON):
 *   worker -> primary  {t:'ev', ev: Ev[]}  Ev = ['o', reqId, FlowT, bytes] | ['p', FlowT, dir, flags, bytes, pkts] | ['c', FlowT]
 *                      {t:'synced', id, failed}    {t:'ready'}
 *   primary -> worker  {t:'r', r: [reqId, addr|null, port][]}   {t:'k', keys: string[]} (reset these flows)
 *                      {t:'sync', id, services, timeouts, proxyProtocol, connectTimeoutMs}
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { IpvsCommand, ServiceKey } from '../../core/types.ts';
import { EnginePort, type DataPath } from '../../daemon/engine-port.ts';
import { flowKey, type Flow } from './flow.ts';
import { ProxyForwarder, proxyRefusal, type ForwarderLog, type ListenerStatus } from './forwarder.ts';
import type { ProxyProtocolVersion } from './proxy-protocol.ts';

export type FlowT = [4 | 6, 'tcp' | 'udp', string, number, string, number];
export type Ev = ['o', number, FlowT, number] | ['p', FlowT, 'in' | 'out', number, number, number] | ['c', FlowT];

export function flowToT(f: Flow): FlowT {
  return [f.af, f.protocol, f.caddr, f.cport, f.vaddr, f.vport];
}
export function tToFlow(t: FlowT): Flow {
  return { af: t[0], protocol: t[1], caddr: t[2], cport: t[3], vaddr: t[4], vport: t[5] };
}

export interface ClusterOptions {
  readonly workers: number;
  readonly proxyProtocol: ProxyProtocolVersion | null;
  readonly connectTimeoutMs: number;
  readonly log: ForwarderLog & { error(o: object, msg: string): void };
}

interface EngineWithTimeouts extends DataPath {
  timeouts(): { tcp: number; tcpfin: number; udp: number };
}

interface WorkerState {
  w: Worker;
  flows: Map<string, Flow>;
  out: { r: [number, string | null, number][]; k: string[] };
  flushQueued: boolean;
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
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ exec: fileURLToPath(new URL('./worker-entry.mjs', import.meta.url)), args: [], silent: false });
    for (let i = 0; i < opts.workers; i++) this.fork();
  }

  private fork(): WorkerState {
    const w = cluster.fork({ TSVS_WORKER: '1' });
    let resolveReady!: () => void;
    const st: WorkerState = { w, flows: new Map(), out: { r: [], k: [] }, flushQueued: false, ready: new Promise((r) => (resolveReady = r)), alive: true };
    this.workers.push(st);
    w.on('message', (m: { t: string; ev?: Ev[]; id?: string; failed?: ListenerStatus[] }) => {
      if (m.t === 'ev') this.onEvents(st, m.ev!);
      else if (m.t === 'ready') resolveReady();
      else if (m.t === 'synced') {
        const p = this.pending.get(m.id!);
        if (p) {
          p.failed.push(...(m.failed ?? []));
          if (--p.left === 0) p.done();
        }
      }
    });
    w.on('exit', (code, signal) => {
      st.alive = false;
      // Flows of a dead worker: their sockets are gone; tell the engine they were reset.
      for (const f of st.flows.values()) this.port.packet(f, 'in', 4, 40, 1);
      st.flows.clear();
      const i = this.workers.indexOf(st);
      if (i >= 0) this.workers.splice(i, 1);
      for (const p of this.pending.values()) if (--p.left === 0) p.done();
      if (!this.closing) {
        this.opts.log.error({ worker: w.process.pid, code, signal }, 'relay worker died; starting another');
        const n = this.fork();
        void n.ready.then(() => this.sendSync(n, String(++this.syncId)));
      }
    });
    return st;
  }

  private onEvents(st: WorkerState, evs: Ev[]): void {
    for (const e of evs) {
      if (e[0] === 'o') {
        const f = tToFlow(e[2]);
        const k = flowKey(f);
        st.flows.set(k, f);
        const t = this.port.open(f, e[3]);
        st.out.r.push([e[1], t ? t.addr : null, t ? t.port : 0]);
      } else if (e[0] === 'p') {
        const k = flowKey(tToFlow(e[1]));
        const f = st.flows.get(k);
        if (!f) continue;
        if (!this.port.packet(f, e[2], e[3], e[4], e[5])) st.out.k.push(k);
      } else {
        const k = flowKey(tToFlow(e[1]));
        st.flows.delete(k);
      }
    }
    this.queueFlush(st);
  }

  private queueFlush(st: WorkerState): void {
    if (st.flushQueued || (st.out.r.length === 0 && st.out.k.length === 0)) return;
    st.flushQueued = true;
    setImmediate(() => {
      st.flushQueued = false;
      if (!st.alive) return;
      if (st.out.r.length) st.w.send({ t: 'r', r: st.out.r });
      if (st.out.k.length) st.w.send({ t: 'k', keys: st.out.k });
      st.out = { r: [], k: [] };
    });
  }

  refusal(cmd: IpvsCommand): string | null {
    return proxyRefusal(cmd);
  }

  private sendSync(st: WorkerState, id: string): void {
    st.w.send({ t: 'sync', id, services: this.lastServices.filter((s) => s.protocol === 'tcp' && s.fwmark === 0), timeouts: this.engine.timeouts(), proxyProtocol: this.opts.proxyProtocol, connectTimeoutMs: this.opts.connectTimeoutMs });
  }

  async sync(services: readonly ServiceKey[]): Promise<ListenerStatus[]> {
    this.lastServices = services.map((s) => ({ af: s.af, fwmark: s.fwmark, protocol: s.protocol, addr: s.addr, port: s.port }));
    await Promise.all(this.workers.map((w) => w.ready));
    const id = String(++this.syncId);
    const failed: ListenerStatus[] = [];
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
      const t = setTimeout(() => { st.w.process.kill('SIGKILL'); resolve(); }, 2000);
      st.w.once('exit', () => { clearTimeout(t); resolve(); });
      st.w.send({ t: 'stop' });
    })));
  }
}
