// The kernel fast path's IPv6 table (src/forwarders/packet/fastpath6.ts) against the real engine,
// with MemoryFlowMap (IPv6 keys) standing for `flows6`: which IPv6 DR connections are installed,
// that the kernel's counts reach the engine's statistics once, and that a FIN's report or the
// engine's word removes them; IPv6 NAT's two entries (client's direction and replies'), their
// counts as InPkts and OutPkts, and its close carried in the kernel (CLOSING, END, GONE).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rig, ip, svcKey, flags } from '../core/engine-rig.ts';
import { FastPathTable6, svcKey6 } from '../../src/forwarders/packet/fastpath6.ts';
import { key6 } from '../../src/forwarders/packet/classify.ts';
import { FLOW_EV, FLOW_FIN, FLOW_NAT, FLOW_VAL, KEY6_BYTES, NADDR6, VAL6_BYTES as VAL_BYTES, MemoryFlowMap, writeFlowKey6 } from '../../src/os/flow-map.ts';
import type { NextHop } from '../../src/forwarders/packet/forwarder.ts';
import { FAST, newAction } from '../../src/forwarders/packet/decision.ts';
import { TCP_S } from '../../src/core/proto.ts';
import type { PacketIn } from '../../src/core/engine.ts';
import { newMeta, type PacketMeta } from '../../src/forwarders/packet/classify.ts';
import { verdictToAction } from '../../src/forwarders/packet/index.ts';
import type { FwdMethod } from '../../src/core/types.ts';

const HOP: NextHop = { ifindex: 2, mac: new Uint8Array([2, 0, 0, 0, 0, 0x11]), srcMac: new Uint8Array([2, 0, 0, 0, 0, 1]), src: 0, mtu: 1500 };
const VIP = 'fd00:100::100', CLIENT = 'fd00:16::2';

function director(method: FwdMethod) {
  const rig = new Rig();
  const key = { ...svcKey('tcp', VIP, 80), af: 6 as const };
  rig.service(key, { scheduler: 'rr' }).dest(key, 'fd00:10::11', 80, method, { af: 6 });
  rig.at(1);
  const map = new MemoryFlowMap(65536, KEY6_BYTES);
  const table = new FastPathTable6(map, (c, p, b) => rig.e.countForwarded(c, p, b), new Set([2]));
  const m: PacketMeta = newMeta();
  const a = newAction();
  /** User space forwards a packet: the engine decides it, the table follows. */
  const user = (fl: string, bytes = 80): void => {
    Object.assign(m, { dir: 'in', af: 6, protocol: 'tcp', saddr: ip(CLIENT), sport: 40000, daddr: ip(VIP), dport: 80, tcpFlags: flags(fl), bytes, mark: 0 });
    verdictToAction(m, rig.in('tcp', `[${CLIENT}]:40000`, `[${VIP}]:80`, fl, bytes), a);
    table.offer(m, a, HOP);
  };
  const kkey = new Uint8Array(KEY6_BYTES);
  writeFlowKey6(kkey, ip(CLIENT).words, ip(VIP).words, 40000, 80, 6);
  /** The kernel counts `n` packets of `bytes` in the flow's entry (what the program does). */
  const kernel = (n: number, bytes: number): void => {
    const v = new Uint8Array(VAL_BYTES);
    assert.ok(map.get(kkey, v), 'the flow is in the kernel');
    const d = new DataView(v.buffer);
    d.setBigUint64(FLOW_VAL.PKTS, d.getBigUint64(FLOW_VAL.PKTS, true) + BigInt(n), true);
    d.setBigUint64(FLOW_VAL.BYTES, d.getBigUint64(FLOW_VAL.BYTES, true) + BigInt(n * bytes), true);
    map.put(kkey, v);
  };
  const inpkts = () => rig.e.service(key)!.stats.inpkts;
  return { rig, map, table, user, kernel, kkey, m, a, inpkts };
}

