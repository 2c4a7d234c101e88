/**
 * Reload as a diff: from the running IPVS table (ServiceSnapshot[] from an IpvsBackend, or a
 * previous desired state) to a new desired state, the minimal list of IpvsCommand:
 *  - unchanged services and destinations: no command (connections, counters stay);
 *  - scheduler / persistence / flags / netmask / pe changed: edit-service (never delete+add);
 *  - weight / method / thresholds / tunnel changed: edit-dest (never delete+add);
 *  - gone: delete-dest / delete-service; new: add-service / add-dest.
 * Plus which health-checker states carry over (same service, same real server, same checker
 * definition). A config with errors is refused whole: planReload returns no commands at all.
 * Pure.
 */
import { SVC_F, type DestSpec, type IpvsCommand, type ServiceKey, type ServiceSnapshot, type ServiceSpec, type Timeouts } from '../core/types.ts';
import { checkerFingerprint, checkerKey } from '../health/identity.ts';
import { hostPort, serviceKeyString } from '../core/service-key.ts';
import { keyOf, type DesiredState, type Diagnostic, type LoadResult } from './desired.ts';

/** One service of an IPVS table and its destinations. */
export interface ServiceRule {
  readonly spec: ServiceSpec;
  readonly dests: readonly DestSpec[];
}

/** What the health manager knows about a real server (by service key and real key). */
export interface HealthVerdict {
  readonly up: boolean;
  /** Live weight (MISC_CHECK misc_dynamic); default the configured weight. */
  readonly weight?: number;
}
export type HealthView = (serviceKey: string, realKey: string) => HealthVerdict | undefined;

/**
 * The table a desired state wants, given what health checking knows. A real server the health
 * view does not know yet is up unless alpha (then it waits for its first good check). A down
 * server is removed, or kept at weight 0 with inhibit_on_failure / quiescent. The sorry server is
 * in the table while the alive weight is below quorum (at weight 0 otherwise when
 * sorry_server_inhibit is set).
 */
export function targetRules(state: DesiredState, health?: HealthView): ServiceRule[] {
  return state.services.map((svc) => {
    const dests: DestSpec[] = [];
    let alive = 0;
    for (const r of svc.reals) {
      const h = health?.(svc.key, r.key);
      const up = h ? h.up : !(r.alpha ?? svc.alpha);
      const w = h?.weight ?? r.dest.weight;
      if (up) { dests.push(w === r.dest.weight ? r.dest : { ...r.dest, weight: w }); alive += w; }
      else if (r.inhibit_on_failure) dests.push(r.dest.weight === 0 ? r.dest : { ...r.dest, weight: 0 });
    }
    const s = svc.sorry_server;
    if (s) {
      const need = alive < Math.max(1, svc.quorum);
      if (need || svc.sorry_server_inhibit) {
        const d: DestSpec = {
          af: svc.spec.af, addr: s.addr, port: s.port, fwd: s.fwd, weight: need ? s.weight : 0, uThreshold: 0, lThreshold: 0,
          tunType: 'ipip', tunPort: 0, tunCsum: 'nocsum',
        };
        if (!dests.some((x) => x.addr === d.addr && x.port === d.port)) dests.push(d);
      }
    }
    return { spec: svc.spec, dests };
  });
}

function sameService(a: ServiceSpec, b: ServiceSpec): boolean {
  return a.scheduler === b.scheduler && a.flags === b.flags && a.timeout === b.timeout && a.netmask === b.netmask && a.pe === b.pe;
}

function sameDest(a: DestSpec, b: DestSpec): boolean {
  return a.fwd === b.fwd && a.weight === b.weight && a.uThreshold === b.uThreshold && a.lThreshold === b.lThreshold &&
    a.tunType === b.tunType && a.tunPort === b.tunPort && a.tunCsum === b.tunCsum;
}

const destKey = (d: { addr: string; port: number }) => hostPort(d.addr, d.port);

/** Flags a user sets (-p, -o, -b); the kernel's internal HASHED bit never takes part in a diff. */
const USER_FLAGS = SVC_F.PERSISTENT | SVC_F.ONEPACKET | SVC_F.SCHED1 | SVC_F.SCHED2 | SVC_F.SCHED3;

