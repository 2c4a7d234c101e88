/**
 * Takes the snapshot the observers read (src/observe/snapshot.ts) from a running daemon's parts,
 * through their existing status paths. The daemon hands over narrow getters (Daemon.observeSources)
 * so this file never reaches into its fields.
 *
 * Drops: the packet forwarder's are its DropReason counters (in its status); the proxy's are the
 * new connections it refused (Forwarder.drops(): no real server, maxconn, descriptor budget).
 */
import type { ConnSnapshot, IpvsInfo, RateSnapshot, ServiceKey, ServiceSnapshot, ServiceVisitor, StatsSnapshot, SyncDaemonSpec, Timeouts } from '../core/types.ts';
import type { HealthStatus } from '../health/types.ts';
import type { Engine } from '../core/engine.ts';
import type { BgpObserved, SlowStartObserved, DrainObserved, FastPathObserved, ForwarderObserved, LiveSnapshot, ObserveSnapshot, SyncObserved, VrrpObserved } from '../observe/snapshot.ts';

/** The engine calls observers make (src/core/engine.ts Engine). */
export interface ObservedEngine {
  info(): IpvsInfo;
  timeouts(): Timeouts;
  services(): readonly ServiceSnapshot[];
  /** /metrics reads the table in place (no snapshot objects). */
  visitServices(v: ServiceVisitor): void;
  service(key: ServiceKey): ServiceSnapshot | null;
  connections(): readonly ConnSnapshot[];
  daemons(): readonly SyncDaemonSpec[];
  totalStats(): StatsSnapshot;
  totalRates(): RateSnapshot;
  counters(): { tableFull: number; entries: number; limit?: number };
  setTime(now: number): void;
  /** The dry run of `tsvs explain` (GET /api/v1/explain). */
  explain: Engine['explain'];
}

export interface ObserveSources {
  readonly engine: ObservedEngine;
  readonly startedAt: number;
  readonly forwarderKind: 'proxy' | 'packet' | 'none';
  /** Make the engine count what the forwarder accepted or forwarded but has not reported yet (exact counters). */
  settle(): void | Promise<void>;
  /** The engine's clock (seconds) to set before listing connections. */
  now(): number;
  forwarderStatus(): unknown;
  /** The proxy's refusals by reason (Forwarder.drops()); absent or {} otherwise. */
  forwarderDrops?(): Readonly<Record<string, number>>;
  health(): HealthStatus | null;
  vrrp(): readonly VrrpObserved[];
  sync(): Promise<readonly SyncObserved[]>;
  drains(): readonly DrainObserved[];
  slowStarts(): readonly SlowStartObserved[];
  /** The BGP announcement (null without --bgp). */
  bgp?(): Promise<BgpObserved | null>;
}

/** Default connection table limit (src/core/engine.ts EngineOptions.connMax) when the engine does not say. */
const DEFAULT_CONN_LIMIT = 1 << 20;

function numbers(x: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (typeof x !== 'object' || x === null) return out;
  for (const [k, v] of Object.entries(x)) if (typeof v === 'number') out[k] = v;
  return out;
}

/** Reads the forwarder's status() (untyped across forwarders) into the observed shape. */
export function forwarderObserved(kind: ObserveSources['forwarderKind'], st: unknown, drops: Readonly<Record<string, number>> = {}): ForwarderObserved {
  if (kind !== 'packet' || typeof st !== 'object' || st === null || Array.isArray(st)) return { kind, drops: numbers(drops), packets: {}, fastPath: null };
  const o = st as Record<string, unknown>;
  const fp = o['fastPath'] as Record<string, unknown> | null | undefined;
  const fastPath: FastPathObserved | null = fp && typeof fp === 'object'
    ? { flows: 0, installed: 0, removed: 0, full: 0, events: 0, forwarded: 0, ...numbers(fp), kind: String(fp['kind']) }
    : null;
  return { kind, drops: { ...numbers(o['drops']), ...numbers(drops) }, packets: numbers(o['counters']), fastPath };
}

/**
 * What /metrics renders: the snapshot with the services read in place from the engine when
 * rendered (Engine.visitServices), not listed: on a large table the list is tens of thousands of
 * objects built on the forwarding thread at every scrape.
 */
export async function takeLiveSnapshot(src: ObserveSources): Promise<LiveSnapshot> {
  src.settle();
  const e = src.engine;
  e.setTime(src.now());
  const c = e.counters();
  const sync = await src.sync();
  return {
    at: Date.now(),
    pid: process.pid,
    startedAt: src.startedAt,
    info: e.info(),
    timeouts: e.timeouts(),
    visitServices: (v) => e.visitServices(v),
    total: { stats: e.totalStats(), rates: e.totalRates() },
    connTable: { entries: c.entries, limit: c.limit ?? DEFAULT_CONN_LIMIT, tableFull: c.tableFull },
    health: src.health(),
    vrrp: src.vrrp(),
    sync,
    forwarder: forwarderObserved(src.forwarderKind, src.forwarderStatus(), src.forwarderDrops?.()),
    drains: src.drains(),
    slowStarts: src.slowStarts(),
    bgp: (await src.bgp?.()) ?? null,
  };
}

/** The whole snapshot, services listed (the API and the dashboard). */
export async function takeSnapshot(src: ObserveSources): Promise<ObserveSnapshot> {
  const { visitServices: _, ...live } = await takeLiveSnapshot(src);
  return { ...live, services: src.engine.services() };
}

/** The connection table (for /proc/net/ip_vs_conn and the API), the engine's clock set first. */
export function takeConnections(src: ObserveSources): readonly ConnSnapshot[] {
  src.settle();
  src.engine.setTime(src.now());
  return src.engine.connections();
}
