// Flows a killed daemon's program left (src/forwarders/packet/adopt.ts): each is read back as its
// connection (DR: the real server found by the MAC its flow sends to; NAT and tunnels: the address
// in the flow), bound once the engine can, skipped when it is a NAT reply's entry, dropped when
// it ended meanwhile, and removed from the kernel's map when not bound within ADOPT_MS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeftFlows, ADOPT_MS, type LeftConn } from '../../src/forwarders/packet/adopt.ts';
import { FLOW_NAT, FLOW_VAL as V, KEY6_BYTES, KEY_BYTES, MemoryFlowMap, NADDR6, VAL6_BYTES, VAL_BYTES, writeFlowKey, writeFlowKey6 } from '../../src/os/flow-map.ts';
import { parseIp } from '../../src/core/addr.ts';
import type { NextHop } from '../../src/os/neigh.ts';

const ip = (s: string): number => s.split('.').reduce((a, b) => a * 256 + Number(b), 0);
const MAC = Uint8Array.of(2, 0, 0, 0, 0, 11);
const hop: NextHop = { ifindex: 3, mac: MAC, srcMac: Uint8Array.of(2, 0, 0, 0, 0, 1), src: ip('192.168.10.1') } as NextHop;

function flow(sport: number, nat: number, opts: { mac?: Uint8Array; naddr?: string; nport?: number; needAck?: boolean } = {}): { key: Uint8Array; val: Uint8Array } {
  const key = new Uint8Array(KEY_BYTES);
  writeFlowKey(key, ip('172.16.0.2'), ip('10.0.0.100'), sport, 80, 6);
  const val = new Uint8Array(VAL_BYTES);
  const v = new DataView(val.buffer);
  val.set(opts.mac ?? MAC, V.DMAC);
  v.setUint32(V.IFINDEX, 3, true);
  val[V.NAT] = nat;
  val[V.NEED_ACK] = opts.needAck ? 1 : 0;
  if (opts.naddr) v.setUint32(V.NADDR, ip(opts.naddr), false);
  if (opts.nport) v.setUint16(V.NPORT, opts.nport, false);
  return { key, val };
}

test('left flows: bound as their connections (DR by MAC, NAT and tunnels by address), replies skipped, ended ones dropped, the unbound removed after ADOPT_MS', () => {
  const rows: { name: string; f: ReturnType<typeof flow>; inMap: boolean; want: Partial<LeftConn> | 'skipped' | 'dropped' | 'removed' }[] = [
    { name: 'DR', f: flow(40001, FLOW_NAT.NONE), inMap: true, want: { rip: ip('192.168.10.11'), rport: 80, established: true } },
    { name: 'DR in its handshake', f: flow(40002, FLOW_NAT.NONE, { needAck: true }), inMap: true, want: { rip: ip('192.168.10.11'), established: false } },
    { name: 'NAT', f: flow(40003, FLOW_NAT.DST, { naddr: '192.168.10.12', nport: 8080 }), inMap: true, want: { rip: ip('192.168.10.12'), rport: 8080 } },
    { name: 'IPIP tunnel', f: flow(40004, FLOW_NAT.TUN_IPIP, { naddr: '192.168.10.12' }), inMap: true, want: { rip: ip('192.168.10.12'), rport: 80 } },
    { name: 'NAT reply entry', f: flow(40005, FLOW_NAT.SRC, { naddr: '10.0.0.100', nport: 80 }), inMap: true, want: 'skipped' },
    { name: 'ended before binding', f: flow(40006, FLOW_NAT.NONE), inMap: false, want: 'dropped' },
    { name: 'DR to a MAC with no next hop', f: flow(40007, FLOW_NAT.NONE, { mac: Uint8Array.of(2, 0, 0, 0, 0, 99) }), inMap: true, want: 'removed' },
  ];
  const map = new MemoryFlowMap();
  for (const r of rows) if (r.inMap) map.put(r.f.key, r.f.val);
  const bound: LeftConn[] = [];
  // The engine has no service yet on the first step (rules not restored): nothing is bound.
  let ready = false;
  const left = new LeftFlows(rows.map((r) => r.f), map, new Map([[ip('192.168.10.11'), hop]]), (c) => { if (!ready) return false; bound.push(c); return true; }, 0);
  left.step(100);
  assert.equal(bound.length, 0);
  assert.equal(left.waiting, 5, 'the ended flow is dropped at once; the NAT reply entry never waits');
  ready = true;
  left.step(200);
  for (const r of rows) {
    const c = bound.find((b) => b.sport === r.f.key[8]! * 256 + r.f.key[9]!);
    if (typeof r.want === 'object') {
      assert.ok(c, `${r.name}: bound`);
      for (const [k, v] of Object.entries(r.want)) assert.equal(c[k as keyof LeftConn], v, `${r.name}: ${k}`);
      assert.equal(c.saddr, ip('172.16.0.2'));
      assert.equal(c.daddr, ip('10.0.0.100'));
    } else assert.equal(c, undefined, `${r.name}: not bound`);
  }
  assert.equal(left.waiting, 1, 'the flow whose real server is unknown still waits');
  left.step(ADOPT_MS + 1);
  assert.equal(left.waiting, 0);
  const gone = rows.find((r) => r.want === 'removed')!.f;
  assert.equal(map.get(gone.key, new Uint8Array(VAL_BYTES)), false, 'removed from the kernel map after ADOPT_MS');
  assert.deepEqual(left.counters, { adopted: 4, adoptDropped: 2 });
});

