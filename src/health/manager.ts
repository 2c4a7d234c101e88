/**
 * The health manager: runs each real server's checkers on their schedule and turns results into
 * operations (values) with keepalived's semantics:
 *
 * - a checker is retried `retry` times, `delay_before_retry` apart, before it counts as failed;
 *   a real server is alive when none of its checkers has failed;
 * - a dead server is removed, or kept at weight 0 with inhibit_on_failure / quiescent;
 *   it comes back with its configured weight (or the weight MISC_CHECK misc_dynamic asked for);
 * - quorum: the sum of alive weights; lost when it drops below quorum - hysteresis (or to 0),
 *   gained when it reaches quorum + hysteresis; quorum_up / quorum_down run once per crossing;
 * - while quorum is lost and a sorry server is configured, the real servers leave the table
 *   (weight 0 if inhibited) and the sorry server is in; sorry_server_inhibit keeps it at weight 0
 *   when not needed;
 * - alpha: servers start dead until their first successful check; omega: stop() runs the down
 *   scripts;
 * - notify_up / notify_down run on every alive change;
 * - reload (update()): unchanged checkers keep their state and timers, changed ones restart
 *   keeping the server's up/down state until they decide, new servers start as at start(),
 *   removed ones leave the table (notify_down if alive, as keepalived), quorum is re-evaluated
 *   once per service.
 *
 * Time, scripts and checks are injected; the manager itself does no I/O.
 */
import { canonicalIp, parseIp } from '../core/addr.ts';
import type { DestSpec, ServiceKey } from '../core/types.ts';
import { hostPort, serviceKeyString } from '../core/service-key.ts';
import { checkerFingerprint, checkerKey } from './identity.ts';
import { checkerAlertBody, quorumAlertBody } from './alert-text.ts';
import type { CheckContext } from './checker.ts';
import { runCheck as registryRunCheck } from './checkers/index.ts';
import { realClock, realScriptRunner, type HealthClock, type ScriptRunner, type TimerHandle } from './io.ts';
import type {
  CheckResult, CheckerDef, CheckerStatus, DestStatus, HealthAlert, HealthCarryHint, HealthOp, HealthRealServer, HealthService, HealthStatus,
  HealthVerdict, RunningService, ServiceStatus,
} from './types.ts';

export type CheckRunner = (def: CheckerDef, ctx: CheckContext) => Promise<CheckResult>;

export interface HealthManagerOptions {
  readonly services: readonly HealthService[];
  /** Receives every batch of operations (start, each state change, stop). Apply in order. */
  readonly onOps: (ops: readonly HealthOp[]) => void;
  readonly clock?: HealthClock;
  /** Used by MISC_CHECK / external / ping checkers. */
  readonly scripts?: ScriptRunner;
  /** Default: the checker registry. Tests inject scripted results. */
  readonly runCheck?: CheckRunner;
  /** [0,1) for warmup jitter. */
  readonly random?: () => number;
  /** Called after every check with the result (logging hook). */
  readonly onResult?: (service: string, dest: string, checker: string, r: CheckResult) => void;
  /**
   * keepalived's e-mail alerts (smtp_alert on a real server or virtual server): called when one
   * is due, in keepalived's cases (a checker's up/down transition; MISC_CHECK also its first
   * verdict; a quorum crossing). The caller decides whether and where mail goes.
   */
  readonly onAlert?: (a: HealthAlert) => void;
}

export const DEFAULT_DELAY_LOOP = 60;
export const DEFAULT_DELAY_BEFORE_RETRY = 1;

const LD_KINDS = new Set(['connect', 'negotiate', 'ping', 'external', 'on', 'off']);

/** keepalived's retry defaults: 1, except MISC_CHECK 0 and DNS_CHECK 3; ldirectord: failurecount - 1. */
export function effectiveRetry(def: CheckerDef): number {
  if (def.type === 'FILE_CHECK') return 0; // a file's value applies at once (keepalived has no retry for it)
  if (def.retry !== undefined) return Math.max(0, Math.floor(def.retry));
  if (def.failurecount !== undefined) return Math.max(0, Math.floor(def.failurecount) - 1);
  if (LD_KINDS.has(def.type)) return 0;
  if (def.type === 'MISC_CHECK') return 0;
  if (def.type === 'DNS_CHECK') return 3;
  return 1;
}

