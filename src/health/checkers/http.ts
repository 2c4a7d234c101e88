/**
 * keepalived HTTP_GET / SSL_GET. For each url{} in order: connect (TLS for SSL_GET, SNI from
 * virtualhost), send `GET path HTTP/1.0` with keepalived's headers, read to the end, then test
 * the status code (default 200-299), the MD5 digest of the body (what genhash prints) and the
 * optional regex. All urls must pass. connect_timeout bounds each url's whole exchange.
 */
import { createHash } from 'node:crypto';
import type { Checker } from '../checker.ts';
import type { HttpCheckDef, StatusCodeSpec, UrlSpec } from '../types.ts';
import { TcpSession, fail, ok, probeAddress, timeoutMs } from './util.ts';
import type { CheckResult } from '../types.ts';

export function statusAccepted(code: number, spec: readonly StatusCodeSpec[] | undefined): boolean {
  if (!spec || spec.length === 0) return code >= 200 && code <= 299;
  return spec.some((s) => (typeof s === 'number' ? s === code : code >= s[0] && code <= s[1]));
}

/** MD5 hex of the body exactly as received (what keepalived's genhash computes). */
export function bodyDigest(body: Buffer): string {
  return createHash('md5').update(body).digest('hex');
}

export interface ParsedResponse { status: number; headers: Map<string, string>; body: Buffer }

/** Parses a raw HTTP/1.x response; de-chunks a chunked body. null when it is not HTTP. */
export function parseHttpResponse(raw: Buffer): ParsedResponse | null {
  const end = raw.indexOf('\r\n\r\n');
  const head = (end < 0 ? raw : raw.subarray(0, end)).toString('latin1');
  const m = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(head);
  if (!m) return null;
  const headers = new Map<string, string>();
  for (const line of head.split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  let body = end < 0 ? Buffer.alloc(0) : raw.subarray(end + 4);
  if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) body = dechunk(body);
  else if (headers.has('content-length')) {
    const n = Number(headers.get('content-length'));
    if (Number.isFinite(n) && n >= 0 && n < body.length) body = body.subarray(0, n);
  }
  return { status: Number(m[1]), headers, body };
}

function dechunk(b: Buffer): Buffer {
  const parts: Buffer[] = [];
  let i = 0;
  while (i < b.length) {
    const nl = b.indexOf('\r\n', i);
    if (nl < 0) break;
    const size = parseInt(b.subarray(i, nl).toString('latin1'), 16);
    if (!Number.isFinite(size) || size <= 0) break;
    parts.push(b.subarray(nl + 2, nl + 2 + size));
    i = nl + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

function hostHeader(host: string, port: number, tls: boolean, vhost: string | undefined): string {
  if (vhost) return vhost;
  const h = host.includes(':') ? `[${host}]` : host;
  return port === (tls ? 443 : 80) ? h : `${h}:${port}`;
}

export function buildRequest(path: string, host: string, proto: '1.0' | '1.1' = '1.0', method = 'GET'): string {
  return `${method} ${path} HTTP/${proto}\r\nUser-Agent: KeepAliveClient\r\nHost: ${host}\r\n` +
    (proto === '1.1' ? 'Connection: close\r\n' : '') + '\r\n';
}

export async function fetchUrl(
  o: { host: string; port: number; tls: boolean; sni?: string; bindto?: string; bindPort?: number; deadlineMs: number },
  request: string,
): Promise<{ res: ParsedResponse } | { failure: { code: string; detail: string } }> {
  const s = new TcpSession({ host: o.host, port: o.port, bindto: o.bindto, bindPort: o.bindPort, deadlineMs: o.deadlineMs, tls: o.tls ? { servername: o.sni } : undefined });
  try {
    if (!(await s.connect())) return { failure: s.failure ?? { code: 'closed', detail: 'connection closed' } };
    s.write(request);
    // Read until close, or until a Content-Length / chunked body is complete (servers that keep the connection open).
    await s.readUntil((b, ended) => ended || responseComplete(b));
    if (s.failure && s.failure.code !== 'reset') return { failure: s.failure };
    const res = parseHttpResponse(s.data);
    if (!res) return { failure: s.failure ?? { code: 'bad response', detail: s.data.length === 0 ? 'empty reply' : 'not HTTP' } };
    return { res };
  } finally {
    s.close();
  }
}

function responseComplete(b: Buffer): boolean {
  const end = b.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const head = b.subarray(0, end).toString('latin1');
  const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (cl) return b.length - (end + 4) >= Number(cl[1]);
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) return b.subarray(end + 4).toString('latin1').endsWith('0\r\n\r\n');
  return false;
}

export function judgeUrl(u: UrlSpec, res: ParsedResponse): { code: string; detail: string } | null {
  if (!statusAccepted(res.status, u.status_code)) return { code: `status ${res.status}`, detail: u.path };
  if (u.digest) {
    const got = bodyDigest(res.body);
    if (got !== u.digest.toLowerCase()) return { code: 'digest mismatch', detail: `${u.path} got ${got}` };
  }
  if (u.regex !== undefined) {
    let re: RegExp;
    try { re = new RegExp(u.regex); } catch { return { code: 'error', detail: `bad regex ${u.regex}` }; }
    const hit = re.test(res.body.toString('latin1'));
    if (hit === !!u.regex_no_match) return { code: 'regex mismatch', detail: u.path };
  }
  return null;
}

export const httpChecker: Checker<HttpCheckDef> = {
  kinds: ['HTTP_GET', 'SSL_GET'],
  async run(def, ctx): Promise<CheckResult> {
    const t0 = performance.now();
    const { host, port } = probeAddress(def, ctx.target);
    const isTls = def.type === 'SSL_GET';
    const urls = def.url.length > 0 ? def.url : [{ path: '/' }];
    for (const u of urls) {
      const vhost = u.virtualhost ?? def.virtualhost;
      const sni = isTls && (def.enable_sni ?? vhost !== undefined) ? vhost ?? host : undefined;
      const r = await fetchUrl(
        { host, port, tls: isTls, sni, bindto: def.bindto, bindPort: def.bind_port, deadlineMs: timeoutMs(def) },
        buildRequest(u.path, hostHeader(host, port, isTls, vhost), def.http_protocol ?? '1.0'),
      );
      if ('failure' in r) return fail(t0, r.failure.code, r.failure.detail);
      const bad = judgeUrl(u, r.res);
      if (bad) return fail(t0, bad.code, bad.detail);
    }
    return ok(t0);
  },
};
