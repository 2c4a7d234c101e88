/**
 * What the differential suite (differential.test.ts) found keepalived 2.2.7 and ldirectord 4.12
 * doing with a file that tsvs read otherwise, each pinned here on a small file of its own: the
 * peers' behaviour (read from their source and checked against the real programs), not ours.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keepalivedTestExit, type Diagnostic } from '../../src/config/desired.ts';
import { parseKeepalived } from '../../src/config/keepalived.ts';
import { readHexStr } from '../../src/config/keepalived/checkers/udp.ts';
import { MAX_GROUP_MEMBERS } from '../../src/config/keepalived/virtual-server-group.ts';
import { inetAton, ldirectordRealStart, parseLdirectord } from '../../src/config/ldirectord.ts';
import { loadConfig } from '../../src/config/load.ts';
import { memorySource } from '../../src/config/source.ts';
import { FakeScriptHost } from '../../src/health/fakes.ts';

const KA = '/etc/keepalived/keepalived.conf';
const LD = '/etc/ha.d/ldirectord.cf';
const ka = (text: string) => parseKeepalived(KA, memorySource({ [KA]: text }));
const ld = (text: string) => parseLdirectord(LD, memorySource({ [LD]: text }));
const kaLoad = (text: string) => loadConfig(KA, { format: 'keepalived', source: memorySource({ [KA]: text }), interfaces: null, scriptHost: new FakeScriptHost({ everyScriptExists: true }) });
const said = (ds: readonly Diagnostic[], severity: 'error' | 'warning' | 'note') =>
  ds.filter((d) => (severity === 'note' ? d.ka === 'none' : d.severity === severity && d.ka !== 'none')).map((d) => d.message);

// ---- ldirectord: real= read with its unanchored pattern, hosts with getaddrinfo ----

const ATON: readonly [string, string | null][] = [
  ['5060', '0.0.19.196'], ['10.1', '10.0.0.1'], ['10.1.2', '10.1.0.2'], ['0x10.1', '16.0.0.1'], ['010.0.0.1', '8.0.0.1'],
  ['192.168.6.2', '192.168.6.2'], ['1.2.3.4.5', null], ['192.168.6.', null], ['256.1', null], ['4294967296', null], ['web', null], ['08', null],
];
for (const [host, want] of ATON) {
  test(`ldirectord host '${host}' resolves as glibc's getaddrinfo(AF_INET) reads numbers: ${want ?? 'not a number'}`, () => {
    assert.equal(inetAton(host), want);
  });
}

const REAL_START: readonly [string, number | null][] = [
  ['192.168.6.2:5060 gate', 0], ['192.168.6.2->192.168.6.9:80 masq 2', 0], ['[2001:db8::1]:80 gate', 0],
  ['192.168.6.2::5060 gate', 13], ['gate', null],
];
for (const [value, want] of REAL_START) {
  test(`ldirectord reads real=${value} from offset ${want}`, () => {
    assert.equal(ldirectordRealStart(value), want);
  });
}

test('ldirectord real=HOST::PORT (its own sample) is accepted as ldirectord reads it: host 0.0.19.196, duplicates noted and dropped', () => {
  const r = ld('virtual=192.168.6.240:5060\n\treal=192.168.6.2::5060 gate\n\treal=192.168.6.3::5060 gate\n\tprotocol=udp\n\tscheduler=rr\n');
  assert.deepEqual(said(r.diagnostics, 'error'), []);
  assert.deepEqual(said(r.diagnostics, 'warning'), []);
  assert.deepEqual(r.state!.services[0]!.reals.map((x) => x.key), ['0.0.19.196:5060']);
  const notes = said(r.diagnostics, 'note');
  assert.ok(notes.some((m) => /skips '192\.168\.6\.2::' and reads the real server from '5060 gate'/.test(m)), notes.join('\n'));
  assert.ok(notes.some((m) => /'5060' is read as the address 0\.0\.19\.196/.test(m)), notes.join('\n'));
  assert.ok(notes.some((m) => /real server 0\.0\.19\.196:5060 is listed twice; the first one is used/.test(m)), notes.join('\n'));
});

test('ldirectord stops at its first error: later problems are not reported, a note says how many', () => {
  const r = ld('quiescent=maybe\nvirtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate\nscheduler=rr\nflavour=mint\n');
  assert.equal(r.state, null);
  assert.deepEqual(r.diagnostics.filter((d) => d.severity === 'error').map((d) => [d.line, d.message]), [[1, "quiescent must be 'yes' or 'no'"]]);
  assert.match(said(r.diagnostics, 'note').join('\n'), /ldirectord stops at this error; 2 later problem\(s\) not reported/);
});

// ---- keepalived ----

const HEX: readonly [string, boolean, string | null][] = [
  ['00010000', false, '00010000'], ['00 01 0000', false, '00010000'], ['1 2 ab', false, '0102ab'], ['abc', false, 'ab0c'],
  ['00010000 require_reply connect_timeout 2 }', false, null], ['0g', false, null], ['', false, null],
  ['5xX0', true, '5000'], ['5x', false, null],
];
for (const [text, wild, want] of HEX) {
  test(`keepalived read_hex_str('${text}'${wild ? ', wildcards' : ''}) = ${want ?? 'invalid'}`, () => {
    assert.equal(readHexStr(text, wild)?.hex ?? null, want);
  });
}

test('UDP_CHECK payload on a one-line block: keepalived reads the rest of the line as hex and says it is invalid; no payload is sent', () => {
  const r = ka('virtual_server 10.0.0.1 53 {\n lb_algo rr\n lb_kind DR\n protocol UDP\n real_server 10.0.0.2 53 {\n  UDP_CHECK { payload 00010000 require_reply connect_timeout 2 }\n }\n}\n');
  assert.ok(said(r.diagnostics, 'warning').includes('Invalid hex string for UDP_CHECK payload'), JSON.stringify(r.diagnostics));
  assert.equal(keepalivedTestExit(r.diagnostics, !r.state), 5);
});

test('UDP_CHECK payload and require_reply split over several words are read as one hex string', () => {
  const r = ka('virtual_server 10.0.0.1 53 {\n lb_algo rr\n lb_kind DR\n protocol UDP\n real_server 10.0.0.2 53 {\n  UDP_CHECK {\n   payload 00 01 00 00\n   require_reply 50 4f\n  }\n }\n}\n');
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(r.state!.services[0]!.reals[0]!.checkers[0], { type: 'UDP_CHECK', payload: '00010000', require_reply: '504f' });
});

test('a virtual server defined twice is accepted as keepalived runs it: the second block\'s real servers join the first service, whose settings stay', () => {
  const block = (rs: string, algo: string) => `virtual_server 192.168.50.100 80 {\n lb_algo ${algo}\n lb_kind DR\n protocol TCP\n real_server ${rs} 80 {\n  weight 1\n }\n real_server 192.168.50.11 80 {\n  weight 5\n }\n}\n`;
  const r = ka(block('192.168.50.10', 'rr') + block('192.168.50.12', 'wlc'));
  assert.deepEqual(said(r.diagnostics, 'error'), []);
  assert.equal(keepalivedTestExit(r.diagnostics, !r.state), 0);
  assert.equal(r.state!.services.length, 1);
  const v = r.state!.services[0]!;
  assert.equal(v.spec.scheduler, 'rr');
  assert.deepEqual(v.reals.map((x) => [x.key, x.dest.weight]), [['192.168.50.10:80', 1], ['192.168.50.11:80', 5], ['192.168.50.12:80', 1]]);
  assert.match(said(r.diagnostics, 'note').join('\n'), /defined twice \(first at .*:1\): as keepalived does/);
});

test('a virtual_server_group range is taken whole, as keepalived takes it: 2001:db8::0-ffff is 65536 services; a group past the reader\'s bound is refused', () => {
  const r = ka('virtual_server_group G {\n 2001:db8::0-ffff 80\n}\nvirtual_server group G {\n lb_algo rr\n lb_kind DR\n protocol TCP\n real_server 2001:db8:1::1 80 {\n }\n}\n');
  assert.deepEqual(said(r.diagnostics, 'error'), []);
  assert.equal(r.state!.services.length, 65536);
  assert.deepEqual([r.state!.services[0]!.spec.addr, r.state!.services[65535]!.spec.addr], ['2001:db8::', '2001:db8::ffff']);
  const lines = Array.from({ length: MAX_GROUP_MEMBERS / 65536 + 1 }, (_, i) => ` 2001:db8:${i.toString(16)}::0-ffff 80`).join('\n');
  const big = ka(`virtual_server_group G {\n${lines}\n}\n`);
  assert.match(said(big.diagnostics, 'error').join('\n'), /virtual_server_group has too many addresses \(more than 1048576\)/);
});

const GROUP_FAMILY: readonly [string, string, string, number, RegExp | null][] = [
  ['IPv4 and IPv6 addresses, an IPv4 real server', '10.0.0.0-255 80\n 2001:db8::0-ffff 80', '10.1.1.1', 0, /virtual server group with IPv4 & IPv6 doesn't match virtual server \[G\] \(IPv4\) - ignoring/],
  ['IPv4 addresses, an IPv6 real server', '10.0.0.1-3 80', '2001:db8:1::1', 0, /G: address family doesn't match virtual server \[G\] \(IPv6\) - ignoring/],
  ['IPv4 addresses, an IPv4 real server', '10.0.0.1-3 80', '10.1.1.1', 3, null],
];
for (const [name, entries, rs, services, note] of GROUP_FAMILY) {
  test(`virtual_server_group family as keepalived's link_vsg_to_vs sees it: ${name} -> ${services} service(s), silently for -t`, () => {
    const r = ka(`virtual_server_group G {\n ${entries}\n}\nvirtual_server group G {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n real_server ${rs} 80 {\n }\n}\n`);
    assert.deepEqual(said(r.diagnostics, 'error'), []);
    assert.deepEqual(said(r.diagnostics, 'warning'), []);
    assert.equal(r.state!.services.length, services);
    if (note) assert.match(said(r.diagnostics, 'note').join('\n'), note);
  });
}

test('scripts in a file with errors: keepalived still checks them (SECURITY VIOLATION, exit 6) before it drops the bad instance', () => {
  const r = kaLoad('vrrp_script chk {\n script "/usr/bin/true"\n}\nvrrp_instance VI_1 {\n interface eth0\n priority 100\n virtual_ipaddress {\n  10.0.0.9\n }\n track_script {\n  chk\n }\n}\n');
  assert.equal(r.state, null);
  assert.deepEqual(said(r.diagnostics, 'error'), ['(VI_1) the virtual router id must be set']);
  assert.ok(said(r.diagnostics, 'warning').some((m) => m.startsWith('SECURITY VIOLATION - scripts are being executed')), JSON.stringify(r.diagnostics));
  assert.equal(keepalivedTestExit(r.diagnostics, true), 6);
});
