/**
 * keepalived's nftables table in the cases it is shared or built for IPv6, beside Debian's
 * keepalived 2.2.7 given the same file: no_accept with use_vmac over IPv4 (the accept-mode drop
 * rules and the macvlan's entries in one `table ip keepalived`), and no_accept over IPv6
 * (`table ip6 keepalived`, neighbour discovery let through, a link-local VIP in
 * `vips_link_local` keyed by address . interface; under dont_track_primary in
 * `vips_link_local_name`, address . interface name). Each runs alone as MASTER in its own namespace in
 * turn: `nft list ruleset` reads the same under tsvs as under keepalived, the VIPs (the link-local
 * one too) do not answer while the host's own addresses do, and each removes the table when it stops.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { Lab, isRoot, hasAddr, nsExec, sh, waitFor, keepalivedSkip } from '../helpers/netns.ts';

const skip = keepalivedSkip('network namespaces, raw sockets, nftables');
if (skip) console.log(`# skipping no_accept with use_vmac / IPv6 tests: ${skip}`);

interface Case {
  readonly name: string;
  readonly vip: string;
  /** The namespaces' own addresses (keepalived's, tsvs's) in the VIP's family. */
  readonly own: readonly [string, string];
  /** Where the VIP goes: the macvlan with use_vmac, else the interface. */
  readonly on: (dev: string) => string;
  readonly conf: (dev: string) => string;
  /** What the ruleset must hold while MASTER. */
  readonly holds: RegExp;
  /** A link-local VIP on the instance's interface (reached from the peer over the link). */
  readonly linkLocal?: string;
  /** Another interface of this name made in each namespace first (one end of a veth pair, up; for an address on it). */
  readonly other?: string;
}

const instance = (dev: string, body: string, vip: string) => `vrrp_instance VI_1 {
  state MASTER
  interface ${dev}
  virtual_router_id 66
  priority 100
  advert_int 1
  no_accept
${body}  virtual_ipaddress {
    ${vip}
  }
}
`;

