/** `lb_kind` / `lvs_method` / `sorry_server_lvs_method`: NAT|DR|TUN [type ipip|gue|gre] [port N] [nocsum|csum|remcsum]. */
import type { FwdMethod, TunCsum, TunType } from '../../core/types.ts';
import type { Ctx, Stmt } from './context.ts';

export interface LvsMethod { fwd: FwdMethod; tunType: TunType; tunPort: number; tunCsum: TunCsum }

const LB_KIND: Record<string, FwdMethod> = { NAT: 'masq', DR: 'route', TUN: 'tunnel' };

export function parseMethod(c: Ctx, s: Stmt): LvsMethod | null {
  const t = c.arg(s, 0, 'NAT|DR|TUN');
  if (!t) return null;
  const fwd = LB_KIND[t.text.toUpperCase()];
  if (!fwd) { c.err(t, `expected NAT|DR|TUN, got '${t.text}'`); return null; }
  if (t.text !== t.text.toUpperCase()) c.warn(t, `'${t.text}' accepted as '${t.text.toUpperCase()}'`);
  let tunType: TunType = 'ipip', tunPort = 0, tunCsum: TunCsum = 'nocsum';
  for (let i = 1; i < s.args.length; i++) {
    const a = s.args[i]!.text;
    if (fwd !== 'tunnel') { c.warn(s.args[i]!, `unexpected argument '${a}' to '${s.name.text} ${t.text}'; ignored`); break; }
    if (a === 'type') {
      const ty = s.args[i + 1]?.text;
      if (ty === 'ipip' || ty === 'gue' || ty === 'gre') tunType = ty;
      else c.err(s.args[i + 1] ?? c.after(s), `expected ipip|gue|gre after 'type'`);
      i++;
    } else if (a === 'port') { tunPort = c.num(s, i + 1, 'a tunnel port', 1, 65535) ?? 0; i++; }
    else if (a === 'nocsum' || a === 'csum' || a === 'remcsum') tunCsum = a;
    else c.err(s.args[i]!, `expected type|port|nocsum|csum|remcsum, got '${a}'`);
  }
  if (tunType === 'gue' && tunPort === 0 && fwd === 'tunnel') c.err(c.after(s), "tunnel type gue needs 'port N'");
  return { fwd, tunType, tunPort, tunCsum };
}
