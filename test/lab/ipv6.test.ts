// IPv6 through the packet forwarder: the lab addressed over IPv6, a TCP and a UDP service on the
// IPv6 VIP, DR and NAT, on the default main-thread path and through two ring worker threads
// (--workers 2: decisions over the channel, established IPv6 flows forwarded from the workers'
// decision caches); an IPv6
// firewall-mark service (ip6tables marks, the NFQUEUE worker). Real traffic from the client
// namespace, offloads at their veth defaults.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { labUp, labDown, labNs, LAB, labAdm, labForwarderStatus, labQuietStatus, labQuietStatusWhen, type LabMode, type ForwarderStatus } from '../../src/lab/topology.ts';
import { shTry } from '../../src/lab/netns.ts';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root (network namespaces, AF_PACKET, nftables)';
const VS6 = `[${LAB.vip6}]:80`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tcpHold = fileURLToPath(new URL('./fixtures/tcp-hold.mjs', import.meta.url));

const VARIANTS: readonly { mode: LabMode; workers: number }[] = [
  { mode: 'dr', workers: 0 }, { mode: 'nat', workers: 0 },
  { mode: 'dr', workers: 2 }, { mode: 'nat', workers: 2 },
];

for (const { mode, workers } of VARIANTS) {
  const flag = mode === 'nat' ? '-m' : '-g';
  const prefix = `tsvs-6${process.pid % 10000}${mode}${workers}`;
  const ns = labNs(prefix);
  const adm = async (...argv: string[]): Promise<string> => {
    const r = await labAdm(prefix, argv);
    assert.equal(r.code, 0, `tsvsadm ${argv.join(' ')}: ${r.err}`);
    return r.out;
  };
  const curl6 = (path: string, extra: string[] = []) =>
    shTry(['ip', 'netns', 'exec', ns.client, 'curl', '-6', '-g', '-s', '-m', '5', ...extra, `http://[${LAB.vip6}]${path}`]);

  const how = workers ? `${workers} ring workers` : 'the main thread';
  /**
   * Client packets forwarded, in user space and by the kernel fast path (its IPv6 table: counted
   * or reported; NAT: less the replies'); `sentOut`: NAT replies likewise.
   */
  const k6of = (st: ForwarderStatus) => (st.fastPath as { ipv6?: Record<string, number> } | null | undefined)?.ipv6;
  const sentIn = (st: ForwarderStatus): number => {
    const k6 = k6of(st);
    const kernel = k6 ? k6['forwarded']! - (k6['forwardedOut'] ?? 0) + k6['events']! - (k6['eventsOut'] ?? 0) : 0;
    return st.counters[mode === 'nat' ? 'masqIn' : 'route']! + kernel;
  };
  const sentOut = (st: ForwarderStatus): number => {
    const k6 = k6of(st);
    return st.counters['masqOut']! + (k6 ? k6['forwardedOut']! + k6['eventsOut']! : 0);
  };
  describe(`lab ${mode} over IPv6 (${flag}), ${how}: the packet forwarder forwards IPv6 VIP traffic`, { skip, timeout: 180_000 }, () => {
    before(async () => {
      await labUp(mode, { prefix, ipv6: true, commands: [], daemonArgs: ['--workers', String(workers)] });
      await adm('-A', '-t', VS6, '-s', 'rr');
      for (const r of LAB.rs6) await adm('-a', '-t', VS6, '-r', `[${r}]:80`, flag);
    });
    after(async () => {
      await labDown(prefix);
    });

    it('rr alternates test1/test2 over IPv6 and the real server sees the client\'s IPv6 address', () => {
      const bodies: string[] = [];
      for (let i = 0; i < 4; i++) {
        const r = curl6('/whoami');
        assert.equal(r.status, 0, `curl -6: ${r.err}`);
        bodies.push(r.out.trim());
      }
      const names = bodies.map((b) => b.split(' ')[0]);
      assert.deepEqual([...new Set(names)].sort(), ['test1', 'test2'], bodies.join(' | '));
      for (let i = 1; i < names.length; i++) assert.notEqual(names[i], names[i - 1], `rr alternates: ${names.join(',')}`);
      for (const b of bodies) assert.equal(b.split(' ')[1], LAB.client6, b);
    });

    it('-L -n lists the IPv6 service and its connections; --stats counts the forwarded packets', async () => {
      const list = await adm('-L', '-n');
      assert.match(list, new RegExp(`TCP  \\[${LAB.vip6}\\]:80 rr`));
      const conns = await adm('-L', '-n', '-c');
      assert.match(conns, new RegExp(`\\[${LAB.client6}\\]:\\d+ +\\[${LAB.vip6}\\]:80 +\\[${LAB.rs6[0]}|\\[${LAB.client6}\\]:\\d+ +\\[${LAB.vip6}\\]:80 +\\[${LAB.rs6[1]}`), conns);
      // Counters and listing of quiet moments: a late packet (the client's last ACK of a close on a
      // busy machine) falls on neither side of them.
      const { st: before } = await labQuietStatus(prefix, () => adm('-Z'));
      assert.equal(curl6('/').status, 0);
      const { st: after, read: stats } = await labQuietStatus(prefix, () => adm('-L', '-n', '--stats', '--exact'));
      const m = new RegExp(`TCP  \\[${LAB.vip6}\\]:80 +(\\d+) +(\\d+) +(\\d+)`).exec(stats);
      assert.ok(m, stats);
      assert.equal(Number(m[1]), 1, 'one connection');
      assert.equal(Number(m[2]), sentIn(after) - sentIn(before), `InPkts = packets forwarded in (user space and kernel): ${stats}`);
      if (mode === 'nat') assert.equal(Number(m[3]), sentOut(after) - sentOut(before), `OutPkts = replies rewritten (user space and kernel): ${stats}`);
    });

    it(`a 10 MiB download over IPv6 arrives intact${workers ? ', most of its packets forwarded from the workers\' decision caches' : ''}`, async () => {
      const before = await labForwarderStatus(prefix);
      const r = shTry(['sh', '-c', `ip netns exec ${ns.client} curl -6 -g -s -m 20 http://[${LAB.vip6}]/big | sha256sum`]);
      const want = Buffer.alloc(10 * 1024 * 1024);
      for (let i = 0; i < want.length; i++) want[i] = (i * 31 + 7) & 255;
      assert.equal(r.out.split(' ')[0], createHash('sha256').update(want).digest('hex'));
      if (workers) {
        await sleep(200); // ring workers post their counters every 100 ms
        const after = await labForwarderStatus(prefix);
        const cached = after!.counters['cached']! - before!.counters['cached']!;
        const sent = sentIn(after!) - sentIn(before!);
        assert.ok(cached > sent / 2, `${cached} of ${sent} client packets forwarded from the cache`);
      }
    });

    if (mode === 'dr' && workers === 0) {
      it('the kernel fast path (tc) carries IPv6 DR flows: a 10 MiB download\'s ACKs go through the kernel, the FIN is reported, --stats stays exact', async () => {
        const k6 = (st: ForwarderStatus): Record<string, number> & { route: number } => {
          const t = k6of(st);
          assert.ok(t, `status shows the kernel fast path's IPv6 table: ${JSON.stringify(st.fastPath)}`);
          return { ...t, route: st.counters['route']! };
        };
        // Counters and listing of quiet moments (a late packet of a close falls on neither side),
        // once the earlier cases' connections have left the kernel (their closes may come late).
        const before = k6((await labQuietStatusWhen(prefix, () => adm('-Z'), (st) => k6of(st)?.['flows'] === 0)).st);
        assert.equal(before['flows'], 0, 'the earlier connections ended in the kernel');
        const r = shTry(['sh', '-c', `ip netns exec ${ns.client} curl -6 -g -s -m 20 http://[${LAB.vip6}]/big | sha256sum`]);
        const want = Buffer.alloc(10 * 1024 * 1024);
        for (let i = 0; i < want.length; i++) want[i] = (i * 31 + 7) & 255;
        assert.equal(r.out.split(' ')[0], createHash('sha256').update(want).digest('hex'));
        const quiet = await labQuietStatus(prefix, () => adm('-L', '-n', '--stats', '--exact'));
        const stats = quiet.read, after = k6(quiet.st);
        const kernel = after['forwarded']! - before['forwarded']!, user = after.route - before.route, events = after['events']! - before['events']!;
        assert.ok(kernel > 40, `the kernel forwarded ${kernel} packets (user space ${user})`);
        assert.ok(user <= 6, `user space forwarded ${user} (the SYN; packets after the FIN)`);
        // The FIN; the handshake's ACK unless the SYN waited for the neighbour (then installed at that
        // ACK); the SYN when it took a decision ahead.
        assert.ok(events >= 1 && events <= 3, `${events} state events reported`);
        const m = new RegExp(`TCP  \\[${LAB.vip6}\\]:80 +(\\d+) +(\\d+)`).exec(stats);
        assert.ok(m, stats);
        assert.deepEqual([Number(m[1]), Number(m[2])], [1, user + kernel + events], `one connection; InPkts = user ${user} + kernel ${kernel} + events ${events}:\n${stats}`);
        assert.equal(after['flows'], 0, 'the FIN removed the flow');
      });
    }

    if (mode === 'nat' && workers === 0) {
      it('the kernel fast path (tc) carries IPv6 NAT both ways, new connections taken ahead: a held connection is ESTABLISHED in -L -c while in the kernel; a 10 MiB download and both closes go through the kernel (TIME_WAIT); --stats stays exact', async () => {
        const status = async (): Promise<ForwarderStatus> => {
          const st = await labForwarderStatus(prefix);
          assert.ok(st && k6of(st), `status shows the kernel fast path's IPv6 table: ${JSON.stringify(st?.fastPath)}`);
          return st;
        };
        // Warm up: the real servers' next hops and the client's (NAT replies' entries wait for it).
        for (let i = 0; i < 2; i++) assert.equal(curl6('/').status, 0);
        // Counters and listings of quiet moments (a late packet of a close falls on neither side),
        // once the warm-up's connections have left the kernel (their last ACKs may come late), as
        // the IPv4 case in fast-path.test.ts waits.
        const { st: st0 } = await labQuietStatusWhen(prefix, () => adm('-Z'), (st) => k6of(st)?.['flows'] === 0);
        assert.ok(k6of(st0), `status shows the kernel fast path's IPv6 table: ${JSON.stringify(st0.fastPath)}`);
        assert.equal(k6of(st0)!['flows'], 0, 'the warm-up connections ended in the kernel');
        const hold = spawn('ip', ['netns', 'exec', ns.client, process.execPath, tcpHold, LAB.vip6, '80', '1500'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        hold.stdout.on('data', (d) => { out += d; });
        const done = new Promise<number>((r) => hold.on('exit', (c) => r(c ?? -1)));
        for (const t0 = Date.now(); !out.includes('first') && Date.now() - t0 < 5000;) await sleep(20);
        const port = /port (\d+)/.exec(out)?.[1];
        assert.ok(port, out);
        const line = (await adm('-L', '-n', '-c')).split('\n').find((l) => l.includes(`[${LAB.client6}]:${port}`));
        assert.match(line ?? '', new RegExp(`^TCP\\s+\\S+\\s+ESTABLISHED\\s+\\[${LAB.client6}\\]:${port}\\s+\\[${LAB.vip6}\\]:80\\s`), line);
        assert.equal(k6of(await status())!['flows'], 1, 'the held connection is in the kernel');
        assert.equal(await done, 0, out);
        // The download, with its client port (curl -w) and the body's digest.
        const body = `/tmp/tsvs-dl6-${process.pid}`;
        const r = shTry(['sh', '-c', `ip netns exec ${ns.client} curl -6 -g -s -m 20 -o ${body} -w '%{local_port}\\n' http://[${LAB.vip6}]/big; sha256sum < ${body}; rm -f ${body}`]);
        const [dlPort, digest] = r.out.trim().split('\n');
        const want = Buffer.alloc(10 * 1024 * 1024);
        for (let i = 0; i < want.length; i++) want[i] = (i * 31 + 7) & 255;
        assert.equal(digest?.split(' ')[0], createHash('sha256').update(want).digest('hex'), r.out + r.err);
        const { st: st1, read: [stats, conns] } = await labQuietStatus(prefix, async () => [await adm('-L', '-n', '--stats', '--exact'), await adm('-L', '-n', '-c')] as const);
        const k0 = k6of(st0)!, k1 = k6of(st1)!;
        const kIn = sentIn(st1) - sentIn(st0) - (st1.counters['masqIn']! - st0.counters['masqIn']!), kOut = k1['forwardedOut']! + k1['eventsOut']! - k0['forwardedOut']! - k0['eventsOut']!;
        const uIn = st1.counters['masqIn']! - st0.counters['masqIn']!, uOut = st1.counters['masqOut']! - st0.counters['masqOut']!;
        const m = new RegExp(`TCP  \\[${LAB.vip6}\\]:80 +(\\d+) +(\\d+) +(\\d+)`).exec(stats);
        assert.ok(m, stats);
        assert.deepEqual([Number(m[1]), Number(m[2]), Number(m[3])], [2, uIn + kIn, uOut + kOut], `two connections; InPkts, OutPkts = user space ${uIn}/${uOut} + kernel ${kIn}/${kOut}:\n${stats}`);
        // The 10 MiB go out as the real server's TSO super-packets (default offloads): each is one packet here.
        assert.ok(kOut > 40 && kIn > 40, `the kernel carried ${kIn} in, ${kOut} out (user space ${uIn}/${uOut})`);
        // Each SYN took a decision ahead (the SYN-ACK came back by the replies' entry the kernel made
        // from it, the handshake's ACK was reported), and the closes went through the kernel: at most
        // a crossing close's second last ACK (the first ended both entries) reaches user space.
        assert.equal(st1.fastPath!['aheadTaken']! - st0.fastPath!['aheadTaken']!, 2, 'both SYNs taken ahead in the kernel');
        assert.ok(uIn + uOut <= 2, `user space forwarded ${uIn} in, ${uOut} out`);
        assert.equal(k1['flows'], 0, 'the last ACKs ended every entry');
        assert.ok(k1['eventsOut']! - k0['eventsOut']! >= 2, 'the real server\'s FINs were reported from the kernel');
        for (const p of [port, dlPort]) {
          const l = conns.split('\n').find((x) => x.includes(`[${LAB.client6}]:${p} `) && x.includes(`[${LAB.vip6}]:80`));
          assert.match(l ?? '', /^TCP\s+\S+\s+TIME_WAIT\s/, `the engine stepped the close of port ${p} as if it had seen every packet:\n${conns}`);
        }
      });
    }

    it('a UDP service on the IPv6 VIP is balanced and answered', async () => {
      const us = `[${LAB.vip6}]:53`;
      await adm('-A', '-u', us, '-s', 'rr');
      for (const r of LAB.rs6) await adm('-a', '-u', us, '-r', `[${r}]:53`, flag);
      const answers: string[] = [];
      for (let i = 0; i < 4; i++) {
        const js = `const s=require('dgram').createSocket('udp6');s.on('message',(m)=>{console.log(String(m));process.exit(0)});s.send('q${i}',53,'${LAB.vip6}');setTimeout(()=>process.exit(3),3000)`;
        const r = shTry(['ip', 'netns', 'exec', ns.client, process.execPath, '-e', js]);
        assert.equal(r.status, 0, `udp6 query ${i}: ${r.err}`);
        answers.push(r.out.trim());
      }
      assert.deepEqual([...new Set(answers.map((a) => a.split(':')[0]))].sort(), ['test1', 'test2'], answers.join(','));
      for (let i = 0; i < 4; i++) assert.ok(answers[i]!.endsWith(`:q${i}`), answers[i]);
    });

    it('an IPv6 firewall-mark service (-f 99 -6): ip6tables marks ports 80 and 443, both reach one server (-p), counted under FWM 99', async () => {
      await adm('-D', '-t', VS6);
      for (const port of ['80', '443']) {
        const r = shTry(['ip', 'netns', 'exec', ns.dir, 'ip6tables', '-t', 'mangle', '-A', 'PREROUTING', '-d', LAB.vip6, '-p', 'tcp', '--dport', port, '-j', 'MARK', '--set-mark', '99']);
        assert.equal(r.status, 0, r.err);
      }
      await adm('-A', '-f', '99', '-6', '-s', 'rr', '-p');
      for (const r of LAB.rs6) await adm('-a', '-f', '99', '-6', '-r', r, flag);
      await sleep(300);
      const bodies: string[] = [];
      for (let i = 0; i < 3; i++) {
        for (const port of [80, 443]) {
          const r = shTry(['ip', 'netns', 'exec', ns.client, 'curl', '-6', '-g', '-s', '-m', '5', `http://[${LAB.vip6}]:${port}/whoami`]);
          assert.equal(r.status, 0, `curl -6 :${port}: ${r.err}`);
          bodies.push(r.out.trim());
        }
      }
      const names = new Set(bodies.map((b) => b.split(' ')[0]));
      assert.equal(names.size, 1, bodies.join(' | '));
      assert.ok(names.has('test1') || names.has('test2'), bodies.join(' | '));
      for (const b of bodies) assert.equal(b.split(' ')[1], LAB.client6, b);
      const stats = await adm('-L', '-n', '--stats', '--exact');
      assert.match(stats, /FWM  99 IPv6 +6 /, stats);
      await sleep(250); // the NFQUEUE worker posts its counters every 100 ms
      const st = await labForwarderStatus(prefix);
      // At least each connection's SYN, request and FIN (ACKs vary with delayed acknowledgement).
      assert.ok(st!.counters['queued']! >= 6 * 3, `queued ${st!.counters['queued']} (fast path: ${JSON.stringify(st!.fastPath)})`);
    });
  });
}
