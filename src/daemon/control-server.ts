/**
 * The control API server: a Unix stream socket speaking JSON lines (./protocol.ts).
 *
 * Safety on start: the socket's directory is created 0700 if missing and must belong to us
 * (and not be writable by others) if it exists; a socket already served by a live daemon is
 * refused; a stale socket (nobody listening) is removed. The socket is chmod 0600.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { LineSplitter, PROTOCOL_VERSION, type Request, type Response } from './protocol.ts';
import { ControlError, SocketPathError } from '../core/errors.ts';
import { drainRequestError } from './drain.ts';

export { SocketPathError };

function probe(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const t = setTimeout(() => { s.destroy(); resolve(true); }, 1000);
    s.on('connect', () => { clearTimeout(t); s.destroy(); resolve(true); });
    s.on('error', () => { clearTimeout(t); resolve(false); });
  });
}

/** Checks and prepares the socket path; throws SocketPathError with a clear message. */
export async function prepareSocketPath(path: string): Promise<void> {
  const dir = dirname(path);
  const uid = process.getuid ? process.getuid() : 0;
  let st;
  try {
    st = lstatSync(dir);
  } catch {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new SocketPathError('EMKDIR', `cannot create ${dir}: ${(e as Error).message}`);
    }
    st = lstatSync(dir);
  }
  if (!st.isDirectory()) throw new SocketPathError('ENOTOURS', `${dir} is not a directory`);
  if (st.uid !== uid) throw new SocketPathError('ENOTOURS', `refusing ${dir}: owned by uid ${st.uid}, not by us (uid ${uid})`);
  if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) {
    throw new SocketPathError('ENOTOURS', `refusing ${dir}: writable by group or others (mode ${(st.mode & 0o7777).toString(8)})`);
  }
  let sst;
  try {
    sst = lstatSync(path);
  } catch {
    return;
  }
  if (!sst.isSocket()) throw new SocketPathError('ENOTSOCK', `refusing ${path}: exists and is not a socket`);
  if (await probe(path)) throw new SocketPathError('EINUSE', `${path} is already served by a running tsvs daemon`);
  unlinkSync(path); // stale socket from a daemon that died
}

export type Handler = (req: Request) => Promise<Record<string, unknown>>;

const OPS = new Set(['ping', 'status', 'reload', 'ipvsadm', 'announce', 'drain', 'drains', 'drain-cancel']);

export function validateRequest(x: unknown): { ok: true; req: Request } | { ok: false; id: string | number | null; code: string; message: string } {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return { ok: false, id: null, code: 'EBADREQ', message: 'request must be a JSON object' };
  const o = x as Record<string, unknown>;
  const id = typeof o['id'] === 'number' || typeof o['id'] === 'string' ? (o['id'] as number | string) : null;
  if (id === null) return { ok: false, id, code: 'EBADREQ', message: 'request needs an id (number or string)' };
  if (o['v'] !== PROTOCOL_VERSION) return { ok: false, id, code: 'EVERSION', message: `unsupported protocol version ${JSON.stringify(o['v'])}; this daemon speaks v${PROTOCOL_VERSION}` };
  if (typeof o['op'] !== 'string' || !OPS.has(o['op'])) return { ok: false, id, code: 'EUNKNOWNOP', message: `unknown op ${JSON.stringify(o['op'])}; known: ${[...OPS].join(', ')}` };
  if (o['op'] === 'ipvsadm') {
    if (!Array.isArray(o['argv']) || !o['argv'].every((a) => typeof a === 'string')) return { ok: false, id, code: 'EBADREQ', message: 'ipvsadm needs argv: string[]' };
    if (o['stdin'] !== undefined && typeof o['stdin'] !== 'string') return { ok: false, id, code: 'EBADREQ', message: 'stdin must be a string' };
  }
  if (o['op'] === 'announce' && o['action'] !== 'drain' && o['action'] !== 'resume' && o['action'] !== 'status') return { ok: false, id, code: 'EBADREQ', message: 'announce needs action: "drain", "resume" or "status"' };
  if (o['op'] === 'drain') {
    const bad = drainRequestError(o);
    if (bad) return { ok: false, id, code: 'EBADREQ', message: bad };
  }
  if (o['op'] === 'drain-cancel' && typeof o['drain'] !== 'string') return { ok: false, id, code: 'EBADREQ', message: 'drain-cancel needs drain: string (an id from drains)' };
  return { ok: true, req: o as unknown as Request };
}

export class ControlServer {
  private server: Server | null = null;
  private readonly clients = new Set<Socket>();
  constructor(readonly path: string, private readonly handler: Handler, private readonly onError: (e: Error) => void = () => {}) {}

  async listen(): Promise<void> {
    await prepareSocketPath(this.path);
    const server = createServer((sock) => this.serve(sock));
    await new Promise<void>((resolve, reject) => {
      const oldMask = process.umask(0o177);
      server.once('error', (e) => { process.umask(oldMask); reject(e); });
      server.listen(this.path, () => { process.umask(oldMask); resolve(); });
    });
    chmodSync(this.path, 0o600);
    server.on('error', (e) => this.onError(e));
    this.server = server;
  }

  private serve(sock: Socket): void {
    this.clients.add(sock);
    sock.setEncoding('utf8');
    let chain = Promise.resolve();
    const send = (r: Response): void => {
      if (!sock.destroyed) sock.write(JSON.stringify(r) + '\n');
    };
    const splitter = new LineSplitter(
      (line) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(line);
        } catch {
          send({ v: 1, id: null, ok: false, error: { code: 'EBADREQ', message: 'malformed JSON' } });
          return;
        }
        const v = validateRequest(parsed);
        if (!v.ok) {
          send({ v: 1, id: v.id, ok: false, error: { code: v.code, message: v.message } });
          return;
        }
        const req = v.req;
        // Requests of one client are answered in order.
        chain = chain.then(async () => {
          try {
            const body = await this.handler(req);
            send({ ...body, v: 1, id: req.id, ok: true });
          } catch (e) {
            const code = e instanceof ControlError ? e.code : 'EINTERNAL';
            send({ v: 1, id: req.id, ok: false, error: { code, message: (e as Error).message } });
          }
        });
      },
      () => {
        send({ v: 1, id: null, ok: false, error: { code: 'ETOOBIG', message: 'request line too long' } });
        sock.end();
      },
    );
    sock.on('data', (d: string) => splitter.push(d));
    sock.on('error', () => {});
    sock.on('close', () => this.clients.delete(sock));
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      for (const c of this.clients) c.end();
      setTimeout(() => { for (const c of this.clients) c.destroy(); }, 500).unref();
    });
    try { unlinkSync(this.path); } catch { /* already gone */ }
  }
}
