/**
 * The proxy forwarder: for every TCP and UDP virtual service, a socket listening on VIP:port;
 * each new client connection (or UDP flow) asks the engine for a real server and is relayed.
 * Listeners follow the rules (sync() after every change). Unprivileged: only sockets.
 *
 * TCP relays come in two kinds with the same behaviour, both the flow machine of ./flow-machine.ts
 * (the same synthesized packets): epoll (default; bare descriptors in the thread's own epoll
 * loop, ./epoll-relay.ts) and net (net.Socket, ./tcp-relay.ts: where epoll through koffi is not
 * available, and in cluster worker processes); relayKind(), option `relay`, tsvs daemon
 * --proxy-relay. UDP services use ./udp-relay.ts.
 *
 * What it cannot do (packet mode is needed): direct routing (-g) and tunnel (-i) destinations,
 * firewall-mark services (-f), SCTP. refusal() names the reason for such a command.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { IpvsCommand, ServiceKey } from '../../core/types.ts';
import { serviceKeyString, serviceKeyText } from '../../core/service-key.ts';
import type { Forwarder } from '../../dataplane/forwarder.ts';
import { PROXY_DEFAULTS, type RelayKind } from '../../dataplane/options.ts';
import { canonicalIp } from '../../core/addr.ts';
import type { Flow, FlowPort } from './flow.ts';
import { TcpRelay } from './tcp-relay.ts';
import type { RelayBase, RelayOptions } from './relay-base.ts';
import { EpollListener, EpollRelay, epollClock, localAddr } from './epoll-relay.ts';
import { currentEpollLoop, epollLoop, listenSocket } from '../../os/epoll.ts';
import { UdpService } from './udp-relay.ts';
import { REFUSED_DESCRIPTORS, REFUSED_MAXCONN, RefusalLog, admissionDrops, type Admission } from './admission.ts';
import { sys, C, CT } from '../../os/libc.ts';
import { unmapV4, type ProxyProtocolVersion } from './proxy-protocol.ts';

export interface ForwarderLog {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
  debug(o: object, msg: string): void;
}

export interface ProxyForwarderOptions {
  readonly proxyProtocol: ProxyProtocolVersion | null;
  readonly connectTimeoutMs: number;
  /** Current engine timeouts in seconds (tcp = ESTABLISHED idle, udp = flow idle). */
  readonly timeouts: () => { tcp: number; tcpfin: number; udp: number };
  readonly log: ForwarderLog;
  /**
   * A descriptor of an already listening socket for a TCP service (relay threads: the daemon
   * opened it); without this option the forwarder listens itself.
   */
  readonly listenFd?: (k: ServiceKey) => number | undefined;
  /** TCP relay kind (default: src/dataplane/options.ts PROXY_DEFAULTS); see relayKind(). */
  readonly relay?: RelayKind;
  /** The epoll relay's speculative I/O after connect() (default: PROXY_DEFAULTS). */
  readonly speculate?: boolean;
  /** Admission of new TCP connections (descriptor budget, per-service maxconn); none: all admitted. */
  readonly admission?: Admission;
}

export const PACKET_MODE_HINT = 'packet mode is needed (tsvs daemon --forwarder packet, as root)';
const MASQ_HINT = 'the proxy forwarder carries masquerading (-m) destinations only';

/** Why the proxy forwarder cannot carry out a command, or null. */
export function proxyRefusal(cmd: IpvsCommand): string | null {
  switch (cmd.kind) {
    case 'add-service':
    case 'edit-service':
      if (cmd.svc.fwmark > 0) return `firewall-mark services (-f ${cmd.svc.fwmark}) are not supported by the proxy forwarder: ${PACKET_MODE_HINT}`;
      if (cmd.svc.protocol === 'sctp') return `SCTP services are not supported by the proxy forwarder: ${PACKET_MODE_HINT}`;
      return null;
    case 'add-dest':
    case 'edit-dest':
      if (cmd.dest.fwd === 'route') return `direct routing (-g, the default forwarding method): ${PACKET_MODE_HINT}; ${MASQ_HINT}`;
      if (cmd.dest.fwd === 'tunnel') return `tunnel forwarding (-i): ${PACKET_MODE_HINT}; ${MASQ_HINT}`;
      return null;
    default:
      return null;
  }
}

