/**
 * The contract between the engine (core), the ipvsadm grammar/renderers, the daemon and the
 * forwarders. Plain data only: everything here can cross the control API as JSON.
 *
 * Addresses are canonical strings: IPv4 dotted quad, IPv6 compressed lower-case (RFC 5952),
 * exactly what `formatIp(parseIp(x))` in ./addr.ts returns.
 */

export type Af = 4 | 6;
export type Protocol = 'tcp' | 'udp' | 'sctp';
/** Kernel forwarding methods: Masq=0, Local=1, Tunnel=2, Route(DR)=3. */
export type FwdMethod = 'masq' | 'local' | 'tunnel' | 'route';
export type TunType = 'ipip' | 'gue' | 'gre';
/** Tunnel types in the kernel's numbering (IP_VS_CONN_F_TUNNEL_TYPE_IPIP=0, GUE=1, GRE=2). */
export const TUN_TYPES = ['ipip', 'gue', 'gre'] as const satisfies readonly TunType[];
export type TunCsum = 'nocsum' | 'csum' | 'remcsum';

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
}
