// The daemon's options (src/dataplane/options.ts, src/daemon/options.ts): flags and config keys
// into typed, frozen options with their defaults; bad values and combinations refused by name.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { PACKET_DEFAULTS, PROXY_DEFAULTS, OptionError } from '../../src/dataplane/options.ts';
import { ConfigFileError, OPTION_SPECS, daemonOptions, mergeOptions, optionsHelp, parseConfigFile, type DaemonOptions, type OptionEnv } from '../../src/daemon/options.ts';

const env: OptionEnv = { cpus: 3, root: true, cwd: '/work', defaultSocket: () => '/run/tsvs/tsvs.sock', defaultState: (s) => `${s}.state` };
const raw = (o: Record<string, string | string[]>): Map<string, readonly string[]> => new Map(Object.entries(o).map(([k, v]) => [k, Array.isArray(v) ? v : [v]]));
const resolve = (o: Record<string, string | string[]>, e: OptionEnv = env, noState = false): DaemonOptions => daemonOptions(raw(o), { noState }, e);

describe('daemon options: defaults', () => {
  it('with no option: the proxy forwarder with one relay worker per CPU and every default of src/dataplane/options.ts', () => {
    const o = resolve({});
    assert.deepEqual({ ...o.proxy }, { workers: 3, ...PROXY_DEFAULTS });
    assert.deepEqual({ ...o.packet }, { ...PACKET_DEFAULTS, ifaces: [] });
    assert.equal(o.forwarder, 'proxy');
    assert.equal(o.logLevel, 'info');
    assert.equal(o.syncRefreshMs, 1000);
    assert.equal(o.socketPath, '/run/tsvs/tsvs.sock');
    assert.equal(o.stateFile, '/run/tsvs/tsvs.sock.state');
  });

  it('the options are frozen', () => {
    const o = resolve({ forwarder: 'packet', iface: ['eth0'] });
    for (const x of [o, o.proxy, o.packet, o.packet.ifaces]) assert.ok(Object.isFrozen(x));
  });
});

describe('daemon options: each flag sets its option', () => {
  // [flags, path into the options, value]
  const rows: [Record<string, string | string[]>, (o: DaemonOptions) => unknown, unknown][] = [
    [{ 'proxy-ahead': 'off' }, (o) => o.proxy.ahead, false],
    [{ 'proxy-shared-accept': 'off' }, (o) => o.proxy.sharedAccept, false],
    [{ 'proxy-speculate': 'off' }, (o) => o.proxy.speculate, false],
    [{ 'proxy-speculate': 'on' }, (o) => o.proxy.speculate, true],
    [{ 'proxy-relay': 'net' }, (o) => o.proxy.relay, 'net'],
    [{ 'proxy-relay': 'epoll' }, (o) => o.proxy.relay, 'epoll'],
    [{ 'proxy-worker-mode': 'processes' }, (o) => o.proxy.workerMode, 'processes'],
    [{ 'proxy-protocol': 'v2' }, (o) => o.proxy.proxyProtocol, 'v2'],
    [{ 'proxy-protocol': 'none' }, (o) => o.proxy.proxyProtocol, null],
    [{ 'connect-timeout': '250' }, (o) => o.proxy.connectTimeoutMs, 250],
    [{ workers: '0' }, (o) => o.proxy.workers, 0],
    [{ workers: '7' }, (o) => o.proxy.workers, 7],
    [{ forwarder: 'packet' }, (o) => [o.packet.workers, o.proxy.workers], [0, 0]],
    [{ forwarder: 'packet', workers: '2' }, (o) => [o.packet.workers, o.packet.fastPath], [2, 'none']],
    [{ forwarder: 'packet', 'flow-cache': 'off' }, (o) => o.packet.flowCache, false],
    [{ forwarder: 'packet', 'fast-path-ahead': 'off' }, (o) => o.packet.fastPathAhead, false],
    [{ forwarder: 'packet', 'fast-path': 'xdp' }, (o) => o.packet.fastPath, 'xdp'],
    [{ forwarder: 'packet', iface: ['eth0', 'eth1'] }, (o) => o.packet.ifaces, ['eth0', 'eth1']],
    [{ 'sync-refresh': '0' }, (o) => o.syncRefreshMs, 0],
    [{ 'log-level': 'debug' }, (o) => o.logLevel, 'debug'],
    [{ socket: 's.sock', state: 'st', rules: 'r' }, (o) => [o.socketPath, o.stateFile, o.rulesFile], ['/work/s.sock', '/work/st', '/work/r']],
    [{ ldirectord: '/etc/ha.d/ldirectord.cf' }, (o) => [o.configFile, o.configFormat], ['/etc/ha.d/ldirectord.cf', 'ldirectord']],
  ];
  for (const [flags, get, want] of rows) {
    it(`${Object.entries(flags).map(([k, v]) => `--${k} ${v}`).join(' ')}`, () => assert.deepEqual(get(resolve(flags)), want));
  }

  it('--no-state keeps no state file', () => assert.equal(daemonOptions(raw({}), { noState: true }, env).stateFile, null));
});

