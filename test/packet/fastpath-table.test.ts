// The kernel fast path's table (src/forwarders/packet/fastpath.ts) against the real engine, with
// MemoryFlowMap doing the BPF program's part: which packets the kernel may forward, which it must
// report, and that the engine's states, timers and counters come out as if it had seen every one.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rig, ip, svcKey, flags } from '../core/engine-rig.ts';
import { FastPathTable, FAST } from '../../src/forwarders/packet/fastpath.ts';
import { FLOW_EV, FLOW_NAT, FLOW_VAL, MemoryFlowMap } from '../../src/os/flow-map.ts';
import { TCP_S } from '../../src/core/proto.ts';
import { SLOT_BYTES } from '../../src/forwarders/packet/flow-slab.ts';
import type { NextHop } from '../../src/forwarders/packet/forwarder.ts';
import { newAction } from '../../src/forwarders/packet/decision.ts';
import { newMeta, type PacketMeta } from '../../src/forwarders/packet/classify.ts';
import { verdictToAction } from '../../src/forwarders/packet/index.ts';
import type { FwdMethod, Protocol } from '../../src/core/types.ts';

const HOP: NextHop = { ifindex: 2, mac: new Uint8Array([2, 0, 0, 0, 0, 0x11]), srcMac: new Uint8Array([2, 0, 0, 0, 0, 1]), src: 0xc0a80a01, mtu: 1500 };
const u32 = (s: string) => ip(s).words[0]! >>> 0;

/** Has the engine decide the packets the "kernel" recorded (host.ts decideRecorded: first ACKs, NAT FINs), as their senders'. */
function ackDecider(rig: Rig, table: FastPathTable): () => void {
  const m = newMeta(), a = newAction();
  table.decideRecorded = (s, d, sp, dp, proto, fl, len, out, offer) => {
    Object.assign(m, { dir: out ? 'out' : 'in', af: 4, protocol: proto === 17 ? 'udp' : 'tcp', saddr: { af: 4, words: [s] }, sport: sp, daddr: { af: 4, words: [d] }, dport: dp, tcpFlags: fl, bytes: len, mark: 0 });
    verdictToAction(m, rig.e.processPacket(m), a);
    if (offer) table.offer(m, a, HOP);
  };
  return () => table.takeAcks();
}

/** A director: the engine decides what the "kernel" (MemoryFlowMap.forward) passes up. */
function director(method: FwdMethod, protocol: Protocol = 'tcp', capacity = 65536, tunnels = false) {
  const rig = new Rig();
  const key = svcKey(protocol, '10.0.0.100', 80);
  rig.service(key, { scheduler: 'rr' }).dest(key, '192.168.10.11', 80, method).dest(key, '192.168.10.12', 80, method);
  rig.at(1);
  const map = new MemoryFlowMap(capacity);
  const table = new FastPathTable(map, (c, p, b) => rig.e.countForwarded(c, p, b), new Set([2]), undefined, tunnels);
  const meta: PacketMeta = newMeta();
  const a = newAction();
  const path: string[] = [];
  let sent = 0, sentBytes = 0;
  const send = (src: string, fl: string, bytes = 60, sport = 40000): void => {
    const f = flags(fl);
    sent++;
    sentBytes += bytes;
    const proto = protocol === 'tcp' ? 6 : 17;
    const r = map.forward(u32(src), u32('10.0.0.100'), sport, 80, proto, f, bytes);
    path.push(r);
    if (r === 'counted') return;
    // 'pass' (user space decides and forwards) and 'event' (forwarded; the engine decides it after).
    Object.assign(meta, { dir: 'in', af: 4, protocol, saddr: ip(src), sport, daddr: ip('10.0.0.100'), dport: 80, tcpFlags: f, bytes, mark: 0 });
    if (r === 'event') {
      if (map.lastToken >>> 16) table.ackCarried(u32(src), u32('10.0.0.100'), sport, 80, map.lastToken >>> 16);
      acks();
      table.reported(u32(src), u32('10.0.0.100'), sport, 80, f, map.lastPkts, map.lastBytes, map.lastKind, map.lastToken);
    }
    verdictToAction(meta, rig.e.processPacket(meta), a);
    table.offer(meta, a, a.rip === HOP.src ? undefined : HOP);
    acks();
  };
  const acks = ackDecider(rig, table);
  const sweep = (): void => table.sweep();
  const stats = () => rig.e.service(key)!.stats;
  return { rig, key, map, table, send, path, stats, sweep, totals: () => ({ sent, sentBytes }) };
}

