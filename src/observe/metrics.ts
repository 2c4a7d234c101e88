/**
 * `GET /metrics`: the snapshot in Prometheus text format (docs/OBSERVABILITY.md lists every
 * family).
 *
 * 1. node_exporter's IPVS collector, same names, types, HELP, labels and label values, so the
 *    LVS dashboards (grafana.com 5672, 4910) and their alerts work unchanged. Rows with the
 *    same label tuple are summed, as node_exporter sums them.
 * 2. What no exporter gives: per real server health, VRRP (under mehdy/keepalived-exporter's
 *    names), sync daemon counters, forwarder drops by reason, the kernel fast path, the
 *    connection table, per-service counters and estimator rates, drains.
 *
 * Pure: the process metrics (prom-client) are appended by the HTTP layer.
 */
import type { DestVisit, ServiceKey, ServiceSnapshot, ServiceVisit, ServiceVisitor } from '../core/types.ts';
import type { LiveSnapshot, ObserveSnapshot } from './snapshot.ts';
import { PromText, labels, moreLabels, type MetricType } from './prom.ts';
import { backendLabels, backendPrefix, goIp, serviceLabels, splitHostPort } from './ipvs-labels.ts';

/** HELP texts copied from node_exporter's collector/fixtures/e2e-output.txt. */
export const NODE_IPVS_FAMILIES = {
  node_ipvs_backend_connections_active: { type: 'gauge', help: 'The current active connections by local and remote address.' },
  node_ipvs_backend_connections_inactive: { type: 'gauge', help: 'The current inactive connections by local and remote address.' },
  node_ipvs_backend_weight: { type: 'gauge', help: 'The current backend weight by local and remote address.' },
  node_ipvs_connections_total: { type: 'counter', help: 'The total number of connections made.' },
  node_ipvs_incoming_bytes_total: { type: 'counter', help: 'The total amount of incoming data.' },
  node_ipvs_incoming_packets_total: { type: 'counter', help: 'The total number of incoming packets.' },
  node_ipvs_outgoing_bytes_total: { type: 'counter', help: 'The total amount of outgoing data.' },
  node_ipvs_outgoing_packets_total: { type: 'counter', help: 'The total number of outgoing packets.' },
} as const satisfies Record<string, { type: MetricType; help: string }>;

/** keepalived's numbering of VRRP states (mehdy/keepalived-exporter's keepalived_vrrp_state values). */
const VRRP_STATE_VALUE: Readonly<Record<string, number>> = { INIT: 0, BACKUP: 1, MASTER: 2, FAULT: 3, STOP: 0 };

/** Sync daemon counters (src/ha/sync-daemon.ts) and their metric names. */
const SYNC_COUNTERS: readonly (readonly [string, string, string])[] = [
  ['sent', 'tsvs_sync_messages_sent_total', 'Sync messages sent (master).'],
  ['sentConns', 'tsvs_sync_connections_sent_total', 'Connection entries sent in sync messages (master).'],
  ['refreshed', 'tsvs_sync_connections_refreshed_total', 'Entries queued again by the periodic full refresh (master).'],
  ['received', 'tsvs_sync_messages_received_total', 'Sync messages received (backup).'],
  ['imported', 'tsvs_sync_connections_imported_total', 'Connection entries imported into the table (backup).'],
  ['rejected', 'tsvs_sync_connections_rejected_total', 'Sync messages or entries rejected (bad size, wrong syncid, no matching service or real server).'],
];

/** Leading stable code of a check result reason ("refused: connect ECONNREFUSED ..." → "refused"). */
export function resultCode(reason: string): string {
  const i = reason.indexOf(':');
  return (i < 0 ? reason : reason.slice(0, i)).trim();
}

export interface MetricsOptions {
  /** tsvs version for tsvs_build_info. */
  readonly version: string;
  /** Label sets kept from the last scrape (the HTTP server keeps one); a fresh one when absent. */
  readonly cache?: MetricsLabelCache;
  /** The writer to render into (reset by the caller between scrapes); a fresh one when absent. */
  readonly writer?: PromText;
}

