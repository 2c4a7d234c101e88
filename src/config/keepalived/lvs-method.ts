/** `lb_kind` / `lvs_method` / `sorry_server_lvs_method`: NAT|DR|TUN [type ipip|gue|gre] [port N] [nocsum|csum|remcsum]. */
import type { FwdMethod, TunCsum, TunType } from '../../core/types.ts';
import type { Ctx, Stmt } from './context.ts';

export interface LvsMethod { fwd: FwdMethod; tunType: TunType; tunPort: number; tunCsum: TunCsum }

const LB_KIND: Record<string, FwdMethod> = { NAT: 'masq', DR: 'route', TUN: 'tunnel' };

/**
 * svr_forwarding_handler: exact NAT|DR|TUN, then tunnel options; anything keepalived refuses
 * leaves the method as it was (null), in keepalived's words.
 */
export function parseMethod(c: Ctx, s: Stmt, sType: 'virtual' | 'real' | 'sorry'): LvsMethod | null {
  const t = c.arg(s, 0, 'NAT|DR|TUN');
  if (!t) return null;
  const fwd = LB_KIND[t.text];
  if (!fwd) { c.warn(t, `PARSER : unknown [${t.text}] routing method for ${sType} server.`); return null; }
  let tunType: TunType = 'ipip', tunPort = 0, tunCsum: TunCsum = 'nocsum';
  for (let i = 1; i < s.args.length; i++) {
    const a = s.args[i]!;
    const v = s.args[i + 1];
    if (a.text === 'type') {
      if (!v) { c.warn(a, `Missing tunnel type for ${sType} server.`); return null; }
      if (v.text !== 'ipip' && v.text !== 'gue' && v.text !== 'gre') { c.warn(v, `Unknown tunnel type ${v.text} for ${sType} server.`); return null; }
      tunType = v.text;
      i++;
    } else if (a.text === 'port') {
      if (!v) { c.warn(a, `Missing port for ${sType} server gue tunnel.`); return null; }
      const n = /^\d+$/.test(v.text) ? Number(v.text) : NaN;
      if (!(n >= 1 && n <= 65535)) { c.warn(v, `Invalid gue tunnel port ${v.text} for ${sType} server.`); return null; }
      tunPort = n;
      i++;
    } else if (a.text === 'nocsum' || a.text === 'csum' || a.text === 'remcsum') tunCsum = a.text;
    else { c.warn(a, `Invalid tunnel option ${a.text} for ${sType} server.`); return null; }
  }
  if ((tunType === 'gue') !== (tunPort !== 0)) { c.warn(t, 'gue tunnels require port, otherwise cannot have port.'); return null; }
  if (tunType === 'ipip' && tunCsum !== 'nocsum') { c.warn(t, 'ipip tunnels do not support checksum option.'); return null; }
  if (tunType === 'gre' && tunCsum === 'remcsum') { c.warn(t, 'gre tunnels do not support remote checksum option.'); return null; }
  return { fwd, tunType, tunPort, tunCsum };
}