export interface ListenerStatus {
  protocol: 'tcp' | 'udp';
  addr: string;
  port: number;
  state: 'listening' | 'failed' | 'starting';
  error?: string;
  /** TCP: the relay kind carrying its connections. */
  relay?: RelayKind;
}

interface Listener {
  key: ServiceKey;
  status: ListenerStatus;
  tcp?: Server;
  ep?: EpollListener;
  udp?: UdpService;
  closing?: boolean;
}

const lkey = serviceKeyString;

/** admit()'s answer without an admission table: nothing to release. */
const NOT_COUNTED = -100;

const linger0 = Buffer.alloc(8); // struct linger { l_onoff = 1, l_linger = 0 }: close() sends a reset
linger0.writeInt32LE(1, 0);
/** Closes an accepted descriptor with a TCP reset (a refused client learns at once). */
function resetClose(fd: number): void {
  sys.setsockopt(fd, C.SOL_SOCKET, CT.SO_LINGER, linger0, 8);
  sys.close(fd);
}

type AnyRelay = TcpRelay | EpollRelay;

/**
 * How TCP connections are relayed (the `relay` option): 'epoll' = bare descriptors in the
 * thread's own epoll loop (./epoll-relay.ts), 'net' = net.Socket (./tcp-relay.ts). Without epoll
 * through koffi, epoll falls back to net.
 */
export type { RelayKind };
export function relayKind(want: RelayKind = PROXY_DEFAULTS.relay): RelayKind {
  return want !== 'net' && epollLoop() ? 'epoll' : 'net';
}

export class ProxyForwarder implements Forwarder {
  private readonly listeners = new Map<string, Listener>();
  /** Live relays by their flow object (abortFlow, timers, close; identity keys: no text per connection). */
  private readonly relays = new Map<Flow, AnyRelay>();
  readonly relayKind: RelayKind;
  private sweep: NodeJS.Timeout | null = null;
  constructor(private readonly port: FlowPort, private readonly opts: ProxyForwarderOptions) {
    this.relayKind = relayKind(opts.relay);
    if (this.relayKind === 'epoll') epollLoop()!.onError = (e) => opts.log.warn({ err: (e as Error)?.message ?? String(e) }, 'epoll relay error');
  }

  /** Connect and idle timeouts of the epoll relays, checked four times a second. */
  private startSweep(): void {
    if (this.sweep) return;
    epollClock(performance.now());
    this.sweep = setInterval(() => {
      const now = performance.now();
      epollClock(now);
      for (const r of this.relays.values()) if (!(r instanceof TcpRelay)) r.checkTimers(now);
    }, 250);
    this.sweep.unref();
  }

  refusal(cmd: IpvsCommand): string | null {
    return proxyRefusal(cmd);
  }

  get activeRelays(): number {
    return this.relays.size;
  }

  status(): ListenerStatus[] {
    return [...this.listeners.values()].map((l) => ({ ...l.status }));
  }

  /** Refused new connections by reason: the engine's (no real server...) and admission's (maxconn, descriptor budget). */
  drops(): Record<string, number> {
    return { ...this.port.refused, ...admissionDrops(this.opts.admission?.status()) };
  }

  /** Makes the listeners match the services; resolves with the ones that failed to listen. */
  async sync(services: readonly ServiceKey[]): Promise<ListenerStatus[]> {
    const want = new Map<string, ServiceKey>();
    for (const s of services) {
      if (s.fwmark > 0 || (s.protocol !== 'tcp' && s.protocol !== 'udp')) continue;
      want.set(lkey(s), s);
    }
    for (const [k, l] of this.listeners) {
      if (!want.has(k)) {
        this.listeners.delete(k);
        this.stop(l);
      }
    }
    const starts: Promise<void>[] = [];
    let opened = 0;
    for (const [k, s] of want) {
      const have = this.listeners.get(k);
      if (have && have.status.state !== 'failed') continue;
      // Thousands of listeners at once: a turn of the event loop every 64, so relays keep going.
      if (++opened % 64 === 0) await new Promise((r) => setImmediate(r));
      if (have) this.listeners.delete(k);
      const l: Listener = { key: s, status: { protocol: s.protocol as 'tcp' | 'udp', addr: s.addr, port: s.port, state: 'starting', ...(s.protocol === 'tcp' ? { relay: this.relayKind } : {}) } };
      this.listeners.set(k, l);
      starts.push(this.start(l));
    }
    await Promise.all(starts);
    return [...this.listeners.values()].filter((l) => l.status.state === 'failed').map((l) => ({ ...l.status }));
  }

