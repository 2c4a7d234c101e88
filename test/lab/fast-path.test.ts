// The kernel fast path (`tsvs daemon --fast-path tc`, bpf/tsvs_fastpath.c) in the DR lab: the
// real daemon attaches its tc filter, the engine decides every connection, the kernel carries the
// decided ones, and the counters, states and rule changes come out as without it. The seeds' DR
// experiments also run with it in forwarding.test.ts.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labUp, labDown, curlFromClient, labNs, LAB, labAdm, labForwarderStatus, labQuietStatus, labQuietStatusWhen, labKillDirector, type ForwarderStatus, labStartDirector, seedCommands } from '../../src/lab/topology.ts';
import { shTry, listNetns, alive } from '../../src/lab/netns.ts';

const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root (network namespaces, AF_PACKET, nftables, tc, BPF)';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const udpBurst = fileURLToPath(new URL('./fixtures/udp-burst.mjs', import.meta.url));
const tcpHold = fileURLToPath(new URL('./fixtures/tcp-hold.mjs', import.meta.url));
const tcpServerCloses = fileURLToPath(new URL('./fixtures/tcp-server-closes.mjs', import.meta.url));

/**
 * A connection from the client namespace to the VIP, held open (tcp-hold.mjs: a request, a
 * pause, a second request on the same connection; or `fixture`): its client port once the
 * fixture printed `mark` (the first answer came), its exit code, and what it printed.
 */
async function holdConnection(clientNs: string, fixture = tcpHold, mark = 'first'): Promise<{ port: string; done: Promise<number>; output: () => string }> {
  const p = spawn('ip', ['netns', 'exec', clientNs, process.execPath, fixture, LAB.vip, '80', '1500'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d) => { out += d; });
  const done = new Promise<number>((r) => p.on('exit', (c) => r(c ?? -1)));
  const t0 = Date.now();
  while (!out.includes(mark) && Date.now() - t0 < 5000) await sleep(20);
  const port = /port (\d+)/.exec(out)?.[1];
  assert.ok(port && out.includes(mark), out);
  return { port, done, output: () => out };
}
const TSVS = fileURLToPath(new URL('../../bin/tsvs.mjs', import.meta.url));
const VS = `${LAB.vip}:${LAB.port}`;
const prefix = `tsvs-k${process.pid % 10000}`;
const ns = labNs(prefix);
const inNs = (n: string, argv: string[]) => shTry(['ip', 'netns', 'exec', n, ...argv]);
const tcFilters = () => inNs(ns.dir, ['tc', 'filter', 'show', 'dev', 'eth0', 'ingress']).out;

