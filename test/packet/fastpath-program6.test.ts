// The kernel fast path program (bpf/tsvs_fastpath.c, built and loaded as the daemon does) run by
// the kernel (BPF_PROG_TEST_RUN) on IPv6 NAT frames: established flows in `flows6` rewritten both
// ways (address, port, and the TCP/UDP checksum through its pseudo-header) exactly as a full
// computation gives (buildFrame), counted in their entries; the close carried in the kernel as
// IPv4's (FINs reported with both entries kept, the last ACK ending both with END and GONE); new
// connections taken on IPv6 decisions ahead (`svcs6`), DR and NAT.
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { buildFrame, toHex, type PacketSpec } from '../../src/codec/build.ts';
import { parseMac } from '../../src/codec/ethernet.ts';
import { parseIp } from '../../src/core/addr.ts';
import { AHEAD_SLOT_BYTES, AHEAD_SLOTS, KernelFastPath, type FlowEvent } from '../../src/os/bpf.ts';
import { FLOW_EV, FLOW_NAT, FLOW_VAL, KEY6_BYTES, NADDR6, VAL6_BYTES, writeFlowKey6 } from '../../src/os/flow-map.ts';
import { runModes } from './run-modes.ts';

const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root (loads a BPF program)';
const TC_OK = 0, TC_REDIRECT = 7;

const CLIENT = 'fd00:16::2', VIP = 'fd00:100::100', RIP = 'fd00:10::11';
const fromClient = { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:fe' }, toRs = { src: '02:00:00:00:01:fe', dst: '02:00:00:00:01:11' };
const fromRs = { src: '02:00:00:00:01:11', dst: '02:00:00:00:01:fe' }, toClient = { src: '02:00:00:00:00:fe', dst: '02:00:00:00:00:01' };
const w = (s: string): readonly number[] => parseIp(s)!.words;
const payload = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 255);
const tcp = (src: string, dst: string, sport: number, dport: number, hl: number, fl = 0x18, n = 333): PacketSpec =>
  ({ ip: { src, dst, ttl: hl, flowLabel: 0x12345 }, tcp: { sport, dport, seq: 1000, ack: 2000, flags: fl, payload: payload(n) } });
const udp = (src: string, dst: string, sport: number, dport: number, hl: number, zeroCsum = false): PacketSpec =>
  ({ ip: { src, dst, ttl: hl }, udp: { sport, dport, payload: payload(45), zeroCsum } });

/** An entry of `flows6` as fastpath6.ts writes it: NAT kind, the address and port written, the egress MACs. */
function entry(nat: number, addr: string, port: number, mac: { src: string; dst: string }): Uint8Array {
  const v = new Uint8Array(VAL6_BYTES);
  const d = new DataView(v.buffer);
  v.set(parseMac(mac.dst)!, FLOW_VAL.DMAC);
  v.set(parseMac(mac.src)!, FLOW_VAL.SMAC);
  d.setUint32(FLOW_VAL.IFINDEX, 1, true);
  d.setUint16(FLOW_VAL.MTU, 1500, true);
  v[FLOW_VAL.NAT] = nat;
  w(addr).forEach((x, i) => d.setUint32(NADDR6 + 4 * i, x, false));
  d.setUint16(FLOW_VAL.NPORT, port, false);
  return v;
}
function key(src: string, dst: string, sport: number, dport: number, proto: number): Uint8Array {
  const k = new Uint8Array(KEY6_BYTES);
  writeFlowKey6(k, w(src), w(dst), sport, dport, proto);
  return k;
}

