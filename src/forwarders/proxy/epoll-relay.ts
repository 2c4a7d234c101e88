/**
 * One proxied TCP connection on bare descriptors in this thread's epoll loop (src/os/epoll.ts):
 * accept4, socket, connect, read, send, shutdown and close are direct libc calls through koffi,
 * both sockets edge-triggered (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET, one epoll_ctl each, never
 * modified). Same behaviour as ./tcp-relay.ts (net.Socket); what is reported to the engine comes
 * from the flow machine (./flow-machine.ts) both relays are.
 *
 * Reads go into one 64 KiB buffer per thread and are sent on at once; only what a socket does not
 * take is copied (pending). Backpressure: while data toward one side is pending, the other side
 * is not read (its readiness is remembered; edge-triggered epoll does not repeat it). Half-close:
 * an EOF from one side shuts down the write side of the other once its pending data is out; both
 * descriptors close once both directions are done. A short read with EPOLLRDHUP is taken as the
 * end of the stream without another read (the peer's FIN came after the data). Timeouts
 * (connect, idle) are checked by the owner's sweep (checkTimers).
 */
import { C, CT, errno, sys, sysTcp } from '../../os/libc.ts';
import { epollLoop, sockaddr, sockaddrAddr, sockaddrText, sysError, type EpollLoop, type EpollOwner } from '../../os/epoll.ts';
import { EOF, SIDE } from './flow-machine.ts';
import type { Flow, FlowPort, Target } from './flow.ts';
import { proxyHeader } from './proxy-protocol.ts';
import { RelayBase, type RelayHooks, type RelayOptions } from './relay-base.ts';

const { EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP, EPOLLET } = CT;
const WATCH = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
/**
 * A listening socket: level-triggered, and EPOLLEXCLUSIVE so that when several relay threads
 * watch the same socket (the proxy-shared-accept option) one of them is woken per connection.
 */
const LISTEN_EVENTS = EPOLLIN | CT.EPOLLEXCLUSIVE;
const BUF = 65536;
const EAGAIN = C.EAGAIN;
const SEND_FLAGS = CT.MSG_NOSIGNAL | C.MSG_DONTWAIT;

/** Per-thread scratch memory (the loop is per thread, and so is this module's state). */
const rbuf = Buffer.allocUnsafeSlow(BUF);
const one = Buffer.alloc(4);
one.writeInt32LE(1);
const linger0 = Buffer.alloc(8); // struct linger { l_onoff = 1, l_linger = 0 }: close() sends a reset
linger0.writeInt32LE(1, 0);
const intBuf = Buffer.alloc(4);
const lenBuf = Buffer.alloc(4);

let tick = 0;
/** The coarse clock (ms) timeouts are measured with; the owner's sweep advances it. */
export function epollClock(now: number): void {
  tick = now;
}

function soError(fd: number): number {
  intBuf.writeInt32LE(0);
  lenBuf.writeUInt32LE(4);
  if ((sysTcp.getsockoptInt(fd, C.SOL_SOCKET, CT.SO_ERROR, intBuf, lenBuf) as number) < 0) return errno();
  return intBuf.readInt32LE(0);
}

/** Local address of a socket (the VIP as the client reached it), for the PROXY header. */
export function localAddr(fd: number): { address: string; port: number } | null {
  const sa = Buffer.alloc(128);
  lenBuf.writeUInt32LE(128);
  if ((sysTcp.getsockname(fd, sa, lenBuf) as number) < 0) return null;
  return sockaddrAddr(sa);
}

type Side = 'client' | 'server' | 'connect';

export class EpollRelay extends RelayBase implements EpollOwner {
  /** Real-server descriptor (-1 before scheduling). */
  sfd = -1;
  private readonly loop: EpollLoop;
  private cShut = false; // our FIN toward the client sent
  private sShut = false;
  private cShutReq = false; // shutdown asked (maybe waiting for pending data)
  private sShutReq = false;
  /** Readiness seen and not consumed (edge-triggered). */
  private cReadable = false;
  private sReadable = false;
  /** EPOLLRDHUP seen: after the data, the stream ends. */
  private cHup = false;
  private sHup = false;
  /** Data not yet taken by the socket toward the client / the server. */
  private pendC: Buffer | null = null;
  private pendS: Buffer | null = null;
  /** Client bytes read before the real server's side was up (speculate()), not yet sent. */
  private early: Buffer | null = null;
  private cWatched = false;
  /** ms on epollClock: start of connect, then last activity. */
  private active = tick;

  constructor(flow: Flow, readonly cfd: number, port: FlowPort, opts: RelayOptions, hooks: RelayHooks) {
    super(flow, port, opts, hooks);
    this.loop = epollLoop()!;
  }

