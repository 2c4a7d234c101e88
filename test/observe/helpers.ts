/** Helpers for observer tests: a daemon with --http, requests to it, its metrics parsed. */
import { request } from 'node:http';
import { startDaemon, tmpDir, type DaemonProc } from '../daemon/helpers.ts';
import { parsePromText, type ParsedSample } from '../../src/observe/prom.ts';

export interface HttpDaemon extends DaemonProc {
  readonly http: number;
}

/** Starts a daemon with `--http 127.0.0.1:0` (plus args) and learns the port it bound from its log; `launcher` as startDaemon's. */
export async function startHttpDaemon(args: string[], dir = tmpDir(), launcher: readonly string[] = []): Promise<HttpDaemon> {
  const d = await startDaemon(['--http', '127.0.0.1:0', ...args], dir, {}, launcher);
  const m = /"http":"127\.0\.0\.1:(\d+)"/.exec(d.logs());
  if (!m) {
    await d.stop();
    throw new Error(`no http address in the log: ${d.logs()}`);
  }
  return Object.assign(d, { http: Number(m[1]) });
}

export interface Reply { status: number; headers: Record<string, string | string[] | undefined>; text: string }

export function call(port: number, method: string, path: string, body?: unknown, headers: Record<string, string> = {}, host = '127.0.0.1'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = request({ host, port, path, method, agent: false, timeout: 10_000, headers: { ...(data !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(data)) } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timeout`)));
    req.on('error', reject);
    req.end(data);
  });
}

export async function metrics(port: number): Promise<{ samples: ParsedSample[]; types: Map<string, string>; helps: Map<string, string>; text: string }> {
  const r = await call(port, 'GET', '/metrics');
  if (r.status !== 200) throw new Error(`/metrics: ${r.status} ${r.text}`);
  return { ...parsePromText(r.text), text: r.text };
}

/** The value of the one sample of `name` whose labels include `match` (throws when not exactly one). */
export function value(samples: readonly ParsedSample[], name: string, match: Record<string, string> = {}): number {
  const hits = samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
  if (hits.length !== 1) throw new Error(`${name} ${JSON.stringify(match)}: ${hits.length} samples`);
  return hits[0]!.value;
}

export async function until<T>(what: string, f: () => Promise<T | null | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
