/**
 * What the TCP relays (./epoll-relay.ts, ./tcp-relay.ts) share: a relay is its flow's machine
 * (./flow-machine.ts: what is reported to the engine, and the flow's state) plus the options,
 * hooks and the handling of the engine's answer, which is the same for every relay. A relay is
 * its own TargetReceiver: no closures per connection.
 */
import { CHOSEN, FlowMachine } from './flow-machine.ts';
import type { Flow, FlowPort, Target } from './flow.ts';
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

export abstract class RelayBase extends FlowMachine {
  constructor(flow: Flow, port: FlowPort, protected readonly opts: RelayOptions, protected readonly hooks: RelayHooks) {
    super(flow, port);
  }

  /** Asks the engine where the flow goes (SYN in); the answer comes to onTarget (or onScheduleError). */
  start(): void {
    this.synIn();
  }

  /** The engine's answer: connect to the real server, or reset the client when there is none. */
  override onTarget(t: Target | null): void {
    const what = this.chosen(t);
    if (what === CHOSEN.CONNECT) return this.connect(t!);
    if (what === CHOSEN.NONE) {
      // No destination available: like a director without a real server, the client gets a reset.
      this.hooks.onError?.(this, 'schedule', null);
      this.resetClient();
    } else this.finish();
  }

  override onScheduleError(e: Error): void {
    this.ended();
    this.hooks.onError?.(this, 'schedule', e);
    this.resetClient();
  }

  /** Connects to the real server the engine chose. */
  protected abstract connect(t: Target): void;

  /** Closes the client's side with a reset (nothing was relayed yet; the flow is closed). */
  protected abstract resetClient(): void;

  /** The relay is gone (both sides closed): reported once. */
  protected finish(): void {
    if (this.finishing()) this.hooks.onClose?.(this);
  }
}