export function serviceName(key: ServiceKey): string {
  if (key.fwmark > 0) return `FWM ${key.fwmark}${key.af === 6 ? ' IPv6' : ''}`;
  const a = key.af === 6 ? `[${key.addr}]` : key.addr;
  return `${key.protocol.toUpperCase()} ${a}:${key.port}`;
}

/** The port the data path reaches the real server on: its own, or the virtual port for DR/TUN. */
export function dataPort(vs: HealthService, r: HealthRealServer): number {
  const fwd = r.fwd ?? vs.lb_kind ?? 'masq';
  return (fwd === 'route' || fwd === 'tunnel') && vs.key.fwmark === 0 && vs.key.port !== 0 ? vs.key.port : r.port;
}

interface CkState {
  def: CheckerDef;
  /** checkerFingerprint(def), computed once. */
  fp: string;
  readonly label: string;
  readonly target: string;
  up: boolean;
  hasRun: boolean;
  retryIt: number;
  since: number;
  consecutiveFailures: number;
  checks: number;
  last: (CheckResult & { at: number }) | null;
  timer: TimerHandle | null;
  /** Set when a reload or stop() retires this checker: its timer and in-flight check are void. */
  stopped: boolean;
}

interface RsState {
  def: HealthRealServer;
  readonly name: string;
  checkers: CkState[];
  alive: boolean;
  since: number;
  effWeight: number;
  /** Weight in the table, null = not in it. */
  applied: number | null;
  /** Non-weight attributes of the applied dest (fwd, thresholds, tunnel), to edit when they change. */
  appliedSig: string | null;
}

interface VsState {
  def: HealthService;
  name: string;
  /** serviceKeyString(def.key): the reload identity. */
  readonly key: string;
  rs: RsState[];
  quorumUp: boolean;
  sorryApplied: number | null;
  sorryAppliedSig: string | null;
  /** Which sorry server sorryApplied refers to (a reload may change it). */
  sorryAt: { readonly addr: string; readonly port: number } | null;
  sorryActive: boolean;
}

interface Parts { ups: HealthOp[]; downs: HealthOp[]; scripts: HealthOp[] }

function destSig(d: DestSpec): string {
  return `${d.fwd}|${d.uThreshold}|${d.lThreshold}|${d.tunType}|${d.tunPort}|${d.tunCsum}`;
}

/** Address-canonical "addr:port" for matching config against a running table. */
function canonKey(addr: string, port: number): string {
  return hostPort(canonicalIp(addr) ?? addr, port);
}

export class HealthManager {
  private readonly clock: HealthClock;
  private readonly scripts: ScriptRunner;
  private readonly check: CheckRunner;
  private readonly random: () => number;
  private defs: readonly HealthService[];
  private vss: VsState[] = [];
  private running = false;
  private generation = 0;

  constructor(private readonly o: HealthManagerOptions) {
    this.clock = o.clock ?? realClock;
    this.scripts = o.scripts ?? realScriptRunner;
    this.check = o.runCheck ?? registryRunCheck;
    this.random = o.random ?? Math.random;
    this.defs = o.services;
  }

  /** Computes the initial table (adds; sorry server if quorum is down), emits it, and schedules the first checks. */
  start(): readonly HealthOp[] {
    if (this.running) return [];
    this.running = true;
    this.generation++;
    const now = this.clock.now();
    const ops: HealthOp[] = [];
    this.vss = this.defs.map((d) => this.buildVs(d, now));
    for (const vs of this.vss) {
      const p = this.initVs(vs, 'start');
      ops.push(...p.ups, ...p.downs, ...p.scripts);
      for (const rs of vs.rs) for (const ck of rs.checkers) this.scheduleFirst(vs, rs, ck);
    }
    this.emit(ops);
    return ops;
  }

  /** Stops all checks. With omega, runs notify_down for alive servers and quorum_down. Does not remove dests. */
  stop(): readonly HealthOp[] {
    if (!this.running) return [];
    this.running = false;
    this.generation++;
    const ops: HealthOp[] = [];
    for (const vs of this.vss) {
      for (const rs of vs.rs) {
        for (const ck of rs.checkers) this.retire(ck);
        if (vs.def.omega && rs.alive && rs.def.notify_down) ops.push(this.exec(vs, 'notify_down', rs.def.notify_down, rs));
      }
      if (vs.def.omega && vs.quorumUp && vs.def.quorum_down) ops.push(this.exec(vs, 'quorum_down', vs.def.quorum_down));
    }
    this.emit(ops);
    return ops;
  }