  protected resetClient(): void {
    this.ended();
    this.closeFd(false, true);
    this.finish();
  }

  protected connect(t: Target): void {
    this.active = tick;
    const sa = t.sa ?? sockaddr(t.addr, t.port);
    if (!sa) return this.failSoon(sysError(`connect to ${t.addr}:${t.port}`, 22));
    const fd = sys.socket(sa.length === 28 ? C.AF_INET6 : C.AF_INET, CT.SOCK_STREAM | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, 0) as number;
    if (fd < 0) return this.failSoon(sysError('socket', errno()));
    this.sfd = fd;
    sys.setsockopt(fd, C.IPPROTO_TCP, CT.TCP_NODELAY, one, 4);
    const r = sysTcp.connect(fd, sa, sa.length) as number;
    const e = r < 0 ? errno() : 0;
    if (r < 0 && e !== CT.EINPROGRESS) return this.failSoon(sysError(`connect to ${t.addr}:${t.port}`, e));
    if (!this.loop.add(fd, WATCH, this)) return this.failSoon(sysError('epoll_ctl', errno()));
    if (r === 0) this.onConnected();
    else if (this.opts.speculate && !this.opts.proxyProtocol) this.speculate();
  }

  /**
   * Speculative I/O (as HAProxy does it): a loopback or nearby real server has often finished the
   * handshake by the time connect() returns, and the client's request is usually waiting already.
   * Read it and send it on now rather than one or two epoll rounds later. A send that succeeds
   * proves the connection is up: the engine then sees SYN+ACK out and ACK in before the data, as
   * always. If the handshake is still going, the data waits (early) until it completes.
   */
  private speculate(): void {
    const n = Number(sys.read(this.cfd, rbuf, BUF));
    if (n <= 0) {
      // Nothing yet, or the client's end already: its events report it once it is watched.
      const e = n < 0 ? errno() : 0;
      if (n < 0 && e !== EAGAIN && e !== C.EINTR) this.fail('client', sysError('read', e));
      return;
    }
    this.active = tick;
    const w = Number(sys.send(this.sfd, rbuf, n, SEND_FLAGS));
    if (w < 0) {
      const e = errno();
      if (e !== EAGAIN) return this.fail('connect', sysError(`connect to ${this.target!.addr}:${this.target!.port}`, e));
      this.early = Buffer.from(rbuf.subarray(0, n));
      return;
    }
    if (w < n) this.early = Buffer.from(rbuf.subarray(w, n));
    this.onConnected(n);
  }

  /** A synchronous failure is reported from the next turn, like an asynchronous refusal. */
  private failSoon(e: Error): void {
    queueMicrotask(() => this.fail('connect', e));
  }

  /**
   * The real server's side is up. `early`: bytes of the client read and sent on before
   * (speculate()); what the server's socket did not take then waits in this.early.
   */
  private onConnected(early = 0): void {
    this.active = tick;
    if (!this.connected()) return this.abort();
    this.hooks.onOpen?.(this);
    // TCP_NODELAY: the client socket inherited it from the listening socket (EpollListener).
    if (this.opts.proxyProtocol) {
      const h = proxyHeader(this.opts.proxyProtocol, { protocol: 'tcp', srcAddr: this.flow.caddr, srcPort: this.flow.cport, dstAddr: this.opts.localAddr, dstPort: this.opts.localPort });
      this.send(true, h, h.length);
      if (this.closed) return;
    }
    const rest = this.early;
    if (early > 0 || rest) {
      this.early = null;
      if (!this.data(false, early || rest!.length)) return this.abort();
      // What the server's socket did not take yet waits like any pending data.
      if (rest) this.send(true, rest, rest.length);
      if (this.closed) return;
    }
    // The client socket joins the loop now: if its request is already there, the loop reports it
    // within this turn.
    if (!this.loop.add(this.cfd, WATCH, this)) return this.fail('client', sysError('epoll_ctl', errno()));
    this.cWatched = true;
  }

