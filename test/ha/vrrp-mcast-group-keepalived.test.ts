/**
 * Another VRRP multicast group (global_defs vrrp_mcast_group4, vrrp_instance mcast_dst_ip) beside
 * Debian's keepalived 2.2.7 on one link: given the same group they elect one master and fail
 * over when it stops, and tcpdump on the link sees both sides' adverts go to that group (none to
 * 224.0.0.18); on different groups neither hears the other and both become MASTER, as two
 * keepalived directors would (each one's socket is bound to its group).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasAddr, keepalivedPair, keepalivedSkip, sleep, waitFor } from '../helpers/netns.ts';

const skip = keepalivedSkip();
if (skip) console.log(`# skipping VRRP multicast group tests: ${skip}`);

const VIP = '10.93.0.100';

/** Where the group is written: global_defs (the default of every instance) or the instance. */
type Where = { readonly global?: string; readonly instance?: string };

const conf = (dev: string, prio: number, where: Where) => `${where.global ? `global_defs {\n  vrrp_mcast_group4 ${where.global}\n}\n` : ''}vrrp_instance VI_1 {
  state BACKUP
  interface ${dev}
  virtual_router_id 61
  priority ${prio}
  advert_int 1
${where.instance ? `  mcast_dst_ip ${where.instance}\n` : ''}  virtual_ipaddress {
    ${VIP}/24
  }
}
`;

interface Case {
  readonly name: string;
  readonly ka: { prio: number; where: Where };
  readonly tsvs: { prio: number; where: Where };
  /** Who is MASTER first, and who takes over when it stops; 'both' = split (no failover step). */
  readonly master: 'keepalived' | 'tsvs' | 'both';
  /** The destinations tcpdump must see adverts from each side go to. */
  readonly groups: { keepalived: string; tsvs: string };
}

const CASES: Case[] = [
  {
    name: 'both given vrrp_mcast_group4 224.0.0.19: tsvs (150) is master over keepalived (100), keepalived takes over when tsvs stops',
    ka: { prio: 100, where: { global: '224.0.0.19' } }, tsvs: { prio: 150, where: { global: '224.0.0.19' } },
    master: 'tsvs', groups: { keepalived: '224.0.0.19', tsvs: '224.0.0.19' },
  },
  {
    name: 'both given vrrp_mcast_group4 224.0.0.19: keepalived (150) is master over tsvs (100), tsvs takes over when keepalived stops',
    ka: { prio: 150, where: { global: '224.0.0.19' } }, tsvs: { prio: 100, where: { global: '224.0.0.19' } },
    master: 'keepalived', groups: { keepalived: '224.0.0.19', tsvs: '224.0.0.19' },
  },
  {
    name: 'both given mcast_dst_ip 224.0.0.20 in the instance (over vrrp_mcast_group4 on the tsvs side): one master, failover',
    ka: { prio: 150, where: { instance: '224.0.0.20' } }, tsvs: { prio: 100, where: { global: '224.0.0.19', instance: '224.0.0.20' } },
    master: 'keepalived', groups: { keepalived: '224.0.0.20', tsvs: '224.0.0.20' },
  },
  {
    name: 'keepalived on 224.0.0.18, tsvs on vrrp_mcast_group4 224.0.0.19: neither hears the other, both MASTER',
    ka: { prio: 150, where: {} }, tsvs: { prio: 100, where: { global: '224.0.0.19' } },
    master: 'both', groups: { keepalived: '224.0.0.18', tsvs: '224.0.0.19' },
  },
];

for (const c of CASES) {
  test(`${c.name}, as keepalived 2.2.7 does`, { skip, timeout: 90_000 }, async () => {
    await keepalivedPair('mcg', '10.93.0', async ({ lab, dir, a, b, da, db }) => {
      writeFileSync(join(dir, 'ka.conf'), conf(da, c.ka.prio, c.ka.where));
      writeFileSync(join(dir, 'tsvs.conf'), conf(db, c.tsvs.prio, c.tsvs.where));
      // Every VRRP packet on the link, both directions (seen from keepalived's end of the veth).
      const dump = lab.spawnIn(a, 'tcpdump', ['-i', da, '-nn', '-l', '-p', 'ip proto 112']);
      let seen = '';
      let dumpErr = '';
      dump.stdout!.on('data', (d: Buffer) => { seen += d.toString(); });
      dump.stderr!.on('data', (d: Buffer) => { dumpErr += d.toString(); });
      assert.ok((await waitFor(() => dumpErr.includes('listening on'), 10_000, 20)) >= 0, `tcpdump started: ${dumpErr}`);
      const ka = lab.spawnIn(a, 'keepalived', ['-n', '-l', '-P', '-f', join(dir, 'ka.conf'), '-p', join(dir, 'ka.pid'), '-r', join(dir, 'vrrp.pid')]);
      const tv = lab.spawnIn(b, process.execPath, ['bin/tsvs.mjs', 'vrrp', '--keepalived', join(dir, 'tsvs.conf')]);
      const on = { keepalived: () => hasAddr(a, da, VIP), tsvs: () => hasAddr(b, db, VIP) };
      const view = () => `keepalived ${on.keepalived() ? 'MASTER' : 'not master'}, tsvs ${on.tsvs() ? 'MASTER' : 'not master'}`;
      if (c.master === 'both') {
        assert.ok((await waitFor(() => on.keepalived() && on.tsvs(), 15_000, 50)) >= 0, `both MASTER: ${view()}`);
        await sleep(2000);
        assert.ok(on.keepalived() && on.tsvs(), `both stay MASTER: ${view()}`);
      } else {
        const backup = c.master === 'tsvs' ? 'keepalived' : 'tsvs';
        assert.ok((await waitFor(() => on[c.master as 'tsvs']() && !on[backup](), 15_000, 50)) >= 0, `${c.master} MASTER alone: ${view()}`);
        await sleep(2500);
        assert.ok(on[c.master as 'tsvs']() && !on[backup](), `${c.master} stays MASTER alone: ${view()}`);
        (c.master === 'tsvs' ? tv : ka).kill('SIGTERM');
        assert.ok((await waitFor(() => on[backup](), 10_000, 50)) >= 0, `${backup} took over when ${c.master} stopped: ${view()}`);
      }
      // The adverts on the wire: "IP 10.93.0.1 > 224.0.0.19: VRRPv2, Advertisement, vrid 61, ...".
      const to = (src: string) => [...new Set([...seen.matchAll(new RegExp(`IP ${src.replace(/\./g, '\\.')} > ([0-9.]+): VRRPv2, Advertisement, vrid 61`, 'g'))].map((m) => m[1]))];
      // The new master's first adverts may still be on their way through tcpdump.
      await waitFor(() => to('10.93.0.1').length > 0 && to('10.93.0.2').length > 0, 5_000, 50);
      assert.deepEqual(to('10.93.0.1'), [c.groups.keepalived], `keepalived's adverts:\n${seen}`);
      assert.deepEqual(to('10.93.0.2'), [c.groups.tsvs], `tsvs's adverts:\n${seen}`);
    });
  });
}