describe('lab dr --fast-path tc: the engine decides, the kernel carries decided connections', { skip, timeout: 240_000 }, () => {
  let pids: number[] = [];
  const adm = async (...argv: string[]): Promise<string> => {
    const r = await labAdm(prefix, argv);
    assert.equal(r.code, 0, `tsvsadm ${argv.join(' ')}: ${r.err}`);
    return r.out;
  };
  /** The kernel fast path's counters and user space's `route` in a status (read now when not given). */
  const fast = async (given?: ForwarderStatus): Promise<Record<string, number> & { route: number }> => {
    const st = given ?? await labForwarderStatus(prefix);
    assert.ok(st?.fastPath, 'status shows the kernel fast path');
    const fp: Record<string, number> = st.fastPath;
    return { ...fp, route: st.counters['route']! };
  };

  before(async () => {
    pids = (await labUp('dr', { prefix, fastPath: 'tc' })).pids;
  });
  after(async () => {
    const r = await labDown(prefix);
    if (root) {
      assert.deepEqual(listNetns().filter((n) => n.startsWith(prefix)), []);
      for (const p of pids) assert.equal(alive(p), false, `pid ${p} stopped`);
    }
  });

  it('attaches one tc filter to the capture interface; a 10 MiB download is intact and its ACK stream goes through the kernel', async () => {
    const f = tcFilters();
    assert.match(f, /handle 0x7157 tsvs_tc/, f);
    const before = await fast();
    const big = execFileSync('ip', ['netns', 'exec', ns.client, 'curl', '-s', '-m', '30', `http://${LAB.vip}/big`], { maxBuffer: 64 << 20 });
    const want = Buffer.alloc(10 * 1024 * 1024);
    for (let i = 0; i < want.length; i++) want[i] = (i * 31 + 7) & 255;
    assert.equal(createHash('sha256').update(big).digest('hex'), createHash('sha256').update(want).digest('hex'));
    const after = await fast((await labQuietStatus(prefix)).st); // (its last reports read)
    const kernel = after['forwarded']! - before['forwarded']!;
    const user = after.route - before.route;
    // With the veths' default offloads the real server sends 64 KiB TSO super-packets, which reach
    // the client whole: it acks about every second one (~80 ACKs for 10 MiB; ~700 with offloads off).
    assert.ok(kernel > 40, `the kernel forwarded ${kernel} packets`);
    assert.ok(user <= 6, `user space forwarded ${user} (the SYN; packets after the FIN)`);
    // The FIN, and the handshake's ACK unless the SYN waited for ARP (then installed at that ACK).
    const events = after['events']! - before['events']!;
    assert.ok(events === 1 || events === 2, `${events} state events reported`);
  });

  it('UDP: the engine decides the first of 3000 datagrams, the kernel forwards the rest, and -L --stats counts all 3000', async () => {
    const U = `${LAB.vip}:53`;
    await adm('-A', '-u', U, '-s', 'rr');
    await adm('-a', '-u', U, '-r', `${LAB.rs[0]}:53`, '-g');
    try {
      await sleep(300);
      const before = await fast();
      const r = inNs(ns.client, [process.execPath, udpBurst, LAB.vip, '53', '3000']);
      assert.equal(r.out, '3000', r.err);
      // The listing and the counters of one quiet moment: every datagram queued to user space decided.
      const quiet = await labQuietStatus(prefix, () => adm('-L', '-n', '--stats', '--exact', '-u', U));
      const rows = quiet.read;
      const m = /^UDP\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(rows);
      assert.ok(m, rows);
      assert.deepEqual([Number(m[1]), Number(m[2]), Number(m[4])], [1, 3000, 3000 * 92], rows);
      // The datagrams already queued to user space when the first was decided stay there.
      const after = await fast(quiet.st);
      // The first datagram: taken by the kernel from the decisions ahead (an event) or decided in user space.
      const user = after.route - before.route, kernel = after['forwarded']! - before['forwarded']!;
      const events = after['events']! - before['events']!;
      assert.equal(user + kernel + events, 3000, `user ${user}, kernel ${kernel}, events ${events}`);
      assert.ok(kernel >= 2500, `kernel ${kernel}, user space ${user}`);
    } finally {
      await adm('-D', '-u', U);
    }
  });

  it('-L -c shows a kept-alive connection the kernel carries as ESTABLISHED; a rule change hands it back to the engine, which hands it back to the kernel', async () => {
    const { port, done, output } = await holdConnection(ns.client);
    const conns = await adm('-L', '-n', '-c');
    const line = conns.split('\n').find((l) => l.includes(`${LAB.client}:${port}`));
    assert.match(line ?? '', /ESTABLISHED/, conns);
    assert.equal((await fast())['flows'], 1);
    // Any rule change clears the kernel's flows: the connection's next packet goes to the engine.
    await adm('-e', '-t', VS, '-r', `${LAB.rs[1]}:80`, '-g', '-w', '2');
    // (Cleared before the answer: read at once, well before the held connection's second request.)
    assert.equal((await fast())['flows'], 0);
    const code = await done;
    const out = output();
    assert.equal(code, 0, out);
    assert.match(out, /first test[12]\nsecond test[12]/);
    assert.equal(out.match(/first (test[12])/)![1], out.match(/second (test[12])/)![1], 'same server for the whole connection');
    await adm('-e', '-t', VS, '-r', `${LAB.rs[1]}:80`, '-g', '-w', '1');
  });

  it('new connections to an rr DR service are sent by the kernel to the engine\'s own choices: curl alternates without user space forwarding a SYN', async () => {
    const before = await fast();
    const bodies = curlFromClient(prefix, 6);
    for (let i = 1; i < bodies.length; i++) assert.notEqual(bodies[i], bodies[i - 1], `alternation: ${bodies.join(',')}`);
    const after = await fast((await labQuietStatus(prefix)).st); // (its last reports read)
    assert.equal(after['aheadServices'], 1);
    assert.equal(after['aheadTaken']! - before['aheadTaken']!, 6, 'every SYN took a decision ahead');
    assert.ok(after.route - before.route <= 6, `user space forwarded ${after.route - before.route} (no SYN; perhaps late ACKs)`);
    const rows = await adm('-L', '-n', '--stats', '--exact', '-t', VS);
    const m = /^TCP\s+\S+\s+(\d+)/m.exec(rows);
    assert.ok(m && Number(m[1]) >= 6, rows);
  });

  it('wrr 3:1 through decisions ahead gives the weight-3 server 6 of 8; with persistence the engine decides SYNs itself', async () => {
    await adm('-E', '-t', VS, '-s', 'wrr');
    await adm('-e', '-t', VS, '-r', `${LAB.rs[0]}:80`, '-g', '-w', '3');
    try {
      await sleep(300);
      const bodies = curlFromClient(prefix, 8);
      assert.equal(bodies.filter((b) => b === 'test1').length, 6, bodies.join(','));
      await adm('-E', '-t', VS, '-s', 'rr', '-p', '60');
      await sleep(300);
      const before = await fast();
      assert.equal(before['aheadServices'], 0, 'a persistent service has no decisions ahead');
      const sticky = curlFromClient(prefix, 4);
      assert.equal(new Set(sticky).size, 1, `persistence keeps the client: ${sticky.join(',')}`);
      assert.equal((await fast())['aheadTaken'], before['aheadTaken']);
    } finally {
      await adm('-E', '-t', VS, '-s', 'rr');
      await adm('-e', '-t', VS, '-r', `${LAB.rs[0]}:80`, '-g', '-w', '1');
    }
  });

  it('a killed daemon leaves its filter; the next start replaces it and forwards; SIGTERM removes it and its clsact qdisc', async () => {
    await labKillDirector(prefix, 'dir', 'SIGKILL');
    assert.match(tcFilters(), /tsvs_tc/, 'left behind by SIGKILL');
    await labStartDirector(prefix, 'dir');
    for (const c of seedCommands('dr')) await adm(...c);
    const f = tcFilters();
    assert.equal(f.split('\n').filter((l) => /handle 0x7157 tsvs_tc/.test(l)).length, 1, f);
    const bodies = curlFromClient(prefix, 4);
    assert.deepEqual([...new Set(bodies)].sort(), ['test1', 'test2'], bodies.join(','));
    await labKillDirector(prefix, 'dir', 'SIGTERM');
    assert.equal(tcFilters().trim(), '');
    assert.doesNotMatch(inNs(ns.dir, ['tc', 'qdisc', 'show', 'dev', 'eth0']).out, /clsact/);
  });
});

