/**
 * Decision channel between a worker (I/O) and the main thread (where the one engine lives), over
 * a SharedArrayBuffer: a single-producer single-consumer ring of packet records, in packet order.
 *
 * Every packet of interest is written to the ring, so the engine sees every packet (stats,
 * states, timers, persistence), in the order the worker saw them. A record is either
 *  - sync: the worker needs the engine's decision (a new flow, a SYN, an ICMP error): it
 *    publishes the ring, rings the doorbell and blocks in Atomics.wait until the main thread has
 *    decided everything up to that record (one round trip per ring block, not per packet);
 *  - async: the worker already forwarded the packet with a cached decision for its connection
 *    (forwarder.ts, FlowCache); the main thread decides it later, in order, when woken by the
 *    worker (backlog or age threshold) or before the next sync request. The engine's answer is
 *    written back all the same: the worker compares it with what it used and drops the cached
 *    decision when they differ.
 *
 * Layout (Int32Array): [0] doorbell (worker increments; the main thread waits on it), [1] want
 * (seq the main thread must reach before answering), [2] head (worker: records published),
 * [3] tail (main: records decided), [4] generation (main: bumped when the rules change: the
 * worker drops its cached decisions), [5] sync state (0 idle, 1 waiting, 2 answered), then `cap`
 * records of 24 words: request 0..11, answer 12..21. Sequence numbers are int32 and wrap.
 * Answer word 0: kind (bits 0..3), method (4..7), dir (8), cached connection (9), tunnel type
 * (10..11), tunnel checksum option (12..13), GUE port (14..29), IPv6 rip (30), IPv6 vip (31); then rip
 * (4 words: IPv4 in the first), rport<<16|vport, vip (4 words). IPv6 records go both ways, so
 * the ring workers and the NFQUEUE worker forward IPv6 like IPv4.
 */
import type { Ip } from '../../core/addr.ts';
import { newAction, type Action, type DecideBatch } from './decision.ts';
import type { PacketMeta } from './classify.ts';
import { ACTION_CODE } from '../../core/types.ts';

type WaitAsync = (a: Int32Array, i: number, v: number, t: number) => { async: boolean; value: unknown };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;
const aLoad = Atomics.load, aStore = Atomics.store, aNotify = Atomics.notify, aWait = Atomics.wait, aAdd = Atomics.add, aCas = Atomics.compareExchange;

/**
 * How old (ms) the oldest async record may get before the worker wakes the main thread for it.
 * Exactness does not depend on it: `settle()` (host.ts) decides everything published before a
 * command reads or zeroes counters.
 */
export const KICK_AGE_MS = 4;
const HDR = 8;
const REC = 24;
const ANS = 12;
const W_BELL = 0, W_WANT = 1, W_HEAD = 2, W_TAIL = 3, W_GEN = 4, W_SYNC = 5;
const PROTO = ['tcp', 'udp', 'sctp'] as const;
const SYNC_BIT = 2;
/** The answer's real server / virtual address is IPv6 (both, or one: a mixed-family tunnel). */
const RIP6_BIT = 1 << 30;
const VIP6_BIT = 1 << 31;
const A_RIP = 1, A_PORTS = 5, A_VIP = 6;

export function createChannel(cap = 8192): SharedArrayBuffer {
  if (cap & (cap - 1)) throw new Error('channel capacity must be a power of two');
  return new SharedArrayBuffer(4 * (HDR + cap * REC));
}

function capOf(sab: SharedArrayBuffer): number {
  return (sab.byteLength / 4 - HDR) / REC;
}

