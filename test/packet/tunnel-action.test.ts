/**
 * The tunnel type travels from the engine to the worker: verdictToAction fills the Action from the
 * destination the engine chose (its --tun-type / --tun-port / --tun-*csum, as the kernel reads
 * cp->dest at transmit time, so an edit applies to existing connections), and the decision
 * channel carries the fields through its answer words unchanged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rig, svcKey } from '../core/engine-rig.ts';
import { verdictToAction } from '../../src/forwarders/packet/index.ts';
import { newAction } from '../../src/forwarders/packet/decision.ts';
import { newMeta } from '../../src/forwarders/packet/classify.ts';
import { FWD_CODE, TUN_CODE, TUN_CSUM_CODE } from '../../src/core/types.ts';
import { createChannel, DecisionChannel, serveChannel } from '../../src/forwarders/packet/channel.ts';
import { parseIp } from '../../src/core/addr.ts';
import type { DestSpec } from '../../src/core/types.ts';

const VIP = '10.0.0.100';

function meta(sport: number) {
  const m = newMeta();
  m.dir = 'in';
  m.protocol = 'tcp';
  m.saddr = parseIp('192.0.2.10')!;
  m.daddr = parseIp(VIP)!;
  m.sport = sport;
  m.dport = 80;
  m.tcpFlags = 0x02;
  m.bytes = 60;
  return m;
}

const table: [string, Partial<DestSpec>, number, number, number][] = [
  ['ipip', { tunType: 'ipip' }, TUN_CODE.ipip, 0, TUN_CSUM_CODE.nocsum],
  ['gue nocsum', { tunType: 'gue', tunPort: 6080, tunCsum: 'nocsum' }, TUN_CODE.gue, 6080, TUN_CSUM_CODE.nocsum],
  ['gue csum', { tunType: 'gue', tunPort: 65535, tunCsum: 'csum' }, TUN_CODE.gue, 65535, TUN_CSUM_CODE.csum],
  ['gue remcsum', { tunType: 'gue', tunPort: 1, tunCsum: 'remcsum' }, TUN_CODE.gue, 1, TUN_CSUM_CODE.remcsum],
  ['gre nocsum', { tunType: 'gre', tunCsum: 'nocsum' }, TUN_CODE.gre, 0, TUN_CSUM_CODE.nocsum],
  ['gre csum', { tunType: 'gre', tunCsum: 'csum' }, TUN_CODE.gre, 0, TUN_CSUM_CODE.csum],
];

for (const [name, spec, tun, port, csum] of table) {
  test(`${name}: the engine's verdict becomes a tunnel action with the destination's type, port and checksum option, and survives the channel`, () => {
    const key = svcKey('tcp', VIP, 80);
    const r = new Rig().service(key, { scheduler: 'rr' }).dest(key, '192.168.10.11', 80, 'tunnel', spec);
    const m = meta(40000);
    const a = newAction();
    verdictToAction(m, r.in('tcp', '192.0.2.10:40000', `${VIP}:80`, 'S'), a);
    assert.equal(a.method, FWD_CODE.tunnel);
    assert.deepEqual([a.tun, a.tunPort, a.tunCsum], [tun, port, csum]);

    // Through the channel: the main side decides with the same engine mapping.
    const sab = createChannel(8);
    const ch = new DecisionChannel(sab);
    const server = serveChannel(sab, (pm, out) => { Object.assign(out, a); out.dir = pm.dir; });
    try {
      const seq = ch.push(m, true, 0, () => {});
      server.drain();
      const got = newAction();
      ch.answer(seq, got);
      assert.deepEqual([got.kind, got.method, got.tun, got.tunPort, got.tunCsum, got.rip, got.rport, got.vip, got.vport],
        [a.kind, a.method, a.tun, a.tunPort, a.tunCsum, a.rip, a.rport, a.vip, a.vport]);
    } finally {
      server.stop();
    }
  });
}

test('editing a destination from ipip to gue changes the action of its existing connection', () => {
  const key = svcKey('tcp', VIP, 80);
  const r = new Rig().service(key, { scheduler: 'rr' }).dest(key, '192.168.10.11', 80, 'tunnel');
  const a = newAction();
  verdictToAction(meta(40001), r.in('tcp', '192.0.2.10:40001', `${VIP}:80`, 'S'), a);
  assert.equal(a.tun, TUN_CODE.ipip);
  r.ok(r.e.apply({ kind: 'edit-dest', key, dest: { af: 4, addr: '192.168.10.11', port: 80, fwd: 'tunnel', weight: 1, uThreshold: 0, lThreshold: 0, tunType: 'gue', tunPort: 5555, tunCsum: 'csum' } }));
  verdictToAction(meta(40001), r.in('tcp', '192.0.2.10:40001', `${VIP}:80`, 'A'), a);
  assert.equal(a.kind, 3);
  assert.deepEqual([a.tun, a.tunPort, a.tunCsum], [TUN_CODE.gue, 5555, TUN_CSUM_CODE.csum]);
});

test('non-tunnel actions carry no tunnel fields', () => {
  const key = svcKey('tcp', VIP, 80);
  const r = new Rig().service(key, { scheduler: 'rr' }).dest(key, '192.168.10.11', 80, 'route');
  const a = newAction();
  a.tun = TUN_CODE.gre; a.tunPort = 9; a.tunCsum = TUN_CSUM_CODE.csum; // stale values from a previous packet
  verdictToAction(meta(40002), r.in('tcp', '192.0.2.10:40002', `${VIP}:80`, 'S'), a);
  assert.equal(a.method, FWD_CODE.route);
  assert.deepEqual([a.tun, a.tunPort, a.tunCsum], [0, 0, 0]);
});

/** A packet of `src` -> `dst`:80 (either family) as the classifier hands it over. */
function meta2(src: string, dst: string, sport: number) {
  const m = meta(sport);
  m.saddr = parseIp(src)!;
  m.daddr = parseIp(dst)!;
  m.af = m.saddr.af;
  return m;
}

