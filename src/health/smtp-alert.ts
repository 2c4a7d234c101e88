/**
 * keepalived's e-mail alerts (core/smtp.c): on a VRRP transition, a sync group's, or a real
 * server's check going up or down, one message to every `notification_email` address through
 * `smtp_server`, in keepalived's dialogue (HELO, MAIL FROM, one RCPT TO per address, DATA,
 * headers and body, QUIT) and its subject and body texts, so operators' mail filters keep working.
 * Every reply must carry the code keepalived expects; a wrong one ends the dialogue with QUIT.
 * Each wait (connect, every reply) is bounded by smtp_connect_timeout (keepalived: 30 s).
 */
import { Socket } from 'node:net';
import { hostname } from 'node:os';
import { smtpReply } from './checkers/smtp.ts';
import type { HealthAlert } from './types.ts';

export interface SmtpAlertSettings {
  /** notification_email: nothing is sent without at least one address and a server. */
  readonly to: readonly string[];
  /** notification_email_from (keepalived's default: keepalived@HOSTNAME). */
  readonly from?: string;
  readonly server?: string;
  /** smtp_server's port (keepalived: 25). */
  readonly port?: number;
  /** smtp_helo_name (keepalived: "localhost"). */
  readonly helo?: string;
  /** router_id, the subject's [tag] (keepalived's default: the host name). */
  readonly routerId?: string;
  /** smtp_connect_timeout in seconds (keepalived: 30). */
  readonly timeout?: number;
}

export const SMTP_DEFAULT_PORT = 25;
export const SMTP_DEFAULT_TIMEOUT_S = 30;
/** keepalived's MAX_HEADERS_LENGTH / MAX_BODY_LENGTH: longer subjects and bodies are cut. */
const MAX_SUBJECT = 255;
const MAX_BODY = 511;

export interface SmtpMessage {
  readonly subject: string;
  readonly body: string;
}

export type SmtpOutcome = { readonly ok: true } | { readonly ok: false; readonly error: string };

/** keepalived's subjects and bodies: VRRP instance and group transitions, real server checks. */
export const alertText = {
  vrrp(routerId: string, instance: string, state: string): SmtpMessage | null {
    const t = VRRP_TEXT[state];
    return t ? { subject: `[${routerId}] VRRP Instance ${instance} - ${t[0]}`, body: t[1] } : null;
  },
  group(routerId: string, group: string, state: string): SmtpMessage | null {
    const t = GROUP_TEXT[state];
    return t ? { subject: `[${routerId}] VRRP Group ${group} - ${t[0]}`, body: t[1] } : null;
  },
  /** A health checking alert (the manager's onAlert): keepalived's SMTP_MSG_RS and SMTP_MSG_VS. */
  health(routerId: string, a: HealthAlert): SmtpMessage {
    const subject = a.kind === 'vs' ? `[${routerId}] Virtualserver ${a.vs} - ${a.state}` : `[${routerId}] Realserver ${a.rs} of virtual server ${a.vs} - ${a.state}`;
    return { subject, body: a.body };
  },
  /** `rs` and `vs` as keepalived prints them: [IP]:tcp:PORT. */
  realServer(routerId: string, rs: string, vs: string, up: boolean, checker: string): SmtpMessage {
    return { subject: `[${routerId}] Realserver ${rs} of virtual server ${vs} - ${up ? 'UP' : 'DOWN'}`, body: `=> ${checker} ${up ? 'succeed' : 'failed'} on service <=` };
  },
};

const VRRP_TEXT: Readonly<Record<string, readonly [string, string]>> = {
  MASTER: ['Entering MASTER state', '=> VRRP Instance is now owning VRRP VIPs <='],
  BACKUP: ['Entering BACKUP state', '=> VRRP Instance is no longer owning VRRP VIPs <='],
  FAULT: ['Entering FAULT state', '=> VRRP Instance is no longer owning VRRP VIPs <='],
  STOP: ['Stopping', '=> VRRP Instance stopping <='],
};
const GROUP_TEXT: Readonly<Record<string, readonly [string, string]>> = {
  MASTER: ['Entering MASTER state', '=> All VRRP group instances are now in MASTER state <='],
  BACKUP: ['Entering BACKUP state', '=> All VRRP group instances are now in BACKUP state <='],
  FAULT: ['Entering FAULT state', '=> All VRRP group instances are now in FAULT state <='],
  STOP: ['Stopping', '=> All VRRP group instances are now stopping <='],
};

/** The host name keepalived uses for router_id and the sender's default (its nodename). */
export const localName = (): string => hostname();