/** A family name, encoded once. */
const NAME_BYTES = new Map<string, Buffer>();
function nameBytes(name: string): Buffer {
  let b = NAME_BYTES.get(name);
  if (!b) NAME_BYTES.set(name, (b = Buffer.from(name)));
  return b;
}

/** What /metrics renders: a snapshot, or one whose services are read from the engine as they are rendered. */
export type MetricsInput = ObserveSnapshot | LiveSnapshot;

/** A snapshot's list of services, handed to a visitor as Engine.visitServices hands its table. */
function visitList(services: readonly ServiceSnapshot[], v: ServiceVisitor): void {
  for (const svc of services) {
    v.service(svc);
    for (const d of svc.dests) v.dest(d);
  }
}

interface DestLabels {
  readonly addr: string;
  readonly port: number;
  /** node_exporter's backend label set, and it encoded with the space before the value. */
  readonly str: string;
  readonly bytes: Buffer;
}

interface SvcLabels {
  readonly key: ServiceKey;
  /** The service's label set (tsvs_service_*), as text and encoded with the trailing space. */
  readonly str: string;
  readonly bytes: Buffer;
  /** backendPrefix(): its backends' label sets start with it. */
  readonly prefix: string;
  /** Its real servers' label sets, in order (as many as it has this scrape). */
  readonly dests: DestLabels[];
  /** tsvs_service_info's label set (scheduler and persistence timeout added), encoded with the trailing space. */
  info: { readonly scheduler: string; readonly persistent: number; readonly bytes: Buffer } | null;
}

const sameKey = (a: ServiceKey, b: ServiceKey): boolean =>
  a.port === b.port && a.addr === b.addr && a.fwmark === b.fwmark && a.protocol === b.protocol && a.af === b.af;

/** Per service values, in this order, SVC_COLS of them per service. */
const SVC_COL = { conns: 0, inpkts: 1, outpkts: 2, inbytes: 3, outbytes: 4, cps: 5, inpps: 6, outpps: 7, inbps: 8, outbps: 9, persistent: 10 } as const;
const SVC_COLS = 11;

function room(a: Float64Array<ArrayBuffer>, n: number): Float64Array<ArrayBuffer> {
  if (n <= a.length) return a;
  const b = new Float64Array(Math.max(n, a.length * 2));
  b.set(a);
  return b;
}

/**
 * The label sets of every service and real server, rendered and encoded once and kept between
 * scrapes: a scrape of a 1,000 x 10 table writes ~40,000 samples whose labels rarely change.
 * Entries are checked against the table as it is read (service key; real servers' address and
 * port, in order) and rebuilt where they differ; services gone since the last scrape are dropped.
 *
 * It is also where a scrape reads the table into (the values of each service and real server in
 * columns reused from scrape to scrape), so a scrape of a live engine builds no object per service
 * or real server. One render at a time per cache.
 */
export class MetricsLabelCache implements ServiceVisitor {
  /** Last scrape's services in order (the common case: the same list again), and by key. */
  private prev: SvcLabels[] = [];
  private byKey: Map<string, SvcLabels> | null = null;
  /** This scrape's services, in order. */
  labels: SvcLabels[] = [];
  /** Per service: its scheduler; the SVC_COL values. */
  schedulers: string[] = [];
  svcVals = new Float64Array(SVC_COLS * 1024);
  /** Per real server, all services' in order: ActiveConn, InActConn, weight. */
  active = new Float64Array(16 * 1024);
  inact = new Float64Array(16 * 1024);
  weight = new Float64Array(16 * 1024);
  /** Services and real servers read so far this scrape. */
  private n = 0;
  private m = 0;
  private cur: SvcLabels | null = null;
  /** Real servers of the current service read so far. */
  private j = 0;

