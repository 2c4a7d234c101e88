/** ovf — Weighted Overflow (spec §2.13, ip_vs_ovf.c); shares the max-weight index with fo. */
import type { SchedulerFactory } from '../scheduler.ts';
import { MaxWeightScheduler } from './fo.ts';

export const ovfFactory: SchedulerFactory = (svc) => new MaxWeightScheduler(svc, 'ovf');
