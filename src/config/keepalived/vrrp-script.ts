/** `vrrp_script NAME { script ... interval ... }`, read as keepalived 2.2.7 reads it (vrrp_parser.c). */
import type { VrrpScriptConfig } from '../desired.ts';
import { pos, type KaState, type Stmt } from './context.ts';
import { kaInt, kaUnsigned } from './numbers.ts';

export function parseScript(st: KaState, s: Stmt): void {
  const { c, vrrp } = st;
  const name = c.arg(s, 0, 'a script name');
  if (!name) return;
  const v: { -readonly [K in keyof VrrpScriptConfig]: VrrpScriptConfig[K] } =
    { name: name.text, script: '', interval: 1, weight: 0, reverse: false, rise: 1, fall: 1, init_fail: false, at: pos(name) };
  /** Whole seconds, 0 read as 1 (keepalived's backward compatibility). */
  const seconds = (x: Stmt, what: 'interval' | 'timeout'): number | null => {
    const t = c.arg(x, 0, 'seconds');
    if (!t) return null;
    const n = kaUnsigned(c, t, 0, 4294);
    if (n === null) {
      c.warn(t, what === 'interval' ? `(${v.name}): vrrp script interval '${t.text}' must be between 1 and 4294 - ignoring` : `(${v.name}): vrrp script timeout '${t.text}' invalid - ignoring`);
      return null;
    }
    if (n === 0) { c.warn(t, `(${v.name}): vrrp script ${what} must be greater than 0, setting to 1`); return 1; }
    return n;
  };
  const count = (x: Stmt, what: 'rise' | 'fall'): number => {
    const t = c.arg(x, 0, 'a count');
    if (!t) return 1;
    const n = kaUnsigned(c, t, 1, 0x7fffffff);
    if (n === null) { c.warn(t, `(${v.name}): vrrp script ${what} value '${t.text}' invalid, defaulting to 1`); return 1; }
    return n;
  };
  c.dispatch(s.body, {
    script: { run: (x) => { const t = c.command(x, 'a command'); if (t !== null) v.script = t; } },
    interval: { run: (x) => { const n = seconds(x, 'interval'); if (n !== null) v.interval = n; } },
    timeout: { run: (x) => { const n = seconds(x, 'timeout'); if (n !== null) v.timeout = n; } },
    weight: { run: (x) => {
      const t = c.arg(x, 0, 'a weight');
      if (!t) return;
      const n = kaInt(c, t, -253, 253);
      if (n === null) c.warn(t, `vrrp_script ${v.name} weight ${t.text} must be in [-253, 253]`);
      else v.weight = n;
      const o = x.args[1];
      if (o) { if (o.text === 'reverse') v.reverse = true; else c.warn(o, `vrrp_script ${v.name} unknown weight option ${o.text}`); }
    } },
    rise: { run: (x) => { v.rise = count(x, 'rise'); } },
    fall: { run: (x) => { v.fall = count(x, 'fall'); } },
    user: { run: (x) => { const u = c.user(x); if (u) v.user = u; } },
    init_fail: { run: () => { v.init_fail = true; } },
  }, 'vrrp_script');
  if (!v.script) { c.warn(name, `No script set for vrrp_script ${v.name} - removing`); return; }
  vrrp.scripts.push(v);
}
