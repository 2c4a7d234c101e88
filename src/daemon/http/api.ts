/**
 * The versioned JSON HTTP API under /api/v1/ (docs/OBSERVABILITY.md): everything tsvsadm and
 * `tsvs status` do, plus drains, described by the OpenAPI document it serves at
 * /api/v1/openapi.json (built from the same route table and request schemas the daemon checks).
 *
 * Writes are ipvsadm commands: a request body becomes an ipvsadm argument list, parsed by the
 * same ipvsadm parser as tsvsadm (its defaults and checks, its messages), then applied through
 * the daemon like any control request (forwarder limits, state file, listeners). Errors carry
 * stable codes (docs/ERRORS.md "HTTP API"); a refused request changes nothing.
 *
 * Access: without --http-token, reads are open and writes are refused; with it, every request
 * (but the OpenAPI document) needs `Authorization: Bearer TOKEN`, writes an admin token.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Errno, IpvsBackend, IpvsCommand, ServiceKey, ServiceSnapshot, DestSnapshot } from '../../core/types.ts';
import { SVC_F } from '../../core/types.ts';
import { canonicalIp } from '../../core/addr.ts';
import { parseIpvsadm, isFailure } from '../../ipvsadm/index.ts';
import { commandErrorMessage } from '../../ipvsadm/texts.ts';
import type { Logger } from '../log.ts';
import { takeConnections, takeLiveSnapshot, takeSnapshot, type ObserveSources } from '../observe.ts';
import { DrainError, DRAIN_DEFAULTS, type DrainManager } from '../drain.ts';
import { explain } from '../explain.ts';
import { ControlError } from '../../core/errors.ts';
import type { ObserveSnapshot } from '../../observe/snapshot.ts';
import { parseRealId, parseServiceId, realId, serviceId } from '../../observe/ids.ts';
import { serviceName, splitHostPort } from '../../observe/ipvs-labels.ts';
import { resultCode } from '../../observe/metrics.ts';
import { validate, type Schema } from './schema.ts';
import { sendError, sendJson, type Route } from './server.ts';
import type { Role, TokenSet } from './tokens.ts';

export const API_PREFIX = '/api/v1';
/** Largest request body accepted. */
export const MAX_BODY = 1 << 20;

