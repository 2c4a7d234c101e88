import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  largenum, renderConnections, renderDaemons, renderList, renderSave, renderTimeouts,
} from '../../src/ipvsadm/index.ts';
import type { SyncResolver } from '../../src/ipvsadm/index.ts';
import type { ConnSnapshot, DestSpec, IpvsInfo, ServiceSpec } from '../../src/core/types.ts';
import { destSnap, svcSnap } from './fake-backend.ts';

// Expected texts below are written by hand from ipvsadm.c's printf formats.
const INFO: IpvsInfo = { version: '1.2.1', connTableSize: 4096 };
const S = (p: Partial<ServiceSpec>): ServiceSpec => ({
  af: 4, fwmark: 0, protocol: 'tcp', addr: '10.0.0.1', port: 80, scheduler: 'wlc', flags: 0, timeout: 0,
  netmask: 0xffffffff, pe: '', ...p,
});
const D = (p: Partial<DestSpec>): DestSpec => ({
  af: 4, addr: '10.0.0.2', port: 80, fwd: 'route', weight: 1, uThreshold: 0, lThreshold: 0,
  tunType: 'ipip', tunPort: 0, tunCsum: 'nocsum', ...p,
});

test('render -Ln: header, title, sorted services and dests, trailing spaces of InActConn', () => {
  const services = [
    svcSnap(S({ protocol: 'udp', port: 53, scheduler: 'rr' }), [
      destSnap(D({ addr: '10.0.0.4', port: 53, fwd: 'tunnel', weight: 65535 }), { inactConns: 4294967295 }),
    ]),
    svcSnap(S({}), [
      destSnap(D({ addr: '10.0.0.3' }), { activeConns: 5, inactConns: 12 }),
      destSnap(D({ addr: '10.0.0.2', fwd: 'masq', weight: 2 })),
    ]),
  ];
  const want =
    'IP Virtual Server version 1.2.1 (size=4096)\n' +
    'Prot LocalAddress:Port Scheduler Flags\n' +
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
    'TCP  10.0.0.1:80 wlc\n' +
    '  -> 10.0.0.2:80                  Masq    2      0          0         \n' +
    '  -> 10.0.0.3:80                  Route   1      5          12        \n' +
    'UDP  10.0.0.1:53 rr\n' +
    '  -> 10.0.0.4:53                  Tunnel  65535  0          4294967295\n';
  assert.equal(renderList(services, { numeric: true }, INFO), want);
});

test('render -L: service flags, persistence, mask, pe, ops; fwmark and IPv6 lines; sort by fwmark, af, proto', () => {
  const services = [
    svcSnap(S({ af: 6, fwmark: 6, addr: '::', port: 0, scheduler: 'wrr', netmask: 128 }), [
      destSnap(D({ af: 6, addr: '2001:db8::10', port: 0, weight: 3 })),
    ]),
    svcSnap(S({ fwmark: 5, addr: '0.0.0.0', port: 0, scheduler: 'rr', flags: 1, timeout: 100, netmask: 0xffff0000 })),
    svcSnap(S({ af: 6, addr: '2001:db8::1', port: 443, scheduler: 'mh', flags: 1 | 8, timeout: 60, netmask: 64 })),
    svcSnap(S({ protocol: 'udp', addr: '10.0.0.2', port: 53, flags: 4 | 0x20, pe: 'sip' })),
    svcSnap(S({ port: 0, scheduler: 'sh', flags: 1 | 8 | 16, timeout: 360, netmask: 0xffffff00, pe: 'sip' })),
  ];
  const want =
    'IP Virtual Server version 1.2.1 (size=4096)\n' +
    'Prot LocalAddress:Port Scheduler Flags\n' +
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
    'TCP  10.0.0.1:0 sh (sh-fallback,sh-port) persistent 360 mask 255.255.255.0 pe sip\n' +
    'UDP  10.0.0.2:53 wlc (flag-3) ops\n' +
    'TCP  [2001:db8::1]:443 mh (mh-fallback) persistent 60 mask 64\n' +
    'FWM  5 rr persistent 100 mask 255.255.0.0\n' +
    'FWM  6 IPv6 wrr\n' +
    '  -> [2001:db8::10]:0             Route   3      0          0         \n';
  assert.equal(renderList(services, { numeric: true }, INFO), want);
});

