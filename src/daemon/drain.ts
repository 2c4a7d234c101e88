/**
 * Graceful drain of a real server (`tsvs drain`, the control op `drain`, POST
 * /api/v1/services/{id}/reals/{id}/drain): weight 0 (no new connections), its persistence
 * templates no longer used (Engine.setDestQuiesced: as expire_quiescent_template=1 for this one
 * destination), then wait until its ActiveConn reaches 0 or the timeout, then delete it or keep
 * it at weight 0. Progress is read by `tsvs drain`, status, /metrics and the dashboard.
 *
 * Health checkers (keepalived/ldirectord mode) keep running during a drain, and their verdicts
 * are recorded as always, but the drain is the operator's intent and wins over them: a weight a
 * checker sets for a draining server (it came up, or went down with inhibit_on_failure) is applied
 * as 0 (hold()), and remembered as the weight a cancel restores; a checker that removes the server
 * (down, no inhibit_on_failure) ends a `--then delete` drain as drained (it is out of the table),
 * while a `--then keep` drain waits for it to come back (at weight 0) until its deadline. The drain
 * still completes when ActiveConn reaches 0. Someone else setting its weight (tsvsadm -e, the API)
 * cancels the drain: theirs is the newer intent.
 */
import { ControlError, type DrainCode } from '../core/errors.ts';
import type { Af, DestSnapshot, Errno, IpvsBackend, IpvsCommand, ServiceKey, ServiceSnapshot } from '../core/types.ts';
import { canonicalIp } from '../core/addr.ts';
import { commandErrorMessage } from '../ipvsadm/texts.ts';
import type { DrainObserved } from '../observe/snapshot.ts';
import { realId, serviceId } from '../observe/ids.ts';
import { serviceName } from '../observe/ipvs-labels.ts';
import type { Logger } from './log.ts';

/** Defaults in one place (docs/OBSERVABILITY.md, `tsvs drain --help`). */
export const DRAIN_DEFAULTS = {
  /** Seconds to wait for ActiveConn to reach 0. */
  timeoutS: 300,
  then: 'delete' as 'delete' | 'keep',
  pollMs: 250,
  /** Finished drains kept for status / the API. */
  history: 100,
  maxTimeoutS: 7 * 24 * 3600,
} as const;

export interface DrainRequest {
  readonly key: ServiceKey;
  readonly addr: string;
  readonly port: number;
  readonly timeoutS?: number;
  readonly then?: 'delete' | 'keep';
}

/** A refused drain operation; `code` is stable (docs/ERRORS.md). */
/** A drain request refused: a ControlError, so the control API answers with its code. */
export class DrainError extends ControlError {
  declare readonly code: DrainCode | 'EBADREQ';
  constructor(code: DrainCode | 'EBADREQ', message: string) {
    super(code, message);
  }
}

export interface DrainHost {
  readonly log: Logger;
  /** Runs fn with the daemon's guarded backend (serialized, saved, forwarder synced); returns the forwarder's refusals. */
  withBackend(fn: (b: IpvsBackend) => void): Promise<{ refusals: readonly string[] }>;
  /** The service now (packet forwarder settled first). */
  service(key: ServiceKey): ServiceSnapshot | null;
  quiesce(key: ServiceKey, af: Af, addr: string, port: number, on: boolean): Errno | null;
}

interface Drain {
  id: string;
  key: ServiceKey;
  af: Af;
  addr: string;
  port: number;
  then: 'delete' | 'keep';
  state: DrainObserved['state'];
  startedAt: number;
  deadline: number;
  finishedAt: number | null;
  weightBefore: number;
  active: number;
  inact: number;
  persist: number;
  error?: string;
  note?: string;
}

/** Validates a `drain` request's fields (control socket and API); returns an error text or null. */
export function drainOptionsError(timeoutS: unknown, then: unknown): string | null {
  if (timeoutS !== undefined && (typeof timeoutS !== 'number' || !Number.isFinite(timeoutS) || timeoutS < 0 || timeoutS > DRAIN_DEFAULTS.maxTimeoutS)) {
    return `timeout must be a number of seconds 0..${DRAIN_DEFAULTS.maxTimeoutS}`;
  }
  if (then !== undefined && then !== 'delete' && then !== 'keep') return `then must be "delete" or "keep"`;
  return null;
}

