// The packet forwarder's classify step (src/forwarders/packet/classify.ts), frame -> the engine's
// PacketIn, over the golden packet tables: every frame the rewrite tables send is offered to the
// engine with the direction and tuple its decision was made for; what is not ours is left alone;
// malformed frames addressed to a VIP are recognised as ours (dropped and counted by the driver).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fromHex } from '../../src/codec/build.ts';
import { createFrameMeta, parseFrame } from '../../src/codec/frame.ts';
import { formatIp, parseIp } from '../../src/core/addr.ts';
import { classify, key6, malformedOurs, newMeta, type Addrs6 } from '../../src/forwarders/packet/classify.ts';
import { drCases } from './golden/dr.ts';
import { icmpCases } from './golden/icmp.ts';
import { malformedCases } from './golden/malformed.ts';
import { natCases } from './golden/nat.ts';
import { tunCases } from './golden/tun.ts';
import { tuntypesCases } from './golden/tuntypes.ts';
import type { GoldenCase } from './golden/types.ts';

/** The VIP and real server of a case's decision as the forwarder's address sets. */
function sets(c: GoldenCase): { ins: Set<number>; outs: Set<number>; a6: Addrs6 } {
  const v = parseIp(c.decision.vip)!, r = parseIp(c.decision.rip)!;
  return {
    ins: new Set(v.af === 4 ? [v.words[0]!] : []),
    outs: new Set(r.af === 4 ? [r.words[0]!] : []),
    a6: { inAddrs: new Set(v.af === 6 ? [key6(v.words)] : []), outAddrs: new Set(r.af === 6 ? [key6(r.words)] : []) },
  };
}

function parse(c: GoldenCase) {
  const buf = fromHex(c.input);
  const m = createFrameMeta();
  parseFrame(buf, 0, buf.length, m);
  return { buf, m };
}

/** Golden frames that are not the engine's to decide, and why. */
const NOT_OURS: [RegExp, string][] = [
  [/SCTP/, 'neither TCP nor UDP'],
  [/quoting another server's packet/, 'the quoted packet is not from a NAT real server'],
  [/^ARP/, 'not IP'],
];

describe('classify over the golden tables: the engine sees each frame as its decision was made', () => {
  for (const c of [...natCases, ...drCases, ...tunCases, ...tuntypesCases, ...icmpCases]) {
    const why = NOT_OURS.find(([re]) => re.test(c.name))?.[1];
    it(`${c.name}: ${why ? `not ours (${why})` : `${c.decision.dir}`}`, () => {
      const { m } = parse(c);
      assert.equal(m.reason, 0, 'parses');
      const { ins, outs, a6 } = sets(c);
      const meta = newMeta();
      const ours = classify(m, ins, outs, meta, a6);
      assert.equal(ours, !why);
      if (!ours) return;
      assert.equal(meta.dir, c.decision.dir);
      assert.equal(meta.bytes, m.ipTotalLen);
      assert.equal(meta.mark, 0);
      // 'in': to the VIP (and, under NAT, the port rewritten); 'out' (a NAT reply, or an ICMP error
      // about one): from the real server. DR and TUN keep the ports, so their decisions name none.
      const nat = c.decision.method === 'masq';
      if (meta.dir === 'in') assert.deepEqual([formatIp(meta.daddr), nat ? meta.dport : 0], [c.decision.vip, nat ? c.decision.vport : 0]);
      else assert.deepEqual([formatIp(meta.saddr), meta.sport], [c.decision.rip, c.decision.rport]);
      // An ICMP error stands for the quoted connection: never a SYN, so it creates nothing.
      if (m.icmpError) assert.equal(meta.tcpFlags, 0x10);
    });
  }

  it('a frame to another address, or from a server that is not a NAT real server, is not ours', () => {
    const c = natCases.find((x) => x.decision.dir === 'in' && x.name.includes('TCP SYN with options'))!;
    const { m } = parse(c);
    const none: Addrs6 = { inAddrs: new Set(), outAddrs: new Set() };
    assert.equal(classify(m, new Set([parseIp('10.0.0.99')!.words[0]!]), new Set(), newMeta(), none), false);
    const reply = natCases.find((x) => x.decision.dir === 'out' && x.name.includes('TCP SYN-ACK') && !x.name.includes('IPv6'))!;
    assert.equal(classify(parse(reply).m, new Set(), new Set([parseIp('10.1.0.99')!.words[0]!]), newMeta(), none), false);
  });
});

describe('classify: malformed frames addressed to a VIP are ours (to drop and count)', () => {
  // Frames whose IPv4 header is there to read the addresses from; the others cannot be told.
  const readable = /bad IHL|IHL larger|total length|bad IPv4 header checksum|truncated TCP|TCP data offset|UDP header truncated|UDP length|fragment \(|later fragment|EtherType carrying version 6|ICMP error quoting a truncated/;
  for (const c of malformedCases) {
    const { buf, m } = parse(c);
    if (m.reason === 0) continue;
    const want = readable.test(c.name) && !/IPv6/.test(c.name);
    // Too short for an IPv4 header: malformed for every receiver, counted whatever it was sent to.
    const tiny = m.etherType === 0x0800 && m.l3Off + 20 > m.off + m.len;
    it(`${c.name}: ${tiny ? 'too short to tell: counted' : want ? 'ours' : 'cannot tell'}`, () => {
      const { ins, outs } = sets(c);
      assert.equal(malformedOurs(buf, m, ins, outs), want || tiny);
      assert.equal(malformedOurs(buf, m, new Set(), new Set()), tiny, tiny ? 'counted without the VIP' : 'not ours without the VIP');
    });
  }
});
