/**
 * The control API wire protocol (docs/CONTROL-API.md): JSON lines over a Unix stream socket.
 * One request object per line, one response object per line, matched by `id`; a client may
 * pipeline requests. Version 1.
 */
import { connect } from 'node:net';
import { DaemonUnreachable } from '../core/errors.ts';
import type { ServiceKey } from '../core/types.ts';
import { LineReader } from './line-reader.ts';

export const PROTOCOL_VERSION = 1;
/**
 * Longest request line the daemon reads (a -R of 110,000 rule lines is 5 MB). Parsing one this
 * long holds the daemon's event loop about 60 ms, which bounds what one request can delay.
 */
export const MAX_REQUEST_BYTES = 16 * 1024 * 1024;
/** Longest answer line a client reads (a -L -n -c of a million connections fits). */
export const MAX_ANSWER_BYTES = 512 * 1024 * 1024;
/** How long a client retries when the daemon answers EBUSY (too many clients at once). */
export const BUSY_RETRY_MS = 3000;

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
  | { v: 1; id: number | string; op: 'drain-cancel'; drain: string }
  /** Dry run of scheduling for one client (src/daemon/explain.ts); changes nothing. */
  | { v: 1; id: number | string; op: 'explain'; service: ServiceKey; client: string; cport?: number };

export interface ErrorBody {
  /** Stable code: EBADREQ, EVERSION, EUNKNOWNOP, ETOOBIG, EBUSY, EMFILE, ERELOAD, EINTERNAL; announce: ENOBGP; drains: ESRCH, ENOENT, EEXIST, EINVAL, ENOTFOUND; explain: ESRCH, EINVAL. */
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

export { DaemonUnreachable };

/**
 * Sends one request and resolves with its response. Rejects with DaemonUnreachable when nobody
 * answers. A daemon with too many clients answers EBUSY at once: retried for BUSY_RETRY_MS
 * (within timeoutMs), then that answer is returned.
 */
export async function callDaemon(socketPath: string, req: Request, timeoutMs = 120_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  const retryUntil = Date.now() + Math.min(BUSY_RETRY_MS, timeoutMs);
  for (let wait = 20; ; wait = Math.min(wait * 2, 250)) {
    const res = await callOnce(socketPath, req, Math.max(1, deadline - Date.now()));
    if (res.ok || res.error.code !== 'EBUSY' || Date.now() + wait > retryUntil) return res;
    await new Promise((r) => setTimeout(r, wait * (0.5 + Math.random())));
  }
}

function callOnce(socketPath: string, req: Request, timeoutMs: number): Promise<Response> {
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
    const reader = new LineReader(
      MAX_ANSWER_BYTES,
      (line) => {
        let msg: Response;
        try {
          msg = JSON.parse(line.toString('utf8')) as Response;
        } catch {
          finish(new DaemonUnreachable(socketPath, 'EPROTO', `malformed answer from ${socketPath}`));
          return;
        }
        if (msg.id === req.id || msg.id === null) finish(null, msg);
      },
      () => finish(new DaemonUnreachable(socketPath, 'EPROTO', 'answer too big')),
    );
    sock.on('data', (d: Buffer) => reader.push(d));
    sock.on('error', (e: NodeJS.ErrnoException) => finish(new DaemonUnreachable(socketPath, e.code ?? 'EIO', e.message)));
    sock.on('close', () => finish(new DaemonUnreachable(socketPath, 'ECONNRESET', `${socketPath} closed the connection`)));
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
  });
}
