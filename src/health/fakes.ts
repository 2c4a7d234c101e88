/** Fakes for the manager's side effects: a manual clock, a script runner and a scripted check runner. */
import type { CheckContext } from './checker.ts';
import type { HealthClock, ScriptResult, ScriptRunner, TimerHandle } from './io.ts';
import type { CheckResult, CheckerDef } from './types.ts';
import type { FileInfo, ScriptHost } from './script-security.ts';

/** A clock whose timers fire only in advance(); advance() lets pending promises settle between timers. */
export class FakeClock implements HealthClock {
  private t: number;
  private next = 1;
  private timers = new Map<number, { at: number; fn: () => void }>();
  constructor(start = 1_700_000_000_000) { this.t = start; }
  now(): number { return this.t; }
  setTimer(ms: number, fn: () => void): TimerHandle {
    const id = this.next++;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return { id };
  }
  clearTimer(h: TimerHandle): void { this.timers.delete(h.id); }
  get pending(): number { return this.timers.size; }
  /** Pending timers as "id@time" (ascending id): shows whether a timer was kept or replaced. */
  get deadlines(): string[] { return [...this.timers].map(([id, t]) => `${id}@${t.at}`); }
  /** Moves time forward by ms, firing due timers in time order. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flush();
      let best: [number, { at: number; fn: () => void }] | null = null;
      for (const e of this.timers) if (e[1].at <= end && (!best || e[1].at < best[1].at || (e[1].at === best[1].at && e[0] < best[0]))) best = e;
      if (!best) break;
      this.timers.delete(best[0]);
      this.t = Math.max(this.t, best[1].at);
      best[1].fn();
    }
    this.t = end;
    await flush();
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Records commands; answers with `exitCode(argv)`. */
export class FakeScriptRunner implements ScriptRunner {
  readonly calls: string[][] = [];
  constructor(private readonly exitCode: (argv: readonly string[]) => number = () => 0) {}
  async run(argv: readonly string[], _timeoutMs: number): Promise<ScriptResult> {
    this.calls.push([...argv]);
    return { code: this.exitCode(argv), signal: null, timedOut: false, durationMs: 0 };
  }
}

/**
 * Check runner answering from a table keyed by "addr:port" (the real server): set(dest, result)
 * changes what every later check of that server returns. Unknown servers answer ok.
 */
export class ScriptedChecks {
  private readonly results = new Map<string, CheckResult>();
  readonly log: string[] = [];
  set(dest: string, r: Partial<CheckResult> & { ok: boolean }): void {
    this.results.set(dest, { reason: r.ok ? 'ok' : 'refused', latencyMs: 1, ...r });
  }
  runner = async (def: CheckerDef, ctx: CheckContext): Promise<CheckResult> => {
    const k = `${ctx.target.addr}:${ctx.target.port}`;
    this.log.push(`${def.type} ${k}`);
    return this.results.get(k) ?? { ok: true, reason: 'ok', latencyMs: 1 };
  };
}

/**
 * A file system and user database for keepalived's script checks. Files listed in `files` have
 * the given owner and mode; with `everyScriptExists`, any other path is a root-owned directory
 * (when a listed path or a script lies under it) or a root-owned 0755 program.
 */
export class FakeScriptHost implements ScriptHost {
  private readonly files: Map<string, FileInfo>;
  private ino = 1;
  constructor(private readonly o: {
    files?: Record<string, { uid?: number; gid?: number; mode: number }>;
    users?: Record<string, { uid: number; gid: number }>;
    groups?: Record<string, number>;
    self?: { uid: number; gid: number };
    everyScriptExists?: boolean;
  } = {}) {
    this.files = new Map(Object.entries(o.files ?? {}).map(([p, f]) => [p, { uid: f.uid ?? 0, gid: f.gid ?? 0, mode: f.mode, dev: 1, ino: this.ino++ }]));
  }
  private find(p: string): FileInfo | null {
    const f = this.files.get(p);
    if (f) return f;
    if (!this.o.everyScriptExists) {
      for (const k of this.files.keys()) if (k.startsWith(p === '/' ? '/' : `${p}/`)) return { uid: 0, gid: 0, mode: 0o040755, dev: 1, ino: 0 };
      return null;
    }
    const isDir = p === '/' || [...this.files.keys()].some((k) => k.startsWith(`${p}/`)) || /\/(usr|bin|sbin|etc|local|lib|opt|tmp|keepalived)$/.test(p);
    return { uid: 0, gid: 0, mode: isDir ? 0o040755 : 0o100755, dev: 1, ino: 0 };
  }
  lstat(p: string): FileInfo | null { return this.find(p); }
  stat(p: string): FileInfo | null { return this.find(p); }
  realpath(p: string): string | null { return this.find(p) ? p : null; }
  user(name: string): { uid: number; gid: number } | null { return this.o.users?.[name] ?? (name === 'root' ? { uid: 0, gid: 0 } : null); }
  group(name: string): number | null { return this.o.groups?.[name] ?? (name === 'root' ? 0 : null); }
  self(): { uid: number; gid: number } { return this.o.self ?? { uid: 0, gid: 0 }; }
  path(): string { return '/usr/sbin:/usr/bin:/sbin:/bin'; }
}