  /**
   * Reload: switches to `services` keeping the running state of everything unchanged.
   *
   * - services, real servers and checkers are matched by identity: service key
   *   (serviceKeyString), real server "addr:port", checker index (identity.ts checkerKey);
   * - a checker whose definition (checkerFingerprint) and probe target are unchanged keeps its
   *   state: up/down, retry count, failure count, last result, since, and its pending timer;
   * - a changed checker restarts (first run after warmup) but starts in its predecessor's
   *   up/down state; a checker added to an existing server starts in the server's state: the
   *   server stays as it is until the new checker decides (one success brings a down one up);
   * - a new real server starts as at start() (alpha: down until its first success);
   * - a removed real server leaves the table (even when inhibited) and, if it was alive, its
   *   notify_down runs (keepalived does this on reload whatever omega says);
   * - a removed service: its dests are removed, notify_down for alive servers and quorum_down
   *   if quorum was up (keepalived's clear_service_vs on reload);
   * - a configured weight change applies to a live server unless a MISC_CHECK misc_dynamic
   *   weight is in force (an edit: 'set-weight', never remove + add); fwd / threshold / tunnel
   *   changes are a 'set-weight' op carrying the new dest;
   * - quorum and the sorry server are re-evaluated once per service: a crossing caused by the
   *   reload runs quorum_up / quorum_down once.
   *
   * `carry` (planReload's) forces a restart of the checkers it lists in `start` / `stop`;
   * `keep` is advisory (equality decides). With `opts.running` (the live table after the
   * reload's own ipvsadm commands, e.g. backend.services()), ops are relative to that table, so
   * the daemon gets exactly the corrections health needs; without it, ops are relative to what
   * this manager last emitted. Before start() it only replaces the definitions.
   */
  update(services: readonly HealthService[], carry?: HealthCarryHint, opts: { readonly running?: readonly RunningService[] } = {}): readonly HealthOp[] {
    this.defs = services;
    if (!this.running) return [];
    const now = this.clock.now();
    const why = 'reload';
    const force = new Set([...(carry?.start ?? []), ...(carry?.stop ?? [])]);
    const table = opts.running ? this.indexRunning(opts.running) : null;
    const inTable = (svcKey: string, addr: string, port: number) => table ? table.get(svcKey)?.get(canonKey(addr, port)) : undefined;
    const out: Parts = { ups: [], downs: [], scripts: [] };
    const toSchedule: [VsState, RsState, CkState][] = [];
    const old = new Map(this.vss.map((v) => [v.key, v]));
    const next: VsState[] = [];
    const seen = new Set<string>();

    for (const d of services) {
      const key = serviceKeyString(d.key);
      if (seen.has(key)) continue; // duplicate: first wins
      seen.add(key);
      const vs = old.get(key);
      if (!vs) {
        const nv = this.buildVs(d, now);
        if (table) this.seed(nv, table.get(key));
        const p = this.initVs(nv, why);
        out.ups.push(...p.ups); out.downs.push(...p.downs); out.scripts.push(...p.scripts);
        for (const rs of nv.rs) for (const ck of rs.checkers) toSchedule.push([nv, rs, ck]);
        next.push(nv);
        continue;
      }
      old.delete(key);
      const prevRs = new Map(vs.rs.map((r) => [r.name, r]));
      const rsList: RsState[] = [];
      for (const r of d.real_servers) {
        const rk = hostPort(r.addr, r.port);
        const prev = prevRs.get(rk);
        if (!prev) {
          const n = this.buildRs(d, r, now);
          rsList.push(n);
          for (const ck of n.checkers) toSchedule.push([vs, n, ck]);
          continue;
        }
        prevRs.delete(rk);
        const checkers = r.checkers.map((def, i): CkState => {
          const o = prev.checkers[i];
          const target = this.targetName(d, r, def);
          const fp = checkerFingerprint(def);
          if (o && o.fp === fp && o.target === target && !force.has(checkerKey(key, rk, i))) {
            o.def = def;
            return o;
          }
          if (o) this.retire(o);
          const c = this.newCk(def, target, o ? o.up : prev.alive, now, fp);
          toSchedule.push([vs, prev, c]);
          return c;
        });
        for (let i = r.checkers.length; i < prev.checkers.length; i++) this.retire(prev.checkers[i]!);
        const dynamic = r.checkers.some((c) => c.type === 'MISC_CHECK' && c.misc_dynamic);
        if (!dynamic || prev.effWeight === prev.def.weight) prev.effWeight = r.weight;
        prev.def = r;
        prev.checkers = checkers;
        rsList.push(prev);
      }
      for (const gone of prevRs.values()) {
        for (const ck of gone.checkers) this.retire(ck);
        const present = table ? inTable(key, gone.def.addr, gone.def.port) !== undefined : gone.applied !== null;
        if (present) out.downs.push(this.removeOp(vs.def, gone.def.addr, gone.def.port, why));
        if (gone.alive && gone.def.notify_down) out.scripts.push(this.exec(vs, 'notify_down', gone.def.notify_down, gone));
        if (gone.alive && present) this.alertRemoved(vs, gone);
      }
      // The sorry server moved or went away: the old one leaves.
      const s = d.sorry_server;
      if (vs.sorryAt && (!s || canonKey(s.addr, s.port) !== canonKey(vs.sorryAt.addr, vs.sorryAt.port))) {
        const present = table ? inTable(key, vs.sorryAt.addr, vs.sorryAt.port) !== undefined : vs.sorryApplied !== null;
        if (present && !rsList.some((r) => canonKey(r.def.addr, r.def.port) === canonKey(vs.sorryAt!.addr, vs.sorryAt!.port))) {
          out.downs.push(this.removeOp(vs.def, vs.sorryAt.addr, vs.sorryAt.port, why));
        }
        vs.sorryApplied = null; vs.sorryAppliedSig = null; vs.sorryAt = null;
      }
      vs.def = d;
      vs.name = d.name ?? serviceName(d.key);
      vs.rs = rsList;
      if (table) this.seed(vs, table.get(key));
      const p = this.reconcileParts(vs, why);
      out.ups.push(...p.ups); out.downs.push(...p.downs); out.scripts.push(...p.scripts);
      next.push(vs);
    }

    // Services gone from the config (keepalived clear_service_vs, not stopping).
    for (const vs of old.values()) {
      const t = table?.get(vs.key);
      for (const rs of vs.rs) {
        for (const ck of rs.checkers) this.retire(ck);
        const present = table ? t?.get(canonKey(rs.def.addr, rs.def.port)) !== undefined : rs.applied !== null;
        if (present) out.downs.push(this.removeOp(vs.def, rs.def.addr, rs.def.port, why));
        if (rs.alive && rs.def.notify_down) out.scripts.push(this.exec(vs, 'notify_down', rs.def.notify_down, rs));
        if (rs.alive && present) this.alertRemoved(vs, rs);
      }
      // keepalived's update_vs_notifies once its servers are gone: the quorum is lost (weight 0).
      if (vs.quorumUp) this.alertVs(vs, false, false, this.quorum(vs) - this.hysteresis(vs), 0);
      if (vs.sorryAt) {
        const present = table ? t?.get(canonKey(vs.sorryAt.addr, vs.sorryAt.port)) !== undefined : vs.sorryApplied !== null;
        if (present) out.downs.push(this.removeOp(vs.def, vs.sorryAt.addr, vs.sorryAt.port, why));
      }
      if (vs.quorumUp && vs.def.quorum_down) out.scripts.push(this.exec(vs, 'quorum_down', vs.def.quorum_down));
    }

    this.vss = next;
    for (const [vs, rs, ck] of toSchedule) this.scheduleFirst(vs, rs, ck);
    const ops = [...out.ups, ...out.downs, ...out.scripts];
    this.emit(ops);
    return ops;
  }

