// The scale-out options of tsvs daemon (src/daemon/options.ts; docs/OPTIONS.md, docs/SCALE-OUT.md):
// the IPVS sysctls that matter with several directors, and --bgp with its --bgp-* options.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SYSCTLS } from '../../src/core/engine.ts';
import { OptionError } from '../../src/dataplane/options.ts';
import { daemonOptions, parseConfigFile, type DaemonOptions, type OptionEnv } from '../../src/daemon/options.ts';

const env: OptionEnv = { cpus: 2, root: true, cwd: '/work', defaultSocket: () => '/run/tsvs/tsvs.sock', defaultState: (s) => `${s}.state` };
const raw = (o: Record<string, string | string[]>): Map<string, readonly string[]> => new Map(Object.entries(o).map(([k, v]) => [k, Array.isArray(v) ? v : [v]]));
const resolve = (o: Record<string, string | string[]>): DaemonOptions => daemonOptions(raw(o), { noState: false }, env);

describe('IPVS sysctls as daemon options', () => {
  it('default to the kernel\'s values (the engine\'s DEFAULT_SYSCTLS)', () => {
    const o = resolve({});
    assert.deepEqual({ ...o.ipvs }, {
      sloppy_tcp: DEFAULT_SYSCTLS.sloppy_tcp, sloppy_sctp: DEFAULT_SYSCTLS.sloppy_sctp, conn_reuse_mode: DEFAULT_SYSCTLS.conn_reuse_mode,
      expire_nodest_conn: DEFAULT_SYSCTLS.expire_nodest_conn, expire_quiescent_template: DEFAULT_SYSCTLS.expire_quiescent_template,
      drop_entry: DEFAULT_SYSCTLS.drop_entry, drop_packet: DEFAULT_SYSCTLS.drop_packet, amemthresh: DEFAULT_SYSCTLS.amemthresh, am_droprate: DEFAULT_SYSCTLS.am_droprate,
      secure_tcp: DEFAULT_SYSCTLS.secure_tcp, syn_recv_under_load: DEFAULT_SYSCTLS.syn_recv_under_load, syn_load_rate: DEFAULT_SYSCTLS.syn_load_rate,
    });
    assert.equal(o.ipvs.secure_tcp, 0);
    assert.deepEqual([o.ipvs.sloppy_tcp, o.ipvs.conn_reuse_mode], [0, 1]);
    assert.ok(Object.isFrozen(o.ipvs));
  });

  const rows: [Record<string, string>, Partial<DaemonOptions['ipvs']>][] = [
    [{ 'sloppy-tcp': 'on' }, { sloppy_tcp: 1 }],
    [{ 'sloppy-sctp': 'on' }, { sloppy_sctp: 1 }],
    [{ 'conn-reuse-mode': '0' }, { conn_reuse_mode: 0 }],
    [{ 'conn-reuse-mode': '3' }, { conn_reuse_mode: 3 }],
    [{ 'expire-nodest-conn': 'on' }, { expire_nodest_conn: 1 }],
    [{ 'drop-entry': '1', 'drop-packet': '3', amemthresh: '2048', 'am-droprate': '5' }, { drop_entry: 1, drop_packet: 3, amemthresh: 2048, am_droprate: 5 }],
    [{ 'expire-quiescent-template': 'on', 'sloppy-tcp': 'off' }, { expire_quiescent_template: 1, sloppy_tcp: 0 }],
    [{ 'syn-recv-under-load': '0', 'syn-load-rate': '500' }, { syn_recv_under_load: 0, syn_load_rate: 500 }],
  ];
  for (const [flags, want] of rows) {
    it(`${Object.entries(flags).map(([k, v]) => `--${k} ${v}`).join(' ')}`, () => {
      const o = resolve(flags);
      for (const [k, v] of Object.entries(want)) assert.equal(o.ipvs[k as keyof DaemonOptions['ipvs']], v, k);
    });
  }

  it('a config file sets them too', () => {
    const f = parseConfigFile('sloppy-tcp = on\nconn-reuse-mode = 2\n', 'tsvs.conf', '/etc/tsvs');
    const o = daemonOptions(f, { noState: false }, env);
    assert.deepEqual([o.ipvs.sloppy_tcp, o.ipvs.conn_reuse_mode], [1, 2]);
  });
});

