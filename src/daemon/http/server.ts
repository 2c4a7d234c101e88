/**
 * The daemon's one opt-in HTTP listener (`tsvs daemon --http [ADDR:]PORT`): `GET /metrics`
 * (Prometheus text), and the routes other modules register (the API under /api/v1/, the
 * dashboard at /). Off unless asked for; loopback unless an address is named (listen-addr.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../log.ts';
import { takeLiveSnapshot, type ObserveSources } from '../observe.ts';
import { MetricsLabelCache, renderMetrics, renderMetricsChunks } from '../../observe/metrics.ts';
import { PromText } from '../../observe/prom.ts';
import { ProcessMetrics } from './process-metrics.ts';
import { formatListenAddr, type ListenAddr } from './listen-addr.ts';

/** A route handler: answers and returns true, or returns false to let the next one try. */
export type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

export interface HttpDeps {
  readonly sources: ObserveSources;
  readonly version: string;
  readonly log: Logger;
  /** Tried in order after /metrics. */
  readonly routes?: readonly Route[];
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

/** Errors carry a stable code (docs/ERRORS.md, "HTTP API"). */
export function sendError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: { code, message } }, headers);
}

export class HttpServer {
  private server: Server | null = null;
  private readonly proc = new ProcessMetrics();
  /** Label sets kept between scrapes (src/observe/metrics.ts). */
  private readonly labelCache = new MetricsLabelCache();
  /** The buffer the last finished scrape was written into, reused by the next (none while one is in flight). */
  private idleWriter: PromText | null = null;
  private bound: ListenAddr | null = null;

  constructor(private readonly deps: HttpDeps) {}

  get address(): ListenAddr | null {
    return this.bound;
  }

  /** Binds; rejects with a clear message (address in use, not local...). */
  async listen(addr: ListenAddr): Promise<ListenAddr> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((e: Error) => {
        this.deps.log.error({ err: e.message, url: req.url }, 'http: request failed');
        if (!res.headersSent) sendError(res, 500, 'EINTERNAL', e.message);
        else res.destroy();
      });
    });
    server.keepAliveTimeout = 5000;
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`cannot listen on http ${formatListenAddr(addr)}: ${e.code === 'EADDRINUSE' ? 'address already in use' : e.code === 'EADDRNOTAVAIL' ? 'no such local address' : e.message}`)));
      server.listen(addr.port, addr.host, () => resolve());
    });
    server.on('error', (e) => this.deps.log.error({ err: e.message }, 'http server error'));
    this.server = server;
    const a = server.address() as { address: string; port: number };
    this.bound = { host: a.address, port: a.port };
    return this.bound;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/metrics') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res, 405, 'EMETHOD', `${req.method} is not allowed on /metrics (GET)`, { allow: 'GET, HEAD' });
      await this.metrics(res, req.method === 'HEAD');
      return;
    }
    for (const r of this.deps.routes ?? []) if (await r(req, res, url)) return;
    sendError(res, 404, 'ENOTFOUND', `no such path: ${url.pathname}`);
  }

  /**
   * /metrics: rendered at once into a buffer kept between scrapes, then written with backpressure;
   * then the process metrics. The services are read straight from the engine into columns the
   * label cache keeps (no snapshot of 1,000 x 10 real servers built on the forwarding thread at
   * every scrape), and what little is built dies young: a snapshot kept alive across the writes
   * was promoted to the old generation at every scrape, and the major collections it caused cost
   * forwarding more than the render.
   */
  private async metrics(res: ServerResponse, headOnly: boolean): Promise<void> {
    const snap = await takeLiveSnapshot(this.deps.sources);
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' });
    if (headOnly) {
      res.end();
      return;
    }
    // Reuse the last scrape's buffer only once its response finished: until then the socket may
    // still be reading the chunks (views of it). A scrape cut short drops its buffer.
    const writer = this.idleWriter?.reset() ?? new PromText();
    this.idleWriter = null;
    const chunks = [...renderMetricsChunks(snap, { version: this.deps.version, cache: this.labelCache, writer })];
    for (const chunk of chunks) {
      if (res.destroyed) return;
      if (!res.write(chunk)) await new Promise<void>((r) => { res.once('drain', r); res.once('close', r); });
    }
    if (res.destroyed) return;
    res.end(await this.proc.text(), () => {
      this.idleWriter = writer;
    });
  }

  /** The whole /metrics text (tests, benches). */
  async metricsText(): Promise<string> {
    return renderMetrics(await takeLiveSnapshot(this.deps.sources), { version: this.deps.version, cache: this.labelCache }) + (await this.proc.text());
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    this.proc.stop();
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }
}
