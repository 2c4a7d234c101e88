/**
 * One proxied TCP connection: client socket <-> real-server socket, both ways, with
 * backpressure and half-close, reporting synthesized packets to the engine (./flow.ts).
 */
import { connect, type Socket } from 'node:net';
import { TCP_FLAG, type Flow, type FlowPort, type Target } from './flow.ts';
import { RelayBase, type RelayHooks, type RelayOptions } from './relay-base.ts';
import { proxyHeader } from './proxy-protocol.ts';

const { FIN, SYN, RST, ACK, PSH } = TCP_FLAG;

/**
 * Closes a socket with a TCP reset when that is still possible. After our side has sent its FIN
 * (end() called) a reset must not be requested (libuv refuses close-reset after shutdown, and
 * Node 20 can then spin at exit): destroy it normally instead.
 */
export function hardClose(s: Socket): void {
  if (s.destroyed) return;
  if (s.writableEnded || s.connecting) s.destroy();
  else s.resetAndDestroy();
}

export class TcpRelay extends RelayBase {
  server: Socket | null = null;
  private clientEnded = false;
  private serverEnded = false;
  private closed = false;

  constructor(flow: Flow, readonly client: Socket, port: FlowPort, opts: RelayOptions, hooks: RelayHooks) {
    super(flow, port, opts, hooks);
  }

  override start(): void {
    const c = this.client;
    c.pause();
    c.on('error', (e) => this.fail('client', e));
    c.on('close', () => this.onSocketClose());
    super.start();
  }

  protected resetClient(): void {
    this.closed = true;
    hardClose(this.client);
    this.finish();
  }

  onTarget(t: Target | null): void {
    if (this.closed || this.client.destroyed) {
      // The client went away while we were scheduling.
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
    const s = connect({ host: t.addr, port: t.port, allowHalfOpen: true, noDelay: true });
    this.server = s;
    const timer = setTimeout(() => s.destroy(new Error(`connect to ${t.addr}:${t.port} timed out`)), this.opts.connectTimeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      this.onConnected();
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      this.fail(s.connecting ? 'connect' : 'server', e);
    });
    s.on('close', () => this.onSocketClose());
  }

  private onConnected(): void {
    const c = this.client, s = this.server!;
    if (this.closed) return;
    this.pkt('out', SYN | ACK, 0);
    if (!this.pkt('in', ACK, 0)) return this.abort();
    this.hooks.onOpen?.(this);
    if (this.opts.proxyProtocol) {
      s.write(proxyHeader(this.opts.proxyProtocol, { protocol: 'tcp', srcAddr: this.flow.caddr, srcPort: this.flow.cport, dstAddr: this.opts.localAddr, dstPort: this.opts.localPort }));
    }
    if (this.opts.idleTimeoutMs > 0) {
      c.setTimeout(this.opts.idleTimeoutMs, () => this.abort());
    }
    c.on('data', (d: Buffer) => {
      if (!this.pkt('in', ACK | PSH, d.length)) return this.abort();
      if (!s.write(d)) c.pause();
    });
    s.on('data', (d: Buffer) => {
      if (!this.pkt('out', ACK | PSH, d.length)) return this.abort();
      if (!c.write(d)) s.pause();
    });
    s.on('drain', () => c.resume());
    c.on('drain', () => s.resume());
    c.on('end', () => {
      this.clientEnded = true;
      this.pkt('in', FIN | ACK, 0);
      if (this.serverEnded) this.pkt('in', ACK, 0);
      s.end();
    });
    s.on('end', () => {
      this.serverEnded = true;
      this.pkt('out', FIN | ACK, 0);
      if (this.clientEnded) this.pkt('in', ACK, 0);
      c.end();
    });
    c.resume();
  }

  /** Engine refused the flow (destination gone) or idle timeout: reset both sides. */
  abort(): void {
    if (this.closed) return;
    this.pkt('in', RST, 0);
    this.closed = true;
    hardClose(this.client);
    if (this.server) hardClose(this.server);
    this.finish();
  }

  private fail(where: 'client' | 'server' | 'connect', e: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.hooks.onError?.(this, where, e);
    if (where === 'client') {
      // The client vanished: tell the engine, drop the real-server side.
      if (this.target) this.pkt('in', RST, 0);
      if (this.server) hardClose(this.server);
    } else {
      // The real server refused or died: the client fails fast with a reset.
      this.pkt('out', RST, 0);
      hardClose(this.client);
    }
    this.finish();
  }

  private onSocketClose(): void {
    if (this.closed) {
      this.finish();
      return;
    }
    const cGone = this.client.destroyed;
    const sGone = !this.server || this.server.destroyed;
    if (cGone && sGone) {
      this.closed = true;
      this.finish();
    } else if (cGone && !this.clientEnded) {
      // Closed without FIN and without error: treat as a reset from the client.
      this.fail('client', new Error('client closed'));
    } else if (!sGone && cGone && this.server) {
      this.server.end();
    } else if (sGone && !cGone && !this.serverEnded && this.target) {
      this.fail('server', new Error('real server closed'));
    }
  }

  private finished = false;
  private finish(): void {
    if (this.finished) return;
    const cGone = this.client.destroyed;
    const sGone = !this.server || this.server.destroyed;
    if (!(cGone && sGone)) return;
    this.finished = true;
    this.hooks.onClose?.(this);
  }
}