test('left IPv6 flows (flows6): bound as their connections (DR by MAC through the IPv6 next hops, NAT by its 16-byte address), replies skipped, the unbound removed from flows6 after ADOPT_MS', () => {
  const w = (s: string): number[] => parseIp(s)!.words.slice();
  const CLIENT = 'fd00:16::2', VIP = 'fd00:100::100', RS1 = 'fd00:10::11', RS2 = 'fd00:10::12';
  const flow6 = (sport: number, nat: number, opts: { mac?: Uint8Array; naddr?: string; nport?: number; needAck?: boolean } = {}) => {
    const key = new Uint8Array(KEY6_BYTES);
    writeFlowKey6(key, w(CLIENT), w(VIP), sport, 80, 6);
    const val = new Uint8Array(VAL6_BYTES);
    const v = new DataView(val.buffer);
    val.set(opts.mac ?? MAC, V.DMAC);
    v.setUint32(V.IFINDEX, 3, true);
    val[V.NAT] = nat;
    val[V.NEED_ACK] = opts.needAck ? 1 : 0;
    if (opts.naddr) w(opts.naddr).forEach((x, i) => v.setUint32(NADDR6 + 4 * i, x, false));
    if (opts.nport) v.setUint16(V.NPORT, opts.nport, false);
    return { key, val };
  };
  const rows: { name: string; f: ReturnType<typeof flow6>; want: Partial<LeftConn> & { rip6?: number[] } | 'skipped' | 'removed' }[] = [
    { name: 'DR', f: flow6(41001, FLOW_NAT.NONE), want: { rport: 80, established: true, rip6: w(RS1) } },
    { name: 'DR in its handshake', f: flow6(41002, FLOW_NAT.NONE, { needAck: true }), want: { established: false, rip6: w(RS1) } },
    { name: 'NAT', f: flow6(41003, FLOW_NAT.DST, { naddr: RS2, nport: 8080 }), want: { rport: 8080, established: true, rip6: w(RS2) } },
    { name: 'NAT reply entry', f: flow6(41004, FLOW_NAT.SRC, { naddr: VIP, nport: 80 }), want: 'skipped' },
    { name: 'DR to a MAC with no next hop', f: flow6(41005, FLOW_NAT.NONE, { mac: Uint8Array.of(2, 0, 0, 0, 0, 99) }), want: 'removed' },
  ];
  const map4 = new MemoryFlowMap(), map6 = new MemoryFlowMap(65536, KEY6_BYTES);
  for (const r of rows) map6.put(r.f.key, r.f.val);
  const bound: LeftConn[] = [];
  const left = new LeftFlows(rows.map((r) => r.f), map4, new Map(), (c) => { bound.push(c); return true; }, 0, map6, new Map([[RS1, hop]]));
  left.step(100);
  for (const r of rows) {
    const c = bound.find((b) => b.sport === r.f.key[32]! * 256 + r.f.key[33]!);
    if (typeof r.want === 'object') {
      assert.ok(c?.v6, `${r.name}: bound as an IPv6 connection`);
      const { rip6, ...rest } = r.want;
      for (const [k, v] of Object.entries(rest)) assert.equal(c[k as keyof LeftConn], v, `${r.name}: ${k}`);
      assert.deepEqual([c.v6.saddr, c.v6.daddr, c.v6.rip, c.proto], [w(CLIENT), w(VIP), rip6, 6], r.name);
    } else assert.equal(c, undefined, `${r.name}: not bound`);
  }
  assert.equal(left.waiting, 1);
  left.step(ADOPT_MS + 1);
  const gone = rows.find((r) => r.want === 'removed')!.f;
  assert.equal(map6.get(gone.key, new Uint8Array(VAL6_BYTES)), false, 'removed from flows6 after ADOPT_MS');
  assert.equal(map6.entries.size, 4, 'the bound ones and the reply entry stay');
  assert.deepEqual(left.counters, { adopted: 3, adoptDropped: 1 });
});
