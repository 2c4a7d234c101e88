/** MISC_CHECK keywords (keepalived check_misc.c). */
import type { CheckerKeywords } from './common.ts';

export const miscKeywords: CheckerKeywords = {
  kinds: ['MISC_CHECK'],
  read(c, s, kind, o, common) {
    c.dispatch(s.body, {
      ...common,
      misc_path: { run: (x) => { const v = c.command(x, 'a script path'); if (v !== null) o['misc_path'] = v; } },
      misc_timeout: { run: (x) => { const v = c.num(x, 0, 'seconds', 0, 86400, false); if (v !== null) o['misc_timeout'] = v; c.extra(x, 1); } },
      misc_dynamic: { run: () => { o['misc_dynamic'] = true; } },
      user: { run: (x) => { const u = c.user(x); if (u) o['user'] = u; } },
    }, kind);
    if (o['misc_path'] === undefined) { c.err(c.after(s), "MISC_CHECK needs 'misc_path'"); return false; }
    return true;
  },
};
