/**
 * `real_server IP [PORT] { ... }`: read once per virtual_server (a group's services share it),
 * then placed in each service with keepalived's port rules for its forwarding method.
 */
import type { Af, DestSpec, ServiceSpec } from '../../core/types.ts';
import type { CheckerDef } from '../../health/types.ts';
import { hostPort, serviceKeyString } from '../../core/service-key.ts';
import type { RealServerConfig } from '../desired.ts';
import type { Tok } from '../kalex.ts';
import { buildChecker, checkerTable, type CheckerRead, type Inherit } from './checkers/index.ts';
import { pos, setUser, type Ctx, type Stmt } from './context.ts';
import { parseMethod, type LvsMethod } from './lvs-method.ts';
import { kaBool } from './numbers.ts';

/** A real_server as written (what it leaves unset comes from its virtual_server, whatever the order). */
export interface RealDraft {
  addr: string; af: Af; port: number | null; weight?: number; method: LvsMethod | null; u: number; l: number;
  inhibit?: boolean; notify_up?: string; notify_down?: string; users: Partial<Record<'notify_up' | 'notify_down', string>>;
  delay_loop?: number; alpha?: boolean; inherit: Inherit; checkers: CheckerRead[]; at: Tok;
  /** smtp_alert as written (unset: global_defs decides). */
  smtpAlert?: boolean;
}

/** What a real_server takes from its virtual_server. */
export interface RealDefaults {
  readonly weight: number;
  readonly inherit: Inherit;
  /** Service-level virtualhost: applied to HTTP checkers that do not set their own. */
  readonly virtualhost: string | undefined;
  /** smtp_alert when the real_server does not say (global_defs smtp_alert_checker / smtp_alert, else true). */
  readonly smtpAlert: boolean;
  /** The protocol keepalived names it with (FMT_RS): tcp, udp, sctp, none. */
  readonly proto: string;
}

export function parseRealServer(c: Ctx, r: Stmt): RealDraft | null {
  const a = c.ip(r, 0, 'the real server address');
  if (!a) return null;
  let port: number | null = null;
  if (r.args[1]) { port = c.num(r, 1, 'a port', 0, 65535); if (port === null) return null; }
  c.extra(r, 2);
  const d: RealDraft = { addr: a.addr, af: a.af, port, method: null, u: 0, l: 0, users: {}, inherit: {}, checkers: [], at: r.args[0]! };
  const rInh = d.inherit;
  c.dispatch(r.body, {
    weight: { run: (x) => { const v = c.num(x, 0, 'a weight', 0, 65535); if (v !== null) d.weight = v; c.extra(x, 1); } },
    inhibit_on_failure: { run: (x) => { d.inhibit = c.bool(x, 0); } },
    notify_up: { run: (x) => { const v = c.script(x, 'a script'); if (v) { d.notify_up = v.cmd; setUser(d.users, 'notify_up', v.user); } } },
    notify_down: { run: (x) => { const v = c.script(x, 'a script'); if (v) { d.notify_down = v.cmd; setUser(d.users, 'notify_down', v.user); } } },
    uthreshold: { run: (x) => { const v = c.num(x, 0, 'a connection count', 0, 0x7fffffff); if (v !== null) d.u = v; } },
    lthreshold: { run: (x) => { const v = c.num(x, 0, 'a connection count', 0, 0x7fffffff); if (v !== null) d.l = v; } },
    lvs_method: { run: (x) => { const m = parseMethod(c, x, 'real'); if (m) d.method = m; } },
    delay_loop: { run: (x) => { const v = c.num(x, 0, 'seconds', 0.001, 86400 * 365, false); if (v !== null) d.delay_loop = v; } },
    alpha: { run: (x) => { d.alpha = c.bool(x, 0); } },
    retry: { run: (x) => { const v = c.num(x, 0, 'a retry count', 0, 1_000_000); if (v !== null) rInh.retry = v; } },
    delay_before_retry: { run: (x) => { const v = c.num(x, 0, 'seconds', 0, 86400, false); if (v !== null) rInh.delay_before_retry = v; } },
    warmup: { run: (x) => { const v = c.num(x, 0, 'seconds', 0, 86400, false); if (v !== null) rInh.warmup = v; } },
    connect_timeout: { run: (x) => { const v = c.num(x, 0, 'seconds', 0, 86400, false); if (v !== null) rInh.connect_timeout = v; } },
    virtualhost: { run: (x) => c.warn(x.name, "real_server 'virtualhost' is applied only through HTTP_GET/SSL_GET blocks; ignored here") },
    smtp_alert: { run: (x) => {
      const v = x.args[0] ? kaBool(x.args[0].text) : true;
      if (v === null) c.warn(x.args[0]!, `Invalid real_server smtp_alert parameter ${x.args[0]!.text}`);
      else d.smtpAlert = v;
    } },
    ...checkerTable(c, (ck) => d.checkers.push(ck)),
  }, 'real_server');
  return d;
}

/** Its checkers with what they inherit; HTTP checkers without a virtualhost take the service's. */
function checkersOf(d: RealDraft, dflt: RealDefaults): CheckerDef[] {
  const inh: Inherit = { ...dflt.inherit, ...d.inherit };
  const vh = dflt.virtualhost;
  return d.checkers.map((r) => {
    const ck = buildChecker(r, inh);
    return vh !== undefined && (ck.type === 'HTTP_GET' || ck.type === 'SSL_GET') && ck.virtualhost === undefined ? { ...ck, virtualhost: vh } : ck;
  });
}

/** A real server in one service: keepalived's port rules (NAT keeps its port, DR/TUN use the service's). */
export function placeReal(c: Ctx, d: RealDraft, dflt: RealDefaults, spec: ServiceSpec, lbKind: LvsMethod, inhibitDefault: boolean): RealServerConfig | null {
  if (d.af !== spec.af && !(spec.fwmark > 0 && spec.af === 6 && d.af === 6)) {
    c.err(d.at, `real server ${d.addr} is IPv${d.af} but the virtual service ${serviceKeyString(spec)} is IPv${spec.af}`);
    return null;
  }
  const method = d.method ?? lbKind;
  let port = d.port ?? 0;
  if (method.fwd === 'masq') {
    if (spec.fwmark === 0 && port === 0) port = spec.port;
  } else if (spec.fwmark > 0) port = 0;
  else port = spec.port;
  const key = hostPort(d.addr, port);
  const dest: DestSpec = {
    af: d.af, addr: d.addr, port, fwd: method.fwd, weight: d.weight ?? dflt.weight, uThreshold: d.u, lThreshold: d.l,
    tunType: method.tunType, tunPort: method.tunPort, tunCsum: method.tunCsum,
  };
  return {
    key, dest, inhibit_on_failure: d.inhibit ?? inhibitDefault,
    ...(d.notify_up !== undefined ? { notify_up: d.notify_up } : {}),
    ...(d.notify_down !== undefined ? { notify_down: d.notify_down } : {}),
    ...(Object.keys(d.users).length ? { script_users: { ...d.users } } : {}),
    ...(d.delay_loop !== undefined ? { delay_loop: d.delay_loop } : {}),
    ...(d.alpha !== undefined ? { alpha: d.alpha } : {}),
    smtp_alert: d.smtpAlert ?? dflt.smtpAlert,
    ka_name: `[${d.addr}]:${dflt.proto}:${port}`,
    checkers: checkersOf(d, dflt),
    at: pos(d.at),
  };
}