describe('daemon options: bad values and combinations are refused, naming the option', () => {
  const rows: [Record<string, string | string[]>, RegExp, OptionEnv?][] = [
    [{ 'proxy-ahead': 'maybe' }, /^--proxy-ahead must be on or off, not 'maybe'$/],
    [{ 'proxy-ahead': '0' }, /^--proxy-ahead must be on or off, not '0'$/],
    [{ 'proxy-relay': 'io_uring' }, /^--proxy-relay must be epoll or net, not 'io_uring'$/],
    // The tcp_wrap relay is gone (Node internals): its name is refused like any unknown kind.
    [{ 'proxy-relay': 'uv' }, /^--proxy-relay must be epoll or net, not 'uv'$/],
    [{ 'proxy-worker-mode': 'fibers' }, /^--proxy-worker-mode must be threads or processes/],
    [{ 'proxy-protocol': 'v3' }, /^--proxy-protocol must be v1, v2 or none, not 'v3'$/],
    [{ 'connect-timeout': '0' }, /^--connect-timeout must be a positive integer \(ms\), not '0'$/],
    [{ 'connect-timeout': '1.5' }, /^--connect-timeout must be a positive integer/],
    [{ workers: '65' }, /^--workers must be an integer 0\.\.64, not '65'$/],
    [{ workers: '-1' }, /^--workers must be an integer 0\.\.64/],
    [{ 'sync-refresh': 'soon' }, /^--sync-refresh must be a number of ms/],
    [{ 'log-level': 'loud' }, /^--log-level must be one of trace, debug/],
    [{ forwarder: 'kernel' }, /^--forwarder must be proxy, packet or none, not 'kernel'$/],
    [{ forwarder: 'packet' }, /^--forwarder packet needs root/, { ...env, root: false }],
    [{ 'fast-path': 'bogus' }, /^--fast-path must be auto, tc, xdp or none, not 'bogus'$/],
    [{ 'fast-path': 'tc' }, /^--fast-path tc needs --forwarder packet$/],
    [{ forwarder: 'packet', 'fast-path': 'xdp', workers: '2' }, /^--fast-path xdp works with the default packet path \(drop --workers\)$/],
    [{ 'flow-cache': 'off' }, /^--flow-cache is an option of the packet forwarder \(this daemon runs --forwarder proxy\)$/],
    [{ iface: 'eth0' }, /^--iface is an option of the packet forwarder/],
    [{ forwarder: 'packet', 'proxy-ahead': 'off' }, /^--proxy-ahead is an option of the proxy forwarder \(this daemon runs --forwarder packet\)$/],
    [{ forwarder: 'packet', iface: 'a b' }, /^--iface must be an interface name, not 'a b'$/],
    [{ keepalived: 'k', ldirectord: 'l' }, /either --keepalived or --ldirectord/],
    [{ keepalived: 'k', rules: 'r' }, /--rules cannot be combined/],
  ];
  for (const [flags, msg, e] of rows) {
    it(`${Object.entries(flags).map(([k, v]) => `--${k} ${v}`).join(' ')}`, () => {
      assert.throws(() => resolve(flags, e ?? env), (err: unknown) => err instanceof OptionError && msg.test(err.message));
    });
  }
});

