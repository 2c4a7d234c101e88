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
    const z = this.z0;
    return {
      conns: this.conns - z[0]!,
      inpkts: this.inpkts - z[1]!,
      outpkts: this.outpkts - z[2]!,
      inbytes: this.inbytes - z[3]!,
      outbytes: this.outbytes - z[4]!,
    };
  }

  rates(): RateSnapshot {
    const a = this.avg;
    return {
      cps: Math.floor((a[0]! + 511) / 1024),
      inpps: Math.floor((a[1]! + 511) / 1024),
      outpps: Math.floor((a[2]! + 511) / 1024),
      inbps: Math.floor((a[3]! + 15) / 32),
      outbps: Math.floor((a[4]! + 15) / 32),
    };
  }

  /** Raw fixed-point averages (tests). */
  rawAverages(): readonly number[] {
    return this.avg.slice();
  }
}
