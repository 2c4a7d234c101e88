/**
 * Pieces several VRRP blocks share, read as keepalived 2.2.7 reads them: address lines
 * (alloc_ipaddress), track_interface and track_script lines (vrrp_track.c), notify scripts,
 * accepted-but-ignored keywords.
 */
import { canonicalIp, parseIp } from '../../core/addr.ts';
import type { NotifyKeyword, VrrpAddress, VrrpTrack } from '../desired.ts';
import type { Tok } from '../kalex.ts';
import type { Notify } from './drafts.ts';
import { IFNAME_MAX, sameFor, setUser, type Ctx, type KaState, type Stmt, type Table } from './context.ts';
import { kaInt } from './numbers.ts';

/** keepalived's scopes (rt_scopes: names and numbers). */
const SCOPES = new Set(['global', 'universe', 'site', 'link', 'host', 'nowhere']);

/** parse_ipaddress: ADDR[/PREFIX]; a bad prefix keeps the full length (said), a bad address is skipped (said). */
export function parseAddress(c: Ctx, t: Tok, allowPrefix = true): { addr: string; prefix: number; af: 4 | 6 } | null {
  const text = t.text;
  const af: 4 | 6 = text.includes(':') ? 6 : 4;
  const full = af === 4 ? 32 : 128;
  const slash = allowPrefix ? text.indexOf('/') : -1;
  let prefix = full;
  const addrText = slash >= 0 ? text.slice(0, slash) : text;
  if (slash >= 0) {
    const p = /^\d+$/.test(text.slice(slash + 1)) ? Number(text.slice(slash + 1)) : NaN;
    if (!(p >= 0 && p <= full)) c.warn(t, `Invalid address prefix len ${text.slice(slash + 1)} for address ${text} - using ${full}`);
    else prefix = p;
  }
  const ip = parseIp(addrText);
  if (!ip || ip.af !== af || (af === 4 && !/^\d{1,3}(\.\d{1,3}){3}$/.test(addrText))) {
    c.warn(t, `VRRP parsed invalid IP ${text}. skipping IP...`);
    return null;
  }
  return { addr: canonicalIp(addrText)!, prefix, af };
}

export interface AddrLine { readonly addr_: VrrpAddress; readonly addr: string; readonly text: string; readonly at: Tok }

/** One address line (alloc_ipaddress); null when keepalived skips it (said). */
export function parseAddrLine(c: Ctx, st: KaState, l: Stmt, isStatic: boolean): AddrLine | null {
  const p = parseAddress(c, l.name);
  if (!p) return null;
  const a: { addr: string; prefix: number; dev?: string; brd?: string; scope?: string; label?: string; extra: string[] } = { addr: p.addr, prefix: p.prefix, extra: [] };
  const words = l.args;
  for (let i = 0; i < words.length; i++) {
    const k = words[i]!.text;
    const v = words[i + 1];
    const needs = ['dev', 'scope', 'broadcast', 'brd', 'label', 'peer', 'preferred_lft', 'track_group'];
    if (needs.includes(k) && !v) { c.warn(words[i]!, `No ${k} parameter specified for ${l.name.text}`); return null; }
    if (k === 'dev') {
      if (a.dev) { c.warn(words[i]!, `Cannot specify ipaddress device more than once for ${l.name.text}`); return null; }
      if (st.interfaces && !st.interfaces.has(v!.text)) { c.warn(v!, `WARNING - interface ${v!.text} for ip address ${l.name.text} doesn't exist`); return null; }
      a.dev = v!.text; i++;
    } else if (k === 'scope') {
      if (!SCOPES.has(v!.text) && !/^\d+$/.test(v!.text)) c.warn(v!, `Invalid scope '${v!.text}' specified for ${l.name.text} - ignoring`);
      else a.scope = v!.text;
      i++;
    } else if (k === 'broadcast' || k === 'brd') {
      if (p.af === 6) { c.warn(v!, `VRRP is trying to assign a broadcast ${v!.text} to the IPv6 address ${l.name.text} !!?? WTF... skipping VIP...`); return null; }
      const b = v!.text;
      if (b !== '-' && b !== '+' && !(parseIp(b)?.af === 4)) { c.warn(v!, `VRRP is trying to assign invalid broadcast ${b}. skipping VIP...`); return null; }
      a.brd = b; i++;
    } else if (k === 'label') {
      if (v!.text.length > IFNAME_MAX) { c.warn(v!, `Address label ${v!.text} is longer than maximum length ${IFNAME_MAX} - removing address`); return null; }
      a.label = v!.text; i++;
    } else if (k === 'peer' || k === 'preferred_lft' || k === 'track_group') {
      a.extra.push(k, v!.text); i++;
    } else if (['home', '-nodad', 'mngtmpaddr', 'noprefixroute', 'autojoin', 'no_track'].includes(k) || (!isStatic && k === 'use_vmac')) {
      a.extra.push(k);
    } else c.warn(words[i]!, `Unknown configuration entry '${k}' for ip address - ignoring`);
  }
  if (p.af === 6 && a.scope) { c.warn(l.name, `Cannot specify scope for IPv6 addresses (${l.name.text}) - ignoring scope`); delete a.scope; }
  if (p.af === 6 && a.label) { c.warn(l.name, `Cannot specify label for IPv6 addresses (${l.name.text}) - ignoring label`); delete a.label; }
  return { addr_: a, addr: a.addr, text: l.name.text, at: l.name };
}