  private async start(l: Listener): Promise<void> {
    const k = l.key;
    try {
      if (k.protocol === 'udp') {
        const u = new UdpService(this.port, {
          af: k.af, vaddr: k.addr, vport: k.port,
          idleMs: () => this.opts.timeouts().udp * 1000,
          onError: (e) => this.opts.log.debug({ err: e.message, service: lkey(k) }, 'udp relay error'),
        });
        await u.listen();
        l.udp = u;
      } else if (this.relayKind === 'epoll') {
        let fd = this.opts.listenFd?.(k);
        if (this.opts.listenFd && fd === undefined) throw new Error('no listening socket was handed over');
        fd ??= listenSocket(k);
        l.ep = new EpollListener(fd, (cfd, address, port) => this.acceptEpoll(k, cfd, address, port), (e) => this.opts.log.debug({ err: e.message, service: lkey(k) }, 'accept error'));
        this.startSweep();
      } else {
        const srv = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (c) => this.accept(k, c));
        await new Promise<void>((resolve, reject) => {
          srv.once('error', reject);
          const fd = this.opts.listenFd?.(k);
          if (this.opts.listenFd && fd === undefined) throw new Error('no listening socket was handed over');
          const done = (): void => {
            srv.off('error', reject);
            resolve();
          };
          if (fd !== undefined) srv.listen({ fd, backlog: 4096 }, done);
          else srv.listen({ host: k.addr, port: k.port, ipv6Only: k.af === 6, backlog: 4096 }, done);
        });
        srv.on('error', (e) => this.opts.log.warn({ err: e.message, service: lkey(k) }, 'listener error'));
        l.tcp = srv;
      }
      if (l.closing) {
        this.stop(l);
        return;
      }
      l.status.state = 'listening';
      this.opts.log.info({ protocol: k.protocol, addr: k.addr, port: k.port }, 'listening');
    } catch (e) {
      l.status.state = 'failed';
      l.status.error = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      this.opts.log.warn({ protocol: k.protocol, addr: k.addr, port: k.port, err: (e as Error).message }, 'cannot listen for virtual service');
    }
  }

  private stop(l: Listener): void {
    l.closing = true;
    // Existing connections continue (as in the kernel, where connections outlive their service).
    l.tcp?.close();
    l.ep?.close();
    l.udp?.close(true);
    if (l.tcp || l.udp || l.ep) this.opts.log.info({ protocol: l.key.protocol, addr: l.key.addr, port: l.key.port }, 'stopped listening');
  }

  private accept(k: ServiceKey, c: Socket): void {
    const raddr = c.remoteAddress, rport = c.remotePort;
    if (!raddr || !rport) {
      c.destroy();
      return;
    }
    const at = this.admit(k);
    if (at === null) {
      c.resetAndDestroy();
      return;
    }
    const caddr = canonicalIp(unmapV4(raddr)) ?? raddr;
    const tcpTimeout = this.opts.timeouts().tcp;
    const r = new TcpRelay(
      { af: k.af, protocol: 'tcp', caddr, cport: rport, vaddr: k.addr, vport: k.port, portRef: undefined },
      c,
      this.port,
      { proxyProtocol: this.opts.proxyProtocol, connectTimeoutMs: this.opts.connectTimeoutMs, idleTimeoutMs: tcpTimeout * 1000, speculate: false, localAddr: unmapV4(c.localAddress ?? k.addr), localPort: c.localPort ?? k.port },
      {
        onClose: (x) => {
          this.relays.delete(x.flow);
          this.released(x.flow);
          this.port.closed?.(x.flow);
        },
        onError: (x, where, e) => this.opts.log.debug({ where, err: e?.message ?? 'no destination', client: `${caddr}:${rport}`, service: lkey(k), dest: x.target ? `${x.target.addr}:${x.target.port}` : undefined }, 'relay error'),
      },
    );
    this.relays.set(r.flow, r);
    if (at !== NOT_COUNTED) this.admitted.set(r.flow, at);
    r.start();
  }

  /**
   * Options of an epoll relay; `local` is the address the client reached (PROXY header), only
   * looked up when a PROXY header is sent (else the service's).
   */
  private relayOptions(k: ServiceKey, local: { address: string; port: number } | null): RelayOptions {
    const idleTimeoutMs = this.opts.timeouts().tcp * 1000;
    // Without a PROXY header the options are the service's: one object until the timeout changes.
    const cached = local ? undefined : this.optsCache.get(k);
    if (cached && cached.idleTimeoutMs === idleTimeoutMs) return cached;
    const o: RelayOptions = {
      proxyProtocol: this.opts.proxyProtocol, connectTimeoutMs: this.opts.connectTimeoutMs, idleTimeoutMs, speculate: this.opts.speculate ?? PROXY_DEFAULTS.speculate,
      localAddr: local?.address ?? k.addr, localPort: local?.port ?? k.port,
    };
    if (!local) this.optsCache.set(k, o);
    return o;
  }
  /** relayOptions() by service key object (listeners keep theirs). */
  private readonly optsCache = new WeakMap<ServiceKey, RelayOptions>();

  /** A new connection as a bare descriptor (./epoll-relay.ts); accept4 gave its address. */
  private acceptEpoll(k: ServiceKey, cfd: number, address: string, port: number): void {
    const at = this.admit(k);
    if (at === null) {
      resetClose(cfd);
      return;
    }
    this.track(at, new EpollRelay(
      { af: k.af, protocol: 'tcp', caddr: address, cport: port, vaddr: k.addr, vport: k.port, portRef: undefined },
      cfd,
      this.port,
      this.relayOptions(k, this.opts.proxyProtocol ? localAddr(cfd) : null),
      this.epollHooks,
    ));
  }

  private track(at: number, r: EpollRelay): void {
    this.relays.set(r.flow, r);
    if (at !== NOT_COUNTED) this.admitted.set(r.flow, at);
    r.start();
  }

  /** Admitted connections' slots (./admission.ts), released when they close. */
  private readonly admitted = new Map<Flow, number>();
  private readonly admissionKeys = new WeakMap<ServiceKey, string>();
  private refusalLog: RefusalLog | null = null;

  /**
   * Admission at accept, before the engine or a real server sees the connection: the slot to
   * release when it closes, or null: refused (the caller resets the client at once).
   */
  private admit(k: ServiceKey): number | null {
    const a = this.opts.admission;
    if (!a) return NOT_COUNTED;
    let key = this.admissionKeys.get(k);
    if (key === undefined) this.admissionKeys.set(k, (key = lkey(k)));
    const at = a.admit(key);
    if (at === REFUSED_DESCRIPTORS || at === REFUSED_MAXCONN) {
      this.refusalLog ??= new RefusalLog((o, m) => this.opts.log.warn(o, m), () => a.status());
      this.refusalLog.note(at);
      return null;
    }
    return at;
  }

  private released(f: Flow): void {
    const at = this.admitted.get(f);
    if (at === undefined) return;
    this.admitted.delete(f);
    this.opts.admission!.release(at);
  }

  private readonly epollClosed = (x: RelayBase): void => {
    this.relays.delete(x.flow);
    this.released(x.flow);
    this.port.closed?.(x.flow);
  };
  private readonly epollError = (x: RelayBase, where: string, e: Error | null): void => {
    this.opts.log.debug({ where, err: e?.message ?? 'no destination', client: `${x.flow.caddr}:${x.flow.cport}`, service: serviceKeyText('tcp', x.flow.vaddr, x.flow.vport), dest: x.target ? `${x.target.addr}:${x.target.port}` : undefined }, 'relay error');
  };
  /** The hooks every epoll relay gets (one object, not one per connection). */
  private readonly epollHooks = { onClose: this.epollClosed, onError: this.epollError };

  /** Resets the relay of one flow (the engine refused it). */
  abortFlow(f: Flow): void {
    this.relays.get(f)?.abort();
  }

  async close(): Promise<void> {
    for (const l of this.listeners.values()) this.stop(l);
    this.listeners.clear();
    for (const r of [...this.relays.values()]) r.abort();
    this.relays.clear();
    if (this.sweep) clearInterval(this.sweep);
    this.sweep = null;
    if (this.relayKind === 'epoll') {
      const l = currentEpollLoop();
      if (l && l.size === 0) l.shutdown(); // the next forwarder of this thread starts a new one
    }
  }
}
