/**
 * VRRP state lines from a keepalived or a tsvs process's output, in the order the process wrote
 * them: a process logs its transitions in order, while notify scripts, forked one per transition,
 * can append to a file out of order when two transitions come within microseconds (keepalived's
 * BACKUP then FAULT on losing its address).
 */
import type { ChildProcess } from 'node:child_process';

/** A state line by meaning: keepalived's text, or tsvs's JSON log line (msg + reason). */
export function stateLine(line: string): string | null {
  if (line.startsWith('{')) {
    try {
      const j = JSON.parse(line) as { msg?: string; reason?: string };
      const m = /^VRRP_Instance\((\S+)\) Entering (\w+) STATE$/.exec(j.msg ?? '');
      return m ? `(${m[1]}) Entering ${m[2]} STATE${j.reason === 'init' ? ' (init)' : ''}` : null;
    } catch { return null; }
  }
  // keepalived at start with a fault says why, "(VI_1): entering FAULT state (interface t0
  // down)", then the state line itself, "(VI_1) entering FAULT state".
  const m = /\((\S+)\) [Ee]ntering (\w+) (?:STATE|state)( \(init\))?/.exec(line);
  return m ? `(${m[1]}) Entering ${m[2]} STATE${m[3] ?? ''}` : null;
}

/** Collects a process's state lines (stdout and stderr) with the time each arrived. */
export function collect(p: ChildProcess): { line: string; at: number }[] {
  const out: { line: string; at: number }[] = [];
  for (const s of [p.stdout, p.stderr]) {
    let rest = '';
    s?.on('data', (b: Buffer) => {
      const at = performance.now();
      const parts = (rest + b.toString()).split('\n');
      rest = parts.pop()!;
      for (const l of parts) { const st = stateLine(l); if (st) out.push({ line: st, at }); }
    });
  }
  return out;
}