/** Decodes an answer record into `o`. */
function readAnswer(w: Int32Array, r: number, o: Action): void {
  const h = w[r]!;
  o.kind = h & 15;
  o.method = (h >>> 4) & 15;
  o.dir = (h >>> 8) & 1 ? 'out' : 'in';
  o.conn = (h >>> 9) & 1 ? 1 : -1;
  o.tun = (h >>> 10) & 3;
  o.tunCsum = (h >>> 12) & 3;
  o.tunPort = (h >>> 14) & 0xffff;
  o.rport = (w[r + A_PORTS]! >>> 16) & 0xffff;
  o.vport = w[r + A_PORTS]! & 0xffff;
  // IPv6: new records (an action may be held, forwarder.ts Egress.hold, while its slot is answered again).
  if (h & RIP6_BIT) { o.rip = 0; o.rip6 = ip6At(w, r + A_RIP); } else { o.rip = w[r + A_RIP]! >>> 0; o.rip6 = null; }
  if (h & VIP6_BIT) { o.vip = 0; o.vip6 = ip6At(w, r + A_VIP); } else { o.vip = w[r + A_VIP]! >>> 0; o.vip6 = null; }
}

function ip6At(w: Int32Array, o: number): Ip {
  return { af: 6, words: [w[o]! >>> 0, w[o + 1]! >>> 0, w[o + 2]! >>> 0, w[o + 3]! >>> 0] };
}

function putIp6(w: Int32Array, o: number, ip: Ip): void {
  const x = ip.words;
  w[o] = x[0]! | 0; w[o + 1] = x[1]! | 0; w[o + 2] = x[2]! | 0; w[o + 3] = x[3]! | 0;
}

/** Worker side of the ring. */
export class DecisionChannel {
  private readonly w: Int32Array;
  readonly cap: number;
  private readonly mask: number;
  private head = 0;
  /** Records whose answers the worker has looked at (async ones: compared with the cache). */
  private checked = 0;
  private firstPendingMs = 0;
  /** Round trips to the main thread, and times the worker had to wait for ring space. */
  roundTrips = 0;
  fullWaits = 0;
  timeouts = 0;
  /** Doorbells rung for async records only. */
  kicks = 0;

  constructor(sab: SharedArrayBuffer, private readonly timeoutMs = 1000) {
    this.w = new Int32Array(sab);
    this.cap = capOf(sab);
    this.mask = this.cap - 1;
  }

  generation(): number {
    return aLoad(this.w, W_GEN);
  }

  /** Records published and not yet decided by the main thread. */
  backlog(): number {
    return (this.head - aLoad(this.w, W_TAIL)) | 0;
  }

  /**
   * Appends one record; returns its sequence number. `sync`: the caller will read its answer
   * after `waitAnswers()`. When the ring is full, the answers of decided records are handed to
   * `onAnswered` and, if still full, the worker waits for the main thread.
   */
  push(m: PacketMeta, sync: boolean, nowMs: number, onAnswered: (seq: number, a: Action) => void): number {
    if (((this.head - this.checked) | 0) >= this.cap) {
      this.scan(onAnswered);
      if (((this.head - this.checked) | 0) >= this.cap) {
        this.fullWaits++;
        this.request();
        this.scan(onAnswered);
      }
    }
    const w = this.w;
    const seq = this.head;
    const o = HDR + (seq & this.mask) * REC;
    const af = m.af;
    w[o] = (m.dir === 'in' ? 0 : 1) | (sync ? SYNC_BIT : 0) | (af << 8) | ((m.protocol === 'tcp' ? 0 : m.protocol === 'udp' ? 1 : 2) << 16) | ((m.tcpFlags & 255) << 24);
    const s = m.saddr.words, d = m.daddr.words;
    w[o + 1] = s[0]!;
    w[o + 5] = d[0]!;
    if (af === 6) {
      w[o + 2] = s[1]!; w[o + 3] = s[2]!; w[o + 4] = s[3]!;
      w[o + 6] = d[1]!; w[o + 7] = d[2]!; w[o + 8] = d[3]!;
    }
    w[o + 9] = (m.sport << 16) | m.dport;
    w[o + 10] = m.bytes;
    w[o + 11] = m.mark;
    if (this.backlog() === 0) this.firstPendingMs = nowMs;
    this.head = (seq + 1) | 0;
    aStore(w, W_HEAD, this.head);
    return seq;
  }

