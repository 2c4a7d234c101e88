/**
 * static_routes / virtual_routes and static_rules / virtual_rules lines checked as keepalived
 * 2.2.7 checks them (vrrp_iproute.c alloc_route, vrrp_iprule.c alloc_rule): addresses, the words
 * it knows, interfaces, a route it cannot track, a rule without a preference; each kept line
 * carries the route or rule keepalived would send the kernel (os/rtnl-codec.ts), and the words
 * tsvs does not set (said at the line by the caller). What keepalived would drop is dropped here
 * with its words.
 */
import { canonicalIp, parseIp } from '../../core/addr.ts';
import { FR_ACT, RTAX, RTN, RTPROT_KEEPALIVED, RT_TABLE_MAIN, type NextHopSpec, type RouteSpec, type RuleSpec } from '../../os/rtnl-codec.ts';
import type { Tok } from '../kalex.ts';
import type { Ctx, KaState, Stmt } from './context.ts';
import type { RouteLine } from './drafts.ts';
import { parseAddress } from './vrrp-common.ts';
import { rtDsfield, rtProto, rtRealms, rtScope, rtTable, strtoul0 } from './rttables.ts';
import { parseEncap, timeRtt } from './route-words.ts';


/** Route words that take one value (ip route's, as keepalived reads them). */
const ROUTE_VALUE = new Set(['tos', 'dsfield', 'table', 'protocol', 'proto', 'scope', 'metric', 'priority', 'preference', 'mtu',
  'hoplimit', 'advmss', 'reordering', 'window', 'cwnd', 'ssthresh', 'initcwnd', 'initrwnd', 'features', 'track_group', 'vrf', 'weight']);
const ROUTE_FLAG = new Set(['onlink', 'lock']);
/** Metric words set through RTA_METRICS: RTAX number, keepalived's word in its error, largest value, whether `lock` may come first. */
const METRIC_WORDS: Readonly<Record<string, readonly [number, string, number, boolean]>> = {
  mtu: [RTAX.mtu, 'MTU', 0xffffffff, true],
  advmss: [RTAX.advmss, 'advmss', 0xffffffff, true],
  reordering: [RTAX.reordering, 'reordering value', 0xffffffff, true],
  window: [RTAX.window, 'window value', 0xffffffff, false],
  cwnd: [RTAX.cwnd, 'cwnd value', 0xffffffff, true],
  ssthresh: [RTAX.ssthresh, 'ssthresh value', 0xffffffff, true],
  initcwnd: [RTAX.initcwnd, 'initcwnd value', 0xffffffff, false],
  initrwnd: [RTAX.initrwnd, 'initrwnd value', 0xffffffff, false],
  hoplimit: [RTAX.hoplimit, 'hoplimit', 255, false],
  quickack: [RTAX.quickack, 'quickack value', 1, false],
  fastopen_no_cookie: [RTAX.fastopen_no_cookie, 'fastopen_no_cookie value', 1, false],
};
/** Times set through RTA_METRICS (all lockable): RTAX number, the kernel's units per ms, keepalived's message for a bad value. */
const TIME_WORDS: Readonly<Record<string, readonly [number, number, string]>> = {
  rtt: [RTAX.rtt, 8, 'Invalid rtt %s for route'],
  rttvar: [RTAX.rttvar, 4, 'Invalid rttvar %s for route'],
  rto_min: [RTAX.rto_min, 1, 'Invalid rto_min value %s specified for route'],
};
/** ICMPv6 router preferences (icmpv6.h ICMPV6_ROUTER_PREF_*). */
const ROUTER_PREF: Readonly<Record<string, number>> = { low: 3, medium: 0, high: 1 };
const RTAX_FEATURE_ECN = 1;
/** Route types (rttables rtn types) that may come before the destination. */
const ROUTE_TYPES = new Set(['unicast', 'local', 'broadcast', 'anycast', 'multicast', 'blackhole', 'unreachable', 'prohibit', 'throw', 'nat', 'xresolve']);

