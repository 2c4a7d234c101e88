/**
 * Multi-core proxy: the daemon process (cluster primary) owns the one engine; N worker
 * processes accept TCP connections on shared listening sockets (cluster SCHED_NONE: the kernel
 * spreads accepts) and relay bytes. Workers ask the primary for every scheduling decision and
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
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { IpvsCommand, ServiceKey } from '../../core/types.ts';
import { EnginePort, type DataPath } from '../../daemon/engine-port.ts';
import type { Flow } from './flow.ts';
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

interface WorkerState {
  w: Worker;
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
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ exec: fileURLToPath(new URL('./worker-entry.mjs', import.meta.url)), args: [], silent: false });
    for (let i = 0; i < opts.workers; i++) this.fork();
  }

  private fork(): WorkerState {
    const w = cluster.fork({ TSVS_WORKER: '1' });
    let resolveReady!: () => void;
    const st: WorkerState = { w, flows: new Map(), ready: new Promise((r) => (resolveReady = r)), alive: true };
    this.workers.push(st);
    w.on('message', (m: { t: string; e?: (number | string)[]; id?: string; failed?: ListenerStatus[] }) => {
      if (m.t === 'ev') this.port.batch(() => this.onEvents(st, m.e!));
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
