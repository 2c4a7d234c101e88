/**
 * The health manager's side effects, behind narrow interfaces: time (clock + timers) and running
 * scripts. Real implementations here; fakes in ./fakes.ts.
 */
import { hasExecHeader, realScriptHost, spawnScript } from '../os/script-host.ts';
import { checkScriptSecure, mayRun, scriptUserOf, type ScriptHost, type ScriptPolicy } from './script-security.ts';

export interface TimerHandle { readonly id: number }

export interface HealthClock {
  /** Epoch milliseconds. */
  now(): number;
  setTimer(ms: number, fn: () => void): TimerHandle;
  clearTimer(h: TimerHandle): void;
}

export interface ScriptResult {
  /** Exit code, or null when killed by a signal / not started. */
  readonly code: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  /** Set when the program could not be started (ENOENT, EACCES...). */
  readonly spawnError?: string;
  /** Set when the script policy forbade running it (keepalived's reason). */
  readonly refused?: string;
  readonly durationMs: number;
}

export interface ScriptRunner {
  /**
   * Runs argv[0] with argv[1..] (no shell unless the file has no "#!" line, as keepalived).
   * `user`: the script's own "user [group]" as written; default: the policy's script user.
   * Resolves; never rejects. timeoutMs 0 = none.
   */
  run(argv: readonly string[], timeoutMs: number, user?: string): Promise<ScriptResult>;
}

export const realClock: HealthClock = (() => {
  let next = 1;
  const timers = new Map<number, NodeJS.Timeout>();
  return {
    now: () => Date.now(),
    setTimer(ms, fn) {
      const id = next++;
      timers.set(id, setTimeout(() => { timers.delete(id); fn(); }, Math.max(0, ms)));
      return { id };
    },
    clearTimer(h) {
      const t = timers.get(h.id);
      if (t) { clearTimeout(t); timers.delete(h.id); }
    },
  };
})();

export { splitCommand } from './split-command.ts';

/**
 * Runs scripts as keepalived does under `policy` (src/health/script-security.ts): as the
 * script's user (`user` as written beside the script), else the default script user; refused
 * when the user cannot be resolved or the script is not safe to run under enable_script_security.
 * The security check runs again before every start, so a script made unsafe after the
 * configuration was loaded is not run as root. Without a policy (ldirectord, tests) scripts run
 * as the daemon's own user.
 */
export function createScriptRunner(policy: ScriptPolicy | null, host: ScriptHost = realScriptHost): ScriptRunner {
  return {
    async run(argv, timeoutMs, user) {
      const t0 = performance.now();
      const done = (r: Omit<ScriptResult, 'durationMs'>): ScriptResult => ({ ...r, durationMs: performance.now() - t0 });
      if (argv.length === 0) return done({ code: null, signal: null, timedOut: false, spawnError: 'empty command' });
      const self = host.self();
      const as = policy ? scriptUserOf(policy, user) : { ...self, name: 'self' };
      if (!as) return done({ code: null, signal: null, timedOut: false, refused: `no usable script user${user ? ` '${user}'` : ''}` });
      let path = argv[0]!;
      if (policy) {
        const v = checkScriptSecure(path, as, policy.security, host);
        if (!mayRun(v)) return done({ code: null, signal: null, timedOut: false, refused: v.messages.join('; ') || `not executable by ${as.name}` });
        path = v.path;
      }
      const r = await spawnScript([path, ...argv.slice(1)], { timeoutMs, uid: as.uid, gid: as.gid, shell: !hasExecHeader(path) });
      return done(r);
    },
  };
}

/** Runs scripts as the daemon's own user, with no security policy (ldirectord, tests). */
export const realScriptRunner: ScriptRunner = createScriptRunner(null);
