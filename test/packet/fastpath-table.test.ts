// The kernel fast path's table (src/forwarders/packet/fastpath.ts) against the real engine, with
// MemoryFlowMap doing the BPF program's part: which packets the kernel may forward, which it must
// report, and that the engine's states, timers and counters come out as if it had seen every one.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rig, ip, svcKey, flags } from '../core/engine-rig.ts';
import { FastPathTable, FAST } from '../../src/forwarders/packet/fastpath.ts';
import { MemoryFlowMap } from '../../src/os/flow-map.ts';
import type { NextHop } from '../../src/forwarders/packet/forwarder.ts';
import { newAction } from '../../src/forwarders/packet/decision.ts';
import { newMeta, type PacketMeta } from '../../src/forwarders/packet/classify.ts';
import { verdictToAction } from '../../src/forwarders/packet/index.ts';
import type { FwdMethod, Protocol } from '../../src/core/types.ts';

const HOP: NextHop = { ifindex: 2, mac: new Uint8Array([2, 0, 0, 0, 0, 0x11]), srcMac: new Uint8Array([2, 0, 0, 0, 0, 1]), src: 0xc0a80a01, mtu: 1500 };
const u32 = (s: string) => ip(s).words[0]! >>> 0;

/** A director: the engine decides what the "kernel" (MemoryFlowMap.forward) passes up. */
function director(method: FwdMethod, protocol: Protocol = 'tcp', capacity = 65536) {
  const rig = new Rig();
  const key = svcKey(protocol, '10.0.0.100', 80);
  rig.service(key, { scheduler: 'rr' }).dest(key, '192.168.10.11', 80, method).dest(key, '192.168.10.12', 80, method);
  rig.at(1);
  const map = new MemoryFlowMap(capacity);
  const table = new FastPathTable(map, (c, p, b) => rig.e.countForwarded(c, p, b), new Set([2]));
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
    if (r === 'event') table.reported(u32(src), u32('10.0.0.100'), sport, 80, f, map.lastPkts, map.lastBytes);
    verdictToAction(meta, rig.e.processPacket(meta), a);
    table.offer(meta, a, a.rip === HOP.src ? undefined : HOP);
  };
  const stats = () => rig.e.service(key)!.stats;
  return { rig, key, map, table, send, path, stats, totals: () => ({ sent, sentBytes }) };
}

describe('kernel fast path table: the engine decides, the kernel carries decided DR connections', () => {
  it('a DR TCP connection: SYN up to the engine, handshake ACK and FIN reported, data counted; counters exact after a sweep', () => {
    const d = director('route');
    d.send('172.16.0.2', 'S');
    assert.equal(d.table.size, 1, 'installed in SYN_RECV');
    d.send('172.16.0.2', 'A');
    d.send('172.16.0.2', 'PA', 500);
    d.send('172.16.0.2', 'A');
    d.send('172.16.0.2', 'A');
    assert.deepEqual(d.path, ['pass', 'event', 'counted', 'counted', 'counted']);
    const conn = d.rig.e.connections().find((c) => c.protocol === 'TCP')!;
    assert.equal(conn.state, 'ESTABLISHED', 'the reported ACK stepped the state machine');
    assert.equal(d.rig.dests(d.key).reduce((n, x) => n + x.active, 0), 1, 'ActiveConn follows');
    assert.equal(d.stats().inpkts, 2, 'before a sweep the engine has what it saw');
    d.table.sweep();
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
      d.table.sweep();
    }
    assert.equal(d.rig.e.connections().length, 1, 'still there: the kernel\'s packets re-armed its timer');
    assert.equal(d.stats().inpkts, 14);
    d.rig.at(800);
    d.table.sweep();
    assert.equal(d.rig.e.connections().length, 0);
    d.table.sweep();
    assert.equal(d.map.entries.size, 0, 'gone from the kernel once the engine expired it');
  });

  for (const method of ['masq', 'tunnel'] as const) {
    it(`${method} connections are never handed to the kernel`, () => {
      const d = director(method);
      d.send('172.16.0.2', 'S');
      d.send('172.16.0.2', 'A');
      d.send('172.16.0.2', 'PA');
      assert.equal(d.map.entries.size, 0);
      assert.deepEqual(d.path, ['pass', 'pass', 'pass']);
    });
  }

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
    d.table.sweep();
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
    d.table.sweep();
    assert.equal(d.stats().inpkts, d.totals().sent);
    assert.equal(FAST.NO, 0);
  });
});
