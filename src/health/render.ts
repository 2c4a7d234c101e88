/** Renders HealthStatus: a human table (one row per checker) or JSON. */
import type { HealthStatus } from './types.ts';

export function formatAgo(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}

export function renderStatusTable(st: HealthStatus): string {
  const head = ['SERVICE', 'REAL SERVER', 'WEIGHT', 'STATE', 'CHECKER', 'TARGET', 'RESULT', 'LATENCY', 'SINCE', 'REASON'];
  const rows: string[][] = [];
  for (const s of st.services) {
    const q = `quorum ${s.quorumUp ? 'up' : 'DOWN'} ${s.aliveWeight}/${s.quorum}${s.hysteresis ? `±${s.hysteresis}` : ''}${s.sorryActive ? ', sorry server active' : ''}`;
    rows.push([s.service, `(${q})`, '', '', '', '', '', '', '', '']);
    for (const d of s.dests) {
      const w = d.weight === null ? '-' : String(d.weight);
      const state = d.sorry ? (d.alive ? 'SORRY' : 'sorry-idle') : d.alive ? 'UP' : 'DOWN';
      if (d.checkers.length === 0) {
        rows.push(['', d.dest, w, state, d.sorry ? '' : '(none)', '', '', '', d.since ? formatAgo(st.now - d.since) : '', '']);
        continue;
      }
      for (const c of d.checkers) {
        const r = c.lastResult;
        rows.push([
          '', d.dest, w, state, c.checker, c.target,
          r ? (r.ok ? 'ok' : 'FAIL') : 'pending',
          r ? `${r.latencyMs}ms` : '',
          formatAgo(st.now - c.since),
          r ? r.reason : '',
        ]);
      }
    }
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (i === 9 ? 0 : r[i]!.length))));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

export function renderStatusJson(st: HealthStatus): string {
  return JSON.stringify(st, null, 2) + '\n';
}
