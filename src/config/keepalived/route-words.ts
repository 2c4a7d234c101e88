/**
 * Route words with readers of their own, as keepalived 2.2.7 reads them: the times of rtt,
 * rttvar and rto_min (vrrp_ip_rule_route_parser.c get_time_rtt, with lib/parser.c
 * read_decimal_unsigned) and the `encap` words (vrrp_iproute.c parse_encap and its ip / ip6 /
 * mpls / ila readers). The caller (./routes.ts) walks the line.
 */
import { canonicalIp, parseIp } from '../../core/addr.ts';
import type { EncapSpec } from '../../os/rtnl-codec.ts';
import type { Tok } from '../kalex.ts';
import type { Ctx } from './context.ts';
import { rtDsfield } from './rttables.ts';

/** The kernel's bounds on TCP retransmission times that keepalived holds rtt values to (TCP_RTO_MIN, TCP_RTO_MAX). */
const RTT_MIN_MS = 200;
const RTT_MAX_MS = 120_000;

/**
 * read_decimal_unsigned: a decimal with up to `shift` places, times 10^shift; null when keepalived
 * refuses it. More places than `shift` are reported (a config error) and rounded, as keepalived does.
 */
function readDecimal(c: Ctx, t: Tok, s: string, max: number, shift: number): number | null {
  if (s.startsWith('-')) { c.warn(t, `negative number '${s}'`); return null; }
  const dot = s.indexOf('.');
  let places = dot >= 0 ? s.length - dot - 1 : 0;
  let roundUp = false;
  if (places > shift) {
    c.warn(t, `number '${s}' has too many decimal places`);
    roundUp = s[dot + shift + 1]! >= '5';
    places = shift;
  }
  const digits = (dot >= 0 ? s.slice(0, dot) + s.slice(dot + 1, dot + 1 + places) : s) + '0'.repeat(shift - places);
  // strtoull: leading blanks and a sign are taken, an empty string is 0.
  const m = /^\s*\+?(\d*)$/.exec(digits);
  if (!m) { c.warn(t, `invalid number '${s}'`); return null; }
  const v = Number(m[1] || '0') + (roundUp ? 1 : 0);
  if (v > max) {
    const d = 10 ** shift;
    const frac = (x: number) => (shift ? `.${String(x % d).padStart(shift, '0')}` : '.');
    c.warn(t, `number '${s}' outside range [0${frac(0)}, ${Math.floor(max / d)}${frac(max)}]`);
    return null;
  }
  return v;
}

/**
 * get_time_rtt: a bare `N` is taken in the kernel's units as it is, `Nms` / `N[.n]s` (also
 * sec, secs) are converted to them: rtt's unit is 1/8000 s (unitMult 8), rttvar's 1/4000 s (4),
 * rto_min's 1 ms (1). Values outside 200 ms..120 s are set to the bound, said in a note as
 * keepalived logs it. null: keepalived refuses the value.
 */
export function timeRtt(c: Ctx, t: Tok, unitMult: number): number | null {
  const str = t.text.replace(/^\s+/, '');
  let num = str;
  let shift = 0;
  let raw = true;
  const p = str.search(/[sS]/);
  if (p >= 0) {
    const unit = str.slice(p).toLowerCase();
    if (unit !== 's' && unit !== 'sec' && unit !== 'secs') return null;
    raw = false;
    let end = p;
    if (p > 0 && str[p - 1]!.toLowerCase() === 'm') end--;
    else shift = 3;
    if (end === 0) return null;
    num = str.slice(0, end);
  }
  if (/[eE]/.test(num)) { c.note(t, `rtt value exponential form ${str} no longer supported`); return null; }
  let v = readDecimal(c, t, num, RTT_MAX_MS * unitMult, shift);
  if (v === null) return null;
  if (!raw) v *= unitMult;
  if (v > RTT_MAX_MS * unitMult) { c.note(t, `rtt value ${str} exceeds maximum ${RTT_MAX_MS / 1000}s, resetting`); v = RTT_MAX_MS * unitMult; }
  else if (v < RTT_MIN_MS * unitMult) { c.note(t, `rtt value ${str} below minimum ${RTT_MIN_MS}ms, resetting`); v = RTT_MIN_MS * unitMult; }
  return v;
}

const U64_MAX = (1n << 64n) - 1n;

function u(c: Ctx, t: Tok, max: number, message: string): number | null {
  const v = /^\+?\d+$/.test(t.text) ? Number(t.text) : NaN;
  if (!(v <= max)) { c.warn(t, message.replace('%s', t.text)); return null; }
  return v;
}

