/**
 * Drop counters by reason, backed by one Float64Array (exact to 2^53, no allocation per count).
 * A worker can hand `array.buffer` over (or allocate it on a SharedArrayBuffer) for the daemon
 * to read without messages.
 */
import * as __frame from './frame.ts';
// Local bindings: faster than imported bindings on the hot path, compiled too (bench/RESULTS.md, 2026-12-07).
const { DROP_REASON_COUNT, DROP_REASON_NAMES } = __frame;

export class DropCounters {
  readonly counts: Float64Array;

  constructor(buffer?: ArrayBuffer | SharedArrayBuffer) {
    this.counts = buffer ? new Float64Array(buffer, 0, DROP_REASON_COUNT) : new Float64Array(DROP_REASON_COUNT);
  }

  /** Bytes needed for a backing buffer. */
  static readonly BYTES = DROP_REASON_COUNT * 8;

  count(reason: number): void {
    if (reason > 0 && reason < DROP_REASON_COUNT) this.counts[reason]! += 1;
  }

  get(reason: number): number {
    return this.counts[reason] ?? 0;
  }

  total(): number {
    let t = 0;
    for (let i = 1; i < DROP_REASON_COUNT; i++) t += this.counts[i]!;
    return t;
  }

  reset(): void {
    this.counts.fill(0);
  }

  /** Non-zero counters by reason name, e.g. `{ "truncated-ip": 3 }`. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 1; i < DROP_REASON_COUNT; i++) if (this.counts[i]! > 0) out[DROP_REASON_NAMES[i]!] = this.counts[i]!;
    return out;
  }
}
