/**
 * The flow machine: what every relay reports to the engine for the socket events of one flow,
 * written once. The relays (./epoll-relay.ts and ./tcp-relay.ts for TCP, ./udp-relay.ts for
 * datagrams) do the socket I/O and tell the machine what happened; the machine turns that into
 * the packets a NAT director would have seen (the table of socket events in docs/CONTROL-API.md)
 * and keeps the flow's state. Pure: no I/O, no timers; its only output is the FlowPort it is given.
 *
 *   event (method)                            packets: dir flags, bytes, count
 *   accepted (synIn)                          in SYN, H, 1 (port.open: the engine schedules)
 *   the engine's answer (chosen)              none; the client went away meanwhile: in RST
 *   real server connected (established)       out SYN|ACK, H, 1; in ACK, H, 1
 *   n bytes read from one side (data)         in/out PSH|ACK, n + k*H, k = ceil(n / MSS)
 *   EOF from one side (eof)                   in/out FIN|ACK, H, 1; after the second one the
 *                                             last ACK in, H, 1 (TIME_WAIT)
 *   engine refused / idle timeout (aborted)   in RST, H, 1
 *   client error or close without FIN         in RST, H, 1 (only once a real server was chosen)
 *     (failed CLIENT)
 *   real server refused, died or reset        out RST, H, 1
 *     (failed SERVER)
 *   orderly close, no destination, a          none (the flow is closed)
 *     scheduling error (ended)
 *   UDP datagram in (datagramIn)              in 0, n + H, 1 (port.open: scheduled per datagram)
 *   UDP datagram out (datagramOut)            out 0, n + H, 1
 *
 * H: header bytes per packet (IPv4 20 / IPv6 40, plus TCP 20 / UDP 8). Once the flow is closed
 * only `chosen` still reports (the RST of a flow whose client left during scheduling).
 *
 * Cost: the relays are subclasses (no object besides the relay per connection); the state is one
 * number of bits (FS); no event allocates.
 */
import { TCP_FLAG } from '../../core/proto.ts';
import type { Flow, FlowPort, Target, TargetReceiver } from './flow.ts';

const { FIN, SYN, RST, PSH, ACK } = TCP_FLAG;

/** MSS used to turn a stream read into a packet count (Ethernet MTU 1500 minus IPv4+TCP headers). */
export const STREAM_MSS = 1460;

/** Header bytes per packet for an address family (IPv4 20 / IPv6 40, plus TCP 20 or UDP 8). */
export function headerBytes(af: 4 | 6, protocol: 'tcp' | 'udp'): number {
  return (af === 4 ? 20 : 40) + (protocol === 'tcp' ? 20 : 8);
}

/** State bits of a flow. */
export const FS = {
  /** The engine chose a real server (a SYN was answered). */
  TARGET: 1,
  /** The real server's side is up: SYN+ACK out and ACK in were reported. */
  ESTABLISHED: 2,
  /** EOF from the client (FIN in). */
  CLIENT_EOF: 4,
  /** EOF from the real server (FIN out). */
  SERVER_EOF: 8,
  /** Nothing more to relay or report (reset, closed in order, or never connected). */
  CLOSED: 16,
  /** The relay is gone (its close was reported once). */
  FINISHED: 32,
} as const;

/** What chosen() tells the relay to do with the engine's answer. */
export const CHOSEN = {
  /** Connect to the target. */
  CONNECT: 0,
  /** No destination (or scheduling failed): reset the client. */
  NONE: 1,
  /** The flow closed while the engine was asked (the client left): just finish. */
  GONE: 2,
} as const;

/** What eof() tells the relay. */
export const EOF = {
  /** This side had ended already: nothing new. */
  AGAIN: 0,
  /** One direction is done: shut down the other side's write half. */
  HALF: 1,
  /** Both sides have ended. */
  BOTH: 2,
} as const;

/** Which side failed (failed()). A failed connect is the real server's side. */
export const SIDE = { CLIENT: 0, SERVER: 1 } as const;

export class FlowMachine implements TargetReceiver {
  /** State bits (FS). */
  fs = 0;
  /** The real server once the engine chose it. */
  target: Target | null = null;
  /** Header bytes per synthesized packet. */
  readonly hdr: number;

  constructor(readonly flow: Flow, protected readonly port: FlowPort) {
    this.hdr = headerBytes(flow.af, flow.protocol);
  }

  get closed(): boolean {
    return (this.fs & FS.CLOSED) !== 0;
  }
  get established(): boolean {
    return (this.fs & FS.ESTABLISHED) !== 0;
  }
  get clientEnded(): boolean {
    return (this.fs & FS.CLIENT_EOF) !== 0;
  }
  get serverEnded(): boolean {
    return (this.fs & FS.SERVER_EOF) !== 0;
  }

