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
import type { ServiceKey, ServiceSnapshot } from '../core/types.ts';
import type { ObserveSnapshot } from './snapshot.ts';
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
  dests: DestLabels[];
}

const sameKey = (a: ServiceKey, b: ServiceKey): boolean =>
  a.port === b.port && a.addr === b.addr && a.fwmark === b.fwmark && a.protocol === b.protocol && a.af === b.af;

/**
 * The label sets of every service and real server, rendered and encoded once and kept between
 * scrapes: a scrape of a 1,000 x 10 table writes ~40,000 samples whose labels rarely change.
 * Entries are checked against the snapshot (service key; real servers' address and port, in order)
 * and rebuilt where they differ; services gone since the last scrape are dropped.
 */
export class MetricsLabelCache {
  /** Last scrape's services in order (the common case: the same list again), and by key. */
  private list: SvcLabels[] = [];
  private byKey: Map<string, SvcLabels> | null = null;

  /** The labels of this scrape's services, in order. */
  services(svcs: readonly ServiceSnapshot[]): SvcLabels[] {
    const out: SvcLabels[] = new Array(svcs.length);
    for (let i = 0; i < svcs.length; i++) {
      const svc = svcs[i]!;
      let e = this.list[i];
      if (!e || !sameKey(e.key, svc)) e = this.find(svc);
      const ds = svc.dests;
      let same = ds.length === e.dests.length;
      for (let j = 0; same && j < ds.length; j++) same = ds[j]!.addr === e.dests[j]!.addr && ds[j]!.port === e.dests[j]!.port;
      if (!same) {
        const prefix = e.prefix;
        e.dests = ds.map((d) => {
          const str = prefix + goIp(d.addr) + '",remote_port="' + d.port + '"}';
          return { addr: d.addr, port: d.port, str, bytes: Buffer.from(str + ' ') };
        });
      }
      out[i] = e;
    }
    // A service may appear once per scrape, so entries are shared only with the last scrape.
    this.list = out;
    this.byKey = null;
    return out;
  }

  /** Off the common path (services added, removed or reordered): by key, else new. */
  private find(svc: ServiceSnapshot): SvcLabels {
    const k = (x: ServiceKey) => `${x.af}|${x.fwmark}|${x.protocol}|${x.addr}|${x.port}`;
    this.byKey ??= new Map(this.list.map((e) => [k(e.key), e]));
    const hit = this.byKey.get(k(svc));
    if (hit) return hit;
    const str = serviceLabels(svc);
    const key: ServiceKey = { af: svc.af, fwmark: svc.fwmark, protocol: svc.protocol, addr: svc.addr, port: svc.port };
    return { key, str, bytes: Buffer.from(str + ' '), prefix: backendPrefix(svc), dests: [] };
  }
}

