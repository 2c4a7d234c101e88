/** The /metrics renderer on hand-built snapshots: label values, summing, escaping, every extra family. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsLabelCache, renderMetrics, resultCode } from '../../src/observe/metrics.ts';
import { PromText, formatValue, parsePromText, escapeLabel } from '../../src/observe/prom.ts';
import { goIp } from '../../src/observe/ipvs-labels.ts';
import { bigSnapshot, dest, service, snapshot } from './fixtures.ts';

const render = (s: Parameters<typeof renderMetrics>[0]) => parsePromText(renderMetrics(s, { version: '9.9.9' }));

const LABELS: [string, Parameters<typeof service>[0], Record<string, string>][] = [
  ['IPv4 TCP', { addr: '10.0.0.1', port: 80 }, { local_address: '10.0.0.1', local_port: '80', proto: 'TCP', local_mark: '' }],
  ['IPv6 UDP', { addr: '2001:db8::1', port: 53, protocol: 'udp' }, { local_address: '2001:db8::1', local_port: '53', proto: 'UDP', local_mark: '' }],
  ['firewall mark', { addr: '0.0.0.0', port: 0, fwmark: 0x10001000 }, { local_address: '', local_port: '0', proto: 'FWM', local_mark: '10001000' }],
  ['small firewall mark', { addr: '0.0.0.0', port: 0, fwmark: 7 }, { local_address: '', local_port: '0', proto: 'FWM', local_mark: '00000007' }],
  ['SCTP', { addr: '10.0.0.2', port: 9 , protocol: 'sctp' }, { local_address: '10.0.0.2', local_port: '9', proto: 'SCTP', local_mark: '' }],
];

test('service label values follow node_exporter (FWM: no address, port 0, the mark as %08X)', () => {
  for (const [what, svc, want] of LABELS) {
    const m = render(snapshot({ services: [service({ ...svc, dests: [dest('192.168.1.1', 8080, { weight: 4 })] })] }));
    const w = m.samples.find((s) => s.name === 'node_ipvs_backend_weight')!;
    assert.deepEqual(w.labels, { ...want, remote_address: '192.168.1.1', remote_port: '8080' }, what);
    assert.equal(w.value, 4, what);
  }
});

test('rows with the same label tuple are summed, as node_exporter sums them', () => {
  // An IPv4 and an IPv6 firewall-mark service with the same mark and the same real server: one row.
  const d = () => dest('10.1.1.1', 0, { weight: 2, activeConns: 3, inactConns: 1 });
  const s = snapshot({ services: [service({ addr: '0.0.0.0', port: 0, fwmark: 5, dests: [d()] }), service({ addr: '::', port: 0, fwmark: 5, dests: [d()] })] });
  const m = render(s);
  const rows = m.samples.filter((x) => x.name === 'node_ipvs_backend_connections_active');
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.value, 6);
  assert.equal(m.samples.find((x) => x.name === 'node_ipvs_backend_weight')!.value, 4);
});

test('addresses are written as Go writes them (IPv4-mapped IPv6 as a dotted quad)', () => {
  assert.equal(goIp('::ffff:10.0.0.1'), '10.0.0.1');
  assert.equal(goIp('2001:db8::1'), '2001:db8::1');
});

test('label values are escaped (backslash, quote, newline)', () => {
  assert.equal(escapeLabel('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  const m = render(snapshot({ vrrp: [{ name: 'VI "1"\\x', state: 'MASTER', priority: 100, vrid: 51, interface: 'eth0', vips: ['10.0.0.100'], rx: 1, tx: 2, dropped: 0, becameMaster: 1, releasedMaster: 0 }] }));
  assert.equal(m.samples.find((s) => s.name === 'keepalived_vrrp_state')!.labels['iname'], 'VI "1"\\x');
});

test('health: up, per checker result code, duration, counts; the sorry server is not a backend', () => {
  const s = snapshot({
    health: {
      now: 0,
      services: [{
        service: '10.0.0.1:80', key: { af: 4, fwmark: 0, protocol: 'tcp', addr: '10.0.0.1', port: 80 }, quorumUp: true, aliveWeight: 1, quorum: 1, hysteresis: 0, sorryActive: false,
        dests: [
          { dest: '192.168.1.1:8080', alive: false, sorry: false, weight: 0, configuredWeight: 1, effectiveWeight: 1, since: 0, checkers: [
            { service: '10.0.0.1:80', dest: '192.168.1.1:8080', checker: 'HTTP_GET', target: '192.168.1.1:8080', state: 'down', since: 0, lastResult: { ok: false, reason: 'status: 503', latencyMs: 12, at: 5000 }, consecutiveFailures: 3, checks: 10 },
            { service: '10.0.0.1:80', dest: '192.168.1.1:8080', checker: 'HTTP_GET', target: '192.168.1.1:8080', state: 'pending', since: 0, lastResult: null, consecutiveFailures: 0, checks: 0 },
          ] },
          { dest: '[2001:db8::9]:80', alive: true, sorry: false, weight: 1, configuredWeight: 1, effectiveWeight: 1, since: 0, checkers: [] },
          { dest: '192.168.9.9:80', alive: false, sorry: true, weight: null, configuredWeight: 1, effectiveWeight: 1, since: 0, checkers: [] },
        ],
      }],
    },
  });
  const m = render(s);
  const b = { local_address: '10.0.0.1', local_port: '80', proto: 'TCP', remote_address: '192.168.1.1', remote_port: '8080' };
  const get = (name: string, extra: Record<string, string> = {}) => m.samples.filter((x) => x.name === name && Object.entries({ ...b, ...extra }).every(([k, v]) => x.labels[k] === v));
  assert.equal(get('tsvs_backend_up')[0]!.value, 0);
  assert.equal(m.samples.filter((x) => x.name === 'tsvs_backend_up').length, 2, 'the sorry server is not listed');
  assert.equal(m.samples.find((x) => x.name === 'tsvs_backend_up' && x.labels['remote_address'] === '2001:db8::9')!.value, 1);
  assert.equal(get('tsvs_backend_check_result', { checker: 'HTTP_GET' })[0]!.labels['result'], 'status');
  assert.equal(get('tsvs_backend_check_result', { checker: 'HTTP_GET#2' }).length, 0, 'no result before the first check');
  assert.equal(get('tsvs_backend_check_duration_seconds', { checker: 'HTTP_GET' })[0]!.value, 0.012);
  assert.equal(get('tsvs_backend_checks_total', { checker: 'HTTP_GET' })[0]!.value, 10);
  assert.equal(get('tsvs_backend_check_consecutive_failures', { checker: 'HTTP_GET' })[0]!.value, 3);
  assert.equal(get('tsvs_backend_check_up', { checker: 'HTTP_GET#2' })[0]!.value, 0);
  assert.equal(m.types.get('tsvs_backend_checks_total'), 'counter');
  assert.equal(resultCode('tls error: bad certificate'), 'tls error');
  assert.equal(resultCode('ok'), 'ok');
});

test('VRRP under mehdy/keepalived-exporter\'s names; sync counters; drops with table-full; the fast path', () => {
  const s = snapshot({
    vrrp: [{ name: 'VI_1', state: 'BACKUP', priority: 90, vrid: 51, interface: 'eth1', vips: ['10.0.0.100', '10.0.0.101'], rx: 40, tx: 2, dropped: 1, becameMaster: 1, releasedMaster: 1 }],
    sync: [{ state: 'backup', mcastIfn: 'eth1', syncid: 3, counters: { sent: 0, sentConns: 0, received: 12, imported: 30, rejected: 1, refreshed: 0 } }],
    connTable: { entries: 10, limit: 100, tableFull: 4 },
    forwarder: { kind: 'packet', drops: { 'bad-ip-csum': 2, 'table-full': 1 }, packets: { rx: 100, route: 90 }, fastPath: { kind: 'tc', flows: 3, installed: 5, removed: 2, full: 0, events: 7, forwarded: 1234 } },
  });
  const m = render(s);
  const one = (name: string, lbl: Record<string, string> = {}) => {
    const h = m.samples.filter((x) => x.name === name && Object.entries(lbl).every(([k, v]) => x.labels[k] === v));
    assert.equal(h.length, 1, `${name} ${JSON.stringify(lbl)}`);
    return h[0]!;
  };
  assert.equal(m.samples.filter((x) => x.name === 'keepalived_vrrp_state').length, 2, 'one per VIP');
  assert.deepEqual(one('keepalived_vrrp_state', { ip_address: '10.0.0.101' }).labels, { iname: 'VI_1', intf: 'eth1', vrid: '51', ip_address: '10.0.0.101' });
  assert.equal(one('keepalived_vrrp_state', { ip_address: '10.0.0.100' }).value, 1, 'BACKUP is 1 in keepalived\'s numbering');
  assert.deepEqual(one('keepalived_advertisements_received_total').labels, { iname: 'VI_1', intf: 'eth1', vrid: '51', state: 'BACKUP' });
  assert.equal(one('keepalived_advertisements_received_total').value, 40);
  assert.equal(one('keepalived_become_master_total').value, 1);
  assert.equal(one('keepalived_release_master_total').value, 1);
  assert.equal(one('tsvs_vrrp_master').value, 0);
  assert.equal(one('tsvs_sync_connections_imported_total', { state: 'backup', mcast_ifn: 'eth1', syncid: '3' }).value, 30);
  assert.equal(one('tsvs_forwarder_drops_total', { reason: 'table-full' }).value, 5);
  assert.equal(one('tsvs_forwarder_drops_total', { reason: 'bad-ip-csum' }).value, 2);
  assert.equal(one('tsvs_forwarder_packets_total', { outcome: 'route' }).value, 90);
  assert.equal(one('tsvs_fast_path_forwarded_packets_total').value, 1234);
  assert.equal(one('tsvs_fast_path_enabled', { kind: 'tc' }).value, 1);
  assert.equal(one('tsvs_connection_table_limit').value, 100);
  assert.equal(one('tsvs_build_info', { version: '9.9.9' }).value, 1);
});

test('every sample belongs to a family declared once with HELP and TYPE, its samples together', () => {
  const text = renderMetrics(snapshot({ services: [service({ addr: '10.0.0.1', port: 80, dests: [dest('10.1.1.1', 80)] })] }), { version: '1' });
  const seen = new Set<string>();
  let current = '';
  for (const line of text.split('\n').filter((l) => l)) {
    const t = /^# TYPE (\S+)/.exec(line);
    if (t) {
      assert.ok(!seen.has(t[1]!), `family ${t[1]} declared twice`);
      seen.add(t[1]!);
      current = t[1]!;
      continue;
    }
    if (line.startsWith('#')) continue;
    assert.equal(line.split(/[{ ]/)[0], current, `sample outside its family: ${line}`);
  }
});

test('sample values are written as String() writes them (integers digit by digit, halves above 1e9)', () => {
  const values = [0, -0, 7, 10, -12, 99, 100, 999_999_999, 1e9, 1e9 + 1, 2 ** 31, 1e15 + 999_999_999, 2 ** 53 - 1, -(2 ** 53 - 1), 1.5, 0.012, 2 ** 60, 1e21, NaN, Infinity, -Infinity];
  for (const v of values) {
    const p = new PromText(16);
    p.value(v);
    assert.equal(p.toString(), formatValue(v), String(v));
  }
});

test('label sets kept between scrapes follow services and real servers added, removed and reordered', () => {
  const base = bigSnapshot(12, 3);
  const svcs = base.services;
  const steps = [
    svcs,
    [...svcs].reverse(),
    svcs.slice(4),
    svcs.map((x, i) => (i === 2 ? { ...x, dests: x.dests.slice(1) } : x)),
    svcs.map((x, i) => (i === 5 ? { ...x, dests: [dest('10.9.9.9', 1, { weight: 3 }), ...x.dests] } : x)),
    svcs,
  ];
  const cache = new MetricsLabelCache();
  for (const [i, services] of steps.entries()) {
    const s = { ...base, services };
    assert.equal(renderMetrics(s, { version: '1', cache }), renderMetrics(s, { version: '1' }), `step ${i}`);
  }
});
