/**
 * The health manager's side effects, behind narrow interfaces: time (clock + timers) and running
 * scripts. Real implementations here; fakes in ./fakes.ts.
 */
import { spawn } from 'node:child_process';

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
  readonly durationMs: number;
}

export interface ScriptRunner {
  /** Runs argv[0] with argv[1..] (no shell). Resolves; never rejects. timeoutMs 0 = none. */
  run(argv: readonly string[], timeoutMs: number): Promise<ScriptResult>;
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

/**
 * Splits a command line the way keepalived does for misc_path / notify scripts: whitespace
 * separated words, "double" and 'single' quotes group, backslash escapes the next character.
 */
export function splitCommand(cmd: string): string[] {
  const out: string[] = [];
  let cur = '';
  let have = false;
  let q: '"' | "'" | null = null;
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i]!;
    if (q) {
      if (c === q) q = null;
      else if (c === '\\' && q === '"' && i + 1 < cmd.length) cur += cmd[++i];
      else cur += c;
    } else if (c === '"' || c === "'") { q = c; have = true; }
    else if (c === '\\' && i + 1 < cmd.length) { cur += cmd[++i]; have = true; }
    else if (/\s/.test(c)) { if (have) { out.push(cur); cur = ''; have = false; } }
    else { cur += c; have = true; }
  }
  if (have) out.push(cur);
  return out;
}

/** Spawns the process in its own process group and kills the group (SIGKILL) at the timeout. */
export const realScriptRunner: ScriptRunner = {
  run(argv, timeoutMs) {
    const t0 = performance.now();
    return new Promise((resolve) => {
      if (argv.length === 0) {
        resolve({ code: null, signal: null, timedOut: false, spawnError: 'empty command', durationMs: 0 });
        return;
      }
      let timedOut = false;
      let settled = false;
      const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore', detached: true });
      const timer = timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            try { if (child.pid) process.kill(-child.pid, 'SIGKILL'); } catch { try { child.kill('SIGKILL'); } catch { /* gone */ } }
          }, timeoutMs)
        : null;
      const finish = (r: Omit<ScriptResult, 'durationMs'>) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        resolve({ ...r, durationMs: performance.now() - t0 });
      };
      child.on('error', (e: NodeJS.ErrnoException) => finish({ code: null, signal: null, timedOut: false, spawnError: e.code ?? e.message }));
      child.on('exit', (code, signal) => finish({ code, signal, timedOut }));
    });
  },
};
