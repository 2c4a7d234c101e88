/**
 * use_vmac beside Debian's keepalived 2.2.7 given the same keepalived.conf in a namespace pair:
 * tsvs creates the macvlan keepalived creates (name, mode, MAC, flags, kernel parameters), puts
 * the virtual address on it as MASTER where the peer reaches it, sends its
 * adverts from that MAC, fails over both ways with keepalived, and removes the macvlan at stop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { keepalivedPair, isRoot, hasAddr, nsExec, waitFor, keepalivedSkip } from '../helpers/netns.ts';

const skip = keepalivedSkip();
if (skip) console.log(`# skipping use_vmac tests: ${skip}`);
const VIP = '10.94.0.100';
const VMAC = 'vrrp.63';
const MAC = '00:00:5e:00:01:3f';

function conf(dev: string, prio: number): string {
  return `vrrp_instance VI_1 {\n  state BACKUP\n  interface ${dev}\n  use_vmac\n  virtual_router_id 63\n  priority ${prio}\n  advert_int 1\n  virtual_ipaddress {\n    ${VIP}/24\n  }\n}\n`;
}

const exists = (ns: string, dev: string) => { try { nsExec(ns, ['ip', 'link', 'show', dev]); return true; } catch { return false; } };
/** The VIP is on the namespace's VMAC (which may not exist yet). */
const vip = (ns: string, vmac = VMAC, addr = VIP) => exists(ns, vmac) && hasAddr(ns, vmac, addr);
/** The macvlan as `ip -d link` shows it, with what differs by host (index, base name, counters) taken out. */
function vmacLink(ns: string, vmac = VMAC): string {
  return nsExec(ns, ['ip', '-d', 'link', 'show', vmac]).replace(/^\d+: /, '').replace(/@\S+:/, '@BASE:').replace(/ (link-netns|alias) \S+/g, '').replace(/\s+/g, ' ').trim();
}
/** The namespace's nftables ruleset, the base interface's name written BASE. */
const ruleset = (ns: string, base: string) => nsExec(ns, ['nft', 'list', 'ruleset']).replaceAll(`"${base}"`, '"BASE"');
const PARAMS = ['ipv4/conf/BASE/arp_ignore', 'ipv4/conf/BASE/arp_filter', 'ipv4/conf/VMAC/arp_ignore', 'ipv4/conf/VMAC/accept_local', 'ipv4/conf/VMAC/promote_secondaries', 'ipv4/conf/VMAC/rp_filter', 'ipv6/conf/VMAC/disable_ipv6'];
function params(ns: string, base: string): string[] {
  return PARAMS.map((p) => `${p}=${nsExec(ns, ['cat', `/proc/sys/net/${p.replace('BASE', base).replace('VMAC', VMAC)}`]).trim()}`);
}

