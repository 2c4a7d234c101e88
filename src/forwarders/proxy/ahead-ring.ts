/**
 * Decisions ahead, shared by every relay worker of a service (cluster.ts): a ring in a
 * SharedArrayBuffer that the primary fills with destinations the engine chose in its rr/wrr
 * order (Engine.scheduleAhead; when and for which services: src/dataplane/ahead.ts) and that
 * workers take one at a time, in the order their
 * connections arrive -- one sequence for all workers, as the kernel's one rr pointer per service,
 * so consecutive connections alternate whatever worker accepted them.
 *
 * Int32 layout: [0] head (next index to take), [1] tail (next index to fill), [2] refill asked
 * (a worker saw the ring under half full and told the primary: one message per refill), then SLOTS slots of
 * 8 words: token, af, address words 0-3 (IPv4: word 0), port, unused. Indices run on and wrap at
 * 2^32 (compared by difference). A worker reads slot `head` and then claims it by moving head on
 * with compare-and-exchange; the primary writes slot `tail` only while fewer than SLOTS are
 * waiting (so never one a worker may still be reading) and publishes it by moving tail on.
 */
import { wantsRefill } from '../../dataplane/ahead.ts';

export const SLOTS = 256;
const HEAD = 0, TAIL = 1, ASKED = 2, BASE = 4, SLOT_WORDS = 8;

export interface AheadChoice {
  token: number;
  af: 4 | 6;
  words: number[];
  port: number;
}

export function createAheadRing(): SharedArrayBuffer {
  return new SharedArrayBuffer(4 * (BASE + SLOTS * SLOT_WORDS));
}

export class AheadRing {
  private readonly a: Int32Array;
  constructor(readonly sab: SharedArrayBuffer) {
    this.a = new Int32Array(sab);
  }

  /** Decisions waiting to be taken. */
  waiting(): number {
    return (Atomics.load(this.a, TAIL) - Atomics.load(this.a, HEAD)) | 0;
  }

  /** Worker: takes the next decision into `out`; false when none waits. */
  take(out: AheadChoice): boolean {
    const a = this.a;
    for (;;) {
      const h = Atomics.load(a, HEAD);
      if (((Atomics.load(a, TAIL) - h) | 0) <= 0) return false;
      const o = BASE + ((h >>> 0) % SLOTS) * SLOT_WORDS;
      out.token = Atomics.load(a, o);
      out.af = Atomics.load(a, o + 1) === 6 ? 6 : 4;
      // Setting an array's length is a runtime call: only when the family changes.
      const len = out.af === 6 ? 4 : 1;
      if (out.words.length !== len) out.words.length = len;
      for (let i = 0; i < out.words.length; i++) out.words[i] = Atomics.load(a, o + 2 + i) >>> 0;
      out.port = Atomics.load(a, o + 6);
      if (Atomics.compareExchange(a, HEAD, h, (h + 1) | 0) === h) return true;
    }
  }

  /**
   * Worker, after a take: true when the ring is under half full and nobody has asked the primary
   * to refill it since its last refill (the caller then asks: one message per refill, however
   * many workers take).
   */
  wantsRefill(): boolean {
    return wantsRefill(this.waiting(), SLOTS) && Atomics.compareExchange(this.a, ASKED, 0, 1) === 0;
  }

  /** Primary, before refilling: the next worker that finds the ring low asks again. */
  refilling(): void {
    Atomics.store(this.a, ASKED, 0);
  }

  /** Primary: appends a decision; false when the ring is full. */
  push(token: number, af: 4 | 6, words: ArrayLike<number>, port: number): boolean {
    const a = this.a;
    const t = Atomics.load(a, TAIL);
    if (((t - Atomics.load(a, HEAD)) | 0) >= SLOTS) return false;
    const o = BASE + ((t >>> 0) % SLOTS) * SLOT_WORDS;
    Atomics.store(a, o, token);
    Atomics.store(a, o + 1, af);
    for (let i = 0; i < 4; i++) Atomics.store(a, o + 2 + i, (words[i] ?? 0) | 0);
    Atomics.store(a, o + 6, port);
    Atomics.store(a, TAIL, (t + 1) | 0);
    return true;
  }

  /** Primary: drops every waiting decision (the rules changed); returns how many. */
  drop(): number {
    const a = this.a;
    for (;;) {
      const h = Atomics.load(a, HEAD), t = Atomics.load(a, TAIL);
      if (Atomics.compareExchange(a, HEAD, h, t) === h) return (t - h) | 0;
    }
  }
}