/** parse_encap_ip / parse_encap_ip6: `KEY VALUE` pairs (id, dst, src, tos|tc, ttl|hoplimit, flags) while the key is one of them. */
function encapIp(c: Ctx, w: readonly Tok[], i: number, type: 'ip' | 'ip6'): { encap: EncapSpec; i: number; ok: boolean } {
  const e: { -readonly [K in keyof EncapSpec]: EncapSpec[K] } = { type };
  const six = type === 'ip6';
  const fail = () => { delete e.dst; delete e.src; return { encap: { ...e }, i, ok: false }; };
  for (; i + 1 < w.length; i += 2) {
    const k = w[i]!.text;
    const v = w[i + 1]!;
    if (k === 'id') {
      if (!/^\+?\d+$/.test(v.text) || BigInt(v.text) > U64_MAX) { c.warn(v, six ? `id ${v.text} value invalid for IPv6 encapsulation` : `encap id ${v.text} value is invalid`); return fail(); }
      e.id = BigInt(v.text).toString();
    } else if (k === 'dst' || k === 'src') {
      const ip = parseIp(v.text);
      if (!ip) { c.warn(v, `Invalid encap ${type} ${k} ${v.text}`); return fail(); }
      if (ip.af !== (six ? 6 : 4)) { c.warn(v, `IPv${six ? 4 : 6} address ${v.text} not valid for ${type} encapsulation`); return fail(); }
      e[k] = canonicalIp(v.text)!;
    } else if (k === (six ? 'tc' : 'tos')) {
      const n = rtDsfield(v.text);
      // keepalived names the key, not the value, in its ip6 message.
      if (n === null) { c.warn(v, six ? `tc value ${k} is invalid for ip6 encapsulation` : `dsfield ${v.text} not valid for ip encapsulation`); return fail(); }
      e.tos = n;
    } else if (k === (six ? 'hoplimit' : 'ttl')) {
      const n = u(c, v, 255, six ? 'Invalid hoplimit %s specified for ip6 encapsulation' : 'ttl %s is not valid for ip encapsulation');
      if (n === null) return fail();
      e.ttl = n;
    } else if (k === 'flags') {
      const n = u(c, v, 0xffff, `flags %s is not valid for ${type} encapsulation`);
      if (n === null) return fail();
      e.flags = n;
    } else break;
  }
  if (!e.dst && e.id === undefined) { c.warn(w[i - 1]!, `address or id missing for ${type} encapsulation`); return fail(); }
  return { encap: { ...e }, i, ok: true };
}

/** parse_mpls_address: LABEL[/LABEL] (at most two, each under 2^20, strtoul base 0). */
function mplsLabels(s: string): boolean {
  const parts = s.split('/');
  if (parts.length > 2) return false;
  return parts.every((p) => {
    const m = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)$/.exec(p);
    return m !== null && Number(p) < 1 << 20;
  });
}

/** parse_ila's locator (get_addr64): four groups of up to four hex digits, `:` between. */
const ilaLocator = (s: string): boolean => /^[0-9a-fA-F]{1,4}(:[0-9a-fA-F]{1,4}){3}$/.test(s);

/**
 * parse_encap at w[at] (`encap`): returns where keepalived's route reader goes on (the index of the
 * last word it took), and the encapsulation keepalived sends, if any. `unset`: an mpls or ila
 * encapsulation, read and checked, which tsvs does not set (this kernel has neither).
 * keepalived ignores the reader's failures (the route keeps the encapsulation type, without
 * the addresses) and goes on at the word it failed on.
 */
export function parseEncap(c: Ctx, w: readonly Tok[], at: number): { last: number; encap?: EncapSpec; unset?: Tok } {
  let i = at + 1;
  if (i >= w.length) { c.warn(w[at]!, 'Missing encap type'); return { last: i }; }
  const ty = w[i++]!;
  if (ty.text === 'ip' || ty.text === 'ip6') {
    const r = encapIp(c, w, i, ty.text);
    return { last: r.i - 1, encap: r.encap };
  }
  if (ty.text === 'mpls' || ty.text === 'ila') {
    const v = w[i];
    if (!v) c.warn(ty, ty.text === 'mpls' ? 'missing address for MPLS encapsulation' : 'missing locator for ILA encapsulation');
    else {
      i++;
      if (ty.text === 'mpls' && !mplsLabels(v.text)) c.warn(v, `invalid mpls address ${v.text} for encapsulation`);
      if (ty.text === 'ila' && !ilaLocator(v.text)) c.warn(v, `invalid locator ${v.text} for ila encapsulation`);
    }
    return { last: i - 1, unset: ty };
  }
  c.warn(ty, `Unknown encap type - ${ty.text}`);
  // No step back here in keepalived: the word after the type is skipped.
  return { last: i };
}
