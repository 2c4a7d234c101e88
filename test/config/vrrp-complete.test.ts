import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keepalivedTestExit, type Diagnostic } from '../../src/config/desired.ts';
import { parseKeepalived } from '../../src/config/keepalived.ts';
import type { HostInterface } from '../../src/config/keepalived/context.ts';
import { memorySource } from '../../src/config/source.ts';

const MAIN = '/etc/keepalived/keepalived.conf';
const HOST: ReadonlyMap<string, HostInterface> = new Map([
  ['eth0', { loopback: false, multicast: true }],
  ['eth1', { loopback: false, multicast: true }],
  ['lo', { loopback: true, multicast: false }],
  ['tun0', { loopback: false, multicast: false }],
]);
const ka = (text: string) => parseKeepalived(MAIN, memorySource({ [MAIN]: text }), { interfaces: HOST });
const said = (ds: readonly Diagnostic[]) => ds.map((d) => d.message);
const instance = (body: string, global = '') =>
  `${global ? `global_defs {\n${global}\n}\n` : ''}vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n${body}\n virtual_ipaddress {\n  10.0.0.100/24\n }\n}\n`;

// What keepalived 2.2.7 does once the file is read (vrrp_complete_instance), each checked against
// keepalived -t: its words, and the instance tsvs then runs.
const CASES: { name: string; text: string; says: string[]; refused?: boolean; check?: (i: NonNullable<ReturnType<typeof ka>['state']>['vrrp']['instances'][number]) => void }[] = [
  { name: 'AH authentication with an initial MASTER state: cleared to BACKUP, AH kept', text: instance(' state MASTER\n priority 150\n authentication {\n  auth_type AH\n  auth_pass x\n }'),
    says: ['(VI_1) Initial state master is incompatible with AH authentication - clearing'],
    check: (i) => { assert.equal(i.state, 'BACKUP'); assert.deepEqual(i.authentication, { auth_type: 'AH', auth_pass: 'x' }); } },
  { name: 'smtp_alert not written takes global_defs smtp_alert_vrrp, then smtp_alert', text: 'global_defs {\n smtp_alert\n smtp_alert_vrrp false\n}\n' + instance(''),
    says: [], check: (i) => assert.equal(i.smtp_alert, false) },
  { name: 'smtp_alert written wins over global_defs', text: 'global_defs {\n smtp_alert_vrrp false\n}\n' + instance(' smtp_alert'),
    says: [], check: (i) => assert.equal(i.smtp_alert, true) },
  { name: 'global_defs smtp_alert (after the instance, as keepalived completes after reading) turns it on', text: instance('') + 'global_defs {\n smtp_alert yes\n}\n',
    says: [], check: (i) => assert.equal(i.smtp_alert, true) },
  { name: 'use_vmac: vrrp.VRID and the VRRP MAC by default', text: instance(' use_vmac'),
    says: [], check: (i) => assert.deepEqual(i.vmac, { name: 'vrrp.51', mac: '00:00:5e:00:01:33', xmit_base: false }) },
  { name: 'use_vmac for IPv6: the IPv6 VRRP MAC 00:00:5e:00:02:VRID', text: instance(' use_vmac').replace('10.0.0.100/24', 'fd00::100/64'),
    says: [], check: (i) => assert.deepEqual(i.vmac, { name: 'vrrp.51', mac: '00:00:5e:00:02:33', xmit_base: false }) },
  { name: 'use_vmac NAME MAC (5 octets: the VRID is the sixth), vmac_xmit_base', text: instance(' use_vmac vm0 02:11:22:33:44\n vmac_xmit_base'),
    says: [], check: (i) => assert.deepEqual(i.vmac, { name: 'vm0', mac: '02:11:22:33:44:33', xmit_base: true }) },
  { name: 'use_vmac with a multicast or RFC 5798 MAC: the MAC is ignored', text: instance(' use_vmac 01:00:00:00:00:01 00:00:5e:00:01:07'),
    says: ['VMAC MAC address is multicast 01:00:00:00:00:01 - ignoring', 'VMAC MAC address not allowed to be RFC5798 address (00:00:5e:00:01:07) - ignoring'] },
  { name: 'a one-line authentication block: no password, no authentication', text: instance(' authentication { auth_type PASS auth_pass s3cret }'),
    says: ['(VI_1) Authentication specified but no password given. Ignoring'], check: (i) => assert.equal(i.authentication, undefined) },
  { name: 'VRRPv3 has no authentication', text: instance(' version 3\n authentication {\n  auth_type PASS\n  auth_pass x\n }'),
    says: ['(VI_1) VRRP version 3 does not support authentication. Ignoring.'], check: (i) => assert.equal(i.authentication, undefined) },
  { name: 'vrrp_strict: no authentication, MASTER only as address owner', text: instance(' state MASTER\n priority 150\n authentication {\n  auth_type PASS\n  auth_pass x\n }', ' vrrp_strict'),
    says: ['(VI_1) State MASTER must match being address owner', '(VI_1) Strict mode does not support authentication. Ignoring.'], check: (i) => { assert.equal(i.state, 'BACKUP'); assert.equal(i.authentication, undefined); } },
  { name: 'vrrp_strict: preempt_delay reset', text: instance(' preempt_delay 5', ' vrrp_strict'), says: ['(VI_1) preempt_delay is incompatible with strict mode - resetting'], check: (i) => assert.equal(i.preempt_delay, 0) },
  { name: 'MASTER without a priority is the address owner (255); nopreempt cannot work then', text: instance(' state MASTER\n nopreempt'),
    says: ['(VI_1) nopreempt is incompatible with priority 255. resetting nopreempt'], check: (i) => { assert.equal(i.priority, 255); assert.equal(i.nopreempt, false); } },
  { name: 'VRRPv2 advert_int is whole seconds', text: instance(' advert_int 1.5'), says: ['(VI_1) VRRPv2 advertisement interval 1.500000s must be an integer. rounding'], check: (i) => assert.equal(i.advert_int, 2) },
  { name: 'VRRP on lo is refused', text: instance('').replace('interface eth0', 'interface lo'), says: ['(VI_1) cannot use a loopback interface (lo) for vrrp - ignoring'], refused: true },
  { name: 'an interface the host does not have is refused', text: instance('').replace('interface eth0', 'interface eth9'), says: ['WARNING - interface eth9 for vrrp_instance VI_1 doesn\'t exist'], refused: true },
  { name: 'an interface without multicast needs unicast peers', text: instance('').replace('interface eth0', 'interface tun0'), says: ['(VI_1) interface tun0 does not support multicast, specify unicast peers - disabling'], refused: true },
  { name: 'a virtual route without an interface cannot be tracked; a malformed destination drops its line; the good one is kept as keepalived sends it', text: instance(' virtual_routes {\n  10.1.0.0/16 via 10.0.0.254\n  192.168.100./24 dev eth0\n }'),
    says: ['Warning - cannot track route 10.1.0.0/16 with no interface specified, not tracking', 'VRRP parsed invalid IP 192.168.100./24. skipping IP...', 'unknown route keyword 192.168.100./24'],
    check: (i) => assert.deepEqual(i.virtual_routes, [{ family: 4, dst: '10.1.0.0', dstLen: 16, type: 1, typeGiven: false, table: 254, protocol: 18, via: '10.0.0.254', noTrack: true }]) },
  { name: 'virtual routes: types, tables by name or number, metric, src, scope, IPv6', text: instance(' virtual_routes {\n  blackhole 10.2.0.0/16 table 100 no_track\n  unreachable 10.3.0.0/16 no_track\n  to 10.9.0.0/16 dev eth0\n  default via 10.0.0.254 dev eth0 table main metric 7 src 10.0.0.100\n  10.4.0.0/24 dev eth1 scope link no_track protocol static\n  fd00:1::/64 via fd00::fe dev eth0\n }'),
    says: [], check: (i) => assert.deepEqual(i.virtual_routes, [
      { family: 4, dst: '10.2.0.0', dstLen: 16, type: 6, typeGiven: true, table: 100, protocol: 18, noTrack: true },
      { family: 4, dst: '10.3.0.0', dstLen: 16, type: 7, typeGiven: true, table: 254, protocol: 18, noTrack: true },
      { family: 4, dst: '10.9.0.0', dstLen: 16, type: 1, typeGiven: false, table: 254, protocol: 18, dev: 'eth0' },
      { family: 4, dst: null, dstLen: 0, type: 1, typeGiven: false, table: 254, protocol: 18, via: '10.0.0.254', dev: 'eth0', prefsrc: '10.0.0.100', metric: 7 },
      { family: 4, dst: '10.4.0.0', dstLen: 24, type: 1, typeGiven: false, table: 254, protocol: 4, scope: 253, dev: 'eth1', noTrack: true },
      { family: 6, dst: 'fd00:1::', dstLen: 64, type: 1, typeGiven: false, table: 254, protocol: 18, via: 'fd00::fe', dev: 'eth0' },
    ]) },
  { name: 'a route word tsvs does not set is said at its line (config-test fails); an unknown table drops the line; `to TYPE` is refused as keepalived 2.2.7 refuses it', text: instance(' virtual_routes {\n  10.5.0.0/16 dev eth0 encap mpls 100\n  10.6.0.0/16 dev eth0 table nosuchtable\n  to blackhole 10.7.0.0/16\n }'),
    says: ["virtual_routes 'mpls' is accepted but not implemented by tsvs (the route is set without it)", 'Routing table nosuchtable not found for route', 'unknown route keyword blackhole'],
    check: (i) => assert.deepEqual(i.virtual_routes.map((r) => r.dst), ['10.5.0.0']) },
  { name: 'route times in the kernel\'s units (rtt 1/8000 s, rttvar 1/4000 s, rto_min ms) held to 200 ms..120 s, locks, congctl, realms, pref, expires, ttl-propagate, encap ip/ip6, a path\'s realms', text: instance(' virtual_routes {\n  10.11.0.0/16 dev eth0 rtt 300ms rttvar lock 1.5s rto_min 250 congctl lock cubic realms 3/4\n  10.12.0.0/16 dev eth0 rtt 100ms rttvar 130s\n  fd00:12::/64 dev eth0 pref high expires 300\n  10.13.0.0/16 dev eth0 encap ip id 5 dst 10.2.2.2 ttl 9 tos 0x10 ttl-propagate enabled\n  10.14.0.0/16 dev eth0 encap ip6 dst fd00::9 hoplimit 3 nexthop via 10.0.0.3 dev eth0 realms 5 encap ip id 1 nexthop via 10.0.0.4 dev eth1\n }'),
    says: [], check: (i) => assert.deepEqual(i.virtual_routes.map(({ family, metrics, lock, congctl, realms, pref, expires, ttlPropagate, encap, nexthops }) => ({ family, metrics, lock, congctl, realms, pref, expires, ttlPropagate, encap, nexthops })), [
      { family: 4, metrics: { 4: 2400, 5: 6000, 13: 250 }, lock: (1 << 5) | (1 << 16), congctl: 'cubic', realms: 0x30004, pref: undefined, expires: undefined, ttlPropagate: undefined, encap: undefined, nexthops: undefined },
      { family: 4, metrics: { 4: 1600, 5: 480000 }, lock: undefined, congctl: undefined, realms: undefined, pref: undefined, expires: undefined, ttlPropagate: undefined, encap: undefined, nexthops: undefined },
      { family: 6, metrics: undefined, lock: undefined, congctl: undefined, realms: undefined, pref: 1, expires: 300, ttlPropagate: undefined, encap: undefined, nexthops: undefined },
      { family: 4, metrics: undefined, lock: undefined, congctl: undefined, realms: undefined, pref: undefined, expires: undefined, ttlPropagate: 1, encap: { type: 'ip', id: '5', dst: '10.2.2.2', ttl: 9, tos: 16 }, nexthops: undefined },
      { family: 4, metrics: undefined, lock: undefined, congctl: undefined, realms: undefined, pref: undefined, expires: undefined, ttlPropagate: undefined, encap: { type: 'ip6', dst: 'fd00::9', ttl: 3 }, nexthops: [{ via: '10.0.0.3', dev: 'eth0', realms: 5 }, { via: '10.0.0.4', dev: 'eth1' }] },
    ]) },
  { name: 'route words refused as keepalived 2.2.7 refuses them (each checked with keepalived -t)', text: instance(' virtual_routes {\n  10.15.0.0/16 dev eth0 expires 5\n  10.16.0.0/16 dev eth0 rtt 2e3\n  10.18.0.0/16 dev eth0 encap ip ttl 3\n  fd00:20::/64 dev eth0 realms 4\n  10.21.0.0/16 dev eth0 ttl-propagate maybe\n  10.22.0.0/16 dev eth0 encap bogus\n  10.24.0.0/16 dev eth0 as to 10.1.1.1\n  10.25.0.0/16 dev eth0 rtt 1.2345s\n }'),
    says: ['expires is only valid for IPv6', 'Invalid rtt 2e3 for route', 'address or id missing for ip encapsulation', 'realms are only valid for IPv4', 'ttl-propagate value maybe not recognised', 'Unknown encap type - bogus', '"as to" for MPLS only - ignoring', "number '1.2345' has too many decimal places"],
    check: (i) => assert.deepEqual(i.virtual_routes.map((r) => [r.dst, r.metrics?.[4]]), [['10.18.0.0', undefined], ['10.21.0.0', undefined], ['10.22.0.0', undefined], ['10.24.0.0', undefined], ['10.25.0.0', 9880]]) },
  { name: 'multipath routes: keepalived\'s older `via A or B`, and nexthop lists with weights', text: instance(' virtual_routes {\n  10.8.0.0/16 via 10.0.0.253 or 10.0.0.252 no_track\n  10.9.0.0/16 dev eth0 nexthop via 10.0.0.251 dev eth0 weight 3 nexthop via 10.0.0.250 dev eth1\n  10.10.0.0/16 dev eth0 nexthop via 10.0.0.249 weight 0\n }'),
    says: ['"or" for routes is deprecated. Please use "nexthop"', 'Invalid weight 0 specified for route'], check: (i) => assert.deepEqual(i.virtual_routes.map((r) => r.nexthops), [
      [{ via: '10.0.0.253' }, { via: '10.0.0.252' }],
      [{ via: '10.0.0.251', dev: 'eth0', weight: 3 }, { via: '10.0.0.250', dev: 'eth1' }],
    ]) },
  { name: 'virtual rules: selectors, actions, preference; a malformed address drops the line', text: instance(' virtual_rules {\n  from 10.0.0.0/24 table 100 priority 100\n  to 10.7.0.0/16 fwmark 0x10/0xff iif eth0 lookup 1000 preference 101\n  from 10.8.0.1 blackhole priority 102 no_track\n  from 192.168.100./24 table 100 priority 103\n }'),
    says: ['VRRP parsed invalid IP 192.168.100./24. skipping IP...', 'Invalid rule from address 192.168.100./24'],
    check: (i) => assert.deepEqual(i.virtual_rules, [
      { family: 4, action: 1, table: 100, priority: 100, from: '10.0.0.0', fromLen: 24, protocol: 18 },
      { family: 4, action: 1, table: 1000, priority: 101, to: '10.7.0.0', toLen: 16, fwmark: 16, fwmask: 255, iif: 'eth0', protocol: 18 },
      { family: 4, action: 6, priority: 102, from: '10.8.0.1', fromLen: 32, noTrack: true },
    ]) },
  { name: 'track_file: the file\'s weight by default, the instance\'s own weight and reverse', text: 'track_file f1 {\n file /tmp/f1\n weight 3\n}\ntrack_file f2 {\n file /tmp/f2\n}\n' + instance(' track_file {\n  f1\n  f2 weight -5 reverse\n }'),
    says: [], check: (i) => assert.deepEqual(i.track_file, [{ name: 'f1', weight: 3, reverse: false }, { name: 'f2', weight: -5, reverse: true }]) },
  { name: 'track_file of an address owner: the default weight becomes 0, an explicit weight drops the file', text: 'track_file f1 {\n file /tmp/f1\n}\ntrack_file f2 {\n file /tmp/f2\n weight 4\n}\n' + instance(' priority 255\n track_file {\n  f1\n  f2\n }'),
    says: ['(VI_1) ignoring weight from tracked file f1 due to address_owner. specify weight 0', '(VI_1) ignoring tracked file f2 with weight 4 due to address_owner'],
    check: (i) => assert.deepEqual(i.track_file, [{ name: 'f1', weight: 0, reverse: false }]) },
  { name: 'vrrp_garp_interval 0 is invalid', text: instance('', ' vrrp_garp_interval 0'), says: ["number '0' outside range [0.000001, 4294.967295]", "vrrp_garp_interval '0' is invalid"] },
  { name: 'a track_script names a vrrp_script defined before it', text: instance(' track_script {\n  chk\n }') + 'vrrp_script chk {\n script /bin/true\n}\n',
    says: ['(VI_1) track script chk not found, ignoring...'], check: (i) => assert.deepEqual(i.track_script, []) },
  { name: 'the virtual router id is required (VRRP does not start)', text: instance('').replace(' virtual_router_id 51\n', ''), says: ['(VI_1) the virtual router id must be set'], refused: true },
  // The multicast group (vrrp.c vrrp_complete_instance): mcast_dst_ip, else the global default of the family; unicast peers win.
  { name: 'vrrp_mcast_group4 is the default group of IPv4 instances', text: instance('', ' vrrp_mcast_group4 224.0.0.19'), says: [], check: (i) => assert.equal(i.mcast_dst_ip, '224.0.0.19') },
  { name: 'vrrp_mcast_group6 is the default group of IPv6 instances (not of IPv4 ones)', text: instance('', ' vrrp_mcast_group6 ff02::13').replace('10.0.0.100/24', 'fd00::100/64'), says: [], check: (i) => assert.equal(i.mcast_dst_ip, 'ff02::13') },
  { name: 'vrrp_mcast_group6 leaves IPv4 instances on 224.0.0.18', text: instance('', ' vrrp_mcast_group6 ff02::13'), says: [], check: (i) => assert.equal(i.mcast_dst_ip, undefined) },
  { name: 'no group written: no mcast_dst_ip (the transports use 224.0.0.18 / ff02::12)', text: instance(''), says: [], check: (i) => assert.equal(i.mcast_dst_ip, undefined) },
  { name: 'mcast_dst_ip overrides vrrp_mcast_group4 (global_defs written after the instance too)', text: instance(' mcast_dst_ip 224.0.0.20') + 'global_defs {\n vrrp_mcast_group4 224.0.0.19\n}\n', says: [], check: (i) => assert.equal(i.mcast_dst_ip, '224.0.0.20') },
  { name: 'mcast_dst_ip for IPv6, written in any form, kept canonical', text: instance(' mcast_dst_ip FF02:0::0:13').replace('10.0.0.100/24', 'fd00::100/64'), says: [], check: (i) => assert.equal(i.mcast_dst_ip, 'ff02::13') },
  { name: 'unicast peers win over mcast_dst_ip', text: instance(' mcast_dst_ip 224.0.0.20\n unicast_peer {\n  10.0.0.2\n }'), says: ['(VI_1) multicast destination specified with unicast - ignoring'], check: (i) => assert.equal(i.mcast_dst_ip, undefined) },
  { name: 'unicast peers win over vrrp_mcast_group4, silently', text: instance(' unicast_peer {\n  10.0.0.2\n }', ' vrrp_mcast_group4 224.0.0.19'), says: [], check: (i) => assert.equal(i.mcast_dst_ip, undefined) },
  { name: 'mcast_dst_ip malformed: skipped', text: instance(' mcast_dst_ip 224.0.0.'), says: ['(VI_1) malformed mcast dest address 224.0.0.. Skipping...'], check: (i) => assert.equal(i.mcast_dst_ip, undefined) },
  { name: 'mcast_dst_ip not multicast: skipped', text: instance(' mcast_dst_ip 10.0.0.9'), says: ['(VI_1) mcast_dst_ip 10.0.0.9 not multicast. Skipping...'], check: (i) => assert.equal(i.mcast_dst_ip, undefined) },
  { name: 'IPv6 mcast_dst_ip must be link-local multicast', text: instance(' mcast_dst_ip ff05::12').replace('10.0.0.100/24', 'fd00::100/64'), says: ['(VI_1) mcast_dst_ip ff05::12 not link-local multicast. Skipping...'], check: (i) => assert.equal(i.mcast_dst_ip, undefined) },
  { name: 'mcast_dst_ip of the other family: skipped', text: instance(' mcast_src_ip 10.0.0.1\n mcast_dst_ip ff02::12'), says: ['(VI_1) mcast dest address ff02::12 MUST match VRRP instance family. Skipping...'], check: (i) => assert.equal(i.mcast_dst_ip, undefined) },
  { name: 'vrrp_mcast_group4 unparsable, IPv6, not multicast: skipped in keepalived\'s words', text: instance('', ' vrrp_mcast_group4 224.0.0\n vrrp_mcast_group4 ff02::12\n vrrp_mcast_group4 10.0.0.9'),
    says: ["Can't parse vrrp_mcast_group4 [224.0.0]. Skipping", 'vrrp_mcast_group4 [ff02::12] is not IPv4. Skipping', 'vrrp_mcast_group4 [10.0.0.9] is not multicast. Skipping'], check: (i) => assert.equal(i.mcast_dst_ip, undefined) },
  { name: 'vrrp_mcast_group6 not IPv6 or not multicast: skipped; not link-local: a warning, and used', text: instance('', ' vrrp_mcast_group6 224.0.0.19\n vrrp_mcast_group6 fd00::1\n vrrp_mcast_group6 ff05::12').replace('10.0.0.100/24', 'fd00::100/64'),
    says: ['vrrp_mcast_group6 [224.0.0.19] is not IPv6. Skipping', 'vrrp_mcast_group6 [fd00::1] is not multicast. Skipping', 'vrrp_mcast_group6 [ff05::12] should be link-local multicast.'], check: (i) => assert.equal(i.mcast_dst_ip, 'ff05::12') },
];
for (const c of CASES) {
  test(`VRRP completed as keepalived completes it: ${c.name}`, () => {
    const r = ka(c.text);
    for (const m of c.says) assert.ok(said(r.diagnostics).includes(m), `${m} in ${JSON.stringify(said(r.diagnostics))}`);
    assert.equal(r.state === null, c.refused === true, JSON.stringify(said(r.diagnostics)));
    assert.equal(keepalivedTestExit(r.diagnostics, r.state === null), c.says.length ? 5 : 0, JSON.stringify(said(r.diagnostics)));
    if (c.check && r.state) c.check(r.state.vrrp.instances[0]!);
  });
}

