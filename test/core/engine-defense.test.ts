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
