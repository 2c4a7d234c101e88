/** PING_CHECK keywords (keepalived check_ping.c): only the common connection keywords. */
import type { CheckerKeywords } from './common.ts';

export const pingKeywords: CheckerKeywords = {
  kinds: ['PING_CHECK'],
  read(c, s, kind, _o, common) {
    c.dispatch(s.body, common, kind);
    return true;
  },
};
