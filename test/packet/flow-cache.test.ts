// The ring workers' flow cache (src/forwarders/packet/flow-cache.ts): which engine answers are
// remembered, which later packets may be forwarded from them, and when an entry goes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseIp } from '../../src/core/addr.ts';
import { ACTION_CODE, FWD_CODE } from '../../src/core/types.ts';
import { IPPROTO } from '../../src/codec/ip.ts';
import { newMeta, type PacketMeta } from '../../src/forwarders/packet/classify.ts';
import { newAction, type Action } from '../../src/forwarders/packet/decision.ts';
import { FLOW_TTL_MS, FlowCache, flowKey, flowPeer, type FlowKey } from '../../src/forwarders/packet/flow-cache.ts';

const u32 = (s: string): number => parseIp(s)!.words[0]!;
const SYN = 0x02, ACK = 0x10;
const CLIENT = '192.0.2.10', VIP = '10.0.0.100', RIP = '10.1.0.11';
const CLIENT6 = 'fd00:1::10', VIP6 = 'fd00:100::100', RIP6 = 'fd00:2::11';
const ip = (s: string) => parseIp(s)!;

/**
 * A classified packet: 'in' client -> VIP:80, 'out' RIP:8080 -> client (a NAT reply); IPv4, or
 * IPv6 with `v6` (the *6 addresses; `vip` then names an IPv6 VIP).
 */
function pkt(o: { dir?: 'in' | 'out'; proto?: number; cport?: number; vip?: string; flags?: number; v6?: boolean } = {}): { meta: PacketMeta; proto: number } {
  const m = newMeta();
  const proto = o.proto ?? IPPROTO.TCP;
  m.dir = o.dir ?? 'in';
  m.protocol = proto === IPPROTO.UDP ? 'udp' : 'tcp';
  const client = ip(o.v6 ? CLIENT6 : CLIENT), cport = o.cport ?? 40000;
  if (m.dir === 'in') {
    m.saddr = client; m.sport = cport; m.daddr = ip(o.vip ?? (o.v6 ? VIP6 : VIP)); m.dport = 80;
  } else {
    m.saddr = ip(o.v6 ? RIP6 : RIP); m.sport = 8080; m.daddr = client; m.dport = cport;
  }
  m.tcpFlags = o.flags ?? ACK;
  return { meta: m, proto };
}

/** The engine's answer: forward to RIP:8080 by NAT on connection 7, unless told otherwise. */
function answer(o: Partial<Action> = {}): Action {
  return { ...newAction(), kind: ACTION_CODE.forward, method: FWD_CODE.masq, rip: u32(RIP), rport: 8080, vip: u32(VIP), vport: 80, conn: 7, ...o };
}
/** The same over IPv6 (the addresses in rip6 / vip6, rip and vip 0). */
function answer6(o: Partial<Action> = {}): Action {
  return answer({ rip: 0, vip: 0, rip6: ip(RIP6), vip6: ip(VIP6), ...o });
}

/** Remembers the engine's answer for packet `p` at time `t` as the ring driver does (the tuple from the packet). */
function remember(c: FlowCache, p: { meta: PacketMeta; proto: number }, a: Action, t = 0): FlowKey {
  const key = flowKey(p.meta, p.proto);
  const out = p.meta.dir === 'out';
  c.remember(key, out, p.proto, flowPeer(p.meta), out ? p.meta.sport : p.meta.dport, a, t);
  return key;
}

function take(c: FlowCache, p: { meta: PacketMeta; proto: number }, t: number) {
  return c.take(p.meta, p.proto, flowKey(p.meta, p.proto), t);
}

