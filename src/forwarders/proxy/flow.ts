/**
 * What the socket relays ask of the engine: the port a flow's synthesized packets go to. Which
 * packets a socket event becomes (SYN in at accept, SYN+ACK out and ACK in once the real server
 * is connected, data per MSS, FIN, the last ACK, RST) is written once, in the flow machine
 * (./flow-machine.ts; docs/CONTROL-API.md has the table of socket events).
 */
export { TCP_FLAG } from '../../core/proto.ts';

export interface Flow {
  readonly af: 4 | 6;
  readonly protocol: 'tcp' | 'udp';
  /** Client address (canonical text) and port. */
  readonly caddr: string;
  readonly cport: number;
  /** The virtual service address and port (what the engine keys services by). */
  readonly vaddr: string;
  readonly vport: number;
  /**
   * The FlowPort's own record of this flow, set by the port when the flow opens and opaque to
   * everyone else: the port finds it without a lookup on every packet. Created undefined.
   */
  portRef?: unknown;
}

export interface Target {
  readonly addr: string;
  readonly port: number;
  /** Its socket address (struct sockaddr), when whoever chose the target has it at hand. */
  readonly sa?: Buffer;
}

export interface FlowPort {
  /**
   * The first packet of a new flow (TCP SYN in, or any UDP datagram in: one-packet scheduling
   * reschedules each). Returns where to send it, or null when the engine has no destination.
   */
  open(f: Flow, bytes: number): Target | null | Promise<Target | null>;
  /**
   * Any later packet (pkts packets totalling bytes). Returns false when the engine refuses the
   * flow from now on (its destination was removed): the relay then resets both sides.
   */
  packet(f: Flow, dir: 'in' | 'out', flags: number, bytes: number, pkts: number): boolean;
  /** The relay for this flow is gone (both sockets closed). */
  closed?(f: Flow): void;
  /**
   * Optional callback form of open() for ports that answer asynchronously (relay workers): saves
   * a promise and a microtask per connection. Relays use it when present.
   */
  openCb?(f: Flow, bytes: number, to: TargetReceiver): void;
  /** Flows the engine refused, by its verdict reason (no-dest, dest-unavailable, ...; not table-full, which the engine counts). */
  readonly refused?: Readonly<Record<string, number>>;
}

/** What waits for a new flow's target (a relay, itself: no closures per connection). */
export interface TargetReceiver {
  /** The real server to connect to, or null when the engine has none. */
  onTarget(t: Target | null): void;
  /** Scheduling threw or rejected. */
  onScheduleError(e: Error): void;
}
