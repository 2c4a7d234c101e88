/**
 * The control API server: a Unix stream socket speaking JSON lines (./protocol.ts).
 *
 * Safety on start: the socket's directory is created 0700 if missing and must belong to us
 * (and not be writable by others) if it exists; a socket already served by a live daemon is
 * refused; a stale socket (nobody listening) is removed. The socket is chmod 0600.
 */
import { connect, Socket } from 'node:net';
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { MAX_REQUEST_BYTES, PROTOCOL_VERSION, type Request, type Response } from './protocol.ts';
import { ControlError, SocketPathError } from '../core/errors.ts';
import { drainRequestError } from './drain.ts';
import { explainRequestError } from './explain.ts';
import { LineReader } from './line-reader.ts';
import { answerPieces, escapedPieces } from './answer-pieces.ts';
import { listenUnix, writeNow, type UnixListener } from '../os/unix-listener.ts';

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

const OPS = new Set(['ping', 'status', 'reload', 'ipvsadm', 'announce', 'drain', 'drains', 'drain-cancel', 'explain']);

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
  if (o['op'] === 'explain') {
    const bad = explainRequestError(o);
    if (bad) return { ok: false, id, code: 'EBADREQ', message: bad };
  }
  if (o['op'] === 'drain-cancel' && typeof o['drain'] !== 'string') return { ok: false, id, code: 'EBADREQ', message: 'drain-cancel needs drain: string (an id from drains)' };
  return { ok: true, req: o as unknown as Request };
}

/**
 * What one control client may cost the daemon (docs/CONTROL-API.md "Limits"). The defaults are
 * here and nowhere else; tests pass smaller ones.
 */
export interface ControlLimits {
  /** Longest request line in bytes: refused with ETOOBIG as soon as this many bytes came without a newline. */
  readonly maxRequestBytes: number;
  /** Partial request bytes held for all clients together; the client whose data passes it gets EBUSY. */
  readonly maxBufferedRequestBytes: number;
  /** Clients connected at once; one more is answered EBUSY and closed. */
  readonly maxClients: number;
  /** Requests read ahead of their answers per client; its socket is not read while this many wait. */
  readonly maxQueuedRequests: number;
  /** Unsent answer bytes of one client above which its next request waits until it reads. */
  readonly outputHighWater: number;
  /** Unsent answer bytes of all clients together above which every next request waits. */
  readonly maxBufferedOutputBytes: number;
  /** A client with no request in progress that sends and reads nothing for this long is closed. */
  readonly idleTimeoutMs: number;
  /** Pending connections the kernel queues for accept (capped by net.core.somaxconn). */
  readonly backlog: number;
  /** Connections accepted per turn of the event loop (the rest wait in the backlog). */
  readonly acceptsPerTurn: number;
}

export const CONTROL_LIMITS: ControlLimits = Object.freeze({
  maxRequestBytes: MAX_REQUEST_BYTES,
  maxBufferedRequestBytes: 2 * MAX_REQUEST_BYTES,
  maxClients: 128,
  maxQueuedRequests: 16,
  outputHighWater: 256 * 1024,
  maxBufferedOutputBytes: 64 * 1024 * 1024,
  idleTimeoutMs: 60_000,
  backlog: 1024,
  acceptsPerTurn: 8,
});

/** Counters of the control socket (status `control`). */
export interface ControlStats {
  clients: number;
  accepted: number;
  /** Refused with EBUSY: too many clients, or too many request bytes buffered. */
  busy: number;
  /** Refused with EMFILE: the daemon had no descriptor left (answered on a spare one). */
  noDescriptors: number;
  /** Refused with ETOOBIG. */
  tooBig: number;
  /** Closed after idleTimeoutMs without activity (or without reading their answers). */
  idleClosed: number;
  /** Times a client's socket was not read because its answers or requests were backed up. */
  backpressured: number;
}

interface Client {
  readonly sock: Socket;
  readonly reader: LineReader;
  /** Request lines read, not yet handled (in order). */
  readonly queue: string[];
  /** A request of this client is being handled. */
  busy: boolean;
  /** Bytes of its partial line counted in the server's total. */
  partial: number;
  /** The client half-closed: answer what was read, then close. */
  ended: boolean;
  /** The last answer before closing (ETOOBIG, EBUSY), sent once the queue is answered. */
  final: Response | null;
  paused: boolean;
}