  /** The service definitions in force (as given to the constructor or the last update()). */
  services(): readonly HealthService[] {
    return this.defs;
  }

  /**
   * What health checking knows about each real server, keyed as config/desired.ts keys them
   * (service key = serviceKeyString, real key = "addr:port"): the config/diff.ts `HealthView`
   * planReload wants. `weight` is the live weight (the configured one unless MISC_CHECK
   * misc_dynamic changed it). Unknown servers (or before start()) give undefined. Take a new
   * view after update().
   */
  view(): (serviceKey: string, realKey: string) => HealthVerdict | undefined {
    // Indexed once per view (services and servers as of now; their states stay live).
    const idx = new Map(this.vss.map((v) => [v.key, new Map(v.rs.map((r) => [r.name, r]))]));
    return (sk, rk) => {
      const rs = idx.get(sk)?.get(rk);
      return rs ? { up: rs.alive, weight: rs.effWeight } : undefined;
    };
  }

  status(): HealthStatus {
    return {
      now: this.clock.now(),
      services: this.vss.map((vs): ServiceStatus => {
        const dests: DestStatus[] = vs.rs.map((rs) => ({
          dest: rs.name,
          alive: rs.alive,
          sorry: false,
          weight: rs.applied,
          configuredWeight: rs.def.weight,
          effectiveWeight: rs.effWeight,
          since: rs.since,
          checkers: rs.checkers.map((ck): CheckerStatus => ({
            service: vs.name,
            dest: rs.name,
            checker: ck.label,
            target: ck.target,
            state: !ck.hasRun ? 'pending' : ck.up ? 'up' : 'down',
            since: ck.since,
            lastResult: ck.last,
            consecutiveFailures: ck.consecutiveFailures,
            checks: ck.checks,
          })),
        }));
        const s = vs.def.sorry_server;
        if (s) {
          dests.push({
            dest: hostPort(s.addr, s.port), alive: vs.sorryActive, sorry: true, weight: vs.sorryApplied,
            configuredWeight: s.weight ?? 1, effectiveWeight: s.weight ?? 1, since: 0, checkers: [],
          });
        }
        return {
          service: vs.name, key: vs.def.key, quorumUp: vs.quorumUp, aliveWeight: this.aliveWeight(vs),
          quorum: this.quorum(vs), hysteresis: this.hysteresis(vs), sorryActive: vs.sorryActive, dests,
        };
      }),
    };
  }