describe('kernel fast path table: the engine decides, the kernel carries decided DR connections', () => {
  it('a DR TCP connection: SYN up to the engine, handshake ACK recorded in the kernel and decided at the sweep, FIN reported, data counted; counters exact after a sweep', () => {
    const d = director('route');
    d.send('172.16.0.2', 'S');
    assert.equal(d.table.size, 1, 'installed in SYN_RECV');
    d.send('172.16.0.2', 'A');
    d.send('172.16.0.2', 'PA', 500);
    d.send('172.16.0.2', 'A');
    d.send('172.16.0.2', 'A');
    assert.deepEqual(d.path, ['pass', 'counted', 'counted', 'counted', 'counted']);
    const conn = () => d.rig.e.connections().find((c) => c.protocol === 'TCP')!;
    assert.equal(conn().state, 'SYN_RECV', 'the handshake ACK is recorded, not reported');
    assert.equal(d.stats().inpkts, 1, 'before a sweep the engine has what it saw');
    d.sweep();
    assert.equal(conn().state, 'ESTABLISHED', 'the sweep had the engine decide the recorded ACK');
    assert.equal(d.rig.dests(d.key).reduce((n, x) => n + x.active, 0), 1, 'ActiveConn follows');
    assert.equal(d.stats().inpkts, 5);
    assert.equal(d.stats().inbytes, d.totals().sentBytes);
    d.send('172.16.0.2', 'FA');
    assert.equal(d.path.at(-1), 'event');
    assert.equal(d.rig.e.connections().find((c) => c.protocol === 'TCP')!.state, 'FIN_WAIT');
    assert.equal(d.table.size, 0, 'a connection leaving ESTABLISHED leaves the kernel');
    assert.equal(d.map.entries.size, 0);
    d.send('172.16.0.2', 'A');
    assert.equal(d.path.at(-1), 'pass');
    assert.equal(d.stats().inpkts, d.totals().sent, 'every packet counted exactly once');
    assert.equal(d.table.counters.events, 2);
  });

  it('UDP: the first datagram goes to the engine, the rest through the kernel; sweeps keep the connection alive, a quiet one expires and leaves the map', () => {
    const d = director('route', 'udp');
    for (let i = 0; i < 10; i++) d.send('172.16.0.9', '', 100);
    assert.deepEqual(d.path.filter((p) => p === 'pass').length, 1);
    // 400 s of traffic through the kernel only (udp timeout 300 s), swept every 100 s.
    for (let t = 101; t <= 401; t += 100) {
      d.rig.at(t);
      d.send('172.16.0.9', '', 100);
      d.sweep();
    }
    assert.equal(d.rig.e.connections().length, 1, 'still there: the kernel\'s packets re-armed its timer');
    assert.equal(d.stats().inpkts, 14);
    d.rig.at(800);
    d.sweep();
    assert.equal(d.rig.e.connections().length, 0);
    d.sweep();
    assert.equal(d.map.entries.size, 0, 'gone from the kernel once the engine expired it');
  });

  for (const method of ['masq', 'tunnel'] as const) {
    it(`${method} connections are never handed to a program that cannot rewrite or encapsulate (XDP)`, () => {
      const d = director(method);
      d.send('172.16.0.2', 'S');
      d.send('172.16.0.2', 'A');
      d.send('172.16.0.2', 'PA');
      assert.equal(d.map.entries.size, 0);
      assert.deepEqual(d.path, ['pass', 'pass', 'pass']);
    });
  }

  it('tc: an IPIP tunnel connection is carried as DR\'s, encapsulated toward the real server from the hop\'s address; counters exact', () => {
    const d = director('tunnel', 'tcp', 65536, true);
    d.send('172.16.0.2', 'S');
    d.send('172.16.0.2', 'A');
    d.send('172.16.0.2', 'PA', 300);
    d.send('172.16.0.2', 'A');
    assert.deepEqual(d.path, ['pass', 'counted', 'counted', 'counted']);
    const [v] = [...d.map.entries.values()];
    const dv = new DataView(v!.buffer);
    assert.equal(v![FLOW_VAL.NAT], FLOW_NAT.TUN_IPIP);
    assert.equal(dv.getUint32(FLOW_VAL.TSRC, false), HOP.src);
    assert.ok([u32('192.168.10.11'), u32('192.168.10.12')].includes(dv.getUint32(FLOW_VAL.NADDR, false)));
    d.sweep();
    assert.deepEqual([d.stats().inpkts, d.stats().inbytes], [d.totals().sent, d.totals().sentBytes]);
  });

  it('a rule change clears the map, handing over what the kernel counted; the next packet goes to the engine', () => {
    const d = director('route');
    d.send('172.16.0.2', 'S');
    d.send('172.16.0.2', 'A');
    d.send('172.16.0.2', 'PA');
    d.table.clear();
    assert.equal(d.map.entries.size, 0);
    assert.equal(d.stats().inpkts, 3);
    d.send('172.16.0.2', 'A');
    assert.equal(d.path.at(-1), 'pass');
    assert.equal(d.table.size, 1, 'offered again: ESTABLISHED');
  });

  it('a full kernel map keeps new flows in user space, counted once', () => {
    const d = director('route', 'tcp', 1);
    d.send('172.16.0.2', 'S', 60, 1000);
    d.send('172.16.0.3', 'S', 60, 1001);
    assert.equal(d.table.counters.full, 1);
    d.send('172.16.0.3', 'A', 60, 1001);
    d.send('172.16.0.3', 'PA', 60, 1001);
    assert.deepEqual(d.path.slice(1), ['pass', 'pass', 'pass']);
    d.sweep();
    assert.equal(d.stats().inpkts, 4);
  });

  it('the engine starting a new connection on a reused client port replaces the entry after settling the old one\'s counts', () => {
    const d = director('route');
    d.rig.e.setSysctl('conn_reuse_mode', 1);
    d.send('172.16.0.2', 'S');
    d.send('172.16.0.2', 'A');
    d.send('172.16.0.2', 'PA');
    d.send('172.16.0.2', 'R');
    assert.equal(d.table.size, 0, 'RST: CLOSE, removed');
    d.send('172.16.0.2', 'S');
    assert.equal(d.table.size, 1);
    d.sweep();
    assert.equal(d.stats().inpkts, d.totals().sent);
    assert.equal(FAST.NO, 0);
  });
});