test('render -L without info is list_service(): title and the entry only', () => {
  const s = svcSnap(S({}), [destSnap(D({}))]);
  assert.equal(renderList([s], { numeric: true }),
    'Prot LocalAddress:Port Scheduler Flags\n' +
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
    'TCP  10.0.0.1:80 wlc\n' +
    '  -> 10.0.0.2:80                  Route   1      0          0         \n');
});

const NAMES: SyncResolver = {
  addrToHost: (_af, a) => ({
    '10.0.0.1': 'a-very-long-host-name.example.com', '10.0.0.2': 'rs.example', '10.0.0.3': 'a-very-long-host-name.example.com',
  } as Record<string, string>)[a] ?? null,
  portToService: (p, proto) => (p === 80 && proto === 'tcp' ? 'http' : null),
  hostToAddr: () => null,
  serviceToPort: () => null,
};

test('render -L with names: /etc/services ports, reverse names, IPv4 names cut to 33/28 columns', () => {
  const s = svcSnap(S({}), [destSnap(D({ addr: '10.0.0.3' })), destSnap(D({}))]);
  const want =
    'Prot LocalAddress:Port Scheduler Flags\n' +
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
    'TCP  a-very-long-host-name.exampl wlc\n' +
    '  -> rs.example:http              Route   1      0          0         \n' +
    '  -> a-very-long-host-name.exampl Route   1      0          0         \n';
  assert.equal(renderList([s], { names: NAMES }), want);
  // -n never consults the resolver
  assert.ok(renderList([s], { names: NAMES, numeric: true }).includes('TCP  10.0.0.1:80 wlc\n'));
});

test('largenum: K/M/G/T scaling at 10^8, 10^9, 10^11, 10^14 and --exact widths', () => {
  const table: Array<[number, string, string]> = [
    [0, '        0', '        0'],
    [99999999, ' 99999999', ' 99999999'],
    [100000000, '  100000K', ' 100000000'],
    [999999999, '  999999K', ' 999999999'],
    [1000000000, '    1000M', ' 1000000000'],
    [99999999999, '   99999M', ' 99999999999'],
    [100000000000, '     100G', ' 100000000000'],
    [99999999999999, '   99999G', ' 99999999999999'],
    [123456789012345, '     123T', ' 123456789012345'],
  ];
  for (const [v, scaled, exact] of table) {
    assert.equal(largenum(v, false), scaled, `scaled ${v}`);
    assert.equal(largenum(v, true), exact, `exact ${v}`);
  }
});

test('render --stats and --stats --exact', () => {
  const stats = { conns: 99999999, inpkts: 100000000, outpkts: 1000000000, inbytes: 99999999999999, outbytes: 123456789012345 };
  const s = svcSnap(S({}), [destSnap(D({}), { stats: { conns: 1, inpkts: 2, outpkts: 3, inbytes: 4, outbytes: 5 } })], { stats });
  assert.equal(renderList([s], { numeric: true, stats: true }, INFO),
    'IP Virtual Server version 1.2.1 (size=4096)\n' +
    'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n' +
    '  -> RemoteAddress:Port\n' +
    'TCP  10.0.0.1:80                  99999999  100000K    1000M   99999G     123T\n' +
    '  -> 10.0.0.2:80                         1        2        3        4        5\n');
  assert.equal(renderList([s], { numeric: true, stats: true, exact: true }),
    'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n' +
    '  -> RemoteAddress:Port\n' +
    'TCP  10.0.0.1:80                  99999999 100000000 1000000000 99999999999999 123456789012345\n' +
    '  -> 10.0.0.2:80                         1        2        3        4        5\n');
});

test('render --rate: dest CPS/InPPS/OutPPS raw %8llu, bytes through largenum', () => {
  const rates = { cps: 1, inpps: 2, outpps: 3, inbps: 400000000, outbps: 5 };
  const s = svcSnap(S({}), [destSnap(D({}), { rates: { cps: 123456789, inpps: 7, outpps: 8, inbps: 100000000, outbps: 9 } })], { rates });
  assert.equal(renderList([s], { numeric: true, rate: true }),
    'Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n' +
    '  -> RemoteAddress:Port\n' +
    'TCP  10.0.0.1:80                         1        2        3  400000K        5\n' +
    '  -> 10.0.0.2:80                  123456789        7        8  100000K        9\n');
});

