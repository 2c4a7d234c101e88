/** `virtual_server_group NAME { IP PORT | IP-RANGE PORT | fwmark N [inet6] ... }`. */
import { canonicalIp, parseIp } from '../../core/addr.ts';
import { endCol, type Tok } from '../kalex.ts';
import { pos, type Ctx, type GroupMember, type KaState, type Stmt } from './context.ts';
import { kaUnsigned } from './numbers.ts';

/** The addresses and marks a virtual_server_group may hold in all (16 IPv6 ranges of 65536). */
export const MAX_GROUP_MEMBERS = 1_048_576;

/** `10.0.0.1-10 PORT` (the last IPv4 byte or IPv6 word is a range). */
function expandRange(c: Ctx, t: Tok, portTok: Tok | undefined, out: GroupMember[]): void {
  const m = /^(.*[.:])([0-9a-fA-F]+)-([0-9a-fA-F]+)$/.exec(t.text);
  const port = portTok ? Number(portTok.text) : 0;
  if (!portTok || !/^\d+$/.test(portTok.text) || port > 65535) {
    c.err(portTok ?? { file: t.file, line: t.line, col: endCol(t) + 1 }, `expected a port number after '${t.text}'`);
    return;
  }
  if (!m) { c.err(t, `expected an address or range like 10.0.0.1-10, got '${t.text}'`); return; }
  const base = m[1]! + m[2]!;
  const ip = parseIp(base);
  if (!ip) { c.err(t, `expected an address or range like 10.0.0.1-10, got '${t.text}'`); return; }
  const radix = ip.af === 4 ? 10 : 16;
  const lo = parseInt(m[2]!, radix), hi = parseInt(m[3]!, radix);
  const max = ip.af === 4 ? 255 : 0xffff;
  if (Number.isNaN(hi) || hi < lo || hi > max || (ip.af === 4 && !/^\d+$/.test(m[3]!))) { c.err(t, `bad address range '${t.text}': the end must be >= ${m[2]} and <= ${ip.af === 4 ? 255 : 'ffff'}`); return; }
  // keepalived takes any range its syntax allows (up to 256 IPv4 or 65536 IPv6 addresses) and adds
  // an IPVS service for each address; so do we. Only a group past MAX_GROUP_MEMBERS in all is
  // refused, so that a file cannot make the reader run out of memory.
  if (out.length + (hi - lo + 1) > MAX_GROUP_MEMBERS) { c.err(t, `virtual_server_group has too many addresses (more than ${MAX_GROUP_MEMBERS})`); return; }
  for (let v = lo; v <= hi; v++) {
    const txt = m[1]! + v.toString(radix);
    out.push({ af: ip.af, fwmark: 0, addr: canonicalIp(txt)!, port, at: pos(t) });
  }
}

export function parseGroup(st: KaState, s: Stmt): void {
  const { c, groups } = st;
  const name = c.arg(s, 0, 'a group name');
  if (!name) return;
  if (groups.has(name.text)) c.err(name, `virtual_server_group '${name.text}' is already defined at ${groups.get(name.text)!.at.file}:${groups.get(name.text)!.at.line}`);
  const members: GroupMember[] = [];
  for (const l of s.block ?? []) {
    if (l.name.text === 'fwmark') {
      const t = c.arg(l, 0, 'a firewall mark');
      if (!t) continue;
      const v = kaUnsigned(c, t, 0, 0xffffffff);
      if (v === null) { c.warn(t, `(${name.text}): fwmark '${t.text}' must be in [0, 4294967295] - ignoring`); continue; }
      const fam = l.args[1]?.text;
      if (fam !== undefined && fam !== 'inet' && fam !== 'inet6') { c.warn(l.args[1]!, `(${name.text}): fwmark '${v}' family ${fam} unknown - ignoring`); continue; }
      const af = fam === 'inet6' ? 6 : 4;
      members.push({ af, fwmark: v, addr: af === 6 ? '::' : '0.0.0.0', port: 0, at: pos(l.name) });
      continue;
    }
    const ip = parseIp(l.name.text);
    if (ip) {
      const portTok = l.args[0];
      if (!portTok || !/^\d+$/.test(portTok.text) || Number(portTok.text) > 65535) {
        c.err(portTok ?? c.after(l), `expected a port number after '${l.name.text}'`);
        continue;
      }
      members.push({ af: ip.af, fwmark: 0, addr: canonicalIp(l.name.text)!, port: Number(portTok.text), at: pos(l.name) });
      c.extra(l, 1);
    } else if (l.name.text.includes('-')) {
      expandRange(c, l.name, l.args[0], members);
      c.extra(l, 1);
    } else c.err(l.name, `expected 'IP PORT', 'IP-RANGE PORT' or 'fwmark N' in virtual_server_group, got '${l.name.text}'`);
  }
  if (!members.length) { c.warn(name, `virtual server group ${name.text} has no entries - removing`); return; }
  groups.set(name.text, { members, at: name });
}