  // ---- internals ----

  private buildVs(d: HealthService, now: number): VsState {
    return {
      def: d, name: d.name ?? serviceName(d.key), key: serviceKeyString(d.key), rs: d.real_servers.map((r) => this.buildRs(d, r, now)),
      quorumUp: true, sorryApplied: null, sorryAppliedSig: null, sorryAt: null, sorryActive: false,
    };
  }

  private buildRs(d: HealthService, r: HealthRealServer, now: number): RsState {
    const alpha = r.alpha ?? d.alpha ?? false;
    const checkers = r.checkers.map((def) => this.newCk(def, this.targetName(d, r, def), !alpha, now));
    return { def: r, name: hostPort(r.addr, r.port), checkers, alive: checkers.every((c) => c.up), since: now, effWeight: r.weight, applied: null, appliedSig: null };
  }

  private newCk(def: CheckerDef, target: string, up: boolean, now: number, fp = checkerFingerprint(def)): CkState {
    return {
      def, fp, label: def.type, target, up, hasRun: false, retryIt: 0, since: now,
      consecutiveFailures: 0, checks: 0, last: null, timer: null, stopped: false,
    };
  }

  /** Initial quorum state (no scripts, except keepalived's "starting with quorum down and a sorry server"), then the table. */
  private initVs(vs: VsState, why: string): Parts {
    const sum = this.aliveWeight(vs), q = this.quorum(vs), h = this.hysteresis(vs);
    vs.quorumUp = sum >= q + h;
    // keepalived starts a service with quorum up and says so when its first count is below it.
    if (sum === 0 || sum < q - h) this.alertVs(vs, false, true, q - h, sum);
    const { ups, downs } = this.diff(vs, why);
    const scripts: HealthOp[] = [];
    if (!vs.quorumUp && vs.def.sorry_server && vs.def.quorum_down) scripts.push(this.exec(vs, 'quorum_down', vs.def.quorum_down));
    return { ups, downs, scripts };
  }

  private retire(ck: CkState): void {
    ck.stopped = true;
    if (ck.timer) { this.clock.clearTimer(ck.timer); ck.timer = null; }
  }

  /** Service key -> canonical "addr:port" -> dest as it is in the running table. */
  private indexRunning(running: readonly RunningService[]): Map<string, Map<string, DestSpec>> {
    const m = new Map<string, Map<string, DestSpec>>();
    for (const s of running) {
      const key = serviceKeyString({ af: s.af, fwmark: s.fwmark, protocol: s.protocol, addr: canonicalIp(s.addr) ?? s.addr, port: s.port });
      const dm = new Map<string, DestSpec>();
      for (const d of s.dests) dm.set(canonKey(d.addr, d.port), d);
      m.set(key, dm);
    }
    return m;
  }