/** parse_route: default/any/all, or ADDR[/PREFIX]. */
function routeAddr(c: Ctx, t: Tok): { af: 4 | 6 | null; addr: string | null; prefix: number } | null {
  if (t.text === 'default' || t.text === 'any' || t.text === 'all') return { af: null, addr: null, prefix: 0 };
  if (t.text === 'default6') return { af: 6, addr: null, prefix: 0 };
  const a = parseAddress(c, t);
  return a ? { af: a.af, addr: a.addr, prefix: a.prefix } : null;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function route(c: Ctx, st: KaState, l: Stmt): RouteLine | null {
  const w = [l.name, ...l.args];
  let fam: 4 | 6 | null = null;
  let dest: Tok | null = null;
  let dev: string | undefined;
  let noTrack = false;
  let protoGiven = false;
  const spec: Partial<Mutable<RouteSpec>> = { type: RTN['unicast']!, typeGiven: false, table: RT_TABLE_MAIN, protocol: RTPROT_KEEPALIVED };
  const notSet: Tok[] = [];
  const mix = (f: 4 | 6 | null, what: string): boolean => {
    if (f === null) return true;
    if (fam === null) { fam = f; return true; }
    if (fam !== f) { c.warn(l.name, `Cannot mix IPv4 and IPv6 addresses for route${what}`); return false; }
    return true;
  };
  const missing = (k: string): null => { c.warn(l.name, `*** Configuration line starting \`${w[0]!.text}\` is missing a parameter after keyword \`${k}\``, 'param'); return null; };
  /**
   * The value of a metric word starting at w[at] (`KEY [lock] VALUE`): a `lock` before it locks
   * metric `rtax` and is stepped over. Returns the value and its index, or null when no value
   * follows the lock.
   */
  const lockedValue = (at: number, rtax: number): { val: Tok; at: number } | null => {
    if (w[at]!.text !== 'lock') return { val: w[at]!, at };
    const val = w[at + 1];
    if (!val) return null;
    spec.lock = (spec.lock ?? 0) | (1 << rtax);
    return { val, at: at + 1 };
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
      if (!v) return missing(k);
      if (k === 'gw') c.warn(t, '"gw" for routes is deprecated. Please use "via"');
      if (k === 'from') {
        const a = routeAddr(c, v);
        if (!a) { c.warn(v, `invalid route from address ${v.text}`); return null; }
        if (a.af !== 6) { c.warn(v, `route from address only supported with IPv6 (${v.text})`); return null; }
        if (!mix(a.af, '')) return null;
        if (a.addr) { spec.src = a.addr; spec.srcLen = a.prefix; }
      } else {
        const ip = parseIp(v.text);
        if (!ip) { c.warn(v, `invalid route ${k === 'gw' ? 'via' : k} address ${v.text}`); return null; }
        if (!mix(ip.af, '')) return null;
        if (k === 'src') spec.prefsrc = canonicalIp(v.text)!;
        else spec.via = canonicalIp(v.text)!;
      }
      i++;
    } else if (k === 'dev' || k === 'oif') {
      if (!v) return missing(k);
      if (st.interfaces && !st.interfaces.has(v.text)) { c.warn(v, `WARNING - interface ${v.text} for VROUTE nexthop doesn't exist`); return null; }
      dev = v.text;
      i++;
    } else if (k === 'no_track') noTrack = true;
    else if (k === 'onlink') spec.onlink = true;
    else if (k === 'add' || k === 'append') spec.mode = k;
    else if (k === 'prepend') delete spec.mode;
    else if (k === 'table') {
      if (!v) return missing(k);
      const n = rtTable(v.text);
      if (n === null) { c.warn(v, `Routing table ${v.text} not found for route`); return null; }
      spec.table = n;
      i++;
    } else if (k === 'protocol' || k === 'proto') {
      if (!v) return missing(k);
      const n = rtProto(v.text);
      if (n === null) { c.warn(v, `Protocol ${v.text} not found or invalid for route`); return null; }
      spec.protocol = n;
      protoGiven = true;
      i++;
    } else if (k === 'scope') {
      if (!v) return missing(k);
      const n = rtScope(v.text);
      if (n === null) { c.warn(v, `Scope ${v.text} not found or invalid for route`); return null; }
      spec.scope = n;
      i++;
    } else if (k === 'tos' || k === 'dsfield') {
      if (!v) return missing(k);
      const n = rtDsfield(v.text);
      if (n === null) { c.warn(v, `TOS value ${v.text} is invalid`); return null; }
      spec.tos = n;
      i++;
    } else if (k === 'metric' || k === 'priority' || k === 'preference') {
      if (!v) return missing(k);
      const n = /^\d+$/.test(v.text) ? Number(v.text) : NaN;
      if (!(n <= 0xffffffff)) { c.warn(v, `Invalid metric ${v.text} specified for route`); return null; }
      spec.metric = n;
      i++;
    } else if (k in METRIC_WORDS) {
      // RTA_METRICS values keepalived sets (vrrp_iproute.c alloc_route), `lock` first where it may be.
      const [rtax, what, max, lockable] = METRIC_WORDS[k]!;
      if (!v) return missing(k);
      const lv = lockable ? lockedValue(i + 1, rtax) : { val: v, at: i + 1 };
      if (!lv) return missing(k);
      const val = lv.val;
      const n = /^\d+$/.test(val.text) ? Number(val.text) : NaN;
      if (!(n <= max)) { c.warn(val, `Invalid ${what} ${val.text} specified for route`); return null; }
      if (k === 'mtu') spec.mtu = n; else spec.metrics = { ...spec.metrics, [rtax]: n };
      i = lv.at;
    } else if (k in TIME_WORDS) {
      const [rtax, perMs, bad] = TIME_WORDS[k]!;
      if (!v) return missing(k);
      const lv = lockedValue(i + 1, rtax);
      if (!lv) return missing(k);
      const val = lv.val;
      const n = timeRtt(c, val, perMs);
      if (n === null) { c.warn(val, bad.replace('%s', val.text)); return null; }
      spec.metrics = { ...spec.metrics, [rtax]: n };
      i = lv.at;
    } else if (k === 'congctl') {
      // Any name: the kernel refuses one it does not know when the route is set.
      if (!v) return missing(k);
      const lv = lockedValue(i + 1, RTAX.cc_algo);
      if (!lv) return missing(k);
      spec.congctl = lv.val.text;
      i = lv.at;
    } else if (k === 'realms') {
      if (!v) return missing(k);
      const n = rtRealms(v.text);
      if (n === null) { c.warn(v, `Invalid realms ${v.text} for route`); return null; }
      if (fam === 6) { c.warn(t, 'realms are only valid for IPv4'); return null; }
      fam = 4;
      spec.realms = n;
      i++;
    } else if (k === 'expires' || k === 'pref') {
      if (!v) return missing(k);
      if (fam === 4) { c.warn(t, `${k} is only valid for IPv6`); return null; }
      fam = 6;
      if (k === 'expires') {
        const n = /^\+?\d+$/.test(v.text) ? Number(v.text) : NaN;
        if (!(n <= 0xffffffff)) { c.warn(v, `Invalid expires time ${v.text} specified for route`); return null; }
        spec.expires = n;
      } else {
        const n = ROUTER_PREF[v.text] ?? (/^\+?\d+$/.test(v.text) ? Number(v.text) : NaN);
        if (!(n <= 255)) { c.warn(v, `Invalid pref value ${v.text} specified for route`); return null; }
        spec.pref = n;
      }
      i++;
    } else if (k === 'ttl-propagate') {
      if (!v) return missing(k);
      // An unknown value is reported and sent as disabled, as keepalived does.
      if (v.text !== 'enabled' && v.text !== 'disabled') c.warn(v, `ttl-propagate value ${v.text} not recognised`);
      spec.ttlPropagate = v.text === 'enabled' ? 1 : 0;
      i++;
    } else if (k === 'as') {
      // keepalived reads `as [to] ADDR` (MPLS's new destination), says so and ignores it.
      if (!v) return missing(k);
      if (v.text === 'to') i++;
      c.warn(t, '"as to" for MPLS only - ignoring');
      i++;
    } else if (k === 'features') {
      if (!v) return missing(k);
      if (v.text === 'ecn') spec.metrics = { ...spec.metrics, [RTAX.features]: (spec.metrics?.[RTAX.features] ?? 0) | RTAX_FEATURE_ECN };
      else c.warn(v, `feature ${v.text} not supported`);
      i++;
    }
    else if (ROUTE_VALUE.has(k)) { if (!v) return missing(k); notSet.push(t); i++; }
    else if (ROUTE_FLAG.has(k)) { notSet.push(t); continue; }
    else if (k === 'or') {
      // keepalived's older multipath: the `via` so far is the first path, this address the second.
      c.warn(t, '"or" for routes is deprecated. Please use "nexthop"');
      if (spec.nexthops) { c.warn(t, '"or" route already specified - ignoring subsequent'); i++; continue; }
      if (!v) return missing(k);
      const ip = parseIp(v.text);
      if (!ip) { c.warn(v, `Invalid "or" address ${v.text}`); return null; }
      spec.nexthops = [{ ...(spec.via ? { via: spec.via } : {}) }, { via: canonicalIp(v.text)! }];
      delete spec.via;
      i++;
    } else if (k === 'nexthop') {
      if (spec.nexthops) { c.warn(t, 'Cannot specify nexthops with "or" route'); break; }
      const nh = nexthops(c, st, w, i, (f) => mix(f, ''));
      if (!nh) return null;
      spec.nexthops = nh.list;
      notSet.push(...nh.notSet);
      break;
    } else if (k === 'encap') {
      const e = parseEncap(c, w, i);
      if (e.encap) spec.encap = e.encap;
      if (e.unset) notSet.push(e.unset);
      i = e.last;
    }
    else {
      // keepalived 2.2.7 looks for the type in the word itself, so after `to` it never finds
      // one: `to blackhole X` is refused there ("unknown route keyword blackhole"), and here.
      let j = i;
      const afterTo = w[j]!.text === 'to';
      if (afterTo) j++;
      const ty = w[j] && !afterTo ? RTN[w[j]!.text] : undefined;
      if (w[j] && !afterTo && ROUTE_TYPES.has(w[j]!.text)) {
        if (ty !== undefined) { spec.type = ty; spec.typeGiven = true; }
        j++;
      }
      const d = w[j];
      if (!d) return missing(w[j - 1]!.text);
      const a = routeAddr(c, d);
      if (!a) { c.warn(d, `unknown route keyword ${d.text}`); return null; }
      if (!mix(a.af, ` (${d.text})`)) return null;
      dest = d;
      spec.dst = a.addr;
      spec.dstLen = a.prefix;
      i = j;
    }
  }
  if (!dest) { c.warn(l.name, 'Route must have a destination'); return null; }
  if (!noTrack) {
    if (protoGiven && spec.protocol !== RTPROT_KEEPALIVED) c.warn(l.name, `Route cannot be tracked if protocol is not RTPROT_KEEPALIVED(${RTPROT_KEEPALIVED}), resetting protocol`);
    spec.protocol = RTPROT_KEEPALIVED;
    if (!dev) c.warn(dest, `Warning - cannot track route ${dest.text} with no interface specified, not tracking`);
  }
  const family: 4 | 6 = fam ?? 4;
  const full: RouteSpec = {
    family, dst: spec.dst ?? null, dstLen: spec.dstLen ?? 0, type: spec.type!, typeGiven: spec.typeGiven!, table: spec.table!, protocol: spec.protocol!,
    ...(spec.scope !== undefined ? { scope: spec.scope } : {}), ...(spec.via ? { via: spec.via } : {}), ...(dev !== undefined ? { dev } : {}),
    ...(spec.prefsrc ? { prefsrc: spec.prefsrc } : {}), ...(spec.src ? { src: spec.src, srcLen: spec.srcLen! } : {}),
    ...(spec.metric !== undefined ? { metric: spec.metric } : {}), ...(spec.tos !== undefined ? { tos: spec.tos } : {}),
    ...(spec.mtu !== undefined ? { mtu: spec.mtu } : {}), ...(spec.onlink ? { onlink: true } : {}), ...(spec.mode ? { mode: spec.mode } : {}),
    ...(spec.metrics ? { metrics: spec.metrics } : {}), ...(spec.lock ? { lock: spec.lock } : {}),
    ...(spec.nexthops ? { nexthops: spec.nexthops } : {}),
    ...(spec.congctl !== undefined ? { congctl: spec.congctl } : {}), ...(spec.realms ? { realms: spec.realms } : {}),
    ...(spec.expires !== undefined ? { expires: spec.expires } : {}), ...(spec.pref !== undefined ? { pref: spec.pref } : {}),
    ...(spec.ttlPropagate !== undefined ? { ttlPropagate: spec.ttlPropagate } : {}), ...(spec.encap ? { encap: spec.encap } : {}),
    ...(noTrack || !dev ? { noTrack: true } : {}),
  };
  return { text: w.map((x) => x.text).join(' '), at: l.name, ...(dev !== undefined ? { dev } : {}), route: full, notSet };
}

