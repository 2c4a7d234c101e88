/**
 * static_routes / virtual_routes and static_rules / virtual_rules lines checked as keepalived
 * 2.2.7 checks them (vrrp_iproute.c alloc_route, vrrp_iprule.c alloc_rule): addresses, the words
 * it knows, interfaces, a route it cannot track, a rule without a preference. tsvs does not
 * apply routes or rules (./vrrp-complete.ts says so at each block); what keepalived would drop
 * is dropped here with its words.
 */
import { parseIp } from '../../core/addr.ts';
import type { Tok } from '../kalex.ts';
import type { Ctx, KaState, Stmt } from './context.ts';
import type { RouteLine } from './drafts.ts';
import { parseAddress } from './vrrp-common.ts';


/** Route words that take one value (ip route's, as keepalived reads them). */
const ROUTE_VALUE = new Set(['tos', 'dsfield', 'table', 'protocol', 'proto', 'scope', 'metric', 'priority', 'preference', 'realms', 'mtu',
  'hoplimit', 'advmss', 'rtt', 'rttvar', 'reordering', 'window', 'cwnd', 'ssthresh', 'rto_min', 'initcwnd', 'initrwnd', 'features',
  'congctl', 'pref', 'expires', 'ttl-propagate', 'track_group', 'vrf', 'weight']);
const ROUTE_FLAG = new Set(['onlink', 'quickack', 'fastopen_no_cookie', 'lock']);
/** Route types (rttables rtn types) that may come before the destination. */
const ROUTE_TYPES = new Set(['unicast', 'local', 'broadcast', 'anycast', 'multicast', 'blackhole', 'unreachable', 'prohibit', 'throw', 'nat', 'xresolve']);

/** parse_route: default/any/all, or ADDR[/PREFIX]. */
function routeAddr(c: Ctx, t: Tok): { af: 4 | 6 | null } | null {
  if (t.text === 'default' || t.text === 'any' || t.text === 'all') return { af: null };
  if (t.text === 'default6') return { af: 6 };
  const a = parseAddress(c, t);
  return a ? { af: a.af } : null;
}

function route(c: Ctx, st: KaState, l: Stmt): RouteLine | null {
  const w = [l.name, ...l.args];
  let fam: 4 | 6 | null = null;
  let dest: Tok | null = null;
  let dev: string | undefined;
  let noTrack = false;
  const mix = (f: 4 | 6 | null, what: string): boolean => {
    if (f === null) return true;
    if (fam === null) { fam = f; return true; }
    if (fam !== f) { c.warn(l.name, `Cannot mix IPv4 and IPv6 addresses for route${what}`); return false; }
    return true;
  };
  for (let i = 0; i < w.length; i++) {
    const t = w[i]!;
    const k = t.text;
    const v = w[i + 1];
    if (k === 'inet' || k === 'inet6') {
      const f = k === 'inet' ? 4 : 6;
      if (fam !== null && fam !== f) { c.warn(t, `${k} specified for IPv${fam} route`); return null; }
      fam = f;
    } else if (k === 'src' || k === 'via' || k === 'gw' || k === 'from') {
      if (!v) { c.warn(t, `*** Configuration line starting \`${w[0]!.text}\` is missing a parameter after keyword \`${k}\``, 'param'); return null; }
      if (k === 'gw') c.warn(t, '"gw" for routes is deprecated. Please use "via"');
      const ip = parseIp(v.text);
      if (!ip) { c.warn(v, `invalid route ${k === 'gw' ? 'via' : k} address ${v.text}`); return null; }
      if (k === 'from' && ip.af !== 6) { c.warn(v, `route from address only supported with IPv6 (${v.text})`); return null; }
      if (!mix(ip.af, '')) return null;
      i++;
    } else if (k === 'dev' || k === 'oif') {
      if (!v) { c.warn(t, `*** Configuration line starting \`${w[0]!.text}\` is missing a parameter after keyword \`${k}\``, 'param'); return null; }
      if (st.interfaces && !st.interfaces.has(v.text)) { c.warn(v, `WARNING - interface ${v.text} for VROUTE nexthop doesn't exist`); return null; }
      dev = v.text;
      i++;
    } else if (k === 'no_track') noTrack = true;
    else if (ROUTE_VALUE.has(k)) { if (!v) { c.warn(t, `*** Configuration line starting \`${w[0]!.text}\` is missing a parameter after keyword \`${k}\``, 'param'); return null; } i++; }
    else if (ROUTE_FLAG.has(k)) continue;
    else if (k === 'nexthop' || k === 'or' || k === 'encap') {
      if (k === 'or') c.warn(t, '"or" for routes is deprecated. Please use "nexthop"');
      break;
    }
    else {
      let j = i;
      if (w[j]!.text === 'to') j++;
      if (w[j] && ROUTE_TYPES.has(w[j]!.text)) j++;
      const d = w[j];
      if (!d) { c.warn(t, `*** Configuration line starting \`${w[0]!.text}\` is missing a parameter after keyword \`${w[j - 1]!.text}\``, 'param'); return null; }
      const a = routeAddr(c, d);
      if (!a) { c.warn(d, `unknown route keyword ${d.text}`); return null; }
      if (!mix(a.af, ` (${d.text})`)) return null;
      dest = d;
      i = j;
    }
  }
  if (!dest) { c.warn(l.name, 'Route must have a destination'); return null; }
  if (!noTrack && !dev) c.warn(dest, `Warning - cannot track route ${dest.text} with no interface specified, not tracking`);
  return { text: w.map((x) => x.text).join(' '), at: l.name, ...(dev !== undefined ? { dev } : {}) };
}