test('render --thresholds, --persistent-conn and --tun-info rows', () => {
  const s = svcSnap(S({}), [
    destSnap(D({ addr: '10.0.0.5', fwd: 'tunnel', tunType: 'gre', tunCsum: 'csum', uThreshold: 100, lThreshold: 50 }), { activeConns: 3, inactConns: 4, persistConns: 7 }),
    destSnap(D({ addr: '10.0.0.4', fwd: 'tunnel', tunType: 'gue', tunPort: 6080, tunCsum: 'remcsum' })),
    destSnap(D({ addr: '10.0.0.3', fwd: 'tunnel' })),
    destSnap(D({ fwd: 'masq', weight: 7 })),
  ]);
  assert.equal(renderList([s], { numeric: true, thresholds: true }),
    'Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn \n' +
    '  -> RemoteAddress:Port\n' +
    'TCP  10.0.0.1:80 wlc\n' +
    '  -> 10.0.0.2:80                  0          0          0          0         \n' +
    '  -> 10.0.0.3:80                  0          0          0          0         \n' +
    '  -> 10.0.0.4:80                  0          0          0          0         \n' +
    '  -> 10.0.0.5:80                  100        50         3          4         \n');
  assert.equal(renderList([s], { numeric: true, persistentConn: true }),
    'Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn \n' +
    '  -> RemoteAddress:Port\n' +
    'TCP  10.0.0.1:80 wlc\n' +
    '  -> 10.0.0.2:80                  7         0           0          0         \n' +
    '  -> 10.0.0.3:80                  1         0           0          0         \n' +
    '  -> 10.0.0.4:80                  1         0           0          0         \n' +
    '  -> 10.0.0.5:80                  1         7           3          4         \n');
  assert.equal(renderList([s], { numeric: true, tunInfo: true }),
    'Prot LocalAddress:Port Scheduler Flags\n' +
    '  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n' +
    'TCP  10.0.0.1:80 wlc\n' +
    '  -> 10.0.0.2:80                  Masq    n/a           7      0          0         \n' +
    '  -> 10.0.0.3:80                  Tunnel  ipip          1      0          0         \n' +
    '  -> 10.0.0.4:80                  Tunnel  gue:6080:r+c  1      0          0         \n' +
    '  -> 10.0.0.5:80                  Tunnel  gre:+c        1      3          4         \n');
});

test('sort quirk: addresses more than 2^31 apart compare backwards (signed int subtraction)', () => {
  const services = [
    svcSnap(S({ addr: '1.0.0.1' }), [destSnap(D({ addr: '1.0.0.2' })), destSnap(D({ addr: '200.0.0.2' })), destSnap(D({ addr: '100.0.0.2' }))]),
    svcSnap(S({ addr: '200.0.0.1' })),
  ];
  const out = renderList(services, { numeric: true }, INFO).split('\n').slice(3);
  assert.deepEqual(out, [
    'TCP  200.0.0.1:80 wlc',
    'TCP  1.0.0.1:80 wlc',
    // glibc merge sort of [1.0.0.2, 200.0.0.2, 100.0.0.2]: left [1.0.0.2], right sorts to
    // [100.0.0.2, 200.0.0.2]; 1.0.0.2 vs 100.0.0.2 is a normal comparison, so 1.0.0.2 leads.
    '  -> 1.0.0.2:80                   Route   1      0          0         ',
    '  -> 100.0.0.2:80                 Route   1      0          0         ',
    '  -> 200.0.0.2:80                 Route   1      0          0         ',
    '',
  ]);
  const two = renderList([svcSnap(S({}), [destSnap(D({ addr: '1.0.0.2' })), destSnap(D({ addr: '200.0.0.2' }))])], { numeric: true });
  assert.ok(two.indexOf('200.0.0.2') < two.indexOf('1.0.0.2:'), two);
});