/** The text in pieces of about one family of backends each (a 1,000 x 10 table is ~6 MB), each a view of the writer's buffer. */
export function* renderMetricsChunks(s: ObserveSnapshot, opts: MetricsOptions): Generator<Buffer> {
  const p = opts.writer ?? new PromText();
  const cache = opts.cache ?? new MetricsLabelCache();
  const svcLabels = cache.services(s.services);
  for (const _ of renderNodeIpvs(p, s, svcLabels)) yield p.take();
  renderServices(p, s, svcLabels);
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

export function renderMetrics(s: ObserveSnapshot, opts: MetricsOptions): string {
  return Buffer.concat([...renderMetricsChunks(s, opts)]).toString('utf8');
}

/** Yields after each backend family (the caller takes the text). */
function* renderNodeIpvs(p: PromText, s: ObserveSnapshot, svcLabels: readonly SvcLabels[]): Generator<void> {
  // One label set per backend (cached). Rows with the same label tuple are summed
  // (node_exporter's `sums` map); that needs a map only when two services share their labels
  // (IPv4 and IPv6 firewall-mark services with one mark, an IPv4-mapped IPv6 address), so the
  // common case is a plain list.
  const lbl: Buffer[] = [];
  const active: number[] = [];
  const inact: number[] = [];
  const weight: number[] = [];
  const prefixes = new Set<string>();
  let merge: Map<string, number> | null = null;
  for (let i = 0; i < s.services.length; i++) {
    const svc = s.services[i]!;
    const c = svcLabels[i]!;
    if (prefixes.has(c.prefix)) merge ??= new Map(svcLabels.slice(0, i).flatMap((x) => x.dests.map((d) => d.str)).map((l, k) => [l, k]));
    prefixes.add(c.prefix);
    for (let j = 0; j < svc.dests.length; j++) {
      const d = svc.dests[j]!;
      const l = c.dests[j]!;
      const at = merge?.get(l.str);
      if (at !== undefined) {
        active[at] += d.activeConns;
        inact[at] += d.inactConns;
        weight[at] += d.weight;
        continue;
      }
      merge?.set(l.str, lbl.length);
      lbl.push(l.bytes);
      active.push(d.activeConns);
      inact.push(d.inactConns);
      weight.push(d.weight);
    }
  }
  const F = NODE_IPVS_FAMILIES;
  const fam = (name: keyof typeof F, v: readonly number[]): void => {
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
  const t = s.total.stats;
  const one = (name: keyof typeof F, v: number): void => {
    p.family(name, F[name].type, F[name].help).sample(name, '', v);
  };
  one('node_ipvs_connections_total', t.conns);
  one('node_ipvs_incoming_bytes_total', t.inbytes);
  one('node_ipvs_incoming_packets_total', t.inpkts);
  one('node_ipvs_outgoing_bytes_total', t.outbytes);
  one('node_ipvs_outgoing_packets_total', t.outpkts);
}

function renderServices(p: PromText, s: ObserveSnapshot, svcLabels: readonly SvcLabels[]): void {
  const per = (name: string, type: MetricType, help: string, pick: (i: number) => number): void => {
    p.family(name, type, help);
    const nb = nameBytes(name);
    for (let i = 0; i < svcLabels.length; i++) p.sampleBytes(nb, svcLabels[i]!.bytes, pick(i));
  };
  p.family('tsvs_service_info', 'gauge', 'A constant 1 per virtual service, labelled with its scheduler and persistence timeout (0 = not persistent).');
  for (let i = 0; i < svcLabels.length; i++) {
    const x = s.services[i]!;
    p.sample('tsvs_service_info', moreLabels(svcLabels[i]!.str, [['scheduler', x.scheduler], ['persistent', String(x.flags & 1 ? x.timeout : 0)]]), 1);
  }
  const st = (i: number) => s.services[i]!.stats;
  const rt = (i: number) => s.services[i]!.rates;
  per('tsvs_service_connections_total', 'counter', 'Connections scheduled by the virtual service.', (i) => st(i).conns);
  per('tsvs_service_incoming_packets_total', 'counter', 'Packets from clients to the virtual service.', (i) => st(i).inpkts);
  per('tsvs_service_outgoing_packets_total', 'counter', 'Packets from real servers back to clients (NAT; 0 for DR/TUN, whose replies bypass the director).', (i) => st(i).outpkts);
  per('tsvs_service_incoming_bytes_total', 'counter', 'Bytes from clients to the virtual service.', (i) => st(i).inbytes);
  per('tsvs_service_outgoing_bytes_total', 'counter', 'Bytes from real servers back to clients.', (i) => st(i).outbytes);
  per('tsvs_service_connections_per_second', 'gauge', 'New connections per second (the kernel estimator: 2 s samples, EWMA), as ipvsadm --rate shows.', (i) => rt(i).cps);
  per('tsvs_service_incoming_packets_per_second', 'gauge', 'Incoming packets per second (estimator).', (i) => rt(i).inpps);
  per('tsvs_service_outgoing_packets_per_second', 'gauge', 'Outgoing packets per second (estimator).', (i) => rt(i).outpps);
  per('tsvs_service_incoming_bytes_per_second', 'gauge', 'Incoming bytes per second (estimator).', (i) => rt(i).inbps);
  per('tsvs_service_outgoing_bytes_per_second', 'gauge', 'Outgoing bytes per second (estimator).', (i) => rt(i).outbps);
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

function renderHealth(p: PromText, s: ObserveSnapshot): void {
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

function renderDrains(p: PromText, s: ObserveSnapshot): void {
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

function renderVrrp(p: PromText, s: ObserveSnapshot): void {
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

function renderSync(p: PromText, s: ObserveSnapshot): void {
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
function renderBgp(p: PromText, s: ObserveSnapshot): void {
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

function renderForwarder(p: PromText, s: ObserveSnapshot): void {
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