/** parse_nexthops: `nexthop [via [inet|inet6] ADDR] [dev IF] [weight N] [onlink] ...` to the end of the line. */
function nexthops(c: Ctx, st: KaState, w: readonly Tok[], from: number, family: (f: 4 | 6) => boolean): { list: NextHopSpec[]; notSet: Tok[] } | null {
  const list: NextHopSpec[] = [];
  const notSet: Tok[] = [];
  let i = from;
  while (i < w.length && w[i]!.text === 'nexthop') {
    i++;
    const nh: Mutable<NextHopSpec> = {};
    for (; i < w.length; i++) {
      const k = w[i]!.text;
      const v = w[i + 1];
      if (k === 'via') {
        let a = v;
        if (a && (a.text === 'inet' || a.text === 'inet6')) { i++; a = w[i + 1]; }
        const ip = a ? parseIp(a.text) : null;
        if (!ip) { c.warn(a ?? w[i]!, `invalid nexthop address ${a?.text ?? ''}`); return null; }
        if (!family(ip.af)) { c.warn(a!, 'Address family mismatch for next hop'); return null; }
        nh.via = canonicalIp(a!.text)!;
        i++;
      } else if (k === 'dev') {
        if (!v || (st.interfaces && !st.interfaces.has(v.text))) { c.warn(v ?? w[i]!, `WARNING - interface ${v?.text ?? ''} for VROUTE nexthop doesn't exist`); return null; }
        nh.dev = v.text;
        i++;
      } else if (k === 'weight') {
        const n = v && /^\d+$/.test(v.text) ? Number(v.text) : NaN;
        if (!(n <= 256)) { c.warn(v ?? w[i]!, `Invalid weight ${v?.text ?? ''} specified for route`); return null; }
        if (n === 0) { c.warn(v!, 'Invalid weight 0 specified for route'); return null; }
        nh.weight = n;
        i++;
      } else if (k === 'onlink') nh.onlink = true;
      else if (k === 'realms') {
        const n = v ? rtRealms(v.text) : null;
        if (n === null) { c.warn(v ?? w[i]!, `Invalid realms ${v?.text ?? ''} for route`); return null; }
        if (!family(4)) return null; // said there: realms are IPv4 only
        nh.realms = n;
        i++;
      } else if (k === 'encap') {
        // keepalived 2.2.7 reads a path's encapsulation and sends none: its add_nexthop gives
        // add_encap the attribute's current length as its room, so nothing fits. Read, checked, not set.
        const e = parseEncap(c, w, i);
        if (e.unset) notSet.push(e.unset);
        i = e.last;
      }
      else if (k === 'as') { c.warn(w[i]!, "'as [to]' (nat) not supported"); return null; }
      else break;
    }
    list.push(nh);
  }
  if (i < w.length) { c.warn(w[i]!, `Route has trailing nonsense after nexthops - ${w[i]!.text}`); return null; }
  return { list, notSet };
}