  /** Reads this scrape's table (the visit calls service() and dest()). */
  read(visit: (v: ServiceVisitor) => void): void {
    // The list from two scrapes ago is reused for this one.
    const spare = this.prev;
    this.prev = this.labels;
    this.labels = spare;
    this.byKey = null;
    this.n = this.m = this.j = 0;
    this.cur = null;
    visit(this);
    this.endService();
    this.labels.length = this.n;
    this.schedulers.length = this.n;
  }

  service(svc: ServiceVisit): void {
    this.endService();
    const i = this.n++;
    let e = this.prev[i];
    if (!e || !sameKey(e.key, svc)) e = this.find(svc);
    this.labels[i] = e;
    this.cur = e;
    this.j = 0;
    this.schedulers[i] = svc.scheduler;
    const v = (this.svcVals = room(this.svcVals, (i + 1) * SVC_COLS));
    const o = i * SVC_COLS;
    const st = svc.stats;
    const rt = svc.rates;
    v[o + SVC_COL.conns] = st.conns;
    v[o + SVC_COL.inpkts] = st.inpkts;
    v[o + SVC_COL.outpkts] = st.outpkts;
    v[o + SVC_COL.inbytes] = st.inbytes;
    v[o + SVC_COL.outbytes] = st.outbytes;
    v[o + SVC_COL.cps] = rt.cps;
    v[o + SVC_COL.inpps] = rt.inpps;
    v[o + SVC_COL.outpps] = rt.outpps;
    v[o + SVC_COL.inbps] = rt.inbps;
    v[o + SVC_COL.outbps] = rt.outbps;
    v[o + SVC_COL.persistent] = svc.flags & 1 ? svc.timeout : 0;
  }

  dest(d: DestVisit): void {
    const e = this.cur!;
    const j = this.j++;
    const l = e.dests[j];
    if (!l || l.addr !== d.addr || l.port !== d.port) {
      const str = e.prefix + goIp(d.addr) + '",remote_port="' + d.port + '"}';
      e.dests[j] = { addr: d.addr, port: d.port, str, bytes: Buffer.from(str + ' ') };
    }
    const k = this.m++;
    if (k >= this.active.length) {
      this.active = room(this.active, k + 1);
      this.inact = room(this.inact, k + 1);
      this.weight = room(this.weight, k + 1);
    }
    this.active[k] = d.activeConns;
    this.inact[k] = d.inactConns;
    this.weight[k] = d.weight;
  }

  /** The current service's real servers gone since the last scrape are dropped. */
  private endService(): void {
    if (this.cur && this.cur.dests.length > this.j) this.cur.dests.length = this.j;
  }

  /** tsvs_service_info's label set of the i-th service this scrape. */
  infoBytes(i: number): Buffer {
    const e = this.labels[i]!;
    const scheduler = this.schedulers[i]!;
    const persistent = this.svcVals[i * SVC_COLS + SVC_COL.persistent]!;
    if (e.info?.scheduler !== scheduler || e.info.persistent !== persistent) {
      e.info = { scheduler, persistent, bytes: Buffer.from(moreLabels(e.str, [['scheduler', scheduler], ['persistent', String(persistent)]]) + ' ') };
    }
    return e.info.bytes;
  }

  /** Off the common path (services added, removed or reordered): by key, else new. */
  private find(svc: ServiceKey): SvcLabels {
    const k = (x: ServiceKey) => `${x.af}|${x.fwmark}|${x.protocol}|${x.addr}|${x.port}`;
    this.byKey ??= new Map(this.prev.map((e) => [k(e.key), e]));
    const hit = this.byKey.get(k(svc));
    if (hit) return hit;
    const str = serviceLabels(svc);
    const key: ServiceKey = { af: svc.af, fwmark: svc.fwmark, protocol: svc.protocol, addr: svc.addr, port: svc.port };
    return { key, str, bytes: Buffer.from(str + ' '), prefix: backendPrefix(svc), dests: [], info: null };
  }
}

/**
 * The text in pieces of about one family of backends each (a 1,000 x 10 table is ~6 MB), each a
 * view of the writer's buffer. A LiveSnapshot's services are read from the engine when the first
 * piece is asked for.
 */
