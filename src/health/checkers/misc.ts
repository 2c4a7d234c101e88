/**
 * keepalived MISC_CHECK: run misc_path (no shell; words split as keepalived does) with
 * misc_timeout (default delay_loop). Exit 0 = up, 1 = down; with misc_dynamic, 2..255 = up with
 * weight = code - 2 (and 0 = up with the configured weight). Killed by the timeout = down.
 * Runs as `user` (MISC_CHECK's own `user USER [GROUP]`) or the configuration's script user.
 */
import type { Checker } from '../checker.ts';
import { splitCommand } from '../io.ts';
import type { CheckResult, MiscCheckDef } from '../types.ts';
import { fail, ok } from './util.ts';

export function judgeExit(code: number | null, dynamic: boolean, t0: number): CheckResult {
  if (code === 0) return ok(t0, { detail: 'exit 0' });
  if (code !== null && dynamic && code >= 2 && code <= 255) return ok(t0, { weight: code - 2, detail: `exit ${code} weight ${code - 2}` });
  return fail(t0, 'exit', String(code));
}

export const miscChecker: Checker<MiscCheckDef> = {
  kinds: ['MISC_CHECK'],
  async run(def, ctx) {
    const t0 = performance.now();
    const argv = splitCommand(def.misc_path);
    const timeout = Math.round((def.misc_timeout ?? ctx.delayLoop) * 1000);
    const r = await ctx.scripts.run(argv, timeout, def.user);
    if (r.refused) return fail(t0, 'disabled', r.refused);
    if (r.spawnError) return fail(t0, 'spawn failed', `${argv[0] ?? ''}: ${r.spawnError}`);
    if (r.timedOut) return fail(t0, 'timeout', `script killed after ${timeout} ms`);
    if (r.code === null) return fail(t0, 'killed', r.signal ?? 'signal');
    return judgeExit(r.code, !!def.misc_dynamic, t0);
  },
};
