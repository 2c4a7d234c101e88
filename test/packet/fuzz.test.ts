/**
 * Fuzz: random frames and mutations of the golden frames through parseFrame and every forwarding
 * method. Nothing may throw; every frame ends in a verdict; every non-forwarded frame is counted;
 * outputs stay inside their buffers. Deterministic seeds so failures reproduce.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromHex } from '../../src/codec/build.ts';
import { DropCounters } from '../../src/codec/counters.ts';
import { createFrameMeta, parseFrame } from '../../src/codec/frame.ts';
import { createForwardResult, forwardFrame, SCRATCH_BYTES, type ForwardDecision } from '../../src/codec/forward.ts';
import { ACTION_CODE } from '../../src/core/types.ts';
import { createIpipInner, ipipDecapsulate } from '../../src/codec/ipip.ts';
import { gueDecapsulate } from '../../src/codec/gue.ts';
import { greDecapsulate } from '../../src/codec/gre.ts';
import { drCases } from './golden/dr.ts';
import { icmpCases } from './golden/icmp.ts';
import { malformedCases } from './golden/malformed.ts';
import { natCases } from './golden/nat.ts';
import { tunCases } from './golden/tun.ts';
import { tuntypesCases } from './golden/tuntypes.ts';
import { toDecision } from './golden/types.ts';

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
}

const seeds = [...natCases, ...drCases, ...tunCases, ...tuntypesCases, ...icmpCases, ...malformedCases].map((c) => fromHex(c.input));
const decisions: ForwardDecision[] = [...natCases, ...drCases, ...tunCases, ...tuntypesCases, ...icmpCases].map((c) => toDecision(c.decision));
const uniq = new Map<string, ForwardDecision>();
for (const d of decisions) uniq.set(`${d.method}/${d.dir}/${d.rip.af}/${d.vip.af}/${d.mtu}/${d.tunType}/${d.tunPort}/${d.tunCsum}`, d);
const allDecisions = [...uniq.values(), { ...decisions[0]!, mtu: 0 }, { ...decisions[0]!, method: 'local' as const }];

test('random and mutated frames never throw, always get a verdict, and every non-forward is counted', () => {
  const r = rng(12345);
  const meta = createFrameMeta();
  const res = createForwardResult();
  const scratch = new Uint8Array(SCRATCH_BYTES);
  const counters = new DropCounters();
  const inner = createIpipInner();
  const verdicts = [0, 0, 0, 0];
  let notForwarded = 0;
  const N = 40000;
  for (let n = 0; n < N; n++) {
    let frame: Uint8Array;
    const kind = n % 4;
    if (kind === 0) {
      frame = new Uint8Array(r() % 200);
      for (let i = 0; i < frame.length; i++) frame[i] = r() & 255;
      if (frame.length > 14 && r() % 2) { frame[12] = r() % 2 ? 0x08 : 0x86; frame[13] = frame[12] === 0x08 ? 0 : 0xdd; }
    } else {
      const s = seeds[r() % seeds.length]!;
      const head = r() % 48;
      frame = new Uint8Array(head + s.length + (r() % 8));
      frame.set(s, head);
      const flips = 1 + (r() % 6);
      for (let k = 0; k < flips; k++) frame[head + (r() % Math.max(1, s.length))] = r() & 255;
      if (kind === 3) frame = frame.subarray(0, head + (r() % (s.length + 1))); // truncate
      const off = head, len = frame.length - head;
      const m = parseFrame(frame, off, len, meta);
      assert.ok(m.reason >= 0);
      const d = allDecisions[r() % allDecisions.length]!;
      const v = forwardFrame(frame, off, len, m, d, res, scratch, counters);
      verdicts[v]!++;
      if (v !== ACTION_CODE.forward && v !== ACTION_CODE.pass) notForwarded++;
      assert.ok(res.off >= 0 && res.off + res.len <= res.buf.length, 'output inside its buffer');
      if (v === ACTION_CODE.forward || v === ACTION_CODE.reject) {
        const out = parseFrame(res.buf, res.off, res.len, createFrameMeta());
        assert.equal(out.reason, 0, 'outputs are well formed');
      }
      ipipDecapsulate(frame, off + 14, Math.max(0, len - 14), inner);
      greDecapsulate(frame, off + 14, Math.max(0, len - 14), inner);
      gueDecapsulate(frame, off + 42, Math.max(0, len - 42), inner);
      continue;
    }
    const m = parseFrame(frame, 0, frame.length, meta);
    const v = forwardFrame(frame, 0, frame.length, m, allDecisions[n % allDecisions.length]!, res, scratch, counters);
    verdicts[v]!++;
    if (v !== ACTION_CODE.forward && v !== ACTION_CODE.pass) notForwarded++;
    ipipDecapsulate(frame, 0, frame.length, inner);
    greDecapsulate(frame, 0, frame.length, inner);
    gueDecapsulate(frame, 0, frame.length, inner);
  }
  assert.equal(counters.total(), notForwarded, 'every drop and reply is counted by reason');
  assert.ok(verdicts[ACTION_CODE.drop]! > 0 && verdicts[ACTION_CODE.forward]! > 0, `verdicts ${verdicts.join('/')}`);
});

test('parseFrame tolerates garbage offsets and lengths', () => {
  const b = new Uint8Array(64);
  const meta = createFrameMeta();
  for (const [off, len] of [[-1, 10], [0, 65], [60, 10], [NaN, 5], [0, -3], [1.5, 10], [Infinity, 0]] as const) {
    assert.notEqual(parseFrame(b, off, len, meta).reason, 0, `${off}/${len}`);
  }
});
