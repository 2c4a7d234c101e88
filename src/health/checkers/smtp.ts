/** keepalived SMTP_CHECK: banner 220, HELO answered 250, then QUIT; within connect_timeout. */
import { hostname } from 'node:os';
import type { Checker } from '../checker.ts';
import type { SmtpCheckDef } from '../types.ts';
import { TcpSession, fail, ok, probeAddress, timeoutMs } from './util.ts';

/** A complete SMTP reply: lines "NNN-..." then a final "NNN ...". Returns the code or null if incomplete. */
export function smtpReply(b: Buffer): { code: number; len: number } | null {
  const s = b.toString('latin1');
  let i = 0;
  for (;;) {
    const nl = s.indexOf('\n', i);
    if (nl < 0) return null;
    const line = s.slice(i, nl).replace(/\r$/, '');
    i = nl + 1;
    if (!/^\d{3}-/.test(line)) return { code: /^\d{3}/.test(line) ? Number(line.slice(0, 3)) : -1, len: i };
  }
}

export const smtpChecker: Checker<SmtpCheckDef> = {
  kinds: ['SMTP_CHECK'],
  async run(def, ctx) {
    const t0 = performance.now();
    const { host, port } = probeAddress(def, ctx.target);
    const s = new TcpSession({ host, port, bindto: def.bindto, bindPort: def.bind_port, deadlineMs: timeoutMs(def) });
    try {
      if (!(await s.connect())) return fail(t0, s.failure?.code ?? 'closed', s.failure?.detail);
      await s.readUntil((b) => smtpReply(b) !== null);
      const banner = smtpReply(s.data);
      if (!banner) return fail(t0, s.failure?.code ?? 'smtp banner', s.failure?.detail ?? 'no banner');
      if (banner.code !== 220) return fail(t0, 'smtp banner', String(banner.code));
      s.consume(banner.len);
      s.write(`HELO ${def.helo_name ?? hostname()}\r\n`);
      await s.readUntil((b) => smtpReply(b) !== null);
      const helo = smtpReply(s.data);
      if (!helo) return fail(t0, s.failure?.code ?? 'smtp helo', s.failure?.detail ?? 'no reply');
      if (helo.code !== 250) return fail(t0, 'smtp helo', String(helo.code));
      s.write('QUIT\r\n');
      return ok(t0);
    } finally {
      s.close();
    }
  },
};