/** What the API needs of the daemon (src/daemon/daemon.ts implements it). */
export interface ApiDaemon {
  readonly log: Logger;
  observeSources(): ObserveSources;
  withBackend(fn: (b: IpvsBackend) => void): Promise<{ refusals: readonly string[] }>;
  reload(): Promise<{ ok: boolean; commands?: number; error?: string }>;
  status(): Record<string, unknown>;
  readonly drainer: DrainManager;
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

const ERRNO_STATUS: Partial<Record<Errno, number>> = { EEXIST: 409, ESRCH: 404, ENOENT: 404, EPERM: 403 };

// ---- request schemas ---------------------------------------------------------------------------

const port: Schema = { type: 'integer', minimum: 0, maximum: 65535 };
/** The settable fields of a real server, shared by its create and patch bodies. */
const realFields = {
  fwd: { type: 'string', enum: ['masq', 'route', 'tunnel'] },
  weight: { type: 'integer', minimum: 0, maximum: 65535 },
  uThreshold: { type: 'integer', minimum: 0, maximum: 2147483647 },
  lThreshold: { type: 'integer', minimum: 0, maximum: 2147483647 },
  tunType: { type: 'string', enum: ['ipip', 'gue', 'gre'] },
  tunPort: port,
  tunCsum: { type: 'string', enum: ['nocsum', 'csum', 'remcsum'] },
} satisfies Record<string, Schema>;
const SCHED_FLAGS = ['sh-fallback', 'sh-port', 'mh-fallback', 'mh-port', 'flag-1', 'flag-2', 'flag-3'] as const;
const svcOptions = {
  scheduler: { type: 'string', pattern: '^[a-z]{1,16}$', description: 'rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos (default wlc)' },
  persistent: { type: 'integer', minimum: 0, maximum: 2147483, description: 'persistence timeout in seconds; 0 = not persistent (ipvsadm -p)' },
  netmask: { type: 'string', maxLength: 39, description: 'persistence granularity: IPv4 mask (255.255.255.0) or IPv6 prefix length (64) (ipvsadm -M)' },
  onePacket: { type: 'boolean', description: 'one-packet scheduling, UDP only (ipvsadm -o)' },
  schedFlags: { type: 'array', items: { type: 'string', enum: SCHED_FLAGS }, maxItems: 3, description: 'scheduler flags (ipvsadm -b)' },
  pe: { type: 'string', enum: ['sip'], description: 'persistence engine (ipvsadm --pe)' },
} satisfies Record<string, Schema>;

export const SCHEMAS = {
  ServiceInput: {
    type: 'object', additionalProperties: false,
    description: 'A virtual service: protocol + addr + port, or fwmark (with af 6 for IPv6).',
    properties: {
      protocol: { type: 'string', enum: ['tcp', 'udp', 'sctp'] },
      addr: { type: 'string', maxLength: 45, description: 'IPv4 or IPv6 address' },
      port,
      fwmark: { type: 'integer', minimum: 1, maximum: 4294967295 },
      af: { type: 'integer', minimum: 4, maximum: 6, description: 'firewall-mark services: 4 (default) or 6' },
      ...svcOptions,
    },
  },
  ServicePatch: { type: 'object', additionalProperties: false, description: 'Fields to change; the others keep their values.', properties: svcOptions },
  RealInput: {
    type: 'object', additionalProperties: false, required: ['addr'],
    properties: {
      addr: { type: 'string', maxLength: 45 },
      port: { ...port, description: 'default: the service port (always the service port for route/tunnel)' },
      ...realFields,
      fwd: { ...realFields.fwd, description: 'forwarding method (default route, as ipvsadm)' },
    },
  },
  RealPatch: {
    type: 'object', additionalProperties: false, description: 'Fields to change; the others keep their values.',
    properties: realFields,
  },
  DrainInput: {
    type: 'object', additionalProperties: false,
    properties: {
      timeout: { type: 'number', minimum: 0, maximum: DRAIN_DEFAULTS.maxTimeoutS, description: `seconds to wait for ActiveConn 0 (default ${DRAIN_DEFAULTS.timeoutS})` },
      then: { type: 'string', enum: ['delete', 'keep'], description: `at the end (default ${DRAIN_DEFAULTS.then})` },
    },
  },
  TimeoutsInput: {
    type: 'object', additionalProperties: false, description: 'Seconds; 0 or absent = unchanged (ipvsadm --set).',
    properties: { tcp: { type: 'integer', minimum: 0, maximum: 2147483 }, tcpfin: { type: 'integer', minimum: 0, maximum: 2147483 }, udp: { type: 'integer', minimum: 0, maximum: 2147483 } },
  },
  ZeroInput: { type: 'object', additionalProperties: false, properties: { service: { type: 'string', maxLength: 80, description: 'a service id; absent = every service' } } },
  SyncInput: {
    type: 'object', additionalProperties: false, required: ['state'],
    properties: {
      state: { type: 'string', enum: ['master', 'backup'] },
      mcastIfn: { type: 'string', maxLength: 15, pattern: '^[A-Za-z0-9_.:-]+$' },
      syncid: { type: 'integer', minimum: 0, maximum: 255 },
    },
  },
} satisfies Record<string, Schema>;

// ---- views ---------------------------------------------------------------------------------------

function destView(d: DestSnapshot) {
  return { id: realId(d.addr, d.port), ...d };
}

function serviceView(s: ServiceSnapshot) {
  return { id: serviceId(s), name: serviceName(s), ...s, dests: s.dests.map(destView) };
}

/** The dashboard's one call: services with their real servers' health and drains merged in. */
export function overview(snap: ObserveSnapshot) {
  const health = new Map<string, { alive: boolean; checkers: { checker: string; state: string; result: string | null; reason: string | null; latencyMs: number | null }[] }>();
  for (const vs of snap.health?.services ?? []) {
    for (const d of vs.dests) {
      if (d.sorry) continue;
      const hp = splitHostPort(d.dest);
      if (!hp) continue;
      health.set(`${serviceId(vs.key)}/${realId(hp.addr, hp.port)}`, {
        alive: d.alive,
        checkers: d.checkers.map((c) => ({ checker: c.checker, state: c.state, result: c.lastResult ? resultCode(c.lastResult.reason) : null, reason: c.lastResult?.reason ?? null, latencyMs: c.lastResult?.latencyMs ?? null })),
      });
    }
  }
  const drains = new Map(snap.drains.map((d) => [d.id, d]));
  const ramps = new Map(snap.slowStarts.map((r) => [`${serviceId(r.key)}/${realId(r.addr, r.port)}`, { target: r.target, endsAt: r.endsAt }]));
  return {
    at: snap.at,
    daemon: { pid: snap.pid, uptimeSeconds: Math.round((snap.at - snap.startedAt) / 1000), forwarder: snap.forwarder.kind },
    total: snap.total,
    connTable: snap.connTable,
    services: snap.services.map((s) => {
      const sid = serviceId(s);
      return {
        id: sid, name: serviceName(s), scheduler: s.scheduler, persistent: (s.flags & SVC_F.PERSISTENT) !== 0 ? s.timeout : 0, stats: s.stats, rates: s.rates,
        dests: s.dests.map((d) => {
          const id = realId(d.addr, d.port);
          const drain = drains.get(`${sid}/${id}`);
          return {
            id, addr: d.addr, port: d.port, fwd: d.fwd, weight: d.weight, activeConns: d.activeConns, inactConns: d.inactConns, persistConns: d.persistConns,
            rates: d.rates, health: health.get(`${sid}/${id}`) ?? null, drain: drain ?? null, slowStart: ramps.get(`${sid}/${id}`) ?? null,
          };
        }),
      };
    }),
    vrrp: snap.vrrp,
    sync: snap.sync,
    drains: snap.drains,
    slowStarts: snap.slowStarts,
  };
}

// ---- ipvsadm argument lists ------------------------------------------------------------------------

function hostPort(addr: string, p: number): string {
  return addr.includes(':') ? `[${addr}]:${p}` : `${addr}:${p}`;
}

function svcArgs(k: ServiceKey): string[] {
  if (k.fwmark > 0) return ['-f', String(k.fwmark), ...(k.af === 6 ? ['-6'] : [])];
  return [k.protocol === 'tcp' ? '-t' : k.protocol === 'udp' ? '-u' : '--sctp-service', hostPort(k.addr, k.port)];
}

type SvcOpts = { scheduler?: string; persistent?: number; netmask?: string; onePacket?: boolean; schedFlags?: string[]; pe?: string };

function svcOptArgs(o: SvcOpts): string[] {
  const a: string[] = [];
  if (o.scheduler) a.push('-s', o.scheduler);
  if (o.persistent) {
    a.push('-p', String(o.persistent));
    if (o.netmask) a.push('-M', o.netmask);
  } else if (o.netmask) throw new ApiError(400, 'EBADREQ', 'body.netmask: only with persistent > 0');
  if (o.onePacket) a.push('-o');
  if (o.schedFlags && o.schedFlags.length > 0) a.push('-b', o.schedFlags.join(','));
  if (o.pe) a.push('--pe', o.pe);
  return a;
}

/** The current options of a service, as the patch base. */
function svcOptsOf(s: ServiceSnapshot): SvcOpts {
  const names = s.scheduler === 'sh' || s.scheduler === 'mh' ? [`${s.scheduler}-fallback`, `${s.scheduler}-port`, 'flag-3'] : ['flag-1', 'flag-2', 'flag-3'];
  const schedFlags = [SVC_F.SCHED1, SVC_F.SCHED2, SVC_F.SCHED3].flatMap((b, i) => ((s.flags & b) !== 0 ? [names[i]!] : []));
  const persistent = (s.flags & SVC_F.PERSISTENT) !== 0;
  const netmask = !persistent ? undefined : s.af === 6 ? String(s.netmask) : [24, 16, 8, 0].map((sh) => (s.netmask >>> sh) & 255).join('.');
  return {
    scheduler: s.scheduler, persistent: persistent ? s.timeout : 0, ...(netmask ? { netmask } : {}), onePacket: (s.flags & SVC_F.ONEPACKET) !== 0,
    schedFlags, ...(s.pe ? { pe: s.pe } : {}),
  };
}

type RealOpts = { fwd?: string; weight?: number; uThreshold?: number; lThreshold?: number; tunType?: string; tunPort?: number; tunCsum?: string };

function realOptArgs(o: RealOpts): string[] {
  const a: string[] = [];
  if (o.fwd) a.push(o.fwd === 'masq' ? '-m' : o.fwd === 'tunnel' ? '-i' : '-g');
  if (o.weight !== undefined) a.push('-w', String(o.weight));
  if (o.uThreshold !== undefined) a.push('-x', String(o.uThreshold));
  if (o.lThreshold !== undefined) a.push('-y', String(o.lThreshold));
  if (o.fwd === 'tunnel') {
    if (o.tunType) a.push('--tun-type', o.tunType);
    if (o.tunPort) a.push('--tun-port', String(o.tunPort));
    if (o.tunCsum && o.tunType && o.tunType !== 'ipip') a.push(`--tun-${o.tunCsum}`);
  }
  return a;
}

function realOptsOf(d: DestSnapshot): RealOpts {
  return { fwd: d.fwd === 'local' ? 'route' : d.fwd, weight: d.weight, uThreshold: d.uThreshold, lThreshold: d.lThreshold, tunType: d.tunType, tunPort: d.tunPort, tunCsum: d.tunCsum };
}

// ---- the route table ---------------------------------------------------------------------------------

interface Ctx {
  readonly params: Readonly<Record<string, string>>;
  readonly body: Record<string, unknown>;
  readonly query: URLSearchParams;
  readonly role: Role | 'open';
}

interface RouteDef {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly path: string;
  readonly summary: string;
  readonly write: boolean;
  readonly body?: keyof typeof SCHEMAS;
  readonly query?: readonly { name: string; description: string; schema: Schema }[];
  readonly status?: number;
  readonly handler: (c: Ctx) => Promise<unknown>;
}

export function buildRoutes(d: ApiDaemon): RouteDef[] {
  const src = d.observeSources();
  const snap = () => takeSnapshot(src);
  const service = (id: string): ServiceSnapshot => {
    const k = parseServiceId(id);
    if (!k) throw new ApiError(400, 'EBADREQ', `'${id}' is not a service id (tcp-ADDR-PORT, udp-ADDR-PORT, sctp-ADDR-PORT, fwm-MARK, fwm6-MARK)`);
    src.settle();
    const s = src.engine.service(k);
    if (!s) throw new ApiError(404, 'ESRCH', `No such service: ${id}`);
    return s;
  };
  const real = (s: ServiceSnapshot, id: string): DestSnapshot => {
    const r = parseRealId(id);
    if (!r) throw new ApiError(400, 'EBADREQ', `'${id}' is not a real server id (ADDR-PORT)`);
    const dest = s.dests.find((x) => x.addr === r.addr && x.port === r.port);
    if (!dest) throw new ApiError(404, 'ENOENT', `No such destination: ${id} in ${serviceName(s)}`);
    return dest;
  };
  /** Parses argv as tsvsadm does and applies the command; throws ApiError with ipvsadm's message. */
  const run = async (argv: string[]): Promise<IpvsCommand> => {
    const p = parseIpvsadm(argv);
    if (isFailure(p)) throw new ApiError(400, 'EBADREQ', p.message.replace(/\n[\s\S]*$/, ''));
    if (p.kind !== 'apply') throw new ApiError(500, 'EINTERNAL', `not a command: ${argv.join(' ')}`);
    const cmd = p.command;
    let errno: Errno | null = null;
    const { refusals } = await d.withBackend((b) => { errno = b.apply(cmd); });
    if (errno) {
      const e: Errno = errno;
      const msg = [commandErrorMessage(cmd, e), ...refusals].join('; ');
      // ENOENT of -A/-E is an unknown scheduler or persistence engine: the request is wrong, nothing is missing.
      const status = e === 'ENOENT' && (cmd.kind === 'add-service' || cmd.kind === 'edit-service') ? 400 : ERRNO_STATUS[e] ?? 400;
      throw new ApiError(status, e, msg);
    }
    return cmd;
  };
  const keyOf = (cmd: IpvsCommand): ServiceKey => ('svc' in cmd ? cmd.svc : 'key' in cmd && cmd.key ? cmd.key : (() => { throw new Error('no key'); })());
  const svcOut = (k: ServiceKey) => {
    const s = src.engine.service(k);
    return s ? serviceView(s) : null;
  };
  const drainErr = (e: unknown): never => {
    if (e instanceof DrainError) throw new ApiError(e.code === 'EEXIST' ? 409 : e.code === 'ESRCH' || e.code === 'ENOENT' || e.code === 'ENOTFOUND' ? 404 : 400, e.code, e.message);
    throw e;
  };

  const list: RouteDef[] = [
    { method: 'GET', path: '/', summary: 'The API\'s endpoints', write: false, handler: async () => ({ version: 1, openapi: `${API_PREFIX}/openapi.json`, paths: list.map((r) => `${r.method} ${API_PREFIX}${r.path === '/' ? '' : r.path}`) }) },
    { method: 'GET', path: '/whoami', summary: 'The role of the presented token: open (no --http-token: reads only), read or admin', write: false, handler: async ({ role }) => ({ role, writes: role === 'admin' }) },
    {
      method: 'GET', path: '/status', summary: 'The daemon at a glance (tsvs status --json)', write: false,
      handler: async () => { const s = await takeLiveSnapshot(src); return { ...d.status(), syncDaemons: s.sync, total: s.total, connTable: s.connTable, drains: s.drains }; },
    },
    { method: 'GET', path: '/overview', summary: 'Services, real servers, health, rates, drains, VRRP and sync in one (the dashboard\'s poll)', write: false, handler: async () => overview(await snap()) },
    { method: 'GET', path: '/services', summary: 'Every virtual service with its real servers, counters and rates (tsvsadm -L -n --stats --rate)', write: false, handler: async () => { src.settle(); return { services: src.engine.services().map(serviceView) }; } },
    {
      method: 'POST', path: '/services', summary: 'Add a virtual service (tsvsadm -A)', write: true, body: 'ServiceInput', status: 201,
      handler: async ({ body }) => {
        const b = body as SvcOpts & { protocol?: string; addr?: string; port?: number; fwmark?: number; af?: number };
        let key: string[];
        if (b.fwmark !== undefined) {
          if (b.protocol !== undefined || b.addr !== undefined || b.port !== undefined) throw new ApiError(400, 'EBADREQ', 'body: a firewall-mark service has no protocol, addr or port');
          if (b.af !== undefined && b.af !== 4 && b.af !== 6) throw new ApiError(400, 'EBADREQ', 'body.af: must be 4 or 6');
          key = ['-f', String(b.fwmark), ...(b.af === 6 ? ['-6'] : [])];
        } else {
          if (b.protocol === undefined || b.addr === undefined || b.port === undefined) throw new ApiError(400, 'EBADREQ', 'body: give protocol, addr and port, or fwmark');
          if (b.af !== undefined) throw new ApiError(400, 'EBADREQ', 'body.af: only for firewall-mark services (the address says it)');
          key = svcArgs({ af: b.addr.includes(':') ? 6 : 4, fwmark: 0, protocol: b.protocol as 'tcp', addr: b.addr, port: b.port });
        }
        return svcOut(keyOf(await run(['-A', ...key, ...svcOptArgs(b)])));
      },
    },
    { method: 'DELETE', path: '/services', summary: 'Delete every virtual service (tsvsadm -C)', write: true, handler: async () => { await run(['-C']); return { flushed: true }; } },
    { method: 'GET', path: '/services/{service}', summary: 'One virtual service', write: false, handler: async ({ params }) => serviceView(service(params['service']!)) },
    {
      method: 'PUT', path: '/services/{service}', summary: 'Change a virtual service\'s scheduler or persistence (tsvsadm -E); fields not given keep their values', write: true, body: 'ServicePatch',
      handler: async ({ params, body }) => {
        const s = service(params['service']!);
        return svcOut(keyOf(await run(['-E', ...svcArgs(s), ...svcOptArgs({ ...svcOptsOf(s), ...(body as SvcOpts) })])));
      },
    },
    { method: 'DELETE', path: '/services/{service}', summary: 'Delete a virtual service (tsvsadm -D)', write: true, handler: async ({ params }) => { const s = service(params['service']!); await run(['-D', ...svcArgs(s)]); return { deleted: serviceId(s) }; } },
    { method: 'GET', path: '/services/{service}/reals', summary: 'The real servers of a service', write: false, handler: async ({ params }) => ({ reals: service(params['service']!).dests.map(destView) }) },
    {
      method: 'POST', path: '/services/{service}/reals', summary: 'Add a real server (tsvsadm -a)', write: true, body: 'RealInput', status: 201,
      handler: async ({ params, body }) => {
        const s = service(params['service']!);
        const b = body as RealOpts & { addr: string; port?: number };
        const cmd = await run(['-a', ...svcArgs(s), '-r', b.port !== undefined ? hostPort(b.addr, b.port) : b.addr.includes(':') ? `[${b.addr}]` : b.addr, ...realOptArgs(b)]);
        if (cmd.kind !== 'add-dest') return null;
        const addr = canonicalIp(cmd.dest.addr);
        const dv = src.engine.service(s)?.dests.find((x) => x.addr === addr && x.port === cmd.dest.port);
        return dv ? destView(dv) : null;
      },
    },
    { method: 'GET', path: '/services/{service}/reals/{real}', summary: 'One real server', write: false, handler: async ({ params }) => destView(real(service(params['service']!), params['real']!)) },
    {
      method: 'PUT', path: '/services/{service}/reals/{real}', summary: 'Change a real server\'s weight, method or thresholds (tsvsadm -e); fields not given keep their values', write: true, body: 'RealPatch',
      handler: async ({ params, body }) => {
        const s = service(params['service']!);
        const r = real(s, params['real']!);
        await run(['-e', ...svcArgs(s), '-r', hostPort(r.addr, r.port), ...realOptArgs({ ...realOptsOf(r), ...(body as RealOpts) })]);
        const now = src.engine.service(s);
        const dv = now?.dests.find((x) => x.addr === r.addr && x.port === r.port);
        return dv ? destView(dv) : null;
      },
    },
    {
      method: 'DELETE', path: '/services/{service}/reals/{real}', summary: 'Delete a real server at once (tsvsadm -d; see drain for the graceful way)', write: true,
      handler: async ({ params }) => { const s = service(params['service']!); const r = real(s, params['real']!); await run(['-d', ...svcArgs(s), '-r', hostPort(r.addr, r.port)]); return { deleted: realId(r.addr, r.port) }; },
    },
    {
      method: 'POST', path: '/services/{service}/reals/{real}/drain', summary: 'Drain a real server: weight 0, no new connections or persistence templates, wait for ActiveConn 0 or the timeout, then delete or keep', write: true, body: 'DrainInput', status: 202,
      handler: async ({ params, body }) => {
        const s = service(params['service']!);
        const r = real(s, params['real']!);
        const b = body as { timeout?: number; then?: 'delete' | 'keep' };
        return d.drainer.start({ key: s, addr: r.addr, port: r.port, ...(b.timeout !== undefined ? { timeoutS: b.timeout } : {}), ...(b.then ? { then: b.then } : {}) }).catch(drainErr);
      },
    },
    { method: 'GET', path: '/drains', summary: 'Running and recent drains with their progress', write: false, handler: async () => ({ drains: d.drainer.list() }) },
    {
      method: 'DELETE', path: '/drains/{service}/{real}', summary: 'Cancel a running drain (the weight it had is restored)', write: true,
      handler: async ({ params }) => d.drainer.cancel(`${params['service']}/${params['real']}`).catch(drainErr),
    },
    { method: 'GET', path: '/timeouts', summary: 'TCP, TCP FIN and UDP timeouts (tsvsadm -L --timeout)', write: false, handler: async () => src.engine.timeouts() },
    {
      method: 'PUT', path: '/timeouts', summary: 'Set timeouts (tsvsadm --set)', write: true, body: 'TimeoutsInput',
      handler: async ({ body }) => { const b = body as { tcp?: number; tcpfin?: number; udp?: number }; await run(['--set', String(b.tcp ?? 0), String(b.tcpfin ?? 0), String(b.udp ?? 0)]); return src.engine.timeouts(); },
    },
    {
      method: 'GET', path: '/connections', summary: 'The connection table (tsvsadm -L -n -c)', write: false,
      query: [
        { name: 'service', description: 'only this service\'s connections', schema: { type: 'string' } },
        { name: 'limit', description: 'at most this many (default 1000, at most 100000)', schema: { type: 'integer', minimum: 1, maximum: 100000 } },
      ],
      handler: async ({ query }) => {
        const limit = query.get('limit') === null ? 1000 : Number(query.get('limit'));
        if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new ApiError(400, 'EBADREQ', 'limit: an integer 1..100000');
        const sid = query.get('service');
        const k = sid === null ? null : parseServiceId(sid);
        if (sid !== null && !k) throw new ApiError(400, 'EBADREQ', `'${sid}' is not a service id`);
        if (k && k.fwmark > 0) throw new ApiError(400, 'EBADREQ', 'service: connections are filtered by address services only (a firewall-mark service\'s connections carry the packets\' addresses)');
        let all = takeConnections(src);
        if (k) all = all.filter((c) => c.vaddr === k.addr && c.vport === k.port && c.protocol === k.protocol.toUpperCase());
        return { total: all.length, connections: all.slice(0, limit) };
      },
    },
    {
      method: 'POST', path: '/zero', summary: 'Zero the counters of one or every service (tsvsadm -Z)', write: true, body: 'ZeroInput',
      handler: async ({ body }) => { const sid = body['service'] as string | undefined; await run(sid ? ['-Z', ...svcArgs(service(sid))] : ['-Z']); return { zeroed: sid ?? 'all' }; },
    },
    {
      method: 'POST', path: '/reload', summary: 'Reload --rules or the keepalived/ldirectord file (refused whole if invalid)', write: true,
      handler: async () => { const r = await d.reload(); if (!r.ok) throw new ApiError(422, 'ERELOAD', r.error ?? 'reload failed'); return { commands: r.commands ?? 0 }; },
    },
    {
      method: 'GET', path: '/explain', summary: 'Which real server a new connection from the client would get now and why (scheduler state, persistence template, thresholds, weight 0), and with a client port its existing connection entry (tsvs explain). Changes nothing.', write: false,
      query: [
        { name: 'service', description: 'the service id (tcp-ADDR-PORT, udp-ADDR-PORT, sctp-ADDR-PORT, fwm-MARK, fwm6-MARK); required', schema: { type: 'string' } },
        { name: 'client', description: 'the client\'s address (numeric, the service\'s family); required', schema: { type: 'string' } },
        { name: 'cport', description: 'the client\'s port: its existing connection entry is looked up too', schema: { type: 'integer', minimum: 0, maximum: 65535 } },
      ],
      handler: async ({ query }) => {
        for (const k of query.keys()) if (!['service', 'client', 'cport'].includes(k)) throw new ApiError(400, 'EBADREQ', `explain: unknown parameter '${k}' (service, client, cport)`);
        const sid = query.get('service');
        const client = query.get('client');
        if (!sid) throw new ApiError(400, 'EBADREQ', 'explain needs service=SERVICE-ID (tcp-ADDR-PORT, udp-ADDR-PORT, sctp-ADDR-PORT, fwm-MARK, fwm6-MARK)');
        if (!client) throw new ApiError(400, 'EBADREQ', 'explain needs client=ADDRESS');
        const key = parseServiceId(sid);
        if (!key) throw new ApiError(400, 'EBADREQ', `'${sid}' is not a service id (tcp-ADDR-PORT, udp-ADDR-PORT, sctp-ADDR-PORT, fwm-MARK, fwm6-MARK)`);
        const cp = query.get('cport');
        if (cp !== null && (!/^\d{1,5}$/.test(cp) || Number(cp) > 65535)) throw new ApiError(400, 'EBADREQ', `cport: an integer 0..65535 (got '${cp}')`);
        // Connections the forwarder accepted but has not reported yet are accounted first.
        await src.settle();
        try {
          return explain(src.engine, { service: key, client, ...(cp !== null ? { cport: Number(cp) } : {}) });
        } catch (e) {
          if (e instanceof ControlError) throw new ApiError(e.code === 'ESRCH' ? 404 : 400, e.code, e.message);
          throw e;
        }
      },
    },
    { method: 'GET', path: '/health', summary: 'Health checkers: state, last result and reason, since when (keepalived/ldirectord mode)', write: false, handler: async () => ({ health: src.health() }) },
    { method: 'GET', path: '/bgp', summary: 'The BGP announcement (--bgp bird): each prefix announced or not, the sessions, BIRD; null without --bgp', write: false, handler: async () => ({ bgp: (await src.bgp?.()) ?? null }) },
    { method: 'GET', path: '/vrrp', summary: 'VRRP instances: state, priority, advert counters, transitions', write: false, handler: async () => ({ vrrp: src.vrrp() }) },
    { method: 'GET', path: '/sync', summary: 'Connection sync daemons: configuration (tsvsadm -L --daemon) and counters', write: false, handler: async () => ({ daemons: src.engine.daemons(), sync: await src.sync() }) },
    {
      method: 'POST', path: '/sync', summary: 'Start a sync daemon (tsvsadm --start-daemon)', write: true, body: 'SyncInput', status: 201,
      handler: async ({ body }) => {
        const b = body as { state: string; mcastIfn?: string; syncid?: number };
        await run(['--start-daemon', b.state, ...(b.mcastIfn ? ['--mcast-interface', b.mcastIfn] : []), ...(b.syncid !== undefined ? ['--syncid', String(b.syncid)] : [])]);
        return { sync: await src.sync() };
      },
    },
    {
      method: 'DELETE', path: '/sync/{state}', summary: 'Stop a sync daemon (tsvsadm --stop-daemon)', write: true,
      handler: async ({ params }) => {
        const st = params['state'];
        if (st !== 'master' && st !== 'backup') throw new ApiError(400, 'EBADREQ', 'state: master or backup');
        await run(['--stop-daemon', st]);
        return { stopped: st };
      },
    },
  ];
  return list;
}

// ---- OpenAPI -------------------------------------------------------------------------------------------

/** GET /services/{service}/reals → getServicesByServiceReals; GET / → getIndex. */
function operationId(method: string, path: string): string {
  const parts = path.split('/').filter((x) => x).map((x) => {
    const m = /^\{(\w+)\}$/.exec(x);
    const w = m ? `By-${m[1]}` : x;
    return w.split('-').map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('');
  });
  return method.toLowerCase() + (parts.join('') || 'Index');
}

export function openApi(routes: readonly RouteDef[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const err = { description: 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  for (const r of routes) {
    const p = `${API_PREFIX}${r.path === '/' ? '' : r.path}`;
    const params = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    paths[p] ??= {};
    paths[p][r.method.toLowerCase()] = {
      summary: r.summary,
      operationId: operationId(r.method, r.path),
      ...(params.length || r.query ? { parameters: [...params, ...(r.query ?? []).map((q) => ({ name: q.name, in: 'query', required: false, description: q.description, schema: q.schema }))] } : {}),
      ...(r.body ? { requestBody: { required: r.body === 'ServiceInput' || r.body === 'RealInput' || r.body === 'SyncInput', content: { 'application/json': { schema: { $ref: `#/components/schemas/${r.body}` } } } } } : {}),
      security: r.write ? [{ bearer: ['admin'] }] : [{}, { bearer: ['read'] }],
      responses: { [String(r.status ?? 200)]: { description: 'OK', content: { 'application/json': { schema: { type: 'object' } } } }, 400: err, 401: err, 403: err, 404: err, 409: err },
    };
  }
  return {
    openapi: '3.0.3',
    info: { title: 'tsvs HTTP API', version: `1 (tsvs ${version})`, description: 'Everything tsvsadm and tsvs status do, and drains. Errors: {"error": {"code", "message"}} with the stable codes of docs/ERRORS.md.' },
    servers: [{ url: '/' }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A token from the --http-token file: read tokens read, admin tokens also write. Without --http-token reads are open and writes refused.' } },
      schemas: { ...SCHEMAS, Error: { type: 'object', properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } } } } },
    },
  };
}

