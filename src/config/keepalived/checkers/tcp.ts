/** TCP_CHECK keywords (keepalived check_tcp.c): only the common connection keywords. */
import type { CheckerKeywords } from './common.ts';

export const tcpKeywords: CheckerKeywords = {
  kinds: ['TCP_CHECK'],
  read(c, s, kind, _o, common) {
    c.dispatch(s.body, common, kind);
    return true;
  },
};
