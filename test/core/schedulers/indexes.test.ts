/**
 * The index structures behind the schedulers, checked against naive models on random operation
 * sequences: the id -> slot open-addressing map, the min tree and the weighted-least tree
 * (including products beyond 2^53, where only exact arithmetic orders them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IdSlotMap, MinTree, RatioTree, SlotList } from '../../../src/core/schedulers/slots.ts';
import { prng } from './fixture.ts';
import type { RtDest } from '../../../src/core/scheduler.ts';

test('IdSlotMap agrees with a Map over random set/delete/get, through growth and backward-shift deletes', () => {
  for (const seed of [1, 2, 3]) {
    const rnd = prng(seed);
    const m = new IdSlotMap(4);
    const ref = new Map<number, number>();
    // Small id ranges force long probe runs and wrap-around; a few ids beyond int32 use the fallback.
    const idOf = (): number => (rnd() < 0.02 ? 2 ** 33 + Math.floor(rnd() * 4) : 1 + Math.floor(rnd() * (seed === 1 ? 64 : 5000)));
    for (let i = 0; i < 20000; i++) {
      const id = idOf();
      const op = rnd();
      if (op < 0.45) { const v = Math.floor(rnd() * 1e6); m.set(id, v); ref.set(id, v); }
      else if (op < 0.8) assert.equal(m.delete(id), ref.delete(id), `seed ${seed} op ${i}: delete ${id}`);
      else assert.equal(m.get(id), ref.get(id) ?? -1, `seed ${seed} op ${i}: get ${id}`);
      assert.equal(m.size, ref.size);
    }
    for (const [id, v] of ref) assert.equal(m.get(id), v);
  }
});

test('SlotList keeps list order as ascending slots across head inserts and deletes', () => {
  const mk = (id: number): RtDest => ({ id } as RtDest);
  const list = [mk(3), mk(2), mk(1)];
  const sl = new SlotList(list);
  const d4 = mk(4);
  const s4 = sl.pushFront(d4);
  assert.ok(s4 >= 0 && s4 < sl.slotOf(list[0]!) && sl.slotOf(list[0]!) < sl.slotOf(list[1]!) && sl.slotOf(list[1]!) < sl.slotOf(list[2]!));
  assert.equal(sl.pushFront(d4), -1, 'duplicate asks for a rebuild');
  assert.equal(sl.remove(list[1]!), sl.slotOf(list[0]!) + 1);
  assert.equal(sl.has(list[1]!), false);
  assert.equal(sl.slotOf(list[1]!), -1);
  assert.equal(sl.count, 3);
});

test('MinTree: root and firstAtMost match a scan (ties to the first slot) over random updates', () => {
  const rnd = prng(11);
  const cap = 64;
  const t = new MinTree(cap);
  const keys = new Array<number>(cap).fill(Infinity);
  for (let i = 0; i < 5000; i++) {
    const s = Math.floor(rnd() * cap);
    const k = rnd() < 0.3 ? Infinity : Math.floor(rnd() * 6) - 2;
    keys[s] = k;
    if (i % 500 === 0) { for (let j = 0; j < cap; j++) t.setLeaf(j, keys[j]!); t.build(); } else t.set(s, k);
    let best = -1;
    for (let j = 0; j < cap; j++) if (keys[j]! !== Infinity && (best < 0 || keys[j]! < keys[best]!)) best = j;
    assert.equal(t.root(), best, `step ${i}`);
    const from = Math.floor(rnd() * (cap + 2)), x = Math.floor(rnd() * 6) - 2;
    let first = -1;
    for (let j = from; j < cap; j++) if (keys[j]! <= x) { first = j; break; }
    assert.equal(t.firstAtMost(from, x), first, `step ${i}: first slot >= ${from} with key <= ${x}`);
  }
});

test('RatioTree: root is the kernel fold (later wins iff cost(least)*w(d) > cost(d)*w(least)), exact beyond 2^53', () => {
  const rnd = prng(12);
  const cap = 32;
  const t = new RatioTree(cap);
  const present = new Array<boolean>(cap).fill(false), cost = new Array<number>(cap).fill(0), w = new Array<number>(cap).fill(0);
  // Values near INT_MAX make products near 2^62 whose doubles tie while the exact products differ
  // ((n-1)^2 vs n(n-2) differ by 1): the second half of the run uses only those.
  const big = [2147483647, 2147483646, 2147483645];
  const pickBig = (): number => big[Math.floor(rnd() * big.length)]!;
  for (let i = 0; i < 6000; i++) {
    const s = Math.floor(rnd() * cap);
    const wide = i >= 3000;
    present[s] = rnd() < 0.8;
    cost[s] = wide ? pickBig() : Math.floor(rnd() * 5);
    w[s] = wide ? pickBig() : 1 + Math.floor(rnd() * 4);
    if (!present[s]) { cost[s] = 0; w[s] = 0; }
    t.set(s, present[s]!, cost[s]!, w[s]!);
    let least = -1;
    for (let j = 0; j < cap; j++) {
      if (!present[j]) continue;
      if (least < 0 || BigInt(cost[least]!) * BigInt(w[j]!) > BigInt(cost[j]!) * BigInt(w[least]!)) least = j;
    }
    assert.equal(t.root(), least, `step ${i}`);
  }
});