describe('kernel fast path table: memory under a SYN flood', () => {
  it('20,000 half-open flows from distinct clients cost SLOT_BYTES each; once their connections expire a sweep gives the arrays back; a surviving flow still forwards', () => {
    const d = director('route', 'tcp', 1 << 20);
    const empty = d.table.bytesHeld();
    d.send('172.16.0.2', 'S', 60, 5000);
    d.send('172.16.0.2', 'A', 60, 5000);
    const N = 20_000;
    for (let i = 0; i < N; i++) d.send(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 'S', 60, 1024 + (i % 60000));
    assert.equal(d.table.size, N + 1);
    const grown = d.table.bytesHeld();
    assert.ok(grown - empty <= (N + 1) * SLOT_BYTES * 2, `grown by ${grown - empty} bytes (at most twice ${SLOT_BYTES} per flow: capacity doubles)`);
    // The flood's entries expire (SYN_RECV: 60 s); the established one is kept alive by its packets.
    for (let t = 10; t <= 70; t += 10) {
      d.rig.at(1 + t);
      d.send('172.16.0.2', 'PA', 100, 5000);
      d.sweep();
    }
    assert.equal(d.table.size, 1, 'only the established flow is left');
    assert.equal(d.table.bytesHeld(), empty, 'the arrays are back to their empty size');
    d.send('172.16.0.2', 'PA', 100, 5000);
    assert.equal(d.path.at(-1), 'counted', 'the surviving flow is still carried by the kernel');
    d.sweep();
    assert.equal(d.stats().inpkts, d.totals().sent, 'every packet counted once');
  });
});