  /** Takes what is applied from the running table instead of from our own record. */
  private seed(vs: VsState, dests: Map<string, DestSpec> | undefined): void {
    for (const rs of vs.rs) {
      const d = dests?.get(canonKey(rs.def.addr, rs.def.port));
      rs.applied = d ? d.weight : null;
      rs.appliedSig = d ? destSig(d) : null;
    }
    const s = vs.def.sorry_server;
    const d = s ? dests?.get(canonKey(s.addr, s.port)) : undefined;
    vs.sorryApplied = d ? d.weight : null;
    vs.sorryAppliedSig = d ? destSig(d) : null;
    vs.sorryAt = d && s ? { addr: s.addr, port: s.port } : null;
  }

  private targetName(vs: HealthService, r: HealthRealServer, def: CheckerDef): string {
    const t = this.targetOf(vs, r, def);
    return hostPort(t.host, t.port);
  }

  /** The data path's address and port: the real server's, with the virtual port for DR/TUN, connect_ip/port overriding. */
  private targetOf(vs: HealthService, r: HealthRealServer, def: CheckerDef): { host: string; port: number } {
    return { host: def.connect_ip ?? r.addr, port: def.connect_port ?? dataPort(vs, r) };
  }

  private delayLoop(vs: VsState, rs: RsState, ck: CkState): number {
    return ck.def.delay_loop ?? rs.def.delay_loop ?? vs.def.delay_loop ?? DEFAULT_DELAY_LOOP;
  }

  private scheduleFirst(vs: VsState, rs: RsState, ck: CkState): void {
    const warm = ck.def.warmup ?? this.delayLoop(vs, rs, ck);
    this.schedule(vs, rs, ck, warm > 0 ? this.random() * warm : 0);
  }

  private schedule(vs: VsState, rs: RsState, ck: CkState, seconds: number): void {
    const gen = this.generation;
    ck.timer = this.clock.setTimer(Math.round(seconds * 1000), () => {
      ck.timer = null;
      if (gen !== this.generation || ck.stopped) return;
      void this.runOne(vs, rs, ck, gen);
    });
  }

  private async runOne(vs: VsState, rs: RsState, ck: CkState, gen: number): Promise<void> {
    const ctx: CheckContext = {
      target: { addr: rs.def.addr, port: dataPort(vs.def, rs.def), vip: vs.def.key.addr, vport: vs.def.key.port, protocol: vs.def.key.protocol },
      scripts: this.scripts,
      delayLoop: this.delayLoop(vs, rs, ck),
    };
    // connect_ip / connect_port are applied by the checker itself.
    let r: CheckResult;
    try { r = await this.check(ck.def, ctx); } catch (e) { r = { ok: false, reason: `error: ${String(e)}`, latencyMs: 0 }; }
    if (gen !== this.generation || !this.running || ck.stopped) return;
    this.onResult(vs, rs, ck, r);
  }

  private onResult(vs: VsState, rs: RsState, ck: CkState, r: CheckResult): void {
    const now = this.clock.now();
    ck.checks++;
    ck.last = { ...r, at: now };
    const hadRun = ck.hasRun, wasUp = ck.up, wasAlive = rs.alive;
    ck.hasRun = true;
    this.o.onResult?.(vs.name, rs.name, ck.label, r);
    let next = this.delayLoop(vs, rs, ck);
    if (r.ok) {
      ck.consecutiveFailures = 0;
      ck.retryIt = 0;
      if (!ck.up) { ck.up = true; ck.since = now; }
      if (ck.def.type === 'MISC_CHECK' && ck.def.misc_dynamic) rs.effWeight = r.weight ?? rs.def.weight;
      // FILE_CHECK: the file's value x weight on top of the configured weight (never below 0).
      if (ck.def.type === 'FILE_CHECK') rs.effWeight = Math.max(0, rs.def.weight + (r.weightChange ?? 0));
    } else {
      ck.consecutiveFailures++;
      const ld = LD_KINDS.has(ck.def.type);
      if (ck.up && ck.retryIt < effectiveRetry(ck.def)) {
        ck.retryIt++;
        next = ck.def.delay_before_retry ?? (ld ? next : DEFAULT_DELAY_BEFORE_RETRY);
      } else {
        if (ck.up) { ck.up = false; ck.since = now; }
        ck.retryIt = 0;
      }
    }
    const ops = this.reconcile(vs, `${rs.name} ${ck.label}: ${r.reason}`);
    // keepalived mails a checker's transition; MISC_CHECK also its first verdict (check_misc.c).
    const decided = r.ok || (!ck.up && ck.retryIt === 0);
    if (ck.up !== wasUp || (ck.def.type === 'MISC_CHECK' && !hadRun && decided)) this.alertRs(vs, rs, ck, r, wasAlive);
    this.emit(ops);
    if (this.running) this.schedule(vs, rs, ck, next);
  }

