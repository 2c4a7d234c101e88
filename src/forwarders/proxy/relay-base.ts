/**
 * What the three TCP relay kinds (./epoll-relay.ts, ./raw-relay.ts, ./tcp-relay.ts) share: the
 * flow with its port, options and hooks, the synthesized packets' sizes (./flow.ts), and asking
 * the port where the flow goes. A relay is its own TargetReceiver: no closures per connection.
 */
import { headerBytes, openFlow, STREAM_MSS, type Flow, type FlowPort, type Target, type TargetReceiver } from './flow.ts';
import type { ProxyProtocolVersion } from './proxy-protocol.ts';

export interface RelayOptions {
  readonly proxyProtocol?: ProxyProtocolVersion | null;
  /** Give up connecting to a real server after this many ms (then reset the client). */
  readonly connectTimeoutMs: number;
  /** Idle timeout in ms (the engine's tcp timeout); 0 = none. */
  readonly idleTimeoutMs: number;
  /** Speculative I/O right after connect() (the epoll relay; tsvs daemon --proxy-speculate). */
  readonly speculate: boolean;
  /** Local address (the VIP as the client reached it) for the PROXY header. */
  readonly localAddr: string;
  readonly localPort: number;
}

export interface RelayHooks {
  onOpen?(r: RelayBase): void;
  onClose?(r: RelayBase): void;
  onError?(r: RelayBase, where: 'client' | 'server' | 'connect' | 'schedule', e: Error | null): void;
}

export abstract class RelayBase implements TargetReceiver {
  /** The real server once the engine chose it. */
  target: Target | null = null;
  /** Header bytes per synthesized packet (IPv4/IPv6 + TCP). */
  protected readonly hdr: number;

  constructor(readonly flow: Flow, protected readonly port: FlowPort, protected readonly opts: RelayOptions, protected readonly hooks: RelayHooks) {
    this.hdr = headerBytes(flow.af, 'tcp');
  }

  /** Reports one packet, or ceil(payload / MSS) packets of data; false when the engine refuses the flow. */
  protected pkt(dir: 'in' | 'out', flags: number, payload: number): boolean {
    const pkts = payload === 0 ? 1 : Math.ceil(payload / STREAM_MSS);
    return this.port.packet(this.flow, dir, flags, payload + pkts * this.hdr, pkts);
  }

  /** Asks the port where the flow goes; the answer comes to onTarget (or onScheduleError). */
  start(): void {
    openFlow(this.port, this.flow, this.hdr, this);
  }

  /** The engine's answer: connect to the real server, or reset the client when there is none. */
  abstract onTarget(t: Target | null): void;

  onScheduleError(e: Error): void {
    this.hooks.onError?.(this, 'schedule', e);
    this.resetClient();
  }

  /** Closes the client's side with a reset (nothing was relayed yet). */
  protected abstract resetClient(): void;
}