test('IPv6 DR: installed at SYN_RECV with "report the first ACK", the kernel\'s counts reach InPkts once, the FIN\'s report removes the flow', () => {
  const d = director('route');
  d.user('S');
  assert.equal(d.table.size, 1, 'installed in SYN_RECV');
  const v = new Uint8Array(VAL_BYTES);
  assert.ok(d.map.get(d.kkey, v));
  assert.equal(v[FLOW_VAL.NEED_ACK], 1);
  // The handshake's ACK comes back as an event (the kernel cleared need_ack), then ESTABLISHED data in the kernel.
  d.table.reported(ip(CLIENT).words, ip(VIP).words, 40000, 80, flags('A'), 0, 0);
  d.user('A');
  d.kernel(5, 100);
  d.table.sweep();
  d.table.sweep();
  assert.equal(d.inpkts(), 2 + 5, 'SYN, ACK and the 5 packets the kernel forwarded, each once');
  assert.equal(d.table.counters.forwarded, 5);
  // The FIN: the kernel removed the flow and reports its counters (2 more since the sweep).
  d.kernel(2, 100);
  const last = new Uint8Array(VAL_BYTES);
  d.map.take(d.kkey, last);
  const lv = new DataView(last.buffer);
  d.table.reported(ip(CLIENT).words, ip(VIP).words, 40000, 80, flags('FA'), Number(lv.getBigUint64(FLOW_VAL.PKTS, true)), Number(lv.getBigUint64(FLOW_VAL.BYTES, true)));
  d.user('FA');
  assert.equal(d.table.size, 0, 'the FIN ended the flow');
  assert.equal(d.inpkts(), 2 + 5 + 2 + 1);
  assert.equal(d.table.counters.events, 2);
});

const RIP = 'fd00:10::11';
const CHOP: NextHop = { ifindex: 2, mac: new Uint8Array([2, 0, 0, 0, 0, 0x22]), srcMac: new Uint8Array([2, 0, 0, 0, 0, 2]), src: 0, mtu: 1500 };