  onEvent(fd: number, ev: number): void {
    if (this.closed) return;
    const server = fd === this.sfd;
    if (server && !this.established) {
      if (ev & (EPOLLERR | EPOLLHUP)) {
        const e = soError(fd) || CT.ECONNREFUSED;
        return this.fail('connect', sysError(`connect to ${this.target!.addr}:${this.target!.port}`, e));
      }
      if (!(ev & EPOLLOUT)) return;
      this.onConnected();
      if (this.closed) return;
    }
    if (server) {
      if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) this.sReadable = true;
      if (ev & EPOLLRDHUP) this.sHup = true;
      if (ev & EPOLLOUT && this.pendS) this.flush(true);
      if (this.sReadable && !this.closed) this.pump(true);
      if (ev & EPOLLERR && !this.closed && this.pendC) this.fail('server', sysError('read', soError(fd)));
    } else {
      if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) this.cReadable = true;
      if (ev & EPOLLRDHUP) this.cHup = true;
      if (ev & EPOLLOUT && this.pendC) this.flush(false);
      if (this.cReadable && !this.closed) this.pump(false);
      if (ev & EPOLLERR && !this.closed && this.pendS) this.fail('client', sysError('read', soError(fd)));
    }
  }

  /** Reads one side while it has data and the other side takes it. */
  private pump(fromServer: boolean): void {
    const fd = fromServer ? this.sfd : this.cfd;
    for (;;) {
      if (this.closed || (fromServer ? this.serverEnded || this.pendC : this.clientEnded || this.pendS)) return;
      const n = Number(sys.read(fd, rbuf, BUF));
      if (n > 0) {
        this.active = tick;
        if (!this.data(fromServer, n)) return this.abort();
        this.send(!fromServer, rbuf, n);
        if (n < BUF) {
          // Drained (edge-triggered: more data would raise a new event).
          if (fromServer) this.sReadable = false;
          else this.cReadable = false;
          if (fromServer ? this.sHup : this.cHup) this.onEof(fromServer);
          return;
        }
        continue;
      }
      if (n === 0) {
        if (fromServer) this.sReadable = false;
        else this.cReadable = false;
        return this.onEof(fromServer);
      }
      const e = errno();
      if (e === EAGAIN) {
        if (fromServer) this.sReadable = false;
        else this.cReadable = false;
        return;
      }
      if (e === C.EINTR) continue;
      return this.fail(fromServer ? 'server' : 'client', sysError('read', e));
    }
  }

  /** Sends n bytes of buf toward one side; what the socket does not take waits (a copy). */
  private send(toServer: boolean, buf: Buffer, n: number): void {
    if (this.closed) return;
    const fd = toServer ? this.sfd : this.cfd;
    const have = toServer ? this.pendS : this.pendC;
    if (have) {
      const p = Buffer.concat([have, buf.subarray(0, n)]);
      if (toServer) this.pendS = p;
      else this.pendC = p;
      return;
    }
    let w = Number(sys.send(fd, buf, n, SEND_FLAGS));
    if (w === n) return;
    if (w < 0) {
      const e = errno();
      if (e !== EAGAIN) return this.fail(toServer ? 'server' : 'client', sysError('write', e));
      w = 0;
    }
    // Not all taken: keep the rest and stop reading the other side until it is out.
    const rest = Buffer.from(buf.subarray(w, n));
    if (toServer) this.pendS = rest;
    else this.pendC = rest;
  }

  /** The socket toward one side can take more: send what waits, then resume the other side. */
  private flush(toServer: boolean): void {
    const p = (toServer ? this.pendS : this.pendC)!;
    const fd = toServer ? this.sfd : this.cfd;
    const w = Number(sys.send(fd, p, p.length, SEND_FLAGS));
    if (w < 0) {
      const e = errno();
      if (e !== EAGAIN) this.fail(toServer ? 'server' : 'client', sysError('write', e));
      return;
    }
    this.active = tick;
    if (w < p.length) {
      if (toServer) this.pendS = p.subarray(w);
      else this.pendC = p.subarray(w);
      return;
    }
    if (toServer) this.pendS = null;
    else this.pendC = null;
    // Everything out: a shutdown that waited for it goes now; the other side is read again.
    if (toServer ? this.sShutReq && !this.sShut : this.cShutReq && !this.cShut) this.shutdownNow(toServer);
    if (this.closed) return;
    if (toServer ? this.cReadable : this.sReadable) this.pump(!toServer);
  }

  private onEof(fromServer: boolean): void {
    const e = this.eof(fromServer);
    if (e === EOF.AGAIN) return;
    if (e === EOF.BOTH && !this.pendC && !this.pendS) {
      // Both sides sent their FIN and everything they sent is in the kernel: close() sends our
      // FIN on each side at once (nothing unread, so no reset).
      this.ended();
      this.closeFd(false, false);
      this.closeFd(true, false);
      this.finish();
      return;
    }
    const toServer = !fromServer;
    if (toServer) this.sShutReq = true;
    else this.cShutReq = true;
    if (!(toServer ? this.pendS : this.pendC)) this.shutdownNow(toServer);
  }

  private shutdownNow(server: boolean): void {
    sysTcp.shutdown(server ? this.sfd : this.cfd, CT.SHUT_WR);
    if (server) this.sShut = true;
    else this.cShut = true;
    if (this.clientEnded && this.serverEnded && this.cShut && this.sShut) {
      // Both directions done: an orderly close.
      this.ended();
      this.closeFd(false, false);
      this.closeFd(true, false);
      this.finish();
    }
  }

  /** Engine refused the flow (destination gone) or idle timeout: reset both sides. */
  abort(): void {
    if (!this.aborted()) return;
    this.closeFd(false, true);
    this.closeFd(true, true);
    this.finish();
  }

  private fail(where: Side, e: Error): void {
    if (!this.failed(where === 'client' ? SIDE.CLIENT : SIDE.SERVER)) return;
    this.hooks.onError?.(this, where, e);
    if (where === 'client') {
      // The client vanished: drop the real-server side.
      this.closeFd(false, false);
      this.closeFd(true, true);
    } else {
      // The real server refused or died: the client fails fast with a reset.
      this.closeFd(false, true);
      this.closeFd(true, where === 'server');
    }
    this.finish();
  }

  /** Closes one descriptor, with a TCP reset when asked and still possible (not after our FIN). */
  private closeFd(server: boolean, reset: boolean): void {
    const fd = server ? this.sfd : this.cfd;
    if (fd < 0) return;
    if (server) this.sfd = -1;
    else (this as { cfd: number }).cfd = -1;
    const shut = server ? this.sShutReq : this.cShutReq;
    if (reset && !shut && (!server || this.established)) sys.setsockopt(fd, C.SOL_SOCKET, CT.SO_LINGER, linger0, 8);
    if (server || this.cWatched) this.loop.close(fd);
    else sys.close(fd);
    if (server) this.pendS = null;
    else this.pendC = null;
  }

  /** Called by the owner's sweep with epollClock() advanced: connect and idle timeouts. */
  checkTimers(now: number): void {
    if (this.closed) return;
    if (!this.established) {
      if (this.sfd >= 0 && now - this.active >= this.opts.connectTimeoutMs) {
        this.fail('connect', new Error(`connect to ${this.target!.addr}:${this.target!.port} timed out`));
      }
    } else if (this.opts.idleTimeoutMs > 0 && now - this.active >= this.opts.idleTimeoutMs) {
      this.abort();
    }
  }
}