function errorLine(code: string, message: string, id: string | number | null = null): string {
  return JSON.stringify({ v: 1, id, ok: false, error: { code, message } } satisfies Response) + '\n';
}

/**
 * One request per client at a time, each on its own turn of the event loop (setImmediate), so a
 * client pipelining requests cannot hold the loop; a client that does not read its answers stops
 * being read (backpressure) instead of growing the daemon's memory.
 */
export class ControlServer {
  private listener: UnixListener | null = null;
  private readonly clients = new Set<Client>();
  /** Clients whose next request waits for the total of unsent answers to go down. */
  private readonly waiting = new Set<Client>();
  private partialBytes = 0;
  private readonly limits: ControlLimits;
  readonly stats: ControlStats = { clients: 0, accepted: 0, busy: 0, noDescriptors: 0, tooBig: 0, idleClosed: 0, backpressured: 0 };

  constructor(
    readonly path: string,
    private readonly handler: Handler,
    private readonly onError: (e: Error) => void = () => {},
    limits: Partial<ControlLimits> = {},
  ) {
    this.limits = { ...CONTROL_LIMITS, ...limits };
  }

  async listen(): Promise<void> {
    await prepareSocketPath(this.path);
    const oldMask = process.umask(0o177);
    try {
      this.listener = listenUnix(this.path, {
        backlog: this.limits.backlog,
        perTurn: this.limits.acceptsPerTurn,
        // allowHalfOpen: a client that sends its requests and shuts down its side still gets every answer.
        onConnection: (fd) => this.serve(new Socket({ fd, readable: true, writable: true, allowHalfOpen: true })),
        onExhausted: (fd) => {
          this.stats.noDescriptors++;
          writeNow(fd, Buffer.from(errorLine('EMFILE', 'the daemon has no file descriptor left for this client; try again')));
        },
        onError: (e) => this.onError(e),
      });
    } finally {
      process.umask(oldMask);
    }
    chmodSync(this.path, 0o600);
  }

  /**
   * Sends a last line and half-closes. What the client still sends is read and dropped (closing
   * at once would make its write fail with EPIPE before it reads the line); the descriptor goes
   * when the client closes, or a second later.
   */
  private lastWord(sock: Socket, line: string): void {
    sock.removeAllListeners('data');
    sock.removeAllListeners('end');
    sock.removeAllListeners('timeout');
    sock.on('error', () => {});
    sock.on('data', () => {});
    sock.on('end', () => sock.destroy());
    sock.resume();
    sock.end(line);
    sock.setTimeout(1000, () => sock.destroy());
  }

  private serve(sock: Socket): void {
    const L = this.limits;
    if (this.clients.size >= L.maxClients) {
      this.stats.busy++;
      this.lastWord(sock, errorLine('EBUSY', `too many control clients (${L.maxClients} connected); try again`));
      return;
    }
    this.stats.accepted++;
    const c: Client = {
      sock,
      queue: [],
      busy: false,
      partial: 0,
      ended: false,
      final: null,
      paused: false,
      reader: new LineReader(
        L.maxRequestBytes,
        (line) => {
          // Blank lines are ignored, as before.
          if (line.length > 0 && !(line.length === 1 && line[0] === 13)) c.queue.push(line.toString('utf8'));
        },
        () => {
          this.stats.tooBig++;
          c.final = { v: 1, id: null, ok: false, error: { code: 'ETOOBIG', message: `request line longer than ${L.maxRequestBytes} bytes` } };
        },
      ),
    };
    this.clients.add(c);
    this.stats.clients = this.clients.size;
    sock.on('data', (d: Buffer) => this.onData(c, d));
    sock.on('end', () => {
      c.ended = true;
      this.pump(c);
    });
    sock.on('drain', () => {
      this.pump(c);
      this.pumpWaiting();
    });
    sock.setTimeout(L.idleTimeoutMs);
    sock.on('timeout', () => {
      // Busy (a long reload) or waiting its turn is not idle; a client not reading its answers is.
      if (c.busy || (c.queue.length > 0 && sock.writableLength < L.outputHighWater)) return;
      this.stats.idleClosed++;
      sock.destroy();
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      this.clients.delete(c);
      this.waiting.delete(c);
      this.stats.clients = this.clients.size;
      this.partialBytes -= c.partial;
      c.partial = 0;
      c.queue.length = 0;
      c.reader.stop();
      this.pumpWaiting();
    });
  }