/** An IPv6 NAT director: `user` forwards a packet either way (the engine decides, the table follows). */
function natDirector(withClientHop = true, clientHop: () => NextHop | undefined = () => CHOP) {
  const rig = new Rig();
  const key = { ...svcKey('tcp', VIP, 80), af: 6 as const };
  rig.service(key, { scheduler: 'rr' }).dest(key, RIP, 8080, 'masq', { af: 6 });
  rig.at(1);
  const map = new MemoryFlowMap(65536, KEY6_BYTES);
  const table = new FastPathTable6(map, (c, p, b, out) => rig.e.countForwarded(c, p, b, out), new Set([2]), withClientHop ? clientHop : undefined);
  const m: PacketMeta = newMeta();
  const a = newAction();
  const user = (dir: 'in' | 'out', fl: string, bytes = 80): void => {
    if (dir === 'in') {
      Object.assign(m, { dir, af: 6, protocol: 'tcp', saddr: ip(CLIENT), sport: 40000, daddr: ip(VIP), dport: 80, tcpFlags: flags(fl), bytes, mark: 0 });
      verdictToAction(m, rig.in('tcp', `[${CLIENT}]:40000`, `[${VIP}]:80`, fl, bytes), a);
    } else {
      Object.assign(m, { dir, af: 6, protocol: 'tcp', saddr: ip(RIP), sport: 8080, daddr: ip(CLIENT), dport: 40000, tcpFlags: flags(fl), bytes, mark: 0 });
      verdictToAction(m, rig.out('tcp', `[${RIP}]:8080`, `[${CLIENT}]:40000`, fl, bytes), a);
    }
    table.offer(m, a, HOP);
  };
  const inKey = new Uint8Array(KEY6_BYTES), outKey = new Uint8Array(KEY6_BYTES);
  writeFlowKey6(inKey, ip(CLIENT).words, ip(VIP).words, 40000, 80, 6);
  writeFlowKey6(outKey, ip(RIP).words, ip(CLIENT).words, 8080, 40000, 6);
  /** The kernel counts `n` packets of `bytes` in an entry. */
  const kernel = (k: Uint8Array, n: number, bytes: number): void => {
    const v = new Uint8Array(VAL_BYTES);
    assert.ok(map.get(k, v), 'the entry is in the kernel');
    const dv = new DataView(v.buffer);
    dv.setBigUint64(FLOW_VAL.PKTS, dv.getBigUint64(FLOW_VAL.PKTS, true) + BigInt(n), true);
    dv.setBigUint64(FLOW_VAL.BYTES, dv.getBigUint64(FLOW_VAL.BYTES, true) + BigInt(n * bytes), true);
    map.put(k, v);
  };
  const count = (k: Uint8Array): [number, number] => {
    const v = new Uint8Array(VAL_BYTES);
    assert.ok(map.get(k, v));
    const dv = new DataView(v.buffer);
    return [Number(dv.getBigUint64(FLOW_VAL.PKTS, true)), Number(dv.getBigUint64(FLOW_VAL.BYTES, true))];
  };
  const stats = () => rig.e.service(key)!.stats;
  const handshake = (): void => {
    user('in', 'S');
    user('out', 'SA');
    user('in', 'A');
  };
  // host.ts: a FIN the kernel recorded is decided as its sender's packet.
  const fm: PacketMeta = newMeta(), fa = newAction();
  table.decideRecorded = (sa, da, sp, dp, proto, fl, len, out, offer) => {
    Object.assign(fm, { dir: out ? 'out' : 'in', af: 6, protocol: proto === 17 ? 'udp' : 'tcp', saddr: { af: 6, words: Array.from(sa) }, daddr: { af: 6, words: Array.from(da) }, sport: sp, dport: dp, tcpFlags: fl, bytes: len, mark: 0 });
    verdictToAction(fm, rig.e.processPacket(fm as unknown as PacketIn), fa);
    if (offer) table.offer(fm, fa, HOP);
  };
  /** What fast_step6 does with a NAT FIN: recorded in both entries (FLOW_FIN), not counted. */
  const recordFin = (dir: 'in' | 'out', fl: string, bytes = 80): void => {
    const [k, pk] = dir === 'in' ? [inKey, outKey] : [outKey, inKey];
    const v = new Uint8Array(VAL_BYTES), pv = new Uint8Array(VAL_BYTES);
    assert.ok(map.get(k, v) && map.get(pk, pv));
    v[FLOW_VAL.FIN_FLAGS] = flags(fl);
    new DataView(v.buffer).setUint16(FLOW_VAL.FIN_LEN, bytes, true);
    v[FLOW_VAL.FIN]! |= FLOW_FIN.SELF | (v[FLOW_VAL.FIN]! & FLOW_FIN.PEER ? 0 : FLOW_FIN.FIRST);
    pv[FLOW_VAL.FIN]! |= FLOW_FIN.PEER;
    map.put(k, v);
    map.put(pk, pv);
  };
  /** What fast_step6 does with the last ACK or a RST: both entries ended, one END report (struct flow_end6). */
  const end = (dir: 'in' | 'out', fl: string, bytes = 80): 'in' | 'out' => {
    const [k, pk] = dir === 'in' ? [inKey, outKey] : [outKey, inKey];
    const v = new Uint8Array(VAL_BYTES), pv = new Uint8Array(VAL_BYTES);
    assert.ok(map.take(k, v) && map.take(pk, pv));
    const d = new DataView(v.buffer), pd = new DataView(pv.buffer);
    const e = {
      peerPkts: Number(pd.getBigUint64(FLOW_VAL.PKTS, true)), peerBytes: Number(pd.getBigUint64(FLOW_VAL.BYTES, true)),
      fin: v[FLOW_VAL.FIN]!, finFlags: v[FLOW_VAL.FIN_FLAGS]!, finLen: d.getUint16(FLOW_VAL.FIN_LEN, true), peerFinFlags: pv[FLOW_VAL.FIN_FLAGS]!, peerFinLen: pd.getUint16(FLOW_VAL.FIN_LEN, true),
    };
    const [src, dst, sp, dp] = dir === 'in' ? [CLIENT, VIP, 40000, 80] : [RIP, CLIENT, 8080, 40000];
    const r = table.reported(ip(src).words, ip(dst).words, sp, dp, flags(fl), Number(d.getBigUint64(FLOW_VAL.PKTS, true)), Number(d.getBigUint64(FLOW_VAL.BYTES, true)), FLOW_EV.END, 1, e);
    user(dir, fl, bytes);
    return r;
  };
  return { rig, key, map, table, user, kernel, count, inKey, outKey, stats, handshake, recordFin, end };
}