  /** Asks the main thread to decide everything published; blocks. False: timed out. */
  private request(): boolean {
    const w = this.w;
    this.roundTrips++;
    aStore(w, W_WANT, this.head);
    aStore(w, W_SYNC, 1);
    aAdd(w, W_BELL, 1);
    aNotify(w, W_BELL);
    const r = aWait(w, W_SYNC, 1, this.timeoutMs);
    if (r === 'timed-out' && aCas(w, W_SYNC, 1, 0) === 1) {
      this.timeouts++;
      return false;
    }
    aStore(w, W_SYNC, 0);
    return true;
  }

  /** Waits until every sync record pushed so far is decided. False: the main thread did not answer in time. */
  waitAnswers(): boolean {
    if (((this.head - aLoad(this.w, W_TAIL)) | 0) <= 0) return true;
    return this.request();
  }

  /** The answer to record `seq` (valid after waitAnswers() for sync records). */
  answer(seq: number, out: Action): void {
    readAnswer(this.w, HDR + (seq & this.mask) * REC + ANS, out);
  }

  /** Hands the answers of every async record decided since the last scan to `fn`. */
  scan(fn: (seq: number, a: Action) => void): void {
    const w = this.w;
    const tail = aLoad(w, W_TAIL);
    const a = this.scratch;
    while (((tail - this.checked) | 0) > 0) {
      const seq = this.checked;
      const o = HDR + (seq & this.mask) * REC;
      if (!(w[o]! & SYNC_BIT)) {
        readAnswer(w, o + ANS, a);
        fn(seq, a);
      }
      this.checked = (seq + 1) | 0;
    }
  }
  private readonly scratch = newAction();

  /**
   * Rings the doorbell when async records wait for the engine: `maxBacklog` of them or the
   * oldest older than `maxAgeMs`. Returns the backlog.
   */
  maybeKick(nowMs: number, maxBacklog = 256, maxAgeMs = KICK_AGE_MS): number {
    const b = this.backlog();
    if (b > 0 && (b >= maxBacklog || nowMs - this.firstPendingMs >= maxAgeMs)) this.kick(nowMs);
    return b;
  }

  /**
   * Before the worker sleeps: -1 when no async record waits for the engine, else the ms until
   * the oldest is `maxAgeMs` old (0: the doorbell was rung now). A sleeping worker thus wakes the
   * main thread at most once per `maxAgeMs`, and under load not at all: the next sync request
   * (a SYN) has the engine decide everything before it on the same wake-up.
   */
  kickDue(nowMs: number, maxAgeMs = KICK_AGE_MS): number {
    if (this.backlog() <= 0) return -1;
    const left = this.firstPendingMs + maxAgeMs - nowMs;
    if (left > 0) return left;
    this.kick(nowMs);
    return 0;
  }

  private kick(nowMs: number): void {
    this.firstPendingMs = nowMs;
    this.kicks++;
    aAdd(this.w, W_BELL, 1);
    aNotify(this.w, W_BELL);
  }
}

/** Worker side, everything synchronous: a DecideBatch that asks the main thread (NFQUEUE path). */
export function channelDecider(sab: SharedArrayBuffer, timeoutMs = 1000): DecideBatch {
  const ch = new DecisionChannel(sab, timeoutMs);
  const seqs: number[] = [];
  const none = (): void => {};
  return (metas, out) => {
    seqs.length = 0;
    for (let i = 0; i < metas.length; i++) seqs.push(ch.push(metas[i]!, true, 0, none));
    ch.scan(none);
    const ok = ch.waitAnswers();
    for (let i = 0; i < metas.length; i++) {
      if (ok) ch.answer(seqs[i]!, out[i]!);
      else out[i]!.kind = ACTION_CODE.drop;
    }
    ch.scan(none);
  };
}

export interface ChannelServer {
  /** Decides whatever the worker published (e.g. after it stopped). */
  drain(): void;
  /** Tells the worker to drop its cached decisions (the rules changed). */
  invalidate(): void;
  stop(): void;
}

