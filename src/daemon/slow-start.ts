/**
 * Slow start (`tsvs daemon --slow-start S`, config key `tsvs_slow_start`): a real server that
 * enters service — added with a weight, or its weight raised from 0 (a health check passing
 * again, a drain cancelled, an operator) — does not get its whole share of new connections at
 * once: its weight is ceil(W / S) in its first second, ceil(2W / S) in the second, ..., W from
 * second S on. Off (0) by default: tsvsadm then behaves exactly as ipvsadm.
 *
 * Anyone else changing the weight during the ramp (an operator, a health checker, a drain) wins:
 * the ramp stops there. The ramp's steps go through the daemon like any change (state file,
 * forwarder), so `tsvsadm -L` shows the weight in force.
 */
import type { Af, DestSpec, Errno, IpvsBackend, IpvsCommand, ServiceKey, ServiceSnapshot } from '../core/types.ts';
import { canonicalIp } from '../core/addr.ts';
import type { Logger } from './log.ts';
import type { SlowStartObserved } from '../observe/snapshot.ts';

export const SLOW_START_DEFAULTS = {
  /** Seconds; 0 = off. */
  seconds: 0,
  maxSeconds: 3600,
  stepMs: 1000,
} as const;


/** Parses --slow-start / tsvs_slow_start: seconds 0..3600 (0 = off); throws naming where it came from. */
export function slowStartSeconds(v: string | undefined, where: string | null): number {
  if (v === undefined) return SLOW_START_DEFAULTS.seconds;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0 || n > SLOW_START_DEFAULTS.maxSeconds) {
    throw new Error(`${where ? `${where}: tsvs_slow_start` : '--slow-start'}: seconds 0..${SLOW_START_DEFAULTS.maxSeconds}, not '${v}'`);
  }
  return n;
}

export interface SlowStartHost {
  readonly log: Logger;
  withBackend(fn: (b: IpvsBackend) => void): Promise<unknown>;
  service(key: ServiceKey): ServiceSnapshot | null;
}

interface Ramp {
  key: ServiceKey;
  af: Af;
  addr: string;
  port: number;
  target: number;
  weight: number;
  startedAt: number;
  /** Steps taken (one a second): the weight is ceil(target * (steps + 1) / seconds). */
  steps: number;
  spec: DestSpec;
}

export class SlowStart {
  private readonly ramps = new Map<string, Ramp>();
  private timer: NodeJS.Timeout | null = null;
  private stepping = false;

  /** Seconds of the ramp; 0 = off (settable: the configuration file is read after the daemon is made). */
  constructor(public seconds: number, private readonly host: SlowStartHost, private readonly now: () => number = Date.now) {}

  private id(key: ServiceKey, addr: string, port: number): string {
    return `${key.af}/${key.fwmark}/${key.protocol}/${key.addr}/${key.port}/${addr}/${port}`;
  }

  private startWeight(target: number): number {
    return Math.max(1, Math.ceil(target / this.seconds));
  }

  /**
   * Called for every command about to be applied to the live engine (`current` reads it): a
   * command that brings a real server into service is applied with the ramp's first weight.
   */
  rewrite(cmd: IpvsCommand, current: Pick<IpvsBackend, 'service'>): IpvsCommand {
    if (this.seconds <= 0 || (cmd.kind !== 'add-dest' && cmd.kind !== 'edit-dest')) return cmd;
    const d = cmd.dest;
    const addr = canonicalIp(d.addr) ?? d.addr;
    const id = this.id(cmd.key, addr, d.port);
    if (cmd.kind === 'edit-dest') {
      const before = current.service(cmd.key)?.dests.find((x) => x.addr === addr && x.port === d.port);
      if (!before) return cmd;
      const ramp = this.ramps.get(id);
      if (ramp && ramp.weight === before.weight && d.weight !== ramp.weight) this.ramps.delete(id); // someone else sets the weight: theirs
      if (before.weight !== 0 || d.weight === 0) return cmd;
    }
    if (d.weight <= 1) return cmd;
    const w = this.startWeight(d.weight);
    this.ramps.set(id, { key: cmd.key, af: d.af, addr, port: d.port, target: d.weight, weight: w, startedAt: this.now(), steps: 0, spec: { ...d, weight: w } });
    this.arm();
    this.host.log.info({ service: `${cmd.key.addr}:${cmd.key.port}`, dest: `${addr}:${d.port}`, weight: w, target: d.weight, seconds: this.seconds }, 'slow start');
    return { ...cmd, dest: { ...d, weight: w } };
  }

  list(): SlowStartObserved[] {
    return [...this.ramps.values()].map((r) => ({ key: r.key, addr: r.addr, port: r.port, target: r.target, weight: r.weight, startedAt: r.startedAt, endsAt: r.startedAt + this.seconds * 1000 }));
  }

  private arm(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.step(), SLOW_START_DEFAULTS.stepMs);
  }

  private async step(): Promise<void> {
    if (this.stepping) return;
    this.stepping = true;
    try {
      for (const [id, r] of [...this.ramps]) {
        const cur = this.host.service(r.key)?.dests.find((x) => x.addr === r.addr && x.port === r.port);
        if (!cur || cur.weight !== r.weight) {
          this.ramps.delete(id); // gone, or someone else set its weight
          continue;
        }
        // Counted steps, not the clock: timer jitter does not skip or repeat a step.
        r.steps++;
        const w = Math.min(r.target, Math.max(r.weight, Math.ceil((r.target * (r.steps + 1)) / this.seconds)));
        if (w !== r.weight) {
          let errno: Errno | null = null;
          const spec = { ...cur, weight: w };
          r.weight = w;
          await this.host.withBackend((b) => {
            errno = b.apply({ kind: 'edit-dest', key: r.key, dest: { af: spec.af, addr: spec.addr, port: spec.port, fwd: spec.fwd, weight: w, uThreshold: spec.uThreshold, lThreshold: spec.lThreshold, tunType: spec.tunType, tunPort: spec.tunPort, tunCsum: spec.tunCsum } });
          });
          if (errno) {
            this.host.log.warn({ dest: `${r.addr}:${r.port}`, errno }, 'slow start step refused; ramp stopped');
            this.ramps.delete(id);
            continue;
          }
        }
        if (r.weight >= r.target) this.ramps.delete(id);
      }
    } finally {
      this.stepping = false;
      if (this.ramps.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
      }
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
