/** UDP_CHECK keywords (keepalived check_udp.c). */
import type { CheckerKeywords } from './common.ts';

/**
 * keepalived's read_hex_str (lib/parser.c): hex digits two by two, blanks skipped, a digit
 * followed by a blank or the end is a byte of its own; X/x a wildcard nibble where allowed. Null
 * when a character is not hex (or nothing is read): keepalived's "Invalid hex string".
 */
export function readHexStr(str: string, allowWildcard: boolean): { hex: string; wildcard: boolean } | null {
  const nib = (ch: string): number => /[0-9a-fA-F]/.test(ch) ? parseInt(ch, 16) : allowWildcard && (ch === 'X' || ch === 'x') ? -2 : -1;
  const bytes: number[] = [];
  let wildcard = false;
  let i = 0;
  for (;;) {
    while (str[i] === ' ' || str[i] === '\t') i++;
    if (i >= str.length) break;
    let v = nib(str[i++]!);
    if (v === -1) return null;
    if (v === -2) { wildcard = true; v = 0; }
    if (i < str.length && str[i] !== ' ') {
      let w = nib(str[i++]!);
      if (w === -1) return null;
      if (w === -2) { wildcard = true; w = 0; }
      v = (v << 4) | w;
    }
    bytes.push(v);
  }
  if (!bytes.length) return null;
  return { hex: Buffer.from(bytes).toString('hex'), wildcard };
}

export const udpKeywords: CheckerKeywords = {
  kinds: ['UDP_CHECK'],
  read(c, s, kind, o, common) {
    c.dispatch(s.body, {
      ...common,
      // keepalived joins every word after the keyword (make_strvec_str) and reads the hex in it
      // (read_hex_str): blanks between digits are skipped, a lone digit is one byte.
      payload: { run: (x) => {
        if (!x.args.length) { c.warn(x.name, 'UDP_CHECK payload requires a payload'); return; }
        const r = readHexStr(x.args.map((a) => a.text).join(' '), false);
        if (r) o['payload'] = r.hex;
        else c.warn(x.args[0]!, 'Invalid hex string for UDP_CHECK payload');
      } },
      require_reply: { run: (x) => {
        o['require_reply'] = true;
        if (!x.args.length) return;
        const r = readHexStr(x.args.map((a) => a.text).join(' '), true);
        if (!r) { c.warn(x.args[0]!, 'Invalid hex string for UDP_CHECK reply'); return; }
        if (r.wildcard) { c.err(x.args[0]!, 'require_reply with X wildcards is not supported by tsvs'); return; }
        o['require_reply'] = r.hex;
      } },
      min_reply_length: { run: (x) => { const v = c.num(x, 0, 'a length', 0, 65535); if (v !== null) o['min_reply_length'] = v; } },
      max_reply_length: { run: (x) => { const v = c.num(x, 0, 'a length', 0, 65535); if (v !== null) o['max_reply_length'] = v; } },
    }, kind);
    return true;
  },
};