test('--nosort keeps kernel order of services and dests (newest dest first)', () => {
  const services = [
    svcSnap(S({ addr: '10.0.0.9' }), [destSnap(D({ addr: '10.0.0.3' })), destSnap(D({ addr: '10.0.0.2' }))]),
    svcSnap(S({ addr: '10.0.0.1' })),
  ];
  const out = renderList(services, { numeric: true, nosort: true }, INFO).split('\n').slice(3).map((l) => l.trimEnd());
  assert.deepEqual(out, [
    'TCP  10.0.0.9:80 wlc',
    '  -> 10.0.0.3:80                  Route   1      0          0',
    '  -> 10.0.0.2:80                  Route   1      0          0',
    'TCP  10.0.0.1:80 wlc',
    '',
  ]);
});

test('render -S: rules for every service kind, forwarding method and tunnel type', () => {
  const services = [
    svcSnap(S({ af: 6, fwmark: 6, addr: '::', port: 0, scheduler: 'wrr', netmask: 128 })),
    svcSnap(S({ fwmark: 5, addr: '0.0.0.0', port: 0, scheduler: 'rr' }), [destSnap(D({ addr: '10.0.0.9', port: 0 }))]),
    svcSnap(S({ af: 6, addr: '2001:db8::1', port: 443, scheduler: 'mh', flags: 1 | 16, timeout: 60, netmask: 64 })),
    svcSnap(S({ protocol: 'udp', port: 53, scheduler: 'sh', flags: 1 | 4 | 8 | 16, timeout: 360, netmask: 0xffffff00, pe: 'sip' })),
    svcSnap(S({ protocol: 'sctp', port: 5060, pe: 'sip' })),
    svcSnap(S({}), [
      destSnap(D({ addr: '10.0.0.6', fwd: 'tunnel' })),
      destSnap(D({ addr: '10.0.0.5', fwd: 'tunnel', tunType: 'gre', tunCsum: 'csum' })),
      destSnap(D({ addr: '10.0.0.4', fwd: 'tunnel', tunType: 'gue', tunPort: 6080, tunCsum: 'csum' })),
      destSnap(D({ addr: '10.0.0.3', uThreshold: 9, lThreshold: 3 })),
      destSnap(D({ fwd: 'masq', weight: 2, port: 8080 })),
      destSnap(D({ addr: '10.0.0.7', fwd: 'local' })),
    ]),
  ];
  assert.equal(renderSave(services, true),
    '-A -t 10.0.0.1:80 -s wlc\n' +
    '-a -t 10.0.0.1:80 -r 10.0.0.2:8080 -m -w 2\n' +
    '-a -t 10.0.0.1:80 -r 10.0.0.3:80 -g -w 1\n' +
    '-a -t 10.0.0.1:80 -r 10.0.0.4:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum\n' +
    '-a -t 10.0.0.1:80 -r 10.0.0.5:80 -i -w 1 --tun-type gre --tun-csum\n' +
    '-a -t 10.0.0.1:80 -r 10.0.0.6:80 -i -w 1 --tun-type ipip\n' +
    '-a -t 10.0.0.1:80 -r 10.0.0.7:80 -g -w 1\n' +
    '-A -u 10.0.0.1:53 -s sh -p 360 -M 255.255.255.0 --pe sip -o -b sh-fallback,sh-port\n' +
    '-A --sctp-service 10.0.0.1:5060 -s wlc --pe sip\n' +
    '-A -t [2001:db8::1]:443 -s mh -p 60 -M 64 -b mh-port\n' +
    '-A -f 5 -s rr\n' +
    '-a -f 5 -r 10.0.0.9:0 -g -w 1\n' +
    '-A -f 6 -6 -s wrr\n');
  assert.equal(renderSave([svcSnap(S({}), [destSnap(D({}))])], false, NAMES),
    '-A -t a-very-long-host-name.example.com:http -s wlc\n-a -t a-very-long-host-name.example.com:http -r rs.example:http -g -w 1\n');
});

test('render -S: fwmark above INT_MAX prints as a negative %d and sorts before fwmark 0', () => {
  const out = renderSave([svcSnap(S({})), svcSnap(S({ fwmark: 4294967295, addr: '0.0.0.0', port: 0 }))], true);
  assert.equal(out, '-A -f -1 -s wlc\n-A -t 10.0.0.1:80 -s wlc\n');
});

