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
  { name: 'AH authentication with an initial MASTER state: cleared to BACKUP (then refused: tsvs does not speak AH)', text: instance(' state MASTER\n priority 150\n authentication {\n  auth_type AH\n  auth_pass x\n }'),
    says: ['(VI_1) Initial state master is incompatible with AH authentication - clearing'], refused: true },
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
  { name: 'a virtual route without an interface cannot be tracked, and is not applied by tsvs', text: instance(' virtual_routes {\n  10.1.0.0/16 via 10.0.0.254\n  192.168.100./24 dev eth0\n }'),
    says: ['Warning - cannot track route 10.1.0.0/16 with no interface specified, not tracking', 'VRRP parsed invalid IP 192.168.100./24. skipping IP...', 'unknown route keyword 192.168.100./24',
      '(VI_1) virtual_routes is accepted but not implemented by tsvs (1 route(s) not changed on VRRP transitions); ignored'] },
  { name: 'vrrp_garp_interval 0 is invalid', text: instance('', ' vrrp_garp_interval 0'), says: ["number '0' outside range [0.000001, 4294.967295]", "vrrp_garp_interval '0' is invalid"] },
  { name: 'a track_script names a vrrp_script defined before it', text: instance(' track_script {\n  chk\n }') + 'vrrp_script chk {\n script /bin/true\n}\n',
    says: ['(VI_1) track script chk not found, ignoring...'], check: (i) => assert.deepEqual(i.track_script, []) },
  { name: 'the virtual router id is required (VRRP does not start)', text: instance('').replace(' virtual_router_id 51\n', ''), says: ['(VI_1) the virtual router id must be set'], refused: true },
];
for (const c of CASES) {
  test(`VRRP completed as keepalived completes it: ${c.name}`, () => {
    const r = ka(c.text);
    for (const m of c.says) assert.ok(said(r.diagnostics).includes(m), `${m} in ${JSON.stringify(said(r.diagnostics))}`);
    assert.equal(r.state === null, c.refused === true, JSON.stringify(said(r.diagnostics)));
    assert.equal(keepalivedTestExit(r.diagnostics, r.state === null), 5);
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
