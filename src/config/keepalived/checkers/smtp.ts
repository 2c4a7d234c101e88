/** SMTP_CHECK keywords (keepalived check_smtp.c). */
import type { CheckerKeywords } from './common.ts';

export const smtpKeywords: CheckerKeywords = {
  kinds: ['SMTP_CHECK'],
  read(c, s, kind, o, common) {
    let hosts = 0;
    c.dispatch(s.body, {
      ...common,
      helo_name: { run: (x) => { const t = c.arg(x, 0, 'a HELO name'); if (t) o['helo_name'] = t.text; c.extra(x, 1); } },
      host: { run: (x) => {
        hosts++;
        if (hosts > 1) { c.warn(x.name, "only the first 'host' block of SMTP_CHECK is used; this one is ignored"); return; }
        c.warn(x.name, "'host' blocks in SMTP_CHECK are deprecated; its options are applied to the checker");
        c.dispatch(x.body, common, 'SMTP_CHECK host');
      } },
    }, kind);
    return true;
  },
};
