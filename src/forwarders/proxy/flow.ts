/**
 * What the socket relays ask of the engine. The proxy forwarder turns socket events into the
 * packets a kernel director would have seen (docs/CONTROL-API.md, "How the proxy counts"):
 *
 *   accept                     -> SYN in            (schedules: the engine picks the real server)
 *   real server connected      -> SYN+ACK out, ACK in   (ESTABLISHED, ActiveConn)
 *   a read of n bytes          -> ceil(n / MSS) packets of data in / out, bytes = n + headers
 *   client / server end        -> FIN+ACK in / out, then the last ACK (TIME_WAIT, InActConn)
 *   error / reset              -> RST in / out
 *   UDP datagram               -> one packet each way, bytes = payload + headers
 */
export { TCP_FLAG } from '../../core/proto.ts';

/** MSS used to turn a stream read into a packet count (Ethernet MTU 1500 minus IPv4+TCP headers). */
export const STREAM_MSS = 1460;

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
}

/** What waits for a new flow's target (a relay, itself: no closures per connection). */
export interface TargetReceiver {
  /** The real server to connect to, or null when the engine has none. */
  onTarget(t: Target | null): void;
  /** Scheduling threw or rejected. */
  onScheduleError(e: Error): void;
}

/** Header bytes per packet for an address family (IPv4 20 / IPv6 40, plus TCP 20 or UDP 8). */
export function headerBytes(af: 4 | 6, protocol: 'tcp' | 'udp'): number {
  return (af === 4 ? 20 : 40) + (protocol === 'tcp' ? 20 : 8);
}

/**
 * Asks the port where a new TCP flow goes, in whichever form the port answers (callback,
 * promise or value), and tells `to` the target or the scheduling error.
 */
export function openFlow(port: FlowPort, f: Flow, bytes: number, to: TargetReceiver): void {
  if (port.openCb) {
    port.openCb(f, bytes, to);
    return;
  }
  let t: Target | null | Promise<Target | null>;
  try {
    t = port.open(f, bytes);
  } catch (e) {
    to.onScheduleError(e as Error);
    return;
  }
  if (t instanceof Promise) t.then((x) => to.onTarget(x), (e: Error) => to.onScheduleError(e));
  else to.onTarget(t);
}