export function* renderMetricsChunks(s: MetricsInput, opts: MetricsOptions): Generator<Buffer> {
  const p = opts.writer ?? new PromText();
  const t = opts.cache ?? new MetricsLabelCache();
  t.read('visitServices' in s ? (v) => s.visitServices(v) : (v) => visitList(s.services, v));
  for (const _ of renderNodeIpvs(p, s, t)) yield p.take();
  renderServices(p, s, t);
  yield p.take();
  renderHealth(p, s);
  renderDrains(p, s);
  renderVrrp(p, s);
  renderSync(p, s);
  renderForwarder(p, s);
  renderBgp(p, s);
  p.family('tsvs_build_info', 'gauge', 'A constant 1 labelled with the tsvs version.').sample('tsvs_build_info', labels([['version', opts.version]]), 1);
  yield p.take();
}

export function renderMetrics(s: MetricsInput, opts: MetricsOptions): string {
  return Buffer.concat([...renderMetricsChunks(s, opts)]).toString('utf8');
}

/** Yields after each backend family (the caller takes the text). */
function* renderNodeIpvs(p: PromText, s: MetricsInput, t: MetricsLabelCache): Generator<void> {
  // One label set per backend (cached). Rows with the same label tuple are summed
  // (node_exporter's `sums` map); that needs a map only when two services share their labels
  // (IPv4 and IPv6 firewall-mark services with one mark, an IPv4-mapped IPv6 address), so the
  // common case writes the columns as they were read.
  const svcLabels = t.labels;
  const prefixes = new Set<string>();
  let shared = false;
  for (const c of svcLabels) {
    if (prefixes.has(c.prefix)) shared = true;
    prefixes.add(c.prefix);
  }
  let lbl: Buffer[] = [];
  let active: ArrayLike<number> = t.active;
  let inact: ArrayLike<number> = t.inact;
  let weight: ArrayLike<number> = t.weight;
  if (!shared) {
    for (const c of svcLabels) for (const d of c.dests) lbl.push(d.bytes);
  } else ({ lbl, active, inact, weight } = summed(t));
  const F = NODE_IPVS_FAMILIES;
  const fam = (name: keyof typeof F, v: ArrayLike<number>): void => {
    p.family(name, F[name].type, F[name].help);
    const nb = nameBytes(name);
    for (let i = 0; i < lbl.length; i++) p.sampleBytes(nb, lbl[i]!, v[i]!);
  };
  fam('node_ipvs_backend_connections_active', active);
  yield;
  fam('node_ipvs_backend_connections_inactive', inact);
  yield;
  fam('node_ipvs_backend_weight', weight);
  yield;
  const tot = s.total.stats;
  const one = (name: keyof typeof F, v: number): void => {
    p.family(name, F[name].type, F[name].help).sample(name, '', v);
  };
  one('node_ipvs_connections_total', tot.conns);
  one('node_ipvs_incoming_bytes_total', tot.inbytes);
  one('node_ipvs_incoming_packets_total', tot.inpkts);
  one('node_ipvs_outgoing_bytes_total', tot.outbytes);
  one('node_ipvs_outgoing_packets_total', tot.outpkts);
}

/** The backend rows summed by label tuple, from the first service whose labels an earlier one shares on. */
function summed(t: MetricsLabelCache): { lbl: Buffer[]; active: number[]; inact: number[]; weight: number[] } {
  const lbl: Buffer[] = [];
  const active: number[] = [];
  const inact: number[] = [];
  const weight: number[] = [];
  const svcLabels = t.labels;
  const prefixes = new Set<string>();
  let merge: Map<string, number> | null = null;
  let k = 0;
  for (let i = 0; i < svcLabels.length; i++) {
    const c = svcLabels[i]!;
    if (prefixes.has(c.prefix)) merge ??= new Map(svcLabels.slice(0, i).flatMap((x) => x.dests.map((d) => d.str)).map((l, n) => [l, n]));
    prefixes.add(c.prefix);
    for (const l of c.dests) {
      const at = merge?.get(l.str);
      if (at !== undefined) {
        active[at] += t.active[k]!;
        inact[at] += t.inact[k]!;
        weight[at] += t.weight[k]!;
      } else {
        merge?.set(l.str, lbl.length);
        lbl.push(l.bytes);
        active.push(t.active[k]!);
        inact.push(t.inact[k]!);
        weight.push(t.weight[k]!);
      }
      k++;
    }
  }
  return { lbl, active, inact, weight };
}