  private quorum(vs: VsState): number { return vs.def.quorum ?? 1; }
  private hysteresis(vs: VsState): number { return vs.def.hysteresis ?? 0; }

  private aliveWeight(vs: VsState): number {
    let s = 0;
    for (const rs of vs.rs) if (rs.alive) s += Math.max(0, rs.effWeight);
    return s;
  }

  private reconcile(vs: VsState, why: string): HealthOp[] {
    const p = this.reconcileParts(vs, why);
    return [...p.ups, ...p.downs, ...p.scripts];
  }

  /** Recomputes alive flags and quorum (one crossing at most); returns table changes and scripts. */
  private reconcileParts(vs: VsState, why: string): Parts {
    const now = this.clock.now();
    const scripts: HealthOp[] = [];
    for (const rs of vs.rs) {
      const alive = rs.checkers.every((c) => c.up);
      if (alive === rs.alive) continue;
      rs.alive = alive;
      rs.since = now;
      const s = alive ? rs.def.notify_up : rs.def.notify_down;
      if (s) scripts.push(this.exec(vs, alive ? 'notify_up' : 'notify_down', s, rs));
    }
    const sum = this.aliveWeight(vs);
    const q = this.quorum(vs), h = this.hysteresis(vs);
    // keepalived's update_quorum_state: a reload's re-evaluation is an "init" one.
    const init = why === 'reload';
    if (!vs.quorumUp && sum >= q + h) {
      vs.quorumUp = true;
      if (vs.def.quorum_up) scripts.push(this.exec(vs, 'quorum_up', vs.def.quorum_up));
      this.alertVs(vs, true, init, q + h, sum);
    } else if (vs.quorumUp && (sum === 0 || sum < q - h)) {
      vs.quorumUp = false;
      if (vs.def.quorum_down) scripts.push(this.exec(vs, 'quorum_down', vs.def.quorum_down));
      this.alertVs(vs, false, init, q - h, sum);
    }
    const { ups, downs } = this.diff(vs, why);
    return { ups, downs, scripts };
  }

  private destSpec(vs: HealthService, addr: string, port: number, weight: number, r?: HealthRealServer | { fwd?: HealthRealServer['fwd'] }): DestSpec {
    const rr = (r ?? {}) as Partial<HealthRealServer>;
    return {
      af: parseIp(addr)?.af ?? vs.key.af,
      addr, port,
      fwd: rr.fwd ?? vs.lb_kind ?? 'masq',
      weight,
      uThreshold: rr.uthreshold ?? 0,
      lThreshold: rr.lthreshold ?? 0,
      tunType: rr.tun_type ?? 'ipip',
      tunPort: rr.tun_port ?? 0,
      tunCsum: rr.tun_csum ?? 'nocsum',
    };
  }

  private removeOp(d: HealthService, addr: string, port: number, why: string): HealthOp {
    return { op: 'remove', service: d.key, af: parseIp(addr)?.af ?? d.key.af, addr, port, why };
  }