const CASES: Case[] = [
  {
    name: 'no_accept with use_vmac (IPv4): the drop rules and the macvlan\'s entries in one table ip keepalived',
    vip: '10.95.0.100', own: ['10.95.0.1', '10.95.0.2'], on: () => 'vrrp.66',
    conf: (dev) => instance(dev, '  use_vmac\n', '10.95.0.100/24'),
    holds: /table ip keepalived \{[^]*elements = \{ 10\.95\.0\.100 \}[^]*oifkind "macvlan"[^]*ip daddr @vips drop/,
  },
  {
    name: 'no_accept over IPv6: table ip6 keepalived, neighbour discovery let through, a link-local VIP in vips_link_local (address . interface) dropped by the link-local chains',
    vip: 'fd00:95::100', own: ['fd00:95::1', 'fd00:95::2'], on: (dev) => dev, linkLocal: 'fe80::100',
    conf: (dev) => `global_defs {\n  vrrp_version 3\n}\n${instance(dev, '', 'fd00:95::100/64\n    fe80::100/64')}`,
    holds: /table ip6 keepalived \{[^]*elements = \{ fd00:95::100 \}[^]*nd-neighbor-solicit[^]*vips_link_local \{\s*type ipv6_addr \. iface_index\s*elements = \{ fe80::100 \. "BASE" \}[^]*goto in_link_local[^]*ip6 daddr @vips drop[^]*ip6 daddr \. iif @vips_link_local drop/,
  },
  {
    // keepalived's nft_update_ipv6_address: under dont_track_primary a link-local address on the
    // instance's own interface, or written no_track, is matched by interface name; one on another
    // interface still by index. Each set is made (with its rules) by its first address.
    name: 'dont_track_primary with no_accept over IPv6: link-local VIPs on the own interface and no_track ones in vips_link_local_name (address . ifname), one on another interface in vips_link_local',
    vip: 'fd00:95::100', own: ['fd00:95::1', 'fd00:95::2'], on: (dev) => dev, linkLocal: 'fe80::100', other: 'tsvsdtp0',
    conf: (dev) => `global_defs {\n  vrrp_version 3\n}\n${instance(dev, '  dont_track_primary\n', 'fd00:95::100/64\n    fe80::100/64\n    fe80::101/64 dev tsvsdtp0\n    fe80::102/64 no_track')}`,
    holds: /vips_link_local_name \{\s*type ipv6_addr \. ifname\s*elements = \{ fe80::100 \. "BASE",\s*fe80::102 \. "BASE" \}[^]*vips_link_local \{\s*type ipv6_addr \. iface_index\s*elements = \{ fe80::101 \. "tsvsdtp0" \}[^]*ip6 daddr \. iifname @vips_link_local_name drop\s*ip6 daddr \. iif @vips_link_local drop/,
  },
];

/** The namespace's ruleset, the base interface's name written BASE. */
const ruleset = (ns: string, base: string) => nsExec(ns, ['nft', 'list', 'ruleset']).replaceAll(`"${base}"`, '"BASE"').trim();
const stop = async (p: ChildProcess) => {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await gone;
};
const PORT = 7071;
/** A TCP connection from `ns` to addr:PORT within a second (bash's /dev/tcp). */
const reaches = (ns: string, addr: string) => spawnSync('ip', ['netns', 'exec', ns, 'timeout', '1', 'bash', '-c', `exec 3<>/dev/tcp/${addr}/${PORT}`], { stdio: 'ignore' }).status === 0;
const linkLocal = (ns: string, dev: string) => nsExec(ns, ['ip', '-6', 'addr', 'show', 'dev', dev, 'scope', 'link']).includes('inet6 fe80:');
/** The interface's own (kernel-made, EUI-64: ...ff:fe...) link-local address, not a VIP. */
const ownLinkLocal = (ns: string, dev: string) => [...nsExec(ns, ['ip', '-6', 'addr', 'show', 'dev', dev, 'scope', 'link']).matchAll(/inet6 (fe80:[0-9a-f:]+)\//g)].map((m) => m[1]!).find((x) => x.includes('ff:fe'));

for (const c of CASES) {
  test(`${c.name}: nft list ruleset as keepalived 2.2.7 writes it; the table removed at stop`, { skip, timeout: 90_000 }, async () => {
    const lab = new Lab('nav');
    const dir = mkdtempSync(join(tmpdir(), 'tsvs-nav-'));
    try {
      // One namespace each, a veth pair between them (a carrier for the VRRP interface), no DAD so
      // the link-local address IPv6 VRRP sends from is there at once.
      const a = lab.ns('ka');
      const b = lab.ns('tv');
      const da = `v${process.pid % 100000}na`;
      const db = `v${process.pid % 100000}nb`;
      sh('ip', ['-n', a, 'link', 'add', da, 'type', 'veth', 'peer', 'name', db, 'netns', b]);
      for (const [ns, dev, addr] of [[a, da, '1'], [b, db, '2']] as const) {
        if (c.other) {
          nsExec(ns, ['ip', 'link', 'add', c.other, 'type', 'veth', 'peer', 'name', `${c.other}p`]);
          nsExec(ns, ['sysctl', '-qw', `net.ipv6.conf.${c.other}.accept_dad=0`]);
          for (const d of [`${c.other}p`, c.other]) nsExec(ns, ['ip', 'link', 'set', d, 'up']);
        }
        nsExec(ns, ['sysctl', '-qw', `net.ipv6.conf.${dev}.accept_dad=0`]);
        nsExec(ns, ['ip', 'addr', 'add', `10.95.0.${addr}/24`, 'dev', dev]);
        nsExec(ns, ['ip', 'addr', 'add', `fd00:95::${addr}/64`, 'dev', dev, 'nodad']);
        nsExec(ns, ['ip', 'link', 'set', dev, 'up']);
      }
      assert.ok((await waitFor(() => linkLocal(a, da) && linkLocal(b, db), 5000, 20)) >= 0, 'link-local addresses');
      const runs = [
        { who: 'keepalived', ns: a, dev: da, peer: b, own: c.own[0], start: (f: string) => lab.spawnIn(a, 'keepalived', ['-n', '-l', '-P', '-f', f, '-p', join(dir, 'ka.pid'), '-r', join(dir, 'vrrp.pid')]) },
        { who: 'tsvs', ns: b, dev: db, peer: a, own: c.own[1], start: (f: string) => lab.spawnIn(b, process.execPath, ['bin/tsvs.mjs', 'vrrp', '--keepalived', f]) },
      ];
      const seen: Record<string, string> = {};
      for (const r of runs) {
        const f = join(dir, `${r.who}.conf`);
        writeFileSync(f, c.conf(r.dev));
        const p = r.start(f);
        const on = c.on(r.dev);
        const master = () => { try { return hasAddr(r.ns, on, c.vip) && c.holds.test(ruleset(r.ns, r.dev)); } catch { return false; } };
        assert.ok((await waitFor(master, 15_000, 50)) >= 0, `${r.who} is MASTER with its table:\n${ruleset(r.ns, r.dev)}`);
        seen[r.who] = ruleset(r.ns, r.dev);
        const server = lab.spawnIn(r.ns, process.execPath, ['-e', `require('net').createServer((s) => s.end()).listen(${PORT}, '::')`]);
        assert.ok((await waitFor(() => reaches(r.peer, r.own), 5000, 100)) >= 0, `${r.who}: its own address answers`);
        assert.ok(!reaches(r.peer, c.vip), `${r.who}: the VIP does not answer`);
        if (c.linkLocal) {
          // Over the link from the peer's side (its interface is the scope): the host's own
          // link-local address answers, the link-local VIP beside it does not.
          const peerDev = r.peer === a ? da : db;
          const own = ownLinkLocal(r.ns, r.dev);
          assert.ok(own, `${r.who}: its own link-local address`);
          assert.ok(hasAddr(r.ns, r.dev, c.linkLocal), `${r.who}: the link-local VIP is on ${r.dev}`);
          assert.ok((await waitFor(() => reaches(r.peer, `${own}%${peerDev}`), 5000, 100)) >= 0, `${r.who}: its own link-local address answers`);
          assert.ok(!reaches(r.peer, `${c.linkLocal}%${peerDev}`), `${r.who}: the link-local VIP does not answer`);
        }
        await stop(server);
        await stop(p);
        assert.equal(ruleset(r.ns, r.dev), '', `${r.who} removed its table`);
      }
      console.log(`# keepalived's ruleset:\n${seen['keepalived']!.split('\n').map((l) => `#  ${l}`).join('\n')}`);
      assert.equal(seen['tsvs'], seen['keepalived'], 'the same ruleset');
    } finally {
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
