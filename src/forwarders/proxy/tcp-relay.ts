/**
 * One proxied TCP connection on net.Socket (public Node APIs only): client socket <-> real-server
 * socket, both ways, with backpressure and half-close. The fallback when the epoll relay
 * (./epoll-relay.ts) is not available, and the relay of cluster worker processes. What is
 * reported to the engine comes from the flow machine (./flow-machine.ts).
 */
import { connect, type Socket } from 'node:net';
import { EOF, SIDE } from './flow-machine.ts';
import type { Flow, FlowPort, Target } from './flow.ts';
import { RelayBase, type RelayHooks, type RelayOptions } from './relay-base.ts';
import { proxyHeader } from './proxy-protocol.ts';

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
    this.ended();
    hardClose(this.client);
    this.finish();
  }

  override onTarget(t: Target | null): void {
    // The client went away while we were scheduling (its close event may still be on its way).
    if (this.client.destroyed) this.ended();
    super.onTarget(t);
  }

  protected connect(t: Target): void {
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
    if (!this.connected()) return this.abort();
    this.hooks.onOpen?.(this);
    if (this.opts.proxyProtocol) {
      s.write(proxyHeader(this.opts.proxyProtocol, { protocol: 'tcp', srcAddr: this.flow.caddr, srcPort: this.flow.cport, dstAddr: this.opts.localAddr, dstPort: this.opts.localPort }));
    }
    if (this.opts.idleTimeoutMs > 0) {
      c.setTimeout(this.opts.idleTimeoutMs, () => this.abort());
    }
    c.on('data', (d: Buffer) => {
      if (!this.data(false, d.length)) return this.abort();
      if (!s.write(d)) c.pause();
    });
    s.on('data', (d: Buffer) => {
      if (!this.data(true, d.length)) return this.abort();
      if (!c.write(d)) s.pause();
    });
    s.on('drain', () => c.resume());
    c.on('drain', () => s.resume());
    c.on('end', () => {
      if (this.eof(false) !== EOF.AGAIN) s.end();
    });
    s.on('end', () => {
      if (this.eof(true) !== EOF.AGAIN) c.end();
    });
    c.resume();
  }

  /** Engine refused the flow (destination gone) or idle timeout: reset both sides. */
  abort(): void {
    if (!this.aborted()) return;
    hardClose(this.client);
    if (this.server) hardClose(this.server);
    this.finish();
  }

  private fail(where: 'client' | 'server' | 'connect', e: Error): void {
    if (!this.failed(where === 'client' ? SIDE.CLIENT : SIDE.SERVER)) return;
    this.hooks.onError?.(this, where, e);
    if (where === 'client') {
      // The client vanished: drop the real-server side.
      if (this.server) hardClose(this.server);
    } else {
      // The real server refused or died: the client fails fast with a reset.
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
      this.ended();
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

  /** Reported once both sockets are gone. */
  protected override finish(): void {
    if (this.client.destroyed && (!this.server || this.server.destroyed)) super.finish();
  }
}
