// The seeds' experiments through the real daemon + packet forwarder, one lab per mode (NAT, DR,
// TUN): every check drives the rules with tsvsadm and sends real traffic from the client namespace.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  labUp, labDown, curlFromClient, labNs, LAB, labAdm, labQuietStatus, readLabState, type LabMode,
} from '../../src/lab/topology.ts';
import { shTry, listNetns, alive } from '../../src/lab/netns.ts';

const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root (network namespaces, AF_PACKET, nftables)';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const udpClient = fileURLToPath(new URL('./fixtures/udp-client.mjs', import.meta.url));
const udpRefused = fileURLToPath(new URL('./fixtures/udp-refused.mjs', import.meta.url));
const sendFrames = fileURLToPath(new URL('./fixtures/send-frames.ts', import.meta.url));
const VS = `${LAB.vip}:${LAB.port}`;
const [RS1, RS2] = LAB.rs;

interface Row { key: string; conns: number; inpkts: number; outpkts: number; inbytes: number; outbytes: number }

/** `-L -n --stats --exact` rows: services ("TCP 10.0.0.100:80") and destinations ("-> 192.168.10.11:80"). */
function parseStats(out: string): Map<string, Row> {
  const rows = new Map<string, Row>();
  for (const line of out.split('\n')) {
    const m = /^\s*(TCP|UDP|FWM|->)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(line);
    if (!m) continue;
    const key = m[1] === '->' ? m[2]! : `${m[1]} ${m[2]}`;
    rows.set(key, { key, conns: +m[3]!, inpkts: +m[4]!, outpkts: +m[5]!, inbytes: +m[6]!, outbytes: +m[7]! });
  }
  return rows;
}

/** `-L -n -c` entries. */
function parseConns(out: string): { pro: string; expire: number; state: string; source: string; virtual: string; dest: string }[] {
  const res = [];
  for (const line of out.split('\n')) {
    const m = /^(TCP|UDP|IP)\s+(\d+):(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)/.exec(line);
    if (m) res.push({ pro: m[1]!, expire: +m[2]! * 60 + +m[3]!, state: m[4]!, source: m[5]!, virtual: m[6]!, dest: m[7]! });
  }
  return res;
}

function count(xs: string[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const x of xs) c[x] = (c[x] ?? 0) + 1;
  return c;
}

/**
 * Each mode with the daemon's default packet path (the rings read in the main thread, beside the
 * engine; for DR the kernel fast path on tc ingress carries decided connections and takes the
 * engine's decisions ahead: bpf/tsvs_fastpath.c), DR and NAT again with ring worker threads
 * deciding over the channel (--workers 2), and DR with every packet in user space
 * (--fast-path none); then the packet forwarder's switches flipped by option: ring workers
 * without their decision caches (--flow-cache off), the kernel fast path without decisions
 * ahead (--fast-path-ahead off).
 */
const RUNS: readonly (readonly [LabMode, readonly string[]])[] = [
  ['nat', []], ['dr', []], ['tun', []], ['dr', ['--workers', '2']], ['nat', ['--workers', '2']], ['dr', ['--fast-path', 'none']],
  ['dr', ['--workers', '2', '--flow-cache', 'off']], ['dr', ['--fast-path-ahead', 'off']],
];

