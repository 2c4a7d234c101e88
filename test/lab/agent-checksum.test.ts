// The tunnel agent's checksum completion (src/lab/ipip-agent.ts completePartial4): a packet whose
// sender left its TCP/UDP checksum partial (checksum offload; the director's kernel fast path
// passes it on as kernel IPVS does) is completed before the agent injects it through its TUN
// device; a right checksum and a wrong one are left as they are.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildFrame, toHex } from '../../src/codec/build.ts';
import { fold16, pseudoSum4, rd32, wr16 } from '../../src/codec/checksum.ts';
import { completePartial4 } from '../../src/lab/ipip-agent.ts';

const eth = { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' };
const payload = Uint8Array.from({ length: 333 }, (_, i) => (i * 13 + 5) & 255);
const tcp = () => buildFrame(eth, { ip: { src: '172.16.0.2', dst: '10.0.0.100', ttl: 63, id: 1, df: true }, tcp: { sport: 40000, dport: 80, seq: 1, ack: 1, flags: 0x18, payload } }).subarray(14);
const udp = (zeroCsum = false) => buildFrame(eth, { ip: { src: '172.16.0.2', dst: '10.0.0.100', ttl: 63, id: 1 }, udp: { sport: 5353, dport: 53, payload, zeroCsum } }).subarray(14);
/** What checksum offload leaves: the folded pseudo-header sum in the field. */
function partial(p: Uint8Array, at: number): Uint8Array {
  const q = p.slice();
  wr16(q, 20 + at, fold16(pseudoSum4(rd32(q, 12), rd32(q, 16), q[9]!, q.length - 20)));
  return q;
}

describe('tunnel agent: partial checksums completed before injection', () => {
  const rows: [string, () => Uint8Array, boolean, () => Uint8Array][] = [
    ['TCP, partial: completed to the full checksum', () => partial(tcp(), 16), true, tcp],
    ['UDP, partial: completed', () => partial(udp(), 6), true, udp],
    ['TCP, already right: untouched', tcp, false, tcp],
    ['UDP without a checksum: untouched', () => udp(true), false, () => udp(true)],
    ['TCP, corrupted (neither right nor partial): untouched, the kernel drops it', () => { const q = tcp().slice(); q[60]! ^= 1; return q; }, false, () => { const q = tcp().slice(); q[60]! ^= 1; return q; }],
  ];
  for (const [what, input, done, want] of rows) {
    it(what, () => {
      const b = input().slice();
      assert.equal(completePartial4(b, 0, b.length), done);
      assert.equal(toHex(b), toHex(want()));
    });
  }
});
