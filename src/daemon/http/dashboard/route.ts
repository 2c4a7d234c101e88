/**
 * The live dashboard at `/` (GET only): a static page and its script and style, read once from
 * this folder. The page reads GET /api/v1/overview every second; changes go through the API
 * with the admin token the operator types in. Strict Content-Security-Policy: no inline code,
 * nothing from elsewhere.
 */
import { readFileSync } from 'node:fs';
import type { Route } from '../server.ts';
import { sendError } from '../server.ts';

const ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
};

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

export function dashboardRoute(): Route {
  const body = new Map<string, Buffer>();
  for (const a of new Set(Object.values(ASSETS).map((x) => x.file))) body.set(a, readFileSync(new URL(a, import.meta.url)));
  return async (req, res, url) => {
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204, { 'cache-control': 'max-age=86400' });
      res.end();
      return true;
    }
    const a = ASSETS[url.pathname];
    if (!a) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, 405, 'EMETHOD', `${req.method} is not allowed on ${url.pathname} (GET)`, { allow: 'GET, HEAD' });
      return true;
    }
    const b = body.get(a.file)!;
    res.writeHead(200, {
      'content-type': a.type, 'content-length': b.length, 'cache-control': 'no-cache', 'content-security-policy': CSP,
      'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer',
    });
    res.end(req.method === 'HEAD' ? undefined : b);
    return true;
  };
}