test('use_vmac: the macvlan, its kernel parameters, the VIP on it and the adverts from its MAC as keepalived 2.2.7 has them; failover both ways; removed at stop', { skip, timeout: 90_000 }, async () => {
  await keepalivedPair('vmc', '10.94.0', async ({ lab, dir, a, b, da, db }) => {
    writeFileSync(join(dir, 'ka.conf'), conf(da, 100));
    writeFileSync(join(dir, 'tsvs.conf'), conf(db, 150));
    lab.spawnIn(a, 'keepalived', ['-n', '-l', '-D', '-f', join(dir, 'ka.conf'), '-p', join(dir, 'ka.pid'), '-r', join(dir, 'vrrp.pid')]);
    assert.ok((await waitFor(() => vip(a), 15_000)) >= 0, 'keepalived alone is master, the VIP on its VMAC');
    const tsvs = lab.spawnIn(b, process.execPath, ['bin/tsvs.mjs', 'vrrp', '--keepalived', join(dir, 'tsvs.conf')]);
    assert.ok((await waitFor(() => vip(b) && !vip(a), 15_000)) >= 0, 'tsvs (150) preempted; the VIP on its VMAC');

    // The macvlans and the kernel parameters: what keepalived set on its side, tsvs set on its own.
    const link = vmacLink(b);
    assert.match(link, new RegExp(`link/ether ${MAC} .*macvlan mode private .*addrgenmode none`));
    assert.match(link, /<BROADCAST,MULTICAST,UP,LOWER_UP>/);
    assert.equal(link, vmacLink(a), 'the macvlan as keepalived makes it');
    assert.deepEqual(params(b, db), params(a, da), 'kernel parameters as keepalived sets them');
    assert.match(ruleset(b, db), /table ip keepalived \{[^]*igmp meta oifkind "macvlan" dup to ip daddr device oif map @vmac_map drop/);
    assert.equal(ruleset(b, db), ruleset(a, da), 'nftables rules as keepalived sets them');
    console.log(`# both sides: ${link}\n#   ${params(b, db).join(' ')}`);

    // The peer reaches the VIP on the macvlan. (Which MAC its ARP reply carries is the kernel's
    // choice: with two keepalived it is the base interface's too.)
    // A TCP connection to a closed port: the RST (ECONNREFUSED) is the VIP's host answering.
    const knock = `const s = require('net').connect(9, '${VIP}'); s.setTimeout(1000, () => { console.log('TIMEOUT'); process.exit(0); }); s.on('error', (e) => { console.log(e.code); process.exit(0); }).on('connect', () => { console.log('OPEN'); process.exit(0); });`;
    const answer = () => spawnSync('ip', ['netns', 'exec', a, process.execPath, '-e', knock], { encoding: 'utf8' }).stdout.trim();
    assert.ok((await waitFor(() => answer() === 'ECONNREFUSED', 5000, 200)) >= 0, `the VIP answers: ${answer()}`);
    // The adverts leave from the VRRP MAC too (one captured on the peer's side).
    const cap = spawnSync('ip', ['netns', 'exec', a, 'timeout', '5', 'tcpdump', '-c', '1', '-e', '-n', '-i', da, 'ip proto 112 and src host 10.94.0.2'], { encoding: 'utf8' });
    assert.match(cap.stdout, new RegExp(`^\\S+ ${MAC} > 01:00:5e:00:00:12`, 'm'), cap.stdout + cap.stderr);

    // tsvs stops: it resigns, keepalived takes the VIP on its VMAC; tsvs's macvlan is gone.
    tsvs.kill('SIGTERM');
    await new Promise((r) => tsvs.once('exit', r));
    assert.ok((await waitFor(() => vip(a), 8_000)) >= 0, 'keepalived took over');
    assert.equal(exists(b, VMAC), false, 'tsvs removed its macvlan at stop');
    assert.equal(ruleset(b, db).trim(), '', 'and its nftables table');

    // A macvlan left behind by a killed run is replaced; tsvs preempts again.
    const again = lab.spawnIn(b, process.execPath, ['bin/tsvs.mjs', 'vrrp', '--keepalived', join(dir, 'tsvs.conf')]);
    assert.ok((await waitFor(() => vip(b) && !vip(a), 15_000)) >= 0, 'tsvs preempted again');
    again.kill('SIGKILL');
    await new Promise((r) => again.once('exit', r));
    assert.equal(exists(b, VMAC), true, 'a killed run leaves its macvlan');
    const third = lab.spawnIn(b, process.execPath, ['bin/tsvs.mjs', 'vrrp', '--keepalived', join(dir, 'tsvs.conf')]);
    assert.ok((await waitFor(() => vip(b) && !vip(a), 15_000)) >= 0, 'the next run replaced it and preempted');
    assert.equal(vmacLink(b), link);
    third.kill('SIGTERM');
    await new Promise((r) => third.once('exit', r));
  });
});

// --- IPv6 ---
const VIP6 = 'fd95::100';
const VMAC6 = 'vrrp.66';
const MAC6 = '00:00:5e:00:02:42';
function conf6(dev: string, prio: number): string {
  return `vrrp_instance VI_6 {\n  state BACKUP\n  interface ${dev}\n  use_vmac\n  virtual_router_id 66\n  priority ${prio}\n  advert_int 1\n  virtual_ipaddress {\n    ${VIP6}/64\n  }\n}\n`;
}
/** The interface's link-local address once DAD has finished, or null. */
function linkLocal(ns: string, dev: string): string | null {
  // (ip -j lists the filtered-out addresses as empty objects)
  const j = JSON.parse(nsExec(ns, ['ip', '-j', '-6', 'addr', 'show', 'dev', dev, 'scope', 'link'])) as { addr_info: { local?: string; tentative?: boolean }[] }[];
  return j[0]?.addr_info.find((x) => x.local && !x.tentative)?.local ?? null;
}
/** The macvlan's IPv6 addresses as `ip -6 addr` shows them, its base's link-local written LL. */
function vmacAddrs(ns: string, ll: string): string[] {
  return nsExec(ns, ['ip', '-6', 'addr', 'show', 'dev', VMAC6]).split('\n').filter((l) => l.includes('inet6')).map((l) => l.replace(ll, 'LL').replace(/\s+/g, ' ').trim()).sort();
}

test('use_vmac for IPv6: the macvlan with the IPv6 VRRP MAC, the base\'s link-local on it as the adverts\' source, keepalived\'s nftables rules, the VIP on it; failover both ways; all removed at stop', { skip, timeout: 90_000 }, async () => {
  await keepalivedPair('vm6', '10.95.0', async ({ lab, dir, a, b, da, db }) => {
    nsExec(a, ['ip', '-6', 'addr', 'add', 'fd95::1/64', 'dev', da, 'nodad']);
    nsExec(b, ['ip', '-6', 'addr', 'add', 'fd95::2/64', 'dev', db, 'nodad']);
    assert.ok((await waitFor(() => linkLocal(a, da) !== null && linkLocal(b, db) !== null, 10_000, 100)) >= 0, 'link-local addresses past DAD');
    const llA = linkLocal(a, da)!, llB = linkLocal(b, db)!;
    writeFileSync(join(dir, 'ka.conf'), conf6(da, 100));
    writeFileSync(join(dir, 'tsvs.conf'), conf6(db, 150));
    const ka = lab.spawnIn(a, 'keepalived', ['-n', '-l', '-D', '-f', join(dir, 'ka.conf'), '-p', join(dir, 'ka.pid'), '-r', join(dir, 'vrrp.pid')]);
    assert.ok((await waitFor(() => vip(a, VMAC6, VIP6), 15_000)) >= 0, 'keepalived alone is master, the VIP on its VMAC');
    const start = () => lab.spawnIn(b, process.execPath, ['bin/tsvs.mjs', 'vrrp', '--keepalived', join(dir, 'tsvs.conf')]);
    const tsvs = start();
    assert.ok((await waitFor(() => vip(b, VMAC6, VIP6) && !vip(a, VMAC6, VIP6), 15_000)) >= 0, 'tsvs (150) preempted; the VIP on its VMAC');

    const link = vmacLink(b, VMAC6);
    assert.match(link, new RegExp(`link/ether ${MAC6} .*macvlan mode private .*addrgenmode none`));
    assert.equal(link, vmacLink(a, VMAC6), 'the macvlan as keepalived makes it');
    // keepalived, now BACKUP, has only the link-local there; tsvs has it and the VIP.
    assert.deepEqual(vmacAddrs(b, llB).filter((l) => l.includes('LL')), vmacAddrs(a, llA), 'the base\'s link-local on the macvlan, with keepalived\'s flags');
    assert.match(vmacAddrs(a, llA).join(), /inet6 LL\/64 scope link nodad deprecated/);
    const sysctls = (ns: string) => ['disable_ipv6', 'addr_gen_mode', 'accept_dad'].map((k) => nsExec(ns, ['cat', `/proc/sys/net/ipv6/conf/${VMAC6}/${k}`]).trim());
    assert.deepEqual(sysctls(b), sysctls(a), 'IPv6 on the macvlan as keepalived leaves it');
    const baseParams = (ns: string, base: string) => ['arp_ignore', 'arp_filter'].map((k) => nsExec(ns, ['cat', `/proc/sys/net/ipv4/conf/${base}/${k}`]).trim());
    assert.deepEqual(baseParams(b, db), baseParams(a, da), 'no IPv4 parameter set on the base');
    assert.deepEqual(baseParams(b, db), ['0', '0']);
    assert.match(ruleset(b, db), /table ip6 keepalived \{[^]*nd-router-solicit meta oifkind "macvlan" oif @vmac_set drop/);
    assert.equal(ruleset(b, db).replace(VMAC6, 'VMAC'), ruleset(a, da).replace(VMAC6, 'VMAC'), 'nftables rules as keepalived sets them');

    // The adverts leave from the IPv6 VRRP MAC, sourced from tsvs's base link-local.
    const cap = spawnSync('ip', ['netns', 'exec', a, 'timeout', '5', 'tcpdump', '-c', '1', '-e', '-n', '-i', da, `ip6 proto 112 and src host ${llB}`], { encoding: 'utf8' });
    assert.match(cap.stdout, new RegExp(`^\\S+ ${MAC6} > 33:33:00:00:00:12, .* ${llB} > ff02::12: VRRPv3`, 'm'), cap.stdout + cap.stderr);
    // The peer reaches the VIP on the macvlan (a refused connection is the VIP's host answering).
    const knock = `const s = require('net').connect(9, '${VIP6}'); s.setTimeout(1000, () => { console.log('TIMEOUT'); process.exit(0); }); s.on('error', (e) => { console.log(e.code); process.exit(0); }).on('connect', () => { console.log('OPEN'); process.exit(0); });`;
    const answer = () => spawnSync('ip', ['netns', 'exec', a, process.execPath, '-e', knock], { encoding: 'utf8' }).stdout.trim();
    assert.ok((await waitFor(() => answer() === 'ECONNREFUSED', 5000, 200)) >= 0, `the VIP answers: ${answer()}`);

    // tsvs stops: keepalived takes over; tsvs's macvlan and nftables table are gone.
    tsvs.kill('SIGTERM');
    await new Promise((r) => tsvs.once('exit', r));
    assert.ok((await waitFor(() => vip(a, VMAC6, VIP6), 8_000)) >= 0, 'keepalived took over');
    assert.equal(exists(b, VMAC6), false, 'tsvs removed its macvlan at stop');
    assert.equal(ruleset(b, db).trim(), '', 'and its nftables table');
    // Back: tsvs preempts again, over its macvlan.
    const again = start();
    assert.ok((await waitFor(() => vip(b, VMAC6, VIP6) && !vip(a, VMAC6, VIP6), 15_000)) >= 0, 'tsvs preempted again');
    again.kill('SIGTERM');
    await new Promise((r) => again.once('exit', r));
    ka.kill('SIGTERM');
  });
});
