// TUN over IPv6 end to end, in the lab addressed over IPv6 (labUp('tun', { ipv6: true })): the
// real daemon's packet forwarder encapsulates toward the real servers' IPv6 addresses (ip6ip6,
// GUE and GRE over IPv6), and across families where IPVS allows it (TUN only: an IPv4 service
// with IPv6 real servers, IPv4 in IPv6; an IPv6 service with IPv4 real servers, IPv6 in IPv4).
// The kernel here has no tunnel devices (no ip6tnl, ip6gre, fou): the real servers run the
// project's decapsulation agent (src/lab/ipip-agent.ts), which reads the IPv6 outer headers from
// AF_INET6 sockets. tcpdump on a real server sees the outer header the table names.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { labUp, labDown, labNs, LAB, labAdm, labForwarderStatus } from '../../src/lab/topology.ts';
import { realserverDown, realserverUp } from '../../src/lab/realserver.ts';
import { shTry } from '../../src/lab/netns.ts';
import { capture } from '../helpers/lab-traffic.ts';

const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root (network namespaces, AF_PACKET, nftables, tcpdump)';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PORT = 6080;
const prefix = `tsvs-t6${process.pid % 10000}`;
const ns = labNs(prefix);

interface Case {
  readonly name: string;
  /** The service's family (the client's packets) and the real servers' (the outer header). */
  readonly svc: 4 | 6;
  readonly rs: 4 | 6;
  /** ipvsadm options of each real server (after -i). */
  readonly opts: readonly (readonly string[])[];
  /** tcpdump filter matching the encapsulated packets on a real server's eth0. */
  readonly wire: string;
  /** Also a 10 MiB download (the client's packets that no longer fit get Packet Too Big / frag-needed). */
  readonly big?: boolean;
}

const CASES: readonly Case[] = [
  { name: 'ip6ip6 (ipip, IPv6 in IPv6)', svc: 6, rs: 6, opts: [[], []], wire: 'ip6 and ip6[6] == 41', big: true },
  { name: 'GUE over IPv6 (--tun-csum / --tun-nocsum)', svc: 6, rs: 6, opts: [['--tun-type', 'gue', '--tun-port', String(PORT), '--tun-csum'], ['--tun-type', 'gue', '--tun-port', String(PORT), '--tun-nocsum']], wire: `ip6 and udp dst port ${PORT}` },
  { name: 'GRE over IPv6 (--tun-csum / --tun-nocsum)', svc: 6, rs: 6, opts: [['--tun-type', 'gre', '--tun-csum'], ['--tun-type', 'gre', '--tun-nocsum']], wire: 'ip6 and ip6[6] == 47', big: true },
  { name: 'mixed: IPv4 service, IPv6 real servers (IPv4 in IPv6)', svc: 4, rs: 6, opts: [[], []], wire: 'ip6 and ip6[6] == 4' },
  { name: 'mixed: IPv6 service, IPv4 real servers (IPv6 in IPv4)', svc: 6, rs: 4, opts: [[], []], wire: 'ip proto 41' },
  { name: 'mixed: IPv4 service, GUE over IPv6', svc: 4, rs: 6, opts: [['--tun-type', 'gue', '--tun-port', String(PORT)], ['--tun-type', 'gue', '--tun-port', String(PORT)]], wire: `ip6 and udp dst port ${PORT}` },
];

describe('lab tun over IPv6: ip6ip6, GUE and GRE over IPv6, and mixed-family TUN, through the decapsulation agent', { skip, timeout: 240_000 }, () => {
  const adm = async (...argv: string[]): Promise<string> => {
    const r = await labAdm(prefix, argv);
    assert.equal(r.code, 0, `tsvsadm ${argv.join(' ')}: ${r.err}`);
    return r.out;
  };

  before(async () => {
    await labUp('tun', { prefix, ipv6: true, commands: [] });
    // The lab's agents take IPIP; these take every type (over both families) for both VIPs.
    for (const n of ns.rs) {
      await realserverDown(LAB.vip, n);
      await realserverUp(LAB.vip, 'tun', n, { tunTypes: ['ipip', 'gue', 'gre'], tunPort: PORT, alsoVips: [LAB.vip6] });
    }
  });
  after(async () => {
    for (const n of ns.rs) await realserverDown(LAB.vip, n).catch(() => []);
    await labDown(prefix);
  });

  for (const c of CASES) {
    it(`${c.name}: rr alternates test1/test2, the real server sees the client's address, the wire carries the outer header`, async () => {
      await adm('-C');
      const vip = c.svc === 6 ? LAB.vip6 : LAB.vip;
      const vs = c.svc === 6 ? `[${vip}]:80` : `${vip}:80`;
      const rss = c.rs === 6 ? LAB.rs6.map((r) => `[${r}]:80`) : LAB.rs.map((r) => `${r}:80`);
      await adm('-A', '-t', vs, '-s', 'rr');
      for (let i = 0; i < 2; i++) await adm('-a', '-t', vs, '-r', rss[i]!, '-i', ...c.opts[i]!);
      await sleep(300);
      const url = c.svc === 6 ? `http://[${vip}]` : `http://${vip}`;
      const curl = (path: string) => shTry(['ip', 'netns', 'exec', ns.client, 'curl', ...(c.svc === 6 ? ['-6', '-g'] : []), '-s', '-m', '5', `${url}${path}`]);
      const before = await labForwarderStatus(prefix);
      const bodies: string[] = [];
      const wire = await capture(ns.rs[0]!, c.wire, 1, () => {
        for (let i = 0; i < 4; i++) {
          const r = curl('/whoami');
          assert.equal(r.status, 0, `curl ${url}: ${r.err}`);
          bodies.push(r.out.trim());
        }
      });
      assert.ok(wire.trim().length > 0, `tcpdump '${c.wire}' on rs1 saw nothing`);
      const names = bodies.map((b) => b.split(' ')[0]);
      assert.deepEqual([...new Set(names)].sort(), ['test1', 'test2'], bodies.join(' | '));
      for (let i = 1; i < names.length; i++) assert.notEqual(names[i], names[i - 1], `rr alternates: ${names.join(',')}`);
      const client = c.svc === 6 ? LAB.client6 : LAB.client;
      for (const b of bodies) assert.equal(b.split(' ')[1]?.replace(/^::ffff:/, ''), client, b);
      await sleep(250);
      const after = await labForwarderStatus(prefix);
      assert.ok(after!.counters['tunnel']! - before!.counters['tunnel']! >= 4 * 4, `tunnel counter ${before!.counters['tunnel']} -> ${after!.counters['tunnel']}`);
      if (c.big) {
        const r = shTry(['sh', '-c', `ip netns exec ${ns.client} curl ${c.svc === 6 ? '-6 -g' : ''} -s -m 20 ${url}/big | sha256sum`]);
        const want = Buffer.alloc(10 * 1024 * 1024);
        for (let i = 0; i < want.length; i++) want[i] = (i * 31 + 7) & 255;
        assert.equal(r.out.split(' ')[0], createHash('sha256').update(want).digest('hex'), 'a 10 MiB download arrives intact');
      }
    });
  }
});
