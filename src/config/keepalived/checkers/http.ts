/** HTTP_GET and SSL_GET keywords (keepalived check_http.c), with their `url { ... }` blocks. */
import type { StatusCodeSpec, UrlSpec } from '../../../health/types.ts';
import type { Ctx, Stmt } from '../context.ts';
import type { CheckerKeywords } from './common.ts';

/** One `url { ... }` block; null when it is unusable (an error has been reported). */
function readUrl(c: Ctx, u: Stmt): UrlSpec | null {
  const url: Record<string, unknown> = {};
  const codes: StatusCodeSpec[] = [];
  c.dispatch(u.body, {
    path: { run: (x) => { const t = c.arg(x, 0, 'a URL path'); if (t) url['path'] = t.text; c.extra(x, 1); } },
    digest: {
      run: (x) => {
        const t = c.arg(x, 0, 'an MD5 digest (32 hex digits)');
        if (t && !/^[0-9a-fA-F]{32}$/.test(t.text)) c.err(t, `expected an MD5 digest (32 hex digits), got '${t.text}'`);
        else if (t) url['digest'] = t.text.toLowerCase();
        c.extra(x, 1);
      },
    },
    status_code: {
      run: (x) => {
        if (!x.args.length) c.arg(x, 0, 'a status code');
        for (const t of x.args) {
          const m = /^(\d{3})(?:-(\d{3}))?$/.exec(t.text);
          if (!m || Number(m[1]) < 100 || Number(m[2] ?? m[1]) > 599 || Number(m[2] ?? m[1]) < Number(m[1])) {
            c.err(t, `expected a status code 100..599 or a range like 200-299, got '${t.text}'`);
            continue;
          }
          codes.push(m[2] ? [Number(m[1]), Number(m[2])] as const : Number(m[1]));
        }
      },
    },
    virtualhost: { run: (x) => { const t = c.arg(x, 0, 'a host name'); if (t) url['virtualhost'] = t.text; c.extra(x, 1); } },
    regex: { run: (x) => {
      const t = c.arg(x, 0, 'a regular expression');
      if (!t) return;
      try { new RegExp(t.text); url['regex'] = t.text; } catch (e) { c.err(t, `invalid regex: ${(e as Error).message}`); }
    } },
    regex_no_match: { run: () => { url['regex_no_match'] = true; } },
    regex_options: { run: (x) => c.warn(x.name, "'regex_options' is not supported; ignored") },
    regex_stack: { run: (x) => c.warn(x.name, "'regex_stack' is not supported; ignored") },
    regex_min_offset: { run: (x) => c.warn(x.name, "'regex_min_offset' is not supported; ignored") },
    regex_max_offset: { run: (x) => c.warn(x.name, "'regex_max_offset' is not supported; ignored") },
  }, 'url');
  if (url['path'] === undefined) { c.err(c.after(u), "expected 'path' in url block"); return null; }
  if (codes.length) url['status_code'] = codes;
  return url as unknown as UrlSpec;
}

export const httpKeywords: CheckerKeywords = {
  kinds: ['HTTP_GET', 'SSL_GET'],
  read(c, s, kind, o, common) {
    const urls: UrlSpec[] = [];
    c.dispatch(s.body, {
      ...common,
      url: { run: (u) => { const url = readUrl(c, u); if (url) urls.push(url); } },
      virtualhost: { run: (x) => { const t = c.arg(x, 0, 'a host name'); if (t) o['virtualhost'] = t.text; c.extra(x, 1); } },
      enable_sni: { run: (x) => { o['enable_sni'] = c.bool(x, 0); } },
      http_protocol: { run: (x) => {
        const t = c.arg(x, 0, 'an HTTP protocol version');
        if (!t) return;
        if (t.text === '1.0' || t.text === '1.1') o['http_protocol'] = t.text;
        else if (t.text === '1.0C' || t.text === '1.0K') { o['http_protocol'] = '1.0'; c.warn(t, `http_protocol ${t.text} is treated as 1.0`); }
        else c.err(t, `expected 1.0|1.1|1.0C|1.0K, got '${t.text}'`);
      } },
      tls_compliant: { run: (x) => c.warn(x.name, "'tls_compliant' is not supported (TLS close is always tolerant); ignored") },
      fast_recovery: { run: (x) => c.warn(x.name, "'fast_recovery' is not supported; ignored") },
    }, kind);
    if (!urls.length) { c.err(c.after(s), `${kind} needs at least one 'url { path ... }' block`); return false; }
    o['url'] = urls;
    return true;
  },
};
