/**
 * keepalived's SIGUSR1/SIGUSR2 files, rendered from tsvs's status: keepalived 2.2.7's layout.
 * fixtures/keepalived-2.2.7.{data,stats} were written by Debian's keepalived 2.2.7 (vrrp only,
 * one MASTER instance VI_1, vrid 51, priority 150, v0, 10.97.0.100/24 + 10.97.0.101) on
 * 2026-12-07; the check-data expectations follow check_data.c's dump_vs / dump_rs format strings
 * (keepalived's checker cannot run here: no ip_vs module).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderKaCheckData, renderKaData, renderKaStats, writeKaDump, KA_DATA_FILE, KA_CHECK_DATA_FILE, KA_STATS_FILE } from '../../src/daemon/ka-dump.ts';
import type { VrrpStatus } from '../../src/ha/vrrp-service.ts';
import type { HealthStatus, ServiceStatus, DestStatus } from '../../src/health/types.ts';

const FIX = new URL('./fixtures/', import.meta.url).pathname;
const kaData = readFileSync(join(FIX, 'keepalived-2.2.7.data'), 'utf8');
const kaStats = readFileSync(join(FIX, 'keepalived-2.2.7.stats'), 'utf8');

const VI_1: VrrpStatus = {
  name: 'VI_1', state: 'MASTER', priority: 150, basePriority: 150, version: 2, vrid: 51, interface: 'v0',
  rx: 0, tx: 2, dropped: 0, vips: ['10.97.0.100/24', '10.97.0.101/32'], becameMaster: 1, releasedMaster: 0,
};

/** Every line of `ours` appears in `theirs`, in the same order (we write a subset of keepalived's lines). */
function assertOrderedSubset(ours: string, theirs: string): void {
  const t = theirs.split('\n');
  let at = 0;
  for (const line of ours.trimEnd().split('\n')) {
    const i = t.indexOf(line, at);
    assert.ok(i >= 0, `line not in keepalived's dump (or out of order): ${JSON.stringify(line)}\n--- ours:\n${ours}`);
    at = i + 1;
  }
}

test("keepalived.data: the VRRP Topology lines are keepalived 2.2.7's own lines, in its order", () => {
  const ours = renderKaData([VI_1]);
  assertOrderedSubset(ours, kaData);
  for (const want of [' VRRP Instance = VI_1', '   State = MASTER', '   Interface = v0', '   Virtual Router ID = 51', '   Priority = 150', '   Virtual IP (2):', '     10.97.0.100/24 dev v0 scope global set', '     10.97.0.101 dev v0 scope global set']) {
    assert.ok(ours.split('\n').includes(want), `missing ${want}`);
  }
});

test('keepalived.data: table of instance states and addresses', () => {
  const rows: { st: Partial<VrrpStatus>; has: string[]; lacks: string[] }[] = [
    { st: { state: 'BACKUP' }, has: ['   State = BACKUP', '     10.97.0.100/24 dev v0 scope global'], lacks: ['     10.97.0.100/24 dev v0 scope global set'] },
    { st: { state: 'FAULT' }, has: ['   State = FAULT'], lacks: [] },
    { st: { priority: 90 }, has: ['   Priority = 150', '   Effective priority = 90'], lacks: [] },
    { st: { vips: ['fd00::1/128', 'fd00::2/64'], version: 3 }, has: ['   VRRP Version = 3', '     fd00::1 dev v0 scope global set', '     fd00::2/64 dev v0 scope global set'], lacks: [] },
    { st: { vips: [] }, has: [' VRRP Instance = VI_1'], lacks: ['   Virtual IP (0):'] },
    {
      st: { vips: ['10.0.0.1'], addresses: [{ addr: '10.0.0.1', prefix: 32, dev: 'eth1', scope: 'link', label: 'eth1:vip' }, { addr: '10.0.0.2', prefix: 24 }] },
      has: ['   Virtual IP (2):', '     10.0.0.1 dev eth1 scope link label eth1:vip set', '     10.0.0.2/24 dev v0 scope global set'], lacks: [],
    },
  ];
  for (const r of rows) {
    const lines = renderKaData([{ ...VI_1, ...r.st }]).split('\n');
    for (const h of r.has) assert.ok(lines.includes(h), `${JSON.stringify(r.st)}: missing ${h}`);
    for (const l of r.lacks) assert.ok(!lines.includes(l), `${JSON.stringify(r.st)}: unexpected ${l}`);
  }
  assert.equal(renderKaData([]), '', 'no instance: no VRRP Topology section (keepalived writes none)');
});

test("keepalived.stats: byte for byte keepalived 2.2.7's file for the same counters", () => {
  assert.equal(renderKaStats([VI_1]), kaStats);
});

test('keepalived.stats: each counter lands on its own keepalived line', () => {
  const errors = { length: 1, ttl: 2, invalidType: 3, advertInterval: 4, invalidAuthType: 5, authTypeMismatch: 6, authFailure: 7, priZeroRcvd: 8, priZeroSent: 9 };
  const out = renderKaStats([{ ...VI_1, rx: 11, tx: 12, becameMaster: 13, releasedMaster: 14, errors }, { ...VI_1, name: 'VI_2' }]);
  const lines = out.split('\n');
  const at = (label: string, from = 0) => lines.indexOf(label, from);
  for (const [line, after] of [
    ['    Received: 11', '  Advertisements:'], ['    Sent: 12', '  Advertisements:'], ['  Became master: 13', ''], ['  Released master: 14', ''],
    ['    Length: 1', '  Packet Errors:'], ['    TTL: 2', '  Packet Errors:'], ['    Invalid Type: 3', '  Packet Errors:'], ['    Advertisement Interval: 4', '  Packet Errors:'],
    ['    Invalid Type: 5', '  Authentication Errors:'], ['    Type Mismatch: 6', '  Authentication Errors:'], ['    Failure: 7', '  Authentication Errors:'],
    ['    Received: 8', '  Priority Zero:'], ['    Sent: 9', '  Priority Zero:'],
  ] as const) {
    const i = at(line, after ? at(after) : 0);
    assert.ok(i >= 0 && i < at('VRRP Instance: VI_2'), `${line} under ${after || 'VI_1'}`);
  }
  assert.equal(lines.filter((l) => l.startsWith('VRRP Instance: ')).length, 2);
  assert.equal(renderKaStats([]), '');
});

