/**
 * Randomised equivalence: every indexed scheduler returns exactly the kernel-scan reference's
 * dest for every decision, over random sequences of add/del/edit/count changes/OVERLOAD flips,
 * service flag changes (sh/mh fallback/port) and clock ticks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getSchedulerFactory, schedulerNames } from '../../../src/core/schedulers/index.ts';
import { SVC_F } from '../../../src/core/types.ts';
import { Fixture, packet, prng, type MutableDest } from './fixture.ts';
import { referenceFactory } from './reference.ts';

const fmt = (d: { addr: string; port: number } | null): string => (d === null ? '-' : `${d.addr}:${d.port}`);

function run(name: string, seed: number, steps: number, maxDests: number, weights: readonly number[] = [0, 1, 2, 3, 4, 5]): number {
  const rnd = prng(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const wt = (): number => weights[int(weights.length)]!;
  const f = new Fixture({ flags: 0 });
  f.random = prng(seed ^ 0x5a5a);
  const impl = f.bind(getSchedulerFactory(name, { lblcExpiration: () => 600, lblcrExpiration: () => 300 })!);
  f.bind(referenceFactory(name, { expiration: () => (name === 'lblc' ? 600 : 300) })!);
  assert.equal(impl.name, name);
  let serial = 0;
  let decisions = 0;
  const live: MutableDest[] = [];
  const trash: MutableDest[] = [];
  // Start like ipvsadm does: -A, then -a one by one.
  for (let i = 0; i < 1 + int(maxDests); i++) live.push(f.add(`10.1.${serial >> 8}.${serial++ & 255}`, 80, wt()));
  for (let step = 0; step < steps; step++) {
    const op = int(100);
    if (op < 8 && live.length < maxDests) {
      live.push(f.add(`10.1.${serial >> 8}.${serial++ & 255}`, 80, wt()));
    } else if (op < 14 && live.length > 0) {
      const d = live.splice(int(live.length), 1)[0]!;
      f.del(d);
      trash.push(d);
    } else if (op < 16 && trash.length > 0 && live.length < maxDests) {
      // Back from the trash: the same dest object (lblc/lblcr cache entries still point to it).
      const d = trash.splice(int(trash.length), 1)[0]!;
      f.readd(d, wt());
      live.push(d);
    } else if (op < 22 && live.length > 0) {
      f.edit(live[int(live.length)]!, { weight: wt() });
    } else if (op < 40 && live.length > 0) {
      const d = live[int(live.length)]!;
      f.conns(d, int(5), int(5));
    } else if (op < 48 && live.length > 0) {
      const d = live[int(live.length)]!;
      f.overload(d, rnd() < 0.5);
    } else if (op < 50) {
      f.setFlags([0, SVC_F.SCHED1, SVC_F.SCHED2, SVC_F.SCHED1 | SVC_F.SCHED2][int(4)]!);
    } else if (op < 53) {
      f.tick(f.now + int(400));
    } else {
      const pkt = packet(`192.168.${int(3)}.${int(20)}`, 1000 + int(4), `172.16.0.${int(12)}`, 80);
      const [a, b] = f.pickAll(pkt);
      decisions++;
      assert.equal(fmt(a!), fmt(b!), `${name} seed ${seed} step ${step}: index ${fmt(a!)} vs kernel scan ${fmt(b!)}`);
    }
  }
  return decisions;
}

for (const name of schedulerNames) {
  test(`${name}: indexed scheduler agrees with the kernel scan on random add/del/edit/count/overload sequences`, () => {
    let total = 0;
    for (let seed = 1; seed <= 12; seed++) total += run(name, seed * 7919, 1500, seed % 3 === 0 ? 60 : 12);
    assert.ok(total > 5000, `only ${total} decisions compared`);
  });
}

// Wide, gcd-sharing weights with a few heavy dests: stresses wrr's pass skipping, gcd steps and
// cursor/stop handling, and cross-multiplied ratios with large numbers.
for (const name of schedulerNames) {
  test(`${name}: agrees with the kernel scan with wide gcd-sharing weights`, () => {
    let total = 0;
    const seeds = name === 'mh' ? 3 : 10;
    for (let seed = 1; seed <= seeds; seed++) total += run(name, seed * 104729, 1500, 10 + (seed % 4) * 10, [0, 2, 4, 6, 8, 12, 30, 40, 100]);
    assert.ok(total > seeds * 400, `only ${total} decisions compared`);
  });
}