test('SMTP_CHECK: one checker per host block, each with its own connection; the first host is the checker when it has none of its own', () => {
  const r = ka('virtual_server 10.0.0.1 25 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n real_server 10.0.0.2 25 {\n  SMTP_CHECK {\n   helo_name lb\n   retry 2\n   host {\n    connect_ip 10.0.0.3\n    connect_port 2525\n   }\n   host {\n    connect_ip 10.0.0.4\n   }\n  }\n }\n}\n');
  const cks = r.state!.services[0]!.reals[0]!.checkers;
  assert.deepEqual(cks, [
    { type: 'SMTP_CHECK', helo_name: 'lb', retry: 2, connect_ip: '10.0.0.3', connect_port: 2525 },
    { type: 'SMTP_CHECK', helo_name: 'lb', retry: 2, connect_ip: '10.0.0.4' },
  ]);
  const own = ka('virtual_server 10.0.0.1 25 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n real_server 10.0.0.2 25 {\n  SMTP_CHECK {\n   connect_port 26\n   host {\n    connect_ip 10.0.0.3\n   }\n  }\n }\n}\n');
  assert.deepEqual(own.state!.services[0]!.reals[0]!.checkers, [{ type: 'SMTP_CHECK', connect_port: 26 }, { type: 'SMTP_CHECK', connect_ip: '10.0.0.3' }]);
});