/**
 * A running service as a rule. Snapshots list destinations newest first (kernel order); with
 * `oldestFirst` the rule lists them in the order they must be added to recreate that order.
 */
export function ruleOfSnapshot(s: ServiceSnapshot | ServiceRule, oldestFirst = false): ServiceRule {
  if ('spec' in s) return s;
  const spec: ServiceSpec = { af: s.af, fwmark: s.fwmark, protocol: s.protocol, addr: s.addr, port: s.port, scheduler: s.scheduler, flags: s.flags & USER_FLAGS, timeout: s.timeout, netmask: s.netmask, pe: s.pe };
  const dests = s.dests.map((d): DestSpec => ({ af: d.af, addr: d.addr, port: d.port, fwd: d.fwd, weight: d.weight, uThreshold: d.uThreshold, lThreshold: d.lThreshold, tunType: d.tunType, tunPort: d.tunPort, tunCsum: d.tunCsum }));
  if (oldestFirst) dests.reverse();
  return { spec, dests };
}

export interface DiffOptions {
  /**
   * Which running services the diff may delete: 'all' (default) makes the table exactly the
   * target; a set of service keys (serviceKeyString) limits deletions to services this config
   * manages, leaving services added by hand alone.
   */
  readonly managed?: 'all' | ReadonlySet<string>;
}

/**
 * Minimal commands turning `current` into `target`. Order: delete-service, edit-service,
 * delete-dest, edit-dest, add-service (with its add-dests), add-dest.
 */
export function diffRules(current: readonly (ServiceSnapshot | ServiceRule)[], target: readonly ServiceRule[], opts: DiffOptions = {}): IpvsCommand[] {
  const managed = opts.managed ?? 'all';
  const cur = new Map<string, ServiceRule>();
  for (const s of current) { const r = ruleOfSnapshot(s); cur.set(serviceKeyString(r.spec), r); }
  const tgt = new Map<string, ServiceRule>();
  for (const t of target) tgt.set(serviceKeyString(t.spec), t);

  const delSvc: IpvsCommand[] = [], editSvc: IpvsCommand[] = [], delDest: IpvsCommand[] = [], editDest: IpvsCommand[] = [], addSvc: IpvsCommand[] = [], addDest: IpvsCommand[] = [];
  for (const [k, r] of cur) {
    if (tgt.has(k)) continue;
    if (managed !== 'all' && !managed.has(k)) continue;
    delSvc.push({ kind: 'delete-service', key: keyOf(r.spec) });
  }
  for (const [k, t] of tgt) {
    const key: ServiceKey = keyOf(t.spec);
    const c = cur.get(k);
    if (!c) {
      addSvc.push({ kind: 'add-service', svc: t.spec });
      for (const d of t.dests) addSvc.push({ kind: 'add-dest', key, dest: d });
      continue;
    }
    if (!sameService(c.spec, t.spec)) editSvc.push({ kind: 'edit-service', svc: t.spec });
    const cd = new Map(c.dests.map((d) => [destKey(d), d]));
    const td = new Map(t.dests.map((d) => [destKey(d), d]));
    for (const [dk, d] of cd) if (!td.has(dk)) delDest.push({ kind: 'delete-dest', key, af: d.af, addr: d.addr, port: d.port });
    for (const [dk, d] of td) {
      const o = cd.get(dk);
      if (!o) addDest.push({ kind: 'add-dest', key, dest: d });
      else if (!sameDest(o, d)) editDest.push({ kind: 'edit-dest', key, dest: d });
    }
  }
  return [...delSvc, ...editSvc, ...delDest, ...editDest, ...addSvc, ...addDest];
}

export interface HealthCarry {
  /** Checkers whose state (up/down, counters, since) carries over unchanged. */
  readonly keep: readonly string[];
  /** New or changed checkers: start fresh. */
  readonly start: readonly string[];
  /** Removed or changed checkers: stop. */
  readonly stop: readonly string[];
}

