// The shared decision ring (src/forwarders/proxy/ahead-ring.ts) under real concurrency: worker
// threads take while the main thread fills, as relay workers and the daemon's main thread do.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { AheadRing, SLOTS, createAheadRing, type AheadChoice } from '../../src/forwarders/proxy/ahead-ring.ts';

const TAKER = new URL('./fixtures/ring-taker.mjs', import.meta.url);

describe('decision ring shared by relay workers', () => {
  it('hands every decision to exactly one taker, intact, in the order it was pushed', async () => {
    const sab = createAheadRing();
    const ring = new AheadRing(sab);
    const N = 100_000, TAKERS = 4;
    const takers = Array.from({ length: TAKERS }, () => new Worker(TAKER, { workerData: { sab, want: N / TAKERS } }));
    const results = takers.map((w) => new Promise<number[][]>((r) => w.once('message', r)));
    let pushed = 0;
    const deadline = Date.now() + 15_000;
    while (pushed < N && Date.now() < deadline) {
      if (ring.push(pushed + 1, 4, [0x0a000000 + pushed], 1000 + (pushed % 7))) pushed++;
      else await new Promise((r) => setImmediate(r));
    }
    const got = await Promise.all(results);
    const all = got.flat();
    assert.equal(all.length, N, 'every decision taken once');
    assert.equal(new Set(all.map((x) => x[0])).size, N, 'no decision taken twice');
    for (const [token, w0, port] of all) {
      assert.equal(w0, 0x0a000000 + token! - 1, 'slot words belong to their token');
      assert.equal(port, 1000 + ((token! - 1) % 7));
    }
    // Each taker saw increasing tokens: one sequence, taken in order.
    for (const g of got) for (let i = 1; i < g.length; i++) assert.ok(g[i]![0]! > g[i - 1]![0]!);
    await Promise.all(takers.map((w) => w.terminate()));
  });

  it('asks for a refill once it is under half full, once per refill however many takes follow', () => {
    const ring = new AheadRing(createAheadRing());
    const c: AheadChoice = { token: 0, af: 4, words: [0], port: 0 };
    for (let i = 0; i < SLOTS; i++) ring.push(i + 1, 4, [i], 80);
    const asks: number[] = [];
    for (let i = 0; i < SLOTS; i++) {
      assert.ok(ring.take(c));
      if (ring.wantsRefill()) asks.push(ring.waiting());
    }
    assert.deepEqual(asks, [SLOTS / 2 - 1], 'one ask, when the ring fell under half');
    ring.refilling();
    for (let i = 0; i < SLOTS / 4; i++) ring.push(i + 1, 4, [i], 80);
    assert.ok(ring.take(c));
    assert.equal(ring.wantsRefill(), true, 'after a refill that left it low, the next take asks again');
    assert.equal(ring.wantsRefill(), false);
  });

  it('take() reads what push() wrote; a full ring refuses; drop() empties it', () => {
    const ring = new AheadRing(createAheadRing());
    const c: AheadChoice = { token: 0, af: 4, words: [0], port: 0 };
    assert.equal(ring.take(c), false);
    for (let i = 0; i < SLOTS; i++) assert.ok(ring.push(i + 1, i % 2 ? 6 : 4, [i, 1, 2, 3], 80));
    assert.equal(ring.push(99, 4, [0], 80), false, 'full');
    assert.ok(ring.take(c));
    assert.deepEqual(c, { token: 1, af: 4, words: [0], port: 80 });
    assert.ok(ring.take(c));
    assert.deepEqual(c, { token: 2, af: 6, words: [1, 1, 2, 3], port: 80 });
    assert.equal(ring.drop(), SLOTS - 2);
    assert.equal(ring.waiting(), 0);
    assert.equal(ring.take(c), false);
    assert.ok(ring.push(7, 4, [5], 81));
    assert.ok(ring.take(c));
    assert.equal(c.token, 7);
  });
});