test('IPv6 NAT: installed once established, both entries (destination -> RIP:8080; replies: source -> VIP:80 toward the client\'s hop)', () => {
  const d = natDirector();
  d.user('in', 'S');
  d.user('out', 'SA');
  assert.equal(d.map.entries.size, 0, 'the handshake stays the engine\'s');
  d.user('in', 'A');
  assert.equal(d.table.size, 1);
  const v = new Uint8Array(VAL_BYTES);
  assert.ok(d.map.get(d.inKey, v));
  const dv = new DataView(v.buffer);
  assert.deepEqual([v[FLOW_VAL.NAT], [0, 1, 2, 3].map((i) => dv.getUint32(NADDR6 + 4 * i)), dv.getUint16(FLOW_VAL.NPORT), v[FLOW_VAL.NEED_ACK]],
    [FLOW_NAT.DST, [...ip(RIP).words], 8080, 0]);
  assert.ok(d.map.get(d.outKey, v));
  assert.deepEqual([v[FLOW_VAL.NAT], [0, 1, 2, 3].map((i) => dv.getUint32(NADDR6 + 4 * i)), dv.getUint16(FLOW_VAL.NPORT), v[FLOW_VAL.DMAC + 5]],
    [FLOW_NAT.SRC, [...ip(VIP).words], 80, 0x22]);
});

test('IPv6 NAT without next hops toward clients (XDP) stays in user space', () => {
  const d = natDirector(false);
  d.handshake();
  d.user('in', 'PA');
  assert.equal(d.table.size, 0);
  assert.equal(d.map.entries.size, 0);
});

test('IPv6 NAT: the kernel\'s counts reach InPkts and OutPkts once each', () => {
  const d = natDirector();
  d.handshake();
  d.kernel(d.inKey, 4, 100);
  d.kernel(d.outKey, 6, 1000);
  d.table.sweep();
  d.table.sweep();
  assert.deepEqual([d.stats().inpkts, d.stats().outpkts, d.stats().inbytes, d.stats().outbytes], [2 + 4, 1 + 6, 2 * 80 + 400, 80 + 6000]);
  assert.deepEqual([d.table.counters.forwarded, d.table.counters.forwardedOut], [10, 6]);
});

// The close carried in the kernel as the program does it: each FIN recorded in both entries ('fin'),
// plain ACKs counted ('count'), a read of the entries ('sweep': a listing), and the last ACK or a
// RST ending both with one report ('end').
type Step6 = readonly ['fin' | 'count' | 'end', 'in' | 'out', string] | readonly ['sweep'];
const closes: { name: string; seq: readonly Step6[] }[] = [
  { name: 'the real server closes first', seq: [['fin', 'out', 'FA'], ['count', 'in', 'A'], ['fin', 'in', 'FA'], ['end', 'out', 'A']] },
  { name: 'the client closes first', seq: [['fin', 'in', 'FA'], ['count', 'out', 'A'], ['fin', 'out', 'FA'], ['end', 'in', 'A']] },
  { name: 'the client closes first, a listing between the FINs', seq: [['fin', 'in', 'FA'], ['sweep'], ['count', 'out', 'A'], ['fin', 'out', 'FA'], ['end', 'in', 'A']] },
  { name: 'a simultaneous close', seq: [['fin', 'out', 'FA'], ['fin', 'in', 'FA'], ['end', 'out', 'A']] },
  { name: 'a RST from the client after the real server\'s FIN', seq: [['fin', 'out', 'FA'], ['end', 'in', 'R']] },
  { name: 'a RST from the real server after the client\'s FIN', seq: [['fin', 'in', 'FA'], ['sweep'], ['end', 'out', 'R']] },
];
for (const c of closes) {
  test(`IPv6 NAT close in the kernel, ${c.name}: the FINs recorded in both entries, decided in their order when read or from the END, which ends both with their last counts`, () => {
    const d = natDirector();
    const ref = natDirector();
    d.handshake();
    ref.handshake();
    d.kernel(d.inKey, 2, 100);
    d.kernel(d.outKey, 3, 500);
    for (const step of c.seq) {
      if (step[0] === 'sweep') {
        d.table.sweep();
        assert.deepEqual(d.rig.e.connections().map((x) => x.state), ref.rig.e.connections().map((x) => x.state), 'a listing shows the state of the FINs so far');
        continue;
      }
      const [what, dir, fl] = step;
      if (what === 'count') d.kernel(dir === 'in' ? d.inKey : d.outKey, 1, 80);
      else if (what === 'fin') d.recordFin(dir, fl);
      else assert.equal(d.end(dir, fl), dir);
      ref.user(dir, fl);
    }
    assert.equal(d.table.size, 0, 'the flow left the table');
    assert.equal(d.map.entries.size, 0);
    // The reference saw every packet of the close in user space; the kernel's data packets before
    // it (2 in, 3 out) come on top.
    assert.deepEqual([d.stats().inpkts, d.stats().outpkts], [ref.stats().inpkts + 2, ref.stats().outpkts + 3]);
    assert.deepEqual([d.stats().inbytes, d.stats().outbytes], [ref.stats().inbytes + 200, ref.stats().outbytes + 1500]);
    assert.deepEqual(d.rig.e.connections().map((x) => [x.state, x.expiresIn]), ref.rig.e.connections().map((x) => [x.state, x.expiresIn]), 'the engine\'s state and timer as without the kernel');
  });
}