for (const mode of runModes(skip)) describe(`kernel fast path program on IPv6 NAT frames (BPF_PROG_TEST_RUN)${mode.suffix}`, { skip: mode.skip }, () => {
  let fp: KernelFastPath;
  const run = (frame: Uint8Array, gso?: { segs: number; size: number }) => fp.testRun(frame, gso, mode.opts);
  const ev: FlowEvent = { saddr: 0, daddr: 0, sport: 0, dport: 0, proto: 0, flags: 0, len: 0, pkts: 0, bytes: 0, kind: 0, token: 0 };
  const events = (): FlowEvent[] => {
    const got: FlowEvent[] = [];
    fp.readEvents((e) => got.push({ ...e, saddr6: e.saddr6?.slice(), daddr6: e.daddr6?.slice() }), ev);
    return got;
  };
  before(() => { fp = KernelFastPath.open([], 'tc', { staleMs: 500, orphanMs: 30_000 }); });
  after(() => fp?.close());
  beforeEach(() => fp?.heartbeat());
  const pkts = (k: Uint8Array): bigint => {
    const out = new Uint8Array(VAL6_BYTES);
    assert.ok(fp.flows6.get(k, out), 'the entry is in the kernel');
    return new DataView(out.buffer).getBigUint64(FLOW_VAL.PKTS, true);
  };

  /** [name, frame in, entry (its key is the frame's tuple), frame out: as a full computation writes it]. */
  const rows: [string, Uint8Array, Uint8Array, Uint8Array][] = [
    ['client TCP data: destination [VIP]:80 -> [RIP]:8080', buildFrame(fromClient, tcp(CLIENT, VIP, 40000, 80, 64)), entry(FLOW_NAT.DST, RIP, 8080, toRs), buildFrame(toRs, tcp(CLIENT, RIP, 40000, 8080, 63))],
    ['reply TCP data: source [RIP]:8080 -> [VIP]:80', buildFrame(fromRs, tcp(RIP, CLIENT, 8080, 40000, 64)), entry(FLOW_NAT.SRC, VIP, 80, toClient), buildFrame(toClient, tcp(VIP, CLIENT, 80, 40000, 63))],
    ['client TCP, odd payload length', buildFrame(fromClient, tcp(CLIENT, VIP, 40001, 80, 9, 0x10, 1)), entry(FLOW_NAT.DST, RIP, 8080, toRs), buildFrame(toRs, tcp(CLIENT, RIP, 40001, 8080, 8, 0x10, 1))],
    ['client UDP: [VIP]:53 -> [RIP]:5353', buildFrame(fromClient, udp(CLIENT, VIP, 33333, 53, 64)), entry(FLOW_NAT.DST, RIP, 5353, toRs), buildFrame(toRs, udp(CLIENT, RIP, 33333, 5353, 63))],
    ['reply UDP: [RIP]:5353 -> [VIP]:53', buildFrame(fromRs, udp(RIP, CLIENT, 5353, 33333, 64)), entry(FLOW_NAT.SRC, VIP, 53, toClient), buildFrame(toClient, udp(VIP, CLIENT, 53, 33333, 63))],
    // (Invalid in IPv6, as the kernel's ip6_forward passes it on; the receiver drops it.)
    ['client UDP without a checksum: passed on without one', buildFrame(fromClient, udp(CLIENT, VIP, 33334, 53, 64, true)), entry(FLOW_NAT.DST, RIP, 5353, toRs), buildFrame(toRs, udp(CLIENT, RIP, 33334, 5353, 63, true))],
    ['reply SYN-ACK: carried by the replies\' entry', buildFrame(fromRs, tcp(RIP, CLIENT, 8080, 40002, 64, 0x12, 0)), entry(FLOW_NAT.SRC, VIP, 80, toClient), buildFrame(toClient, tcp(VIP, CLIENT, 80, 40002, 63, 0x12, 0))],
  ];
  for (const [name, input, val, want] of rows) {
    it(name, () => {
      const d = new DataView(input.buffer, input.byteOffset);
      const src = [0, 1, 2, 3].map((i) => d.getUint32(22 + 4 * i)), dst = [0, 1, 2, 3].map((i) => d.getUint32(38 + 4 * i));
      const k = new Uint8Array(KEY6_BYTES);
      writeFlowKey6(k, src, dst, d.getUint16(54), d.getUint16(56), input[20]!);
      assert.ok(fp.flows6.put(k, val));
      try {
        const r = run(input);
        assert.equal(r.retval, TC_REDIRECT, 'forwarded by the program');
        assert.equal(toHex(r.out), toHex(want), 'rewritten as a full computation gives');
        assert.equal(pkts(k), 1n, 'counted in the entry');
        assert.deepEqual(events(), []);
      } finally {
        fp.flows6.take(k, new Uint8Array(VAL6_BYTES));
      }
    });
  }

  it('a SYN, a SYN-ACK on a DR flow, a hop limit of 1 are left to user space untouched', () => {
    const ck = key(CLIENT, VIP, 40003, 80, 6);
    const dr = entry(FLOW_NAT.NONE, '::', 0, toRs);
    assert.ok(fp.flows6.put(ck, dr));
    try {
      for (const [what, f] of [['SYN', 0x02, 64], ['SYN-ACK', 0x12, 64], ['hop limit 1', 0x10, 1]] as const) {
        const input = buildFrame(fromClient, tcp(CLIENT, VIP, 40003, 80, f === 0x10 ? 1 : 64, f === 0x10 ? 0x10 : f, 0));
        const r = run(input);
        assert.equal(r.retval, TC_OK, what);
        assert.equal(toHex(r.out), toHex(input), `${what}: untouched`);
      }
      assert.deepEqual(events(), []);
    } finally {
      fp.flows6.take(ck, new Uint8Array(VAL6_BYTES));
    }
  });

  /** A ring of one decision ahead for the IPv6 service [VIP]:80/tcp, as fastpath-ahead.ts writes it (`nat`: to [addr]:port). */
  function publish6(mac: { src: string; dst: string }, token: number, nat?: { addr: string; port: number }): void {
    fp.setAheadService6(w(VIP), 80, 6, 0);
    const words = new Int32Array(fp.aheadMem), view = new DataView(fp.aheadMem), bytes = new Uint8Array(fp.aheadMem);
    const tail = Atomics.load(words, 1);
    const o = 16 + ((tail >>> 0) % AHEAD_SLOTS) * AHEAD_SLOT_BYTES;
    bytes.fill(0, o, o + AHEAD_SLOT_BYTES);
    bytes.set(parseMac(mac.dst)!, o);
    bytes.set(parseMac(mac.src)!, o + 6);
    view.setUint32(o + 12, 1, true);
    view.setUint16(o + 16, 1500, true);
    view.setUint32(o + 20, token, true);
    if (nat) {
      bytes[o + 18] = FLOW_NAT.DST;
      w(nat.addr).forEach((x, i) => view.setUint32(o + 40 + 4 * i, x, false));
      view.setUint16(o + 28, nat.port, false);
    }
    Atomics.store(words, 1, tail + 1);
  }
  function unpublish6(): void {
    fp.setAheadService6(w(VIP), 80, 6, null);
    const words = new Int32Array(fp.aheadMem);
    Atomics.store(words, 0, Atomics.load(words, 1));
  }

  describe('IPv6 decisions ahead: a new connection\'s SYN taken by the kernel', () => {
    const back = { src: fromClient.dst, dst: fromClient.src };
    it('DR: the SYN forwarded (hop limit, MACs) and taken (EV_TAKEN, the token, an IPv6 report); the handshake\'s ACK forwarded and reported at once', () => {
      const sport = 40300;
      publish6(toRs, 77);
      const ck = key(CLIENT, VIP, sport, 80, 6);
      try {
        const syn = buildFrame(fromClient, tcp(CLIENT, VIP, sport, 80, 64, 0x02, 0));
        const r = run(syn);
        assert.equal(r.retval, TC_REDIRECT);
        assert.equal(toHex(r.out), toHex(buildFrame(toRs, tcp(CLIENT, VIP, sport, 80, 63, 0x02, 0))));
        const got = events();
        assert.deepEqual(got.map((e) => [e.af, e.kind, e.token, e.sport, e.flags]), [[6, FLOW_EV.TAKEN, 77, sport, 0x02]]);
        assert.deepEqual([...got[0]!.saddr6!], [...w(CLIENT)]);
        const v = new Uint8Array(VAL6_BYTES);
        assert.ok(fp.flows6.get(ck, v));
        assert.deepEqual([v[FLOW_VAL.NAT], v[FLOW_VAL.NEED_ACK]], [FLOW_NAT.NONE, 1], 'installed in SYN_RECV, the first ACK to report');
        const ack = run(buildFrame(fromClient, tcp(CLIENT, VIP, sport, 80, 64, 0x10, 0)));
        assert.equal(ack.retval, TC_REDIRECT);
        assert.deepEqual(events().map((e) => [e.kind, e.flags]), [[FLOW_EV.STATE, 0x10]], 'the handshake ACK reported');
        assert.equal(run(syn).retval, TC_OK, 'a SYN on a known flow: the engine\'s');
        const words = new Int32Array(fp.aheadMem);
        assert.equal(Atomics.load(words, 1) - Atomics.load(words, 0), 0, 'the one decision was taken');
      } finally {
        unpublish6();
        fp.flows6.take(ck, new Uint8Array(VAL6_BYTES));
      }
    });

    it('NAT: the SYN -> [RIP]:8080 with its checksum, taken (EV_TAKEN_NAT); the SYN-ACK -> [VIP]:80 back to the SYN\'s sender by the replies\' entry, counted; the handshake ACK rewritten and reported', () => {
      const sport = 40301;
      publish6(toRs, 78, { addr: RIP, port: 8080 });
      const ck = key(CLIENT, VIP, sport, 80, 6), rk = key(RIP, CLIENT, 8080, sport, 6);
      try {
        const r = run(buildFrame(fromClient, tcp(CLIENT, VIP, sport, 80, 64, 0x02, 0)));
        assert.equal(r.retval, TC_REDIRECT);
        assert.equal(toHex(r.out), toHex(buildFrame(toRs, tcp(CLIENT, RIP, sport, 8080, 63, 0x02, 0))), 'the SYN as user space would rewrite it');
        assert.deepEqual(events().map((e) => [e.kind, e.token, e.sport]), [[FLOW_EV.TAKEN_NAT, 78, sport]]);
        const sa = run(buildFrame(fromRs, tcp(RIP, CLIENT, 8080, sport, 64, 0x12, 0)));
        assert.equal(sa.retval, TC_REDIRECT, 'the server\'s SYN-ACK carried by the replies\' entry');
        assert.equal(toHex(sa.out), toHex(buildFrame(back, tcp(VIP, CLIENT, 80, sport, 63, 0x12, 0))));
        assert.deepEqual(events(), [], 'a SYN-ACK changes no state: only counted');
        assert.equal(pkts(rk), 1n);
        const ack = run(buildFrame(fromClient, tcp(CLIENT, VIP, sport, 80, 64, 0x10, 0)));
        assert.equal(ack.retval, TC_REDIRECT);
        assert.equal(toHex(ack.out), toHex(buildFrame(toRs, tcp(CLIENT, RIP, sport, 8080, 63, 0x10, 0))));
        assert.deepEqual(events().map((e) => [e.kind, e.flags]), [[FLOW_EV.STATE, 0x10]], 'the handshake ACK reported');
      } finally {
        unpublish6();
        for (const k of [ck, rk]) fp.flows6.take(k, new Uint8Array(VAL6_BYTES));
      }
    });

    it('no decision waiting, or a stale heartbeat: the SYN is left to user space', () => {
      const syn = buildFrame(fromClient, tcp(CLIENT, VIP, 40302, 80, 64, 0x02, 0));
      assert.equal(run(syn).retval, TC_OK, 'no ring for the service');
      fp.setAheadService6(w(VIP), 80, 6, 0);
      try {
        assert.equal(run(syn).retval, TC_OK, 'an empty ring');
      } finally {
        unpublish6();
      }
      assert.deepEqual(events(), []);
    });
  });

  // The close: each packet rewritten (or left to user space: `pass`), with the reports it makes as
  // [kind, flags, pkts, token, end]: none for a FIN (recorded in both entries), one END (5) for the
  // last ACK or a RST, which ends both entries and carries [the other entry's pkts, this entry's
  // FIN bits (SELF 1, PEER 2, FIRST 4), its FIN's flags and length, the other's] (struct flow_end6).
  type Step = readonly ['in' | 'out', number, readonly (readonly [number, number, number, number, readonly number[] | null])[], 'pass'?];
  const closes: { name: string; seq: readonly Step[] }[] = [
    { name: 'the real server closes first', seq: [['out', 0x11, []], ['in', 0x10, []], ['in', 0x11, []], ['out', 0x10, [[5, 0x10, 1, 1, [2, 7, 0x11, 60, 0x11, 60]]]]] },
    { name: 'the client closes first', seq: [['in', 0x11, []], ['out', 0x10, []], ['out', 0x11, []], ['in', 0x10, [[5, 0x10, 1, 1, [2, 7, 0x11, 60, 0x11, 60]]]]] },
    { name: 'a simultaneous close: the first last ACK ends both, the second is left to user space', seq: [['in', 0x11, []], ['out', 0x11, []], ['in', 0x10, [[5, 0x10, 1, 1, [1, 7, 0x11, 60, 0x11, 60]]]], ['out', 0x10, [], 'pass']] },
    { name: 'a RST from the client after the real server\'s FIN ends both entries', seq: [['out', 0x11, []], ['in', 0x14, [[5, 0x14, 1, 1, [1, 2, 0, 0, 0x11, 60]]]]] },
    { name: 'a RST from the real server after the client\'s FIN ends both entries', seq: [['in', 0x11, []], ['out', 0x14, [[5, 0x14, 1, 1, [1, 2, 0, 0, 0x11, 60]]]]] },
  ];
  for (const [i, c] of closes.entries()) {
    it(`IPv6 NAT close in the kernel, ${c.name}: every packet rewritten, the FINs recorded with both entries kept, the last ACK or a RST ends both with one report`, () => {
      const sport = 40200 + i;
      const ck = key(CLIENT, VIP, sport, 80, 6), rk = key(RIP, CLIENT, 8080, sport, 6);
      assert.ok(fp.flows6.put(ck, entry(FLOW_NAT.DST, RIP, 8080, toRs)));
      assert.ok(fp.flows6.put(rk, entry(FLOW_NAT.SRC, VIP, 80, toClient)));
      const io = (dir: 'in' | 'out', fl: number, n = 0): [Uint8Array, Uint8Array] => dir === 'in'
        ? [buildFrame(fromClient, tcp(CLIENT, VIP, sport, 80, 64, fl, n)), buildFrame(toRs, tcp(CLIENT, RIP, sport, 8080, 63, fl, n))]
        : [buildFrame(fromRs, tcp(RIP, CLIENT, 8080, sport, 64, fl, n)), buildFrame(toClient, tcp(VIP, CLIENT, 80, sport, 63, fl, n))];
      try {
        // Data each way, counted.
        for (const dir of ['in', 'out'] as const) assert.equal(run(io(dir, 0x18, 100)[0]).retval, TC_REDIRECT);
        assert.deepEqual(events(), []);
        for (const [dir, fl, want, pass] of c.seq) {
          const [inp, exp] = io(dir, fl);
          const r = run(inp);
          if (pass) {
            assert.equal(r.retval, TC_OK, `${dir} ${fl.toString(16)} left to user space`);
          } else {
            assert.equal(r.retval, TC_REDIRECT, `${dir} ${fl.toString(16)} forwarded`);
            assert.equal(toHex(r.out), toHex(exp), `${dir} ${fl.toString(16)} rewritten`);
          }
          const got = events();
          assert.deepEqual(got.map((e) => [e.kind, e.flags, e.pkts, e.token, e.end ? [e.end.peerPkts, e.end.fin, e.end.finFlags, e.end.finLen, e.end.peerFinFlags, e.end.peerFinLen] : null]), want.map((x) => [...x]));
          for (const e of got) {
            // END names the last packet's entry.
            assert.equal(e.af, 6, 'IPv6 reports');
            const mine = dir === 'in' ? [CLIENT, VIP] : [RIP, CLIENT];
            assert.deepEqual([[...e.saddr6!], [...e.daddr6!]], mine.map((x) => [...w(x)]));
          }
        }
        const v = new Uint8Array(VAL6_BYTES);
        assert.deepEqual([fp.flows6.get(ck, v), fp.flows6.get(rk, v)], [false, false], 'both entries left the kernel');
      } finally {
        for (const k of [ck, rk]) fp.flows6.take(k, new Uint8Array(VAL6_BYTES));
      }
    });
  }
});