function renderServices(p: PromText, s: MetricsInput, t: MetricsLabelCache): void {
  const svcLabels = t.labels;
  const v = t.svcVals;
  const per = (name: string, type: MetricType, help: string, col: number): void => {
    p.family(name, type, help);
    const nb = nameBytes(name);
    for (let i = 0; i < svcLabels.length; i++) p.sampleBytes(nb, svcLabels[i]!.bytes, v[i * SVC_COLS + col]!);
  };
  p.family('tsvs_service_info', 'gauge', 'A constant 1 per virtual service, labelled with its scheduler and persistence timeout (0 = not persistent).');
  const info = nameBytes('tsvs_service_info');
  for (let i = 0; i < svcLabels.length; i++) p.sampleBytes(info, t.infoBytes(i), 1);
  const C = SVC_COL;
  per('tsvs_service_connections_total', 'counter', 'Connections scheduled by the virtual service.', C.conns);
  per('tsvs_service_incoming_packets_total', 'counter', 'Packets from clients to the virtual service.', C.inpkts);
  per('tsvs_service_outgoing_packets_total', 'counter', 'Packets from real servers back to clients (NAT; 0 for DR/TUN, whose replies bypass the director).', C.outpkts);
  per('tsvs_service_incoming_bytes_total', 'counter', 'Bytes from clients to the virtual service.', C.inbytes);
  per('tsvs_service_outgoing_bytes_total', 'counter', 'Bytes from real servers back to clients.', C.outbytes);
  per('tsvs_service_connections_per_second', 'gauge', 'New connections per second (the kernel estimator: 2 s samples, EWMA), as ipvsadm --rate shows.', C.cps);
  per('tsvs_service_incoming_packets_per_second', 'gauge', 'Incoming packets per second (estimator).', C.inpps);
  per('tsvs_service_outgoing_packets_per_second', 'gauge', 'Outgoing packets per second (estimator).', C.outpps);
  per('tsvs_service_incoming_bytes_per_second', 'gauge', 'Incoming bytes per second (estimator).', C.inbps);
  per('tsvs_service_outgoing_bytes_per_second', 'gauge', 'Outgoing bytes per second (estimator).', C.outbps);
  const r = s.total.rates;
  const g = (name: string, help: string, v: number) => p.family(name, 'gauge', help).sample(name, '', v);
  g('tsvs_connections_per_second', 'New connections per second over every service (estimator).', r.cps);
  g('tsvs_incoming_packets_per_second', 'Incoming packets per second over every service (estimator).', r.inpps);
  g('tsvs_outgoing_packets_per_second', 'Outgoing packets per second over every service (estimator).', r.outpps);
  g('tsvs_incoming_bytes_per_second', 'Incoming bytes per second over every service (estimator).', r.inbps);
  g('tsvs_outgoing_bytes_per_second', 'Outgoing bytes per second over every service (estimator).', r.outbps);
  const c = s.connTable;
  g('tsvs_connection_table_entries', 'Entries in the connection table (connections and persistence templates).', c.entries);
  g('tsvs_connection_table_limit', 'Most entries the connection table holds; new connections beyond it are dropped (reason table-full).', c.limit);
  p.family('tsvs_connection_table_full_total', 'counter', 'New connections dropped because the connection table was full.').sample('tsvs_connection_table_full_total', '', c.tableFull);
}

interface CheckRow { lbl: string; state: string; latencyS: number | null; code: string | null; checks: number; failures: number; at: number | null }

