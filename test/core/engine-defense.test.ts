/**
 * The kernel's flood defences (ip_vs_ctl.c update_defense_level, ip_vs_todrop,
 * ip_vs_random_dropentry) with the kernel's sysctl names, modes and defaults: drop_packet drops
 * one new connection in drop_rate (amemthresh / (amemthresh - available) while memory is short in
 * mode 1/2, am_droprate in mode 3); drop_entry expires half-open TCP entries at random while
 * memory is short; modes 1 and 2 switch into each other as the kernel's do.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rig, svcKey } from './engine-rig.ts';
import { DEFAULT_SYSCTLS } from '../../src/core/engine.ts';
import { SVC_F } from '../../src/core/types.ts';

const K = svcKey('tcp', '10.0.0.1', 80);
const rig = (sysctl: Record<string, number>, random: () => number = Math.random): Rig => {
  const r = new Rig({ sysctl, random });
  r.service(K).dest(K, '192.168.1.1', 80, 'route').dest(K, '192.168.1.2', 80, 'route');
  return r;
};
const syn = (r: Rig, i: number) => r.in('tcp', `172.16.${(i >> 8) & 255}.${i & 255}:${10000 + (i % 50000)}`, '10.0.0.1:80', 'S');

test('the defence sysctls default to the kernel\'s: all off, amemthresh 1024 pages, am_droprate 10', () => {
  assert.deepEqual(
    { drop_entry: DEFAULT_SYSCTLS.drop_entry, drop_packet: DEFAULT_SYSCTLS.drop_packet, amemthresh: DEFAULT_SYSCTLS.amemthresh, am_droprate: DEFAULT_SYSCTLS.am_droprate },
    { drop_entry: 0, drop_packet: 0, amemthresh: 1024, am_droprate: 10 },
  );
});

test('drop_packet: 3 drops one new connection in am_droprate; 1 turns on (and becomes 2) only while memory is short, at amemthresh/(amemthresh-avail)', () => {
  const cases: { sysctl: Record<string, number>; avail: number; syns: number; dropped: number; modeAfter: number }[] = [
    { sysctl: { drop_packet: 0 }, avail: 0, syns: 100, dropped: 0, modeAfter: 0 },
    { sysctl: { drop_packet: 3 }, avail: 1e9, syns: 100, dropped: 10, modeAfter: 3 },
    { sysctl: { drop_packet: 3, am_droprate: 4 }, avail: 1e9, syns: 100, dropped: 25, modeAfter: 3 },
    { sysctl: { drop_packet: 1 }, avail: 2048, syns: 100, dropped: 0, modeAfter: 1 },
    // 1024 / (1024 - 512) = 2: every second new connection.
    { sysctl: { drop_packet: 1 }, avail: 512, syns: 100, dropped: 50, modeAfter: 2 },
    // 1024 / (1024 - 0) = 1: every new connection.
    { sysctl: { drop_packet: 1 }, avail: 0, syns: 100, dropped: 100, modeAfter: 2 },
  ];
  for (const c of cases) {
    const r = rig(c.sysctl);
    r.e.defense(c.avail);
    let dropped = 0;
    for (let i = 0; i < c.syns; i++) {
      const v = syn(r, i);
      if (v.action === 'drop') {
        assert.equal(v.reason, 'defense-drop');
        dropped++;
      } else assert.equal(v.action, 'forward');
    }
    const st = r.e.defenseStatus();
    assert.deepEqual({ dropped, mode: st.dropPacket, counted: st.packetsDropped }, { dropped: c.dropped, mode: c.modeAfter, counted: c.dropped }, JSON.stringify(c));
  }
  // Memory back: mode 2 returns to 1 and nothing is dropped.
  const r = rig({ drop_packet: 1 });
  r.e.defense(0);
  assert.equal(r.e.defenseStatus().dropPacket, 2);
  r.e.defense(4096);
  assert.equal(r.e.defenseStatus().dropPacket, 1);
  assert.equal(syn(r, 1).action, 'forward');
});

test('drop_entry: while memory is short, half-open TCP entries are expired at random; established ones and templates stay; mode 2 returns to 1', () => {
  const r = rig({ drop_entry: 1 });
  r.at(1);
  for (let i = 0; i < 2000; i++) syn(r, i);
  // 200 established connections (their handshake ACK seen).
  for (let i = 0; i < 200; i++) r.in('tcp', `172.17.0.${i}:${20000 + i}`, '10.0.0.1:80', 'S');
  for (let i = 0; i < 200; i++) r.in('tcp', `172.17.0.${i}:${20000 + i}`, '10.0.0.1:80', 'A');
  const states = (): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const c of r.e.connections()) out[c.state] = (out[c.state] ?? 0) + 1;
    return out;
  };
  assert.deepEqual(states(), { SYN_RECV: 2000, ESTABLISHED: 200 });
  r.e.defense(1e6);
  assert.deepEqual(states(), { SYN_RECV: 2000, ESTABLISHED: 200 }, 'memory enough: nothing dropped');
  assert.equal(r.e.defenseStatus().dropEntry, 1);
  // Short of memory: each call looks at a thirty-second of the slots; in 200 calls most half-open go.
  for (let i = 0; i < 200; i++) r.e.defense(0);
  const after = states();
  assert.equal(r.e.defenseStatus().dropEntry, 2);
  assert.equal(after['ESTABLISHED'], 200, 'established connections stay');
  assert.ok((after['SYN_RECV'] ?? 0) < 400, `${after['SYN_RECV']} half-open entries left of 2000`);
  assert.equal(r.e.defenseStatus().entriesDropped, 2000 - (after['SYN_RECV'] ?? 0));
  r.e.defense(1e6);
  assert.equal(r.e.defenseStatus().dropEntry, 1, 'memory back: mode 1 again');
});

test('drop_entry (todrop_entry): ESTABLISHED TCP and UDP entries idle 60 s with 1-8 packets from the client go, one in i for i packets; busier, more recent and packetless ones stay; a dropped entry takes its template', () => {
  // Slots examined in order, each once per pass (cap 1024 / 32 per call = 32 calls).
  let k = 0;
  const r = new Rig({ sysctl: { drop_entry: 3 }, random: () => ((k++ % 1024) + 0.5) / 1024 });
  const U = svcKey('udp', '10.0.0.1', 53);
  const PU = svcKey('udp', '10.0.0.9', 53);
  r.service(K).dest(K, '192.168.1.1', 80, 'route');
  r.service(U).dest(U, '192.168.1.1', 53, 'route');
  r.service(PU, { flags: SVC_F.PERSISTENT, timeout: 600 }).dest(PU, '192.168.1.1', 53, 'route');
  r.at(1);
  const groups: { name: string; n: number; send: (i: number) => void; expectLeft: number }[] = [
    // 40 UDP entries with 4 datagrams each: one in 4 dropped in one pass.
    { name: 'udp4', n: 40, send: (i) => { for (let j = 0; j < 4; j++) r.in('udp', `172.20.0.${i}:1000`, '10.0.0.1:53'); }, expectLeft: 30 },
    // One datagram: every one dropped.
    { name: 'udp1', n: 20, send: (i) => r.in('udp', `172.21.0.${i}:1000`, '10.0.0.1:53'), expectLeft: 0 },
    // Nine datagrams: none.
    { name: 'udp9', n: 20, send: (i) => { for (let j = 0; j < 9; j++) r.in('udp', `172.22.0.${i}:1000`, '10.0.0.1:53'); }, expectLeft: 20 },
    // ESTABLISHED with 2 packets (SYN, ACK): one in 2.
    { name: 'tcp2', n: 20, send: (i) => { r.in('tcp', `172.23.0.${i}:1000`, '10.0.0.1:80', 'S'); r.in('tcp', `172.23.0.${i}:1000`, '10.0.0.1:80', 'A'); }, expectLeft: 10 },
  ];
  for (const g of groups) for (let i = 0; i < g.n; i++) g.send(i);
  // A persistent UDP entry (one datagram) and its template.
  r.in('udp', '172.24.0.1:1000', '10.0.0.9:53');
  // Recent: a UDP entry with one datagram sent 30 s before the pass.
  r.at(32);
  r.in('udp', '172.25.0.1:1000', '10.0.0.1:53');
  r.at(62);
  const count = (prefix: string): number => r.e.connections().filter((c) => c.caddr.startsWith(prefix)).length;
  assert.equal(count('172.24.0.1'), 2, 'the persistent entry and its template');
  k = 0;
  for (let i = 0; i < 1024 / 32; i++) r.e.defense(1e6);
  assert.deepEqual(Object.fromEntries(groups.map((g) => [g.name, count(g.name === 'udp4' ? '172.20.' : g.name === 'udp1' ? '172.21.' : g.name === 'udp9' ? '172.22.' : '172.23.')])),
    Object.fromEntries(groups.map((g) => [g.name, g.expectLeft])));
  assert.equal(count('172.25.0.1'), 1, 'a packet 30 s ago: kept');
  assert.equal(r.e.connections().filter((c) => c.cport === 0 && c.caddr === '172.24.0.1').length, 0, 'the template went with its entry');
  assert.equal(count('172.24.0.1'), 0);
  assert.equal(r.e.defenseStatus().entriesDropped, 10 + 20 + 10 + 1);
});

test('secure_tcp: defaults to 0; 1 becomes 2 while memory is short and back; 3 is always on, 0 never', () => {
  assert.equal(DEFAULT_SYSCTLS.secure_tcp, 0);
  const cases: { mode: number; avail: number[]; shown: number[] }[] = [
    { mode: 0, avail: [0, 1e6], shown: [0, 0] },
    { mode: 1, avail: [1e6, 0, 0, 1e6], shown: [1, 2, 2, 1] },
    { mode: 3, avail: [1e6, 0], shown: [3, 3] },
  ];
  for (const c of cases) {
    const r = rig({ secure_tcp: c.mode });
    const shown = c.avail.map((a) => { r.e.defense(a); return r.e.defenseStatus().secureTcp; });
    assert.deepEqual(shown, c.shown, `secure_tcp ${c.mode}`);
  }
  assert.equal(rig({}).e.setSysctl('secure_tcp', 4), 'EINVAL');
});

test('secure_tcp: TCP states follow the kernel\'s tcp_states_dos while on (NAT: a client\'s ACK leaves SYN_RECV as it is; DR: a SYN starts in SYNACK), the normal table while off', () => {
  // Each case: a packet sequence ('>' from the client, '<' from the real server) and the state after it, off and on.
  const cases: { fwd: 'masq' | 'route'; seq: string[]; off: string; on: string }[] = [
    { fwd: 'masq', seq: ['>S'], off: 'SYN_RECV', on: 'SYN_RECV' },
    { fwd: 'masq', seq: ['>S', '>A'], off: 'ESTABLISHED', on: 'SYN_RECV' },
    { fwd: 'masq', seq: ['>S', '<SA'], off: 'SYN_RECV', on: 'SYNACK' },
    { fwd: 'masq', seq: ['>S', '<SA', '>A'], off: 'ESTABLISHED', on: 'SYNACK' },
    { fwd: 'masq', seq: ['>S', '<SA', '>A', '<PA'], off: 'ESTABLISHED', on: 'ESTABLISHED' },
    { fwd: 'masq', seq: ['>S', '<SA', '>FA'], off: 'TIME_WAIT', on: 'SYNACK' },
    { fwd: 'route', seq: ['>S'], off: 'SYN_RECV', on: 'SYNACK' },
    { fwd: 'route', seq: ['>S', '>A'], off: 'ESTABLISHED', on: 'ESTABLISHED' },
    { fwd: 'route', seq: ['>S', '>A', '>FA'], off: 'FIN_WAIT', on: 'FIN_WAIT' },
  ];
  for (const c of cases) {
    for (const secure of [false, true]) {
      const r = new Rig({ sysctl: { secure_tcp: secure ? 3 : 0 } });
      r.service(K).dest(K, '192.168.1.1', 80, c.fwd);
      r.at(1);
      for (const p of c.seq) {
        if (p[0] === '>') r.in('tcp', '172.16.0.1:4000', '10.0.0.1:80', p.slice(1));
        else r.out('tcp', '192.168.1.1:80', '172.16.0.1:4000', p.slice(1));
      }
      assert.equal(r.e.connections()[0]?.state, secure ? c.on : c.off, `${c.fwd} ${c.seq.join(' ')} secure_tcp ${secure ? 3 : 0}`);
    }
  }
});

test('secure_tcp 1: the secure table only while memory is short, the normal one after', () => {
  const r = rig({ secure_tcp: 1 });
  r.at(1);
  r.e.defense(0);
  r.in('tcp', '172.16.0.1:4000', '10.0.0.1:80', 'S');
  assert.equal(r.e.connections()[0]?.state, 'SYNACK', 'memory short: a direct-routing SYN starts in SYNACK');
  r.e.defense(1e6);
  r.in('tcp', '172.16.0.2:4000', '10.0.0.1:80', 'S');
  assert.equal(r.e.connections().find((c) => c.cport === 4000 && c.caddr === '172.16.0.2')?.state, 'SYN_RECV', 'memory back: the normal table');
});

test('syn_recv_under_load: at syn_load_rate new half-open entries a second a SYN_RECV entry lives syn_recv_under_load s, not 60; a handshake that completes is not cut; 0 keeps 60 s', () => {
  const lifetimes = (sysctl: Record<string, number>, synsAt: [at: number, count: number][]): Record<string, number> => {
    const r = rig(sysctl);
    let i = 0;
    for (const [at, count] of synsAt) {
      r.at(at);
      for (let k = 0; k < count; k++) syn(r, i++);
    }
    const out: Record<string, number> = {};
    for (const c of r.e.connections()) out[String(Math.round(c.expiresIn))] = (out[String(Math.round(c.expiresIn))] ?? 0) + 1;
    return out;
  };
  const cases: { sysctl: Record<string, number>; synsAt: [number, number][]; want: Record<string, number>; why: string }[] = [
    { sysctl: {}, synsAt: [[1, 999]], want: { 60: 999 }, why: 'below the rate: the kernel\'s 60 s' },
    { sysctl: {}, synsAt: [[1, 1500]], want: { 60: 999, 10: 501 }, why: 'from the 1000th in one second: 10 s' },
    { sysctl: { syn_load_rate: 100, syn_recv_under_load: 5 }, synsAt: [[1, 150]], want: { 60: 99, 5: 51 }, why: 'both sysctls taken' },
    { sysctl: {}, synsAt: [[1, 1000], [2, 10]], want: { 59: 999, 9: 1, 10: 10 }, why: 'the second after a flooded one is still flooded (lifetimes seen from 2 s)' },
    { sysctl: {}, synsAt: [[1, 1000], [3, 10]], want: { 58: 999, 8: 1, 60: 10 }, why: 'a quiet second ends it (lifetimes seen from 3 s)' },
    { sysctl: { syn_recv_under_load: 0 }, synsAt: [[1, 1500]], want: { 60: 1500 }, why: '0: the kernel\'s behaviour' },
  ];
  for (const c of cases) assert.deepEqual(lifetimes(c.sysctl, c.synsAt), c.want, c.why);

  // Under the flood a real client's handshake completes: its entry is ESTABLISHED with 900 s.
  const r = rig({});
  r.at(1);
  for (let k = 0; k < 1200; k++) syn(r, k);
  assert.equal(r.e.defenseStatus().synFlooded, true);
  r.in('tcp', '172.18.0.1:40000', '10.0.0.1:80', 'S');
  r.in('tcp', '172.18.0.1:40000', '10.0.0.1:80', 'A');
  const legit = r.e.connections().find((c) => c.caddr === '172.18.0.1')!;
  assert.deepEqual([legit.state, Math.round(legit.expiresIn)], ['ESTABLISHED', 900]);
  // The flood's entries are gone 10 s later; the first 999 (before the rate was reached) stay.
  r.at(12);
  assert.equal(r.e.connections().filter((c) => c.state === 'SYN_RECV').length, 999);
  assert.equal(r.e.defenseStatus().synFlooded, false);
});
