/**
 * `tsvs daemon --bgp bird` end to end (src/daemon/announce.ts): the real daemon in a namespace,
 * its BIRD peering with a router BIRD in another (src/lab/bgp-router.ts); keepalived.conf health
 * checks with a quorum decide, and the router's kernel table must follow: announced while the
 * quorum holds, withdrawn when it is lost, on `tsvs announce drain`, and when the
 * daemon is killed (its BIRD dies with it). Without --bgp the announce op is refused.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, startDaemon, tmpDir } from './helpers.ts';
import { callDaemon } from '../../src/daemon/protocol.ts';
import { routeNextHops, startRouterBird, type RouterHandle } from '../../src/lab/bgp-router.ts';
import { Lab, isRoot, waitFor, sleep } from '../helpers/netns.ts';

/** Starts `tsvs daemon ARGS` inside namespace `ns` and waits until it is ready; its output goes to `onOutput`. */
async function startDaemonIn(ns: string, args: readonly string[], onOutput: (text: string) => void, output: () => string): Promise<ChildProcess> {
  const d = spawn('ip', ['netns', 'exec', ns, process.execPath, join(REPO, 'bin/tsvs.mjs'), 'daemon', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  d.stdout!.on('data', (b: Buffer) => onOutput(b.toString()));
  d.stderr!.on('data', (b: Buffer) => onOutput(b.toString()));
  assert.ok(await waitFor(() => output().includes('tsvs daemon ready') || d.exitCode !== null, 20000, 50) >= 0, output());
  assert.ok(output().includes('tsvs daemon ready'), output());
  return d;
}

/** Kills what a suite started (the daemon, the router's BIRD, by PID) and removes its namespaces and files. */
async function tearDown(daemon: ChildProcess | null | undefined, router: RouterHandle | null | undefined, lab: Lab, dir: string): Promise<void> {
  if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
    daemon.kill('SIGKILL');
    await new Promise((r) => daemon.once('exit', r));
  }
  if (router) try { process.kill(router.pid, 'SIGKILL'); } catch { /* gone */ }
  await lab.cleanup();
  rmSync(dir, { recursive: true, force: true });
}

function tsvs(args: string[], socket: string): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [join(REPO, 'bin/tsvs.mjs'), ...args, '--socket', socket], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('--bgp bird without BIRD', () => {
  it('the daemon does not start: exit 1 naming bird2 (E_BGP), nothing left listening', () => {
    const dir = tmpDir('tsvs-nobird-');
    const socket = join(dir, 'tsvs.sock');
    // bird lives in /usr/sbin: a PATH without it (PATH names where programs are, nothing else).
    const r = spawnSync(process.execPath, [join(REPO, 'bin/tsvs.mjs'), 'daemon', '--forwarder', 'none', '--socket', socket, '--no-state', '--bgp', 'bird', '--bgp-as', '65001', '--bgp-peer', '127.0.0.2', '--bgp-router-id', '127.0.0.1'],
      { encoding: 'utf8', env: { ...process.env, PATH: '/usr/bin:/bin' }, timeout: 20000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^tsvs daemon: --bgp bird: cannot run bird: .*ENOENT \(install Debian's bird2\)$/m);
    assert.equal(existsSync(socket), false);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('announce op without --bgp', () => {
  it('tsvs announce: refused with ENOBGP (exit 1); a bad action is EBADREQ', async () => {
    const d = await startDaemon(['--forwarder', 'none', '--no-state']);
    try {
      const r = tsvs(['announce', 'drain'], d.socket);
      assert.equal(r.code, 1);
      assert.match(r.err, /^tsvs announce: ENOBGP: this daemon announces nothing \(start it with --bgp bird\)\n$/);
      const bad = await callDaemon(d.socket, { v: 1, id: 7, op: 'announce', action: 'maybe' } as never, 5000);
      assert.deepEqual(bad.ok ? null : bad.error.code, 'EBADREQ');
      assert.equal(tsvs(['announce', 'now'], d.socket).code, 2);
    } finally {
      await d.stop();
    }
  });
});

const haveBird = spawnSync('bird', ['--version']).status === 0;
const skip = !isRoot ? 'needs root (network namespaces, BGP)' : !haveBird ? 'bird (Debian bird2) is not installed' : false;
if (skip) console.log(`# skipping tsvs daemon --bgp tests: ${skip}`);

describe('tsvs daemon --bgp bird with keepalived.conf health checks (namespaces)', { skip, timeout: 90_000 }, () => {
  const lab = new Lab('bgpd');
  const dir = tmpDir('tsvs-bgpd-');
  const socket = join(dir, 'tsvs.sock');
  const RS = ['192.168.79.11', '192.168.79.12'];
  let dirNs = '', routerNs = '', router: RouterHandle | null = null, daemon: ChildProcess | null = null, logs = '';
  const servers = new Map<string, ChildProcess>();

  /** A TCP listener on RS:80 inside the director's namespace (what TCP_CHECK connects to). */
  const serve = (addr: string): void => {
    servers.set(addr, lab.spawnIn(dirNs, process.execPath, ['-e', `require('net').createServer((s) => s.end()).listen(80, '${addr}')`]));
  };
  const unserve = async (addr: string): Promise<void> => {
    const c = servers.get(addr)!;
    c.kill('SIGKILL');
    await new Promise((r) => c.once('exit', r));
  };
  const hops = () => routeNextHops(routerNs, '10.0.0.100/32').join();
  const bgp = async (): Promise<{ draining: boolean; prefixes: { prefix: string; announced: boolean; reason: string }[]; bird: { pid: number } }> => {
    const r = await callDaemon(socket, { v: 1, id: 1, op: 'announce', action: 'status' }, 5000);
    assert.ok(r.ok);
    return r['bgp'] as never;
  };

  before(async () => {
    dirNs = lab.ns('d');
    routerNs = lab.ns('r');
    lab.link(dirNs, '192.168.79.1/24', routerNs, '192.168.79.254/24');
    for (const a of RS) spawnSync('ip', ['-n', dirNs, 'addr', 'add', `${a}/32`, 'dev', 'lo']);
    for (const a of RS) serve(a);
    router = await startRouterBird(routerNs, join(dir, 'router'), { routerId: '192.168.79.254', localAs: 65000, holdSeconds: 3, peers: [{ name: 'dir1', address: '192.168.79.1', as: 65001 }] });
    const conf = join(dir, 'keepalived.conf');
    writeFileSync(conf, `virtual_server 10.0.0.100 80 {\n  delay_loop 0.3\n  lb_algo mh\n  lb_kind DR\n  protocol TCP\n  quorum 2\n${RS.map((a) => `  real_server ${a} 80 {\n    weight 1\n    TCP_CHECK {\n      connect_timeout 0.5\n      retry 0\n    }\n  }\n`).join('')}}\n`);
    daemon = await startDaemonIn(dirNs, ['--forwarder', 'none', '--socket', socket, '--no-state', '--keepalived', conf,
      '--bgp', 'bird', '--bgp-as', '65001', '--bgp-peer', '192.168.79.254', '--bgp-peer-as', '65000', '--bgp-hold', '3', '--bgp-rise', '300', '--http', '127.0.0.1:9180'], (t) => (logs += t), () => logs);
  });
  after(() => tearDown(daemon, router, lab, dir));

  it('announced once both real servers answer their checks (quorum 2)', async () => {
    assert.ok(await waitFor(() => hops() === '192.168.79.1', 15000, 50) >= 0, `not announced:\n${logs.slice(-3000)}`);
    const b = await bgp();
    assert.deepEqual(b.prefixes.map((p) => [p.prefix, p.announced, p.reason]), [['10.0.0.100/32', true, 'healthy']]);
    const st = tsvs(['status'], socket);
    assert.match(st.out, /BGP \(bird\): AS 65001 -> AS 65000, router id 192\.168\.79\.1, hold 3 s; BIRD pid \d+/);
    assert.match(st.out, /10\.0\.0\.100\/32 +announced +healthy/);
    assert.match(st.out, /peer 192\.168\.79\.254 +Established/);
    // /metrics (served inside the director's namespace)
    const m = spawnSync('ip', ['netns', 'exec', dirNs, 'curl', '-s', '-m', '5', 'http://127.0.0.1:9180/metrics'], { encoding: 'utf8' }).stdout;
    assert.match(m, /^tsvs_bgp_prefix_announced\{prefix="10\.0\.0\.100\/32"\} 1$/m);
    assert.match(m, /^tsvs_bgp_session_established\{peer="192\.168\.79\.254"\} 1$/m);
    assert.match(m, /^tsvs_bgp_draining 0$/m);
    assert.match(m, /^tsvs_bgp_daemon_up 1$/m);
    const api = JSON.parse(spawnSync('ip', ['netns', 'exec', dirNs, 'curl', '-s', '-m', '5', 'http://127.0.0.1:9180/api/v1/bgp'], { encoding: 'utf8' }).stdout) as { bgp: { prefixes: unknown[]; peers: unknown[] } };
    assert.deepEqual([api.bgp.prefixes, api.bgp.peers], [[{ prefix: '10.0.0.100/32', announced: true }], [{ address: '192.168.79.254', established: true }]]);
  });

  it('one real server fails its check: quorum lost, withdrawn; back: announced again after the rise', async () => {
    await unserve(RS[1]!);
    const t = await waitFor(() => hops() === '', 5000, 20);
    assert.ok(t >= 0, 'withdrawn');
    assert.match((await bgp()).prefixes[0]!.reason, /^quorum lost: tcp 10\.0\.0\.100:80 \(alive weight 1, quorum 2\)$/);
    const m = spawnSync('ip', ['netns', 'exec', dirNs, 'curl', '-s', '-m', '5', 'http://127.0.0.1:9180/metrics'], { encoding: 'utf8' }).stdout;
    assert.match(m, /^tsvs_bgp_prefix_announced\{prefix="10\.0\.0\.100\/32"\} 0$/m);
    serve(RS[1]!);
    assert.ok(await waitFor(() => hops() === '192.168.79.1', 8000, 20) >= 0, 'announced again');
  });

  it('tsvs announce drain withdraws (the daemon keeps running), resume announces again', async () => {
    const r = tsvs(['announce', 'drain'], socket);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /DRAINING/);
    assert.ok(await waitFor(() => hops() === '', 3000, 20) >= 0);
    await sleep(500);
    assert.equal(hops(), '', 'stays withdrawn while draining');
    assert.equal((await bgp()).prefixes[0]!.reason, 'draining');
    assert.equal(tsvs(['announce', 'resume'], socket).code, 0);
    assert.ok(await waitFor(() => hops() === '192.168.79.1', 5000, 20) >= 0);
  });

  it('kill -9 of the daemon: its BIRD dies with it and the router withdraws within a second', async () => {
    const birdPid = (await bgp()).bird.pid;
    const t0 = performance.now();
    // `ip netns exec` execs: the child's PID is the daemon's.
    daemon!.kill('SIGKILL');
    const t = await waitFor(() => hops() === '', 5000, 5);
    assert.ok(t >= 0 && t < 1000, `withdrawn after ${(performance.now() - t0).toFixed(0)} ms`);
    assert.ok(await waitFor(() => { try { process.kill(birdPid, 0); return false; } catch { return true; } }, 2000) >= 0, 'BIRD is gone');
    assert.equal(existsSync(`${socket}.bird.ctl`), true, 'a crash leaves its socket file (the next start replaces it)');
  });
});

// The same announcement configured in keepalived.conf alone (global_defs tsvs_bgp_*, docs/SCALE-OUT.md):
// no --bgp flag; the router must see the address, status must show the file's settings, a reload
// that changes them is applied only at the next start (said in the log), SIGTERM withdraws.
describe('tsvs daemon --keepalived with global_defs tsvs_bgp_* (no --bgp flags; namespaces)', { skip, timeout: 60_000 }, () => {
  const lab = new Lab('bgpka');
  const dir = tmpDir('tsvs-bgpka-');
  const socket = join(dir, 'tsvs.sock');
  const RS = '192.168.78.11';
  const conf = join(dir, 'keepalived.conf');
  let dirNs = '', routerNs = '', router: RouterHandle | null = null, daemon: ChildProcess | null = null, logs = '';
  const text = (hold: number) => `global_defs {\n  router_id dir1\n  tsvs_bgp bird\n  tsvs_bgp_as 65001\n  tsvs_bgp_peer 192.168.78.254\n  tsvs_bgp_peer_as 65000\n  tsvs_bgp_hold ${hold}\n  tsvs_bgp_rise 300\n  tsvs_sloppy_tcp on\n  tsvs_expire_nodest_conn on\n}\n` +
    `virtual_server 10.0.0.100 80 {\n  delay_loop 0.3\n  lb_algo mh\n  lb_kind DR\n  protocol TCP\n  real_server ${RS} 80 {\n    weight 1\n    TCP_CHECK {\n      connect_timeout 0.5\n      retry 0\n    }\n  }\n}\n`;
  const hops = () => routeNextHops(routerNs, '10.0.0.100/32').join();

  before(async () => {
    dirNs = lab.ns('d');
    routerNs = lab.ns('r');
    lab.link(dirNs, '192.168.78.1/24', routerNs, '192.168.78.254/24');
    spawnSync('ip', ['-n', dirNs, 'addr', 'add', `${RS}/32`, 'dev', 'lo']);
    lab.spawnIn(dirNs, process.execPath, ['-e', `require('net').createServer((s) => s.end()).listen(80, '${RS}')`]);
    router = await startRouterBird(routerNs, join(dir, 'router'), { routerId: '192.168.78.254', localAs: 65000, holdSeconds: 3, peers: [{ name: 'dir1', address: '192.168.78.1', as: 65001 }] });
    writeFileSync(conf, text(3));
    daemon = await startDaemonIn(dirNs, ['--forwarder', 'none', '--socket', socket, '--no-state', '--keepalived', conf], (t) => (logs += t), () => logs);
  });
  after(() => tearDown(daemon, router, lab, dir));

  it('announced to the router from the file\'s settings; status shows them and the file\'s sysctls', async () => {
    assert.ok(await waitFor(() => hops() === '192.168.78.1', 15000, 50) >= 0, `not announced:\n${logs.slice(-3000)}`);
    const st = tsvs(['status'], socket);
    assert.match(st.out, /BGP \(bird\): AS 65001 -> AS 65000, router id 192\.168\.78\.1, hold 3 s; BIRD pid \d+/);
    assert.match(st.out, /10\.0\.0\.100\/32 +announced +healthy/);
    assert.match(st.out, /peer 192\.168\.78\.254 +Established/);
    const r = await callDaemon(socket, { v: 1, id: 1, op: 'status' }, 5000);
    assert.ok(r.ok);
    const ipvs = r['ipvs'] as { sloppy_tcp: number; expire_nodest_conn: number };
    assert.deepEqual([ipvs.sloppy_tcp, ipvs.expire_nodest_conn], [1, 1]);
  });

  it('a reload changing tsvs_bgp_hold: the rest is applied, the BGP settings wait for a restart (logged), still announced', async () => {
    writeFileSync(conf, text(6));
    const r = tsvs(['reload'], socket);
    assert.equal(r.code, 0, r.err);
    assert.ok(await waitFor(() => logs.includes('apply when the daemon restarts'), 3000, 20) >= 0, logs.slice(-2000));
    assert.match(tsvs(['status'], socket).out, /hold 3 s/);
    assert.equal(hops(), '192.168.78.1');
  });

  it('SIGTERM withdraws before the daemon exits', async () => {
    daemon!.kill('SIGTERM');
    assert.ok(await waitFor(() => hops() === '', 3000, 10) >= 0, 'withdrawn');
    await new Promise((r) => (daemon!.exitCode !== null ? r(null) : daemon!.once('exit', r)));
    assert.equal(daemon!.exitCode, 0, logs.slice(-2000));
  });
});
