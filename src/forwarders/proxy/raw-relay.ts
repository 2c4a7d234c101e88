/**
 * One proxied TCP connection on libuv TCP handles directly (Node's tcp_wrap/stream_wrap
 * bindings), without net.Socket and streams: per connection this saves the Socket/Duplex/
 * stream-state objects, getsockname/getpeername calls and event emitters, which were most of
 * the proxy's per-connection CPU (bench/proxy). Same behaviour and the same synthesized packets
 * as ./tcp-relay.ts (the net.Socket version, kept as a fallback: --proxy-relay net) and
 * ./epoll-relay.ts (the default since it needs less CPU; this one: --proxy-relay uv):
 *
 *   accept -> SYN in; connected -> SYN+ACK out, ACK in; read of n bytes -> ceil(n/MSS) packets;
 *   EOF -> FIN+ACK (the second one followed by the last ACK in); errors -> RST in / out.
 *
 * Backpressure: a write that libuv could not finish synchronously stops reading the other side
 * until it completes. Half-close: an EOF from one side shuts down the write side of the other
 * after its pending writes (uv_shutdown waits for them); both handles close once both
 * directions are done. Timeouts (connect, idle) are checked by the owner's sweep (checkTimers).
 */
import type { Server } from 'node:net';
import { TCP_FLAG, type Flow, type FlowPort, type Target } from './flow.ts';
import { proxyHeader } from './proxy-protocol.ts';
import { RelayBase, type RelayHooks, type RelayOptions } from './relay-base.ts';

const { FIN, SYN, RST, ACK, PSH } = TCP_FLAG;

/* eslint-disable @typescript-eslint/no-explicit-any */
interface Bindings {
  TCP: any;
  TCPConnectWrap: any;
  SOCKET: number;
  WriteWrap: any;
  ShutdownWrap: any;
  state: Int32Array;
  kRead: number;
  kOffset: number;
  kAsync: number;
}

let B: Bindings | null | undefined;
/** The libuv bindings (null when this Node lacks them: use ./tcp-relay.ts). */
export function libuvBindings(): Bindings | null {
  if (B !== undefined) return B;
  B = null;
  try {
    const pb = (process as unknown as { binding(n: string): any }).binding;
    const t = pb('tcp_wrap'), s = pb('stream_wrap');
    if (typeof t.TCP === 'function' && typeof s.WriteWrap === 'function' && s.streamBaseState && typeof t.TCP.prototype.readStart === 'function') {
      B = { TCP: t.TCP, TCPConnectWrap: t.TCPConnectWrap, SOCKET: t.constants.SOCKET, WriteWrap: s.WriteWrap, ShutdownWrap: s.ShutdownWrap, state: s.streamBaseState, kRead: s.kReadBytesOrError, kOffset: s.kArrayBufferOffset, kAsync: s.kLastWriteWasAsync };
    }
  } catch {
    B = null;
  }
  return B;
}

/** libuv error names for logs (util.getSystemErrorName would throw on odd values). */
import { getSystemErrorName } from 'node:util';
function uvError(where: string, code: number): Error {
  let name = String(code);
  try { name = getSystemErrorName(code); } catch { /* keep the number */ }
  const e = new Error(`${where}: ${name}`) as NodeJS.ErrnoException;
  e.code = name;
  return e;
}

const UV_EOF = -4095;
const noop = (): void => {};

/** A raw handle accepted by a listening net.Server; takes the server's accepts over. */
export type RawAccept = (handle: any) => void;

/**
 * Routes a listening net.Server's new connections to fn as raw TCP handles (net.Socket is never
 * created). Works with cluster workers' shared handles (SCHED_NONE). Returns false when the
 * server has no handle to take over.
 */
export function takeOverAccepts(srv: Server, fn: RawAccept, onError: (e: Error) => void): boolean {
  const h = (srv as unknown as { _handle: any })._handle;
  if (!h || typeof h.onconnection !== 'function') return false;
  h.onconnection = (err: number, client: any) => {
    if (err) onError(uvError('accept', err));
    else if (client) fn(client);
  };
  return true;
}

/** Peer or local address of a raw handle. */
export function handleAddr(h: any, peer: boolean): { address: string; port: number; family: string } | null {
  const o: { address?: string; port?: number; family?: string } = {};
  const err = peer ? h.getpeername(o) : h.getsockname(o);
  if (err || !o.address || !o.port) return null;
  return { address: o.address, port: o.port, family: o.family ?? '' };
}

