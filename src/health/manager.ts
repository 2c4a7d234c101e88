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
 * - notify_up / notify_down run on every alive change.
 *
 * Time, scripts and checks are injected; the manager itself does no I/O.
 */
import { parseIp } from '../core/addr.ts';
import type { DestSpec, ServiceKey } from '../core/types.ts';
import type { CheckContext } from './checker.ts';
import { runCheck as registryRunCheck } from './checkers/index.ts';
import { realClock, realScriptRunner, type HealthClock, type ScriptRunner, type TimerHandle } from './io.ts';
import type {
  CheckResult, CheckerDef, CheckerStatus, DestStatus, HealthOp, HealthRealServer, HealthService, HealthStatus, ServiceStatus,
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
}

export const DEFAULT_DELAY_LOOP = 60;
export const DEFAULT_DELAY_BEFORE_RETRY = 1;

const LD_KINDS = new Set(['connect', 'negotiate', 'ping', 'external', 'on', 'off']);

/** keepalived's retry defaults: 1, except MISC_CHECK 0 and DNS_CHECK 3; ldirectord: failurecount - 1. */
export function effectiveRetry(def: CheckerDef): number {
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

function destName(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

interface CkState {
  readonly def: CheckerDef;
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
}

interface RsState {
  readonly def: HealthRealServer;
  readonly name: string;
  readonly checkers: CkState[];
  alive: boolean;
  since: number;
  effWeight: number;
  /** Weight in the table, null = not in it. */
  applied: number | null;
}

interface VsState {
  readonly def: HealthService;
  readonly name: string;
  readonly rs: RsState[];
  quorumUp: boolean;
  sorryApplied: number | null;
  sorryActive: boolean;
}

export class HealthManager {
  private readonly clock: HealthClock;
  private readonly scripts: ScriptRunner;
  private readonly check: CheckRunner;
  private readonly random: () => number;
  private vss: VsState[] = [];
  private running = false;
  private generation = 0;

  constructor(private readonly o: HealthManagerOptions) {
    this.clock = o.clock ?? realClock;
    this.scripts = o.scripts ?? realScriptRunner;
    this.check = o.runCheck ?? registryRunCheck;
    this.random = o.random ?? Math.random;
  }

  /** Computes the initial table (adds; sorry server if quorum is down), emits it, and schedules the first checks. */
  start(): readonly HealthOp[] {
    if (this.running) return [];
    this.running = true;
    this.generation++;
    const now = this.clock.now();
    const ops: HealthOp[] = [];
    this.vss = this.o.services.map((d) => this.buildVs(d, now));
    for (const vs of this.vss) {
      const sum = this.aliveWeight(vs);
      vs.quorumUp = sum >= this.quorum(vs) + this.hysteresis(vs);
      ops.push(...this.diff(vs, 'start'));
      // keepalived: starting with quorum down and a sorry server runs quorum_down once.
      if (!vs.quorumUp && vs.def.sorry_server && vs.def.quorum_down) ops.push(this.exec(vs, 'quorum_down', vs.def.quorum_down));
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
        for (const ck of rs.checkers) if (ck.timer) { this.clock.clearTimer(ck.timer); ck.timer = null; }
        if (vs.def.omega && rs.alive && rs.def.notify_down) ops.push(this.exec(vs, 'notify_down', rs.def.notify_down, rs));
      }
      if (vs.def.omega && vs.quorumUp && vs.def.quorum_down) ops.push(this.exec(vs, 'quorum_down', vs.def.quorum_down));
    }
    this.emit(ops);
    return ops;
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
            dest: destName(s.addr, s.port), alive: vs.sorryActive, sorry: true, weight: vs.sorryApplied,
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
    const name = d.name ?? serviceName(d.key);
    const rs = d.real_servers.map((r): RsState => {
      const alpha = r.alpha ?? d.alpha ?? false;
      const checkers = r.checkers.map((def): CkState => {
        const t = this.targetOf(d, r, def);
        return {
          def, label: def.type, target: destName(t.host, t.port), up: !alpha, hasRun: false, retryIt: 0, since: now,
          consecutiveFailures: 0, checks: 0, last: null, timer: null,
        };
      });
      return { def: r, name: destName(r.addr, r.port), checkers, alive: checkers.every((c) => c.up), since: now, effWeight: r.weight, applied: null };
    });
    return { def: d, name, rs, quorumUp: true, sorryApplied: null, sorryActive: false };
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
      if (gen !== this.generation) return;
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
    if (gen !== this.generation || !this.running) return;
    this.onResult(vs, rs, ck, r);
  }

  private onResult(vs: VsState, rs: RsState, ck: CkState, r: CheckResult): void {
    const now = this.clock.now();
    ck.checks++;
    ck.last = { ...r, at: now };
    ck.hasRun = true;
    this.o.onResult?.(vs.name, rs.name, ck.label, r);
    let next = this.delayLoop(vs, rs, ck);
    if (r.ok) {
      ck.consecutiveFailures = 0;
      ck.retryIt = 0;
      if (!ck.up) { ck.up = true; ck.since = now; }
      if (ck.def.type === 'MISC_CHECK' && ck.def.misc_dynamic) rs.effWeight = r.weight ?? rs.def.weight;
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
    this.emit(this.reconcile(vs, `${rs.name} ${ck.label}: ${r.reason}`));
    if (this.running) this.schedule(vs, rs, ck, next);
  }

  private quorum(vs: VsState): number { return vs.def.quorum ?? 1; }
  private hysteresis(vs: VsState): number { return vs.def.hysteresis ?? 0; }

  private aliveWeight(vs: VsState): number {
    let s = 0;
    for (const rs of vs.rs) if (rs.alive) s += Math.max(0, rs.effWeight);
    return s;
  }

  /** Recomputes alive flags and quorum; returns table changes, then scripts. */
  private reconcile(vs: VsState, why: string): HealthOp[] {
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
    if (!vs.quorumUp && sum >= q + h) {
      vs.quorumUp = true;
      if (vs.def.quorum_up) scripts.push(this.exec(vs, 'quorum_up', vs.def.quorum_up));
    } else if (vs.quorumUp && (sum === 0 || sum < q - h)) {
      vs.quorumUp = false;
      if (vs.def.quorum_down) scripts.push(this.exec(vs, 'quorum_down', vs.def.quorum_down));
    }
    return [...this.diff(vs, why), ...scripts];
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

  /** Desired table from state, diffed against what was applied. Adds and weight changes before removals. */
  private diff(vs: VsState, why: string): HealthOp[] {
    const d = vs.def;
    vs.sorryActive = !vs.quorumUp && d.sorry_server !== undefined;
    const ups: HealthOp[] = [];
    const downs: HealthOp[] = [];
    const change = (addr: string, port: number, from: number | null, to: number | null, r: HealthRealServer | HealthService['sorry_server'] | undefined): void => {
      if (from === to) return;
      if (to === null) downs.push({ op: 'remove', service: d.key, af: parseIp(addr)?.af ?? d.key.af, addr, port, why });
      else if (from === null) ups.push({ op: 'add', service: d.key, dest: this.destSpec(d, addr, port, to, r), why });
      else (to < from ? downs : ups).push({ op: 'set-weight', service: d.key, dest: this.destSpec(d, addr, port, to, r), weight: to, why });
    };
    for (const rs of vs.rs) {
      const inhibit = rs.def.inhibit_on_failure ?? d.inhibit_on_failure ?? false;
      const want = vs.sorryActive || !rs.alive ? (inhibit ? 0 : null) : Math.max(0, rs.effWeight);
      change(rs.def.addr, rs.def.port, rs.applied, want, rs.def);
      rs.applied = want;
    }
    if (d.sorry_server) {
      const s = d.sorry_server;
      const want = vs.sorryActive ? (s.weight ?? 1) : d.sorry_server_inhibit ? 0 : null;
      change(s.addr, s.port, vs.sorryApplied, want, s);
      vs.sorryApplied = want;
    }
    return [...ups, ...downs];
  }

  private exec(vs: VsState, event: 'notify_up' | 'notify_down' | 'quorum_up' | 'quorum_down', script: string, rs?: RsState): HealthOp {
    return rs
      ? { op: 'exec', script, event, service: vs.def.key, dest: { addr: rs.def.addr, port: rs.def.port } }
      : { op: 'exec', script, event, service: vs.def.key };
  }

  private emit(ops: HealthOp[]): void {
    if (ops.length > 0) this.o.onOps(ops);
  }
}

export function createHealthManager(o: HealthManagerOptions): HealthManager {
  return new HealthManager(o);
}
