import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sh, nsSh, shTry, alive } from '../../src/lab/netns.ts';
import { realserverUp, realserverDown, getSysctl, setSysctl, readState } from '../../src/lab/realserver.ts';

const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root (network namespaces)';
const VIP = '10.9.9.9';

function loAddrs(ns: string): string[] {
  const j = JSON.parse(nsSh(ns, ['ip', '-j', 'addr', 'show', 'dev', 'lo'])) as { addr_info: { local: string }[] }[];
  return j[0]!.addr_info.map((a) => a.local);
}

for (const mode of ['dr', 'tun'] as const) {
  test(`realserver up --mode ${mode} sets the VIP on lo and the ARP sysctls; down restores the previous values`, { skip, timeout: 60_000 }, async () => {
    const ns = `tsvs-rs${process.pid}${mode}`;
    sh(['ip', 'netns', 'add', ns]);
    try {
      for (const k of ['all.arp_ignore', 'all.arp_announce', 'lo.arp_ignore', 'lo.arp_announce', 'all.rp_filter']) setSysctl(ns, `net.ipv4.conf.${k}`, '0');
      setSysctl(ns, 'net.ipv4.conf.all.rp_filter', '1');
      const { state } = await realserverUp(VIP, mode, ns);
      assert.ok(loAddrs(ns).includes(VIP));
      assert.equal(getSysctl(ns, 'net.ipv4.conf.all.arp_ignore'), '1');
      assert.equal(getSysctl(ns, 'net.ipv4.conf.all.arp_announce'), '2');
      assert.equal(getSysctl(ns, 'net.ipv4.conf.lo.arp_ignore'), '1');
      assert.equal(getSysctl(ns, 'net.ipv4.conf.lo.arp_announce'), '2');
      if (mode === 'tun') {
        assert.equal(getSysctl(ns, 'net.ipv4.conf.all.rp_filter'), '0');
        assert.ok(state.agentPid && alive(state.agentPid), 'decap agent running');
        assert.equal(shTry(['ip', 'netns', 'exec', ns, 'ip', 'link', 'show', 'tsvstun0']).status, 0);
      }
      const again = await realserverUp(VIP, mode, ns);
      assert.deepEqual(again.actions, ['already up']);
      await realserverDown(VIP, ns);
      assert.ok(!loAddrs(ns).includes(VIP));
      assert.equal(getSysctl(ns, 'net.ipv4.conf.all.arp_ignore'), '0');
      assert.equal(getSysctl(ns, 'net.ipv4.conf.lo.arp_announce'), '0');
      assert.equal(getSysctl(ns, 'net.ipv4.conf.all.rp_filter'), '1');
      assert.equal(readState(ns, VIP), null);
      if (state.agentPid) assert.equal(alive(state.agentPid), false);
    } finally {
      await realserverDown(VIP, ns).catch(() => {});
      shTry(['ip', 'netns', 'del', ns]);
    }
  });
}
