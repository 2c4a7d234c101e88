/**
 * VRRPv3 over IPv6 (RFC 5798): encoding pieces (pure) and interoperation with Debian's keepalived
 * in network namespaces (root only): an IPv6 virtual address moves between tsvs and keepalived.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, isRoot, hasAddr, waitFor, sleep, nsExec, sh } from '../helpers/netns.ts';
import { buildUnsolicitedNa, ipv6Bytes, parseIpv6Cmsgs, sockaddrIn6 } from '../../src/ha/vrrp-transport6.ts';
import { vrrpFamily } from '../../src/ha/vrrp-instance.ts';

const haveKeepalived = existsSync('/usr/sbin/keepalived');
const skip = !isRoot ? 'needs root (network namespaces, raw sockets)' : !haveKeepalived ? 'keepalived not installed (run scripts/setup.sh)' : false;
if (skip) console.log(`# skipping VRRP IPv6 keepalived interop test: ${skip}`);

const VIP = 'fd00:98::100';

test('an instance runs over IPv6 only when all its virtual addresses are IPv6', () => {
  const a = (addr: string) => ({ addr, prefix: 64, extra: [] });
  for (const [vips, af] of [
    [[a('fd00::1')], 6],
    [[a('fd00::1'), a('fd00::2')], 6],
    [[a('10.0.0.1')], 4],
    [[a('10.0.0.1'), a('fd00::1')], 4],
    [[], 4],
  ] as const) assert.equal(vrrpFamily({ virtual_ipaddress: vips }), af, JSON.stringify(vips));
});

test('unsolicited neighbour advertisement: type 136, override flag, target and its link-layer option', () => {
  const mac = new Uint8Array([2, 0, 0, 0xaa, 0xbb, 0xcc]);
  const na = buildUnsolicitedNa(ipv6Bytes('fd00:98::100'), mac);
  assert.equal(na.length, 32);
  assert.equal(na[0], 136);
  assert.equal(na[4], 0x20);
  assert.deepEqual([...na.subarray(8, 24)], [0xfd, 0, 0, 0x98, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
  assert.deepEqual([...na.subarray(24, 32)], [2, 1, ...mac]);
});

test('sockaddr_in6 carries family, address and scope id', () => {
  const sa = sockaddrIn6(ipv6Bytes('ff02::12'), 7);
  assert.equal(sa.length, 28);
  assert.equal(sa.readUInt16LE(0), 10);
  assert.equal(sa[8], 0xff);
  assert.equal(sa[23], 0x12);
  assert.equal(sa.readUInt32LE(24), 7);
});

test('control messages: hop limit and packet-info destination are read, other cmsgs skipped', () => {
  const ctl = new Uint8Array(128);
  const dv = new DataView(ctl.buffer);
  // An unrelated cmsg (level 1, type 29, 4 bytes of data) first, then pktinfo, then hop limit.
  dv.setBigUint64(0, 20n, true); dv.setInt32(8, 1, true); dv.setInt32(12, 29, true);
  dv.setBigUint64(24, 36n, true); dv.setInt32(32, 41, true); dv.setInt32(36, 50, true);
  ctl.set(ipv6Bytes('ff02::12'), 40); dv.setInt32(56, 3, true);
  dv.setBigUint64(64, 20n, true); dv.setInt32(72, 41, true); dv.setInt32(76, 52, true); dv.setInt32(80, 254, true);
  const r = parseIpv6Cmsgs(ctl, 88);
  assert.equal(r.hopLimit, 254);
  assert.equal(r.ifindex, 3);
  assert.deepEqual(r.dst, ipv6Bytes('ff02::12'));
  assert.equal(parseIpv6Cmsgs(ctl, 0).hopLimit, -1, 'no control data: no hop limit (the advert then fails the 255 check)');
});

function conf(dev: string, prio: number): string {
  return `global_defs {\n  vrrp_version 3\n}\nvrrp_instance VI_6 {\n  state BACKUP\n  interface ${dev}\n  virtual_router_id 61\n  priority ${prio}\n  advert_int 1\n  virtual_ipaddress {\n    ${VIP}/64\n  }\n}\n`;
}

/** Two namespaces joined by a veth pair without DAD, keepalived in one and `tsvs vrrp` in the other. */
async function pair(kaPrio: number, tsvsPrio: number) {
  const lab = new Lab('v6');
  const a = lab.ns('ka');
  const b = lab.ns('tv');
  const da = `v${process.pid % 100000}a6`;
  const db = `v${process.pid % 100000}b6`;
  sh('ip', ['-n', a, 'link', 'add', da, 'type', 'veth', 'peer', 'name', db, 'netns', b]);
  // No duplicate address detection, so link-local addresses are usable as soon as links are up.
  nsExec(a, ['sysctl', '-qw', `net.ipv6.conf.${da}.accept_dad=0`]);
  nsExec(b, ['sysctl', '-qw', `net.ipv6.conf.${db}.accept_dad=0`]);
  nsExec(a, ['ip', 'addr', 'add', 'fd00:98::1/64', 'dev', da, 'nodad']);
  nsExec(b, ['ip', 'addr', 'add', 'fd00:98::2/64', 'dev', db, 'nodad']);
  nsExec(a, ['ip', 'link', 'set', da, 'up']);
  nsExec(b, ['ip', 'link', 'set', db, 'up']);
  await sleep(200);
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-ka6-'));
  writeFileSync(join(dir, 'ka.conf'), conf(da, kaPrio));
  writeFileSync(join(dir, 'tsvs.conf'), conf(db, tsvsPrio));
  const startKeepalived = () => lab.spawnIn(a, 'keepalived', ['-n', '-l', '-P', '-f', join(dir, 'ka.conf'), '-p', join(dir, 'ka.pid'), '-r', join(dir, 'vrrp.pid')]);
  const startTsvs = () => {
    const c = lab.spawnIn(b, process.execPath, ['bin/tsvs.mjs', 'vrrp', '--keepalived', join(dir, 'tsvs.conf')]);
    const log = { text: '' };
    c.stdout!.on('data', (d: Buffer) => (log.text += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (log.text += d.toString()));
    return { c, log };
  };
  return { lab, a, b, da, db, startKeepalived, startTsvs };
}

test('VRRPv3 over IPv6: tsvs (150) becomes master over keepalived (100), hands over on SIGTERM, preempts on return', { skip, timeout: 60_000 }, async () => {
  const { lab, a, b, da, db, startKeepalived, startTsvs } = await pair(100, 150);
  try {
    startKeepalived();
    // keepalived alone becomes master first (after 3 x advert + skew), then tsvs preempts.
    assert.ok((await waitFor(() => hasAddr(a, da, VIP), 10_000)) >= 0, 'keepalived alone became master');
    // Linux ignores an unsolicited NA unless it already has an entry: seed a stale one with a
    // bogus MAC, which tsvs's NA (override flag) must replace.
    nsExec(a, ['ip', '-6', 'neigh', 'replace', VIP, 'lladdr', '02:00:00:00:00:01', 'dev', da, 'nud', 'stale']);
    let tv = startTsvs();
    assert.ok((await waitFor(() => hasAddr(b, db, VIP), 10_000)) >= 0, `tsvs took the IPv6 VIP\n${tv.log.text}`);
    assert.ok((await waitFor(() => !hasAddr(a, da, VIP), 5_000)) >= 0, 'keepalived gave the VIP up');
    await sleep(2500);
    assert.ok(!hasAddr(a, da, VIP), 'keepalived stays backup while tsvs advertises over IPv6');
    assert.ok(hasAddr(b, db, VIP), 'tsvs stays master');
    // tsvs's unsolicited neighbour advertisements override keepalived's neighbour entry for the
    // VIP. The first burst can land while keepalived still holds the VIP (a node ignores NAs for
    // its own address); the second burst, garp_master_delay (5 s) later, finds it gone.
    const macB = nsExec(b, ['cat', `/sys/class/net/${db}/address`]).trim();
    let neigh = '';
    const overridden = await waitFor(() => (neigh = nsExec(a, ['ip', '-6', 'neigh', 'show', VIP, 'dev', da])).includes(macB), 8_000);
    assert.ok(overridden >= 0, `neighbour entry for the VIP points at tsvs (${macB}): ${neigh}`);
    tv.c.kill('SIGTERM');
    const handover = await waitFor(() => hasAddr(a, da, VIP), 5_000);
    assert.ok(handover >= 0, 'keepalived took over after tsvs resigned');
    assert.ok(!hasAddr(b, db, VIP), 'tsvs removed the VIP when stopping');
    console.log(`# IPv6 handover to keepalived after SIGTERM: ${handover.toFixed(0)} ms`);
    tv = startTsvs();
    assert.ok((await waitFor(() => hasAddr(b, db, VIP) && !hasAddr(a, da, VIP), 10_000)) >= 0, 'tsvs preempted on return');
  } finally {
    await lab.cleanup();
  }
});

test('VRRPv3 over IPv6: tsvs (100) accepts keepalived\'s (150) adverts, stays backup, and takes over at once when keepalived resigns', { skip, timeout: 60_000 }, async () => {
  const { lab, a, b, da, db, startKeepalived, startTsvs } = await pair(150, 100);
  try {
    const ka = startKeepalived();
    assert.ok((await waitFor(() => hasAddr(a, da, VIP), 10_000)) >= 0, 'keepalived (150) became master');
    const tv = startTsvs();
    // Longer than master_down_interval (3 x 1 s + skew): only received, valid adverts keep tsvs backup.
    await sleep(5000);
    assert.ok(!hasAddr(b, db, VIP), `tsvs (100) stays backup\n${tv.log.text}`);
    assert.doesNotMatch(tv.log.text, /dropped/, 'no advert was dropped (checksum, hop limit, version)');
    ka.kill('SIGTERM'); // keepalived resigns with a priority 0 advert
    const takeover = await waitFor(() => hasAddr(b, db, VIP), 5_000);
    assert.ok(takeover >= 0 && takeover < 1500, `tsvs took over after the priority 0 advert (${takeover.toFixed(0)} ms)`);
    console.log(`# IPv6 takeover by tsvs after keepalived resigned: ${takeover.toFixed(0)} ms`);
  } finally {
    await lab.cleanup();
  }
});