function onWriteDone(this: { relay: RawRelay; toServer: boolean }, status: number): void {
  this.relay.writeDone(this.toServer, status);
}
function onShutdownDone(this: { relay: RawRelay; server: boolean }, _status: number): void {
  this.relay.shutDone(this.server);
}

let tick = 0;
/** The coarse clock (ms) timeouts are measured with; the owner's sweep advances it. */
export function relayClock(now: number): void {
  tick = now;
}

export class RawRelay extends RelayBase {
  server: any = null;
  private readonly b: Bindings;
  private clientEnded = false; // EOF from the client (FIN in)
  private serverEnded = false; // EOF from the server (FIN out)
  private cShut = false; // client write side shut down (done)
  private sShut = false;
  private cShutReq = false;
  private sShutReq = false;
  private pendC = 0; // async writes pending toward the client
  private pendS = 0;
  private connected = false;
  private closed = false;
  private finished = false;
  private handlesOpen = 0;
  /** ms on relayClock: start of connect, then last activity. */
  private active = tick;

  constructor(flow: Flow, readonly client: any, port: FlowPort, opts: RelayOptions, hooks: RelayHooks) {
    super(flow, port, opts, hooks);
    this.b = libuvBindings()!;
    this.handlesOpen = 1;
  }

  protected resetClient(): void {
    this.closed = true;
    this.closeHandle(this.client, true, false);
  }

  onTarget(t: Target | null): void {
    if (this.closed) {
      if (t) this.pkt('in', RST, 0);
      this.finish();
      return;
    }
    if (!t) {
      // No destination available: like a director without a real server, the client gets a reset.
      this.hooks.onError?.(this, 'schedule', null);
      this.resetClient();
      return;
    }
    this.target = t;
    const b = this.b;
    const s = new b.TCP(b.SOCKET);
    this.server = s;
    this.handlesOpen++;
    const req = new b.TCPConnectWrap();
    req.oncomplete = (status: number) => this.onConnect(status);
    req.address = t.addr;
    req.port = t.port;
    req.localAddress = '';
    req.localPort = 0;
    this.active = tick;
    const err: number = t.addr.includes(':') ? s.connect6(req, t.addr, t.port) : s.connect(req, t.addr, t.port);
    if (err) {
      // Synchronous failure: report it from the next turn, like an asynchronous refusal.
      queueMicrotask(() => this.onConnect(err));
    }
  }

  private onConnect(status: number): void {
    if (this.closed) return;
    if (status < 0) return this.fail('connect', uvError(`connect to ${this.target!.addr}:${this.target!.port}`, status));
    this.connected = true;
    this.active = tick;
    const c = this.client, s = this.server;
    this.pkt('out', SYN | ACK, 0);
    if (!this.pkt('in', ACK, 0)) return this.abort();
    this.hooks.onOpen?.(this);
    c.setNoDelay(true);
    s.setNoDelay(true);
    if (this.opts.proxyProtocol) {
      this.write(s, true, proxyHeader(this.opts.proxyProtocol, { protocol: 'tcp', srcAddr: this.flow.caddr, srcPort: this.flow.cport, dstAddr: this.opts.localAddr, dstPort: this.opts.localPort }));
      if (this.closed) return;
    }
    c.onread = (ab: ArrayBuffer | undefined) => this.onRead(false, ab);
    s.onread = (ab: ArrayBuffer | undefined) => this.onRead(true, ab);
    let err: number = c.readStart();
    if (!err) err = s.readStart();
    if (err) this.fail('client', uvError('read', err));
  }

  private onRead(fromServer: boolean, ab: ArrayBuffer | undefined): void {
    if (this.closed) return;
    const st = this.b.state;
    const n = st[this.b.kRead]!;
    if (n > 0) {
      this.active = tick;
      if (!this.pkt(fromServer ? 'out' : 'in', ACK | PSH, n)) return this.abort();
      this.write(fromServer ? this.client : this.server, !fromServer, Buffer.from(ab!, st[this.b.kOffset]!, n));
      return;
    }
    if (n === 0) return;
    if (n === UV_EOF) {
      if (fromServer) {
        this.serverEnded = true;
        this.pkt('out', FIN | ACK, 0);
        if (this.clientEnded) this.pkt('in', ACK, 0);
      } else {
        this.clientEnded = true;
        this.pkt('in', FIN | ACK, 0);
        if (this.serverEnded) this.pkt('in', ACK, 0);
      }
      if (this.clientEnded && this.serverEnded && this.pendC === 0 && this.pendS === 0) {
        // Both sides sent their FIN and everything they sent is in the kernel: close() sends our
        // FIN on each side at once (nothing unread, so no reset), without waiting a loop turn
        // for each uv_shutdown (an in-flight one is cancelled; its FIN goes out with the close).
        this.closed = true;
        this.closeHandle(this.client, false, false);
        this.closeHandle(this.server, false, true);
        return;
      }
      this.shutdown(!fromServer);
      return;
    }
    this.fail(fromServer ? 'server' : 'client', uvError('read', n));
  }