describe('tsvs daemon --fast-path: bad combinations are refused with exit 2 and a reason', () => {
  const cases: [string[], RegExp][] = [
    [['--fast-path', 'bogus'], /--fast-path must be auto, tc, xdp or none, not 'bogus'/],
    [['--fast-path', 'tc'], /--fast-path tc needs --forwarder packet/],
    ...(root ? [[['--forwarder', 'packet', '--fast-path', 'xdp', '--workers', '2'], /--fast-path xdp works with the default packet path \(drop --workers\)/] as [string[], RegExp]] : []),
  ];
  for (const [argv, msg] of cases) {
    it(`tsvs daemon ${argv.join(' ')}`, () => {
      const r = spawnSync(process.execPath, [TSVS, 'daemon', '--no-state', '--socket', `/tmp/tsvs-fp-${process.pid}.sock`, ...argv], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, msg);
    });
  }
});

describe('--fast-path auto without clang: the director forwards everything in user space and says why', { skip, timeout: 120_000 }, () => {
  const p2 = `tsvs-kc${process.pid % 10000}`;
  const saved = { clang: process.env['TSVS_CLANG'], tmp: process.env['TMPDIR'] };
  let tmp = '';
  before(() => {
    // No compiler and no cached object: the program cannot be built.
    tmp = mkdtempSync(join(tmpdir(), 'tsvs-nocc-'));
    process.env['TSVS_CLANG'] = '/nonexistent/clang';
    process.env['TMPDIR'] = tmp;
  });
  after(async () => {
    for (const [k, v] of [['TSVS_CLANG', saved.clang], ['TMPDIR', saved.tmp]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await labDown(p2);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('auto (the default) falls back: curl alternates, status carries the reason; an explicit tc refuses to start', async () => {
    await labUp('dr', { prefix: p2 });
    const st = await labForwarderStatus(p2);
    assert.equal(st?.fastPath ?? null, null);
    assert.match(String((st as { fastPathError?: string } | null)?.fastPathError), /clang/);
    const bodies = curlFromClient(p2, 4);
    for (let i = 1; i < bodies.length; i++) assert.notEqual(bodies[i], bodies[i - 1], bodies.join(','));
    await labDown(p2);
    await assert.rejects(labUp('dr', { prefix: p2, fastPath: 'tc' }), /clang/);
  });
});

describe('lab nat --fast-path tc: a new NAT connection is taken by the kernel on a decision ahead', { skip, timeout: 180_000 }, () => {
  const p3 = `tsvs-kn${process.pid % 10000}`;
  const n3 = labNs(p3);
  let pids: number[] = [];
  const adm = async (...argv: string[]): Promise<string> => {
    const r = await labAdm(p3, argv);
    assert.equal(r.code, 0, `tsvsadm ${argv.join(' ')}: ${r.err}`);
    return r.out;
  };
  before(async () => { pids = (await labUp('nat', { prefix: p3, fastPath: 'tc' })).pids; });
  after(async () => {
    await labDown(p3);
    if (root) {
      assert.deepEqual(listNetns().filter((n) => n.startsWith(p3)), []);
      for (const p of pids) assert.equal(alive(p), false, `pid ${p} stopped`);
    }
  });

  it('handshake, request and reply all in the kernel: -L -c shows the held connection ESTABLISHED with both entries installed; -L --stats counts every packet once', async () => {
    // Warm up: the real servers' next hops and the client's (the first SYN may wait for ARP).
    curlFromClient(p3, 2);
    // Counters and listings of quiet moments (a late packet of a close falls on neither side),
    // once the warm-up's connections have left the kernel (their last ACKs may come late).
    const { st: st0 } = await labQuietStatusWhen(p3, () => adm('-Z'), (st) => st.fastPath!['flows'] === 0);
    assert.equal(st0.fastPath!['flows'], 0, 'the warm-up connections ended in the kernel');
    const { port, done, output } = await holdConnection(n3.client);
    const line = (await adm('-L', '-n', '-c')).split('\n').find((l) => l.includes(`${LAB.client}:${port}`));
    assert.match(line ?? '', /^TCP\s+\S+\s+ESTABLISHED\s+172\.16\.0\.2:\d+\s+10\.0\.0\.100:80\s+192\.168\.10\.1[12]:80/, line);
    const st1 = (await labForwarderStatus(p3))!;
    const d = (k: string) => (st1.counters[k] ?? 0) - (st0.counters[k] ?? 0);
    const fd = (k: string) => (st1.fastPath![k] ?? 0) - (st0.fastPath![k] ?? 0);
    assert.equal(fd('aheadTaken'), 1, 'the SYN took a decision ahead');
    assert.deepEqual([d('masqIn'), d('masqOut')], [0, 0], 'user space forwarded nothing: SYN, SYN-ACK, ACK, request and reply went through the kernel');
    assert.equal(st1.fastPath!['flows'], 1, 'one connection (its client and replies entries) in the kernel');
    const code = await done;
    const out = output();
    assert.equal(code, 0, out);
    const { st: st2, read: [rows, conns] } = await labQuietStatus(p3, async () => [await adm('-L', '-n', '--stats', '--exact', '-t', `${LAB.vip}:80`), await adm('-L', '-n', '-c')] as const);
    const m = /^TCP\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(rows);
    assert.ok(m, rows);
    const fp = st2.fastPath!, f0 = st0.fastPath!;
    const kIn = fp['forwarded']! - fp['forwardedOut']! + fp['events']! - fp['eventsOut']! - (f0['forwarded']! - f0['forwardedOut']! + f0['events']! - f0['eventsOut']!);
    const kOut = fp['forwardedOut']! + fp['eventsOut']! - f0['forwardedOut']! - f0['eventsOut']!;
    const uIn = st2.counters['masqIn']! - st0.counters['masqIn']!, uOut = st2.counters['masqOut']! - st0.counters['masqOut']!;
    assert.deepEqual([Number(m[1]), Number(m[2]), Number(m[3])], [1, kIn + uIn, kOut + uOut], `kernel ${kIn}/${kOut}, user space ${uIn}/${uOut}`);
    assert.ok(kIn >= 4 && kOut >= 3, `kernel carried in ${kIn}, out ${kOut}`);
    // The close too (the client's FIN, the server's, the last ACK): carried and ended in the kernel.
    assert.deepEqual([uIn, uOut], [0, 0], 'user space forwarded no packet of the connection, its close included');
    assert.equal(fp['flows'], 0, 'the last ACK ended both entries');
    const closed = conns.split('\n').find((l) => l.includes(`${LAB.client}:${port}`));
    assert.match(closed ?? '', /^TCP\s+\S+\s+TIME_WAIT\s/, 'the engine stepped the close as if it had seen every packet');
  });

  it('the real server closes first and the client holds its side open: the FIN the kernel recorded (not reported) shows in -L -c as FIN_WAIT, as kernel IPVS would; the client\'s close then ends both entries in TIME_WAIT', async () => {
    const { port, done, output } = await holdConnection(n3.client, tcpServerCloses, 'server closed');
    const st0 = (await labForwarderStatus(p3))!;
    const half = (await adm('-L', '-n', '-c')).split('\n').find((l) => l.includes(`${LAB.client}:${port}`));
    assert.match(half ?? '', /^TCP\s+\S+\s+FIN_WAIT\s/, `half-closed by the real server: ${half}`);
    assert.equal((await labForwarderStatus(p3))!.fastPath!['reports'], st0.fastPath!['reports'], 'no report read for it: the listing read the entries');
    assert.equal(await done, 0, output());
    const { st, read: conns } = await labQuietStatus(p3, () => adm('-L', '-n', '-c'));
    const line = conns.split('\n').find((l) => l.includes(`${LAB.client}:${port}`));
    assert.match(line ?? '', /^TCP\s+\S+\s+TIME_WAIT\s/, `then closed: ${line}`);
    assert.equal(st.fastPath!['flows'], 0, 'the last ACK ended both entries');
  });
});