// ---- HTTP glue ---------------------------------------------------------------------------------------

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > MAX_BODY) throw new ApiError(413, 'ETOOBIG', `request body over ${MAX_BODY} bytes`);
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  const ct = String(req.headers['content-type'] ?? '');
  if (!/^application\/json\b/i.test(ct)) throw new ApiError(415, 'EBADREQ', `request bodies are JSON: Content-Type: application/json (got '${ct}')`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, 'EBADREQ', `malformed JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ApiError(400, 'EBADREQ', 'body: must be a JSON object');
  return v as Record<string, unknown>;
}

function match(pattern: string, path: string): Record<string, string> | null {
  const a = pattern.split('/');
  const b = path.split('/');
  if (a.length !== b.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < a.length; i++) {
    const m = /^\{(\w+)\}$/.exec(a[i]!);
    if (m) {
      if (b[i] === '') return null;
      try {
        params[m[1]!] = decodeURIComponent(b[i]!);
      } catch {
        return null;
      }
    } else if (a[i] !== b[i]) return null;
  }
  return params;
}

/** The /api/v1 route for the HTTP server. */
/** `tokens`: the tokens in force, read per request (a reload may swap them: src/daemon/observers.ts). */
export function apiRoute(d: ApiDaemon, tokensNow: () => TokenSet | null, version: string): Route {
  const routes = buildRoutes(d);
  const doc = JSON.stringify(openApi(routes, version), null, 2);
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    if (url.pathname !== API_PREFIX && !url.pathname.startsWith(`${API_PREFIX}/`)) return false;
    const sub = url.pathname.slice(API_PREFIX.length).replace(/\/$/, '') || '/';
    try {
      if (sub === '/openapi.json') {
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new ApiError(405, 'EMETHOD', `${req.method} is not allowed here (GET)`);
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(doc) });
        res.end(req.method === 'HEAD' ? undefined : doc);
        return true;
      }
      const found = routes.map((r) => ({ r, params: match(r.path, sub) })).filter((x) => x.params !== null);
      if (found.length === 0) throw new ApiError(404, 'ENOTFOUND', `no such API path: ${url.pathname}`);
      const hit = found.find((x) => x.r.method === req.method);
      if (!hit) {
        const allow = found.map((x) => x.r.method).join(', ');
        res.setHeader('allow', allow);
        throw new ApiError(405, 'EMETHOD', `${req.method} is not allowed on ${url.pathname} (${allow})`);
      }
      const r = hit.r;
      // Access before anything is read or done.
      let role: Role | 'open' = 'open';
      const auth = req.headers['authorization'];
      const tokens = tokensNow();
      if (tokens) {
        const m = typeof auth === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
        if (!m) throw new ApiError(401, 'EAUTH', 'this API needs Authorization: Bearer TOKEN (a token from the daemon\'s --http-token file)');
        const got = tokens.roleOf(m[1]!);
        if (!got) throw new ApiError(401, 'EAUTH', 'unknown token');
        role = got;
        if (r.write && role !== 'admin') throw new ApiError(403, 'EFORBIDDEN', 'a read-only token cannot change anything: use an admin token');
      } else if (r.write) {
        throw new ApiError(403, 'EREADONLY', 'writes are disabled: start the daemon with --http-token FILE holding an admin token');
      }
      const body = r.method === 'GET' || r.method === 'DELETE' ? {} : await readBody(req);
      if (r.body) {
        const e = validate(SCHEMAS[r.body], body);
        if (e) throw new ApiError(400, 'EBADREQ', e);
      } else if (Object.keys(body).length > 0) throw new ApiError(400, 'EBADREQ', `${r.method} ${url.pathname} takes no body`);
      const out = await r.handler({ params: hit.params!, body, query: url.searchParams, role });
      if (r.write) d.log.info({ method: r.method, path: url.pathname, role }, 'api change');
      sendJson(res, r.status ?? 200, out ?? {});
    } catch (e) {
      if (e instanceof ApiError) {
        const h: Record<string, string> = e.status === 401 ? { 'www-authenticate': 'Bearer realm="tsvs"' } : {};
        sendError(res, e.status, e.code, e.message, h);
      } else throw e;
    }
    return true;
  };
}
