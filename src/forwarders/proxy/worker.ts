/**
 * A relay worker (see ./cluster.ts): accepts TCP connections for the services the primary
 * lists, asks the primary for each decision and reports packets, batched per event-loop turn.
 */
import { pino } from 'pino';
import type { ServiceKey } from '../../core/types.ts';
import { flowKey, type Flow, type FlowPort, type Target } from './flow.ts';
import { ProxyForwarder } from './forwarder.ts';
import type { ProxyProtocolVersion } from './proxy-protocol.ts';
import { flowToT, type Ev } from './cluster.ts';

const log = pino({ name: 'tsvs-worker', level: process.env['TSVS_LOG_LEVEL'] ?? 'info', base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));

let timeouts = { tcp: 900, tcpfin: 120, udp: 300 };
let forwarder: ProxyForwarder | null = null;
let ppv: ProxyProtocolVersion | null = null;

class RemotePort implements FlowPort {
  private ev: Ev[] = [];
  private queued = false;
  private nextId = 1;
  private readonly waiting = new Map<number, (t: Target | null) => void>();

  private push(e: Ev): void {
    this.ev.push(e);
    if (!this.queued) {
      this.queued = true;
      setImmediate(() => this.flush());
    }
  }
  private flush(): void {
    this.queued = false;
    if (this.ev.length === 0) return;
    process.send!({ t: 'ev', ev: this.ev });
    this.ev = [];
  }
  open(f: Flow, bytes: number): Promise<Target | null> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.push(['o', id, flowToT(f), bytes]);
    });
  }
  packet(f: Flow, dir: 'in' | 'out', flags: number, bytes: number, pkts: number): boolean {
    this.push(['p', flowToT(f), dir, flags, bytes, pkts]);
    return true;
  }
  closed(f: Flow): void {
    this.push(['c', flowToT(f)]);
  }
  answer(r: [number, string | null, number][]): void {
    for (const [id, addr, port] of r) {
      const w = this.waiting.get(id);
      this.waiting.delete(id);
      w?.(addr === null ? null : { addr, port });
    }
  }
}

const port = new RemotePort();

function getForwarder(): ProxyForwarder {
  if (!forwarder) {
    forwarder = new ProxyForwarder(port, { proxyProtocol: ppv, connectTimeoutMs, timeouts: () => timeouts, log });
  }
  return forwarder;
}
let connectTimeoutMs = 5000;

process.on('message', (m: { t: string; r?: [number, string | null, number][]; keys?: string[]; id?: string; services?: ServiceKey[]; timeouts?: typeof timeouts; proxyProtocol?: ProxyProtocolVersion | null; connectTimeoutMs?: number }) => {
  switch (m.t) {
    case 'r':
      port.answer(m.r!);
      break;
    case 'k':
      for (const k of m.keys!) forwarder?.abortFlow(k);
      break;
    case 'sync':
      timeouts = m.timeouts!;
      ppv = m.proxyProtocol ?? null;
      connectTimeoutMs = m.connectTimeoutMs ?? connectTimeoutMs;
      void getForwarder().sync(m.services!).then((failed) => process.send!({ t: 'synced', id: m.id, failed }));
      break;
    case 'stop':
      void (forwarder?.close() ?? Promise.resolve()).then(() => process.exit(0));
      break;
  }
});
process.on('disconnect', () => process.exit(0));
process.on('SIGINT', () => {}); // the primary decides when we stop
process.on('SIGTERM', () => {});
process.on('SIGHUP', () => {});
void flowKey;
process.send!({ t: 'ready' });
