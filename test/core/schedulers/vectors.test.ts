/**
 * Table-driven vectors derived by hand from the kernel algorithms (spec §2.1-2.15): list order
 * (newest first) tie-breaks, weight 0, OVERLOAD, weight changes mid-stream, wrr's realistic
 * start, hashing tables, fallback flags, lblc/lblcr caches and expiry with an injected clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getSchedulerFactory, schedulerNames } from '../../../src/core/schedulers/index.ts';
import { DhScheduler } from '../../../src/core/schedulers/dh.ts';
import { ShScheduler } from '../../../src/core/schedulers/sh.ts';
import { MhScheduler, MH_TAB_SIZE } from '../../../src/core/schedulers/mh.ts';
import { LblcScheduler } from '../../../src/core/schedulers/lblc.ts';
import { LblcrScheduler } from '../../../src/core/schedulers/lblcr.ts';
import { hsiphashBytes } from '../../../src/core/hash.ts';
import { SVC_F } from '../../../src/core/types.ts';
import { Fixture, ip, packet, type MutableDest } from './fixture.ts';

const factory = (name: string) => {
  const f = getSchedulerFactory(name);
  assert.ok(f, name);
  return f;
};
/** A fixture with scheduler `name` bound to an empty service, then dests added one by one (ipvsadm -A, -a...). */
function svc(name: string, dests: ReadonlyArray<readonly [string, number]>, flags = 0): { f: Fixture; d: Record<string, MutableDest> } {
  const f = new Fixture({ flags });
  f.bind(factory(name));
  const d: Record<string, MutableDest> = {};
  for (const [a, w] of dests) d[a] = f.add(a, 80, w);
  return { f, d };
}

