/**
 * Numbers as keepalived 2.2.7 reads them under `-t` (lib/parser.c read_unsigned_func,
 * read_int_func, read_decimal_unsigned_long_func): what it accepts, and its words for what it
 * does not ("invalid number", "outside range [..]"). A value it refuses leaves the setting as it
 * was, so these say so as warnings; the caller adds keepalived's own message for the keyword.
 */
import type { Tok } from '../kalex.ts';
import type { Ctx } from './context.ts';

const WS = /^[ \t\f\n\r\v]*/;

/** strtoul/strtol in base 10: the digits read and whether anything is left over. */
function strto(text: string, signed: boolean): { value: number; rest: string; negative: boolean } {
  const s = text.replace(WS, '');
  const m = (signed ? /^[+-]?\d+/ : /^[+-]?\d+/).exec(s);
  if (!m) return { value: 0, rest: s, negative: s.startsWith('-') };
  return { value: Number(m[0]), rest: s.slice(m[0].length), negative: s.startsWith('-') };
}

/** read_unsigned: a decimal integer in [min, max]; null (said) otherwise. */
export function kaUnsigned(c: Ctx, t: Tok, min: number, max: number): number | null {
  const r = strto(t.text, false);
  if (r.negative) c.warn(t, `negative number '${t.text}'`);
  else if (r.rest) c.warn(t, `invalid number '${t.text}'`);
  else if (r.value > 0xffffffff) c.warn(t, `number '${t.text}' outside unsigned integer range`);
  else if (r.value < min || r.value > max) c.warn(t, `number '${t.text}' outside range [${min}, ${max}]`);
  else return r.value;
  return null;
}

/** read_int: a decimal integer in [min, max]; null (said) otherwise. */
export function kaInt(c: Ctx, t: Tok, min: number, max: number): number | null {
  const r = strto(t.text, true);
  if (r.rest || !/\d/.test(t.text)) c.warn(t, `invalid number '${t.text}'`);
  else if (r.value < -0x80000000 || r.value > 0x7fffffff) c.warn(t, `number '${t.text}' outside integer range`);
  else if (r.value < min || r.value > max) c.warn(t, `number '${t.text}' outside range [${min}, ${max}]`);
  else return r.value;
  return null;
}

/**
 * read_decimal_unsigned: a decimal with at most `places` decimals, in [min, max] (same units as
 * the text, e.g. seconds); null (said) otherwise. More decimals are said and rounded, as keepalived.
 */
export function kaDecimal(c: Ctx, t: Tok, min: number, max: number, places = 6): number | null {
  const text = t.text;
  if (text.startsWith('-')) { c.warn(t, `negative number '${text}'`); return null; }
  const dp = text.indexOf('.');
  let intPart = dp < 0 ? text : text.slice(0, dp);
  let frac = dp < 0 ? '' : text.slice(dp + 1);
  let roundUp = false;
  if (frac.length > places) {
    c.warn(t, `number '${text}' has too many decimal places`);
    roundUp = (frac[places] ?? '0') >= '5';
    frac = frac.slice(0, places);
  }
  const digits = intPart + frac.padEnd(places, '0');
  if (!/^\+?\d+$/.test(digits)) { c.warn(t, `invalid number '${text}'`); return null; }
  intPart = digits;
  const scaled = Number(intPart) + (roundUp ? 1 : 0);
  const unit = 10 ** places;
  const lo = Math.round(min * unit), hi = Math.round(max * unit);
  if (scaled < lo || scaled > hi) {
    const f = (v: number) => `${Math.floor(v / unit)}.${String(v % unit).padStart(places, '0')}`;
    c.warn(t, `number '${text}' outside range [${f(lo)}, ${f(hi)}]`);
    return null;
  }
  return scaled / unit;
}

/** check_true_false: on/true/yes, off/false/no; null otherwise. */
export function kaBool(text: string): boolean | null {
  if (text === 'true' || text === 'on' || text === 'yes') return true;
  if (text === 'false' || text === 'off' || text === 'no') return false;
  return null;
}
