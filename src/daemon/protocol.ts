/**
 * The control API wire protocol (docs/CONTROL-API.md): JSON lines over a Unix stream socket.
 * One request object per line, one response object per line, matched by `id`; a client may
 * pipeline requests. Version 1.
 */
import { connect } from 'node:net';
import { DaemonUnreachable } from '../core/errors.ts';
import type { ServiceKey } from '../core/types.ts';

export const PROTOCOL_VERSION = 1;
/** Longest accepted line (a -R of 10,000s of rules fits easily). */
export const MAX_LINE = 64 * 1024 * 1024;

export type Request =
  | { v: 1; id: number | string; op: 'ping' }
  | { v: 1; id: number | string; op: 'status' }
  | { v: 1; id: number | string; op: 'reload' }
  | { v: 1; id: number | string; op: 'ipvsadm'; argv: string[]; stdin?: string }
  /** BGP announcement (--bgp bird; src/daemon/announce.ts): drain withdraws every prefix and keeps forwarding. */
  | { v: 1; id: number | string; op: 'announce'; action: 'drain' | 'resume' | 'status' }
  /** Graceful drain (src/daemon/drain.ts); timeout in seconds. */
  | { v: 1; id: number | string; op: 'drain'; service: ServiceKey; addr: string; port: number; timeout?: number; then?: 'delete' | 'keep' }
  | { v: 1; id: number | string; op: 'drains' }
  | { v: 1; id: number | string; op: 'drain-cancel'; drain: string };

export interface ErrorBody {
  /** Stable code: EBADREQ, EVERSION, EUNKNOWNOP, ETOOBIG, ERELOAD, EINTERNAL; announce: ENOBGP; drains: ESRCH, ENOENT, EEXIST, EINVAL, ENOTFOUND. */
  code: string;
  message: string;
}

export type Response =
  | ({ v: 1; id: number | string | null; ok: true } & Record<string, unknown>)
  | { v: 1; id: number | string | null; ok: false; error: ErrorBody };

export interface IpvsadmResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Splits a byte stream into lines; calls onLine for each complete line (without the newline). */
export class LineSplitter {
  private buf = '';
  constructor(private readonly onLine: (line: string) => void, private readonly onTooBig: () => void) {}
  push(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (line.trim() !== '') this.onLine(line);
    }
    if (this.buf.length > MAX_LINE) {
      this.buf = '';
      this.onTooBig();
    }
  }
}

export { DaemonUnreachable };

/** Sends one request and resolves with its response. Rejects with DaemonUnreachable when nobody answers. */
export function callDaemon(socketPath: string, req: Request, timeoutMs = 120_000): Promise<Response> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    let done = false;
    const finish = (err: Error | null, res?: Response): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(res!);
    };
    const timer = setTimeout(() => finish(new DaemonUnreachable(socketPath, 'ETIMEDOUT', `no answer from ${socketPath} within ${timeoutMs} ms`)), timeoutMs);
    sock.setEncoding('utf8');
    const splitter = new LineSplitter(
      (line) => {
        let msg: Response;
        try {
          msg = JSON.parse(line) as Response;
        } catch {
          finish(new DaemonUnreachable(socketPath, 'EPROTO', `malformed answer from ${socketPath}`));
          return;
        }
        if (msg.id === req.id || msg.id === null) finish(null, msg);
      },
      () => finish(new DaemonUnreachable(socketPath, 'EPROTO', 'answer too big')),
    );
    sock.on('data', (d: string) => splitter.push(d));
    sock.on('error', (e: NodeJS.ErrnoException) => finish(new DaemonUnreachable(socketPath, e.code ?? 'EIO', e.message)));
    sock.on('close', () => finish(new DaemonUnreachable(socketPath, 'ECONNRESET', `${socketPath} closed the connection`)));
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
  });
}
