import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sh, nsSh, shTry, spawnInNs, killPid, waitFor } from '../../src/lab/netns.ts';
import { detectRoleWhy, diagnose, isTsvsDaemonArgv } from '../../src/lab/doctor.ts';
import { realserverUp, realserverDown } from '../../src/lab/realserver.ts';
import { labDown, labNs, labUp, LAB } from '../../src/lab/topology.ts';

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
    const r = shTry(['ip', 'netns', 'exec', ns, process.execPath, 'bin/tsvs.mjs', 'doctor', '--vip', VIP]);
    assert.equal(r.status, 1, 'tsvs doctor exits 1 when something is wrong');
    assert.match(r.out, /fix: ip addr add 10\.8\.8\.8\/32 dev lo/);

    await realserverUp(VIP, 'dr', ns);
    await killPid(pids.pop()!);
    pids.push(listen('0.0.0.0'));
    await waitFor(() => nsSh(ns, ['ss', '-ltnH']).includes('0.0.0.0:80'), 5000);
    nsSh(ns, ['nft', 'delete', 'table', 'inet', 'userfw']);
    assert.deepEqual(failing(ns), []);
    assert.equal(shTry(['ip', 'netns', 'exec', ns, process.execPath, 'bin/tsvs.mjs', 'doctor', '--vip', VIP]).status, 0);
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

const DAEMON_ARGV: readonly [string[], boolean][] = [
  [['/usr/bin/node', '/opt/tsvs/bin/tsvs.mjs', 'daemon', '--forwarder', 'packet'], true],
  [['node', '--import', 'tsx', 'src/cli/tsvs.ts', 'daemon'], true],
  [['/usr/sbin/tsvs', 'daemon'], true],
  [['node', '/usr/sbin/tsvs', 'daemon', '--socket', '/run/tsvs/tsvs.sock'], true],
  [['/usr/bin/node', '/opt/tsvs/bin/tsvs.mjs', 'realserver', 'up'], false],
  [['/usr/bin/node', '/opt/tsvs/bin/tsvsadm.mjs', 'daemon'], false],
  [['nginx', 'daemon'], false],
];
for (const [argv, want] of DAEMON_ARGV) {
  test(`doctor ${want ? 'recognises' : 'does not take'} ${argv.join(' ')} as a tsvs daemon`, () => {
    assert.equal(isTsvsDaemonArgv(argv), want);
  });
}

test('tsvs doctor on the director of `tsvs lab up dr` (VIP on lo) sees a director by its daemon and passes; on a real server it checks a real server', { skip, timeout: 180_000 }, async () => {
  const prefix = `tsvs-dd${process.pid % 10000}`;
  const ns = labNs(prefix);
  try {
    await labUp('dr', { prefix });
    const doctor = (n: string) => shTry(['ip', 'netns', 'exec', n, process.execPath, 'bin/tsvs.mjs', 'doctor', '--vip', LAB.vip, '--json']);
    const r = doctor(ns.dir);
    assert.equal(r.status, 0, r.out + r.err);
    const j = JSON.parse(r.out) as { role: string; why: string; findings: { check: string; ok: boolean }[] };
    assert.equal(j.role, 'director');
    assert.match(j.why, /tsvs daemon \(pid \d+\) listens on \/run\/tsvs\/lab-/);
    assert.deepEqual(j.findings.map((f) => f.check).sort(), ['firewall', 'nft-table', 'vip']);
    const rs = doctor(ns.rs[0]!);
    assert.equal(rs.status, 0, rs.out + rs.err);
    const jr = JSON.parse(rs.out) as { role: string; findings: { check: string }[] };
    assert.equal(jr.role, 'realserver');
    assert.ok(jr.findings.some((f) => f.check === 'arp_ignore'));
  } finally {
    await labDown(prefix);
  }
});

test('doctor sees a director by the nftables table inet tsvs alone (VIP on lo, no daemon)', { skip, timeout: 30_000 }, () => {
  const ns = `tsvs-dn${process.pid}`;
  sh(['ip', 'netns', 'add', ns]);
  try {
    nsSh(ns, ['ip', 'link', 'set', 'lo', 'up']);
    nsSh(ns, ['ip', 'addr', 'add', `${VIP}/32`, 'dev', 'lo']);
    assert.equal(detectRoleWhy({ vip: VIP, ns }).role, 'realserver');
    nsSh(ns, ['nft', 'add', 'table', 'inet', 'tsvs']);
    assert.deepEqual(detectRoleWhy({ vip: VIP, ns }), { role: 'director', why: 'nftables table inet tsvs present' });
  } finally {
    shTry(['ip', 'netns', 'del', ns]);
  }
});