test('registry: the 14 kernel schedulers, and unknown names (including "none") are undefined', () => {
  assert.deepEqual([...schedulerNames], ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos']);
  for (const n of schedulerNames) {
    const s = new Fixture().bind(factory(n));
    assert.equal(s.name, n);
  }
  for (const n of ['none', 'foo', '', 'RR', 'toString', '__proto__']) assert.equal(getSchedulerFactory(n), undefined, n);
});

test('every scheduler answers none on an empty service and when all dests have weight 0', () => {
  for (const n of schedulerNames) {
    const { f, d } = svc(n, []);
    assert.equal(f.pick(), null, `${n} empty`);
    const a = f.add('10.0.0.1', 80, 0);
    f.add('10.0.0.2', 80, 0);
    assert.equal(f.pick(), null, `${n} weight 0`);
    void a; void d;
  }
});

test('rr: list order newest first, weight 0 / OVERLOAD skipped, deleting the cursor continues after it', () => {
  const rows: Array<{ name: string; run: (f: Fixture, d: Record<string, MutableDest>) => string[]; want: string[] }> = [
    { name: 'plain', run: (f) => f.seq(4), want: ['C', 'B', 'A', 'C'] },
    { name: 'weight 0 mid-stream', run: (f, d) => [...f.seq(4), (f.edit(d.B!, { weight: 0 }), f.pickAddr()), ...f.seq(2)], want: ['C', 'B', 'A', 'C', 'A', 'C', 'A'] },
    { name: 'overload', run: (f, d) => (f.overload(d.C!, true), f.seq(3)), want: ['B', 'A', 'B'] },
    { name: 'delete cursor', run: (f, d) => [...f.seq(2), (f.del(d.B!), f.pickAddr()), f.pickAddr()], want: ['C', 'B', 'A', 'C'] },
    { name: 'add does not move cursor', run: (f) => [...f.seq(2), (f.add('D'.replace('D', '10.9.9.9')), f.pickAddr()), f.pickAddr(), f.pickAddr()], want: ['C', 'B', 'A', '10.9.9.9', 'C'] },
    { name: 'all overloaded', run: (f, d) => (Object.values(d).forEach((x) => f.overload(x, true)), f.seq(2)), want: ['-', '-'] },
  ];
  for (const r of rows) {
    const f = new Fixture();
    f.bind(factory('rr'));
    const d: Record<string, MutableDest> = {};
    for (const n of ['A', 'B', 'C']) { d[n] = f.add(`10.0.0.${n.charCodeAt(0) - 64}`); }
    const names = (xs: string[]): string[] => xs.map((x) => (x.startsWith('10.0.0.') ? 'ABC'[Number(x.slice(7)) - 1]! : x));
    assert.deepEqual(names(r.run(f, d)), r.want, r.name);
  }
});

const letter = (x: string): string => (x === '-' ? '-' : 'ABCDEFGH'[Number(x.split('.')[3]) - 1]!);

test('wrr: realistic start (-A then -a one by one) begins at cw = 1, then cycles by weight', () => {
  const { f } = svc('wrr', [['10.0.0.1', 4], ['10.0.0.2', 3], ['10.0.0.3', 2]]); // A=4 B=3 C=2, list [C,B,A]
  assert.deepEqual(f.seq(16).map(letter).join(''), 'CBAABACBACBAABAC');
});

test('wrr: bound to a service that already has dests (-E -s wrr) starts at cw = mw', () => {
  const f = new Fixture();
  f.add('10.0.0.1', 80, 4); f.add('10.0.0.2', 80, 3); f.add('10.0.0.3', 80, 2);
  f.bind(factory('wrr'));
  assert.deepEqual(f.seq(10).map(letter).join(''), 'ABACBACBAA');
});

test('wrr: gcd step, weight changes and OVERLOAD', () => {
  const { f, d } = svc('wrr', [['10.0.0.1', 4], ['10.0.0.2', 2]]); // list [B,A], di 2, cw 1
  assert.deepEqual(f.seq(6).map(letter).join(''), 'BAABAA');
  f.overload(d['10.0.0.1']!, true);
  assert.deepEqual(f.seq(3).map(letter).join(''), 'BBB');
  f.overload(d['10.0.0.2']!, true);
  assert.equal(f.pick(), null, 'all overloaded');
  f.overload(d['10.0.0.1']!, false);
  f.overload(d['10.0.0.2']!, false);
  f.edit(d['10.0.0.2']!, { weight: 0 }); // edit resets cl to head; B never picked
  assert.deepEqual(f.seq(3).map(letter).join(''), 'AAA');
});

test('lc: min active*256+inactive, first in list order wins ties, weight 0 skipped', () => {
  const { f, d } = svc('lc', [['10.0.0.1', 1], ['10.0.0.2', 1]]); // list [B, A]
  const A = d['10.0.0.1']!, B = d['10.0.0.2']!;
  const rows: Array<[number, number, number, number, string]> = [
    // A active, A inactive, B active, B inactive -> pick
    [1, 0, 0, 255, 'B'], [1, 0, 0, 256, 'B'], [1, 0, 0, 257, 'A'], [0, 0, 0, 0, 'B'], [2, 0, 1, 255, 'B'], [2, 0, 1, 257, 'A'],
  ];
  for (const [aa, ai, ba, bi, want] of rows) {
    f.conns(A, aa, ai); f.conns(B, ba, bi);
    assert.equal(letter(f.pickAddr()), want, `A ${aa}/${ai} B ${ba}/${bi}`);
  }
  f.edit(A, { weight: 0 });
  f.conns(B, 100, 0);
  assert.equal(letter(f.pickAddr()), 'B');
});

test('wlc and sed: cross-multiplied ratio, first wins ties, weight 0 cannot win, OVERLOAD skipped', () => {
  const { f, d } = svc('wlc', [['10.0.0.1', 3], ['10.0.0.2', 2], ['10.0.0.3', 1]]); // list [C1, B2, A3]
  const A = d['10.0.0.1']!, B = d['10.0.0.2']!, C = d['10.0.0.3']!;
  assert.equal(letter(f.pickAddr()), 'C', 'all idle: first');
  f.conns(C, 1, 0); f.conns(B, 2, 0); f.conns(A, 3, 0);
  assert.equal(letter(f.pickAddr()), 'C', '256/1 = 512/2 = 768/3: first');
  f.conns(A, 2, 0);
  assert.equal(letter(f.pickAddr()), 'A', '512/3 smallest');
  f.edit(A, { weight: 0 });
  f.conns(A, 0, 0);
  assert.equal(letter(f.pickAddr()), 'C', 'weight 0 with no conns still cannot win');
  f.overload(C, true);
  assert.equal(letter(f.pickAddr()), 'B');

  // sed ignores inactive conns and adds 1: A(w1, idle) vs B(w3, 1 active): wlc picks A, sed picks B.
  for (const [name, want] of [['wlc', 'A'], ['sed', 'B']] as const) {
    const s = svc(name, [['10.0.0.1', 1], ['10.0.0.2', 3]]);
    s.f.conns(s.d['10.0.0.2']!, 1, 0);
    s.f.conns(s.d['10.0.0.1']!, 0, 50);
    assert.equal(letter(s.f.pickAddr()), want, `${name} with 50 inactive on A (wlc 50/1 < 256/3; sed 1/1 > 2/3)`);
    s.f.conns(s.d['10.0.0.1']!, 0, 0);
    assert.equal(letter(s.f.pickAddr()), want, name);
  }
});

test('nq: first idle dest in list order, else min (active+1)/weight with first winning ties', () => {
  const { f, d } = svc('nq', [['10.0.0.1', 10], ['10.0.0.2', 1]]); // list [B1, A10]
  const A = d['10.0.0.1']!, B = d['10.0.0.2']!;
  const rows: Array<[number, number, string]> = [[0, 0, 'B'], [0, 1, 'A'], [9, 1, 'A'], [19, 1, 'B'], [20, 1, 'B'], [18, 1, 'A']];
  for (const [aa, ba, want] of rows) {
    f.conns(A, aa, 0); f.conns(B, ba, 0);
    assert.equal(letter(f.pickAddr()), want, `A ${aa} B ${ba}`);
  }
});

test('fo and ovf: highest weight, first wins ties; ovf skips activeconns > weight', () => {
  const fo = svc('fo', [['10.0.0.1', 10], ['10.0.0.2', 10], ['10.0.0.3', 5]]); // list [C5, B10, A10]
  assert.equal(letter(fo.f.pickAddr()), 'B');
  fo.f.overload(fo.d['10.0.0.2']!, true);
  assert.equal(letter(fo.f.pickAddr()), 'A');
  fo.f.edit(fo.d['10.0.0.1']!, { weight: 0 });
  assert.equal(letter(fo.f.pickAddr()), 'C');

  const ovf = svc('ovf', [['10.0.0.1', 3], ['10.0.0.2', 2]]); // list [B2, A3]
  const rows: Array<[number, number, string]> = [[0, 0, 'A'], [3, 0, 'A'], [4, 0, 'B'], [4, 2, 'B'], [4, 3, '-']];
  for (const [aa, ba, want] of rows) {
    ovf.f.conns(ovf.d['10.0.0.1']!, aa, 99); ovf.f.conns(ovf.d['10.0.0.2']!, ba, 99);
    assert.equal(letter(ovf.f.pickAddr()), want, `A ${aa} B ${ba}`);
  }
});

test('twos: r in [0, T] inclusive picks by running weight; the lighter normalised load wins', () => {
  const { f, d } = svc('twos', [['10.0.0.1', 2], ['10.0.0.2', 3]]); // list [B3, A2], T = 5
  const A = d['10.0.0.1']!, B = d['10.0.0.2']!;
  const at = (r1: number, r2: number): string => {
    const vals = [r1 / 6 + 1e-9, r2 / 6 + 1e-9];
    let i = 0;
    f.random = () => vals[i++ % 2]!;
    return letter(f.pickAddr());
  };
  // r = 0 and r <= 3 land on B (first in list), r = 4, 5 on A.
  f.conns(A, 0, 0); f.conns(B, 0, 0);
  assert.equal(at(0, 0), 'B');
  assert.equal(at(5, 5), 'A');
  assert.equal(at(3, 4), 'B', 'equal load: choice1 stays');
  f.conns(B, 1, 0); // B loaded, A idle: choice2 = A wins
  assert.equal(at(0, 5), 'A');
  assert.equal(at(5, 0), 'A', 'choice1 A idle keeps');
  f.overload(A, true);
  assert.equal(at(5, 5), 'B', 'T excludes OVERLOAD dests');
});

test('dh: bucket i holds list[i mod n], keyed by hash_32(daddr, 8); no fallback; rebuilt on add/del only', () => {
  const f = new Fixture();
  const s = f.bind(factory('dh')) as DhScheduler;
  const A = f.add('10.0.0.1'), B = f.add('10.0.0.2'), C = f.add('10.0.0.3'); // list [C, B, A]
  assert.deepEqual(s.buckets.slice(0, 6).map((x) => x!.addr), ['10.0.0.3', '10.0.0.2', '10.0.0.1', '10.0.0.3', '10.0.0.2', '10.0.0.1']);
  // hash_32(0x0a000001, 8) = 39 -> 39 % 3 = 0 -> C ; hash_32(0x0a000002, 8) = 137 -> 137 % 3 = 2 -> A
  assert.equal(f.pickAddr(packet('1.1.1.1', 1, '10.0.0.1')), '10.0.0.3');
  assert.equal(f.pickAddr(packet('1.1.1.1', 1, '10.0.0.2')), '10.0.0.1');
  f.overload(C, true);
  assert.equal(f.pickAddr(packet('1.1.1.1', 1, '10.0.0.1')), '-');
  f.del(B); // list [C, A]: 39 % 2 = 1 -> A
  assert.equal(f.pickAddr(packet('1.1.1.1', 1, '10.0.0.1')), '10.0.0.1');
  void A;
});

test('sh: weight fills consecutive buckets; sh-port and sh-fallback follow the SCHED2/SCHED1 flags', () => {
  const f = new Fixture();
  const s = f.bind(factory('sh')) as ShScheduler;
  const A = f.add('10.0.0.1', 80, 2), B = f.add('10.0.0.2', 80, 1); // list [B, A]: B A A B A A ...
  assert.deepEqual(s.buckets.slice(0, 7).map((x) => letter(x!.addr)).join(''), 'BAABAAB');
  const client = packet('192.168.1.1', 12345); // hash_32(0xc0a80101, 8) = 136 -> 136 % 3 = 1 -> A
  assert.equal(letter(f.pickAddr(client)), 'A');
  f.overload(A, true);
  assert.equal(f.pickAddr(client), '-', 'no fallback');
  f.setFlags(SVC_F.SCHED1); // probes (2*136 + k) & 255 = 16 (A), 17 (A), 18 (B)
  assert.equal(letter(f.pickAddr(client)), 'B');
  f.overload(A, false);
  f.setFlags(SVC_F.SCHED2);
  const h = (v: number): number => Number(((BigInt(v >>> 0) * 0x61c88647n) & 0xffffffffn) >> 24n);
  const want = ['B', 'A', 'A'][h(0xc0a80101 + 12345) % 3]!;
  assert.equal(letter(f.pickAddr(client)), want, 'port added to the address before hashing');
  f.edit(B, { weight: 0 }); // weight 0 still takes one bucket; B unavailable
  assert.deepEqual(s.buckets.slice(0, 3).map((x) => letter(x!.addr)).join(''), 'BAA');
  f.setFlags(0);
  assert.equal(letter(f.pickAddr(packet('192.168.1.3'))), ['-', 'A', 'A'][h(0xc0a80103) % 3]);
});

test('mh: table of 4093 filled by last_weight turns; weight 0 keeps slots; added with 0 gets none; > M dests is EINVAL', () => {
  const f = new Fixture();
  const s = f.bind(factory('mh')) as MhScheduler;
  const A = f.add('10.0.0.1'), B = f.add('10.0.0.2'), C = f.add('10.0.0.3');
  const count = (): Record<string, number> => {
    const c: Record<string, number> = {};
    for (const x of s.table) c[x === null ? '-' : letter(x.addr)] = (c[x === null ? '-' : letter(x.addr)] ?? 0) + 1;
    return c;
  };
  assert.deepEqual(count(), { C: 1365, B: 1364, A: 1364 }, 'one entry per dest per round, list order');
  f.edit(A, { weight: 2 }); f.edit(B, { weight: 2 }); f.edit(C, { weight: 4 }); // gcd 2 -> turns 1,1,2
  assert.deepEqual(count(), { C: 2047, B: 1023, A: 1023 });
  const before = s.table.slice();
  f.edit(C, { weight: 0 }); // last_weight stays 4
  assert.deepEqual(s.table, before, 'weight 0 keeps the slots');
  const client = packet('192.168.7.7');
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, 0xc0a80707, true);
  const slot = hsiphashBytes(b, 2654435761n, 2654435761n) % MH_TAB_SIZE;
  const owner = s.table[slot]!;
  assert.equal(f.pick(client), owner === C ? null : owner, 'lookup = hsiphash(addr) mod M');
  f.add('10.0.0.4', 80, 0);
  assert.equal(s.table.filter((x) => x?.addr === '10.0.0.4').length, 0, 'added with weight 0: no slots');

  const big = new Fixture();
  for (let i = 0; i < MH_TAB_SIZE + 1; i++) big.add(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  assert.throws(() => big.bind(factory('mh')), /EINVAL/);
});

test('mh: mh-fallback probes H(addr, offset) slots; without it an unavailable slot is none', () => {
  const f = new Fixture();
  f.bind(factory('mh'));
  const ds = [1, 2, 3, 4].map((i) => f.add(`10.0.0.${i}`));
  const client = packet('192.168.3.3');
  const first = f.pick(client)!;
  f.overload(first as MutableDest, true);
  assert.equal(f.pick(client), null);
  f.setFlags(SVC_F.SCHED1);
  const alt = f.pick(client);
  assert.ok(alt !== null && alt !== first);
  for (const d of ds) f.overload(d, true);
  assert.equal(f.pick(client), null);
});

test('lblc: cache by destination address; lblc-overload and weight 0 reschedule; OVERLOAD flag ignored for the cached dest', () => {
  const f = new Fixture();
  const s = f.bind(factory('lblc')) as LblcScheduler;
  const A = f.add('10.0.0.1', 80, 2), B = f.add('10.0.0.2', 80, 2); // list [B, A]
  const X = packet('1.1.1.1', 1, '172.16.0.9');
  assert.equal(letter(f.pickAddr(X)), 'B');
  f.overload(B, true);
  assert.equal(letter(f.pickAddr(X)), 'B', 'cached dest used despite OVERLOAD');
  f.overload(B, false);
  f.conns(B, 3, 0); // 3 > weight 2, and A has 0*2 < 2: lblc-overloaded
  assert.equal(letter(f.pickAddr(X)), 'A');
  assert.equal(s.cached(ip('172.16.0.9')), A);
  assert.equal(s.entries, 2, 'kernel quirk: replacing the dest counts a new entry');
  assert.equal(s.size, 1);
  f.conns(A, 5, 0); // A lblc-"overloaded" by count, but nobody has active*2 < weight -> still used
  f.conns(B, 5, 0);
  assert.equal(letter(f.pickAddr(X)), 'A');
  f.edit(A, { weight: 0 });
  assert.equal(letter(f.pickAddr(X)), 'B', 'weight 0 cached dest is rescheduled');
  f.del(B);
  assert.equal(f.pickAddr(X), '-', 'deleted cached dest is not used; nothing else eligible');
});

test('lblc: full expiry pass every 30 timer runs (60 s) removes entries idle >= lblc_expiration', () => {
  const f = new Fixture();
  const s = f.bind(getSchedulerFactory('lblc', { lblcExpiration: () => 600 })!) as LblcScheduler;
  f.add('10.0.0.1');
  f.tick(0); // arms the 60 s timer
  f.pickAll(packet('1.1.1.1', 1, '172.16.0.1')); // lastuse 0
  f.tick(1500);
  f.pickAll(packet('1.1.1.1', 1, '172.16.0.2')); // lastuse 1500
  f.tick(1799);
  assert.equal(s.size, 2, 'before the 30th run nothing expires');
  f.tick(1800);
  assert.ok(s.cached(ip('172.16.0.1')) === undefined && s.cached(ip('172.16.0.2')) !== undefined, 'run 30 at t=1800');
  f.tick(3599);
  assert.equal(s.size, 1);
  f.tick(3600);
  assert.equal(s.size, 0, 'next full pass 30 runs later');
});

test('lblcr: set grows on lblc-overload, sheds its weighted-most member after lblcr_expiration', () => {
  const f = new Fixture();
  const s = f.bind(getSchedulerFactory('lblcr', { lblcrExpiration: () => 300 })!) as LblcrScheduler;
  const A = f.add('10.0.0.1', 80, 2), B = f.add('10.0.0.2', 80, 2); // list [B, A]
  const X = packet('1.1.1.1', 1, '172.16.0.9');
  f.tick(0);
  assert.equal(letter(f.pickAddr(X)), 'B');
  f.conns(B, 3, 0);
  assert.equal(letter(f.pickAddr(X)), 'A');
  assert.deepEqual(s.cachedSet(ip('172.16.0.9'))!.map((d) => letter(d.addr)), ['A', 'B'], 'newest first');
  f.tick(300);
  assert.equal(letter(f.pickAddr(X)), 'A');
  assert.equal(s.cachedSet(ip('172.16.0.9'))!.length, 2, 'not yet: needs now > lastmod + expiration');
  f.tick(301);
  assert.equal(letter(f.pickAddr(X)), 'A');
  assert.deepEqual(s.cachedSet(ip('172.16.0.9'))!.map((d) => letter(d.addr)), ['A'], 'B (most loaded) removed');
  f.overload(A, true);
  f.conns(B, 0, 0);
  assert.equal(letter(f.pickAddr(X)), 'B', 'set member OVERLOADed: new wlc pick joins the set');
  assert.deepEqual(s.cachedSet(ip('172.16.0.9'))!.map((d) => letter(d.addr)), ['B', 'A']);
});