/** Checks a control-socket `drain` request's fields (service key, addr, port, timeout, then). */
export function drainRequestError(o: Record<string, unknown>): string | null {
  const k = o['service'] as Record<string, unknown> | undefined;
  if (typeof k !== 'object' || k === null) return 'drain needs service: {af, fwmark, protocol, addr, port}';
  if ((k['af'] !== 4 && k['af'] !== 6) || typeof k['fwmark'] !== 'number' || !['tcp', 'udp', 'sctp'].includes(k['protocol'] as string) || typeof k['addr'] !== 'string' || typeof k['port'] !== 'number') {
    return 'drain: service must be {af: 4|6, fwmark: number, protocol: tcp|udp|sctp, addr: string, port: number}';
  }
  if (typeof o['addr'] !== 'string') return 'drain needs addr: string (the real server)';
  if (typeof o['port'] !== 'number' || !Number.isInteger(o['port']) || o['port'] < 0 || o['port'] > 65535) return 'drain needs port: 0..65535';
  return drainOptionsError(o['timeout'], o['then']);
}

const hostPort = (addr: string, port: number): string => (addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`);

function specOf(d: DestSnapshot, weight: number) {
  return { af: d.af, addr: d.addr, port: d.port, fwd: d.fwd, weight, uThreshold: d.uThreshold, lThreshold: d.lThreshold, tunType: d.tunType, tunPort: d.tunPort, tunCsum: d.tunCsum };
}

export class DrainManager {
  private readonly drains = new Map<string, Drain>();
  private timer: NodeJS.Timeout | null = null;
  private polling = false;

  constructor(private readonly host: DrainHost, private readonly now: () => number = Date.now) {}

  private find(key: ServiceKey, addr: string, port: number): { svc: ServiceSnapshot; dest: DestSnapshot } | null {
    const svc = this.host.service(key);
    const dest = svc?.dests.find((d) => d.addr === addr && d.port === port);
    return svc && dest ? { svc, dest } : null;
  }

  async start(r: DrainRequest): Promise<DrainObserved> {
    const bad = drainOptionsError(r.timeoutS, r.then);
    if (bad) throw new DrainError('EBADREQ', bad);
    const addr = canonicalIp(r.addr);
    if (addr === null) throw new DrainError('EBADREQ', `'${r.addr}' is not an IP address`);
    const svc = this.host.service(r.key);
    if (!svc) throw new DrainError('ESRCH', `No such service: ${serviceName(r.key)}`);
    const dest = svc.dests.find((d) => d.addr === addr && d.port === r.port);
    if (!dest) throw new DrainError('ENOENT', `No such destination: ${hostPort(addr, r.port)} in ${serviceName(r.key)}`);
    const id = `${serviceId(r.key)}/${realId(addr, r.port)}`;
    if (this.drains.get(id)?.state === 'draining') throw new DrainError('EEXIST', `${hostPort(addr, r.port)} in ${serviceName(r.key)} is already draining`);
    let errno: Errno | null = null;
    const cmd = { kind: 'edit-dest' as const, key: r.key, dest: specOf(dest, 0) };
    const { refusals } = await this.host.withBackend((b) => { errno = b.apply(cmd); });
    if (refusals.length > 0) throw new DrainError('EINVAL', refusals.join('; '));
    if (errno) throw new DrainError(errno === 'ESRCH' ? 'ESRCH' : errno === 'ENOENT' ? 'ENOENT' : 'EINVAL', commandErrorMessage(cmd, errno));
    this.host.quiesce(r.key, dest.af, addr, r.port, true);
    const t = this.now();
    const timeoutS = r.timeoutS ?? DRAIN_DEFAULTS.timeoutS;
    const d: Drain = {
      id, key: r.key, af: dest.af, addr, port: r.port, then: r.then ?? DRAIN_DEFAULTS.then, state: 'draining', startedAt: t,
      deadline: t + timeoutS * 1000, finishedAt: null, weightBefore: dest.weight, active: dest.activeConns, inact: dest.inactConns, persist: dest.persistConns,
    };
    this.drains.delete(id); // a finished drain of the same server is replaced (newest last)
    this.drains.set(id, d);
    this.host.log.info({ drain: id, timeoutS, then: d.then, activeConns: d.active, weightBefore: d.weightBefore }, 'drain started');
    this.arm();
    await this.poll();
    return this.observed(d);
  }

  /** Stops a running drain and restores the weight it had. */
  async cancel(id: string): Promise<DrainObserved> {
    const d = this.drains.get(id);
    if (!d) throw new DrainError('ENOTFOUND', `no drain ${id}`);
    if (d.state !== 'draining') throw new DrainError('EINVAL', `drain ${id} already ended (${d.state})`);
    const hit = this.find(d.key, d.addr, d.port);
    this.host.quiesce(d.key, d.af, d.addr, d.port, false);
    if (hit) {
      let errno: Errno | null = null;
      await this.host.withBackend((b) => { errno = b.apply({ kind: 'edit-dest', key: d.key, dest: specOf(hit.dest, d.weightBefore) }); });
      if (errno) d.error = `weight not restored: ${errno}`;
    }
    this.finish(d, 'cancelled');
    return this.observed(d);
  }

  /**
   * A health checker's command, about to be applied: a weight for a draining real server is held
   * at 0 (the checker's wish is kept as the weight a cancel restores). Anything else passes.
   */
  hold(cmd: IpvsCommand): IpvsCommand {
    if (cmd.kind !== 'edit-dest' && cmd.kind !== 'add-dest') return cmd;
    const addr = canonicalIp(cmd.dest.addr) ?? cmd.dest.addr;
    const d = this.drains.get(`${serviceId(cmd.key)}/${realId(addr, cmd.dest.port)}`);
    if (!d || d.state !== 'draining') return cmd;
    d.weightBefore = cmd.dest.weight;
    d.note = `a health checker set weight ${cmd.dest.weight} during the drain: held at 0 (a cancel restores ${cmd.dest.weight})`;
    this.host.log.info({ drain: d.id, checkerWeight: cmd.dest.weight, op: cmd.kind }, 'drain holds weight 0 over a health checker');
    return cmd.dest.weight === 0 ? cmd : { ...cmd, dest: { ...cmd.dest, weight: 0 } };
  }

  list(): DrainObserved[] {
    return [...this.drains.values()].map((d) => this.observed(d));
  }

  get(id: string): DrainObserved | null {
    const d = this.drains.get(id);
    return d ? this.observed(d) : null;
  }

  private observed(d: Drain): DrainObserved {
    return {
      id: d.id, service: serviceName(d.key), key: { af: d.key.af, fwmark: d.key.fwmark, protocol: d.key.protocol, addr: d.key.addr, port: d.key.port },
      dest: { addr: d.addr, port: d.port }, state: d.state, then: d.then, startedAt: d.startedAt, deadline: d.deadline, finishedAt: d.finishedAt,
      activeConns: d.active, inactConns: d.inact, persistConns: d.persist, weightBefore: d.weightBefore, ...(d.error ? { error: d.error } : {}), ...(d.note ? { note: d.note } : {}),
    };
  }

  private arm(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.poll(), DRAIN_DEFAULTS.pollMs);
  }

  private finish(d: Drain, state: DrainObserved['state'], error?: string, note?: string): void {
    d.state = state;
    d.finishedAt = this.now();
    if (error) d.error = error;
    if (note) d.note = note;
    this.host.log.info({ drain: d.id, state, activeConns: d.active, ...(error ? { err: error } : {}), ...(note ? { note } : {}) }, 'drain ended');
    // Keep a bounded history.
    const done = [...this.drains.values()].filter((x) => x.state !== 'draining');
    for (const x of done.slice(0, Math.max(0, done.length - DRAIN_DEFAULTS.history))) this.drains.delete(x.id);
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      for (const d of [...this.drains.values()]) {
        if (d.state !== 'draining') continue;
        const hit = this.find(d.key, d.addr, d.port);
        const timedOut = this.now() >= d.deadline;
        if (!hit) {
          // Removed meanwhile (a health checker's down without inhibit_on_failure, an operator):
          // out of the table is what `delete` wanted; `keep` waits for it to come back at weight 0.
          if (d.then === 'delete') {
            this.quiesceOff(d);
            this.finish(d, 'drained', undefined, 'it left the table during the drain (removed by a health checker or an operator)');
          } else if (timedOut) {
            this.quiesceOff(d);
            this.finish(d, 'timeout', undefined, 'it left the table during the drain and did not come back before the deadline');
          }
          continue;
        }
        d.active = hit.dest.activeConns;
        d.inact = hit.dest.inactConns;
        d.persist = hit.dest.persistConns;
        if (hit.dest.weight !== 0) {
          // Not a health checker (hold() keeps theirs at 0): an operator's newer intent.
          this.quiesceOff(d);
          this.finish(d, 'cancelled', undefined, `its weight was set to ${hit.dest.weight} during the drain`);
          continue;
        }
        if (d.active > 0 && !timedOut) continue;
        if (d.then === 'delete') {
          let errno: Errno | null = null;
          await this.host.withBackend((b) => { errno = b.apply({ kind: 'delete-dest', key: d.key, af: d.af, addr: d.addr, port: d.port }); });
          if (errno) {
            this.finish(d, 'failed', `cannot delete: ${errno}`);
            continue;
          }
        }
        this.finish(d, d.active > 0 ? 'timeout' : 'drained');
      }
    } finally {
      this.polling = false;
      if (![...this.drains.values()].some((x) => x.state === 'draining') && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
      }
    }
  }

  /** Its templates usable again (the drain no longer decides for it). */
  private quiesceOff(d: Drain): void {
    this.host.quiesce(d.key, d.af, d.addr, d.port, false);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