function checkerMap(s: DesiredState | null): Map<string, string> {
  const m = new Map<string, string>();
  if (!s) return m;
  for (const v of s.services) for (const r of v.reals) r.checkers.forEach((c, i) => m.set(checkerKey(v.key, r.key, i), checkerFingerprint(c)));
  return m;
}

/** Which checker states survive a reload from `prev` to `next`. */
export function healthCarry(prev: DesiredState | null, next: DesiredState): HealthCarry {
  const a = checkerMap(prev), b = checkerMap(next);
  const keep: string[] = [], start: string[] = [], stop: string[] = [];
  for (const [k, fp] of b) {
    const o = a.get(k);
    if (o === fp) keep.push(k);
    else { start.push(k); if (o !== undefined) stop.push(k); }
  }
  for (const k of a.keys()) if (!b.has(k)) stop.push(k);
  return { keep, start, stop };
}

export type ReloadPlan =
  | { readonly ok: false; readonly diagnostics: readonly Diagnostic[] }
  | {
      readonly ok: true;
      readonly state: DesiredState;
      readonly commands: readonly IpvsCommand[];
      readonly carry: HealthCarry;
      readonly diagnostics: readonly Diagnostic[];
    };

export interface ReloadInput {
  /** The new config as read. With any error the plan is refused whole. */
  readonly next: LoadResult;
  /** What the config in force said (null on first load). */
  readonly previous: DesiredState | null;
  /** The live table (backend.services()); if omitted, targetRules(previous, health) stands for it. */
  readonly running?: readonly ServiceSnapshot[];
  /** Live health, keyed by service key and real key; unknown real servers are treated as new. */
  readonly health?: HealthView;
  /** Current timeouts (backend.timeouts()), to emit set-timeouts only when lvs_timeouts changes them. */
  readonly timeouts?: Timeouts;
  /**
   * 'config' (default): delete only services the previous config had (hand-added services
   * survive; on first load nothing is deleted). 'all': make the table exactly the config.
   */
  readonly prune?: 'config' | 'all';
}

export function planReload(inp: ReloadInput): ReloadPlan {
  const { next } = inp;
  if (!next.state || next.diagnostics.some((d) => d.severity === 'error')) return { ok: false, diagnostics: next.diagnostics };
  const state = next.state;
  const carry = healthCarry(inp.previous, state);
  const kept = new Set(carry.keep);
  // A real server that existed before keeps its live verdict, even when its checkers changed: the
  // health manager carries the up/down state into the new checkers (docs/HEALTH.md), so a down
  // server is not re-added unchecked. Only a server that is new to the config starts afresh.
  const health: HealthView | undefined = inp.health
    ? (sk, rk) => {
        const svc = state.services.find((s) => s.key === sk);
        const real = svc?.reals.find((r) => r.key === rk);
        if (!real) return undefined;
        const prevSvc = inp.previous?.services.find((s) => s.key === sk);
        const prevReal = prevSvc?.reals.find((r) => r.key === rk);
        if (!prevReal) return undefined;
        const h = inp.health!(sk, rk);
        if (!h) return undefined;
        // A configured weight change applies to a live server (unless a dynamic weight is in force).
        if (h.up && prevReal.dest.weight !== real.dest.weight && (h.weight === undefined || h.weight === prevReal.dest.weight)) return { up: true, weight: real.dest.weight };
        return h;
      }
    : undefined;
  const target = targetRules(state, health);
  const current = inp.running ?? (inp.previous ? targetRules(inp.previous, inp.health) : []);
  const managed: 'all' | ReadonlySet<string> = inp.prune === 'all' ? 'all' : new Set((inp.previous?.services ?? []).map((s) => s.key));
  const commands: IpvsCommand[] = [];
  const t = state.global.lvs_timeouts;
  if (t && (!inp.timeouts || (t.tcp && t.tcp !== inp.timeouts.tcp) || (t.tcpfin && t.tcpfin !== inp.timeouts.tcpfin) || (t.udp && t.udp !== inp.timeouts.udp))) {
    commands.push({ kind: 'set-timeouts', tcp: t.tcp, tcpfin: t.tcpfin, udp: t.udp });
  }
  commands.push(...diffRules(current, target, { managed }));
  return { ok: true, state, commands, carry, diagnostics: next.diagnostics };
}
