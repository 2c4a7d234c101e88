/**
 * Admission of new proxied TCP connections, decided at accept before anything else is spent on
 * them: refused at once (the client gets a reset) when the process's descriptor budget is used up
 * (each proxied connection holds two descriptors) or when the service already has `maxconn`
 * connections (HAProxy's maxconn; 0: no per-service maximum). Refusals are counted.
 *
 * The counters live in a SharedArrayBuffer so that every relay thread of the daemon admits
 * against the same totals (threads share the process's descriptor table). Per-service counts sit
 * in an open-addressing table keyed by a 32-bit hash of the service key, claimed with
 * compareExchange: threads need no coordination to agree on a service's slot. A full table (more
 * services than SLOTS) only loses the per-service maximum for the services that find no slot.
 */

/** Header words, then SLOTS pairs [key hash, active]. */
const ACTIVE = 0;
const BUDGET = 1;
const REFUSED_FD = 2;
const REFUSED_MAX = 3;
const MAXCONN = 4;
const HEADER = 8;
export const SLOTS = 16384;
const WORDS = HEADER + SLOTS * 2;

/** What refused a connection (or admitted it: a slot to release). */
export const REFUSED_DESCRIPTORS = -1;
export const REFUSED_MAXCONN = -2;
/** Admitted, but the per-service table is full: released with the total only. */
const NO_SLOT = -3;

export interface AdmissionStatus {
  /** Proxied TCP connections open now (all relay threads). */
  active: number;
  /** Connections the descriptor budget allows: (soft RLIMIT_NOFILE - reserve - listening sockets) / 2. */
  budget: number;
  /** The per-service maximum (0: none). */
  maxconn: number;
  /** New connections reset because the descriptor budget was used up. */
  refusedDescriptors: number;
  /** New connections reset because their service had maxconn connections. */
  refusedMaxconn: number;
}

/** The refusals as tsvs_forwarder_drops_total reasons (docs/ERRORS.md "Proxy forwarder refusals"). */
export function admissionDrops(st: AdmissionStatus | null | undefined): Record<string, number> {
  return st ? { 'descriptor-budget': st.refusedDescriptors, maxconn: st.refusedMaxconn } : {};
}

/** FNV-1a, never 0 (0 marks a free slot). */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h === 0 ? 1 : h;
}

export class Admission {
  readonly sab: SharedArrayBuffer;
  private readonly w: Int32Array;
  /** This thread's lookups: service key text -> word index of its count. */
  private readonly slots = new Map<string, number>();

  /** A new table (`sab` absent) or one another thread created. */
  constructor(sab?: SharedArrayBuffer) {
    this.sab = sab ?? new SharedArrayBuffer(WORDS * 4);
    this.w = new Int32Array(this.sab);
  }

  /** Sets the limits (the daemon's main thread, at start and when its listening sockets change). */
  configure(budget: number, maxconn: number): void {
    Atomics.store(this.w, BUDGET, Math.max(0, Math.min(budget, 0x7fffffff)));
    Atomics.store(this.w, MAXCONN, Math.max(0, maxconn));
  }

  /**
   * Admits a new connection of service `key`: a value >= 0 (or NO_SLOT) to pass to release() when
   * it closes, or REFUSED_DESCRIPTORS / REFUSED_MAXCONN (counted; nothing to release).
   */
  admit(key: string): number {
    const w = this.w;
    if (Atomics.add(w, ACTIVE, 1) >= Atomics.load(w, BUDGET)) {
      Atomics.sub(w, ACTIVE, 1);
      Atomics.add(w, REFUSED_FD, 1);
      return REFUSED_DESCRIPTORS;
    }
    const at = this.slot(key);
    if (at < 0) return NO_SLOT;
    const max = Atomics.load(w, MAXCONN);
    if (Atomics.add(w, at, 1) >= max && max > 0) {
      Atomics.sub(w, at, 1);
      Atomics.sub(w, ACTIVE, 1);
      Atomics.add(w, REFUSED_MAX, 1);
      return REFUSED_MAXCONN;
    }
    return at;
  }

  /** A connection admit() let in has closed. */
  release(at: number): void {
    if (at < 0 && at !== NO_SLOT) return;
    Atomics.sub(this.w, ACTIVE, 1);
    if (at >= 0) Atomics.sub(this.w, at, 1);
  }

  /** Open connections of one service (all threads). */
  activeOf(key: string): number {
    const at = this.slot(key);
    return at < 0 ? 0 : Atomics.load(this.w, at);
  }

  status(): AdmissionStatus {
    const w = this.w;
    return {
      active: Atomics.load(w, ACTIVE), budget: Atomics.load(w, BUDGET), maxconn: Atomics.load(w, MAXCONN),
      refusedDescriptors: Atomics.load(w, REFUSED_FD), refusedMaxconn: Atomics.load(w, REFUSED_MAX),
    };
  }

  /** Word index of the service's count, claiming a slot on first sight; -1 when the table is full. */
  private slot(key: string): number {
    const known = this.slots.get(key);
    if (known !== undefined) return known;
    const h = hash32(key);
    const w = this.w;
    for (let i = 0, s = (h >>> 0) % SLOTS; i < SLOTS; i++, s = (s + 1) % SLOTS) {
      const at = HEADER + s * 2;
      const was = Atomics.compareExchange(w, at, 0, h);
      if (was === 0 || was === h) {
        this.slots.set(key, at + 1);
        return at + 1;
      }
    }
    return -1;
  }
}

/**
 * Descriptors kept out of the proxy's budget for everything else: the control socket (128
 * clients), health checkers, the HTTP listener and its clients, logs, epoll and thread handles.
 * An eighth of the limit, at least 128 and at most 1024.
 */
export function descriptorReserve(softLimit: number): number {
  return Math.min(1024, Math.max(128, Math.floor(softLimit / 8)));
}

/** Proxied connections a process with this descriptor limit may hold (two descriptors each). */
export function connectionBudget(softLimit: number, listeningSockets: number): number {
  return Math.max(0, Math.floor((softLimit - descriptorReserve(softLimit) - listeningSockets) / 2));
}

/**
 * Refusals as log lines, at most one per interval: the first at once, then the counts of each
 * interval that had any (a flood of refusals must not become a flood of log lines).
 */
export class RefusalLog {
  private fd = 0;
  private max = 0;
  private last = -Infinity;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly warn: (o: object, msg: string) => void, private readonly status: () => AdmissionStatus, private readonly intervalMs = 10_000) {}

  note(why: number): void {
    if (why === REFUSED_DESCRIPTORS) this.fd++;
    else this.max++;
    const now = performance.now();
    if (now - this.last >= this.intervalMs) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.intervalMs - (now - this.last));
      this.timer.unref();
    }
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.fd === 0 && this.max === 0) return;
    this.last = performance.now();
    const st = this.status();
    this.warn({ refusedDescriptors: this.fd, refusedMaxconn: this.max, active: st.active, budget: st.budget, maxconn: st.maxconn, intervalS: this.intervalMs / 1000 },
      this.fd > 0 ? 'new connections reset: descriptor budget used up' : 'new connections reset: service at maxconn');
    this.fd = 0;
    this.max = 0;
  }
}
