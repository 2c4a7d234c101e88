/**
 * What the observers (/metrics, the /proc/net/ip_vs* files, the HTTP API and the dashboard)
 * read of a running daemon: one plain-data snapshot, taken in one go by src/daemon/observe.ts.
 * Renderers in this folder are pure functions of it (no I/O, no clock).
 */
import type { ConnSnapshot, IpvsInfo, RateSnapshot, ServiceSnapshot, ServiceVisitor, StatsSnapshot, Timeouts } from '../core/types.ts';
import type { HealthStatus } from '../health/types.ts';

export interface VrrpObserved {
  readonly name: string;
  /** INIT | BACKUP | MASTER | FAULT | STOP */
  readonly state: string;
  readonly priority: number;
  readonly vrid: number;
  readonly interface: string;
  readonly vips: readonly string[];
  /** Adverts received and accepted / sent / dropped (bad TTL, checksum, auth...). */
  readonly rx: number;
  readonly tx: number;
  readonly dropped: number;
  readonly becameMaster: number;
  readonly releasedMaster: number;
}

export interface SyncObserved {
  /** master | backup */
  readonly state: string;
  readonly mcastIfn: string;
  readonly syncid: number;
  /** Numeric counters by name (src/ha/sync-daemon.ts SyncDaemonCounters); null while the transport starts. */
  readonly counters: object | null;
}

export interface FastPathObserved {
  readonly kind: string;
  readonly flows: number;
  readonly installed: number;
  readonly removed: number;
  readonly full: number;
  readonly events: number;
  readonly forwarded: number;
}

export interface ForwarderObserved {
  readonly kind: 'proxy' | 'packet' | 'none';
  /** Packets (or, for the proxy, connections) dropped, by stable reason (docs/ERRORS.md). */
  readonly drops: Readonly<Record<string, number>>;
  /** Packet forwarder counters by outcome (rx, route, masqIn, ...); empty for the proxy. */
  readonly packets: Readonly<Record<string, number>>;
  readonly fastPath: FastPathObserved | null;
}

/** A graceful drain in progress or finished (src/daemon/drain.ts). */
export interface DrainObserved {
  /** `SERVICE-ID/REAL-ID` (src/observe/ids.ts). */
  readonly id: string;
  /** Display name, as tsvsadm writes a service: "TCP 10.0.0.1:80", "FWM 7". */
  readonly service: string;
  readonly key: { readonly af: 4 | 6; readonly fwmark: number; readonly protocol: string; readonly addr: string; readonly port: number };
  readonly dest: { readonly addr: string; readonly port: number };
  readonly state: 'draining' | 'drained' | 'timeout' | 'cancelled' | 'failed';
  readonly then: 'delete' | 'keep';
  /** Epoch ms. */
  readonly startedAt: number;
  readonly deadline: number;
  readonly finishedAt: number | null;
  readonly activeConns: number;
  readonly inactConns: number;
  readonly persistConns: number;
  /** The weight before the drain (restored when cancelled). */
  readonly weightBefore: number;
  readonly error?: string;
  /** What happened meanwhile that did not fail it (a health checker's weight held at 0, the server removed). */
  readonly note?: string;
}

/** A real server ramping up its weight (src/daemon/slow-start.ts). */
export interface SlowStartObserved {
  readonly key: { readonly af: 4 | 6; readonly fwmark: number; readonly protocol: 'tcp' | 'udp' | 'sctp'; readonly addr: string; readonly port: number };
  readonly addr: string;
  readonly port: number;
  /** The weight it ramps to, and the one in force now. */
  readonly target: number;
  readonly weight: number;
  /** Epoch ms. */
  readonly startedAt: number;
  readonly endsAt: number;
}

/** The BGP announcement (`--bgp bird`, src/daemon/announce.ts). */
export interface BgpObserved {
  readonly draining: boolean;
  /** Every prefix the director would announce, and whether it does now. */
  readonly prefixes: readonly { readonly prefix: string; readonly announced: boolean }[];
  /** BGP sessions by neighbour address. */
  readonly peers: readonly { readonly address: string; readonly established: boolean }[];
  readonly birdRunning: boolean;
  /** How many times BIRD was started (1 + restarts after it exited). */
  readonly birdStarts: number;
}

export interface ObserveSnapshot {
  /** Epoch milliseconds when taken. */
  readonly at: number;
  readonly pid: number;
  readonly startedAt: number;
  readonly info: IpvsInfo;
  readonly timeouts: Timeouts;
  readonly services: readonly ServiceSnapshot[];
  readonly total: { readonly stats: StatsSnapshot; readonly rates: RateSnapshot };
  readonly connTable: { readonly entries: number; readonly limit: number; readonly tableFull: number };
  readonly health: HealthStatus | null;
  readonly vrrp: readonly VrrpObserved[];
  readonly sync: readonly SyncObserved[];
  readonly forwarder: ForwarderObserved;
  readonly drains: readonly DrainObserved[];
  readonly slowStarts: readonly SlowStartObserved[];
  /** null without --bgp. */
  readonly bgp?: BgpObserved | null;
}

/**
 * The snapshot without its list of services, which are read in place from the engine when
 * rendered (Engine.visitServices): what /metrics scrapes every second, on the forwarding thread,
 * with no snapshot objects built for a large table. Read it right away: the services are read
 * when visited, not when it was taken.
 */
export interface LiveSnapshot extends Omit<ObserveSnapshot, 'services'> {
  visitServices(v: ServiceVisitor): void;
}

/** The connection table is read separately: it can be large and only /proc/net/ip_vs_conn and the API list it. */
export type ConnList = readonly ConnSnapshot[];