const CONNS: ConnSnapshot[] = [
  { af: 4, protocol: 'TCP', expiresIn: 899.7, state: 'ESTABLISHED', caddr: '192.168.0.5', cport: 40000, vaddr: '10.0.0.1', vport: 80, daddr: '10.0.0.2', dport: 80, template: false },
  { af: 4, protocol: 'UDP', expiresIn: 300, state: 'UDP', caddr: '192.168.0.6', cport: 5353, vaddr: '10.0.0.1', vport: 53, daddr: '10.0.0.4', dport: 53, template: false },
  { af: 4, protocol: 'IP', expiresIn: 6000, state: 'NONE', caddr: '192.168.0.5', cport: 0, vaddr: '0.0.0.0', vport: 0, daddr: '10.0.0.2', dport: 0, template: true },
  { af: 6, protocol: 'TCP', expiresIn: 59, state: 'SYN_RECV', caddr: '2001:db8::5', cport: 1234, vaddr: '2001:db8::1', vport: 443, daddr: '2001:db8::10', dport: 443, template: false },
  { af: 4, protocol: 'IP', expiresIn: 120, state: 'NONE', caddr: '192.168.0.7', cport: 0, vaddr: '10.0.0.1', vport: 5060, daddr: '10.0.0.8', dport: 5060, template: true, peName: 'sip', peData: 'abc123' },
];

test('render -Lc: MM:SS expiry (minutes not capped), IP templates, IPv6, table order', () => {
  assert.equal(renderConnections(CONNS, { numeric: true }),
    'IPVS connection entries\n' +
    'pro expire state       source             virtual            destination\n' +
    'TCP 14:59  ESTABLISHED 192.168.0.5:40000  10.0.0.1:80        10.0.0.2:80\n' +
    'UDP 05:00  UDP         192.168.0.6:5353   10.0.0.1:53        10.0.0.4:53\n' +
    'IP  100:00 NONE        192.168.0.5:0      0.0.0.0:0          10.0.0.2:0\n' +
    'TCP 00:59  SYN_RECV    [2001:db8::5]:1234 [2001:db8::1]:443  [2001:db8::10]:443\n' +
    'IP  02:00  NONE        192.168.0.7:0      10.0.0.1:5060      10.0.0.8:5060\n');
});

test('render -Lc --persistent-conn: pe columns for entries with PE data', () => {
  const out = renderConnections([CONNS[0]!, CONNS[4]!], { numeric: true, persistentConn: true });
  assert.equal(out,
    'IPVS connection entries\n' +
    'pro expire state       source             virtual            destination        pe name          pe_data\n' +
    'TCP 14:59  ESTABLISHED 192.168.0.5:40000  10.0.0.1:80        10.0.0.2:80\n' +
    'IP  02:00  NONE        192.168.0.7:0      10.0.0.1:5060      10.0.0.8:5060    sip                abc123\n');
});

test('render -Lc without -n resolves names; template (IP) ports stay numeric', () => {
  const out = renderConnections([CONNS[0]!, CONNS[2]!], { names: NAMES });
  assert.equal(out.split('\n')[2], 'TCP 14:59  ESTABLISHED 192.168.0.5:40000  a-very-long-host-name.example.com:http rs.example:http');
  assert.equal(out.split('\n')[3], 'IP  100:00 NONE        192.168.0.5:0      0.0.0.0:0          rs.example:0');
});

test('render --timeout and --daemon', () => {
  assert.equal(renderTimeouts({ tcp: 900, tcpfin: 120, udp: 300 }), 'Timeout (tcp tcpfin udp): 900 120 300\n');
  assert.equal(renderDaemons([]), '');
  assert.equal(renderDaemons([
    { state: 'backup', mcastIfn: 'lo', syncid: 9, maxlen: 0, group: '', port: 0, ttl: 0 },
    { state: 'master', mcastIfn: 'eth0', syncid: 0, maxlen: 1472, group: '224.0.0.81', port: 8848, ttl: 1 },
  ]),
  'master sync daemon (mcast=eth0, syncid=0, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n' +
  'backup sync daemon (mcast=lo, syncid=9)\n');
});