/** RFC 822 date as keepalived's strftime("%a, %d %b %Y %H:%M:%S %z") in local time. */
export function rfc822Date(d: Date): string {
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getDay()]!;
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getMonth()]!;
  const p = (n: number) => String(n).padStart(2, '0');
  const off = -d.getTimezoneOffset();
  const z = `${off < 0 ? '-' : '+'}${p(Math.floor(Math.abs(off) / 60))}${p(Math.abs(off) % 60)}`;
  return `${day}, ${p(d.getDate())} ${mon} ${d.getFullYear()} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${z}`;
}

/** Whether alerts can be sent at all (keepalived: an address and a server are both needed). */
export const canAlert = (s: SmtpAlertSettings): boolean => s.to.length > 0 && !!s.server;

/**
 * Sends one alert; resolves with the outcome (never rejects). The subject gets no [tag] here:
 * alertText builds keepalived's subjects with it.
 */
export function sendSmtpAlert(s: SmtpAlertSettings, m: SmtpMessage, now: Date = new Date()): Promise<SmtpOutcome> {
  if (!canAlert(s)) return Promise.resolve({ ok: false, error: 'no notification_email or smtp_server' });
  const from = s.from ?? `keepalived@${localName()}`;
  const waitMs = Math.max(1, s.timeout ?? SMTP_DEFAULT_TIMEOUT_S) * 1000;
  const data = `Date: ${rfc822Date(now)}\r\nFrom: ${from}\r\nSubject: ${m.subject.slice(0, MAX_SUBJECT)}\r\n` +
    `X-Mailer: Keepalived\r\nTo: ${s.to.join(', ')}\r\n\r\n${m.body.slice(0, MAX_BODY)}\r\n\r\n.\r\n`;
  // keepalived's stages: the reply code each one waits for, then what it sends next.
  const steps: { expect: number; name: string; send: string }[] = [
    { expect: 220, name: '(E)SMTP', send: `HELO ${s.helo ?? 'localhost'}\r\n` },
    { expect: 250, name: 'HELO', send: `MAIL FROM:<${from}>\r\n` },
    ...s.to.map((to, i) => ({ expect: 250, name: i === 0 ? 'MAIL' : 'RCPT', send: `RCPT TO:<${to}>\r\n` })),
    { expect: 250, name: 'RCPT', send: 'DATA\r\n' },
    { expect: 354, name: 'DATA', send: data },
    { expect: 250, name: 'BODY', send: 'QUIT\r\n' },
    { expect: 221, name: 'QUIT', send: '' },
  ];
  const where = `${s.server}:${s.port ?? SMTP_DEFAULT_PORT}`;
  return new Promise((resolve) => {
    const sock = new Socket();
    let buf = Buffer.alloc(0);
    let stage = 0;
    let error: string | null = null;
    let done = false;
    const finish = (o: SmtpOutcome) => {
      if (done) return;
      done = true;
      sock.destroy();
      resolve(o);
    };
    const quit = (why: string) => {
      error ??= why;
      stage = steps.length - 1;
      sock.write('QUIT\r\n');
    };
    sock.setTimeout(waitMs, () => {
      // keepalived: a timed-out read sends QUIT (unless QUIT is what timed out) and gives up.
      if (stage >= steps.length - 1 || !sock.writable) finish({ ok: false, error: error ?? `timeout talking to SMTP server ${where}` });
      else { quit(`timeout reading from SMTP server ${where}`); }
    });
    sock.on('error', (e) => finish({ ok: false, error: error ?? `SMTP connection error to ${where}: ${e.message}` }));
    sock.on('close', () => finish(error ? { ok: false, error } : stage >= steps.length ? { ok: true } : { ok: false, error: `SMTP server ${where} closed the connection` }));
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 1024) { buf = Buffer.alloc(0); quit(`reply from SMTP server ${where} overflows the buffer`); return; }
      for (;;) {
        const r = smtpReply(buf);
        if (!r) return;
        buf = buf.subarray(r.len);
        const st = steps[stage]!;
        if (r.code !== st.expect) {
          if (stage === steps.length - 1) { finish({ ok: false, error: error ?? `QUIT answered ${r.code}` }); return; }
          quit(`Error processing ${st.name} cmd on SMTP server ${where}. SMTP status code = ${r.code}`);
          continue;
        }
        stage++;
        if (stage >= steps.length) { finish(error ? { ok: false, error } : { ok: true }); return; }
        sock.write(st.send);
      }
    });
    sock.connect({ host: s.server!, port: s.port ?? SMTP_DEFAULT_PORT });
  });
}
