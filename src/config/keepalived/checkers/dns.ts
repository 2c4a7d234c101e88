/** DNS_CHECK keywords (keepalived check_dns.c). */
import type { DnsType } from '../../../health/types.ts';
import type { CheckerKeywords } from './common.ts';

const DNS_TYPES = new Set<DnsType>(['A', 'NS', 'CNAME', 'SOA', 'MX', 'TXT', 'AAAA']);

export const dnsKeywords: CheckerKeywords = {
  kinds: ['DNS_CHECK'],
  read(c, s, kind, o, common) {
    c.dispatch(s.body, {
      ...common,
      type: { run: (x) => {
        const t = c.arg(x, 0, 'a DNS type');
        if (t && DNS_TYPES.has(t.text.toUpperCase() as DnsType)) o['dns_type'] = t.text.toUpperCase();
        else if (t) c.err(t, `expected a DNS type (A|NS|CNAME|SOA|MX|TXT|AAAA), got '${t.text}'`);
      } },
      name: { run: (x) => { const t = c.arg(x, 0, 'a DNS name'); if (t) o['name'] = t.text; c.extra(x, 1); } },
    }, kind);
    return true;
  },
};