describe('flow cache: what the engine answered, and the packets forwarded from it', () => {
  // [what, the packet answered, the answer, the later packet, when (ms after), forwarded from the cache, entries left]
  const rows: [string, ReturnType<typeof pkt>, Action, ReturnType<typeof pkt>, number, boolean, number][] = [
    ['the next TCP segment of the flow', pkt({ flags: SYN }), answer(), pkt(), 10, true, 1],
    ['a UDP datagram of the flow', pkt({ proto: IPPROTO.UDP, flags: 0 }), answer(), pkt({ proto: IPPROTO.UDP, flags: 0 }), 10, true, 1],
    ['a NAT reply, keyed by the client and checked against the real server', pkt({ dir: 'out' }), answer({ dir: 'out' }), pkt({ dir: 'out' }), 10, true, 1],
    ['a SYN on the same tuple (the engine may reschedule it): asked, entry dropped', pkt(), answer(), pkt({ flags: SYN }), 10, false, 0],
    ['a packet after the entry expired: asked, entry dropped', pkt(), answer(), pkt(), FLOW_TTL_MS, false, 0],
    ['the same client port to another VIP: asked, entry dropped', pkt(), answer(), pkt({ vip: '10.0.0.101' }), 10, false, 0],
    ['the same client port over UDP: asked, entry dropped', pkt(), answer(), pkt({ proto: IPPROTO.UDP }), 10, false, 0],
    ['another client port: asked', pkt(), answer(), pkt({ cport: 40001 }), 10, false, 1],
    ['the other direction: asked', pkt(), answer(), pkt({ dir: 'out' }), 10, false, 1],
    ['after a reject: nothing remembered', pkt(), answer({ kind: ACTION_CODE.reject }), pkt(), 10, false, 0],
    ['after a drop: nothing remembered', pkt(), answer({ kind: ACTION_CODE.drop }), pkt(), 10, false, 0],
    ['after a pass: nothing remembered', pkt(), answer({ kind: ACTION_CODE.pass }), pkt(), 10, false, 0],
    ['after a forward without a connection (one-packet scheduling): nothing remembered', pkt({ proto: IPPROTO.UDP }), answer({ conn: -1 }), pkt({ proto: IPPROTO.UDP }), 10, false, 0],
    ['IPv6: the next TCP segment of the flow', pkt({ v6: true, flags: SYN }), answer6(), pkt({ v6: true }), 10, true, 1],
    ['IPv6: a NAT reply', pkt({ v6: true, dir: 'out' }), answer6({ dir: 'out' }), pkt({ v6: true, dir: 'out' }), 10, true, 1],
    ['IPv6: a SYN on the same tuple: asked, entry dropped', pkt({ v6: true }), answer6(), pkt({ v6: true, flags: SYN }), 10, false, 0],
    ['IPv6: the same client port to another VIP: asked, entry dropped', pkt({ v6: true }), answer6(), pkt({ v6: true, vip: 'fd00:100::101' }), 10, false, 0],
    ['IPv6: another client port: asked', pkt({ v6: true }), answer6(), pkt({ v6: true, cport: 40001 }), 10, false, 1],
    ['IPv6 and IPv4 clients apart: the IPv4 packet is asked', pkt({ v6: true }), answer6(), pkt(), 10, false, 1],
    ['a mixed-family tunnel (IPv4 VIP, IPv6 real server): nothing remembered', pkt(), answer({ method: FWD_CODE.tunnel, rip: 0, rip6: ip(RIP6) }), pkt(), 10, false, 0],
    ['a mixed-family tunnel (IPv6 VIP, IPv4 real server): nothing remembered', pkt({ v6: true }), answer({ method: FWD_CODE.tunnel, vip: 0, vip6: ip(VIP6) }), pkt({ v6: true }), 10, false, 0],
  ];
  for (const [what, first, a, next, dt, hit, left] of rows) {
    it(what, () => {
      const c = new FlowCache(true);
      remember(c, first, a, 1000);
      const e = take(c, next, 1000 + dt);
      assert.equal(e !== undefined, hit);
      if (e) assert.deepEqual([e.kind, e.method, e.rip, e.rport, e.vip, e.vport, e.rip6, e.vip6, e.conn], [a.kind, a.method, a.rip, a.rport, a.vip, a.vport, a.rip6, a.vip6, a.conn]);
      assert.equal(c.size, left);
    });
  }

  it('ICMP errors are never cached (no key)', () => {
    const p = pkt({ proto: IPPROTO.ICMP });
    assert.equal(flowKey(p.meta, p.proto), -1);
    const c = new FlowCache(true);
    remember(c, p, answer());
    assert.equal(c.size, 0);
    assert.equal(take(c, p, 10), undefined);
  });

  it('turned off (--flow-cache off): nothing is remembered, every packet is asked', () => {
    const c = new FlowCache(false);
    remember(c, pkt({ flags: SYN }), answer());
    assert.equal(c.size, 0);
    assert.equal(take(c, pkt(), 10), undefined);
  });

  it('every packet forwarded from an entry keeps it alive one more FLOW_TTL_MS', () => {
    const c = new FlowCache(true);
    remember(c, pkt(), answer(), 0);
    for (let t = 900; t <= 9000; t += 900) assert.ok(take(c, pkt(), t), `hit at ${t} ms`);
    assert.equal(take(c, pkt(), 9000 + FLOW_TTL_MS), undefined);
  });

  it('a full direction starts over', () => {
    const c = new FlowCache(true, 2);
    for (const cport of [1, 2, 3]) remember(c, pkt({ cport }), answer());
    assert.equal(c.size, 1);
    assert.ok(take(c, pkt({ cport: 3 }), 10));
  });

  it('clear forgets every entry (a rule change)', () => {
    const c = new FlowCache(true);
    remember(c, pkt(), answer());
    remember(c, pkt({ dir: 'out' }), answer({ dir: 'out' }));
    c.clear();
    assert.equal(c.size, 0);
  });
});

describe('flow cache: the engine\'s later answer for a packet forwarded from it', () => {
  // [what, the engine's answer, agrees, the flow over IPv6]
  const rows: [string, Action, boolean, boolean?][] = [
    ['the same decision: the entry stays', answer(), true],
    ['IPv6: the same decision (equal addresses, other records): the entry stays', answer6({ rip6: ip(RIP6), vip6: ip(VIP6) }), true, true],
    ['IPv6: another real server: the entry goes', answer6({ rip6: ip('fd00:2::12') }), false, true],
    ['another real server: the entry goes', answer({ rip: u32('10.1.0.12') }), false],
    ['another port', answer({ rport: 8081 }), false],
    ['another method', answer({ method: FWD_CODE.route }), false],
    ['another tunnel type', answer({ tun: 1 }), false],
    ['a drop (the destination was deleted)', answer({ kind: ACTION_CODE.drop, conn: -1 }), false],
    ['the connection gone', answer({ conn: -1 }), false],
  ];
  for (const [what, a, agrees, v6 = false] of rows) {
    it(what, () => {
      const c = new FlowCache(true);
      remember(c, pkt({ v6 }), v6 ? answer6() : answer());
      const e = take(c, pkt({ v6 }), 10)!;
      assert.equal(c.confirm(e, a), agrees);
      assert.equal(take(c, pkt({ v6 }), 20) !== undefined, agrees);
    });
  }

  it('a late disagreement about an entry already replaced leaves the new entry alone', () => {
    const c = new FlowCache(true);
    remember(c, pkt(), answer());
    const old = take(c, pkt(), 10)!;
    remember(c, pkt(), answer({ conn: 8 }), 20);
    assert.equal(c.confirm(old, answer({ rip: u32('10.1.0.12') })), false);
    assert.equal(take(c, pkt(), 30)?.conn, 8);
  });
});
