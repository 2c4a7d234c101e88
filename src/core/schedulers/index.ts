/**
 * Scheduler registry: kernel scheduler names -> factories. Unknown names (including "none")
 * answer undefined; the engine maps that to ENOENT (kernel: "Scheduler not found").
 */
import type { SchedulerFactory } from '../scheduler.ts';
import { rrFactory } from './rr.ts';

const registry = new Map<string, SchedulerFactory>([
  ['rr', rrFactory],
]);

/** Scheduler names in ipvsadm's help order, then twos. */
export const schedulerNames: readonly string[] = [...registry.keys()];

export function getSchedulerFactory(name: string): SchedulerFactory | undefined {
  return registry.get(name);
}
