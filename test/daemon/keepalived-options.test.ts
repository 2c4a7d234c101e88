// keepalived.conf global_defs keywords that are tsvs daemon options (tsvs_bgp_*, tsvs_sloppy_tcp...;
// src/config/keepalived/keywords.ts tsvsDaemonKeywords, src/daemon/options.ts keepalivedOptionLayer;
// docs/SCALE-OUT.md): read with their places, checked by the daemon's option table at FILE:LINE:COL,
// the lowest layer under --config and the flags; `tsvs config-test` and the daemon refuse bad ones.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tsvsDaemonKeywords } from '../../src/config/keepalived/keywords.ts';
import { parseKeepalived } from '../../src/config/keepalived.ts';
import { formatDiagnostic } from '../../src/config/desired.ts';
import {
  BGP_SPECS, KEEPALIVED_OPTION_KEYS, OPTION_SPECS, daemonOptions, keepalivedKeyword, keepalivedOptionLayer, layerOptions, withDaemonOptionChecks, type OptionEnv,
} from '../../src/daemon/options.ts';
import { REPO, tmpDir } from './helpers.ts';

const env: OptionEnv = { cpus: 2, root: true, cwd: '/work', defaultSocket: () => '/run/tsvs/tsvs.sock', defaultState: (s) => `${s}.state` };
const FILE = '/etc/keepalived/keepalived.conf';
const SERVICE = 'virtual_server 10.0.0.100 80 {\n  lb_algo mh\n  lb_kind DR\n  protocol TCP\n  real_server 192.168.20.11 80 {\n    weight 1\n  }\n}\n';
const conf = (globals: string[]): string => `global_defs {\n${globals.map((g) => `  ${g}\n`).join('')}}\n${SERVICE}`;
/** Reads the text as keepalived.conf, with the daemon's checks of its tsvs_ options. */
const read = (text: string) => withDaemonOptionChecks(parseKeepalived(FILE, { read: (p) => (p === FILE ? text : null), glob: () => [] }));
const layerOf = (globals: string[]) => {
  const r = read(conf(globals));
  assert.ok(r.state, r.diagnostics.map(formatDiagnostic).join('\n'));
  return keepalivedOptionLayer(r.state.global.daemonOptions ?? []);
};

describe('the keywords', () => {
  it('tsvsDaemonKeywords is tsvs_ + every option keepalived.conf may set, repeatable where the option is', () => {
    const byKey = new Map(OPTION_SPECS.map((s) => [s.key, s]));
    assert.deepEqual(Object.keys(tsvsDaemonKeywords).sort(), [...KEEPALIVED_OPTION_KEYS].map(keepalivedKeyword).sort());
    for (const k of KEEPALIVED_OPTION_KEYS) assert.equal(tsvsDaemonKeywords[keepalivedKeyword(k)], byKey.get(k)!.multiple ? 'many' : 'one', k);
  });
  it('every BGP option but --bgp-quorum (keepalived.conf has its virtual_server quorum), and the scale-out sysctls', () => {
    assert.ok(!KEEPALIVED_OPTION_KEYS.has(BGP_SPECS.quorum.key));
    for (const k of ['bgp', 'bgp-as', 'bgp-peer', 'bgp-peer-as', 'bgp-router-id', 'bgp-hold', 'bgp-prefix', 'bgp-rise', 'sloppy-tcp', 'sloppy-sctp', 'conn-reuse-mode', 'expire-nodest-conn', 'expire-quiescent-template']) {
      assert.ok(KEEPALIVED_OPTION_KEYS.has(k), k);
    }
  });
});