/** Rule words that take one value. */
const RULE_VALUE = new Set(['table', 'lookup', 'tos', 'dsfield', 'fwmark', 'realms', 'suppress_prefixlength', 'sup_pl', 'suppress_ifgroup', 'sup_group',
  'tunnel-id', 'uidrange', 'protocol', 'ipproto', 'sport', 'dport', 'track_group', 'goto', 'type']);
const RULE_ACTIONS = new Set(['table', 'lookup', 'goto', 'nop', 'blackhole', 'prohibit', 'unreachable', 'l3mdev']);
const RULE_ACT: Readonly<Record<string, number>> = { nop: FR_ACT.nop, blackhole: FR_ACT.blackhole, prohibit: FR_ACT.prohibit, unreachable: FR_ACT.unreachable };
const IP_PROTOS: Readonly<Record<string, number>> = { icmp: 1, tcp: 6, udp: 17, gre: 47, esp: 50, ah: 51, ipv6_icmp: 58, 'ipv6-icmp': 58, sctp: 132 };

/** keepalived numbers rules without a preference downwards from this (RULE_START_PRIORITY). */
const RULE_START_PRIORITY = 16384;

function portRange(s: string): [number, number] | null {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) return null;
  const a = Number(m[1]), b = m[2] !== undefined ? Number(m[2]) : a;
  return a <= 0xffff && b <= 0xffff ? [a, b] : null;
}

