/**
 * keepalived's nftables entries for use_vmac: one table per family, shared by the instances'
 * macvlans; an entry leaves with its macvlan and the table with the family's last one; a failing
 * nft is a logged value, never a throw. (The rules themselves are compared with keepalived's in
 * test/ha/vrrp-vmac.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VmacFirewall, vmacFirewallAdd } from '../../src/ha/vrrp-firewall.ts';

test('the IPv6 script adds the map, the set, the chain with both rules, and the macvlan to map and set', () => {
  const s = vmacFirewallAdd({ family: 6, vmac: 'vrrp.66', base: 'eth0' });
  assert.match(s, /^add table ip6 keepalived$/m);
  assert.match(s, /^add element ip6 keepalived vmac_map \{ "vrrp\.66" : "eth0" \}$/m);
  assert.match(s, /^add element ip6 keepalived vmac_set \{ "vrrp\.66" \}$/m);
  assert.match(s, /mld2-listener-report .* dup to ip6 daddr device oif map @vmac_map drop/);
  assert.doesNotMatch(vmacFirewallAdd({ family: 4, vmac: 'vrrp.1', base: 'eth0' }), /vmac_set|icmpv6/);
});

test('the rules are added with the family\'s first macvlan only, and the shared out chain is never flushed', () => {
  const ran: string[] = [];
  const fw = new VmacFirewall(() => {}, (script) => { ran.push(script); return { ok: true }; });
  fw.add({ family: 4, vmac: 'vrrp.1', base: 'eth0' });
  fw.add({ family: 4, vmac: 'vrrp.2', base: 'eth0' });
  fw.add({ family: 6, vmac: 'vrrp.3', base: 'eth0' });
  assert.deepEqual(ran.map((s) => (s.match(/add rule/g) ?? []).length), [1, 0, 2]);
  assert.ok(ran.every((s) => !/flush/.test(s)));
});

test('entries leave one by one; the family\'s table goes with its last macvlan; the other family\'s stays', () => {
  const ran: string[] = [];
  const fw = new VmacFirewall(() => {}, (script) => { ran.push(script.trim()); return { ok: true }; });
  fw.add({ family: 4, vmac: 'vrrp.1', base: 'eth0' });
  fw.add({ family: 4, vmac: 'vrrp.2', base: 'eth0' });
  fw.add({ family: 6, vmac: 'vrrp.3', base: 'eth0' });
  ran.length = 0;
  fw.remove('vrrp.1');
  fw.remove('vrrp.3');
  fw.remove('vrrp.2');
  fw.remove('vrrp.2');
  assert.deepEqual(ran, ['delete element ip keepalived vmac_map { "vrrp.1" }', 'delete table ip6 keepalived', 'delete table ip keepalived']);
});

test('nft failing is logged and the macvlan is not counted', () => {
  const warned: string[] = [];
  const fw = new VmacFirewall((m) => warned.push(m), () => ({ ok: false, error: 'Error: Could not process rule: No such file or directory' }));
  fw.add({ family: 4, vmac: 'vrrp.1', base: 'eth0' });
  fw.remove('vrrp.1');
  assert.equal(warned.length, 1);
  assert.match(warned[0]!, /cannot add the rules for VMAC vrrp\.1: Error: Could not process rule/);
});
