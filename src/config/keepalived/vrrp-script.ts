/** `vrrp_script NAME { script ... interval ... }`. */
import type { VrrpScriptConfig } from '../desired.ts';
import { pos, type KaState, type Stmt } from './context.ts';

export function parseScript(st: KaState, s: Stmt): void {
  const { c, vrrp } = st;
  const name = c.arg(s, 0, 'a script name');
  if (!name) return;
  const v: { -readonly [K in keyof VrrpScriptConfig]: VrrpScriptConfig[K] } =
    { name: name.text, script: '', interval: 1, weight: 0, reverse: false, rise: 1, fall: 1, init_fail: false, at: pos(name) };
  c.dispatch(s.body, {
    script: { run: (x) => { const t = c.command(x, 0, 'a command'); if (t !== null) v.script = t; } },
    interval: { run: (x) => { const n = c.num(x, 0, 'seconds', 0.001, 86400, false); if (n !== null) v.interval = n; } },
    timeout: { run: (x) => { const n = c.num(x, 0, 'seconds', 0.001, 86400, false); if (n !== null) v.timeout = n; } },
    weight: { run: (x) => { const n = c.num(x, 0, 'a weight', -254, 254); if (n !== null) v.weight = n; if (x.args[1]?.text === 'reverse') v.reverse = true; } },
    rise: { run: (x) => { const n = c.num(x, 0, 'a count', 1, 1_000_000); if (n !== null) v.rise = n; } },
    fall: { run: (x) => { const n = c.num(x, 0, 'a count', 1, 1_000_000); if (n !== null) v.fall = n; } },
    user: { run: (x) => { const u = c.user(x); if (u) v.user = u; } },
    init_fail: { run: () => { v.init_fail = true; } },
  }, 'vrrp_script');
  if (!v.script) c.err(c.after(s), `vrrp_script ${name.text} needs 'script'`);
  else vrrp.scripts.push(v);
}