const dest = (d: string, o: Partial<DestStatus> = {}): DestStatus => ({ dest: d, alive: true, sorry: false, weight: 3, configuredWeight: 3, effectiveWeight: 3, since: 0, checkers: [], ...o });
const svc = (o: Partial<ServiceStatus>): ServiceStatus => ({
  service: 'vs', key: { af: 4, fwmark: 0, protocol: 'tcp', addr: '10.97.0.100', port: 80 }, quorumUp: true, aliveWeight: 3, quorum: 1, hysteresis: 0, sorryActive: false, dests: [], ...o,
});

test("keepalived_check.data: virtual and real servers in check_data.c's layout (table)", () => {
  const down = { service: 'vs', dest: '10.97.0.6:8080', checker: 'TCP_CHECK', target: '10.97.0.6:8080', state: 'down' as const, since: 0, lastResult: null, consecutiveFailures: 3, checks: 3 };
  const health: HealthStatus = {
    now: 0,
    services: [
      svc({ dests: [dest('10.97.0.5:8080'), dest('10.97.0.6:8080', { alive: false, weight: null, checkers: [down] }), dest('10.97.0.9:80', { sorry: true })] }),
      svc({ key: { af: 6, fwmark: 0, protocol: 'udp', addr: 'fd00::100', port: 53 }, quorumUp: false, quorum: 5, hysteresis: 1, dests: [dest('[fd00::5]:53', { effectiveWeight: 0, configuredWeight: 2 })] }),
      svc({ key: { af: 4, fwmark: 7, protocol: 'tcp', addr: '', port: 0 } }),
    ],
  };
  assert.equal(renderKaCheckData(health), [
    '------< LVS Topology >------',
    ' ------< Virtual server >------',
    ' VS VIP = 10.97.0.100, VPORT = 80',
    '   Address family = inet',
    '   protocol = TCP',
    '   quorum = 1, hysteresis = 0',
    '   alive = 1',
    '   quorum_state_up = 1',
    '   ------< Real server >------',
    '   RIP = 10.97.0.5, RPORT = 8080, WEIGHT = 3 EFF WEIGHT = 3',
    '   initial weight = 3',
    '   effective weight = 3',
    '   alive = 1',
    '   num failed checkers = 0',
    '   ------< Real server >------',
    '   RIP = 10.97.0.6, RPORT = 8080, WEIGHT = 3 EFF WEIGHT = 3',
    '   initial weight = 3',
    '   effective weight = 3',
    '   alive = 0',
    '   num failed checkers = 1',
    ' ------< Virtual server >------',
    ' VS VIP = fd00::100, VPORT = 53',
    '   Address family = inet6',
    '   protocol = UDP',
    '   quorum = 5, hysteresis = 1',
    '   alive = 0',
    '   quorum_state_up = 0',
    '   ------< Real server >------',
    '   RIP = fd00::5, RPORT = 53, WEIGHT = 0 EFF WEIGHT = 0',
    '   initial weight = 2',
    '   effective weight = 0',
    '   alive = 1',
    '   num failed checkers = 0',
    ' ------< Virtual server >------',
    ' VS FWMARK = 7',
    '   Address family = inet',
    '   protocol = none',
    '   quorum = 1, hysteresis = 0',
    '   alive = 1',
    '   quorum_state_up = 1',
    '',
  ].join('\n'));
  assert.equal(renderKaCheckData(null), '');
});

test('writeKaDump: SIGUSR1 writes the data files, SIGUSR2 the stats; a link planted at the path is replaced, never written through', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-kadump-'));
  try {
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'keep me\n');
    symlinkSync(victim, join(dir, KA_STATS_FILE));
    const src = { vrrp: () => [VI_1], health: () => ({ now: 0, services: [svc({ dests: [dest('10.97.0.5:8080')] })] }) };
    assert.deepEqual(writeKaDump('SIGUSR1', dir, src), [join(dir, KA_DATA_FILE), join(dir, KA_CHECK_DATA_FILE)]);
    assert.equal(readFileSync(join(dir, KA_DATA_FILE), 'utf8'), renderKaData([VI_1]));
    assert.match(readFileSync(join(dir, KA_CHECK_DATA_FILE), 'utf8'), /RIP = 10\.97\.0\.5, RPORT = 8080/);
    assert.deepEqual(writeKaDump('SIGUSR2', dir, src), [join(dir, KA_STATS_FILE)]);
    assert.equal(readFileSync(join(dir, KA_STATS_FILE), 'utf8'), kaStats);
    assert.equal(readFileSync(victim, 'utf8'), 'keep me\n');
    assert.ok(!lstatSync(join(dir, KA_STATS_FILE)).isSymbolicLink());
    assert.deepEqual(writeKaDump('SIGUSR1', dir, { vrrp: () => [VI_1] }), [join(dir, KA_DATA_FILE)], 'no checker (tsvs vrrp): no keepalived_check.data');
    assert.throws(() => writeKaDump('SIGUSR2', join(dir, 'missing'), src), /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
