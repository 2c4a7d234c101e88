// The ring workers' flow cache (src/forwarders/packet/flow-cache.ts): which engine answers are
// remembered, which later packets may be forwarded from them, and when an entry goes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseIp } from '../../src/core/addr.ts';
import { ACTION_CODE, FWD_CODE } from '../../src/core/types.ts';
import { IPPROTO } from '../../src/codec/ip.ts';
import { newMeta, type PacketMeta } from '../../src/forwarders/packet/classify.ts';
import { newAction, type Action } from '../../src/forwarders/packet/decision.ts';
import { FLOW_TTL_MS, FlowCache, flowKey } from '../../src/forwarders/packet/flow-cache.ts';

const u32 = (s: string): number => parseIp(s)!.words[0]!;
const SYN = 0x02, ACK = 0x10;
const CLIENT = '192.0.2.10', VIP = '10.0.0.100', RIP = '10.1.0.11';

/** A classified IPv4 packet: 'in' client -> VIP:80, 'out' RIP:8080 -> client (a NAT reply). */
function pkt(o: { dir?: 'in' | 'out'; proto?: number; cport?: number; vip?: string; flags?: number } = {}): { meta: PacketMeta; proto: number } {
  const m = newMeta();
  const proto = o.proto ?? IPPROTO.TCP;
  m.dir = o.dir ?? 'in';
  m.protocol = proto === IPPROTO.UDP ? 'udp' : 'tcp';
  const client = { af: 4 as const, words: [u32(CLIENT)] }, cport = o.cport ?? 40000;
  if (m.dir === 'in') {
    m.saddr = client; m.sport = cport; m.daddr = { af: 4, words: [u32(o.vip ?? VIP)] }; m.dport = 80;
  } else {
    m.saddr = { af: 4, words: [u32(RIP)] }; m.sport = 8080; m.daddr = client; m.dport = cport;
  }
  m.tcpFlags = o.flags ?? ACK;
  return { meta: m, proto };
}

/** The engine's answer: forward to RIP:8080 by NAT on connection 7, unless told otherwise. */
function answer(o: Partial<Action> = {}): Action {
  return { ...newAction(), kind: ACTION_CODE.forward, method: FWD_CODE.masq, rip: u32(RIP), rport: 8080, vip: u32(VIP), vport: 80, conn: 7, ...o };
}

/** Remembers the engine's answer for packet `p` at time `t` as the ring driver does (the tuple from the packet). */
function remember(c: FlowCache, p: { meta: PacketMeta; proto: number }, a: Action, t = 0): number {
  const key = flowKey(p.meta, p.proto);
  const out = p.meta.dir === 'out';
  c.remember(key, out, p.proto, out ? p.meta.saddr.words[0]! : p.meta.daddr.words[0]!, out ? p.meta.sport : p.meta.dport, a, t);
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
  ];
  for (const [what, first, a, next, dt, hit, left] of rows) {
    it(what, () => {
      const c = new FlowCache(true);
      remember(c, first, a, 1000);
      const e = take(c, next, 1000 + dt);
      assert.equal(e !== undefined, hit);
      if (e) assert.deepEqual([e.kind, e.method, e.rip, e.rport, e.vip, e.vport, e.conn], [a.kind, a.method, a.rip, a.rport, a.vip, a.vport, a.conn]);
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
  // [what, the engine's answer, agrees]
  const rows: [string, Action, boolean][] = [
    ['the same decision: the entry stays', answer(), true],
    ['another real server: the entry goes', answer({ rip: u32('10.1.0.12') }), false],
    ['another port', answer({ rport: 8081 }), false],
    ['another method', answer({ method: FWD_CODE.route }), false],
    ['another tunnel type', answer({ tun: 1 }), false],
    ['a drop (the destination was deleted)', answer({ kind: ACTION_CODE.drop, conn: -1 }), false],
    ['the connection gone', answer({ conn: -1 }), false],
  ];
  for (const [what, a, agrees] of rows) {
    it(what, () => {
      const c = new FlowCache(true);
      remember(c, pkt(), answer());
      const e = take(c, pkt(), 10)!;
      assert.equal(c.confirm(e, a), agrees);
      assert.equal(take(c, pkt(), 20) !== undefined, agrees);
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