// Each family pair the packet forwarder carries: the action's addresses, as verdictToAction made
// them, come out of the channel's answer words unchanged (IPv6 in 4 words, IPv4 in 1).
const families: [string, string, string, string, 'route' | 'masq' | 'tunnel'][] = [
  ['IPv6 DR', 'fd00:16::2', 'fd00:100::100', 'fd00:10::11', 'route'],
  ['IPv6 NAT', 'fd00:16::2', 'fd00:100::100', 'fd00:10::12', 'masq'],
  ['IPv6 TUN (ip6ip6)', 'fd00:16::2', 'fd00:100::100', 'fd00:10::11', 'tunnel'],
  ['mixed TUN: IPv4 service, IPv6 real server', '192.0.2.10', VIP, 'fd00:10::11', 'tunnel'],
  ['mixed TUN: IPv6 service, IPv4 real server', 'fd00:16::2', 'fd00:100::100', '192.168.10.11', 'tunnel'],
];

for (const [name, client, vip, rip, fwd] of families) {
  test(`${name}: the forward action names the real server and VIP in their families, and survives the channel`, () => {
    const vaf = vip.includes(':') ? 6 : 4;
    const key = { ...svcKey('tcp', vip, 80), af: vaf as 4 | 6 };
    const r = new Rig().service(key, { scheduler: 'rr' }).dest(key, rip, 8080, fwd, rip.includes(':') ? { af: 6 } : {});
    const m = meta2(client, vip, 40100);
    const a = newAction();
    verdictToAction(m, r.in('tcp', `${client.includes(':') ? `[${client}]` : client}:40100`, `${vaf === 6 ? `[${vip}]` : vip}:80`, 'S'), a);
    assert.equal(a.kind, 3, 'forward');
    assert.equal(a.method, FWD_CODE[fwd]);
    const ripOf = (x: { rip: number; rip6: { words: readonly number[] } | null }) => x.rip6 ? [...x.rip6.words] : [x.rip];
    const vipOf = (x: { vip: number; vip6: { words: readonly number[] } | null }) => x.vip6 ? [...x.vip6.words] : [x.vip];
    assert.deepEqual(ripOf(a), [...parseIp(rip)!.words]);
    assert.deepEqual(vipOf(a), [...parseIp(vip)!.words]);
    assert.equal(a.rport, 8080);

    const sab = createChannel(8);
    const ch = new DecisionChannel(sab);
    const server = serveChannel(sab, (pm, out) => {
      verdictToAction(pm, r.in('tcp', `${client.includes(':') ? `[${client}]` : client}:40100`, `${vaf === 6 ? `[${vip}]` : vip}:80`, 'A'), out);
    });
    try {
      const seq = ch.push(m, true, 0, () => {});
      server.drain();
      const got = newAction();
      ch.answer(seq, got);
      assert.deepEqual([got.kind, got.method, ripOf(got), got.rport, vipOf(got), got.vport], [a.kind, a.method, ripOf(a), a.rport, vipOf(a), a.vport]);
    } finally {
      server.stop();
    }
  });
}
