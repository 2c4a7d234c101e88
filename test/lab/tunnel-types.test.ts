// TUN with GUE and GRE (ipvsadm -i --tun-type gue|gre) end to end: the real daemon's packet
// forwarder encapsulates, the real servers' agents (src/lab/ipip-agent.ts, started by
// `realserverUp(..., { tunTypes, tunPort })`) decapsulate; tcpdump in a real server's namespace
// sees the encapsulation on the wire.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { labUp, labDown, curlFromClient, labNs, LAB, labAdm, labForwarderStatus } from '../../src/lab/topology.ts';
import { realserverDown, realserverUp, readState } from '../../src/lab/realserver.ts';
import { diagnose } from '../../src/lab/doctor.ts';
import { shTry, listNetns, alive } from '../../src/lab/netns.ts';
import { capture } from '../helpers/lab-traffic.ts';

const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root (network namespaces, AF_PACKET, nftables, tcpdump)';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const udpClient = fileURLToPath(new URL('./fixtures/udp-client.mjs', import.meta.url));
const VS = `${LAB.vip}:${LAB.port}`;
const UVS = `${LAB.vip}:53`;
const PORT = 6080;
const prefix = `tsvs-g${process.pid % 10000}`;
const ns = labNs(prefix);

describe('lab tun with --tun-type gue and gre: the packet forwarder encapsulates, the agents decapsulate', { skip, timeout: 240_000 }, () => {
  const adm = async (...argv: string[]): Promise<string> => {
    const r = await labAdm(prefix, argv);
    assert.equal(r.code, 0, `tsvsadm ${argv.join(' ')}: ${r.err}`);
    return r.out;
  };
  const inNs = (n: string, argv: string[]) => shTry(['ip', 'netns', 'exec', n, ...argv]);
  const agents: number[] = [];
  let labPids: number[] = [];

  before(async () => {
    const gue = (r: string, csum: string) => ['-a', '-t', VS, '-r', `${r}:${LAB.port}`, '-i', '--tun-type', 'gue', '--tun-port', String(PORT), csum];
    const st = await labUp('tun', {
      prefix,
      commands: [['-A', '-t', VS, '-s', 'rr'], gue(LAB.rs[0], '--tun-csum'), gue(LAB.rs[1], '--tun-nocsum')],
    });
    labPids = st.pids;
    // The lab starts IPIP agents; these real servers take GUE (on PORT) and GRE instead.
    for (const n of ns.rs) {
      await realserverDown(LAB.vip, n);
      const { state } = await realserverUp(LAB.vip, 'tun', n, { tunTypes: ['gue', 'gre'], tunPort: PORT });
      assert.ok(state.agentPid && alive(state.agentPid));
      agents.push(state.agentPid!);
    }
  });

  after(async () => {
    for (const n of ns.rs) await realserverDown(LAB.vip, n).catch(() => []);
    const r = await labDown(prefix);
    if (root) {
      assert.equal(r.namespaces.length, 5);
      assert.deepEqual(listNetns().filter((n) => n.startsWith(prefix)), []);
      for (const p of [...agents, ...labPids]) assert.equal(alive(p), false, `pid ${p} stopped`);
    }
  });

  it('the agents run with the requested types (state records them)', () => {
    for (const n of ns.rs) {
      const st = readState(n, LAB.vip)!;
      assert.deepEqual(st.tunTypes, ['gue', 'gre']);
      assert.equal(st.tunPort, PORT);
      assert.match(inNs(n, ['ss', '-uln']).out, new RegExp(`0\\.0\\.0\\.0:${PORT}\\b`), 'UDP tun port bound');
    }
  });

  it('tsvs doctor on a real server sizes the tunnel MTU advice by the largest accepted encapsulation (GUE: 32 bytes)', () => {
    const f = diagnose({ ns: ns.rs[0]!, vip: LAB.vip, mode: 'tun' }).find((x) => x.check === 'tun-mtu');
    assert.ok(f, 'a tun-mtu finding');
    assert.match(f.detail, /\(gue, gre\) carry up to 32 more bytes/);
    assert.match(f.detail, /clamp MSS to 1428/);
  });

  for (const type of ['gue', 'gre'] as const) {
    describe(type, () => {
      before(async () => {
        if (type === 'gre') {
          await adm('-e', '-t', VS, '-r', `${LAB.rs[0]}:${LAB.port}`, '-i', '--tun-type', 'gre', '--tun-csum');
          await adm('-e', '-t', VS, '-r', `${LAB.rs[1]}:${LAB.port}`, '-i', '--tun-type', 'gre', '--tun-nocsum');
          await sleep(300);
        }
      });

      it(`${type}: rr alternates test1/test2 through the VIP and the real server sees the client address`, async () => {
        const before = (await labForwarderStatus(prefix))!.counters;
        const bodies = curlFromClient(prefix, 4);
        assert.ok(bodies.every((b) => b === 'test1' || b === 'test2'), bodies.join(','));
        for (let i = 1; i < bodies.length; i++) assert.notEqual(bodies[i], bodies[i - 1], `alternation: ${bodies.join(',')}`);
        const who = curlFromClient(prefix, 2, '/whoami');
        for (const w of who) assert.match(w, new RegExp(`^test[12] ${LAB.client.replace(/\./g, '\\.')}$`), w);
        await sleep(400);
        const afterC = (await labForwarderStatus(prefix))!.counters;
        assert.ok(afterC['tunnel']! - before['tunnel']! >= 6 * 3, `tunnel counter ${before['tunnel']} -> ${afterC['tunnel']}`);
      });

      it(`${type}: tcpdump in the real servers' namespaces shows the encapsulation (checksum flag per destination)`, async () => {
        const filter = type === 'gue' ? `udp dst port ${PORT}` : 'ip proto 47';
        const caps: string[] = [];
        for (let i = 0; i < 2; i++) {
          caps.push(await capture(ns.rs[i]!, filter, 2, () => { curlFromClient(prefix, 2); }));
        }
        const [csum, nocsum] = caps as [string, string];
        for (const [i, text] of caps.entries()) {
          assert.ok(text.includes(`${LAB.dip} > ${LAB.rs[i]}`) || text.includes(`${LAB.dip}.`), `outer ${LAB.dip} -> ${LAB.rs[i]}:\n${text}`);
          assert.match(text, new RegExp(`${LAB.client.replace(/\./g, '\\.')}\\.\\d+ > ${LAB.vip.replace(/\./g, '\\.')}\\.80|${LAB.dip.replace(/\./g, '\\.')}\\.\\d+ > ${LAB.rs[i]!.replace(/\./g, '\\.')}\\.${PORT}`), text);
          assert.doesNotMatch(text, /bad udp cksum|incorrect/i, text);
        }
        if (type === 'gue') {
          assert.match(csum, new RegExp(`${LAB.dip.replace(/\./g, '\\.')}\\.\\d+ > ${LAB.rs[0]!.replace(/\./g, '\\.')}\\.${PORT}: \\[udp sum ok\\] UDP`), csum);
          assert.match(nocsum, new RegExp(`${LAB.dip.replace(/\./g, '\\.')}\\.\\d+ > ${LAB.rs[1]!.replace(/\./g, '\\.')}\\.${PORT}: \\[no cksum\\] UDP`), nocsum);
        } else {
          assert.match(csum, /proto GRE \(47\)/);
          assert.match(csum, /GREv0, Flags \[checksum present\]/, csum);
          assert.match(nocsum, /GREv0, Flags \[none\]/, nocsum);
          // tcpdump decodes the inner packet of GRE: the client's own address toward the VIP.
          assert.match(csum, new RegExp(`${LAB.client.replace(/\./g, '\\.')}\\.\\d+ > ${LAB.vip.replace(/\./g, '\\.')}\\.80: Flags`), csum);
        }
      });

      it(`${type}: a UDP echo through the VIP is balanced and answered`, async () => {
        const flags = (r: string) => ['-i', '--tun-type', type, ...(type === 'gue' ? ['--tun-port', String(PORT)] : []), r === LAB.rs[0] ? '--tun-csum' : '--tun-nocsum'];
        await adm('-A', '-u', UVS, '-s', 'rr');
        for (const r of LAB.rs) await adm('-a', '-u', UVS, '-r', `${r}:53`, ...flags(r));
        try {
          await sleep(400); // the forwarder picks the new service up
          const r = inNs(ns.client, [process.execPath, udpClient, LAB.vip, '53', '4']);
          const answers = r.out.trim().split('\n');
          assert.equal(answers.length, 4, r.err);
          answers.forEach((a, i) => assert.match(a, new RegExp(`^test[12]:q${i}$`)));
          assert.equal(new Set(answers.map((a) => a.split(':')[0])).size, 2, answers.join(','));
        } finally {
          await adm('-D', '-u', UVS);
        }
      });

      if (type === 'gue') {
        it('gue: a full-size DF packet that no longer fits with IP + UDP + GUE (32 bytes) gets ICMP fragmentation-needed with MTU 1468; the upload completes', async () => {
          const before = (await labForwarderStatus(prefix))!.counters;
          const r = inNs(ns.client, ['sh', '-c', `head -c 200000 /dev/zero | curl -s -m 10 --data-binary @- http://${LAB.vip}/`]);
          assert.match(r.out.trim(), /^test[12]$/, r.err);
          await sleep(400);
          const afterC = (await labForwarderStatus(prefix))!.counters;
          assert.ok(afterC['fragNeeded']! > before['fragNeeded']!, JSON.stringify(afterC));
          const pmtu = inNs(ns.client, ['ip', 'route', 'get', LAB.vip]).out;
          assert.match(pmtu, /mtu 1468/, pmtu);
        });
      }
    });
  }
});
