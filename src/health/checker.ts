/** The one interface every checker implements. */
import type { ScriptRunner } from './io.ts';
import type { CheckResult, CheckTarget, CheckerDef, CheckerKind } from './types.ts';

export interface CheckContext {
  readonly target: CheckTarget;
  /** Runs MISC_CHECK / external scripts. */
  readonly scripts: ScriptRunner;
  /** The service's delay_loop in seconds (MISC_CHECK's default misc_timeout). */
  readonly delayLoop: number;
}

export interface Checker<D extends CheckerDef = CheckerDef> {
  readonly kinds: readonly D['type'][];
  /** Never rejects: every failure is a CheckResult with ok=false. */
  run(def: D, ctx: CheckContext): Promise<CheckResult>;
}

export type AnyChecker = Checker<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function isKind<K extends CheckerKind>(def: CheckerDef, k: K): def is Extract<CheckerDef, { type: K }> {
  return def.type === k;
}