  /**
   * Desired table from state, diffed against what was applied: additions and increases (ups),
   * decreases and removals (downs). A dest whose weight is unchanged but whose fwd / thresholds
   * / tunnel changed gets a 'set-weight' op carrying the new dest.
   */
  private diff(vs: VsState, why: string): { ups: HealthOp[]; downs: HealthOp[] } {
    const d = vs.def;
    vs.sorryActive = !vs.quorumUp && d.sorry_server !== undefined;
    const ups: HealthOp[] = [];
    const downs: HealthOp[] = [];
    const change = (addr: string, port: number, from: number | null, fromSig: string | null, to: number | null, r: HealthRealServer | HealthService['sorry_server'] | undefined): string | null => {
      if (to === null) {
        if (from !== null) downs.push(this.removeOp(d, addr, port, why));
        return null;
      }
      const spec = this.destSpec(d, addr, port, to, r);
      const sig = destSig(spec);
      if (from === null) ups.push({ op: 'add', service: d.key, dest: spec, why });
      else if (from !== to || fromSig !== sig) (to < from ? downs : ups).push({ op: 'set-weight', service: d.key, dest: spec, weight: to, why });
      return sig;
    };
    for (const rs of vs.rs) {
      const inhibit = rs.def.inhibit_on_failure ?? d.inhibit_on_failure ?? false;
      const want = vs.sorryActive || !rs.alive ? (inhibit ? 0 : null) : Math.max(0, rs.effWeight);
      rs.appliedSig = change(rs.def.addr, rs.def.port, rs.applied, rs.appliedSig, want, rs.def);
      rs.applied = want;
    }
    if (d.sorry_server) {
      const s = d.sorry_server;
      const want = vs.sorryActive ? (s.weight ?? 1) : d.sorry_server_inhibit ? 0 : null;
      vs.sorryAppliedSig = change(s.addr, s.port, vs.sorryApplied, vs.sorryAppliedSig, want, s);
      vs.sorryApplied = want;
      vs.sorryAt = want === null ? null : { addr: s.addr, port: s.port };
    }
    return { ups, downs };
  }

  private exec(vs: VsState, event: 'notify_up' | 'notify_down' | 'quorum_up' | 'quorum_down', script: string, rs?: RsState): HealthOp {
    const user = rs
      ? (event === 'notify_up' || event === 'notify_down' ? rs.def.script_users?.[event] : undefined)
      : (event === 'quorum_up' || event === 'quorum_down' ? vs.def.script_users?.[event] : undefined);
    const as = user !== undefined ? { user } : {};
    return rs
      ? { op: 'exec', script, ...as, event, service: vs.def.key, dest: { addr: rs.def.addr, port: rs.def.port } }
      : { op: 'exec', script, ...as, event, service: vs.def.key };
  }

  private vsAlertName(vs: VsState): string {
    const k = vs.def.key;
    return vs.def.alert_name ?? (k.fwmark > 0 ? `FWM ${k.fwmark}` : `[${k.addr}]:${k.protocol}:${k.port}`);
  }

  private alertRs(vs: VsState, rs: RsState, ck: CkState, r: CheckResult, wasAlive: boolean): void {
    if (!rs.def.smtp_alert || !this.o.onAlert) return;
    const t = this.targetOf(vs.def, rs.def, ck.def);
    const body = checkerAlertBody(ck.def, ck.up, r, `[${t.host}]:${t.port}`);
    if (body === null) return;
    this.o.onAlert({
      kind: 'rs', vs: this.vsAlertName(vs), rs: rs.def.alert_name ?? `[${rs.def.addr}]:${vs.def.key.protocol}:${rs.def.port}`,
      state: rs.alive ? 'UP' : 'DOWN', body, serverChanged: wasAlive !== rs.alive,
    });
  }

  /** keepalived's clear_service_rs on a reload: a live real server taken out is mailed "Removing". */
  private alertRemoved(vs: VsState, rs: RsState): void {
    if (!rs.def.smtp_alert || !this.o.onAlert) return;
    this.o.onAlert({ kind: 'rs', vs: this.vsAlertName(vs), rs: rs.def.alert_name ?? `[${rs.def.addr}]:${vs.def.key.protocol}:${rs.def.port}`, state: 'DOWN', body: '=> Removing <=', serverChanged: true });
  }

  private alertVs(vs: VsState, up: boolean, init: boolean, threshold: number, sum: number): void {
    if (!vs.def.smtp_alert || !this.o.onAlert) return;
    this.o.onAlert({
      kind: 'vs', vs: this.vsAlertName(vs), state: up ? 'UP' : 'DOWN',
      body: quorumAlertBody(up, init, this.quorum(vs), this.hysteresis(vs), threshold, sum), serverChanged: true,
    });
  }

  private emit(ops: HealthOp[]): void {
    if (ops.length > 0) this.o.onOps(ops);
  }
}

export function createHealthManager(o: HealthManagerOptions): HealthManager {
  return new HealthManager(o);
}
