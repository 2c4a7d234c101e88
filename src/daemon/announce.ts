/**
 * `tsvs daemon --bgp bird`: ties the announcement controller (src/ha/announce/controller.ts,
 * pure) to the daemon's state and to the BIRD adapter (src/ha/announce/bird.ts). Each step reads
 * the running services (and, with keepalived.conf, the health checker's quorum verdicts), the
 * daemon's readiness, drain and stop, and hands the prefixes to announce to BIRD when they change.
 * Steps run after every rule change (poke), when a rising prefix is due, and every second.
 */
import { serviceKeyString } from '../core/service-key.ts';
import type { ServiceSnapshot } from '../core/types.ts';
import type { HealthStatus } from '../health/types.ts';
import type { BgpObserved } from '../observe/snapshot.ts';
import { AnnounceController, type AnnounceDecision, type ServiceHealth } from '../ha/announce/controller.ts';
import { BirdAnnouncer, sourceAddressTo } from '../ha/announce/bird.ts';
import { atomicWrite } from './state.ts';
import type { Logger } from './log.ts';
import type { BgpOptions } from './options.ts';
import { AnnounceError } from '../core/errors.ts';

/** On a clean stop: how long the director keeps forwarding after its withdrawal before it stops (ms). */
export const WITHDRAW_GRACE_MS = 500;
/** The backstop period of the steps (ms): rule changes poke at once. */
const STEP_MS = 1000;

export interface AnnounceHost {
  readonly log: Logger;
  services(): readonly ServiceSnapshot[];
  /** The health checker's state (keepalived.conf / ldirectord.cf), or null with plain rules. */
  health(): HealthStatus | null;
  /** Base path of BIRD's files (`<base>.conf`, `<base>.ctl`). */
  readonly base: string;
  /** Monotonic ms. */
  now(): number;
}

/** The services as the controller sees them: the health checker's quorum where it has one, else the table's weights. */
export function serviceHealth(services: readonly ServiceSnapshot[], health: HealthStatus | null, quorum: number): ServiceHealth[] {
  const checked = new Map((health?.services ?? []).map((s) => [serviceKeyString(s.key), s]));
  return services.map((s) => {
    const key = serviceKeyString(s);
    const vip = s.fwmark > 0 ? null : s.addr;
    const h = checked.get(key);
    if (h) return { key, vip, aliveWeight: h.aliveWeight, quorum: h.quorum, hysteresis: h.hysteresis, quorumUp: h.quorumUp };
    return { key, vip, aliveWeight: s.dests.reduce((n, d) => n + Math.max(0, d.weight), 0), quorum, hysteresis: 0 };
  });
}

export class AnnounceDriver {
  private readonly controller: AnnounceController;
  private bird: BirdAnnouncer | null = null;
  private ready = false;
  private draining = false;
  private stopping = false;
  private timer: NodeJS.Timeout | null = null;
  private riseTimer: NodeJS.Timeout | null = null;
  private last: AnnounceDecision | null = null;
  private routerId = '';

  constructor(private readonly o: BgpOptions, private readonly host: AnnounceHost) {
    this.controller = new AnnounceController({ prefixes: o.prefixes, riseMs: o.riseMs });
  }

  /** Starts BIRD with nothing announced. Throws (the daemon does not start) when BIRD cannot run. */
  async start(): Promise<void> {
    const v4 = this.o.peers.find((p) => !p.includes(':'));
    const routerId = this.o.routerId ?? (v4 ? sourceAddressTo(v4) : null);
    if (!routerId) throw new AnnounceError(`cannot tell the address this machine reaches ${v4 ?? 'its neighbours'} from: give --bgp-router-id`);
    this.routerId = routerId;
    this.bird = new BirdAnnouncer({
      settings: { localAs: this.o.localAs, peers: this.o.peers, peerAs: this.o.peerAs, routerId, holdSeconds: this.o.holdSeconds },
      base: this.host.base,
      log: { info: (x, m) => this.host.log.info(x, m), warn: (x, m) => this.host.log.warn(x, m), error: (x, m) => this.host.log.error(x, m) },
      write: (p, t) => atomicWrite(p, t, 0o644),
    });
    try {
      await this.bird.start();
    } catch (e) {
      throw new AnnounceError(`--bgp bird: ${(e as Error).message}`, { cause: e });
    }
    this.timer = setInterval(() => this.poke(), STEP_MS);
    this.host.log.info({ routerId, peers: this.o.peers, localAs: this.o.localAs, peerAs: this.o.peerAs, holdSeconds: this.o.holdSeconds }, 'BGP: BIRD started, nothing announced yet');
  }

  /** The forwarder runs: prefixes may be announced (after their rise). */
  setReady(): void {
    this.ready = true;
    this.poke();
  }

  /** `tsvs announce drain|resume`. */
  setDraining(on: boolean): AnnounceDecision {
    if (this.draining !== on) this.host.log.info({ draining: on }, on ? 'BGP: draining (withdrawing every prefix, still forwarding)' : 'BGP: drain ended');
    this.draining = on;
    return this.poke();
  }

  /** One step now: decides and, when the answer changed, tells BIRD. */
  poke(): AnnounceDecision {
    const now = this.host.now();
    const d = this.controller.step({
      now,
      services: serviceHealth(this.host.services(), this.host.health(), this.o.quorum),
      ready: this.ready,
      draining: this.draining,
      stopping: this.stopping,
    });
    this.last = d;
    if (d.changed && this.bird) {
      this.host.log.info({ announce: d.announce, prefixes: d.prefixes.map((p) => `${p.prefix}: ${p.reason}`) }, 'BGP: announcement decided');
      void this.bird.set(d.announce).catch(() => { /* logged by the adapter; the next change retries */ });
    }
    const due = this.controller.nextChangeIn(now);
    if (due !== null && !this.riseTimer && !this.stopping) {
      this.riseTimer = setTimeout(() => { this.riseTimer = null; this.poke(); }, due + 5);
    }
    return d;
  }

  async status(): Promise<Record<string, unknown>> {
    const b = await this.bird?.status();
    return {
      daemon: this.o.daemon,
      routerId: this.routerId,
      localAs: this.o.localAs,
      peerAs: this.o.peerAs,
      holdSeconds: this.o.holdSeconds,
      draining: this.draining,
      prefixes: this.last?.prefixes ?? [],
      announced: b?.announced ?? null,
      bird: b ? { running: b.running, pid: b.pid, starts: b.starts, error: b.error, config: this.bird!.confPath, socket: this.bird!.ctlPath } : null,
      peers: b?.peers ?? [],
    };
  }

  /** What /metrics shows (src/observe/metrics.ts). */
  async observed(): Promise<BgpObserved> {
    const b = await this.bird?.status();
    return {
      draining: this.draining,
      prefixes: (this.last?.prefixes ?? []).map((p) => ({ prefix: p.prefix, announced: p.announced })),
      peers: (b?.peers ?? []).map((p) => ({ address: p.address, established: p.bgpState === 'Established' })),
      birdRunning: b?.running ?? false,
      birdStarts: b?.starts ?? 0,
    };
  }

  /** Withdraws everything, keeps forwarding WITHDRAW_GRACE_MS, stops BIRD. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    if (this.riseTimer) clearTimeout(this.riseTimer);
    this.poke();
    await this.bird?.stop(WITHDRAW_GRACE_MS);
  }
}