describe('keepalived.conf global_defs tsvs_ options', () => {
  it('read into the daemon\'s raw options: peers and prefixes accumulate over words and lines, another key takes its last line', () => {
    const { raw, diagnostics } = layerOf([
      'tsvs_bgp bird', 'tsvs_bgp_as 65001', 'tsvs_bgp_peer 192.168.10.254 fd00:10::fe', 'tsvs_bgp_peer 192.168.11.254', 'tsvs_bgp_peer_as 65000',
      'tsvs_bgp_hold 9', 'tsvs_bgp_hold 3', 'tsvs_bgp_prefix 10.0.0.0/24', 'tsvs_bgp_rise 300', 'tsvs_bgp_router_id 192.168.10.1',
      'tsvs_sloppy_tcp on', 'tsvs_expire_nodest_conn on', 'tsvs_conn_reuse_mode 0',
    ]);
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(Object.fromEntries(raw), {
      bgp: ['bird'], 'bgp-as': ['65001'], 'bgp-peer': ['192.168.10.254', 'fd00:10::fe', '192.168.11.254'], 'bgp-peer-as': ['65000'], 'bgp-hold': ['3'],
      'bgp-prefix': ['10.0.0.0/24'], 'bgp-rise': ['300'], 'bgp-router-id': ['192.168.10.1'], 'sloppy-tcp': ['on'], 'expire-nodest-conn': ['on'], 'conn-reuse-mode': ['0'],
    });
    const o = daemonOptions(layerOptions(raw, null, new Map()), { noState: false }, env);
    assert.deepEqual({ ...o.bgp!, peers: [...o.bgp!.peers], prefixes: [...o.bgp!.prefixes] }, {
      daemon: 'bird', localAs: 65001, peers: ['192.168.10.254', 'fd00:10::fe', '192.168.11.254'], peerAs: 65000, routerId: '192.168.10.1', holdSeconds: 3,
      prefixes: ['10.0.0.0/24'], quorum: 1, riseMs: 300,
    });
    assert.deepEqual([o.ipvs.sloppy_tcp, o.ipvs.expire_nodest_conn, o.ipvs.conn_reuse_mode], [1, 1, 0]);
  });

  it('a file without them changes nothing (no BGP, the kernel\'s sysctls)', () => {
    const r = read(conf(['router_id dir1']));
    assert.equal(r.state!.global.daemonOptions, undefined);
    const o = daemonOptions(layerOptions(keepalivedOptionLayer([]).raw, null, new Map()), { noState: false }, env);
    assert.equal(o.bgp, null);
    assert.equal(o.ipvs.sloppy_tcp, 0);
  });

  // Each problem at its FILE:LINE:COL (global_defs starts at line 1: the first keyword is line 2).
  const BAD: { name: string; globals: string[]; says: string[] }[] = [
    { name: 'a bad AS', globals: ['tsvs_bgp bird', 'tsvs_bgp_as 0', 'tsvs_bgp_peer 10.0.0.1'], says: [`${FILE}:3:15: error: tsvs_bgp_as must be an AS number 1..4294967295, not '0'`] },
    { name: 'a bad peer among good ones', globals: ['tsvs_bgp bird', 'tsvs_bgp_as 1', 'tsvs_bgp_peer 10.0.0.1 router2'], says: [`${FILE}:4:26: error: tsvs_bgp_peer must be an IPv4 or IPv6 address, not 'router2'`] },
    { name: 'a hold time BGP refuses', globals: ['tsvs_bgp bird', 'tsvs_bgp_as 1', 'tsvs_bgp_peer 10.0.0.1', 'tsvs_bgp_hold 2'], says: [`${FILE}:5:17: error: tsvs_bgp_hold must be 3..65535 seconds, not '2'`] },
    { name: 'a prefix too long', globals: ['tsvs_bgp bird', 'tsvs_bgp_as 1', 'tsvs_bgp_peer 10.0.0.1', 'tsvs_bgp_prefix 10.0.0.0/33'], says: [`${FILE}:5:19: error: tsvs_bgp_prefix must be an address or ADDR/LEN, not '10.0.0.0/33'`] },
    { name: 'another BGP daemon', globals: ['tsvs_bgp exabgp'], says: [`${FILE}:2:12: error: tsvs_bgp must be none or bird, not 'exabgp'`] },
    { name: 'sloppy_tcp yes', globals: ['tsvs_sloppy_tcp yes'], says: [`${FILE}:2:19: error: tsvs_sloppy_tcp must be on or off, not 'yes'`] },
    { name: 'an AS without tsvs_bgp bird', globals: ['tsvs_bgp_as 65001'], says: [`${FILE}:2:3: error: tsvs_bgp_as needs tsvs_bgp bird`] },
    { name: 'tsvs_bgp bird without an AS', globals: ['tsvs_bgp bird', 'tsvs_bgp_peer 10.0.0.1'], says: [`${FILE}:2:3: error: tsvs_bgp bird needs tsvs_bgp_as AS`] },
    { name: 'tsvs_bgp bird without a peer', globals: ['tsvs_bgp bird', 'tsvs_bgp_as 1'], says: [`${FILE}:2:3: error: tsvs_bgp bird needs at least one tsvs_bgp_peer ADDR`] },
    { name: 'IPv6 peers only, no router id', globals: ['tsvs_bgp bird', 'tsvs_bgp_as 1', 'tsvs_bgp_peer fd00::1'], says: [`${FILE}:2:3: error: tsvs_bgp bird with IPv6 neighbours only needs tsvs_bgp_router_id IPv4`] },
  ];
  for (const c of BAD) {
    it(`refused at its place: ${c.name}`, () => {
      const r = read(conf(c.globals));
      assert.equal(r.state, null);
      assert.deepEqual(r.diagnostics.map(formatDiagnostic), c.says);
    });
  }

  it('a value is required (keepalived\'s missing parameter); an extra word to a single-valued one is a note', () => {
    const r = read(conf(['tsvs_bgp_as']));
    assert.equal(r.state, null);
    assert.match(formatDiagnostic(r.diagnostics[0]!), /:2:15: error: \*\*\* Configuration line starting `tsvs_bgp_as` is missing a parameter/);
    const n = read(conf(['tsvs_sloppy_tcp on off']));
    assert.ok(n.state);
    assert.deepEqual(n.diagnostics.map(formatDiagnostic), [`${FILE}:2:22: note: unexpected argument 'off' to 'tsvs_sloppy_tcp'; ignored`]);
    assert.deepEqual(keepalivedOptionLayer(n.state.global.daemonOptions!).raw.get('sloppy-tcp'), ['on']);
  });
});

