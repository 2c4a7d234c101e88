// Decisions ahead for the kernel fast path (src/forwarders/packet/fastpath-ahead.ts) against the
// real engine, with the ring memory in an ArrayBuffer and the program's claim done here the way
// bpf/tsvs_fastpath.c take_ahead() does it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rig, svcKey, ip, flags } from '../core/engine-rig.ts';
import { KernelAhead } from '../../src/forwarders/packet/fastpath-ahead.ts';
import { AHEAD_RINGS, AHEAD_RING_BYTES, AHEAD_SLOT_BYTES, AHEAD_SLOTS } from '../../src/os/bpf.ts';
import { FastPathTable } from '../../src/forwarders/packet/fastpath.ts';
import { ackInToken, FLOW_NAT, FLOW_VAL, KEY_BYTES, MemoryFlowMap, VAL_BYTES, writeFlowKey } from '../../src/os/flow-map.ts';
import type { NextHop } from '../../src/forwarders/packet/forwarder.ts';
import { newAction } from '../../src/forwarders/packet/decision.ts';
import { newMeta } from '../../src/forwarders/packet/classify.ts';
import { verdictToAction } from '../../src/forwarders/packet/index.ts';
import type { RtDest } from '../../src/core/scheduler.ts';

const RS = ['192.168.10.11', '192.168.10.12'];
const u32 = (s: string) => ip(s).words[0]! >>> 0;
const hop = (last: number): NextHop => ({ ifindex: 2, mac: new Uint8Array([2, 0, 0, 0, 0, last]), srcMac: new Uint8Array([2, 0, 0, 0, 0, 1]), src: u32('192.168.10.1'), mtu: 1500 });

function setup(o: { scheduler?: string; fwd?: 'route' | 'masq' | 'tunnel'; flags?: number; hops?: boolean; nat?: boolean } = {}) {
  const rig = new Rig();
  const key = svcKey('tcp', '10.0.0.100', 80);
  rig.service(key, { scheduler: o.scheduler ?? 'rr', ...(o.flags ? { flags: o.flags, timeout: 300 } : {}) });
  for (const r of RS) rig.dest(key, r, 80, o.fwd ?? 'route');
  rig.at(1);
  const mem = new ArrayBuffer(Math.ceil((AHEAD_RINGS * AHEAD_RING_BYTES) / 4096) * 4096);
  const svcs = new Map<string, number>();
  const kernel = { aheadMem: mem, setAheadService: (vip: number, vport: number, proto: number, ring: number | null) => { const k = `${vip}/${vport}/${proto}`; if (ring === null) svcs.delete(k); else svcs.set(k, ring); } };
  const hops = new Map<number, NextHop>(o.hops === false ? [] : RS.map((r, i) => [u32(r), hop(0x11 + i)]));
  const ahead = new KernelAhead(kernel, rig.e, hops, new Set([2]), o.nat ?? false);
  const words = new Int32Array(mem);
  const view = new DataView(mem);
  /** take_ahead()'s claim: the next slot of the service's ring (its offset in `view`), or null (none waiting). */
  const claim = (): number | null => {
    const idx = svcs.get(`${u32('10.0.0.100')}/80/6`);
    if (idx === undefined) return null;
    const h = idx * (AHEAD_RING_BYTES / 4);
    const head = words[h]!;
    if (head === words[h + 1]) return null;
    assert.equal(Atomics.compareExchange(words, h, head, head + 1), head);
    return idx * AHEAD_RING_BYTES + 16 + ((head >>> 0) % AHEAD_SLOTS) * AHEAD_SLOT_BYTES;
  };
  /** The next token of the service's ring, or null. */
  const take = (): number | null => {
    const o = claim();
    return o === null ? null : view.getUint32(o + 20, true);
  };
  return { rig, key, ahead, svcs, take, claim, view, hops };
}

