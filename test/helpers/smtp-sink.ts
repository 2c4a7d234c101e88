/**
 * A recording SMTP server for tests: answers keepalived's dialogue (220, 250, 354, 221) and keeps
 * every command and the DATA text it received. Run as a script it listens on 127.0.0.1:PORT and
 * appends one JSON line per finished session to FILE (for a namespace's own loopback):
 *   node --import tsx test/helpers/smtp-sink.ts PORT FILE
 */
import { createServer, type Server } from 'node:net';
import { appendFileSync } from 'node:fs';

/** The global_defs block the alert tests give keepalived and tsvs alike: two recipients, a sink on 127.0.0.1:`port`, and `extra` lines. */
export function alertGlobalDefs(port: number, extra: readonly string[] = []): string {
  return `global_defs {
  router_id lb
  notification_email {
    ops@example.org
    oncall@example.org
  }
  notification_email_from lb@example.org
  smtp_server 127.0.0.1 ${port}
  smtp_helo_name lb.example.org
  smtp_connect_timeout 5
${extra.map((l) => `  ${l}\n`).join('')}}
`;
}

export interface SmtpSession {
  readonly commands: string[];
  /** The DATA text, without the final ".". */
  data: string;
}

export interface SmtpSink {
  readonly server: Server;
  readonly port: number;
  readonly sessions: SmtpSession[];
  close(): Promise<void>;
}

export interface SinkOptions {
  /** Reply code for a command name (e.g. { RCPT: 550 }); the defaults are keepalived's expected codes. */
  readonly codes?: Readonly<Record<string, number>>;
  /** Never answer (a silent server: the client's timeout is what ends the session). */
  readonly silent?: boolean;
  readonly onSession?: (s: SmtpSession) => void;
}

export function startSmtpSink(port = 0, opts: SinkOptions = {}, host = '127.0.0.1'): Promise<SmtpSink> {
  const sessions: SmtpSession[] = [];
  const code = (cmd: string, dflt: number) => opts.codes?.[cmd] ?? dflt;
  const server = createServer((sock) => {
    const s: SmtpSession = { commands: [], data: '' };
    sessions.push(s);
    let buf = '';
    let inData = false;
    const say = (c: number, text: string) => { if (!opts.silent) sock.write(`${c} ${text}\r\n`); };
    sock.on('error', () => {});
    sock.on('close', () => opts.onSession?.(s));
    say(code('BANNER', 220), 'sink ESMTP');
    sock.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          s.data = buf.slice(0, end);
          buf = buf.slice(end + 5);
          inData = false;
          say(code('BODY', 250), 'queued');
          continue;
        }
        const nl = buf.indexOf('\r\n');
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        s.commands.push(line);
        const verb = line.split(/[ :]/)[0]!.toUpperCase();
        if (verb === 'DATA') { const c = code('DATA', 354); say(c, 'go ahead'); inData = c === 354; }
        else if (verb === 'QUIT') { say(code('QUIT', 221), 'bye'); sock.end(); }
        else say(code(verb, 250), 'ok');
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const a = server.address();
      resolve({
        server, port: typeof a === 'object' && a ? a.port : port, sessions,
        close: () => new Promise((r) => server.close(() => r())),
      });
    });
  });
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  const [port, file] = process.argv.slice(2);
  await startSmtpSink(Number(port), { onSession: (s) => appendFileSync(file!, JSON.stringify(s) + '\n') });
}