describe('layers: keepalived.conf under --config under the flags', () => {
  const ka = new Map([['bgp', ['bird']], ['bgp-as', ['65001']], ['bgp-peer', ['10.0.0.1']], ['bgp-hold', ['3']], ['sloppy-tcp', ['on']]]);
  it('a flag replaces the keepalived value of its key only', () => {
    const o = daemonOptions(layerOptions(ka, new Map([['bgp-hold', ['6']]]), new Map([['bgp-router-id', ['10.0.0.2']], ['bgp-peer', ['10.0.0.3', '10.0.0.4']]])), { noState: false }, env);
    assert.deepEqual([o.bgp!.localAs, o.bgp!.holdSeconds, o.bgp!.routerId, [...o.bgp!.peers], o.ipvs.sloppy_tcp], [65001, 6, '10.0.0.2', ['10.0.0.3', '10.0.0.4'], 1]);
  });
  it('--bgp none turns the file\'s announcement off with its settings (the sysctls stay)', () => {
    const o = daemonOptions(layerOptions(ka, null, new Map([['bgp', ['none']]])), { noState: false }, env);
    assert.equal(o.bgp, null);
    assert.equal(o.ipvs.sloppy_tcp, 1);
  });
});

describe('the commands', () => {
  const tsvs = (args: string[]) => spawnSync(process.execPath, [join(REPO, 'bin/tsvs.mjs'), ...args], { encoding: 'utf8', timeout: 30000 });
  it('tsvs config-test accepts them (exit 0) and refuses a bad one at FILE:LINE:COL (exit 5)', () => {
    const dir = tmpDir('tsvs-kaopt-');
    try {
      const good = join(dir, 'good.conf'), bad = join(dir, 'bad.conf');
      writeFileSync(good, conf(['tsvs_bgp bird', 'tsvs_bgp_as 65001', 'tsvs_bgp_peer 192.168.10.254', 'tsvs_sloppy_tcp on']));
      writeFileSync(bad, conf(['tsvs_bgp bird', 'tsvs_bgp_as 65001', 'tsvs_bgp_peer 192.168.10.254', 'tsvs_bgp_rise soon']));
      const g = tsvs(['config-test', good]);
      assert.equal(g.status, 0, g.stderr);
      assert.match(g.stdout, /keepalived configuration OK \(0 warning\(s\)\)/);
      const b = tsvs(['config-test', bad]);
      assert.equal(b.status, 5);
      assert.match(b.stderr, new RegExp(`^${bad.replace(/[.]/g, '\\.')}:5:17: error: tsvs_bgp_rise must be a number of ms, not 'soon'$`, 'm'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tsvs daemon --keepalived with a bad one: exit 2 naming FILE:LINE:COL, nothing started', () => {
    const dir = tmpDir('tsvs-kaopt-');
    try {
      const f = join(dir, 'keepalived.conf');
      writeFileSync(f, conf(['tsvs_bgp bird', 'tsvs_bgp_as 65001']));
      const r = tsvs(['daemon', '--forwarder', 'none', '--no-state', '--socket', join(dir, 'tsvs.sock'), '--keepalived', f]);
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stderr, `tsvs daemon: ${f}:2:3: error: tsvs_bgp bird needs at least one tsvs_bgp_peer ADDR\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