describe('kernel fast path: decisions ahead', () => {
  it('an rr DR service gets a ring of the engine\'s choices; connections bound to the tokens the kernel took keep rr order', () => {
    const s = setup();
    s.ahead.sync();
    assert.equal(s.svcs.size, 1);
    const got: string[] = [];
    for (let i = 0; i < 6; i++) {
      const tok = s.take();
      assert.ok(tok !== null, `decision ${i} waiting`);
      const dest = s.ahead.taken(tok) as RtDest;
      const v = s.rig.e.processPacket({ dir: 'in', af: 4, protocol: 'tcp', saddr: ip('172.16.0.2'), sport: 5000 + i, daddr: ip('10.0.0.100'), dport: 80, tcpFlags: flags('S'), bytes: 60, mark: 0 }, undefined, dest);
      got.push(v.dest!.addr);
      s.ahead.refill();
    }
    assert.deepEqual(got, ['192.168.10.12', '192.168.10.11', '192.168.10.12', '192.168.10.11', '192.168.10.12', '192.168.10.11']);
    assert.equal(s.rig.e.service(s.key)!.stats.conns, 6);
  });

  const none: [string, Parameters<typeof setup>[0]][] = [
    ['lc (choices depend on counts)', { scheduler: 'lc' }],
    ['NAT destinations on XDP (it cannot rewrite addresses)', { fwd: 'masq' }],
    ['persistence', { flags: 0x1 }],
    ['a real server without a next hop yet', { hops: false }],
  ];
  for (const [what, o] of none) {
    it(`no ring with ${what}: the kernel leaves new connections to the engine`, () => {
      const s = setup(o);
      s.ahead.sync();
      assert.equal(s.svcs.size, 0);
      assert.equal(s.take(), null);
    });
  }

  it('a rule change touching the service drops what waits; the next decisions follow the new rules', () => {
    const s = setup({ scheduler: 'wrr' });
    s.ahead.sync();
    assert.ok(s.take() !== null);
    s.rig.ok(s.rig.e.apply({ kind: 'edit-dest', key: s.key, dest: { af: 4, addr: RS[0]!, port: 80, fwd: 'route', weight: 3, uThreshold: 0, lThreshold: 0, tunType: 'ipip', tunPort: 0, tunCsum: 'nocsum' } }));
    s.ahead.sync();
    const got: string[] = [];
    for (let i = 0; i < 8; i++) {
      got.push(s.ahead.taken(s.take()!)!.addr);
      s.ahead.refill();
    }
    assert.equal(got.filter((a) => a === RS[0]).length, 6, got.join(','));
  });

  it('a service that stops qualifying loses its ring (the kernel is told)', () => {
    const s = setup();
    s.ahead.sync();
    assert.equal(s.svcs.size, 1);
    s.rig.ok(s.rig.e.apply({ kind: 'edit-service', svc: { af: 4, fwmark: 0, protocol: 'tcp', addr: '10.0.0.100', port: 80, scheduler: 'wlc', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' } }));
    s.ahead.sync();
    assert.equal(s.svcs.size, 0);
  });

  it('the table adopts the flow the kernel created when the engine agrees, and removes it when it does not', () => {
    const map = new MemoryFlowMap();
    const table = new FastPathTable(map, () => true, new Set([2]));
    const m = newMeta();
    Object.assign(m, { dir: 'in', af: 4, protocol: 'tcp', saddr: ip('172.16.0.2'), sport: 5000, daddr: ip('10.0.0.100'), dport: 80, tcpFlags: flags('S'), bytes: 60, mark: 0 });
    const s = setup();
    s.ahead.sync();
    const dest = s.ahead.taken(s.take()!)!;
    const h = s.hops.get(dest.ip.words[0]! >>> 0);
    const a = newAction();
    verdictToAction(m, s.rig.e.processPacket(m, undefined, dest), a);
    table.adoptTaken(m, a, s.hops.get(a.rip), h);
    assert.equal(table.size, 1, 'adopted');
    assert.equal(map.forward(u32('172.16.0.2'), u32('10.0.0.100'), 5000, 80, 6, flags('A'), 40), 'pass', 'adoptTaken itself does not write the map: the kernel did');
    // A verdict that disagrees (the destination was deleted): the kernel's entry goes.
    const m2 = newMeta();
    Object.assign(m2, { ...m, sport: 5001 });
    const key2 = new Uint8Array(16);
    writeFlowKey(key2, u32('172.16.0.2'), u32('10.0.0.100'), 5001, 80, 6);
    map.put(key2, new Uint8Array(48)); // the kernel's entry, as take_ahead() inserts it
    const a2 = newAction();
    a2.kind = 1; // drop
    table.adoptTaken(m2, a2, undefined, h);
    assert.equal(table.size, 1, 'not adopted');
    assert.equal(map.entries.size, 0, 'the kernel\'s entry removed');
  });
  it('NAT on tc: each decision carries the real server\'s address and port (the service\'s when the destination has none)', () => {
    const s = setup({ fwd: 'masq', nat: true });
    s.ahead.sync();
    assert.equal(s.svcs.size, 1);
    const got: [number, string, number][] = [];
    for (let i = 0; i < 2; i++) {
      const o = s.claim()!;
      got.push([s.view.getUint8(o + 18), `${s.view.getUint32(o + 24, false) >>> 0}`, s.view.getUint16(o + 28, false)]);
    }
    assert.deepEqual(got, [[FLOW_NAT.DST, `${u32(RS[1]!)}`, 80], [FLOW_NAT.DST, `${u32(RS[0]!)}`, 80]]);
  });

  it('a tunnel on tc: IPIP decisions carry the outer destination and source; a GUE service gets no ring', () => {
    const s = setup({ fwd: 'tunnel', nat: true });
    s.ahead.sync();
    assert.equal(s.svcs.size, 1);
    const o = s.claim()!;
    assert.deepEqual([s.view.getUint8(o + 18), s.view.getUint32(o + 24, false) >>> 0, s.view.getUint32(o + 32, false) >>> 0], [FLOW_NAT.TUN_IPIP, u32(RS[1]!), u32('192.168.10.1')]);
    const g = setup({ fwd: 'tunnel', nat: true });
    g.rig.ok(g.rig.e.apply({ kind: 'edit-dest', key: g.key, dest: { af: 4, addr: RS[0]!, port: 80, fwd: 'tunnel', weight: 1, uThreshold: 0, lThreshold: 0, tunType: 'gue', tunPort: 6080, tunCsum: 'nocsum' } }));
    g.ahead.sync();
    assert.equal(g.svcs.size, 0, 'GUE is encapsulated in user space');
  });

  /**
   * A NAT connection from its SYN to its FIN without user space forwarding a packet: the kernel's
   * part done on a MemoryFlowMap as take_ahead() and fast_step() do it, the engine deciding the
   * reported packets as host.ts does.
   */
  it('NAT taken ahead: the kernel installs both entries, carries the SYN-ACK, records the handshake ACK, carries the close to its last ACK; the engine\'s InPkts/OutPkts and state come out exact', () => {
    const s = setup({ fwd: 'masq', nat: true });
    s.ahead.sync();
    const map = new MemoryFlowMap();
    const table = new FastPathTable(map, (c, p, b, out) => s.rig.e.countForwarded(c, p, b, out), new Set([2]), () => undefined);
    const C = u32('172.16.0.2'), VIP = u32('10.0.0.100');
    // take_ahead(): the SYN takes a decision; the client's entry and the replies' are installed.
    const o = s.claim()!;
    const tok = s.view.getUint32(o + 20, true), rip = s.view.getUint32(o + 24, false) >>> 0, rport = s.view.getUint16(o + 28, false);
    const put = (k: [number, number, number, number], nat: number, addr: number, port: number, needAck: boolean) => {
      const key = new Uint8Array(KEY_BYTES), v = new Uint8Array(VAL_BYTES), d = new DataView(v.buffer);
      writeFlowKey(key, k[0], k[1], k[2], k[3], 6);
      d.setUint16(FLOW_VAL.MTU, 1500, true);
      v[FLOW_VAL.NEED_ACK] = needAck ? 1 : 0;
      v[FLOW_VAL.NAT] = nat;
      d.setUint32(FLOW_VAL.NADDR, addr, false);
      d.setUint16(FLOW_VAL.NPORT, port, false);
      map.put(key, v);
    };
    put([C, VIP, 40000, 80], FLOW_NAT.DST, rip, rport, true);
    put([rip, C, rport, 40000], FLOW_NAT.SRC, VIP, 80, false);
    const m = newMeta(), a = newAction();
    const sent = { in: 1, out: 0 };
    Object.assign(m, { dir: 'in', af: 4, protocol: 'tcp', saddr: ip('172.16.0.2'), sport: 40000, daddr: ip('10.0.0.100'), dport: 80, tcpFlags: flags('S'), bytes: 60, mark: 0 });
    const dest = s.ahead.taken(tok)!;
    verdictToAction(m, s.rig.e.processPacket(m, undefined, dest), a);
    table.adoptTaken(m, a, s.hops.get(a.rip), s.hops.get(dest.ip.words[0]! >>> 0), { rip: dest.ip.words[0]! >>> 0, rport: dest.port || 80 });
    assert.equal(table.size, 1, 'adopted');
    const path: string[] = [];
    // host.ts: a recorded first ACK or FIN is decided as its sender's packet, before the report carrying it.
    const am = newMeta(), aa = newAction();
    table.decideRecorded = (sa, da, sp, dp, _proto, fl, len, out, offer) => {
      Object.assign(am, { dir: out ? 'out' : 'in', af: 4, protocol: 'tcp', saddr: { af: 4, words: [sa] }, daddr: { af: 4, words: [da] }, sport: sp, dport: dp, tcpFlags: fl, bytes: len, mark: 0 });
      verdictToAction(am, s.rig.e.processPacket(am), aa);
      if (offer) table.offer(am, aa, s.hops.get(aa.rip));
    };
    const send = (dir: 'in' | 'out', fl: string, bytes = 52): void => {
      const f = flags(fl);
      sent[dir]++;
      const [sa, da, sp, dp] = dir === 'in' ? [C, VIP, 40000, 80] : [rip, C, rport, 40000];
      const r = map.forward(sa, da, sp, dp, 6, f, bytes);
      path.push(`${dir}:${r}`);
      if (r === 'counted') return;
      assert.equal(r, 'event', `${dir} ${fl}: the kernel carries every packet`);
      if (ackInToken(map.lastToken)) table.ackCarried(sa, da, sp, dp, ackInToken(map.lastToken));
      table.takeAcks();
      Object.assign(m, { dir: 'in', saddr: ip(sa === C ? '172.16.0.2' : dest.addr), daddr: ip(da === C ? '172.16.0.2' : '10.0.0.100'), sport: sp, dport: dp, tcpFlags: f, bytes });
      m.dir = table.reported(sa, da, sp, dp, f, map.lastPkts, map.lastBytes, map.lastKind, map.lastToken, map.lastEnd);
      verdictToAction(m, s.rig.e.processPacket(m), a);
      table.offer(m, a, s.hops.get(a.rip));
    };
    send('out', 'SA');
    send('in', 'A');
    send('in', 'PA', 200);
    for (let i = 0; i < 3; i++) send('out', 'PA', 1500);
    send('out', 'FA');
    const conn = () => s.rig.e.connections().find((x) => x.protocol === 'TCP')!;
    assert.equal(conn().state, 'SYN_RECV', 'the FIN recorded in the entries, not reported (nor the handshake ACK)');
    table.sweep();
    assert.equal(conn().state, 'FIN_WAIT', 'a read of the entries (a sweep, a listing) decides the handshake ACK, then the FIN: ESTABLISHED, then FIN_WAIT');
    send('in', 'FA');
    send('out', 'A');
    assert.deepEqual(path, ['out:counted', 'in:counted', 'in:counted', 'out:counted', 'out:counted', 'out:counted', 'out:counted', 'in:counted', 'out:event'], 'one report: the last ACK, which carries the client\'s FIN');
    assert.equal(map.entries.size, 0, 'the last ACK ended both entries');
    assert.equal(table.size, 0);
    table.sweep();
    const st = s.rig.e.service(s.key)!.stats;
    assert.deepEqual([st.conns, st.inpkts, st.outpkts], [1, sent.in, sent.out]);
    assert.equal(conn().state, 'TIME_WAIT');
  });

  it('NAT taken ahead that the engine does not confirm: both kernel entries are removed', () => {
    const s = setup({ fwd: 'masq', nat: true });
    s.ahead.sync();
    const map = new MemoryFlowMap();
    const table = new FastPathTable(map, () => true, new Set([2]), () => undefined);
    const dest = s.ahead.taken(s.take()!)!;
    const C = u32('172.16.0.2'), rip = dest.ip.words[0]! >>> 0;
    for (const [sa, da, sp, dp] of [[C, u32('10.0.0.100'), 40001, 80], [rip, C, 80, 40001]] as const) {
      const key = new Uint8Array(KEY_BYTES);
      writeFlowKey(key, sa, da, sp, dp, 6);
      map.put(key, new Uint8Array(VAL_BYTES));
    }
    const m = newMeta(), a = newAction();
    Object.assign(m, { dir: 'in', af: 4, protocol: 'tcp', saddr: ip('172.16.0.2'), sport: 40001, daddr: ip('10.0.0.100'), dport: 80, tcpFlags: flags('S'), bytes: 60, mark: 0 });
    a.kind = 1; // drop: the destination went away meanwhile
    table.adoptTaken(m, a, undefined, s.hops.get(rip), { rip, rport: 80 });
    assert.equal(table.size, 0);
    assert.equal(map.entries.size, 0);
  });
});