for (const [mode, daemonArgs] of RUNS) {
  const flag = mode === 'nat' ? '-m' : mode === 'dr' ? '-g' : '-i';
  const threads = daemonArgs.length ? `, ${daemonArgs.join(' ')}` : '';
  const prefix = `tsvs-f${process.pid % 10000}${mode}${daemonArgs[0] === '--workers' ? 'w' : daemonArgs[0] === '--fast-path' ? 'k' : ''}${daemonArgs.includes('--flow-cache') ? 'c' : daemonArgs.includes('--fast-path-ahead') ? 'a' : ''}`;
  const workers = daemonArgs.includes('--workers');
  /** The kernel fast path runs: the default path (no ring workers) unless --fast-path none. */
  const kernelPath = !workers && !daemonArgs.includes('none');
  const ns = labNs(prefix);
  const adm = async (...argv: string[]): Promise<string> => {
    const r = await labAdm(prefix, argv);
    assert.equal(r.code, 0, `tsvsadm ${argv.join(' ')}: ${r.err}`);
    return r.out;
  };
  const inNs = (n: string, argv: string[]) => shTry(['ip', 'netns', 'exec', n, ...argv]);
  /** Forwarder counters (control API status) of a quiet moment: the workers and the kernel's sweeps have reported (every 100 ms). */
  const fwd = async () => (await labQuietStatus(prefix)).st;
  const sentCounter = mode === 'nat' ? 'masqIn' : mode === 'dr' ? 'route' : 'tunnel';

  describe(`lab ${mode} (${flag}${threads}): the daemon's engine forwards real packets`, { skip, timeout: 240_000 }, () => {
    let pids: number[] = [];
    before(async () => {
      const st = await labUp(mode, { prefix, daemonArgs });
      pids = st.pids;
    });
    after(async () => {
      shTry(['ip', 'netns', 'exec', ns.dir, 'iptables', '-t', 'mangle', '-F', 'PREROUTING']);
      const r = await labDown(prefix);
      if (root) {
        assert.equal(r.namespaces.length, 5);
        assert.deepEqual(listNetns().filter((n) => n.startsWith(prefix)), []);
        for (const p of pids) assert.equal(alive(p), false, `pid ${p} stopped`);
        assert.equal(readLabState(prefix), null);
      }
    });

    it('rr alternates test1/test2 and the real server sees the client address; the first packets wait for ARP instead of being lost', async () => {
      const bodies = curlFromClient(prefix, 4);
      // The seed commands were applied just now: the first SYN to each real server arrives before
      // its next hop is resolved and is held until ARP answers (dropped, it would cost curl 1 s).
      assert.equal((await fwd()).counters['noRoute'], 0);
      assert.ok(bodies.every((b) => b === 'test1' || b === 'test2'), bodies.join(','));
      for (let i = 1; i < bodies.length; i++) assert.notEqual(bodies[i], bodies[i - 1], `alternation: ${bodies.join(',')}`);
      const who = curlFromClient(prefix, 1, '/whoami')[0]!;
      assert.match(who, new RegExp(`^test[12] ${LAB.client.replace(/\./g, '\\.')}$`), who);
    });

    it('-L -n --stats counts exactly the packets the forwarder sent (conns, InPkts, OutPkts)', async () => {
      // The previous test's connections must be quiet first: a late FIN/ACK forwarded after -Z is
      // rightly counted by the engine, but would also be in `before`, making the two cuts disagree;
      // and the listing is read within the quiet moment of `after` (a late last ACK on a busy
      // machine falls on neither side).
      const beforeSt = (await labQuietStatus(prefix, () => adm('-Z'))).st;
      const before = beforeSt.counters;
      curlFromClient(prefix, 5);
      const { st: afterSt, read: listing } = await labQuietStatus(prefix, () => adm('-L', '-n', '--stats', '--exact'));
      const after = afterSt.counters;
      const rows = parseStats(listing);
      const svc = rows.get(`TCP ${VS}`)!;
      assert.equal(svc.conns, 5);
      // With the kernel fast path, what it forwarded (counted, or reported as state events) too:
      // the clients' packets, and (NAT) the replies.
      const kernel = (st: Awaited<ReturnType<typeof fwd>>) => (st.fastPath ? st.fastPath['forwarded']! - st.fastPath['forwardedOut']! + st.fastPath['events']! - st.fastPath['eventsOut']! : 0);
      const kernelOut = (st: Awaited<ReturnType<typeof fwd>>) => (st.fastPath ? st.fastPath['forwardedOut']! + st.fastPath['eventsOut']! : 0);
      const sent = after[sentCounter]! - before[sentCounter]! + kernel(afterSt) - kernel(beforeSt);
      if (kernelPath) assert.ok(kernel(afterSt) - kernel(beforeSt) >= 5 * (mode === 'nat' ? 1 : 2), 'the kernel carried part of each connection');
      if (!kernelPath) assert.equal(afterSt.fastPath ?? null, null, 'no kernel fast path');
      // Decisions ahead in the kernel: every new connection to the rr service took one (NAT: the
      // SYN rewritten and the SYN-ACK carried back by the kernel; TUN: the SYN encapsulated there),
      // unless turned off.
      if (kernelPath) {
        const off = daemonArgs.includes('--fast-path-ahead');
        assert.equal(afterSt.fastPath!['aheadServices'] ?? 0, off ? 0 : 1, 'services with decisions ahead');
        assert.equal((afterSt.fastPath!['aheadTaken'] ?? 0) - (beforeSt.fastPath!['aheadTaken'] ?? 0), off ? 0 : 5, 'SYNs sent on decisions ahead');
      }
      // Ring workers forward established flows from their decision caches, unless turned off.
      if (workers) {
        const cached = after['cached']! - before['cached']!;
        if (daemonArgs.includes('--flow-cache')) assert.equal(cached, 0, 'nothing forwarded from a cache');
        else assert.ok(cached > 0, `cached ${cached}`);
      }
      assert.ok(sent >= 5 * 4, `${sent} packets forwarded for 5 requests`);
      assert.equal(svc.inpkts, sent, `InPkts ${svc.inpkts} vs forwarded ${sent}`);
      assert.equal(rows.get(`${RS1}:80`)!.inpkts + rows.get(`${RS2}:80`)!.inpkts, sent);
      if (mode === 'nat') assert.equal(svc.outpkts, after.masqOut! - before.masqOut! + kernelOut(afterSt) - kernelOut(beforeSt));
      else assert.equal(svc.outpkts, 0, 'DR/TUN replies bypass the director');
      assert.ok(svc.inbytes >= svc.inpkts * 40);
    });

    it('wrr 3:1 sends 6 of 8 new connections to the weight-3 server', async () => {
      await adm('-E', '-t', VS, '-s', 'wrr');
      await adm('-e', '-t', VS, '-r', `${RS1}:80`, flag, '-w', '3');
      try {
        const c = count(curlFromClient(prefix, 8));
        assert.deepEqual(c, { test1: 6, test2: 2 });
      } finally {
        await adm('-e', '-t', VS, '-r', `${RS1}:80`, flag, '-w', '1');
        await adm('-E', '-t', VS, '-s', 'rr');
      }
    });

    it('weight 0 drains a server: new connections all go to the other one', async () => {
      await adm('-e', '-t', VS, '-r', `${RS2}:80`, flag, '-w', '0');
      try {
        assert.deepEqual(count(curlFromClient(prefix, 4)), { test1: 4 });
        const rows = parseStats(await adm('-L', '-n', '--stats', '--exact'));
        assert.ok(rows.has(`${RS2}:80`), 'the drained server stays listed');
      } finally {
        await adm('-e', '-t', VS, '-r', `${RS2}:80`, flag, '-w', '1');
      }
    });

    it('persistence (-p) keeps the client on one server and shows its template in -L -c', async () => {
      await adm('-E', '-t', VS, '-s', 'rr', '-p', '30');
      try {
        const bodies = curlFromClient(prefix, 6);
        assert.equal(new Set(bodies).size, 1, bodies.join(','));
        const conns = parseConns(await adm('-L', '-n', '-c'));
        const tpl = conns.filter((c) => c.source === `${LAB.client}:0`);
        assert.equal(tpl.length, 1, JSON.stringify(conns));
        assert.equal(tpl[0]!.virtual, VS);
        assert.equal(tpl[0]!.dest, `${bodies[0] === 'test1' ? RS1 : RS2}:80`);
      } finally {
        await adm('-E', '-t', VS, '-s', 'rr');
      }
    });

    it(mode === 'nat'
      ? '-L -c shows closed NAT connections in TIME_WAIT (both directions seen) with the 2 min timer'
      : '-L -c shows closed connections in FIN_WAIT (input only) and they expire on the tcpfin timeout', async () => {
      await adm('--set', '30', '2', '0');
      try {
        const old = new Set(parseConns(await adm('-L', '-n', '-c')).map((c) => c.source));
        curlFromClient(prefix, 2);
        // entries made before --set keep their timers (as in the kernel): look at the 2 new ones,
        // once their closes are decided (a bounded wait: the last ACK may be late on a busy machine)
        const closed = mode === 'nat' ? 'TIME_WAIT' : 'FIN_WAIT';
        let mine: ReturnType<typeof parseConns> = [], fresh: typeof mine = [];
        for (const t0 = Date.now(); Date.now() - t0 < 3000; await sleep(100)) {
          mine = parseConns(await adm('-L', '-n', '-c')).filter((c) => c.pro === 'TCP' && c.virtual === VS);
          fresh = mine.filter((c) => !old.has(c.source));
          if (fresh.length === 2 && fresh.every((c) => c.state === closed)) break;
        }
        assert.equal(fresh.length, 2, JSON.stringify(mine));
        for (const c of fresh) {
          assert.equal(c.state, closed);
          assert.equal(c.source.split(':')[0], LAB.client);
          if (mode === 'nat') assert.ok(c.expire > 110 && c.expire <= 120, `TIME_WAIT timer ${c.expire}`);
          else assert.ok(c.expire <= 2, `tcpfin timer ${c.expire}`);
        }
        if (mode !== 'nat') {
          await sleep(3000);
          const left = new Set(parseConns(await adm('-L', '-n', '-c')).map((c) => c.source));
          for (const c of fresh) assert.equal(left.has(c.source), false, `${c.source} expired`);
        }
      } finally {
        await adm('--set', '900', '120', '0');
      }
    });

    it('a 10 MiB download arrives intact', () => {
      const big = execFileSync('ip', ['netns', 'exec', ns.client, 'curl', '-s', '-m', '30', `http://${LAB.vip}/big`], { maxBuffer: 64 << 20 });
      const want = Buffer.alloc(10 * 1024 * 1024);
      for (let i = 0; i < want.length; i++) want[i] = (i * 31 + 7) & 255;
      assert.equal(big.length, want.length);
      assert.equal(createHash('sha256').update(big).digest('hex'), createHash('sha256').update(want).digest('hex'));
    });

    it('UDP (a DNS-like echo) is balanced and answered; its -L -c entries expire on the udp timeout', async () => {
      await adm('--set', '0', '0', '2');
      await adm('-A', '-u', `${LAB.vip}:53`, '-s', 'rr');
      for (const r of LAB.rs) await adm('-a', '-u', `${LAB.vip}:53`, '-r', `${r}:53`, flag);
      try {
        await sleep(400); // the forwarder picks the new service up
        const r = inNs(ns.client, [process.execPath, udpClient, LAB.vip, '53', '4']);
        const answers = r.out.trim().split('\n');
        assert.equal(answers.length, 4, r.err);
        answers.forEach((a, i) => assert.match(a, new RegExp(`^test[12]:q${i}$`)));
        assert.equal(new Set(answers.map((a) => a.split(':')[0])).size, 2, answers.join(','));
        const udp = parseConns(await adm('-L', '-n', '-c')).filter((c) => c.pro === 'UDP');
        assert.equal(udp.length, 4);
        for (const c of udp) {
          assert.equal(c.state, 'UDP');
          assert.ok(c.expire <= 2, `udp timeout 2 s: ${c.expire}`);
        }
        await sleep(2600);
        assert.deepEqual(parseConns(await adm('-L', '-n', '-c')).filter((c) => c.pro === 'UDP'), [], 'UDP entries expired');
      } finally {
        await adm('--set', '0', '0', '300');
        await adm('-D', '-u', `${LAB.vip}:53`);
      }
    });

    it('ICMP port unreachable from a real server (UDP to a closed port) reaches the client as coming from the VIP', async () => {
      await adm('-A', '-u', `${LAB.vip}:5300`, '-s', 'rr');
      await adm('-a', '-u', `${LAB.vip}:5300`, '-r', `${RS1}:5300`, flag);
      try {
        await sleep(400);
        const before = await fwd();
        const r = inNs(ns.client, [process.execPath, udpRefused, LAB.vip, '5300']);
        assert.equal(r.out.trim(), 'refused', r.err);
        if (mode === 'nat') {
          const after = await fwd();
          assert.ok(after.counters.icmp! > before.counters.icmp!, 'the ICMP error was NAT-ed by the forwarder');
        }
      } finally {
        await adm('-D', '-u', `${LAB.vip}:5300`);
      }
    });

    if (mode === 'tun') {
      it('TUN: a full-size DF packet that no longer fits with the IPIP header gets ICMP fragmentation-needed; the upload still completes', async () => {
        const before = await fwd();
        const r = inNs(ns.client, ['sh', '-c', `head -c 200000 /dev/zero | curl -s -m 10 --data-binary @- http://${LAB.vip}/`]);
        assert.match(r.out.trim(), /^test[12]$/, r.err);
        const after = await fwd();
        assert.ok(after.counters.fragNeeded! > before.counters.fragNeeded!, JSON.stringify(after.counters));
        const pmtu = inNs(ns.client, ['ip', 'route', 'get', LAB.vip]).out;
        assert.match(pmtu, /mtu 1480/, pmtu);
      });
    }

    it('malformed packets to the VIP are dropped and counted by reason; workers keep forwarding', async () => {
      const dirMac = (JSON.parse(inNs(ns.dir, ['ip', '-j', 'link', 'show', 'eth0']).out) as { address: string }[])[0]!.address;
      const before = await fwd();
      const r = inNs(ns.rs[0]!, [process.execPath, '--import', 'tsx', sendFrames, 'eth0', dirMac, RS1!, LAB.vip]);
      assert.equal(r.status, 0, r.err);
      const sent = Number(r.out.trim());
      assert.equal(sent, 30);
      const after = await fwd();
      // 5 rounds x 6 frames; the lone MF fragment is held by the fanout's defragmenter (never delivered)
      assert.equal(after.counters.malformed! - before.counters.malformed!, 25);
      const reasons = Object.keys(after.drops);
      for (const want of ['bad-total-len', 'bad-ihl', 'bad-ip-csum']) assert.ok(reasons.includes(want), reasons.join(','));
      assert.equal(curlFromClient(prefix, 2).filter((b) => b === 'test1' || b === 'test2').length, 2);
    });

    it('the seed\'s fwmark experiment: ports 80 and 443 marked 99, -A -f 99 -s rr -p keeps a client on one server', async () => {
      await adm('-D', '-t', VS);
      for (const port of ['80', '443']) {
        const r = inNs(ns.dir, ['iptables', '-t', 'mangle', '-A', 'PREROUTING', '-d', LAB.vip, '-p', 'tcp', '--dport', port, '-j', 'MARK', '--set-mark', '99']);
        assert.equal(r.status, 0, r.err);
      }
      await adm('-A', '-f', '99', '-s', 'rr', '-p');
      for (const r of LAB.rs) await adm('-a', '-f', '99', '-r', r, flag);
      await sleep(400);
      const bodies: string[] = [];
      for (let i = 0; i < 3; i++) {
        bodies.push(...curlFromClient(prefix, 1), ...curlFromClient(prefix, 1, '/', `${LAB.vip}:443`));
      }
      assert.equal(new Set(bodies).size, 1, bodies.join(','));
      assert.ok(bodies[0] === 'test1' || bodies[0] === 'test2', bodies.join(','));
      const rows = parseStats(await adm('-L', '-n', '--stats', '--exact'));
      assert.equal(rows.get('FWM 99')!.conns, 6);
      const conns = parseConns(await adm('-L', '-n', '-c')).filter((c) => c.pro === 'TCP');
      assert.deepEqual([...new Set(conns.map((c) => c.virtual.split(':')[1]))].sort(), ['443', '80']);
      const st = await fwd();
      assert.ok(st.counters.queued! >= 6 * 5, `queued ${st.counters.queued}`);
      assert.deepEqual(st.fwmarks, [99]);
    });
  });
}
