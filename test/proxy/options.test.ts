/**
 * The proxy forwarder's modes, flipped by options (flags or the config file), each in a real
 * daemon with two relay workers in front of two real HTTP servers: the relay kind the workers
 * use, whether new connections were decided ahead, and rr alternating whatever the mode.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { closeServer, freePort, nameServer, REPO, sleep, startDaemon, tcpExchange, tmpDir, tsvsadm, type DaemonProc } from '../daemon/helpers.ts';
import { callDaemon } from '../../src/daemon/protocol.ts';

const rs: Awaited<ReturnType<typeof nameServer>>[] = [];
before(async () => {
  for (const n of ['rs1', 'rs2']) rs.push(await nameServer(n));
});
after(async () => {
  for (const s of rs) await closeServer(s.server).catch(() => {});
});

interface TcpListener { protocol: string; port: number; relay?: string; decisions?: { ahead: number; asked: number } }

/** Listening TCP sockets on 127.0.0.1:port (descriptors of one socket count once). */
function listeningSockets(port: number): number {
  const r = spawnSync('ss', ['-Htln', `sport = :${port}`], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((x) => x.trim()).length;
}

/**
 * Starts a daemon with `args`, puts an rr service over rs1/rs2, makes `n` requests; returns who
 * answered, the listener's status and how many sockets listen for the service.
 */
async function through(args: string[], n = 6): Promise<{ bodies: string[]; l: TcpListener | undefined; sockets: number }> {
  const d: DaemonProc = await startDaemon(['--workers', '2', '--no-state', ...args]);
  try {
    const port = await freePort();
    for (const argv of [['-A', '-t', `127.0.0.1:${port}`, '-s', 'rr'], ...rs.map((s) => ['-a', '-t', `127.0.0.1:${port}`, '-r', `127.0.0.1:${s.port}`, '-m'])]) {
      const r = await tsvsadm(d.socket, argv);
      assert.equal(r.code, 0, r.stderr);
    }
    const bodies: string[] = [];
    for (let i = 0; i < n; i++) {
      const b = await tcpExchange(port, Buffer.from('GET / HTTP/1.0\r\n\r\n'));
      bodies.push(/rs\d/.exec(b.toString())?.[0] ?? `(${b.length} bytes)`);
    }
    // Workers report connections opened on decisions ahead lazily (within 20 ms): wait for all n.
    let l: TcpListener | undefined;
    for (const until = Date.now() + 3000; Date.now() < until; await sleep(50)) {
      const st = (await callDaemon(d.socket, { v: 1, id: 's', op: 'status' })) as unknown as { listeners: TcpListener[] };
      l = st.listeners.find((x) => x.protocol === 'tcp' && x.port === port);
      if ((l?.decisions?.ahead ?? 0) + (l?.decisions?.asked ?? 0) >= n) break;
    }
    return { bodies, l, sockets: listeningSockets(port) };
  } finally {
    await d.stop();
  }
}

describe('proxy modes by option: relay kind, decisions ahead, rr alternation', () => {
  const conf = join(tmpDir(), 'tsvs.conf');
  writeFileSync(conf, '# the relay kind from the config file\nproxy-relay = net\n');
  // [options, relay kind in status, decided ahead (true: every connection, false: none), listening sockets]
  const rows: [string[], string, boolean, number][] = [
    [[], 'epoll', true, 1],
    [['--proxy-ahead', 'off'], 'epoll', false, 1],
    // One SO_REUSEPORT socket per relay thread instead of one shared accept queue.
    [['--proxy-shared-accept', 'off'], 'epoll', true, 2],
    [['--proxy-speculate', 'off'], 'epoll', true, 1],
    // Processes relay on net.Socket: the cluster module shares its listening handles, which the
    // epoll relay cannot take over.
    [['--proxy-worker-mode', 'processes'], 'net', false, 1],
    [['--proxy-relay', 'net'], 'net', false, 1],
    [['--config', conf], 'net', false, 1],
  ];
  for (const [args, relay, ahead, sockets] of rows) {
    it(`${args.join(' ') || 'defaults'}: relay ${relay}, ${ahead ? 'decided ahead' : 'asked'}, ${sockets} listening socket(s), rr alternates`, async () => {
      const { bodies, l, sockets: got } = await through(args);
      assert.equal(got, sockets, 'listening sockets');
      assert.deepEqual(bodies, ['rs2', 'rs1', 'rs2', 'rs1', 'rs2', 'rs1']);
      assert.equal(l?.relay, relay, JSON.stringify(l));
      const dec = l?.decisions ?? { ahead: 0, asked: 0 };
      assert.deepEqual(ahead ? [dec.ahead > 0, dec.ahead + dec.asked] : [dec.ahead, dec.asked], ahead ? [true, 6] : [0, 6], JSON.stringify(dec));
    });
  }
});

describe('tsvs daemon: a bad option value or config file is refused with exit 2 and the reason', () => {
  const dir = tmpDir();
  const bad = join(dir, 'bad.conf');
  writeFileSync(bad, 'proxy-relay = epoll\nproxy-speculate = yes\n');
  const rows: [string[], RegExp][] = [
    [['--proxy-ahead', 'maybe'], /^tsvs daemon: --proxy-ahead must be on or off, not 'maybe'\n$/],
    [['--proxy-relay', 'io_uring'], /^tsvs daemon: --proxy-relay must be epoll or net, not 'io_uring'\n$/],
    [['--proxy-relay', 'uv'], /^tsvs daemon: --proxy-relay must be epoll or net, not 'uv'\n$/],
    [['--flow-cache', 'off'], /^tsvs daemon: --flow-cache is an option of the packet forwarder/],
    [['--config', bad], /^tsvs daemon: .*bad\.conf:2: proxy-speculate must be on or off, not 'yes'\n$/],
    [['--config', join(dir, 'missing.conf')], /^tsvs daemon: cannot read --config .*missing\.conf: ENOENT/],
    [['--proxy-ahead'], /^tsvs daemon: Option '--proxy-ahead <value>' argument missing/],
  ];
  for (const [argv, msg] of rows) {
    it(`tsvs daemon ${argv.join(' ')}`, () => {
      const r = spawnSync(process.execPath, [join(REPO, 'bin/tsvs.mjs'), 'daemon', '--no-state', '--socket', join(dir, 'x.sock'), ...argv], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, msg);
    });
  }
});
