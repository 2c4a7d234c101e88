/** UDP_CHECK keywords (keepalived check_udp.c). */
import type { CheckerKeywords } from './common.ts';

export const udpKeywords: CheckerKeywords = {
  kinds: ['UDP_CHECK'],
  read(c, s, kind, o, common) {
    c.dispatch(s.body, {
      ...common,
      payload: { run: (x) => {
        const t = c.arg(x, 0, 'a hex payload');
        if (t && /^([0-9a-fA-F]{2})+$/.test(t.text)) o['payload'] = t.text.toLowerCase();
        else if (t) c.err(t, `expected hex bytes (an even number of hex digits), got '${t.text}'`);
      } },
      require_reply: { run: (x) => {
        const t = x.args[0];
        if (!t) { o['require_reply'] = true; return; }
        if (/^([0-9a-fA-F]{2})+$/.test(t.text)) o['require_reply'] = t.text.toLowerCase();
        else c.err(t, `expected hex bytes, got '${t.text}'`);
      } },
      min_reply_length: { run: (x) => { const v = c.num(x, 0, 'a length', 0, 65535); if (v !== null) o['min_reply_length'] = v; } },
      max_reply_length: { run: (x) => { const v = c.num(x, 0, 'a length', 0, 65535); if (v !== null) o['max_reply_length'] = v; } },
    }, kind);
    return true;
  },
};