  /** Reports one packet, or ceil(payload / MSS) packets of data; false when the engine refuses the flow. */
  private emit(dir: 'in' | 'out', flags: number, payload: number): boolean {
    const pkts = payload === 0 ? 1 : Math.ceil(payload / STREAM_MSS);
    return this.port.packet(this.flow, dir, flags, payload + pkts * this.hdr, pkts);
  }

  /**
   * A TCP client was accepted: SYN in, which asks the engine where the flow goes; the answer comes
   * to this.onTarget (or this.onScheduleError), in whichever form the port gives it.
   */
  synIn(): void {
    const port = this.port;
    if (port.openCb) {
      port.openCb(this.flow, this.hdr, this);
      return;
    }
    let t: Target | null | Promise<Target | null>;
    try {
      t = port.open(this.flow, this.hdr);
    } catch (e) {
      this.onScheduleError(e as Error);
      return;
    }
    if (t instanceof Promise) t.then((x) => this.onTarget(x), (e: Error) => this.onScheduleError(e));
    else this.onTarget(t);
  }

  /** The engine's answer (relays override to act on chosen()). */
  onTarget(t: Target | null): void {
    this.chosen(t);
  }

  /** Scheduling threw or rejected (relays override: they reset the client). */
  onScheduleError(_e: Error): void {
    this.ended();
  }

  /** The engine's answer to the SYN: what to do with it (CHOSEN). */
  chosen(t: Target | null): number {
    if (this.fs & FS.CLOSED) {
      // The client left while the engine was asked: the connection it scheduled is reset.
      if (t) this.emit('in', RST, 0);
      return CHOSEN.GONE;
    }
    if (!t) {
      this.fs |= FS.CLOSED;
      return CHOSEN.NONE;
    }
    this.target = t;
    this.fs |= FS.TARGET;
    return CHOSEN.CONNECT;
  }

  /** The real server's side is up: SYN+ACK out, ACK in. False when the engine refuses the flow. */
  connected(): boolean {
    this.fs |= FS.ESTABLISHED;
    this.emit('out', SYN | ACK, 0);
    return this.emit('in', ACK, 0);
  }

  /** n > 0 bytes read from one side. False when the engine refuses the flow (the relay aborts). */
  data(fromServer: boolean, n: number): boolean {
    return this.emit(fromServer ? 'out' : 'in', ACK | PSH, n);
  }

  /**
   * EOF from one side: its FIN, and after the second FIN the last ACK in. What it means: EOF
   * (AGAIN for a side that had ended, or a flow already closed: a reset is not followed by a FIN).
   */
  eof(fromServer: boolean): number {
    const me = fromServer ? FS.SERVER_EOF : FS.CLIENT_EOF;
    if (this.fs & (me | FS.CLOSED)) return EOF.AGAIN;
    this.fs |= me;
    this.emit(fromServer ? 'out' : 'in', FIN | ACK, 0);
    if ((this.fs & (FS.CLIENT_EOF | FS.SERVER_EOF)) !== (FS.CLIENT_EOF | FS.SERVER_EOF)) return EOF.HALF;
    this.emit('in', ACK, 0);
    return EOF.BOTH;
  }

  /**
   * The engine refused the flow (its destination was removed), an idle timeout, or shutdown: RST
   * in. False when the flow was closed already (nothing to do).
   */
  aborted(): boolean {
    if (this.fs & FS.CLOSED) return false;
    this.fs |= FS.CLOSED;
    this.emit('in', RST, 0);
    return true;
  }

  /**
   * One side failed (SIDE): the client's error or close without FIN is RST in (once the engine
   * chose a real server), the real server's refusal, error or reset RST out. False when the flow
   * was closed already.
   */
  failed(side: number): boolean {
    if (this.fs & FS.CLOSED) return false;
    this.fs |= FS.CLOSED;
    if (side === SIDE.SERVER) this.emit('out', RST, 0);
    else if (this.fs & FS.TARGET) this.emit('in', RST, 0);
    return true;
  }

  /** Closed without a packet: after both FINs, or before anything was relayed. */
  ended(): void {
    this.fs |= FS.CLOSED;
  }

  /** The relay is gone: true the first time only (the close is reported once). Closes the flow. */
  finishing(): boolean {
    if (this.fs & FS.FINISHED) return false;
    this.fs |= FS.FINISHED | FS.CLOSED;
    return true;
  }

  /**
   * A UDP datagram of n bytes from the client: the first packet of a flow each time (one-packet
   * scheduling reschedules each). Returns where it goes, as the port answers.
   */
  datagramIn(n: number): Target | null | Promise<Target | null> {
    return this.port.open(this.flow, n + this.hdr);
  }

  /** A UDP datagram of n bytes from a real server back to the client. */
  datagramOut(n: number): boolean {
    return this.port.packet(this.flow, 'out', 0, n + this.hdr, 1);
  }
}