/**
 * Accepts on a listening descriptor in the epoll loop (level-triggered: a burst is taken a few at
 * a time, the rest on the next turn). accept4 returns the client address: no getpeername.
 */
export class EpollListener implements EpollOwner {
  private readonly loop: EpollLoop;
  private readonly sa = Buffer.alloc(128);
  private readonly salen = Buffer.alloc(4);
  private closed = false;

  constructor(readonly fd: number, private readonly onAccept: (cfd: number, address: string, port: number) => void, private readonly onError: (e: Error) => void) {
    const l = epollLoop();
    if (!l) throw new Error('epoll relay unavailable');
    this.loop = l;
    // Accepted sockets inherit TCP_NODELAY from the listening socket: one setsockopt for all.
    sys.setsockopt(fd, C.IPPROTO_TCP, CT.TCP_NODELAY, one, 4);
    if (!l.add(fd, LISTEN_EVENTS, this)) throw sysError('epoll_ctl', errno());
  }

  onEvent(): void {
    for (let i = 0; i < 16 && !this.closed; i++) {
      this.salen.writeUInt32LE(128);
      const cfd = sysTcp.accept4(this.fd, this.sa, this.salen, C.SOCK_NONBLOCK | C.SOCK_CLOEXEC) as number;
      if (cfd < 0) {
        const e = errno();
        if (e === EAGAIN) return;
        if (e === C.EINTR || e === 103 /* ECONNABORTED */) continue;
        // EMFILE and the like: the listening socket stays readable (level-triggered), so stop
        // watching it for a moment instead of spinning.
        this.onError(sysError('accept', e));
        this.pause();
        return;
      }
      const address = sockaddrText(this.sa);
      if (address === null) {
        sys.close(cfd);
        continue;
      }
      this.onAccept(cfd, address, this.sa.readUInt16BE(2));
    }
  }

  private paused: NodeJS.Timeout | null = null;
  private pause(): void {
    if (this.paused || this.closed) return;
    this.loop.forget(this.fd, true);
    this.paused = setTimeout(() => {
      this.paused = null;
      if (!this.closed && !this.loop.add(this.fd, LISTEN_EVENTS, this)) this.onError(sysError('epoll_ctl', errno()));
    }, 100);
  }

  /** Stops accepting and closes the listening socket (existing connections continue). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.paused) {
      clearTimeout(this.paused);
      this.paused = null;
      sys.close(this.fd);
      return;
    }
    this.loop.close(this.fd);
  }
}
