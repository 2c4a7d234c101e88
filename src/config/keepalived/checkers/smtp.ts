/**
 * SMTP_CHECK keywords (keepalived check_smtp.c). Each `host { ... }` block (deprecated, still
 * read by keepalived 2.2.7) is a checker of its own with its own connection; the checker's own
 * connection keywords make one more, or, when none is given, the first host is the checker.
 */
import type { Ctx } from '../context.ts';
import type { CheckerDraft, CheckerKeywords } from './common.ts';
import { commonTable } from './common.ts';

/** What a host block sets for its own connection; everything else is the checker's. */
const CONNECTION = ['connect_ip', 'connect_port', 'bindto', 'bind_port', 'connect_timeout'];

function split(o: CheckerDraft): { conn: CheckerDraft; shared: CheckerDraft } {
  const conn: CheckerDraft = {}, shared: CheckerDraft = {};
  for (const [k, v] of Object.entries(o)) (CONNECTION.includes(k) ? conn : shared)[k] = v;
  return { conn, shared };
}

export const smtpKeywords: CheckerKeywords = {
  kinds: ['SMTP_CHECK'],
  read(c: Ctx, s, kind, o, common) {
    const hosts: CheckerDraft[] = [];
    c.dispatch(s.body, {
      ...common,
      helo_name: { run: (x) => { const t = c.arg(x, 0, 'a HELO name'); if (t) o['helo_name'] = t.text; c.extra(x, 1); } },
      host: { run: (x) => {
        // The host's connection keywords are its own; the others (retry...) are the checker's.
        const h: CheckerDraft = {};
        const own = commonTable(c, h);
        const mine = Object.fromEntries(CONNECTION.map((k) => [k, own[k]!]).filter(([, v]) => v));
        c.dispatch(x.body, { ...common, ...mine }, 'SMTP_CHECK host');
        hosts.push(h);
      } },
    }, kind);
    if (!hosts.length) return true;
    c.note(s.name, 'The SMTP_CHECK host block is deprecated. Please define additional checkers.');
    const { conn, shared } = split(o);
    const perHost = hosts.map((h) => ({ ...shared, ...h }));
    return Object.keys(conn).length ? [o, ...perHost] : perHost;
  },
};