export function addrBlock(c: Ctx, st: KaState, s: Stmt, isStatic = false): AddrLine[] {
  const out: AddrLine[] = [];
  for (const l of s.block ?? []) { const a = parseAddrLine(c, st, l, isStatic); if (a) out.push(a); }
  return out;
}

/** `weight N [reverse]` after a tracked name (alloc_track_if / alloc_track_script); null: line ignored. */
function trackWeight(c: Ctx, owner: string, l: Stmt, what: 'track_interface' | 'track_script', dflt: number): { weight: number; reverse: boolean } | null {
  const [w, v, r] = l.args;
  if (!w) return { weight: dflt, reverse: false };
  const name = l.name.text;
  if (w.text !== 'weight') {
    c.warn(w, what === 'track_interface' ? `(${owner}) unknown track_interface ${name} option ${w.text} - ignoring` : `(${owner}) unknown track script option ${w.text} - ignoring`);
    return null;
  }
  if (!v) { c.warn(w, `(${owner}) weight without value specified for ${what === 'track_interface' ? 'track_interface' : 'track script'} ${name} - ignoring`); return null; }
  let weight = kaInt(c, v, -254, 254);
  if (weight === null) {
    c.warn(v, what === 'track_interface' ? `(${owner}) weight ${v.text} for ${name} must be between [-253..253] inclusive. Ignoring...` : `(${owner}) track script ${name}: weight must be between [-253..253] inclusive, ignoring...`);
    weight = what === 'track_interface' ? 0 : dflt;
  } else if (weight === 254 || weight === -254) {
    c.warn(v, `(${owner}) weight for ${name} cannot be +/-254. Setting to +/-253`);
    weight = weight > 0 ? 253 : -253;
  }
  let reverse = false;
  if (r) {
    if (r.text === 'reverse') reverse = true;
    else if (!(what === 'track_script' && r.text === 'noreverse')) c.warn(r, `(${owner}) unknown ${what === 'track_interface' ? 'track_interace' : 'track_script'} ${name} weight option ${r.text} - ignoring`);
  }
  return { weight, reverse };
}

/** track_interface lines: the interface must exist (when the host is known), once each. */
export function trackInterfaces(c: Ctx, st: KaState, owner: string, s: Stmt, out: (VrrpTrack & { at: Tok })[]): void {
  for (const l of s.block ?? []) {
    const name = l.name.text;
    if (st.interfaces && !st.interfaces.has(name)) { c.warn(l.name, `(${owner}) tracked interface ${name} doesn't exist`); continue; }
    if (out.some((t) => t.name === name)) { c.warn(l.name, `(${owner}) duplicate track_interface ${name} - ignoring`); continue; }
    const w = trackWeight(c, owner, l, 'track_interface', 0);
    if (!w) continue;
    out.push({ name, ...(w.weight ? { weight: w.weight } : {}), ...(w.reverse ? { reverse: true } : {}), at: l.name });
  }
}

/** track_script lines: the script must be defined before (keepalived looks it up while reading). */
export function trackScripts(c: Ctx, st: KaState, owner: string, s: Stmt, out: (VrrpTrack & { at: Tok })[]): void {
  for (const l of s.block ?? []) {
    const name = l.name.text;
    const scr = st.vrrp.scripts.find((x) => x.name === name);
    if (!scr) { c.warn(l.name, `(${owner}) track script ${name} not found, ignoring...`); continue; }
    if (out.some((t) => t.name === name)) { c.warn(l.name, `(${owner}) duplicate track_script ${name} - ignoring`); continue; }
    const w = trackWeight(c, owner, l, 'track_script', scr.weight);
    if (!w) continue;
    out.push({ name, ...(w.weight ? { weight: w.weight } : {}), ...(w.reverse || (!l.args.length && scr.reverse) ? { reverse: true } : {}), at: l.name });
  }
}

export type { Notify };

/** notify, notify_master, ...: `KEYWORD SCRIPT [USER [GROUP]]` into `n`, who runs it into `users`; the first one counts. */
export function notifyHandlers(c: Ctx, n: Notify, users: Notify, tag: string): Table {
  return sameFor(['notify', 'notify_master', 'notify_backup', 'notify_fault', 'notify_stop'], (k) => ({
    run: (x: Stmt) => {
      const kw = k as NotifyKeyword;
      if (n[kw] !== undefined) { c.warn(x.name, `${tag} ${k} script already specified - ignoring ${x.args[0]?.text ?? ''}`); return; }
      const v = c.script(x, 'a script');
      if (v) { n[kw] = v.cmd; setUser(users, kw, v.user); }
    },
  }));
}

/** Keywords keepalived knows that the tsvs VRRP engine does not implement: each says so. */
export function ignoredVrrp(c: Ctx, names: readonly string[]): Table {
  return sameFor(names, (k) => ({ run: (x: Stmt) => c.warn(x.name, `'${k}' is accepted but not implemented by the tsvs VRRP engine; ignored`) }));
}