describe('kernel fast path table: a flow outliving a flood keeps what it carries through compaction', () => {
  for (const method of ['route', 'tunnel'] as const) {
    it(`${method === 'route' ? 'DR' : 'IPIP tunnel (tc)'}: after the flood's flows expire and the arrays shrink, the moved flow still ${method === 'route' ? 'forwards' : 'encapsulates'} in the kernel, and the engine's same decision rewrites nothing`, () => {
      const d = director(method, 'tcp', 1 << 20, method === 'tunnel');
      const empty = d.table.bytesHeld();
      // The flood first: the survivor's slot is high, so compaction moves it.
      for (let i = 0; i < 5000; i++) d.send(`10.0.${(i >> 8) & 255}.${i & 255}`, 'S', 60, 1024 + i);
      d.send('172.16.0.2', 'S', 60, 5000);
      d.send('172.16.0.2', 'A', 60, 5000);
      // The daemon's sweep reads every flow within a second: the recorded handshake ACK is decided
      // (ESTABLISHED) long before a flood's shortened SYN_RECV lifetime (10 s) ends the entry.
      d.sweep();
      for (let t = 10; t <= 70; t += 10) {
        d.rig.at(1 + t);
        d.send('172.16.0.2', 'PA', 100, 5000);
        d.sweep();
      }
      assert.equal(d.table.size, 1, 'only the established flow is left');
      assert.equal(d.table.bytesHeld(), empty, 'the arrays shrank back');
      const [v] = [...d.map.entries.values()];
      assert.equal(v![FLOW_VAL.NAT], method === 'tunnel' ? FLOW_NAT.TUN_IPIP : FLOW_NAT.NONE);
      // The engine decides one more packet of the flow (as after a user-space pass): the slot's
      // connection, hop, need-ACK and tunnel kind match, so the kernel's entry is left alone.
      let puts = 0;
      const put = d.map.put.bind(d.map);
      d.map.put = (k, val) => { puts++; return put(k, val); };
      const meta = newMeta(), a = newAction();
      Object.assign(meta, { dir: 'in', af: 4, protocol: 'tcp', saddr: ip('172.16.0.2'), sport: 5000, daddr: ip('10.0.0.100'), dport: 80, tcpFlags: flags('PA'), bytes: 100, mark: 0 });
      verdictToAction(meta, d.rig.e.processPacket(meta), a);
      d.table.offer(meta, a, HOP);
      assert.equal(puts, 0, 'no rewrite: the moved slot kept its fields');
      d.send('172.16.0.2', 'PA', 100, 5000);
      assert.equal(d.path.at(-1), 'counted');
      d.sweep();
      assert.equal(d.stats().inpkts, d.totals().sent + 1, 'every packet counted once (one decided by hand above)');
    });
  }
});