  private write(h: any, toServer: boolean, buf: Buffer): void {
    const b = this.b;
    const req = new b.WriteWrap();
    req.relay = this;
    req.toServer = toServer;
    req.oncomplete = onWriteDone;
    req.buffer = buf; // keeps the memory alive while libuv writes it
    const err: number = h.writeBuffer(req, buf);
    if (err) return this.fail(toServer ? 'server' : 'client', uvError('write', err));
    if (b.state[b.kAsync]) {
      // Not all written: stop reading the other side until this write completes.
      if (toServer) {
        if (this.pendS++ === 0 && !this.clientEnded) this.client.readStop();
      } else if (this.pendC++ === 0 && !this.serverEnded) this.server.readStop();
    }
  }

  /** A pending (asynchronous) write finished. */
  writeDone(toServer: boolean, status: number): void {
    if (this.closed) return;
    if (status < 0) return this.fail(toServer ? 'server' : 'client', uvError('write', status));
    this.active = tick;
    if (toServer) {
      if (--this.pendS === 0 && !this.clientEnded) this.client.readStart();
    } else if (--this.pendC === 0 && !this.serverEnded) this.server.readStart();
  }

  private shutdown(server: boolean): void {
    const h = server ? this.server : this.client;
    if (server ? this.sShutReq : this.cShutReq) return;
    if (server) this.sShutReq = true;
    else this.cShutReq = true;
    const req = new this.b.ShutdownWrap();
    req.relay = this;
    req.server = server;
    req.oncomplete = onShutdownDone;
    const err: number = h.shutdown(req);
    if (err) this.shutDone(server);
  }

  /** Our FIN toward one side went out (after its pending writes). */
  shutDone(server: boolean): void {
    if (server) this.sShut = true;
    else this.cShut = true;
    if (this.closed) return;
    if (this.clientEnded && this.serverEnded && this.cShut && this.sShut) {
      // Both directions done: an orderly close.
      this.closed = true;
      this.closeHandle(this.client, false, true);
      this.closeHandle(this.server, false, true);
    }
  }

  /** Engine refused the flow (destination gone) or idle timeout: reset both sides. */
  abort(): void {
    if (this.closed) return;
    this.pkt('in', RST, 0);
    this.closed = true;
    this.closeHandle(this.client, true, false);
    if (this.server) this.closeHandle(this.server, true, true);
  }

  private fail(where: 'client' | 'server' | 'connect', e: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.hooks.onError?.(this, where, e);
    if (where === 'client') {
      // The client vanished: tell the engine, drop the real-server side.
      if (this.target) this.pkt('in', RST, 0);
      this.closeHandle(this.client, false, false);
      if (this.server) this.closeHandle(this.server, true, true);
    } else {
      // The real server refused or died: the client fails fast with a reset.
      this.pkt('out', RST, 0);
      this.closeHandle(this.client, true, false);
      if (this.server) this.closeHandle(this.server, where === 'server', true);
    }
  }

  /** Closes a handle, with a TCP reset when asked and still possible (not after our FIN). */
  private closeHandle(h: any, reset: boolean, server: boolean): void {
    if (h.__closing) return;
    h.__closing = true;
    h.onread = noop;
    const done = (): void => {
      if (--this.handlesOpen === 0) this.finish();
    };
    const shut = server ? this.sShutReq : this.cShutReq;
    const canReset = reset && !shut && (!server || this.connected);
    if (canReset && typeof h.reset === 'function' && h.reset(done) === 0) return;
    h.close(done);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.closed = true;
    this.hooks.onClose?.(this);
  }

  /** Called by the owner's sweep with relayClock() advanced: connect and idle timeouts. */
  checkTimers(now: number): void {
    if (this.closed) return;
    if (!this.connected) {
      if (this.server && now - this.active >= this.opts.connectTimeoutMs) {
        this.fail('connect', new Error(`connect to ${this.target!.addr}:${this.target!.port} timed out`));
      }
    } else if (this.opts.idleTimeoutMs > 0 && now - this.active >= this.opts.idleTimeoutMs) {
      this.abort();
    }
  }
}
