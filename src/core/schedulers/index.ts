/**
 * Scheduler registry: kernel scheduler names -> factories. Unknown names (including "none")
 * answer undefined; the engine maps that to ENOENT (kernel: "Scheduler not found").
 */
import type { SchedulerFactory } from '../scheduler.ts';
import { rrFactory } from './rr.ts';
import { wrrFactory } from './wrr.ts';
import { lcFactory } from './lc.ts';
import { wlcFactory } from './wlc.ts';
import { makeLblcFactory } from './lblc.ts';
import { makeLblcrFactory } from './lblcr.ts';
import { dhFactory } from './dh.ts';
import { shFactory } from './sh.ts';
import { sedFactory } from './sed.ts';
import { nqFactory } from './nq.ts';
import { foFactory } from './fo.ts';
import { ovfFactory } from './ovf.ts';
import { mhFactory } from './mh.ts';
import { twosFactory } from './twos.ts';

/** Per-engine settings some schedulers read (the kernel's per-netns sysctls). */
export interface SchedulerOptions {
  /** net.ipv4.vs.lblc_expiration in seconds (read at each use). Default 24 h. */
  readonly lblcExpiration?: () => number;
  /** net.ipv4.vs.lblcr_expiration in seconds (read at each use). Default 24 h. */
  readonly lblcrExpiration?: () => number;
}

/** Scheduler names in ipvsadm's help order, then twos (kernel 6.2+). */
export const schedulerNames: readonly string[] = [
  'rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos',
];

const fixed: Record<string, SchedulerFactory> = {
  rr: rrFactory, wrr: wrrFactory, lc: lcFactory, wlc: wlcFactory, dh: dhFactory, sh: shFactory,
  sed: sedFactory, nq: nqFactory, fo: foFactory, ovf: ovfFactory, mh: mhFactory, twos: twosFactory,
};

export function getSchedulerFactory(name: string, opts: SchedulerOptions = {}): SchedulerFactory | undefined {
  if (name === 'lblc') return makeLblcFactory(opts.lblcExpiration ? { expiration: opts.lblcExpiration } : {});
  if (name === 'lblcr') return makeLblcrFactory(opts.lblcrExpiration ? { expiration: opts.lblcrExpiration } : {});
  return Object.prototype.hasOwnProperty.call(fixed, name) ? fixed[name] : undefined;
}
