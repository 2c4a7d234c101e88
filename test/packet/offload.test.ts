// src/codec/offload.ts: virtio-net headers, partial checksums and GSO segmentation, against
// frames built from scratch with full checksums (src/codec/build.ts, RFC 1071 over the final
// bytes): a completed partial checksum must equal the built frame byte for byte, and every segment
// of a super-packet must equal the packet a stack would have sent on its own.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { buildFrame, toHex, type EthSpec, type PacketSpec } from '../../src/codec/build.ts';
import { fold16, pseudoSum4, pseudoSum6, rd32, wr16 } from '../../src/codec/checksum.ts';
import { createFrameMeta, DROP_REASON_NAMES, parseFrame } from '../../src/codec/frame.ts';
import {
  createOffloadPlan, createVnetHdr, planOffload, readVnetHdr, writeGsoSegment, writeVnetHdr, VNET_F, VNET_GSO, type VnetHdr,
} from '../../src/codec/offload.ts';

const eth: EthSpec = { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:fe' };
const FIN = 1, SYN = 2, PSH = 8, ACK = 16, CWR = 128;
const C4 = '172.16.0.2', V4 = '10.0.0.100', C6 = 'fd00:16::2', V6 = 'fd00:100::100';
const bytes = (n: number, k = 1) => Uint8Array.from({ length: n }, (_, i) => (i * k + 11) & 255);

/** What a stack with checksum offload hands its device: the L4 checksum field holds the folded pseudo-header sum. */
function makePartial(frame: Uint8Array): { frame: Uint8Array; csumStart: number; csumOffset: number } {
  const f = new Uint8Array(frame);
  const m = parseFrame(f, 0, f.length, createFrameMeta());
  assert.equal(m.reason, 0);
  const field = m.protocol === 6 ? 16 : 6;
  const n = m.l3Off + m.ipTotalLen - m.l4Off;
  const ps = m.af === 4 ? pseudoSum4(rd32(f, m.l3Off + 12), rd32(f, m.l3Off + 16), m.protocol, n) : pseudoSum6(f, m.l3Off + 8, m.l3Off + 24, m.protocol, n);
  wr16(f, m.l4Off + field, fold16(ps));
  return { frame: f, csumStart: m.l4Off, csumOffset: field };
}

function hdr(h: Partial<VnetHdr>): VnetHdr {
  return { ...createVnetHdr(), ...h };
}

const tcp4 = (flags: number, payload: Uint8Array, extra: Partial<PacketSpec['ip']> = {}): PacketSpec => ({
  ip: { src: C4, dst: V4, ttl: 63, id: 0x1c46, df: true, ...extra },
  tcp: { sport: 40000, dport: 80, seq: 0x11223344, ack: 0x55667788, flags, payload },
});
const udp4 = (payload: Uint8Array): PacketSpec => ({ ip: { src: C4, dst: V4, ttl: 63, id: 7 }, udp: { sport: 33333, dport: 53, payload } });
const tcp6 = (flags: number, payload: Uint8Array): PacketSpec => ({ ip: { src: C6, dst: V6, ttl: 63 }, tcp: { sport: 40000, dport: 80, seq: 1000, ack: 2000, flags, payload } });
const udp6 = (payload: Uint8Array): PacketSpec => ({ ip: { src: C6, dst: V6, ttl: 63 }, udp: { sport: 33333, dport: 53, payload } });

describe('a partial checksum is completed in place into the checksum a full computation gives', () => {
  const rows: [string, PacketSpec][] = [
    ['IPv4 TCP SYN', tcp4(SYN, new Uint8Array(0))],
    ['IPv4 TCP data, odd length', tcp4(ACK | PSH, bytes(1001))],
    ['IPv4 TCP with IP options', tcp4(ACK, bytes(300), { options: new Uint8Array([0x94, 0x04, 0, 0]) })],
    ['IPv4 UDP', udp4(bytes(77))],
    ['IPv6 TCP data', tcp6(ACK, bytes(1400))],
    ['IPv6 UDP', udp6(bytes(33))],
  ];
  for (const [name, spec] of rows) {
    test(name, () => {
      const want = buildFrame(eth, spec);
      const p = makePartial(want);
      assert.notEqual(toHex(p.frame), toHex(want), 'the partial frame differs from the complete one');
      const m = parseFrame(p.frame, 0, p.frame.length, createFrameMeta());
      const plan = planOffload(p.frame, m, hdr({ flags: VNET_F.NEEDS_CSUM, csumStart: p.csumStart, csumOffset: p.csumOffset }), createOffloadPlan());
      assert.equal(plan.reason, 0);
      assert.equal(plan.completed, true);
      assert.equal(plan.segments, 0);
      assert.equal(toHex(p.frame), toHex(want));
    });
  }

  test('a UDP checksum that completes to 0 is sent as 0xffff (0 would mean "no checksum")', () => {
    // Find a 2-byte payload whose full UDP checksum is 0 (sum 0xffff), then send it partial.
    let found = false;
    for (let v = 0; v < 65536 && !found; v++) {
      const full = buildFrame(eth, udp4(new Uint8Array([v >>> 8, v & 255])));
      const m = parseFrame(full, 0, full.length, createFrameMeta());
      if (full[m.l4Off + 6] !== 0xff || full[m.l4Off + 7] !== 0xff) continue;
      found = true;
      const p = makePartial(full);
      const plan = planOffload(p.frame, parseFrame(p.frame, 0, p.frame.length, createFrameMeta()), hdr({ flags: VNET_F.NEEDS_CSUM, csumStart: p.csumStart, csumOffset: 6 }), createOffloadPlan());
      assert.equal(plan.completed, true);
      assert.equal(toHex(p.frame), toHex(full));
    }
    assert.ok(found);
  });
});

describe('headers that cannot be honoured are refused by reason and leave the frame untouched', () => {
  const syn = () => makePartial(buildFrame(eth, tcp4(SYN, new Uint8Array(0))));
  const icmp = buildFrame(eth, { ip: { src: C4, dst: V4 }, icmp: { type: 8, code: 0, rest: 0x00010001, payload: bytes(20) } });
  const rows: [string, () => Uint8Array, Partial<VnetHdr>, string][] = [
    ['an unknown flag bit (4)', () => syn().frame, { flags: VNET_F.NEEDS_CSUM | 4, csumStart: 34, csumOffset: 16 }, 'vnet-bad-flags'],
    ['an unknown flag bit (0x80)', () => syn().frame, { flags: 0x80 }, 'vnet-bad-flags'],
    ['UFO (gso type 3, never produced by current kernels)', () => syn().frame, { gsoType: VNET_GSO.UDP, gsoSize: 1000 }, 'vnet-bad-gso'],
    ['TCPV6 on an IPv4 packet', () => syn().frame, { gsoType: VNET_GSO.TCPV6, gsoSize: 1000 }, 'vnet-bad-gso'],
    ['TCPV4 on a UDP packet', () => buildFrame(eth, udp4(bytes(3000))), { gsoType: VNET_GSO.TCPV4, gsoSize: 1000 }, 'vnet-bad-gso'],
    ['gso size 0', () => syn().frame, { gsoType: VNET_GSO.TCPV4, gsoSize: 0 }, 'vnet-bad-gso'],
    ['an unknown gso type (9)', () => syn().frame, { gsoType: 9, gsoSize: 1000 }, 'vnet-bad-gso'],
    ['ECN without a gso type', () => syn().frame, { gsoType: VNET_GSO.ECN }, 'vnet-bad-gso'],
    ['csum_start not at the TCP header', () => syn().frame, { flags: VNET_F.NEEDS_CSUM, csumStart: 30, csumOffset: 16 }, 'vnet-bad-csum'],
    ['csum_offset not the TCP checksum', () => syn().frame, { flags: VNET_F.NEEDS_CSUM, csumStart: 34, csumOffset: 6 }, 'vnet-bad-csum'],
    ['a partial checksum on ICMP', () => new Uint8Array(icmp), { flags: VNET_F.NEEDS_CSUM, csumStart: 34, csumOffset: 2 }, 'vnet-bad-csum'],
  ];
  for (const [name, frame, h, reason] of rows) {
    test(`${name}: ${reason}`, () => {
      const f = frame();
      const before = toHex(f);
      const m = parseFrame(f, 0, f.length, createFrameMeta());
      assert.equal(m.reason, 0);
      const plan = planOffload(f, m, hdr(h), createOffloadPlan());
      assert.equal(DROP_REASON_NAMES[plan.reason], reason);
      assert.equal(toHex(f), before);
    });
  }

  test('DATA_VALID alone (the receiver verified the checksum) changes nothing', () => {
    const f = buildFrame(eth, tcp4(ACK, bytes(100)));
    const before = toHex(f);
    const plan = planOffload(f, parseFrame(f, 0, f.length, createFrameMeta()), hdr({ flags: VNET_F.DATA_VALID }), createOffloadPlan());
    assert.deepEqual([plan.reason, plan.completed, plan.segments], [0, false, 0]);
    assert.equal(toHex(f), before);
  });
});

describe('GSO super-packets are cut into the segments a stack would have sent', () => {
  /** The segment a stack sends on its own: payload slice, seq, IP id, flags as tcp_gso_segment leaves them. */
  const rows: { name: string; whole: (p: Uint8Array, flags: number) => PacketSpec; flags: number; payload: number; mss: number; gso: number; seg: (i: number, n: number, p: Uint8Array) => PacketSpec }[] = [
    {
      name: 'IPv4 TCP, 4000 bytes at MSS 1448, FIN|PSH|CWR on the super-packet', gso: VNET_GSO.TCPV4, payload: 4000, mss: 1448, flags: ACK | PSH | FIN | CWR,
      whole: (p, f) => tcp4(f, p),
      seg: (i, n, p) => ({
        ip: { src: C4, dst: V4, ttl: 63, id: 0x1c46 + i, df: true },
        tcp: { sport: 40000, dport: 80, seq: 0x11223344 + i * 1448, ack: 0x55667788, flags: ACK | (i === n - 1 ? PSH | FIN : 0) | (i === 0 ? CWR : 0), payload: p.subarray(i * 1448, (i + 1) * 1448) },
      }),
    },
    {
      name: 'IPv4 TCP with timestamps, IP id wrapping at 65535', gso: VNET_GSO.TCPV4 | VNET_GSO.ECN, payload: 2 * 1000 + 1, mss: 1000, flags: ACK,
      whole: (p, f) => ({ ip: { src: C4, dst: V4, ttl: 63, id: 0xffff, df: true }, tcp: { sport: 40000, dport: 80, seq: 0xfffffc00, ack: 1, flags: f, options: new Uint8Array([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]), payload: p } }),
      seg: (i, _n, p) => ({ ip: { src: C4, dst: V4, ttl: 63, id: (0xffff + i) & 0xffff, df: true }, tcp: { sport: 40000, dport: 80, seq: (0xfffffc00 + i * 1000) >>> 0, ack: 1, flags: ACK, options: new Uint8Array([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]), payload: p.subarray(i * 1000, (i + 1) * 1000) } }),
    },
    {
      name: 'IPv6 TCP, 3000 bytes at MSS 1428', gso: VNET_GSO.TCPV6, payload: 3000, mss: 1428, flags: ACK | PSH,
      whole: (p, f) => tcp6(f, p),
      seg: (i, n, p) => ({ ip: { src: C6, dst: V6, ttl: 63 }, tcp: { sport: 40000, dport: 80, seq: 1000 + i * 1428, ack: 2000, flags: ACK | (i === n - 1 ? PSH : 0), payload: p.subarray(i * 1428, (i + 1) * 1428) } }),
    },
    {
      name: 'IPv4 UDP_L4 (UDP_SEGMENT), 2500 bytes at 1200', gso: VNET_GSO.UDP_L4, payload: 2500, mss: 1200, flags: 0,
      whole: (p) => udp4(p),
      seg: (i, _n, p) => ({ ip: { src: C4, dst: V4, ttl: 63, id: 7 + i }, udp: { sport: 33333, dport: 53, payload: p.subarray(i * 1200, (i + 1) * 1200) } }),
    },
  ];
  for (const r of rows) {
    test(r.name, () => {
      const payload = bytes(r.payload, 7);
      const p = makePartial(buildFrame(eth, r.whole(payload, r.flags)));
      const m = parseFrame(p.frame, 0, p.frame.length, createFrameMeta());
      assert.equal(m.reason, 0);
      const plan = planOffload(p.frame, m, hdr({ flags: VNET_F.NEEDS_CSUM, gsoType: r.gso, gsoSize: r.mss, csumStart: p.csumStart, csumOffset: p.csumOffset }), createOffloadPlan());
      const n = Math.ceil(r.payload / r.mss);
      assert.deepEqual([plan.reason, plan.segments, plan.gsoSize], [0, n, r.mss]);
      const out = new Uint8Array(4096);
      for (let i = 0; i < n; i++) {
        const len = writeGsoSegment(p.frame, m, plan.gsoSize, i, out, 64);
        assert.equal(toHex(out.subarray(64, 64 + len)), toHex(buildFrame(eth, r.seg(i, n, payload))), `segment ${i}`);
      }
      assert.equal(writeGsoSegment(p.frame, m, plan.gsoSize, n, out, 64), 0, 'no segment past the last');
    });
  }

  test('a super-packet whose payload fits one segment is forwarded whole, its checksum completed', () => {
    const want = buildFrame(eth, tcp4(ACK, bytes(500)));
    const p = makePartial(want);
    const m = parseFrame(p.frame, 0, p.frame.length, createFrameMeta());
    const plan = planOffload(p.frame, m, hdr({ flags: VNET_F.NEEDS_CSUM, gsoType: VNET_GSO.TCPV4, gsoSize: 1448, csumStart: p.csumStart, csumOffset: 16 }), createOffloadPlan());
    assert.deepEqual([plan.reason, plan.segments, plan.completed], [0, 0, true]);
    assert.equal(toHex(p.frame), toHex(want));
  });

  test('a segment that does not fit the output buffer is not written', () => {
    const p = makePartial(buildFrame(eth, tcp4(ACK, bytes(3000))));
    const m = parseFrame(p.frame, 0, p.frame.length, createFrameMeta());
    assert.equal(writeGsoSegment(p.frame, m, 1448, 0, new Uint8Array(1000), 0), 0);
  });
});

test('the header reads and writes its little-endian fields', () => {
  const b = new Uint8Array(12);
  const h = hdr({ flags: 1, gsoType: 0x81, hdrLen: 0x0142, gsoSize: 1448, csumStart: 34, csumOffset: 16 });
  writeVnetHdr(b, 1, h);
  assert.equal(toHex(b), '00' + '0181' + '4201' + 'a805' + '2200' + '1000' + '00');
  assert.deepEqual(readVnetHdr(b, 1, createVnetHdr()), h);
});
