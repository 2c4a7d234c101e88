/**
 * Counters and the kernel rate estimator (spec §4).
 *
 * Counters are JS numbers (exact integers below 2^53, i.e. far beyond what a process can count).
 * The estimator is the kernel's fixed-point EWMA, visited every 2 s of engine time:
 *   delta = cur - last; last = cur
 *   pkts/conns: rate = delta << 9     bytes: rate = delta << 4
 *   avg += (rate - avg) >> 2          (signed, arithmetic shift = floor division)
 *   read-out: pps/cps = (avg + 511) >> 10, bps = (avg + 15) >> 5
 * Done with integer-valued doubles (Math.floor of exact quotients), which is exact while the
 * values stay below 2^53 (a 2^44-packets-per-2-s rate); no 32-bit truncation.
 */
import type { RateSnapshot, StatsSnapshot } from './types.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class Stats {
  conns = 0;
  inpkts = 0;
  outpkts = 0;
  inbytes = 0;
  outbytes = 0;
  // -Z baseline (kstats0)
  private z0 = [0, 0, 0, 0, 0];
  // estimator state: last values and averages (fixed point)
  private last = [0, 0, 0, 0, 0];
  private avg = [0, 0, 0, 0, 0];

  private cur(): number[] {
    return [this.conns, this.inpkts, this.outpkts, this.inbytes, this.outbytes];
  }

  /** One estimator period (2 s). */
  estimate(): void {
    const cur = this.cur();
    for (let i = 0; i < 5; i++) {
      const delta = cur[i]! - this.last[i]!;
      this.last[i] = cur[i]!;
      const rate = i < 3 ? delta * 512 : delta * 16;
      const a = this.avg[i]!;
      this.avg[i] = a + Math.floor((rate - a) / 4);
    }
  }

  /** -Z: the current values become the baseline; rates are zeroed and "last" = current. */
  zero(): void {
    this.z0 = this.cur();
    this.last = this.cur();
    this.avg = [0, 0, 0, 0, 0];
  }

  snapshot(): StatsSnapshot {
    return this.snapshotInto({ conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 });
  }

  /** snapshot() written into an object the caller reuses (Engine.visitServices). */
  snapshotInto<T extends Mutable<StatsSnapshot>>(o: T): T {
    const z = this.z0;
    o.conns = this.conns - z[0]!;
    o.inpkts = this.inpkts - z[1]!;
    o.outpkts = this.outpkts - z[2]!;
    o.inbytes = this.inbytes - z[3]!;
    o.outbytes = this.outbytes - z[4]!;
    return o;
  }

  rates(): RateSnapshot {
    return this.ratesInto({ cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
  }

  /** rates() written into an object the caller reuses. */
  ratesInto<T extends Mutable<RateSnapshot>>(o: T): T {
    const a = this.avg;
    o.cps = Math.floor((a[0]! + 511) / 1024);
    o.inpps = Math.floor((a[1]! + 511) / 1024);
    o.outpps = Math.floor((a[2]! + 511) / 1024);
    o.inbps = Math.floor((a[3]! + 15) / 32);
    o.outbps = Math.floor((a[4]! + 15) / 32);
    return o;
  }

  /** Raw fixed-point averages (tests). */
  rawAverages(): readonly number[] {
    return this.avg.slice();
  }
}
