/**
 * The /proc/net/ip_vs* renderers against the kernel's formats: prometheus/procfs's fixture (taken
 * from a real kernel; its tool trimmed trailing blanks) and the exact seq_printf formats of
 * ip_vs_ctl.c / ip_vs_conn.c, trailing blanks included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderIpVs, renderIpVsConn, renderIpVsStats, pI6 } from '../../src/observe/procfs.ts';
import { SVC_F, type ConnSnapshot } from '../../src/core/types.ts';
import { dest, service } from './fixtures.ts';

const INFO = { version: '1.2.1', connTableSize: 4096 };

test('ip_vs: the table of prometheus/procfs\'s fixture renders as its lines', () => {
  const t = (addr: string, w: number, a: number, i: number) => dest(addr, 3306, { fwd: 'tunnel', weight: w, activeConns: a, inactConns: i });
  const r = (addr: string, port: number, w: number, a: number, i: number) => dest(addr, port, { fwd: 'route', weight: w, activeConns: a, inactConns: i });
  const text = renderIpVs([
    service({ addr: '192.168.0.22', port: 3306, dests: [t('192.168.82.22', 100, 248, 2), t('192.168.83.24', 100, 248, 2), t('192.168.83.21', 100, 248, 1)] }),
    service({ addr: '192.168.0.57', port: 3306, dests: [t('192.168.84.22', 0, 0, 0), t('192.168.82.21', 100, 1499, 0), t('192.168.50.21', 100, 1498, 0)] }),
    service({ addr: '192.168.0.55', port: 3306, dests: [t('192.168.50.26', 0, 0, 0), t('192.168.49.32', 100, 0, 0)] }),
    service({ addr: '2620::1', port: 80, scheduler: 'sh', dests: [r('2620::2', 80, 1, 0, 0), r('2620::3', 80, 1, 0, 0), r('2620::4', 80, 1, 1, 1)] }),
    service({ addr: '0.0.0.0', port: 0, fwmark: 0x10001000, dests: [r('192.168.50.26', 3306, 0, 0, 1), r('192.168.50.21', 3306, 0, 0, 2)] }),
  ], INFO);
  const want = [
    'IP Virtual Server version 1.2.1 (size=4096)',
    'Prot LocalAddress:Port Scheduler Flags',
    '  -> RemoteAddress:Port Forward Weight ActiveConn InActConn',
    'TCP  C0A80016:0CEA wlc',
    '  -> C0A85216:0CEA      Tunnel  100    248        2',
    '  -> C0A85318:0CEA      Tunnel  100    248        2',
    '  -> C0A85315:0CEA      Tunnel  100    248        1',
    'TCP  C0A80039:0CEA wlc',
    '  -> C0A85416:0CEA      Tunnel  0      0          0',
    '  -> C0A85215:0CEA      Tunnel  100    1499       0',
    '  -> C0A83215:0CEA      Tunnel  100    1498       0',
    'TCP  C0A80037:0CEA wlc',
    '  -> C0A8321A:0CEA      Tunnel  0      0          0',
    '  -> C0A83120:0CEA      Tunnel  100    0          0',
    'TCP  [2620:0000:0000:0000:0000:0000:0000:0001]:0050 sh',
    '  -> [2620:0000:0000:0000:0000:0000:0000:0002]:0050      Route   1      0          0',
    '  -> [2620:0000:0000:0000:0000:0000:0000:0003]:0050      Route   1      0          0',
    '  -> [2620:0000:0000:0000:0000:0000:0000:0004]:0050      Route   1      1          1',
    'FWM  10001000 wlc',
    '  -> C0A8321A:0CEA      Route   0      0          1',
    '  -> C0A83215:0CEA      Route   0      0          2',
  ];
  assert.deepEqual(text.split('\n').map((l) => l.trimEnd()).filter((l) => l), want);
});

const LINES: [string, Parameters<typeof service>[0], string][] = [
  // "%s  %08X:%04X %s %s " + ("persistent %d %08X\n" | "\n"): two blanks when there are no flags
  ['IPv4 plain', { addr: '10.0.0.1', port: 80 }, 'TCP  0A000001:0050 wlc  \n'],
  ['IPv4 one-packet', { addr: '10.0.0.1', port: 53, protocol: 'udp', flags: SVC_F.ONEPACKET }, 'UDP  0A000001:0035 wlc ops  \n'],
  ['IPv4 persistent, timeout in jiffies (HZ 250)', { addr: '10.0.0.1', port: 0, flags: SVC_F.PERSISTENT, timeout: 360, netmask: 0xffffff00 }, 'TCP  0A000001:0000 wlc  persistent 90000 FFFFFF00\n'],
  // "%s  [%pI6]:%04X %s ": no ops; ntohl of the prefix length
  ['IPv6 persistent /128', { addr: '2001:db8::1', port: 443, flags: SVC_F.PERSISTENT | SVC_F.ONEPACKET, timeout: 60, netmask: 128 }, 'TCP  [2001:0db8:0000:0000:0000:0000:0000:0001]:01BB wlc persistent 15000 80000000\n'],
  ['SCTP', { addr: '10.0.0.9', port: 9, protocol: 'sctp', scheduler: 'rr' }, 'SCTP  0A000009:0009 rr  \n'],
  // "FWM  %08X %s %s"
  ['firewall mark', { addr: '0.0.0.0', port: 0, fwmark: 7, scheduler: 'rr' }, 'FWM  00000007 rr \n'],
  ['firewall mark, ops, persistent', { addr: '0.0.0.0', port: 0, fwmark: 7, scheduler: 'rr', flags: SVC_F.ONEPACKET | SVC_F.PERSISTENT, timeout: 1, netmask: 0xffffffff }, 'FWM  00000007 rr ops persistent 250 FFFFFFFF\n'],
];

test('ip_vs service lines keep the kernel\'s blanks, flags, jiffies and masks', () => {
  for (const [what, svc, want] of LINES) {
    const text = renderIpVs([service(svc)], INFO, 250);
    assert.equal(text.split('\n')[3] + '\n', want, what);
  }
  // Address services before firewall-mark ones, whatever the order given.
  const text = renderIpVs([service({ addr: '0.0.0.0', port: 0, fwmark: 1 }), service({ addr: '10.0.0.1', port: 80 })], INFO);
  assert.deepEqual(text.split('\n').slice(3, 5).map((l) => l.slice(0, 3)), ['TCP', 'FWM']);
});

test('ip_vs destination lines: "  -> %08X:%04X      %-7s %-6d %-10d %-10d"', () => {
  const text = renderIpVs([service({ addr: '10.0.0.1', port: 80, dests: [dest('10.1.1.1', 8080, { fwd: 'masq', weight: 65535, activeConns: 1234567890, inactConns: 3 }), dest('2001:db8::a', 80, { fwd: 'local' })] })], INFO);
  assert.equal(text.split('\n')[4], '  -> 0A010101:1F90      Masq    65535  1234567890 3         ');
  assert.equal(text.split('\n')[5], '  -> [2001:0db8:0000:0000:0000:0000:0000:000a]:0050      Local   1      0          0         ');
});

test('ip_vs_stats is procfs\'s fixture for its values', () => {
  const text = renderIpVsStats(
    { conns: 0x16aa370, inpkts: 0xe33656e5, outpkts: 0, inbytes: 0x51d8c8883ab3, outbytes: 0 },
    { cps: 4, inpps: 0x1fb3c, outpps: 0, inbps: 0x1282a8f, outbps: 0 },
  );
  assert.equal(text, [
    '   Total Incoming Outgoing         Incoming         Outgoing',
    '   Conns  Packets  Packets            Bytes            Bytes',
    ' 16AA370 E33656E5        0     51D8C8883AB3                0',
    '',
    ' Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s',
    '       4    1FB3C        0          1282A8F                0',
    '',
  ].join('\n'));
});

const conn = (over: Partial<ConnSnapshot>): ConnSnapshot => ({
  af: 4, protocol: 'TCP', expiresIn: 899.7, state: 'ESTABLISHED', caddr: '192.168.1.10', cport: 40000, vaddr: '10.0.0.1', vport: 80,
  daddr: '10.1.1.1', dport: 8080, template: false, ...over,
});

test('ip_vs_conn: header and "%-3s %08X %04X %08X %04X %s %04X %-11s %7u%s" lines', () => {
  const text = renderIpVsConn([
    conn({}),
    conn({ protocol: 'UDP', state: 'UDP', expiresIn: 5, cport: 53, vport: 53, dport: 53 }),
    conn({ protocol: 'IP', state: 'NONE', template: true, cport: 0, vaddr: '0.0.0.7', vport: 0, dport: 0, expiresIn: 360 }),
    conn({ protocol: 'UDP', state: 'UDP', peName: 'sip', peData: 'call-1@host' }),
    conn({ af: 6, caddr: '2001:db8::10', vaddr: '2001:db8::1', daddr: '2001:db8::a', state: 'SYN_RECV', expiresIn: 59 }),
  ]);
  assert.equal(text, [
    'Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData',
    'TCP C0A8010A 9C40 0A000001 0050 0A010101 1F90 ESTABLISHED     899',
    'UDP C0A8010A 0035 0A000001 0035 0A010101 0035 UDP               5',
    'IP  C0A8010A 0000 00000007 0000 0A010101 0000 NONE            360',
    'UDP C0A8010A 9C40 0A000001 0050 0A010101 1F90 UDP             899 sip call-1@host',
    `TCP ${pI6('2001:db8::10')} 9C40 ${pI6('2001:db8::1')} 0050 ${pI6('2001:db8::a')} 1F90 SYN_RECV         59`,
    '',
  ].join('\n'));
  assert.equal(pI6('2001:db8::10'), '2001:0db8:0000:0000:0000:0000:0000:0010');
});
