/** sed — Shortest Expected Delay (spec §2.5, ip_vs_sed.c): wlc with cost activeconns + 1. */
import type { RtDest, SchedulerFactory } from '../scheduler.ts';
import { WlcScheduler } from './wlc.ts';

/** ip_vs_sed_dest_overhead(). */
export const sedCost = (d: RtDest): number => (d.activeConns + 1) | 0;

export const sedFactory: SchedulerFactory = (svc) => new WlcScheduler(svc, 'sed', sedCost);
