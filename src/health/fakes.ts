/** Fakes for the manager's side effects: a manual clock, a script runner and a scripted check runner. */
import type { CheckContext } from './checker.ts';
import type { HealthClock, ScriptResult, ScriptRunner, TimerHandle } from './io.ts';
import type { CheckResult, CheckerDef } from './types.ts';

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
