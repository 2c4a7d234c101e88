/**
 * The contract between the engine (core), the ipvsadm grammar/renderers, the daemon and the
 * forwarders. Plain data only: everything here can cross the control API as JSON.
 *
 * Addresses are canonical strings: IPv4 dotted quad, IPv6 compressed lower-case (RFC 5952),
 * exactly what `formatIp(parseIp(x))` in ./addr.ts returns.
 */

export type Af = 4 | 6;
export type Protocol = 'tcp' | 'udp' | 'sctp';

// ---- The forwarding decision vocabulary ---------------------------------------------------------
// One set of names for what happens to a packet and how it is forwarded, used by the engine's
// verdicts, the forwarders' actions and the rewrite step (src/packet/forward.ts); and one set of
// numbers for them, where a ring, a shared-memory channel, the BPF program or the sync protocol
// carries them (the index of a name in its *_NAMES array is its code).

/**
 * What happens to a packet:
 * - pass: not ours, or for the director itself: let it through untouched (the kernel's stack);
 * - drop: discard silently;
 * - reject: answer the sender with an ICMP error (port unreachable when no destination is
 *   available; time exceeded / fragmentation needed from the rewrite step) and do not forward;
 * - forward: send it on with the connection's forwarding method.
 */
export type VerdictAction = 'pass' | 'drop' | 'reject' | 'forward';
export const ACTION_NAMES = ['pass', 'drop', 'reject', 'forward'] as const satisfies readonly VerdictAction[];
export const ACTION_CODE = { pass: 0, drop: 1, reject: 2, forward: 3 } as const satisfies Record<VerdictAction, number>;

/** Forwarding methods, numbered as the kernel does (IP_VS_CONN_F_MASQ=0, LOCALNODE=1, TUNNEL=2, DROUTE=3). */
export type FwdMethod = 'masq' | 'local' | 'tunnel' | 'route';
export const FWD_NAMES = ['masq', 'local', 'tunnel', 'route'] as const satisfies readonly FwdMethod[];
export const FWD_CODE = { masq: 0, local: 1, tunnel: 2, route: 3 } as const satisfies Record<FwdMethod, number>;

export type TunType = 'ipip' | 'gue' | 'gre';
/** Tunnel types in the kernel's numbering (IP_VS_CONN_F_TUNNEL_TYPE_IPIP=0, GUE=1, GRE=2). */
export const TUN_TYPES = ['ipip', 'gue', 'gre'] as const satisfies readonly TunType[];
export const TUN_CODE = { ipip: 0, gue: 1, gre: 2 } as const satisfies Record<TunType, number>;

/** Tunnel checksum options (--tun-nocsum / --tun-csum / --tun-remcsum). */
export type TunCsum = 'nocsum' | 'csum' | 'remcsum';
export const TUN_CSUMS = ['nocsum', 'csum', 'remcsum'] as const satisfies readonly TunCsum[];
export const TUN_CSUM_CODE = { nocsum: 0, csum: 1, remcsum: 2 } as const satisfies Record<TunCsum, number>;

/** Service flag bits as the kernel numbers them (IP_VS_SVC_F_*). */
export const SVC_F = {
  PERSISTENT: 0x1,
  HASHED: 0x2,
  ONEPACKET: 0x4,
  SCHED1: 0x8, // sh-fallback / mh-fallback / flag-1
  SCHED2: 0x10, // sh-port / mh-port / flag-2
  SCHED3: 0x20, // flag-3
} as const;

/**
 * A virtual service key. fwmark > 0 means a firewall-mark service: then protocol is 'tcp',
 * addr is '0.0.0.0' (or '::' for -6) and port is 0, as the kernel stores them.
 */
export interface ServiceKey {
  readonly af: Af;
  readonly fwmark: number;
  readonly protocol: Protocol;
  readonly addr: string;
  readonly port: number;
}

/** What -A / -E carry (after ipvsadm's defaults, §5.3). */
export interface ServiceSpec extends ServiceKey {
  readonly scheduler: string;
  /** SVC_F bits the user controls: PERSISTENT, ONEPACKET, SCHED1..3. */
  readonly flags: number;
  /** Persistence timeout in seconds (meaningful when PERSISTENT is set). */
  readonly timeout: number;
  /** IPv4: the netmask as an unsigned 32-bit number (0xffffffff = /32). IPv6: prefix length 1..128. */
  readonly netmask: number;
  /** Persistence engine name ("sip") or '' for none. */
  readonly pe: string;
}

/** What -a / -e carry (after ipvsadm's defaults). */
export interface DestSpec {
  readonly af: Af;
  readonly addr: string;
  readonly port: number;
  readonly fwd: FwdMethod;
  readonly weight: number;
  readonly uThreshold: number;
  readonly lThreshold: number;
  readonly tunType: TunType;
  readonly tunPort: number;
  readonly tunCsum: TunCsum;
}

export interface SyncDaemonSpec {
  readonly state: 'master' | 'backup';
  readonly mcastIfn: string;
  readonly syncid: number;
  readonly maxlen: number; // 0 = kernel default
  readonly group: string; // '' = default 224.0.0.81
  readonly port: number; // 0 = default 8848
  readonly ttl: number; // 0 = default 1
}

