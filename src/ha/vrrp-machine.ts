/**
 * The VRRP state machine (RFC 3768 §6.4 / RFC 5798 §6.4, with keepalived's knobs), stepped with an
 * injected clock. It never does I/O: every input returns the actions the transport must apply
 * (send an advert, add/remove the virtual addresses, send gratuitous ARPs, run notify scripts).
 */

export type VrrpState = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT' | 'STOP';

export interface VrrpMachineConfig {
  readonly vrid: number;
  /** Configured priority 1..255 (255 = address owner). */
  readonly priority: number;
  readonly version: 2 | 3;
  /** advert_int in seconds (v3 allows fractions, e.g. 0.1). */
  readonly advertInterval: number;
  /** false = keepalived `nopreempt`. */
  readonly preempt: boolean;
  /** keepalived `preempt_delay` seconds: lower-priority masters are tolerated this long after start. */
  readonly preemptDelay: number;
  /** Our primary address (raw bytes) for the equal-priority tie-break. */
  readonly primaryIp: Uint8Array;
  /** Gratuitous ARP bursts: `garp_master_repeat` frames at once, again after `garp_master_delay` s (0 = no second burst). */
  readonly garpRepeat: number;
  readonly garpDelay: number;
  /** The configured initial state (keepalived's wantstate); unset: MASTER for the address owner, else BACKUP. */
  readonly initialState?: 'MASTER' | 'BACKUP';
}

export type VrrpAction =
  | { readonly kind: 'send-advert'; readonly priority: number }
  | { readonly kind: 'add-vips' }
  | { readonly kind: 'del-vips' }
  | { readonly kind: 'garp'; readonly count: number }
  | { readonly kind: 'state'; readonly from: VrrpState; readonly to: VrrpState; readonly reason: string };

export interface ReceivedAdvert {
  readonly priority: number;
  /** v2 seconds / v3 converted to seconds by the caller. */
  readonly interval: number;
  readonly srcIp: Uint8Array;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

export class VrrpMachine {
  state: VrrpState = 'INIT';
  private adverTimer = Infinity;
  private masterDownTimer = Infinity;
  private garpTimer = Infinity;
  private masterAdverInterval: number;
  private startedAt = 0;
  /** track_script / track_interface weight adjustments. */
  private priorityDelta = 0;
  private faults = new Set<string>();

  constructor(readonly cfg: VrrpMachineConfig) {
    this.masterAdverInterval = cfg.advertInterval;
  }

  /** Effective priority: configured + tracking deltas, clamped to 1..254 unless the owner (255). */
  get priority(): number {
    if (this.cfg.priority === 255) return 255;
    return Math.max(1, Math.min(254, this.cfg.priority + this.priorityDelta));
  }

  skewTime(): number {
    return this.cfg.version === 2
      ? (256 - this.priority) / 256
      : ((256 - this.priority) * this.masterAdverInterval) / 256;
  }

  masterDownInterval(): number {
    return 3 * this.masterAdverInterval + this.skewTime();
  }

  /** Earliest time at which tick() has something to do. */
  nextDeadline(): number {
    return Math.min(this.adverTimer, this.masterDownTimer, this.garpTimer);
  }

  start(now: number): VrrpAction[] {
    this.startedAt = now;
    if (this.faults.size > 0) return this.goto('FAULT', now, 'tracked fault at start');
    // As keepalived 2.2.7's vrrp_init_state: only the address owner (priority 255) wanting MASTER
    // is master at once; every other instance, `state MASTER` below 255 or `state BACKUP` at 255
    // included, enters BACKUP (init) and is elected by its master-down timer (3 x advert_int +
    // skew), so a higher priority already master keeps it.
    if (this.cfg.priority === 255 && (this.cfg.initialState ?? 'MASTER') === 'MASTER') return this.becomeMaster(now, 'address owner');
    return this.becomeBackup(now, 'init');
  }

  tick(now: number): VrrpAction[] {
    const out: VrrpAction[] = [];
    if (this.state === 'MASTER') {
      if (now >= this.garpTimer) {
        out.push({ kind: 'garp', count: this.cfg.garpRepeat });
        this.garpTimer = Infinity;
      }
      if (now >= this.adverTimer) {
        out.push({ kind: 'send-advert', priority: this.priority });
        this.adverTimer = now + this.cfg.advertInterval;
      }
    } else if (this.state === 'BACKUP' && now >= this.masterDownTimer) {
      out.push(...this.becomeMaster(now, 'master down timer expired'));
    }
    return out;
  }

