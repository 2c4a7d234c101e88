/**
 * UDP for one virtual service: a socket bound to VIP:port; flows keyed by client address and
 * port; each flow has one connected socket per real server it uses (one-packet scheduling may
 * send a client's datagrams to several). Replies go back to the client from VIP:port. A flow
 * idle longer than the engine's udp timeout is closed. What is reported to the engine comes from
 * the flow machine (./flow-machine.ts, its datagram events) each flow is.
 */
import { createSocket, type Socket } from 'node:dgram';
import { FlowMachine } from './flow-machine.ts';
import type { FlowPort, Target } from './flow.ts';
import { unmapV4 } from './proxy-protocol.ts';
import { canonicalIp } from '../../core/addr.ts';

interface Upstream {
  sock: Socket;
  target: Target;
}

class UdpFlow extends FlowMachine {
  lastSeen = Date.now();
  readonly ups = new Map<string, Upstream>();
}

export interface UdpServiceOptions {
  readonly af: 4 | 6;
  readonly vaddr: string;
  readonly vport: number;
  /** Milliseconds a flow may stay idle (the engine's udp timeout). */
  idleMs: () => number;
  onError?: (e: Error) => void;
}

export class UdpService {
  private sock: Socket | null = null;
  private readonly flows = new Map<string, UdpFlow>();
  private sweeper: NodeJS.Timeout | null = null;
  constructor(private readonly port: FlowPort, private readonly opts: UdpServiceOptions) {}

  get flowCount(): number {
    return this.flows.size;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = createSocket({ type: this.opts.af === 4 ? 'udp4' : 'udp6', ipv6Only: this.opts.af === 6 });
      s.once('error', reject);
      s.bind({ address: this.opts.vaddr, port: this.opts.vport, exclusive: true }, () => {
        s.off('error', reject);
        s.on('error', (e) => this.opts.onError?.(e));
        s.on('message', (msg, rinfo) => this.onMessage(msg, rinfo.address, rinfo.port));
        this.sock = s;
        this.sweeper = setInterval(() => this.sweep(), 1000);
        this.sweeper.unref();
        resolve();
      });
    });
  }

  private onMessage(msg: Buffer, addr: string, cport: number): void {
    const caddr = canonicalIp(unmapV4(addr)) ?? addr;
    const key = `${caddr} ${cport}`;
    let f = this.flows.get(key);
    if (!f) {
      f = new UdpFlow({ af: this.opts.af, protocol: 'udp', caddr, cport, vaddr: this.opts.vaddr, vport: this.opts.vport, portRef: undefined }, this.port);
      this.flows.set(key, f);
    }
    f.lastSeen = Date.now();
    const t = f.datagramIn(msg.length);
    const flow = f;
    const send = (target: Target | null): void => {
      if (!target) return; // no destination: the datagram is dropped, as a director would
      const tk = `${target.addr} ${target.port}`;
      let up = flow.ups.get(tk);
      if (!up) {
        const sock = createSocket(target.addr.includes(':') ? 'udp6' : 'udp4');
        const u: Upstream = { sock, target };
        sock.on('error', (e) => this.opts.onError?.(e));
        sock.on('message', (reply) => {
          flow.lastSeen = Date.now();
          flow.datagramOut(reply.length);
          this.sock?.send(reply, cport, addr);
        });
        up = u;
        flow.ups.set(tk, u);
      }
      up.sock.send(msg, target.port, target.addr);
    };
    if (t instanceof Promise) t.then(send, (e: Error) => this.opts.onError?.(e));
    else send(t);
  }

  private sweep(): void {
    const now = Date.now();
    const idle = this.opts.idleMs();
    for (const [k, f] of this.flows) {
      if (now - f.lastSeen > idle) {
        for (const u of f.ups.values()) u.sock.close();
        this.flows.delete(k);
      }
    }
  }

  /** Stops listening; with dropFlows also closes the real-server sockets. */
  close(dropFlows = false): void {
    if (this.sweeper) clearInterval(this.sweeper);
    try { this.sock?.close(); } catch { /* closed */ }
    this.sock = null;
    if (dropFlows) {
      for (const f of this.flows.values()) for (const u of f.ups.values()) u.sock.close();
      this.flows.clear();
    }
  }
}
