/**
 * ldirectord checktype=external: runs `checkcommand VIP VPORT RIP RPORT` (the arguments
 * ldirectord passes) with checktimeout; exit 0 = up.
 */
import type { Checker } from '../checker.ts';
import { splitCommand } from '../io.ts';
import type { LdExternalDef } from '../types.ts';
import { fail, ok, probeAddress, timeoutMs } from './util.ts';

export const externalChecker: Checker<LdExternalDef> = {
  kinds: ['external'],
  async run(def, ctx) {
    const t0 = performance.now();
    const { host, port } = probeAddress(def, ctx.target);
    const argv = [...splitCommand(def.checkcommand), ctx.target.vip ?? '', String(ctx.target.vport ?? 0), host, String(port)];
    const ms = timeoutMs(def);
    const r = await ctx.scripts.run(argv, ms);
    if (r.spawnError) return fail(t0, 'spawn failed', `${argv[0] ?? ''}: ${r.spawnError}`);
    if (r.timedOut) return fail(t0, 'timeout', `script killed after ${ms} ms`);
    if (r.code === null) return fail(t0, 'killed', r.signal ?? 'signal');
    return r.code === 0 ? ok(t0) : fail(t0, 'exit', String(r.code));
  },
};