test('IPv6 NAT RSTs: from either side, the RST ends both entries with one report, both counts handed over', () => {
  for (const dir of ['in', 'out'] as const) {
    const d = natDirector();
    d.handshake();
    d.kernel(d.inKey, 3, 100);
    d.kernel(d.outKey, 2, 500);
    assert.equal(d.end(dir, 'R'), dir);
    assert.deepEqual([d.table.size, d.map.entries.size], [0, 0], 'both entries gone, counts handed over');
    assert.deepEqual([d.stats().inpkts, d.stats().outpkts], [2 + 3 + (dir === 'in' ? 1 : 0), 1 + 2 + (dir === 'out' ? 1 : 0)]);
  }
});

test('a rule change (clear) hands the kernel\'s counts over and removes every IPv6 flow', () => {
  const d = director('route');
  d.user('S');
  d.user('A');
  d.kernel(3, 100);
  d.table.clear();
  assert.equal(d.table.size, 0);
  assert.equal(d.map.entries.size, 0);
  assert.equal(d.inpkts(), 2 + 3);
});

test('IPv6 NAT taken ahead by the kernel: adoptTaken records its two entries when the engine binds the connection to the real server the kernel sent it to; the reported handshake ACK makes it ESTABLISHED and they stay; a disagreeing verdict removes them', () => {
  for (const agree of [true, false]) {
    const d = natDirector();
    const dest = d.rig.e.scheduleAhead(d.key)!;
    assert.ok(dest);
    const m: PacketMeta = newMeta();
    const a = newAction();
    Object.assign(m, { dir: 'in', af: 6, protocol: 'tcp', saddr: ip(CLIENT), sport: 40000, daddr: ip(VIP), dport: 80, tcpFlags: flags('S'), bytes: 80, mark: 0 });
    verdictToAction(m, d.rig.e.processPacket(m as unknown as PacketIn, undefined, dest), a);
    assert.equal(a.fast, FAST.NEED_ACK, 'SYN_RECV, taken ahead: the kernel keeps it through the handshake');
    // What take_ahead6 installed: the client's entry (first ACK to report) and the replies'.
    const v = new Uint8Array(VAL_BYTES);
    v[FLOW_VAL.NAT] = FLOW_NAT.DST;
    v[FLOW_VAL.NEED_ACK] = 1;
    d.map.put(d.inKey, v);
    v[FLOW_VAL.NAT] = FLOW_NAT.SRC;
    v[FLOW_VAL.NEED_ACK] = 0;
    // (Disagreeing: the kernel sent it to another real server, whose replies' entry it made.)
    const kernelRip = agree ? RIP : 'fd00:10::99';
    const outKey = new Uint8Array(KEY6_BYTES);
    writeFlowKey6(outKey, ip(kernelRip).words, ip(CLIENT).words, 8080, 40000, 6);
    d.map.put(outKey, v);
    d.table.adoptTaken(m, a, HOP, HOP, { rip: ip(kernelRip).words, rport: 8080 });
    if (!agree) {
      assert.deepEqual([d.table.size, d.map.entries.size], [0, 0], 'another real server than the engine\'s: the kernel\'s entries removed');
      continue;
    }
    assert.deepEqual([d.table.size, d.map.entries.size, d.table.counters.installed], [1, 2, 1]);
    d.kernel(d.outKey, 1, 80); // the SYN-ACK, carried by the replies' entry
    assert.equal(d.table.reported(ip(CLIENT).words, ip(VIP).words, 40000, 80, flags('A'), 0, 0), 'in');
    d.user('in', 'A');
    assert.equal(d.rig.e.connections()[0]!.state, 'ESTABLISHED');
    assert.deepEqual([d.table.size, d.map.entries.size], [1, 2], 'both entries stay');
    d.kernel(d.inKey, 3, 100);
    d.table.sweep();
    assert.deepEqual([d.stats().inpkts, d.stats().outpkts], [2 + 3, 1], 'SYN, ACK and 3 in; the SYN-ACK out');
  }
});