/** Rule words that take one value. */
const RULE_VALUE = new Set(['table', 'lookup', 'tos', 'dsfield', 'fwmark', 'realms', 'suppress_prefixlength', 'sup_pl', 'suppress_ifgroup', 'sup_group',
  'tunnel-id', 'uidrange', 'protocol', 'ipproto', 'sport', 'dport', 'track_group', 'goto', 'type']);
const RULE_ACTIONS = new Set(['table', 'lookup', 'goto', 'nop', 'blackhole', 'prohibit', 'unreachable', 'l3mdev']);

/** keepalived numbers rules without a preference downwards from this (RULE_START_PRIORITY). */
const RULE_START_PRIORITY = 16384;

function rule(c: Ctx, st: KaState, l: Stmt, next: { v4: number; v6: number }): RouteLine | null {
  const w = [l.name, ...l.args];
  let fam: 4 | 6 | null = null;
  let action = false, pref = false;
  let dev: string | undefined;
  for (let i = 0; i < w.length; i++) {
    const t = w[i]!;
    const k = t.text;
    const v = w[i + 1];
    const need = (): boolean => { if (v) return true; c.warn(t, `*** Configuration line starting \`${w[0]!.text}\` is missing a parameter after keyword \`${k}\``, 'param'); return false; };
    if (k === 'inet' || k === 'inet6') {
      const f = k === 'inet' ? 4 : 6;
      if (fam !== null && fam !== f) { c.warn(t, `${k} specified for IPv${fam} rule`); return null; }
      fam = f;
    } else if (k === 'from' || k === 'to') {
      if (!need()) return null;
      const a = routeAddr(c, v!);
      if (!a) { c.warn(v!, `Invalid rule ${k} address ${v!.text}`); return null; }
      if (a.af !== null) {
        if (fam !== null && fam !== a.af) { c.warn(v!, 'rule specification has mixed IPv4 and IPv6'); return null; }
        fam = a.af;
      }
      i++;
    } else if (k === 'preference' || k === 'order' || k === 'priority') {
      if (!need()) return null;
      if (!/^\d+$/.test(v!.text) || Number(v!.text) > 0xffffffff) { c.warn(v!, `Invalid rule preference ${k} specified`); return null; }
      pref = true;
      i++;
    } else if (k === 'dev' || k === 'iif' || k === 'oif') {
      if (!need()) return null;
      if (st.interfaces && !st.interfaces.has(v!.text)) { c.warn(v!, `WARNING - interface ${v!.text} for rule doesn't exist`); return null; }
      if (k !== 'oif') dev = v!.text;
      i++;
    } else if (k === 'no_track' || k === 'not') continue;
    else if (RULE_ACTIONS.has(k) && !RULE_VALUE.has(k)) action = true;
    else if (RULE_VALUE.has(k)) {
      if (!need()) return null;
      if (k === 'table' || k === 'lookup' || k === 'goto') action = true;
      if (k === 'type') { if (RULE_ACTIONS.has(v!.text)) action = true; else { c.warn(v!, `Invalid rule action ${v!.text}`); return null; } }
      i++;
    } else { c.warn(t, `Unknown rule option ${k}`); return null; }
  }
  if (!action) { c.warn(l.name, 'No action specified for rule - ignoring'); return null; }
  if (!pref) {
    const p = fam === 6 ? next.v6-- : next.v4--;
    c.warn(l.name, `Rule has no preference specified - setting to ${p}. This is probably not what you want.`);
  }
  return { text: w.map((x) => x.text).join(' '), at: l.name, ...(dev !== undefined ? { dev } : {}) };
}

/** A routes or rules block's lines that keepalived keeps. */
export function parseRoutes(c: Ctx, st: KaState, s: Stmt, kind: 'route' | 'rule'): RouteLine[] {
  const out: RouteLine[] = [];
  for (const l of s.block ?? []) {
    const r = kind === 'route' ? route(c, st, l) : rule(c, st, l, st.rulePriority);
    if (r) out.push(r);
  }
  return out;
}

export { RULE_START_PRIORITY };
