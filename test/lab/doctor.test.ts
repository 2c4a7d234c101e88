import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sh, nsSh, shTry, spawnInNs, killPid, waitFor } from '../../src/lab/netns.ts';
import { diagnose } from '../../src/lab/doctor.ts';
import { realserverUp, realserverDown } from '../../src/lab/realserver.ts';

const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root (network namespaces)';
const VIP = '10.8.8.8';
const RIP = '192.168.77.2';

function failing(ns: string, extra: Partial<Parameters<typeof diagnose>[0]> = {}): string[] {
  return diagnose({ vip: VIP, ns, role: 'realserver', ...extra }).filter((f) => !f.ok).map((f) => f.check).sort();
}

test('doctor finds a broken DR real server (VIP missing, ARP sysctls, own-address listener, firewall drop) and passes once fixed', { skip, timeout: 60_000 }, async () => {
  const ns = `tsvs-doc${process.pid}`;
  sh(['ip', 'netns', 'add', ns]);
  const pids: number[] = [];
  try {
    nsSh(ns, ['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
    nsSh(ns, ['ip', 'link', 'set', 'eth1', 'up']);
    nsSh(ns, ['ip', 'addr', 'add', `${RIP}/24`, 'dev', 'eth0']);
    nsSh(ns, ['ip', 'link', 'set', 'eth0', 'up']);
    nsSh(ns, ['ip', 'link', 'set', 'lo', 'up']);
    for (const k of ['all.arp_ignore', 'all.arp_announce', 'lo.arp_ignore', 'lo.arp_announce']) nsSh(ns, ['sysctl', '-q', '-w', `net.ipv4.conf.${k}=0`]);
    const listen = (addr: string) => spawnInNs(ns, [process.execPath, '-e', `require('net').createServer().listen(80, '${addr}')`]);
    pids.push(listen(RIP));
    await waitFor(() => nsSh(ns, ['ss', '-ltnH']).includes(':80'), 5000);
    nsSh(ns, ['nft', 'add table inet userfw; add chain inet userfw input { type filter hook input priority 0; }; add rule inet userfw input tcp dport 80 drop']);
    assert.deepEqual(failing(ns), ['arp_announce', 'arp_ignore', 'firewall', 'listening', 'vip-on-lo']);
    const r = shTry(['ip', 'netns', 'exec', ns, process.execPath, '--import', 'tsx', 'bin/tsvs.mjs', 'doctor', '--vip', VIP]);
    assert.equal(r.status, 1, 'tsvs doctor exits 1 when something is wrong');
    assert.match(r.out, /fix: ip addr add 10\.8\.8\.8\/32 dev lo/);

    await realserverUp(VIP, 'dr', ns);
    await killPid(pids.pop()!);
    pids.push(listen('0.0.0.0'));
    await waitFor(() => nsSh(ns, ['ss', '-ltnH']).includes('0.0.0.0:80'), 5000);
    nsSh(ns, ['nft', 'delete', 'table', 'inet', 'userfw']);
    assert.deepEqual(failing(ns), []);
    assert.equal(shTry(['ip', 'netns', 'exec', ns, process.execPath, '--import', 'tsx', 'bin/tsvs.mjs', 'doctor', '--vip', VIP]).status, 0);
    // NAT: the gateway must be the director.
    assert.deepEqual(failing(ns, { mode: 'nat', director: '192.168.77.1' }), ['nat-gateway']);
    nsSh(ns, ['ip', 'route', 'add', 'default', 'via', '192.168.77.1']);
    assert.deepEqual(failing(ns, { mode: 'nat', director: '192.168.77.1' }), []);
    // TUN without a decapsulation device and with strict rp_filter.
    nsSh(ns, ['sysctl', '-q', '-w', 'net.ipv4.conf.all.rp_filter=1']);
    assert.deepEqual(failing(ns, { mode: 'tun' }), ['ipip-decap', 'rp_filter']);
  } finally {
    for (const p of pids) await killPid(p);
    await realserverDown(VIP, ns).catch(() => {});
    shTry(['ip', 'netns', 'del', ns]);
  }
});