describe('daemon options: the config file', () => {
  it('KEY = VALUE lines with comments; repeatable keys accumulate; relative paths from the file\'s directory', () => {
    const f = parseConfigFile('# tsvs\nforwarder = packet   # root\n\niface = eth0\niface=eth1\nflow-cache = off\nrules = rules.txt\n', 'tsvs.conf', '/etc/tsvs');
    assert.deepEqual(Object.fromEntries(f), { forwarder: ['packet'], iface: ['eth0', 'eth1'], 'flow-cache': ['off'], rules: ['/etc/tsvs/rules.txt'] });
    const o = daemonOptions(f, { noState: false }, env);
    assert.deepEqual([o.forwarder, o.packet.ifaces, o.packet.flowCache, o.rulesFile], ['packet', ['eth0', 'eth1'], false, '/etc/tsvs/rules.txt']);
  });

  it('a flag wins over the file (a repeatable one replaces all of the file\'s values)', () => {
    const f = parseConfigFile('proxy-relay = net\nproxy-ahead = off\n', 'c', '/');
    const o = daemonOptions(mergeOptions(f, raw({ 'proxy-relay': 'epoll' })), { noState: false }, env);
    assert.deepEqual([o.proxy.relay, o.proxy.ahead], ['epoll', false]);
    const g = parseConfigFile('forwarder = packet\niface = eth0\niface = eth1\n', 'c', '/');
    assert.deepEqual(daemonOptions(mergeOptions(g, raw({ iface: ['eth2'] })), { noState: false }, env).packet.ifaces, ['eth2']);
  });

  const bad: [string, RegExp][] = [
    ['proxy-ahead = off\nproxy-ahead = sometimes\n', /^tsvs\.conf:2: proxy-ahead must be on or off, not 'sometimes'$/],
    ['\n\nspeed = fast\n', /^tsvs\.conf:3: unknown key 'speed' \(keys: rules, socket, /],
    ['config = other.conf\n', /^tsvs\.conf:1: unknown key 'config'/],
    ['forwarder packet\n', /^tsvs\.conf:1: expected KEY = VALUE, not 'forwarder packet'$/],
    ['rules =\n', /^tsvs\.conf:1: rules needs a file$/],
  ];
  for (const [text, msg] of bad) {
    it(`refused: ${JSON.stringify(text)}`, () => {
      assert.throws(() => parseConfigFile(text, 'tsvs.conf', '/etc/tsvs'), (e: unknown) => e instanceof ConfigFileError && msg.test(e.message));
    });
  }
});

describe('daemon options: --help and docs/OPTIONS.md', () => {
  it('docs/OPTIONS.md has a row for every option, with the same default', () => {
    const doc = readFileSync(new URL('../../docs/OPTIONS.md', import.meta.url), 'utf8');
    for (const s of OPTION_SPECS) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${s.key}\` |`));
      assert.ok(row, `no row for ${s.key}`);
      assert.ok(row.includes(`| ${s.shown} |`), `${s.key}: default ${s.shown} in ${row}`);
    }
  });

  it('names every option with its values and its default', () => {
    const h = optionsHelp().replace(/\s+/g, ' ');
    for (const s of OPTION_SPECS) {
      assert.ok(h.includes(`--${s.key} ${s.arg}`), s.key);
      assert.ok(h.includes(`(default: ${s.shown})`), `${s.key} default`);
    }
  });
});
