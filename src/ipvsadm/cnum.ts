/**
 * C library number/address parsers with glibc's exact acceptance rules, as ipvsadm uses them:
 * strtol (base 10 and 0), atoi, inet_aton, inet_pton.
 */
import { formatIp, parseIp, parseIpv4 } from '../core/addr.ts';

const LONG_MAX = (1n << 63n) - 1n;
const LONG_MIN = -(1n << 63n);
const SPACE = /^[ \t\n\v\f\r]*/;

/** strtol(s, &end, base) → value, end index, and whether ERANGE was set. */
export function strtol(s: string, base: 0 | 10): { value: bigint; end: number; erange: boolean } {
  let i = SPACE.exec(s)![0].length;
  let neg = false;
  if (s[i] === '+' || s[i] === '-') {
    neg = s[i] === '-';
    i++;
  }
  let b: number = base === 0 ? 10 : base;
  if (base === 0 && s[i] === '0') {
    if ((s[i + 1] === 'x' || s[i + 1] === 'X') && /[0-9a-fA-F]/.test(s[i + 2] ?? '')) {
      b = 16;
      i += 2;
    } else {
      b = 8;
    }
  }
  const digits = b === 16 ? /^[0-9a-fA-F]+/ : b === 8 ? /^[0-7]+/ : /^[0-9]+/;
  const m = digits.exec(s.slice(i));
  if (!m) return { value: 0n, end: 0, erange: false };
  let v = 0n;
  for (const ch of m[0]) v = v * BigInt(b) + BigInt(parseInt(ch, 16));
  if (neg) v = -v;
  let erange = false;
  if (v > LONG_MAX) { v = LONG_MAX; erange = true; }
  if (v < LONG_MIN) { v = LONG_MIN; erange = true; }
  return { value: v, end: i + m[0].length, erange };
}

/** strtoul(s, &end, 0) for one inet_aton part (digits only; caller guarantees a leading digit). */
function strtoulPart(s: string): { value: bigint; end: number } {
  const r = strtol(s, 0);
  return { value: r.value, end: r.end };
}

/** ipvsadm's string_to_number(): whole string must be a base-10 long within [min, max]; else -1. */
export function stringToNumber(s: string, min: number, max: number): number {
  const r = strtol(s, 10);
  if (r.end === 0 || r.end !== s.length || r.erange) return -1;
  if (r.value < BigInt(min) || r.value > BigInt(max)) return -1;
  return Number(r.value);
}

/** atoi(): (int)strtol(s, NULL, 10). */
export function atoi(s: string): number {
  const r = strtol(s, 10);
  return Number(BigInt.asIntN(32, r.value));
}

/** glibc inet_aton(): a, a.b, a.b.c, a.b.c.d with C-style (hex/octal/decimal) parts. Host-order u32 or null. */
export function inetAton(s: string): number | null {
  const bytes: number[] = [];
  let cp = 0;
  let val = 0n;
  let c = s[cp];
  for (;;) {
    if (c === undefined || !/[0-9]/.test(c)) return null;
    const r = strtoulPart(s.slice(cp));
    if (r.value > 0xffffffffn) return null;
    val = r.value;
    cp += r.end;
    c = s[cp];
    if (c === '.') {
      if (bytes.length > 2 || val > 0xffn) return null;
      bytes.push(Number(val));
      c = s[++cp];
    } else break;
  }
  if (c !== undefined && !/[ \t\n\v\f\r]/.test(c)) return null;
  const max = [0xffffffffn, 0xffffffn, 0xffffn, 0xffn][bytes.length]!;
  if (val > max) return null;
  let word = 0;
  for (let i = 0; i < bytes.length; i++) word += bytes[i]! * 2 ** (24 - 8 * i);
  return (word + Number(val)) >>> 0;
}

/** inet_pton(AF_INET6): canonical text or null. */
export function inetPton6(s: string): string | null {
  if (s.includes('%')) return null;
  const ip = parseIp(s);
  if (!ip || ip.af !== 6) return null;
  // glibc rejects a group with more than 4 hex digits and an IPv4 tail anywhere but the end;
  // core/addr enforces both. A trailing single ':' or leading single ':' is invalid in both.
  const text = s.toLowerCase();
  if ((text.startsWith(':') && !text.startsWith('::')) || (text.endsWith(':') && !text.endsWith('::'))) return null;
  // Canonical text as inet_ntop prints it (RFC 5952).
  return formatIp(ip);
}

/** inet_pton(AF_INET): strict dotted quad → host-order u32 or null. */
export function inetPton4(s: string): number | null {
  return parseIpv4(s);
}
