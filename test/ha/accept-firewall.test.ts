/**
 * keepalived's no_accept firewall scripts (pure, and through a recording nft runner): global
 * addresses in their family's `vips` set, link-local IPv6 ones in `vips_link_local` keyed by
 * address . interface, that set and its two drop rules made the first time one is needed. (The
 * rulesets themselves are compared with keepalived 2.2.7's in
 * test/ha/vrrp-noaccept-vmac-keepalived.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptFirewallElements, isLinkLocal6, nftAcceptFirewall } from '../../src/ha/accept-firewall.ts';

const LINK_LOCAL: ReadonlyArray<readonly [string, boolean]> = [
  ['fe80::100', true], ['FE80::1', true], ['febf:ffff::1', true], ['fe9a::1', true],
  ['fec0::1', false], ['fe8::1', false], ['fd00:95::100', false], ['2001:db8::fe80', false], ['10.0.0.1', false],
];
for (const [addr, ll] of LINK_LOCAL) {
  test(`${addr} is ${ll ? '' : 'not '}link-local (fe80::/10)`, () => assert.equal(isLinkLocal6(addr), ll));
}

const ELEMENTS: ReadonlyArray<{ name: string; op: 'add' | 'delete'; f: 4 | 6; addrs: { addr: string; dev: string; byName?: boolean }[]; script: string }> = [
  { name: 'a link-local address matched by name (dont_track_primary) goes in vips_link_local_name', op: 'add', f: 6, addrs: [{ addr: 'fe80::100', dev: 'eth1', byName: true }], script: 'add element ip6 keepalived vips_link_local_name { fe80::100 . "eth1" }\n' },
  { name: 'by name and by index side by side, each in its set; byName means nothing for a global address', op: 'add', f: 6, addrs: [{ addr: 'fe80::100', dev: 'eth0', byName: true }, { addr: 'fe80::101', dev: 'eth1' }, { addr: 'fd00::1', dev: 'eth0', byName: true }], script: 'add element ip6 keepalived vips { fd00::1 }\nadd element ip6 keepalived vips_link_local { fe80::101 . "eth1" }\nadd element ip6 keepalived vips_link_local_name { fe80::100 . "eth0" }\n' },
  { name: 'IPv4 addresses go in ip vips', op: 'add', f: 4, addrs: [{ addr: '10.0.0.1', dev: 'eth0' }, { addr: 'fd00::1', dev: 'eth0' }], script: 'add element ip keepalived vips { 10.0.0.1 }\n' },
  { name: 'a global IPv6 address goes in ip6 vips, without its interface', op: 'add', f: 6, addrs: [{ addr: 'fd00::1', dev: 'eth0' }], script: 'add element ip6 keepalived vips { fd00::1 }\n' },
  { name: 'a link-local address goes in vips_link_local as address . interface', op: 'add', f: 6, addrs: [{ addr: 'fe80::100', dev: 'eth1' }], script: 'add element ip6 keepalived vips_link_local { fe80::100 . "eth1" }\n' },
  { name: 'both kinds, deleted', op: 'delete', f: 6, addrs: [{ addr: 'fe80::100', dev: 'eth1' }, { addr: 'fd00::1', dev: 'eth0' }, { addr: 'fe80::200', dev: 'eth0' }], script: 'delete element ip6 keepalived vips { fd00::1 }\ndelete element ip6 keepalived vips_link_local { fe80::100 . "eth1", fe80::200 . "eth0" }\n' },
  { name: 'nothing of the family, no script', op: 'add', f: 6, addrs: [{ addr: '10.0.0.1', dev: 'eth0' }], script: '' },
];
for (const c of ELEMENTS) {
  test(`elements: ${c.name}`, () => assert.equal(acceptFirewallElements(c.op, c.f, c.addrs), c.script));
}

const recorder = () => {
  const ran: string[] = [];
  return { ran, fw: nftAcceptFirewall((s) => { ran.push(s); return { ok: true }; }) };
};

test('the link-local set and its two rules come with the first link-local address only, after the family\'s setup', () => {
  const { ran, fw } = recorder();
  fw.add('A', [{ addr: 'fd00::100', dev: 'eth0' }]);
  assert.doesNotMatch(ran[0]!, /vips_link_local/);
  fw.add('B', [{ addr: 'fe80::100', dev: 'eth0' }]);
  assert.deepEqual(ran[1]!.trim().split('\n'), [
    'add set ip6 keepalived vips_link_local { type ipv6_addr . iface_index; }',
    'add rule ip6 keepalived in_link_local ip6 daddr . iif @vips_link_local drop',
    'add rule ip6 keepalived out_link_local ip6 saddr . oif @vips_link_local drop',
    'add element ip6 keepalived vips_link_local { fe80::100 . "eth0" }',
  ]);
  fw.add('C', [{ addr: 'fe80::200', dev: 'eth1' }]);
  assert.equal(ran[2], 'add element ip6 keepalived vips_link_local { fe80::200 . "eth1" }\n');
});

test('a first address that is link-local sets the ip6 table up, then its set, then the element', () => {
  const { ran, fw } = recorder();
  fw.add('A', [{ addr: 'fe80::100', dev: 'eth0' }]);
  const lines = ran[0]!.trim().split('\n');
  assert.equal(lines[0], 'add table ip6 keepalived');
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
  assert.ok(at(/goto in_link_local/) < at(/add set .* vips_link_local/) && at(/add set .* vips_link_local/) < at(/add element/));
  assert.ok(at(/add chain ip6 keepalived in_link_local/) >= 0 && at(/add chain ip6 keepalived out_link_local/) >= 0);
});

test('the same link-local address on two interfaces is two elements; one leaves with its owner, the other stays', () => {
  const { ran, fw } = recorder();
  fw.add('A', [{ addr: 'fe80::100', dev: 'eth0' }]);
  fw.add('B', [{ addr: 'fe80::100', dev: 'eth1' }, { addr: 'fe80::100', dev: 'eth0' }]);
  assert.equal(ran[1], 'add element ip6 keepalived vips_link_local { fe80::100 . "eth1" }\n');
  fw.del('A');
  assert.equal(ran.length, 2, 'still held by B: nothing deleted');
  fw.del('B');
  assert.equal(ran[2], 'delete element ip6 keepalived vips_link_local { fe80::100 . "eth1", fe80::100 . "eth0" }\n');
});

test('close removes the tables; a link-local address after it makes the set again', () => {
  const { ran, fw } = recorder();
  fw.add('A', [{ addr: 'fe80::100', dev: 'eth0' }]);
  fw.close();
  assert.equal(ran[1], 'delete table ip6 keepalived\n');
  fw.add('A', [{ addr: 'fe80::100', dev: 'eth0' }]);
  assert.match(ran[2]!, /^add set ip6 keepalived vips_link_local /m);
});

test('dont_track_primary\'s by-name set comes with its first address, with iifname/oifname rules, in the order the addresses came; the by-index set beside it', () => {
  const { ran, fw } = recorder();
  fw.add('A', [{ addr: 'fe80::100', dev: 'eth0', byName: true }, { addr: 'fe80::101', dev: 'eth1' }]);
  const lines = ran[0]!.trim().split('\n');
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
  assert.ok(lines.includes('add set ip6 keepalived vips_link_local_name { type ipv6_addr . ifname; }'));
  assert.ok(lines.includes('add rule ip6 keepalived in_link_local ip6 daddr . iifname @vips_link_local_name drop'));
  assert.ok(lines.includes('add rule ip6 keepalived out_link_local ip6 saddr . oifname @vips_link_local_name drop'));
  assert.ok(at(/add set .* vips_link_local_name/) < at(/add set .* vips_link_local \{/), 'the first address\'s set first');
  fw.del('A');
  assert.equal(ran[1], 'delete element ip6 keepalived vips_link_local { fe80::101 . "eth1" }\ndelete element ip6 keepalived vips_link_local_name { fe80::100 . "eth0" }\n');
  fw.add('B', [{ addr: 'fe80::100', dev: 'eth0', byName: true }]);
  assert.equal(ran[2], 'add element ip6 keepalived vips_link_local_name { fe80::100 . "eth0" }\n', 'the set stays made');
});

test('nft failing throws with nft\'s words', () => {
  const fw = nftAcceptFirewall(() => ({ ok: false, error: 'Error: Interface does not exist' }));
  assert.throws(() => fw.add('A', [{ addr: 'fe80::100', dev: 'nope0' }]), /nftables: Error: Interface does not exist/);
});