describe('--bgp and its options', () => {
  it('default: nothing announced', () => assert.equal(resolve({}).bgp, null));

  it('--bgp bird with an AS and peers: the rest defaulted (iBGP peer AS, hold 9 s, quorum 1, rise 1 s, every service address)', () => {
    const b = resolve({ bgp: 'bird', 'bgp-as': '65001', 'bgp-peer': ['192.168.10.254', 'fd00:10::00fe'] }).bgp!;
    assert.deepEqual({ ...b, peers: [...b.peers], prefixes: [...b.prefixes] }, {
      daemon: 'bird', localAs: 65001, peers: ['192.168.10.254', 'fd00:10::fe'], peerAs: 65001, routerId: null, holdSeconds: 9, prefixes: [], quorum: 1, riseMs: 1000,
    });
    assert.ok(Object.isFrozen(b) && Object.isFrozen(b.peers));
  });

  it('every --bgp-* option is taken, prefixes canonical', () => {
    const b = resolve({
      bgp: 'bird', 'bgp-as': '4200000001', 'bgp-peer': '10.1.1.1', 'bgp-peer-as': '65000', 'bgp-router-id': '10.1.1.2', 'bgp-hold': '3',
      'bgp-prefix': ['10.0.0.77/24', 'fd00:100::100'], 'bgp-quorum': '2', 'bgp-rise': '0',
    }).bgp!;
    assert.deepEqual([b.localAs, b.peerAs, b.routerId, b.holdSeconds, [...b.prefixes], b.quorum, b.riseMs], [4200000001, 65000, '10.1.1.2', 3, ['10.0.0.0/24', 'fd00:100::100/128'], 2, 0]);
  });

  const bad: [Record<string, string | string[]>, RegExp][] = [
    [{ bgp: 'exabgp' }, /^--bgp must be none or bird, not 'exabgp'$/],
    [{ 'bgp-as': '65001' }, /^--bgp-as needs --bgp bird$/],
    [{ 'bgp-peer': '10.0.0.1' }, /^--bgp-peer needs --bgp bird$/],
    [{ bgp: 'bird', 'bgp-peer': '10.0.0.1' }, /^--bgp bird needs --bgp-as AS$/],
    [{ bgp: 'bird', 'bgp-as': '65001' }, /^--bgp bird needs at least one --bgp-peer ADDR$/],
    [{ bgp: 'bird', 'bgp-as': '0', 'bgp-peer': '10.0.0.1' }, /^--bgp-as must be an AS number 1\.\.4294967295, not '0'$/],
    [{ bgp: 'bird', 'bgp-as': '4294967296', 'bgp-peer': '10.0.0.1' }, /^--bgp-as must be an AS number/],
    [{ bgp: 'bird', 'bgp-as': '1', 'bgp-peer': 'router1' }, /^--bgp-peer must be an IPv4 or IPv6 address, not 'router1'$/],
    [{ bgp: 'bird', 'bgp-as': '1', 'bgp-peer': '10.0.0.1', 'bgp-hold': '2' }, /^--bgp-hold must be 3\.\.65535 seconds, not '2'$/],
    [{ bgp: 'bird', 'bgp-as': '1', 'bgp-peer': '10.0.0.1', 'bgp-router-id': 'fd00::1' }, /^--bgp-router-id must be an IPv4 address/],
    [{ bgp: 'bird', 'bgp-as': '1', 'bgp-peer': 'fd00::1' }, /IPv6 neighbours only needs --bgp-router-id/],
    [{ bgp: 'bird', 'bgp-as': '1', 'bgp-peer': '10.0.0.1', 'bgp-prefix': '10.0.0.0/33' }, /^--bgp-prefix must be an address or ADDR\/LEN, not '10\.0\.0\.0\/33'$/],
    [{ bgp: 'bird', 'bgp-as': '1', 'bgp-peer': '10.0.0.1', 'bgp-quorum': '0' }, /^--bgp-quorum must be a weight/],
    [{ 'sloppy-tcp': '1' }, /^--sloppy-tcp must be on or off, not '1'$/],
    [{ 'conn-reuse-mode': '4' }, /^--conn-reuse-mode must be 0, 1, 2 or 3, not '4'$/],
    [{ 'syn-recv-under-load': '61' }, /^--syn-recv-under-load must be 0..60 seconds, not '61'$/],
    [{ 'syn-load-rate': '0' }, /^--syn-load-rate must be an integer >= 1, not '0'$/],
  ];
  for (const [flags, msg] of bad) {
    it(`refused: ${Object.entries(flags).map(([k, v]) => `--${k} ${String(v)}`).join(' ')}`, () => {
      assert.throws(() => resolve(flags), (e: unknown) => e instanceof OptionError && msg.test(e.message));
    });
  }
});