test('a killed daemon\'s IPv6 NAT entries taken over (adopt.ts): the replies\' entry is ours while the client\'s next hop resolves, and values rewritten keep the FINs the kernel saw', () => {
  // (The client's next hop is not resolved yet in the new daemon.)
  const d = natDirector(true, () => undefined);
  // What the killed daemon's program left: both entries, the real server's FIN seen (FLOW_FIN SELF on the replies', PEER on the client's).
  const left = (nat: number, fin: number, pkts: number): Uint8Array => {
    const v = new Uint8Array(VAL_BYTES);
    v[FLOW_VAL.NAT] = nat;
    v[FLOW_VAL.FIN] = fin;
    if (fin & FLOW_FIN.SELF) {
      v[FLOW_VAL.FIN_FLAGS] = flags('FA');
      new DataView(v.buffer).setUint16(FLOW_VAL.FIN_LEN, 80, true);
    }
    new DataView(v.buffer).setBigUint64(FLOW_VAL.PKTS, BigInt(pkts), true);
    return v;
  };
  d.map.put(d.inKey, left(FLOW_NAT.DST, FLOW_FIN.PEER, 50));
  d.map.put(d.outKey, left(FLOW_NAT.SRC, FLOW_FIN.SELF | FLOW_FIN.FIRST, 70));
  d.rig.e.importSync({
    af: 6, protocol: 6, flags: 0, state: TCP_S.ESTABLISHED, caddr: ip(CLIENT), cport: 40000, vaddr: ip(VIP), vport: 80, daddr: ip(RIP), dport: 8080, fwmark: 0, timeout: 0,
  } as Parameters<typeof d.rig.e.importSync>[0]);
  d.user('in', 'A');
  const v = new Uint8Array(VAL_BYTES);
  assert.ok(d.map.get(d.inKey, v));
  assert.deepEqual([v[FLOW_VAL.NAT], v[FLOW_VAL.FIN], Number(new DataView(v.buffer).getBigUint64(FLOW_VAL.PKTS, true))], [FLOW_NAT.DST, FLOW_FIN.PEER, 0], 'ours, the FIN seen kept');
  // The server's next packets are counted in the left replies' entry, known as ours: OutPkts from there on.
  d.kernel(d.outKey, 3, 100);
  d.table.sweep();
  assert.equal(d.stats().outpkts, 3 + 1, 'only what came after the takeover, and the FIN the kernel recorded (decided by this engine: FIN_WAIT)');
  assert.equal(d.rig.e.connections()[0]!.state, 'FIN_WAIT');
  // The client's FIN, then the last ACK: the replies' report is known as such.
  d.recordFin('in', 'FA');
  assert.equal(d.end('out', 'A'), 'out');
  assert.equal(d.table.counters.eventsOut, 2, 'the real server\'s FIN and last ACK');
  assert.equal(d.rig.e.connections()[0]!.state, 'TIME_WAIT');
});

test('IPv6 connections of a service the table is not told of (a firewall-mark service\'s, seen on the rings because its VIP serves another) stay in user space', () => {
  const d = natDirector();
  d.table.services = new Set([svcKey6('udp', key6(ip(VIP).words), 53)]);
  d.handshake();
  d.user('in', 'PA');
  assert.deepEqual([d.table.size, d.map.entries.size], [0, 0]);
  d.table.services = new Set([svcKey6('tcp', key6(ip(VIP).words), 0)]);
  d.user('in', 'PA');
  assert.deepEqual([d.table.size, d.map.entries.size], [1, 2], 'a port-0 service of the VIP carries it');
});