function renderHealth(p: PromText, s: MetricsInput): void {
  const h = s.health;
  if (!h) return;
  const up: [string, number][] = [];
  const svc: [string, boolean, boolean][] = [];
  const checks: CheckRow[] = [];
  for (const vs of h.services) {
    const k: ServiceKey = vs.key;
    svc.push([serviceLabels(k), vs.quorumUp, vs.sorryActive]);
    for (const d of vs.dests) {
      if (d.sorry) continue;
      const hp = splitHostPort(d.dest);
      if (!hp) continue;
      const bl = backendLabels(k, hp.addr, hp.port);
      up.push([bl, d.alive ? 1 : 0]);
      const seen = new Map<string, number>();
      for (const c of d.checkers) {
        const n = seen.get(c.checker) ?? 0;
        seen.set(c.checker, n + 1);
        const name = n === 0 ? c.checker : `${c.checker}#${n + 1}`;
        const r = c.lastResult;
        checks.push({
          lbl: moreLabels(bl, [['checker', name]]), state: c.state, latencyS: r ? r.latencyMs / 1000 : null,
          code: r ? resultCode(r.reason) : null, checks: c.checks, failures: c.consecutiveFailures, at: r ? r.at / 1000 : null,
        });
      }
    }
  }
  p.family('tsvs_service_quorum_up', 'gauge', '1 while the alive real servers\' weight reaches the service\'s quorum (keepalived quorum/hysteresis).');
  for (const [l, q] of svc) p.sample('tsvs_service_quorum_up', l, q ? 1 : 0);
  p.family('tsvs_service_sorry_server_active', 'gauge', '1 while the sorry server takes the service\'s traffic.');
  for (const [l, , sorry] of svc) p.sample('tsvs_service_sorry_server_active', l, sorry ? 1 : 0);
  p.family('tsvs_backend_up', 'gauge', 'Health checking\'s verdict on the real server: 1 up, 0 down (only health-checked real servers).');
  for (const [l, v] of up) p.sample('tsvs_backend_up', l, v);
  p.family('tsvs_backend_check_up', 'gauge', 'Per checker: 1 when its last verdict is up, 0 when down or not yet run.');
  for (const c of checks) p.sample('tsvs_backend_check_up', c.lbl, c.state === 'up' ? 1 : 0);
  p.family('tsvs_backend_check_result', 'gauge', 'A constant 1 labelled with the stable code of the checker\'s last result (ok, timeout, refused, status, ...; docs/ERRORS.md).');
  for (const c of checks) if (c.code !== null) p.sample('tsvs_backend_check_result', moreLabels(c.lbl, [['result', c.code]]), 1);
  p.family('tsvs_backend_check_duration_seconds', 'gauge', 'How long the checker\'s last check took.');
  for (const c of checks) if (c.latencyS !== null) p.sample('tsvs_backend_check_duration_seconds', c.lbl, c.latencyS);
  p.family('tsvs_backend_check_last_run_timestamp_seconds', 'gauge', 'When the checker\'s last check finished (Unix time).');
  for (const c of checks) if (c.at !== null) p.sample('tsvs_backend_check_last_run_timestamp_seconds', c.lbl, c.at);
  p.family('tsvs_backend_checks_total', 'counter', 'Checks the checker has run.');
  for (const c of checks) p.sample('tsvs_backend_checks_total', c.lbl, c.checks);
  p.family('tsvs_backend_check_consecutive_failures', 'gauge', 'Failed checks in a row (retry / failurecount counts against it).');
  for (const c of checks) p.sample('tsvs_backend_check_consecutive_failures', c.lbl, c.failures);
}