/** The mutating ipvsadm commands, as data. Listings are reads and are not commands. */
export type IpvsCommand =
  | { readonly kind: 'add-service'; readonly svc: ServiceSpec }
  | { readonly kind: 'edit-service'; readonly svc: ServiceSpec }
  | { readonly kind: 'delete-service'; readonly key: ServiceKey }
  | { readonly kind: 'flush' }
  | { readonly kind: 'add-dest'; readonly key: ServiceKey; readonly dest: DestSpec }
  | { readonly kind: 'edit-dest'; readonly key: ServiceKey; readonly dest: DestSpec }
  | { readonly kind: 'delete-dest'; readonly key: ServiceKey; readonly af: Af; readonly addr: string; readonly port: number }
  | { readonly kind: 'zero'; readonly key?: ServiceKey }
  /** Seconds; 0 = leave unchanged (ipvsadm --set). */
  | { readonly kind: 'set-timeouts'; readonly tcp: number; readonly tcpfin: number; readonly udp: number }
  | { readonly kind: 'start-daemon'; readonly daemon: SyncDaemonSpec }
  | { readonly kind: 'stop-daemon'; readonly state: 'master' | 'backup'; readonly syncid: number };

/** Kernel error numbers the engine answers with (ipvsadm maps them to texts, §5.8). */
export type Errno =
  | 'EEXIST' | 'ENOENT' | 'ESRCH' | 'EINVAL' | 'ERANGE' | 'ENOMEM' | 'EPERM'
  | 'ENODEV' | 'EOPNOTSUPP' | 'EAFNOSUPPORT' | 'ENOPROTOOPT' | 'EMSGSIZE';

export interface StatsSnapshot {
  readonly conns: number;
  readonly inpkts: number;
  readonly outpkts: number;
  readonly inbytes: number;
  readonly outbytes: number;
}

/** Estimator read-out as ipvsadm shows it: per second; bytes per second (not bits). */
export interface RateSnapshot {
  readonly cps: number;
  readonly inpps: number;
  readonly outpps: number;
  readonly inbps: number;
  readonly outbps: number;
}

export interface DestSnapshot extends DestSpec {
  readonly activeConns: number;
  readonly inactConns: number;
  readonly persistConns: number;
  readonly overloaded: boolean;
  readonly stats: StatsSnapshot;
  readonly rates: RateSnapshot;
}

export interface ServiceSnapshot extends ServiceSpec {
  readonly stats: StatsSnapshot;
  readonly rates: RateSnapshot;
  /** Kernel list order: newest first. */
  readonly dests: readonly DestSnapshot[];
}

/**
 * A service as Engine.visitServices hands it to an observer: the snapshot's fields without its
 * list of real servers. The engine refills one object for every service: read it during the
 * call, keep nothing of it.
 */
export type ServiceVisit = Omit<ServiceSnapshot, 'dests'>;

/** A real server as Engine.visitServices hands it over (the engine's own, read-only): read it during the call. */
export type DestVisit = Pick<DestSnapshot, 'af' | 'addr' | 'port' | 'weight' | 'activeConns' | 'inactConns' | 'persistConns'>;

/**
 * Reads the service table in place (Engine.visitServices): each service in list order, then each
 * of its real servers (kernel order, newest first). For observers of large tables (/metrics on
 * 1,000 x 10): no snapshot objects are built, so a scrape leaves nothing for the collector.
 */
export interface ServiceVisitor {
  service(s: ServiceVisit): void;
  dest(d: DestVisit): void;
}

export interface ConnSnapshot {
  readonly af: Af;
  /** 'TCP' | 'UDP' | 'SCTP', or 'IP' for fwmark templates (protocol 0). */
  readonly protocol: string;
  /** Remaining seconds (ipvsadm prints it truncated as MM:SS). */
  readonly expiresIn: number;
  /** TCP state name (ESTABLISHED...), 'UDP', or for templates 'NONE' / 'ASSURED'. */
  readonly state: string;
  readonly caddr: string;
  readonly cport: number;
  readonly vaddr: string;
  readonly vport: number;
  readonly daddr: string;
  readonly dport: number;
  readonly template: boolean;
  readonly peName?: string;
  readonly peData?: string;
}

export interface Timeouts {
  readonly tcp: number;
  readonly tcpfin: number;
  readonly udp: number;
}

export interface IpvsInfo {
  /** "1.2.1" as the kernel reports it. */
  readonly version: string;
  /** Connection hash table size shown as "(size=4096)". */
  readonly connTableSize: number;
}

/**
 * What ipvsadm needs from "the kernel". The engine implements it in-process; the daemon exposes
 * it over the control API. Synchronous on purpose: the engine is pure and in memory.
 */
export interface IpvsBackend {
  info(): IpvsInfo;
  /** null = success. */
  apply(cmd: IpvsCommand): Errno | null;
  /** Services in kernel (hash-table) order; ipvsadm sorts unless --nosort. */
  services(): readonly ServiceSnapshot[];
  service(key: ServiceKey): ServiceSnapshot | null;
  connections(): readonly ConnSnapshot[];
  timeouts(): Timeouts;
  daemons(): readonly SyncDaemonSpec[];
  /**
   * Optional pages of services() and connections(), for a listing that lets other work run
   * between its pages (the daemon's -L of 100,000 lines): services from index `from` (at most
   * `max`; fewer at the end), connections from table position `cursor` (`next` -1 at the end).
   */
  servicesPage?(from: number, max: number): readonly ServiceSnapshot[];
  connectionsPage?(cursor: number, max: number): { readonly conns: readonly ConnSnapshot[]; readonly next: number };
}
