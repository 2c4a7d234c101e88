/**
 * `tsvs explain` support: what Engine.explain answers, and the side-effect-free scheduler run
 * it is built on. The engine's schedulers keep state (rr/wrr cursors, lblc caches, indexes) that
 * a decision moves; a dry run must not move it, so it runs on a deep copy of the scheduler
 * (peekSchedule) in which the destinations and the service stay shared, read-only, as the
 * Scheduler contract already requires (schedulers never write destination fields).
 */
import type { RtDest, RtServiceView, SchedEnv, SchedPacket, Scheduler } from './scheduler.ts';
import type { ConnSnapshot } from './types.ts';

/** Why a destination of the service cannot be chosen now (as the schedulers skip them). */
export type ExplainSkip = 'weight-0' | 'overloaded' | 'quiesced';

export interface ExplainDest {
  addr: string;
  port: number;
  weight: number;
  uThreshold: number;
  lThreshold: number;
  activeConns: number;
  inactConns: number;
  persistConns: number;
  /** Reasons the scheduler skips it; empty when it is eligible. */
  skipped: ExplainSkip[];
}

export type ExplainOutcome =
  /** An existing connection entry carries the client's packets (`connection`). */
  | 'existing'
  /** A persistence template of the client's network sends it to the template's destination. */
  | 'template'
  /** The scheduler would choose `dest` for a new connection. */
  | 'scheduled'
  /** The scheduler finds no eligible destination: the connection would be refused. */
  | 'no-dest'
  /** A non-persistent address service only takes its own port. */
  | 'port-mismatch';

export interface Explanation {
  /** Service as tsvsadm writes it (TCP 10.0.0.1:80, FWM 5). */
  service: string;
  scheduler: string;
  persistent: boolean;
  /** Persistence timeout (s) and netmask (prefix length for IPv6) when persistent. */
  timeout?: number;
  netmask?: number;
  client: { addr: string; port: number | null };
  outcome: ExplainOutcome;
  /** The destination chosen (null for no-dest / port-mismatch). */
  dest: { addr: string; port: number } | null;
  /** The client's current connection entry (client port given and an entry exists). */
  connection: ConnSnapshot | null;
  /** The persistence template for the client's network, when one exists (usable or not). */
  template: ConnSnapshot | null;
  /** Why an existing template is not used (its destination is unavailable or at weight 0). */
  templateUnusable?: string;
  /** The scheduler's state the decision was made from (cursor etc., where it has one). */
  schedulerState: Record<string, unknown>;
  dests: ExplainDest[];
  /** Plain-language caveats (random schedulers, choices decided ahead by the forwarder). */
  notes: string[];
}

/**
 * Deep copy of a scheduler's own state. Shared (not copied): the objects in `shared` (the
 * service view and its destinations), functions, and anything frozen. Copied: arrays, typed
 * arrays, Maps, Sets and class instances (prototype kept), with cycles preserved. Schedulers must
 * keep their state in ordinary properties: JS #private fields are invisible here (none use them;
 * test/core/engine-explain.test.ts runs every scheduler through a dry run and the real one).
 */
export function cloneSchedulerState<T extends object>(root: T, shared: ReadonlySet<object>): T {
  const memo = new Map<object, unknown>();
  const copy = (v: unknown): unknown => {
    if (v === null || typeof v !== 'object') return v; // primitives and functions
    const o = v as object;
    if (shared.has(o) || Object.isFrozen(o)) return o;
    const seen = memo.get(o);
    if (seen !== undefined) return seen;
    if (ArrayBuffer.isView(o)) {
      const c = (o as unknown as { slice(): unknown }).slice();
      memo.set(o, c);
      return c;
    }
    if (Array.isArray(o)) {
      const c: unknown[] = [];
      memo.set(o, c);
      for (const x of o) c.push(copy(x));
      return c;
    }
    if (o instanceof Map) {
      const c = new Map();
      memo.set(o, c);
      for (const [k, x] of o) c.set(copy(k), copy(x));
      return c;
    }
    if (o instanceof Set) {
      const c = new Set();
      memo.set(o, c);
      for (const x of o) c.add(copy(x));
      return c;
    }
    const c = Object.create(Object.getPrototypeOf(o) as object | null) as Record<PropertyKey, unknown>;
    memo.set(o, c);
    for (const k of Reflect.ownKeys(o)) {
      const d = Object.getOwnPropertyDescriptor(o, k)!;
      if ('value' in d) d.value = copy(d.value);
      Object.defineProperty(c, k, d);
    }
    return c;
  };
  return copy(root) as T;
}

/** The scheduler's choice for `pkt` now, leaving `sched` exactly as it was (a copy is run). */
export function peekSchedule(sched: Scheduler, svc: RtServiceView, pkt: SchedPacket, env: SchedEnv): RtDest | null {
  const shared = new Set<object>([svc, ...svc.dests]);
  return cloneSchedulerState(sched, shared).schedule(svc, pkt, env);
}

/** A scheduler's visible state: its own primitive fields and destination cursors, by address. */
export function schedulerState(sched: Scheduler, dests: readonly RtDest[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const isDest = new Set<object>(dests);
  for (const k of Object.keys(sched)) {
    const v = (sched as unknown as Record<string, unknown>)[k];
    if (k === 'name') continue;
    if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') out[k] = v;
    else if (v === null && /^(cursor|cl|last)$/.test(k)) out[k] = null;
    else if (v !== null && typeof v === 'object' && isDest.has(v)) {
      const d = v as RtDest;
      out[k] = `${d.af === 6 ? `[${d.addr}]` : d.addr}:${d.port}`;
    }
  }
  return out;
}