function renderDrains(p: PromText, s: MetricsInput): void {
  p.family('tsvs_backend_draining', 'gauge', '1 while a graceful drain of the real server runs (weight 0, waiting for its connections to end).');
  const now = s.at;
  const rows: [string, number][] = [];
  for (const d of s.drains) {
    if (d.state !== 'draining') continue;
    const k: ServiceKey = { af: d.key.af, fwmark: d.key.fwmark, protocol: d.key.protocol as ServiceKey['protocol'], addr: d.key.addr, port: d.key.port };
    const l = backendLabels(k, d.dest.addr, d.dest.port);
    p.sample('tsvs_backend_draining', l, 1);
    rows.push([l, Math.max(0, (d.deadline - now) / 1000)]);
  }
  p.family('tsvs_backend_drain_deadline_seconds', 'gauge', 'Seconds left before a running drain gives up waiting (then deletes or keeps the real server).');
  for (const [l, v] of rows) p.sample('tsvs_backend_drain_deadline_seconds', l, v);
  p.family('tsvs_backend_slow_start_target_weight', 'gauge', 'While a real server ramps up after entering service (--slow-start): the weight it ramps to.');
  for (const r of s.slowStarts) p.sample('tsvs_backend_slow_start_target_weight', backendLabels(r.key, r.addr, r.port), r.target);
}

function renderVrrp(p: PromText, s: MetricsInput): void {
  if (s.vrrp.length === 0) return;
  const base = s.vrrp.map((v) => [['iname', v.name], ['intf', v.interface], ['vrid', String(v.vrid)]] as [string, string][]);
  p.family('keepalived_vrrp_state', 'gauge', 'State of vrrp');
  s.vrrp.forEach((v, i) => {
    for (const ip of v.vips) p.sample('keepalived_vrrp_state', labels([...base[i]!, ['ip_address', ip]]), VRRP_STATE_VALUE[v.state] ?? 0);
  });
  const withState = s.vrrp.map((v, i) => labels([...base[i]!, ['state', v.state]]));
  const fam = (name: string, help: string, pick: (i: number) => number): void => {
    p.family(name, 'counter', help);
    for (let i = 0; i < s.vrrp.length; i++) p.sample(name, withState[i]!, pick(i));
  };
  fam('keepalived_advertisements_received_total', 'Advertisements received', (i) => s.vrrp[i]!.rx);
  fam('keepalived_advertisements_sent_total', 'Advertisements sent', (i) => s.vrrp[i]!.tx);
  fam('keepalived_become_master_total', 'Became master', (i) => s.vrrp[i]!.becameMaster);
  fam('keepalived_release_master_total', 'Released master', (i) => s.vrrp[i]!.releasedMaster);
  const plain = s.vrrp.map((_, i) => labels(base[i]!));
  p.family('tsvs_vrrp_adverts_dropped_total', 'counter', 'VRRP packets dropped (bad TTL, checksum, version, type, auth, interval; docs/ERRORS.md).');
  s.vrrp.forEach((v, i) => p.sample('tsvs_vrrp_adverts_dropped_total', plain[i]!, v.dropped));
  p.family('tsvs_vrrp_priority', 'gauge', 'Effective VRRP priority (after tracked scripts and interfaces).');
  s.vrrp.forEach((v, i) => p.sample('tsvs_vrrp_priority', plain[i]!, v.priority));
  p.family('tsvs_vrrp_master', 'gauge', '1 while the instance is MASTER.');
  s.vrrp.forEach((v, i) => p.sample('tsvs_vrrp_master', plain[i]!, v.state === 'MASTER' ? 1 : 0));
}

function renderSync(p: PromText, s: MetricsInput): void {
  if (s.sync.length === 0) return;
  const lbl = s.sync.map((d) => labels([['mcast_ifn', d.mcastIfn], ['state', d.state], ['syncid', String(d.syncid)]]));
  p.family('tsvs_sync_daemon_up', 'gauge', '1 when the sync daemon\'s transport runs, 0 while it starts.');
  s.sync.forEach((d, i) => p.sample('tsvs_sync_daemon_up', lbl[i]!, d.counters ? 1 : 0));
  for (const [key, name, help] of SYNC_COUNTERS) {
    p.family(name, 'counter', help);
    s.sync.forEach((d, i) => {
      const v = (d.counters as Record<string, unknown> | null)?.[key];
      if (typeof v === 'number') p.sample(name, lbl[i]!, v);
    });
  }
}

