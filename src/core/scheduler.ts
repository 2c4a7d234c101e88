/**
 * The one interface every scheduler implements (one file each in ./schedulers/, registered in
 * ./schedulers/index.ts). A scheduler sees the service's destination list in kernel order
 * (newest first) and returns a destination or null ("no destination available").
 *
 * The engine owns the counters and flags on RtDest and tells the scheduler about every change
 * through the hooks, so a scheduler may keep an index (segment tree, prefix sums...) that
 * returns exactly the kernel's answer without scanning all destinations per decision.
 */
import type { Ip } from './addr.ts';
import { SVC_F, type Af, type FwdMethod, type Protocol } from './types.ts';

/** Destination flag bits (IP_VS_DEST_F_*). */
/** AVAILABLE and OVERLOAD as the kernel's IP_VS_DEST_F_*; QUIESCED is tsvs's (a drain: see Engine.setDestQuiesced). */
export const DEST_F = { AVAILABLE: 0x1, OVERLOAD: 0x2, QUIESCED: 0x4 } as const;

/** The runtime destination the engine keeps; schedulers read it, never write counters. */
export interface RtDest {
  readonly af: Af;
  readonly ip: Ip;
  /** Canonical text of ip. */
  readonly addr: string;
  readonly port: number;
  fwd: FwdMethod;
  weight: number;
  /** Latest non-zero weight (mh only). */
  lastWeight: number;
  uThreshold: number;
  lThreshold: number;
  activeConns: number;
  inactConns: number;
  persistConns: number;
  /** DEST_F bits. */
  flags: number;
  /** Engine-assigned id, unique for the engine's lifetime; handy for scheduler-side indexes. */
  readonly id: number;
}

/** The runtime service as schedulers see it. */
export interface RtServiceView {
  readonly af: Af;
  readonly fwmark: number;
  readonly protocol: Protocol;
  /** SVC_F bits (SCHED1/SCHED2 select sh/mh fallback/port). */
  readonly flags: number;
  /** Kernel list order: index 0 is the newest destination. */
  readonly dests: readonly RtDest[];
}

/** What the scheduler may look at in the packet being scheduled. */
export interface SchedPacket {
  readonly protocol: Protocol;
  readonly saddr: Ip;
  readonly sport: number;
  readonly daddr: Ip;
  readonly dport: number;
  /** ICMP-error "inverse" lookups hash the destination address instead of the source (sh, mh). */
  readonly inverse?: boolean;
}

export interface SchedEnv {
  /** Injected clock, seconds. */
  readonly now: number;
  /** Uniform [0, 1) source; seeded in simulate (--seed), Math.random in the daemon. */
  readonly random: () => number;
}

export interface Scheduler {
  readonly name: string;
  schedule(svc: RtServiceView, pkt: SchedPacket, env: SchedEnv): RtDest | null;
  /** Called after the dest was inserted at svc.dests[0]. */
  addDest?(svc: RtServiceView, dest: RtDest): void;
  /** Called after the dest was removed; formerIndex is where it was in svc.dests. */
  delDest?(svc: RtServiceView, dest: RtDest, formerIndex: number): void;
  /** Called after -e changed weight/thresholds/method (kernel upd_dest). */
  updDest?(svc: RtServiceView, dest: RtDest): void;
  /** Called after activeConns/inactConns/flags(OVERLOAD) of a dest changed. Hot path: keep it O(log n). */
  countsChanged?(svc: RtServiceView, dest: RtDest): void;
  /** Periodic work with the injected clock (lblc/lblcr cache expiry). Called at least once a second of engine time. */
  tick?(svc: RtServiceView, now: number): void;
  /** Service unbound from this scheduler. */
  done?(svc: RtServiceView): void;
}

/** Creates a scheduler bound to one service (kernel init_service). Returns an errno on failure (mh with > M dests: EINVAL). */
export type SchedulerFactory = (svc: RtServiceView) => Scheduler | 'EINVAL';

/** Schedulers whose next choice depends on neither the packet nor live counts (a fixed order). */
const CHOICE_IN_ORDER: ReadonlySet<string> = new Set(['rr', 'wrr']);

/**
 * Whether a service's next scheduling choice can be made before its connection arrives
 * (Engine.scheduleAhead; the forwarders' rules on top are src/dataplane/ahead.ts): rr or wrr, no
 * firewall mark, no persistence or one-packet scheduling (the choice would depend on the client
 * or end with the packet), and no threshold on any destination (it would depend on live counts).
 */
export function decidesAhead(scheduler: string, fwmark: number, flags: number, dests: Iterable<{ readonly uThreshold: number; readonly lThreshold: number }>): boolean {
  if (!CHOICE_IN_ORDER.has(scheduler) || fwmark !== 0 || (flags & (SVC_F.PERSISTENT | SVC_F.ONEPACKET)) !== 0) return false;
  for (const d of dests) if (d.uThreshold !== 0 || d.lThreshold !== 0) return false;
  return true;
}