  receive(now: number, adv: ReceivedAdvert): VrrpAction[] {
    if (this.state === 'BACKUP') {
      if (adv.priority === 0) {
        this.masterDownTimer = now + this.skewTime();
        return [];
      }
      const inPreemptDelay = now < this.startedAt + this.cfg.preemptDelay;
      if (!this.cfg.preempt || inPreemptDelay || adv.priority >= this.priority) {
        if (this.cfg.version === 3) this.masterAdverInterval = adv.interval;
        this.masterDownTimer = now + this.masterDownInterval();
      }
      return [];
    }
    if (this.state === 'MASTER') {
      if (adv.priority === 0) {
        this.adverTimer = now + this.cfg.advertInterval;
        return [{ kind: 'send-advert', priority: this.priority }];
      }
      const higher =
        adv.priority > this.priority ||
        (adv.priority === this.priority && compareBytes(adv.srcIp, this.cfg.primaryIp) > 0);
      if (higher) {
        if (this.cfg.version === 3) this.masterAdverInterval = adv.interval;
        return this.becomeBackup(now, `higher priority master (${adv.priority})`);
      }
    }
    return [];
  }

  /** track_interface / track_script in fault: a named fault source goes up or down. */
  setFault(now: number, source: string, faulty: boolean): VrrpAction[] {
    const had = this.faults.size > 0;
    if (faulty) this.faults.add(source);
    else this.faults.delete(source);
    const has = this.faults.size > 0;
    if (!had && has && this.state !== 'INIT' && this.state !== 'STOP') return this.goto('FAULT', now, `fault: ${source}`);
    if (had && !has && this.state === 'FAULT') return this.becomeBackup(now, `fault cleared: ${source}`);
    return [];
  }

  /** A sync-group peer stepped down: a master follows it to BACKUP. */
  forceBackup(now: number, reason: string): VrrpAction[] {
    return this.state === 'MASTER' ? this.becomeBackup(now, reason) : [];
  }

  /** track_script weights: the sum of the deltas of the scripts currently applying. */
  setPriorityDelta(delta: number): void {
    this.priorityDelta = delta;
  }

  /** Shutdown: a master resigns with priority 0 so a backup takes over at once. */
  stop(now: number): VrrpAction[] {
    const out: VrrpAction[] = [];
    if (this.state === 'MASTER') out.push({ kind: 'send-advert', priority: 0 });
    out.push(...this.goto('STOP', now, 'stopped'));
    this.adverTimer = this.masterDownTimer = this.garpTimer = Infinity;
    return out;
  }

  private becomeMaster(now: number, reason: string): VrrpAction[] {
    const out = this.goto('MASTER', now, reason);
    out.push({ kind: 'add-vips' }, { kind: 'send-advert', priority: this.priority }, { kind: 'garp', count: this.cfg.garpRepeat });
    this.adverTimer = now + this.cfg.advertInterval;
    this.masterDownTimer = Infinity;
    this.garpTimer = this.cfg.garpDelay > 0 ? now + this.cfg.garpDelay : Infinity;
    return out;
  }

  private becomeBackup(now: number, reason: string): VrrpAction[] {
    const wasMaster = this.state === 'MASTER';
    const out = this.goto('BACKUP', now, reason);
    if (wasMaster) out.push({ kind: 'del-vips' });
    this.adverTimer = Infinity;
    this.garpTimer = Infinity;
    this.masterDownTimer = now + this.masterDownInterval();
    return out;
  }

  private goto(to: VrrpState, _now: number, reason: string): VrrpAction[] {
    const from = this.state;
    this.state = to;
    if (to === 'FAULT' || to === 'STOP') {
      const out: VrrpAction[] = [];
      if (from === 'MASTER') out.push({ kind: 'del-vips' });
      this.adverTimer = this.masterDownTimer = this.garpTimer = Infinity;
      return [{ kind: 'state', from, to, reason }, ...out];
    }
    return [{ kind: 'state', from, to, reason }];
  }
}