/** --bgp bird (docs/SCALE-OUT.md): what this director announces, its BGP sessions, BIRD. */
function renderBgp(p: PromText, s: MetricsInput): void {
  const b = s.bgp;
  if (!b) return;
  p.family('tsvs_bgp_prefix_announced', 'gauge', '1 while the director announces the prefix over BGP, 0 while it is withdrawn (quorum lost, draining, starting, stopping).');
  for (const x of b.prefixes) p.sample('tsvs_bgp_prefix_announced', labels([['prefix', x.prefix]]), x.announced ? 1 : 0);
  p.family('tsvs_bgp_session_established', 'gauge', '1 while the BGP session with the neighbour is established.');
  for (const x of b.peers) p.sample('tsvs_bgp_session_established', labels([['peer', x.address]]), x.established ? 1 : 0);
  p.family('tsvs_bgp_draining', 'gauge', '1 while the director is drained (tsvs announce drain): withdrawn, still forwarding.').sample('tsvs_bgp_draining', '', b.draining ? 1 : 0);
  p.family('tsvs_bgp_daemon_up', 'gauge', '1 while BIRD runs.').sample('tsvs_bgp_daemon_up', '', b.birdRunning ? 1 : 0);
  p.family('tsvs_bgp_daemon_starts_total', 'counter', 'Times BIRD was started (restarts after it exited on its own add up).').sample('tsvs_bgp_daemon_starts_total', '', b.birdStarts);
}

function renderForwarder(p: PromText, s: MetricsInput): void {
  const f = s.forwarder;
  p.family('tsvs_forwarder_info', 'gauge', 'A constant 1 labelled with the forwarder (proxy, packet, none).').sample('tsvs_forwarder_info', labels([['forwarder', f.kind]]), 1);
  p.family('tsvs_forwarder_drops_total', 'counter', 'Packets the forwarder dropped, by stable reason (docs/ERRORS.md); table-full counts new connections the full connection table refused.');
  const drops: Record<string, number> = { ...f.drops, 'table-full': (f.drops['table-full'] ?? 0) + s.connTable.tableFull };
  for (const reason of Object.keys(drops).sort()) p.sample('tsvs_forwarder_drops_total', labels([['reason', reason]]), drops[reason]!);
  const pk = Object.keys(f.packets);
  if (pk.length > 0) {
    p.family('tsvs_forwarder_packets_total', 'counter', 'Packet forwarder: packets by outcome (rx, considered, route, masqIn, masqOut, tunnel, icmp, dropped, rejected, passed, noRoute, malformed, fragNeeded, txErrors, queued, cached, divergent).');
    for (const k of pk) p.sample('tsvs_forwarder_packets_total', labels([['outcome', k]]), f.packets[k]!);
  }
  const fp = f.fastPath;
  p.family('tsvs_fast_path_enabled', 'gauge', '1 when the kernel fast path (tc or XDP) carries decided direct-routing flows.');
  p.sample('tsvs_fast_path_enabled', fp ? labels([['kind', fp.kind]]) : '', fp ? 1 : 0);
  if (!fp) return;
  const c = (name: string, help: string, v: number) => p.family(name, 'counter', help).sample(name, '', v);
  c('tsvs_fast_path_forwarded_packets_total', 'Packets the kernel fast path forwarded without user space (fast-path hits).', fp.forwarded);
  c('tsvs_fast_path_events_total', 'State-changing packets the kernel fast path forwarded and reported.', fp.events);
  c('tsvs_fast_path_installed_total', 'Flows installed in the kernel fast path map.', fp.installed);
  c('tsvs_fast_path_removed_total', 'Flows removed from the kernel fast path map.', fp.removed);
  c('tsvs_fast_path_full_total', 'Installs the kernel map refused because it was full (those flows stay in user space).', fp.full);
  p.family('tsvs_fast_path_flows', 'gauge', 'Flows in the kernel fast path map now.').sample('tsvs_fast_path_flows', '', fp.flows);
}