  private onData(c: Client, d: Buffer): void {
    const L = this.limits;
    c.reader.push(d);
    const partial = c.reader.pending;
    this.partialBytes += partial - c.partial;
    c.partial = partial;
    if (partial > 0 && this.partialBytes > L.maxBufferedRequestBytes) {
      // The client growing the total past the budget is the one refused.
      this.stats.busy++;
      c.reader.stop();
      this.partialBytes -= c.partial;
      c.partial = 0;
      c.final = { v: 1, id: null, ok: false, error: { code: 'EBUSY', message: `the daemon holds ${L.maxBufferedRequestBytes} bytes of unfinished requests; try again` } };
    }
    if (!c.paused && (c.reader.done || c.queue.length >= L.maxQueuedRequests)) {
      if (!c.reader.done) this.stats.backpressured++;
      c.paused = true;
      c.sock.pause();
    }
    this.pump(c);
  }

  private unsent(): number {
    let n = 0;
    for (const c of this.clients) n += c.sock.writableLength;
    return n;
  }

  private pumpWaiting(): void {
    if (this.waiting.size === 0) return;
    const w = [...this.waiting];
    this.waiting.clear();
    for (const c of w) this.pump(c);
  }

  /** Starts the client's next request if it may run now; otherwise something later calls pump again. */
  private pump(c: Client): void {
    const L = this.limits;
    const sock = c.sock;
    if (c.busy || sock.destroyed) return;
    if (c.queue.length === 0) {
      if (c.final) {
        const f = c.final;
        c.final = null;
        this.lastWord(sock, JSON.stringify(f) + '\n');
      } else if (c.ended) {
        sock.end();
      } else if (c.paused && !c.reader.done) {
        c.paused = false;
        sock.resume();
      }
      return;
    }
    if (sock.writableLength >= L.outputHighWater) {
      this.stats.backpressured++;
      return; // 'drain' pumps again
    }
    if (this.unsent() >= L.maxBufferedOutputBytes) {
      this.waiting.add(c);
      return;
    }
    if (c.paused && !c.reader.done && c.queue.length <= L.maxQueuedRequests >> 1) {
      c.paused = false;
      sock.resume();
    }
    c.busy = true;
    const line = c.queue.shift()!;
    setImmediate(() => {
      void this.answer(line).then(async (r) => {
        if (!sock.destroyed) await this.send(sock, r);
        c.busy = false;
        this.pump(c);
      });
    });
  }

  /**
   * Writes one answer line; a long one (a big listing) in pieces, the event loop let run and the
   * socket drained between them (answer-pieces.ts says why).
   */
  private async send(sock: Socket, r: Response): Promise<void> {
    const p = answerPieces(r);
    if (!p) {
      sock.write(JSON.stringify(r) + '\n');
      return;
    }
    sock.write(p.head);
    for (const piece of escapedPieces(p)) {
      if (sock.destroyed) return;
      sock.write(piece);
      await new Promise<void>((resolve) => {
        if (sock.writableLength < this.limits.outputHighWater) {
          setImmediate(resolve);
          return;
        }
        const done = (): void => {
          sock.off('drain', done);
          sock.off('close', done);
          resolve();
        };
        sock.on('drain', done);
        sock.on('close', done);
      });
    }
    if (!sock.destroyed) sock.write(p.tail);
  }

  private async answer(line: string): Promise<Response> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return { v: 1, id: null, ok: false, error: { code: 'EBADREQ', message: 'malformed JSON' } };
    }
    const v = validateRequest(parsed);
    if (!v.ok) return { v: 1, id: v.id, ok: false, error: { code: v.code, message: v.message } };
    const req = v.req;
    try {
      const body = await this.handler(req);
      return { ...body, v: 1, id: req.id, ok: true };
    } catch (e) {
      const code = e instanceof ControlError ? e.code : 'EINTERNAL';
      return { v: 1, id: req.id, ok: false, error: { code, message: (e as Error).message } };
    }
  }

  async close(): Promise<void> {
    const l = this.listener;
    this.listener = null;
    if (!l) return;
    l.close();
    try { unlinkSync(this.path); } catch { /* already gone */ }
    if (this.clients.size === 0) return;
    await new Promise<void>((resolve) => {
      for (const c of this.clients) {
        c.sock.once('close', () => { if (this.clients.size === 0) resolve(); });
        c.sock.end();
      }
      setTimeout(() => {
        for (const c of this.clients) c.sock.destroy();
        resolve();
      }, 500).unref();
    });
  }
}
