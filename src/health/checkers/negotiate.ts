/**
 * ldirectord checktype=negotiate. service=http/https: GET http(s)://RIP:RPORT/<request> (Host =
 * virtualhost), up when the status is 2xx and the body matches the `receive` regex. Other
 * services (none, simpletcp, ...): connect, send `request` as is (\n and \r escapes expanded),
 * up when what comes back matches `receive` before the peer closes or negotiatetimeout passes.
 */
import type { CheckContext, Checker } from '../checker.ts';
import type { CheckResult, LdNegotiateDef } from '../types.ts';
import { connectChecker } from './connect.ts';
import { buildRequest, fetchUrl } from './http.ts';
import { TcpSession, fail, ok, probeAddress, timeoutMs } from './util.ts';

function compile(receive: string): RegExp | string {
  try { return new RegExp(receive); } catch (e) { return String((e as Error).message); }
}

export function unescapeRequest(s: string): string {
  return s.replace(/\\([nrt\\])/g, (_m, c: string) => ({ n: '\n', r: '\r', t: '\t', '\\': '\\' })[c]!);
}

/**
 * checktype = N: connect checks passed since the last negotiate that passed, per checker (its def,
 * which the health manager keeps until a reload changes it; a reload starts with a negotiate, as
 * ldirectord's does). Absent: the next check negotiates (ldirectord starts at 999999).
 */
const connectsSince = new WeakMap<LdNegotiateDef, number>();

export const negotiateChecker: Checker<LdNegotiateDef> = {
  kinds: ['negotiate'],
  async run(def, ctx) {
    if (def.every === undefined) return negotiate(def, ctx);
    // ldirectord's _check_real: negotiate when num_connects >= N (a pass resets it to 0), else
    // check_connect (a pass counts one, a failure sets 999999: negotiate next time).
    const n = connectsSince.get(def);
    if (n === undefined || n >= def.every) {
      const r = await negotiate(def, ctx);
      if (r.ok) connectsSince.set(def, 0); else connectsSince.delete(def);
      return r;
    }
    const r = await connectChecker.run({ type: 'connect', ...(def.checktimeout !== undefined ? { checktimeout: def.checktimeout } : {}), ...probeOpts(def) }, ctx);
    if (r.ok) connectsSince.set(def, n + 1); else connectsSince.delete(def);
    return r;
  },
};

/** The connection options a connect check in between shares with the negotiate one. */
function probeOpts(def: LdNegotiateDef): Pick<LdNegotiateDef, 'connect_ip' | 'connect_port' | 'bindto' | 'bind_port'> {
  return {
    ...(def.connect_ip !== undefined ? { connect_ip: def.connect_ip } : {}),
    ...(def.connect_port !== undefined ? { connect_port: def.connect_port } : {}),
    ...(def.bindto !== undefined ? { bindto: def.bindto } : {}),
    ...(def.bind_port !== undefined ? { bind_port: def.bind_port } : {}),
  };
}

async function negotiate(def: LdNegotiateDef, ctx: CheckContext): Promise<CheckResult> {
  {
    const t0 = performance.now();
    const { host, port } = probeAddress(def, ctx.target);
    const re = compile(def.receive);
    if (typeof re === 'string') return fail(t0, 'error', `bad receive regex: ${re}`);
    const svc = def.service.toLowerCase();
    if (svc === 'http' || svc === 'https') {
      const tls = svc === 'https';
      let path = def.request;
      if (/^https?:\/\//i.test(path)) path = path.replace(/^https?:\/\/[^/]*/i, '') || '/';
      if (!path.startsWith('/')) path = `/${path}`;
      const hostHdr = def.virtualhost ?? (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
      const r = await fetchUrl(
        { host, port, tls, sni: def.virtualhost, bindto: def.bindto, bindPort: def.bind_port, deadlineMs: timeoutMs(def) },
        buildRequest(path, hostHdr, '1.0', def.httpmethod ?? 'GET'),
      );
      if ('failure' in r) return fail(t0, r.failure.code, r.failure.detail);
      if (r.res.status < 200 || r.res.status > 299) return fail(t0, `status ${r.res.status}`, path);
      if (!re.test(r.res.body.toString('latin1'))) return fail(t0, 'receive mismatch', `/${def.receive}/`);
      return ok(t0);
    }
    const s = new TcpSession({ host, port, bindto: def.bindto, bindPort: def.bind_port, deadlineMs: timeoutMs(def) });
    try {
      if (!(await s.connect())) return fail(t0, s.failure?.code ?? 'closed', s.failure?.detail);
      if (def.request) s.write(unescapeRequest(def.request));
      const hit = await s.readUntil((b) => re.test(b.toString('latin1')));
      if (hit) return ok(t0);
      if (s.failure) return fail(t0, s.failure.code, s.failure.detail);
      return fail(t0, 'receive mismatch', `/${def.receive}/`);
    } finally {
      s.close();
    }
  }
}
