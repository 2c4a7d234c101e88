// The kernel fast path's IPv6 table (src/forwarders/packet/fastpath6.ts) against the real engine,
// with MemoryFlowMap (IPv6 keys) standing for `flows6`: which IPv6 DR connections are installed,
// that the kernel's counts reach the engine's statistics once, and that a FIN's report or the
// engine's word removes them. NAT is never installed (IPv6 NAT stays in user space).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rig, ip, svcKey, flags } from '../core/engine-rig.ts';
import { FastPathTable6 } from '../../src/forwarders/packet/fastpath6.ts';
import { FLOW_VAL, KEY6_BYTES, VAL_BYTES, MemoryFlowMap, writeFlowKey6 } from '../../src/os/flow-map.ts';
import type { NextHop } from '../../src/forwarders/packet/forwarder.ts';
import { newAction } from '../../src/forwarders/packet/decision.ts';
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
  d.table.reported(ip(CLIENT).words, 40000, 80, flags('A'), 0, 0);
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
  d.table.reported(ip(CLIENT).words, 40000, 80, flags('FA'), Number(lv.getBigUint64(FLOW_VAL.PKTS, true)), Number(lv.getBigUint64(FLOW_VAL.BYTES, true)));
  d.user('FA');
  assert.equal(d.table.size, 0, 'the FIN ended the flow');
  assert.equal(d.inpkts(), 2 + 5 + 2 + 1);
  assert.equal(d.table.counters.events, 2);
});

test('IPv6 NAT connections stay in user space (no IPv6 NAT in the kernel)', () => {
  const d = director('masq');
  d.user('S');
  d.user('A');
  d.user('PA');
  assert.equal(d.table.size, 0);
  assert.equal(d.map.entries.size, 0);
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