function rule(c: Ctx, st: KaState, l: Stmt, next: { v4: number; v6: number }): RouteLine | null {
  const w = [l.name, ...l.args];
  let fam: 4 | 6 | null = null;
  let action = false, pref = false;
  let dev: string | undefined;
  let noTrack = false, protoGiven = false;
  const r: Partial<Mutable<RuleSpec>> = {};
  const notSet: Tok[] = [];
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
      if (k === 'from') { if (a.addr) { r.from = a.addr; r.fromLen = a.prefix; } } else if (a.addr) { r.to = a.addr; r.toLen = a.prefix; }
      i++;
    } else if (k === 'preference' || k === 'order' || k === 'priority') {
      if (!need()) return null;
      const n = strtoul0(v!.text);
      if (n === null || n > 0xffffffff) { c.warn(v!, `Invalid rule preference ${k} specified`); return null; }
      r.priority = n;
      pref = true;
      i++;
    } else if (k === 'dev' || k === 'iif' || k === 'oif') {
      if (!need()) return null;
      if (st.interfaces && !st.interfaces.has(v!.text)) { c.warn(v!, `WARNING - interface ${v!.text} for rule doesn't exist`); return null; }
      if (k !== 'oif') { dev = v!.text; r.iif = v!.text; } else r.oif = v!.text;
      i++;
    } else if (k === 'no_track') noTrack = true;
    else if (k === 'not') r.invert = true;
    else if (k === 'l3mdev') { action = true; r.l3mdev = true; r.action = FR_ACT.to_tbl; }
    else if (RULE_ACTIONS.has(k) && !RULE_VALUE.has(k)) { action = true; r.action = RULE_ACT[k]!; }
    else if (RULE_VALUE.has(k)) {
      if (!need()) return null;
      const val = v!.text;
      if (k === 'table' || k === 'lookup') {
        const n = rtTable(val);
        if (n === null) { c.warn(v!, `Routing table ${val} not found for rule`); return null; }
        if (n === 0) { c.warn(v!, 'Table 0 is not valid'); return null; }
        action = true; r.action = FR_ACT.to_tbl; r.table = n;
      } else if (k === 'goto') {
        const n = strtoul0(val);
        if (n === null || n > 0xffffffff) { c.warn(v!, `Invalid target ${k} specified`); return null; }
        action = true; r.action = FR_ACT.goto; r.goto = n;
      } else if (k === 'type') {
        if (val === 'goto') { notSet.push(v!); action = true; r.action = FR_ACT.goto; }
        else if (RULE_ACTIONS.has(val)) { action = true; r.action = val === 'table' || val === 'lookup' ? FR_ACT.to_tbl : RULE_ACT[val] ?? FR_ACT.to_tbl; if (!(val in RULE_ACT)) notSet.push(v!); }
        else { c.warn(v!, `Invalid rule action ${val}`); return null; }
      } else if (k === 'tos' || k === 'dsfield') {
        const n = rtDsfield(val);
        if (n === null) { c.warn(v!, `TOS value ${val} is invalid`); return null; }
        r.tos = n;
      } else if (k === 'fwmark') {
        const [a, b, extra] = val.split('/');
        const mark = a !== undefined ? strtoul0(a) : null;
        const mask = b !== undefined ? strtoul0(b) : undefined;
        if (mark === null || mark > 0xffffffff || mask === null || (mask !== undefined && mask > 0xffffffff) || extra !== undefined) { c.warn(v!, `Invalid rule fwmark ${val} specified`); return null; }
        r.fwmark = mark;
        if (mask !== undefined) r.fwmask = mask;
      } else if (k === 'realms') {
        const [a, b] = val.split('/');
        const x = strtoul0(a ?? ''), y = b !== undefined ? strtoul0(b) : 0;
        if (x === null || y === null || x > 0xffff || y > 0xffff) { notSet.push(t); } else r.realms = b !== undefined ? ((x << 16) | y) >>> 0 : x;
      } else if (k === 'suppress_prefixlength' || k === 'sup_pl') {
        const n = /^\d+$/.test(val) ? Number(val) : NaN;
        if (!(n <= 0x7fffffff)) { c.warn(v!, `Invalid suppress_prefixlength ${k} specified`); return null; }
        r.suppressPrefixLen = n;
      } else if (k === 'suppress_ifgroup' || k === 'sup_group') {
        const n = strtoul0(val);
        if (n === null) { notSet.push(t); } else r.suppressGroup = n;
      } else if (k === 'tunnel-id') {
        if (!/^\d+$/.test(val)) { c.warn(v!, `Invalid tunnel-id ${k} specified`); return null; }
        r.tunnelId = BigInt(val);
      } else if (k === 'uidrange') {
        const m = /^(\d+)-(\d+)/.exec(val);
        if (!m) { c.warn(v!, `Invalid uidrange ${k} specified`); return null; }
        r.uidRange = [Number(m[1]), Number(m[2])];
      } else if (k === 'protocol') {
        const n = /^\d+$/.test(val) ? Number(val) : NaN;
        if (!(n <= 255)) c.warn(v!, `Invalid protocol ${val}`); else { r.protocol = n; protoGiven = true; }
      } else if (k === 'ipproto') {
        const n = /^\d+$/.test(val) ? Number(val) : IP_PROTOS[val];
        if (n === undefined || !(n <= 255)) c.warn(v!, `Invalid ipproto ${val}`); else r.ipProto = n;
      } else if (k === 'sport' || k === 'dport') {
        const p = portRange(val);
        if (!p) c.warn(v!, `invalid ${k} range ${val}`); else r[k] = p;
      } else notSet.push(t);
      i++;
    } else { c.warn(t, `Unknown rule option ${k}`); return null; }
  }
  if (!action) { c.warn(l.name, 'No action specified for rule - ignoring'); return null; }
  if (r.action === FR_ACT.goto && r.goto !== undefined) {
    if (!pref) { c.warn(l.name, `Invalid rule - goto target ${r.goto} specified without preference`); return null; }
    if (r.priority! >= r.goto) { c.warn(l.name, `Invalid rule - preference ${r.priority} >= goto target ${r.goto}`); return null; }
  }
  if (!noTrack) {
    if (protoGiven && r.protocol !== RTPROT_KEEPALIVED) c.warn(l.name, `Rule cannot be tracked if protocol is not RTPROT_KEEPALIVED(${RTPROT_KEEPALIVED}), resetting protocol`);
    r.protocol = RTPROT_KEEPALIVED;
  }
  if (!pref) {
    const p = fam === 6 ? next.v6-- : next.v4--;
    r.priority = p;
    c.warn(l.name, `Rule has no preference specified - setting to ${p}. This is probably not what you want.`);
  }
  const spec: RuleSpec = { ...r, family: fam ?? 4, action: r.action!, priority: r.priority!, ...(noTrack ? { noTrack: true } : {}) };
  return { text: w.map((x) => x.text).join(' '), at: l.name, ...(dev !== undefined ? { dev } : {}), rule: spec, notSet };
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
