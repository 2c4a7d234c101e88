/**
 * The bodies of keepalived's checker e-mail alerts (check_tcp.c, check_http.c, check_misc.c,
 * check_dns.c, check_ping.c, check_udp.c, check_smtp.c; keepalived 2.2.7), and its quorum alert
 * (ipwrapper.c do_vs_notifies), word for word: operators' mail filters match on them.
 * Pure: the subject is built by ./smtp-alert.ts alertText.
 */
import type { CheckResult, CheckerDef } from './types.ts';

const code = (r: CheckResult): string => r.reason.split(':', 1)[0]!;

/**
 * SMTP_CHECK's failure text (check_smtp.c smtp_final's formats), `server` as
 * inet_sockaddrtopair prints the checked address: "[10.0.0.2]:25".
 */
function smtpFailure(r: CheckResult, server: string): string {
  switch (code(r)) {
    case 'timeout': return r.reason.includes('connect') ? `Connection timeout to server ${server}` : `Read timeout from server ${server}`;
    case 'refused': case 'reset': case 'error': return `Error connecting to server ${server}`;
    case 'unreachable': return `Could not connect to server ${server}`;
    case 'smtp banner': return `Bad greeting banner from server ${server}`;
    case 'smtp helo': return `Bad HELO response from server ${server}`;
    case 'closed': return `Read failure from server ${server}`;
    default: return `Unknown connection error to server ${server}`;
  }
}

/**
 * What keepalived writes in the mail body when checker `def` turns up (`up`) or down with result
 * `r`; `server` is the checked address as "[addr]:port". null for checkers keepalived has no
 * mail for (ldirectord's kinds).
 */
export function checkerAlertBody(def: CheckerDef, up: boolean, r: CheckResult, server: string): string | null {
  switch (def.type) {
    case 'TCP_CHECK': return `=> TCP CHECK ${up ? 'succeed' : 'failed'} on service <=`;
    case 'HTTP_GET': case 'SSL_GET': return up ? '=> CHECK succeed on service <=' : '=> CHECK failed on service : HTTP request failed <=';
    case 'MISC_CHECK': return `=> MISC CHECK ${up ? 'succeeded' : code(r) === 'timeout' ? 'timed out' : 'failed'} on service <=`;
    case 'DNS_CHECK': return `=> DNS_CHECK: ${up ? 'succeed' : 'failed'} on service <=`;
    case 'PING_CHECK': return `=> ICMP CHECK ${up ? 'succeed' : 'failed'} on service <=`;
    case 'UDP_CHECK': return `=> UDP CHECK ${up ? 'succeed' : 'failed'} on service <=`;
    case 'SMTP_CHECK': return up ? '=> CHECK succeed on service <=' : `=> CHECK failed on service : ${smtpFailure(r, server)} <=`;
    default: return null;
  }
}

/**
 * The quorum alert's body: "=> Gained quorum 2+0=2 <= 3 <=" (quorum, hysteresis, the threshold
 * crossed, the live weight), "Starting with quorum down" when it is the start's verdict.
 */
export function quorumAlertBody(up: boolean, init: boolean, quorum: number, hysteresis: number, threshold: number, weight: number): string {
  const what = up ? (init ? 'Starting with quorum up' : 'Gained quorum') : (init ? 'Starting with quorum down' : 'Lost quorum');
  return `=> ${what} ${quorum}+${hysteresis}=${threshold} <= ${weight} <=`;
}