describe('kernel fast path table: NAT connections, both directions, once established', () => {
  /** A NAT director: client packets and real server replies, each through the "kernel" first. */
  function natDirector(clientHop: NextHop | undefined, map = new MemoryFlowMap()) {
    const rig = new Rig();
    const key = svcKey('tcp', '10.0.0.100', 80);
    rig.service(key, { scheduler: 'rr' }).dest(key, '192.168.10.11', 80, 'masq');
    rig.at(1);
    const table = new FastPathTable(map, (c, p, b, out) => rig.e.countForwarded(c, p, b, out), new Set([2]), () => clientHop);
    const meta: PacketMeta = newMeta();
    const a = newAction();
    const path: string[] = [];
    const sent = { in: 0, out: 0 };
    const send = (dir: 'in' | 'out', fl: string, bytes = 60): void => {
      const f = flags(fl);
      sent[dir]++;
      const [s, d, sp, dp] = dir === 'in' ? ['172.16.0.2', '10.0.0.100', 40000, 80] as const : ['192.168.10.11', '172.16.0.2', 80, 40000] as const;
      const r = map.forward(u32(s), u32(d), sp, dp, 6, f, bytes);
      path.push(`${dir}:${r}`);
      if (r === 'counted') return;
      const { lastPkts, lastBytes, lastKind, lastToken, lastEnd } = map;
      const decide = (): void => {
        Object.assign(meta, { dir, af: 4, protocol: 'tcp', saddr: ip(s), sport: sp, daddr: ip(d), dport: dp, tcpFlags: f, bytes, mark: 0 });
        if (r === 'event') {
          if (lastToken >>> 16) table.ackCarried(u32(s), u32(d), sp, dp, lastToken >>> 16);
          acks();
          meta.dir = table.reported(u32(s), u32(d), sp, dp, f, lastPkts, lastBytes, lastKind, lastToken, lastEnd);
        }
        verdictToAction(meta, rig.e.processPacket(meta), a);
        table.offer(meta, a, HOP);
        acks();
      };
      // Reports in the ring buffer, still to be read (user space reads them later, in order).
      if (r === 'event' && held) held.push(decide);
      else decide();
    };
    /** While set, the kernel's reports wait here (readReports decides them). */
    let held: (() => void)[] | null = null;
    const holdReports = (): void => { held = []; };
    const readReports = (): void => { const h = held ?? []; held = null; for (const f of h) f(); };
    const acks = ackDecider(rig, table);
    const sweep = (): void => table.sweep();
    return { rig, key, map, table, send, path, sent, sweep, holdReports, readReports, stats: () => rig.e.service(key)!.stats };
  }

  /** The same packets through an engine alone (every packet in user space): the states and counters to match. */
  function reference(seq: readonly (readonly ['in' | 'out', string, number?])[]) {
    const rig = new Rig();
    const key = svcKey('tcp', '10.0.0.100', 80);
    rig.service(key, { scheduler: 'rr' }).dest(key, '192.168.10.11', 80, 'masq');
    rig.at(1);
    const meta: PacketMeta = newMeta();
    for (const [dir, fl, bytes] of seq) {
      const [s, d, sp, dp] = dir === 'in' ? ['172.16.0.2', '10.0.0.100', 40000, 80] as const : ['192.168.10.11', '172.16.0.2', 80, 40000] as const;
      Object.assign(meta, { dir, af: 4, protocol: 'tcp', saddr: ip(s), sport: sp, daddr: ip(d), dport: dp, tcpFlags: flags(fl), bytes: bytes ?? 60, mark: 0 });
      rig.e.processPacket(meta);
    }
    return { stats: rig.e.service(key)!.stats, conn: rig.e.connections().find((x) => x.protocol === 'TCP')!, dest: rig.e.service(key)!.dests[0]! };
  }

  // Closes carried by the kernel after a handshake in user space and data both ways in the kernel:
  // the path of each closing packet, and the engine's state, timer and counters as if it had seen them all.
  const opened = [['in', 'S'], ['out', 'SA'], ['in', 'A'], ['in', 'PA', 200], ['out', 'PA', 1500], ['out', 'PA', 1500], ['out', 'PA', 1500]] as const;
  // The FINs are recorded in the entries ('counted': forwarded, not reported); the last ACK or a RST
  // ends both with one report ('event') carrying them; a sweep (a listing) reads what is left.
  const closes: { name: string; close: readonly (readonly ['in' | 'out', string])[]; path: string[]; left: number }[] = [
    { name: 'the real server closes first (FIN, ACK, FIN, last ACK)', close: [['out', 'FA'], ['in', 'A'], ['in', 'FA'], ['out', 'A']], path: ['out:counted', 'in:counted', 'in:counted', 'out:event'], left: 0 },
    { name: 'the client closes first (FIN, ACK, FIN, last ACK)', close: [['in', 'FA'], ['out', 'A'], ['out', 'FA'], ['in', 'A']], path: ['in:counted', 'out:counted', 'out:counted', 'in:event'], left: 0 },
    { name: 'the real server closes first, the client acknowledges with its FIN', close: [['out', 'FA'], ['in', 'FA'], ['out', 'A']], path: ['out:counted', 'in:counted', 'out:event'], left: 0 },
    { name: 'a simultaneous close (both FINs before either ACK; the second ACK finds no entry)', close: [['in', 'FA'], ['out', 'FA'], ['in', 'A'], ['out', 'A']], path: ['in:counted', 'out:counted', 'in:event', 'out:pass'], left: 0 },
    { name: 'a half-close: the client still sends after the real server\'s FIN', close: [['out', 'FA'], ['in', 'PA'], ['in', 'A'], ['in', 'FA'], ['out', 'A']], path: ['out:counted', 'in:counted', 'in:counted', 'in:counted', 'out:event'], left: 0 },
    { name: 'a FIN sent again (only counted: the state does not move on it)', close: [['in', 'FA'], ['in', 'FA'], ['out', 'FA'], ['in', 'A']], path: ['in:counted', 'in:counted', 'out:counted', 'in:event'], left: 0 },
    { name: 'a FIN then a RST from the client (the RST ends both entries)', close: [['out', 'FA'], ['in', 'R']], path: ['out:counted', 'in:event'], left: 0 },
    { name: 'a FIN then a RST from the real server', close: [['in', 'FA'], ['out', 'RA']], path: ['in:counted', 'out:event'], left: 0 },
    { name: 'both FINs then a RST instead of the last ACK', close: [['out', 'FA'], ['in', 'FA'], ['in', 'R']], path: ['out:counted', 'in:counted', 'in:event'], left: 0 },
    { name: 'one FIN only: both entries stay in the kernel, the sweep (a listing) decides it', close: [['in', 'FA'], ['out', 'A']], path: ['in:counted', 'out:counted'], left: 2 },
    { name: 'the real server\'s FIN only, the sweep decides it', close: [['out', 'FA'], ['in', 'A']], path: ['out:counted', 'in:counted'], left: 2 },
  ];
  for (const c of closes) {
    it(`NAT close in the kernel, ${c.name}: ${c.path.join(', ')}; state, timer, InPkts/OutPkts and connection counts as the engine alone`, () => {
      const d = natDirector(HOP);
      for (const [dir, fl, bytes] of opened) d.send(dir, fl, bytes);
      assert.deepEqual(d.path, ['in:pass', 'out:pass', 'in:pass', 'in:counted', 'out:counted', 'out:counted', 'out:counted']);
      assert.equal(d.map.entries.size, 2, 'the client\'s and the replies\' entries');
      d.path.length = 0;
      for (const [dir, fl] of c.close) d.send(dir, fl);
      assert.deepEqual(d.path, c.path);
      assert.equal(d.map.entries.size, c.left, 'entries left in the kernel');
      assert.equal(d.table.size, c.left ? 1 : 0);
      d.sweep();
      const ref = reference([...opened, ...c.close]);
      const conn = d.rig.e.connections().find((x) => x.protocol === 'TCP')!;
      assert.equal(conn.state, ref.conn.state);
      assert.equal(conn.expiresIn, ref.conn.expiresIn, 'the timer of the state');
      assert.deepEqual([d.stats().inpkts, d.stats().outpkts, d.stats().inbytes, d.stats().outbytes], [ref.stats.inpkts, ref.stats.outpkts, ref.stats.inbytes, ref.stats.outbytes]);
      const dest = d.rig.e.service(d.key)!.dests[0]!;
      assert.deepEqual([dest.activeConns, dest.inactConns], [ref.dest.activeConns, ref.dest.inactConns]);
    });
  }

  for (const first of ['in', 'out'] as const) {
    it(`both FINs recorded before any read (${first === 'in' ? 'the client\'s' : 'the real server\'s'} first): a sweep decides each in its direction in the order they came, then the last ACK ends both; counts and state as the engine alone`, () => {
      const d = natDirector(HOP);
      for (const [dir, fl, bytes] of opened) d.send(dir, fl, bytes);
      const second = first === 'in' ? 'out' : 'in';
      const c = u32('172.16.0.2'), r = u32('192.168.10.11'), v = u32('10.0.0.100');
      const fwd = (dir: 'in' | 'out', bytes: number) => (dir === 'in' ? d.map.forward(c, v, 40000, 80, 6, flags('FA'), bytes) : d.map.forward(r, c, 80, 40000, 6, flags('FA'), bytes));
      assert.equal(fwd(first, 70), 'counted');
      assert.equal(fwd(second, 90), 'counted');
      assert.equal(d.map.entries.size, 2, 'both entries stay for the last ACK');
      d.sweep();
      const ref = reference([...opened, [first, 'FA', 70], [second, 'FA', 90]]);
      const conn = () => d.rig.e.connections().find((x) => x.protocol === 'TCP')!;
      assert.equal(conn().state, ref.conn.state, 'the state after both FINs, in their order');
      assert.deepEqual([d.stats().inpkts, d.stats().outpkts, d.stats().inbytes, d.stats().outbytes], [ref.stats.inpkts, ref.stats.outpkts, ref.stats.inbytes, ref.stats.outbytes]);
      d.sweep();
      assert.deepEqual([d.stats().inpkts, d.stats().outpkts], [ref.stats.inpkts, ref.stats.outpkts], 'a second read decides nothing again');
      d.send(first, 'A');
      assert.deepEqual(d.path.slice(-1), [`${first}:event`], 'the last ACK ends both entries');
      assert.equal(d.map.entries.size, 0);
      assert.equal(d.table.size, 0);
      const ref2 = reference([...opened, [first, 'FA', 70], [second, 'FA', 90], [first, 'A']]);
      assert.deepEqual([d.stats().inpkts, d.stats().outpkts, d.stats().inbytes, d.stats().outbytes], [ref2.stats.inpkts, ref2.stats.outpkts, ref2.stats.inbytes, ref2.stats.outbytes]);
      assert.equal(conn().state, ref2.conn.state);
    });
  }

  it('a killed daemon\'s NAT entries taken over (adopt.ts): the replies\' entry is ours while the client\'s next hop resolves, the value rewritten keeps the FIN the kernel saw, the close ends both in the kernel', () => {
    // The killed daemon's: carried by the kernel, the client's FIN seen there (both entries kept).
    const old = natDirector(HOP);
    for (const [dir, fl, bytes] of opened) old.send(dir, fl, bytes);
    old.send('in', 'FA');
    assert.equal(old.map.entries.size, 2);
    assert.deepEqual(old.path.slice(-1), ['in:counted'], 'the client\'s FIN recorded in the entries');
    // The new daemon: its engine and table on the kernel's map (copied), the client's next hop not
    // resolved yet; the connection bound as host.ts does: imported, an ACK decided, offered.
    const d = natDirector(undefined, old.map);
    d.rig.e.importSync({
      af: 4, protocol: 6, flags: 0, state: TCP_S.ESTABLISHED, caddr: ip('172.16.0.2'), cport: 40000, vaddr: ip('10.0.0.100'), vport: 80, daddr: ip('192.168.10.11'), dport: 80, fwmark: 0, timeout: 0,
    } as Parameters<typeof d.rig.e.importSync>[0]);
    const meta = newMeta(), a = newAction();
    Object.assign(meta, { dir: 'in', af: 4, protocol: 'tcp', saddr: ip('172.16.0.2'), sport: 40000, daddr: ip('10.0.0.100'), dport: 80, tcpFlags: flags('A'), bytes: 0, mark: 0 });
    verdictToAction(meta, d.rig.e.processPacket(meta), a);
    d.table.offer(meta, a, HOP);
    assert.equal(d.table.size, 1, 'bound');
    const out0 = d.stats().outpkts;
    // The real server's ACK and FIN through the replies' entry the killed daemon installed, then the client's last ACK.
    for (const [dir, fl] of [['out', 'A'], ['out', 'FA'], ['in', 'A']] as const) d.send(dir, fl);
    assert.deepEqual(d.path, ['out:counted', 'out:counted', 'in:event'], 'the last ACK ended both entries (the client\'s FIN kept)');
    assert.equal(d.table.counters.eventsOut, 1, 'the real server\'s FIN known as a reply');
    assert.equal(d.map.entries.size, 0);
    assert.equal(d.table.size, 0);
    d.sweep();
    assert.equal(d.stats().outpkts - out0, 2, 'OutPkts: only what came after the takeover (the ACK and the FIN)');
    assert.notEqual(d.rig.e.connections().find((x) => x.protocol === 'TCP')!.state, 'ESTABLISHED', 'the engine stepped the close');
  });

  it('a sweep between the kernel ending a NAT connection and the read of its reports leaves the slot for the END report: its last counters reach the engine, nothing counted evicted', () => {
    const d = natDirector(HOP);
    for (const [dir, fl, bytes] of opened) d.send(dir, fl, bytes);
    d.holdReports();
    const close = [['out', 'FA'], ['in', 'A'], ['in', 'FA'], ['out', 'A']] as const;
    for (const [dir, fl] of close) d.send(dir, fl);
    assert.equal(d.map.entries.size, 0, 'the kernel ended both entries');
    d.sweep();
    assert.equal(d.table.counters.evicted, 0, 'not evicted at the first sweep that finds it gone');
    d.readReports();
    d.sweep();
    assert.equal(d.table.size, 0);
    assert.equal(d.table.counters.evicted, 0);
    const ref = reference([...opened, ...close]);
    assert.deepEqual([d.stats().inpkts, d.stats().outpkts, d.stats().inbytes, d.stats().outbytes], [ref.stats.inpkts, ref.stats.outpkts, ref.stats.inbytes, ref.stats.outbytes]);
    const conn = d.rig.e.connections().find((x) => x.protocol === 'TCP')!;
    assert.equal(conn.state, ref.conn.state);
  });

  it('a NAT flow gone from the kernel with no report to come (evicted by its LRU) is counted evicted at the second sweep that finds it gone, and leaves the table', () => {
    const d = natDirector(HOP);
    for (const [dir, fl, bytes] of opened) d.send(dir, fl, bytes);
    d.map.entries.clear();
    d.sweep();
    assert.deepEqual([d.table.size, d.table.counters.evicted], [1, 0]);
    d.sweep();
    assert.deepEqual([d.table.size, d.table.counters.evicted], [0, 1]);
  });

  it('without a next hop toward the client the replies stay in user space; counters still exact', () => {
    const d = natDirector(undefined);
    d.send('in', 'S');
    d.send('out', 'SA');
    d.send('in', 'A');
    assert.equal(d.map.entries.size, 1, 'the client\'s entry only');
    d.send('in', 'PA', 200);
    d.send('out', 'PA', 1500);
    d.sweep();
    assert.deepEqual(d.path, ['in:pass', 'out:pass', 'in:pass', 'in:counted', 'out:pass']);
    assert.equal(d.stats().inpkts, d.sent.in);
    assert.equal(d.stats().outpkts, d.sent.out);
  });
});