/** Main side: serves one worker's channel with `decide` until `stop()`. */
export function serveChannel(sab: SharedArrayBuffer, decide: (m: PacketMeta, out: Action) => void, onBatch?: () => void): ChannelServer {
  const w = new Int32Array(sab);
  const cap = capOf(sab);
  const mask = cap - 1;
  let running = true;
  const a = newAction();
  const s4 = { af: 4 as const, words: [0] };
  const d4 = { af: 4 as const, words: [0] };
  const meta: PacketMeta = { dir: 'in', af: 4, protocol: 'tcp', saddr: s4, daddr: d4, sport: 0, dport: 0, tcpFlags: 0, bytes: 0, mark: 0 };
  const drain = (): void => {
    let tail = aLoad(w, W_TAIL);
    const head = aLoad(w, W_HEAD);
    if (tail === head) return;
    onBatch?.();
    while (tail !== head) {
      const o = HDR + (tail & mask) * REC;
      const h = w[o]!;
      const af = ((h >>> 8) & 255) === 6 ? 6 : 4;
      meta.dir = (h & 1) === 0 ? 'in' : 'out';
      meta.protocol = PROTO[(h >>> 16) & 255] ?? 'tcp';
      meta.tcpFlags = (h >>> 24) & 255;
      if (af === 4) {
        meta.af = 4;
        s4.words[0] = w[o + 1]! >>> 0;
        d4.words[0] = w[o + 5]! >>> 0;
        meta.saddr = s4;
        meta.daddr = d4;
      } else {
        meta.af = 6;
        meta.saddr = { af: 6, words: [w[o + 1]! >>> 0, w[o + 2]! >>> 0, w[o + 3]! >>> 0, w[o + 4]! >>> 0] };
        meta.daddr = { af: 6, words: [w[o + 5]! >>> 0, w[o + 6]! >>> 0, w[o + 7]! >>> 0, w[o + 8]! >>> 0] };
      }
      meta.sport = (w[o + 9]! >>> 16) & 0xffff;
      meta.dport = w[o + 9]! & 0xffff;
      meta.bytes = w[o + 10]!;
      meta.mark = w[o + 11]! >>> 0;
      try {
        decide(meta, a);
      } catch {
        a.kind = ACTION_CODE.drop;
        a.conn = -1;
      }
      const r = o + ANS;
      const fwd = a.kind === ACTION_CODE.forward;
      const rip6 = fwd ? a.rip6 : null, vip6 = fwd ? a.vip6 : null;
      w[r] = a.kind | (a.method << 4) | ((a.dir === 'out' ? 1 : 0) << 8) | ((fwd && a.conn >= 0 ? 1 : 0) << 9) |
        ((a.tun & 3) << 10) | ((a.tunCsum & 3) << 12) | ((a.tunPort & 0xffff) << 14) | (rip6 ? RIP6_BIT : 0) | (vip6 ? VIP6_BIT : 0);
      if (rip6) putIp6(w, r + A_RIP, rip6);
      else w[r + A_RIP] = a.rip | 0;
      if (vip6) putIp6(w, r + A_VIP, vip6);
      else w[r + A_VIP] = a.vip | 0;
      w[r + A_PORTS] = ((a.rport & 0xffff) << 16) | (a.vport & 0xffff);
      tail = (tail + 1) | 0;
    }
    aStore(w, W_TAIL, tail);
  };
  /** Drains, and answers a waiting worker once everything it wants is decided. */
  const serve = (): void => {
    for (;;) {
      drain();
      if (aLoad(w, W_SYNC) !== 1) return;
      if (((aLoad(w, W_WANT) - aLoad(w, W_TAIL)) | 0) > 0) continue;
      if (aCas(w, W_SYNC, 1, 2) === 1) aNotify(w, W_SYNC);
      return;
    }
  };
  const loop = async (): Promise<void> => {
    while (running) {
      const bell = aLoad(w, W_BELL);
      serve();
      // No timeout (a timer per wait costs); stop() rings the bell.
      const r = waitAsync(w, W_BELL, bell, Infinity);
      if (r.async) await r.value;
    }
  };
  void loop();
  return {
    drain: serve,
    invalidate: () => { aAdd(w, W_GEN, 1); },
    stop: () => {
      running = false;
      aAdd(w, W_BELL, 1);
      aNotify(w, W_BELL);
    },
  };
}
