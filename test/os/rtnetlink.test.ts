// Addresses, routes and rules set through src/os/rtnetlink.ts in a namespace of our own, read
// back with iproute2 (`ip addr`, `ip route`, `ip rule`): what keepalived would have set
// (`proto keepalived`, tables, types, rule selectors), removed again, and the kernel's refusals
// reported as errors; adding twice and deleting what is gone are not errors (keepalived's).
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Lab, isRoot, nsExec } from '../helpers/netns.ts';
import { decodeAck, encodeRoute, encodeRule, NL, RTPROT_KEEPALIVED, type RouteSpec, type RuleSpec } from '../../src/os/rtnl-codec.ts';

const APPLY = join(import.meta.dirname, '..', 'helpers', 'rtnl-apply.ts');

function apply(ns: string, ops: object[]): string[] {
  const out = execFileSync('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', APPLY, JSON.stringify(ops, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))], { encoding: 'utf8' });
  return out.trim().split('\n');
}

const route = (r: Partial<RouteSpec>): RouteSpec => ({ family: 4, dst: null, dstLen: 0, type: 1, typeGiven: false, table: 254, protocol: RTPROT_KEEPALIVED, ...r });
const rule = (r: Partial<RuleSpec> & { priority: number }): RuleSpec => ({ family: 4, action: 1, table: 254, ...r });

describe('rtnetlink codec', () => {
  it('a route request carries the header keepalived sends: family, prefix, table, protocol, scope, type, and NLM_F_CREATE without EXCL (prepend)', () => {
    const b = encodeRoute('add', route({ dst: '10.1.0.0', dstLen: 16, via: '10.0.0.1', dev: 'x', metric: 7 }), 42, () => 9);
    assert.equal(b.readUInt32LE(0), b.length);
    assert.equal(b.readUInt16LE(4), NL.RTM_NEWROUTE);
    assert.equal(b.readUInt16LE(6), NL.F_REQUEST | NL.F_ACK | NL.F_CREATE);
    assert.equal(b.readUInt32LE(8), 42);
    assert.deepEqual([...b.subarray(16, 24)], [2, 16, 0, 0, 254, RTPROT_KEEPALIVED, 0, 1]);
    assert.equal(b.length % 4, 0);
  });
  it('a table above 255 goes in RTA_TABLE / FRA_TABLE, the header saying 0', () => {
    const r = encodeRoute('add', route({ dst: '10.1.0.0', dstLen: 16, table: 1000 }), 1, () => 1);
    assert.equal(r[20], 0);
    assert.ok(r.includes(Buffer.from([8, 0, 15, 0, 0xe8, 0x03, 0, 0])), 'RTA_TABLE 1000');
    const u = encodeRule('add', rule({ priority: 5, table: 1000 }), 1);
    assert.equal(u[20], 0);
    assert.ok(u.includes(Buffer.from([8, 0, 15, 0, 0xe8, 0x03, 0, 0])), 'FRA_TABLE 1000');
  });
  it('a delete names scope "nowhere" and no type unless the type was written (the kernel then matches any)', () => {
    const b = encodeRoute('del', route({ dst: '10.1.0.0', dstLen: 16 }), 1, () => 1);
    assert.equal(b.readUInt16LE(4), NL.RTM_DELROUTE);
    assert.equal(b[22], 255);
    assert.equal(b[23], 0);
  });
  it('an ack is read with its sequence number and errno; other messages are not acks', () => {
    const ack = Buffer.alloc(36);
    ack.writeUInt32LE(36, 0); ack.writeUInt16LE(NL.NLMSG_ERROR, 4); ack.writeUInt32LE(7, 8); ack.writeInt32LE(-17, 16);
    assert.deepEqual(decodeAck(ack), { seq: 7, error: -17 });
    const other = Buffer.alloc(20);
    other.writeUInt32LE(20, 0); other.writeUInt16LE(24, 4);
    assert.equal(decodeAck(other), null);
    assert.equal(decodeAck(Buffer.from([1, 2, 3])), null);
  });
});

describe('rtnetlink in a namespace', { skip: isRoot ? false : 'needs root (network namespaces)' }, () => {
  const lab = new Lab('rtnl');
  let ns = '';
  before(() => {
    ns = lab.ns('a');
    nsExec(ns, ['ip', 'link', 'add', 'e0', 'type', 'veth', 'peer', 'name', 'e1']);
    nsExec(ns, ['ip', 'link', 'set', 'e0', 'up']);
    nsExec(ns, ['ip', 'link', 'set', 'e1', 'up']);
  });
  after(() => lab.cleanup());

  const addr = { addr: '10.9.0.1', prefix: 24, dev: 'e0', label: 'e0:vip', brd: '10.9.0.255' };
  const addr6 = { addr: 'fd00:9::1', prefix: 64, dev: 'e0' };
  const peerAddr = { addr: '10.9.1.1', prefix: 32, dev: 'e0', peer: '10.9.1.2', flags: 0x200 };
  const deprecated6 = { addr: 'fd00:9::5', prefix: 64, dev: 'e0', preferredLft: 0 };
  const routes: [RouteSpec, RegExp][] = [
    [route({ dst: '10.20.0.0', dstLen: 16, via: '10.9.0.254', dev: 'e0', metric: 5 }), /^10\.20\.0\.0\/16 via 10\.9\.0\.254 dev e0 proto keepalived metric 5 $/m],
    [route({ dst: '10.30.0.0', dstLen: 16, type: 6, typeGiven: true, table: 100 }), /^blackhole 10\.30\.0\.0\/16 table 100 proto keepalived $/m],
    [route({ dst: '10.31.0.0', dstLen: 16, type: 7, typeGiven: true }), /^unreachable 10\.31\.0\.0\/16 proto keepalived $/m],
    [route({ dst: '10.32.0.0', dstLen: 16, type: 8, typeGiven: true }), /^prohibit 10\.32\.0\.0\/16 proto keepalived $/m],
    [route({ via: '10.9.0.254', dev: 'e0', prefsrc: '10.9.0.1', table: 1000 }), /^default via 10\.9\.0\.254 dev e0 table 1000 proto keepalived src 10\.9\.0\.1 $/m],
    [route({ dst: '10.33.0.0', dstLen: 24, dev: 'e0', scope: 253, protocol: 4, mtu: 1400 }), /^10\.33\.0\.0\/24 dev e0 proto static scope link mtu 1400 $/m],
    [route({ dst: '10.34.0.0', dstLen: 16, nexthops: [{ via: '10.9.0.253', dev: 'e0', weight: 2 }, { via: '10.9.0.252' }] }),
      /^10\.34\.0\.0\/16 proto keepalived \n\tnexthop via 10\.9\.0\.253 dev e0 weight 2 \n\tnexthop via 10\.9\.0\.252 dev e0 weight 1 $/m],
    [route({ family: 6, dst: 'fd00:20::', dstLen: 48, via: 'fd00:9::fe', dev: 'e0', metric: 10 }), /^fd00:20::\/48 via fd00:9::fe dev e0 proto keepalived metric 10 pref medium$/m],
  ];
  const rules: [RuleSpec, RegExp][] = [
    [rule({ priority: 100, table: 100, from: '10.9.0.0', fromLen: 24, protocol: RTPROT_KEEPALIVED }), /^100:\tfrom 10\.9\.0\.0\/24 lookup 100 proto keepalived\s*$/m],
    [rule({ priority: 101, table: 1000, to: '10.40.0.0', toLen: 16, fwmark: 5, fwmask: 255, iif: 'e0', protocol: RTPROT_KEEPALIVED }), /^101:\tfrom all to 10\.40\.0\.0\/16 fwmark 0x5\/0xff iif e0 lookup 1000 proto keepalived\s*$/m],
    [rule({ priority: 102, action: 6, from: '10.50.0.1', fromLen: 32 }), /^102:\tfrom 10\.50\.0\.1 blackhole\s*$/m],
    [rule({ priority: 103, action: 1, table: 100, invert: true, from: '10.60.0.0', fromLen: 16, ipProto: 6, dport: [80, 90] }), /^103:\tnot from 10\.60\.0\.0\/16 ipproto tcp dport 80-90 lookup 100\s*$/m],
    [rule({ family: 6, priority: 104, table: 100, from: 'fd00:9::', fromLen: 64 }), /^104:\tfrom fd00:9::\/64 lookup 100\s*$/m],
  ];
  const ops = (op: 'add' | 'del') => [
    { op, kind: 'address', spec: addr }, { op, kind: 'address', spec: addr6 }, { op, kind: 'address', spec: peerAddr }, { op, kind: 'address', spec: deprecated6 },
    ...routes.map(([r]) => ({ op, kind: 'route', spec: r })), ...rules.map(([r]) => ({ op, kind: 'rule', spec: r })),
  ];
  const show = () => ({
    addr: nsExec(ns, ['ip', 'addr', 'show', 'dev', 'e0']),
    route: nsExec(ns, ['ip', 'route', 'show', 'table', 'all']) + nsExec(ns, ['ip', '-6', 'route', 'show', 'table', 'all']),
    rule: nsExec(ns, ['ip', 'rule']) + nsExec(ns, ['ip', '-6', 'rule']),
  });

  it('adds addresses (label, broadcast, peer, flags; IPv6 without DAD, deprecated by preferred_lft 0), routes and rules that iproute2 shows as keepalived\'s; adding again is not an error', () => {
    assert.deepEqual(apply(ns, ops('add')), ops('add').map(() => 'ok'));
    const s = show();
    assert.match(s.addr, /inet 10\.9\.0\.1\/24 brd 10\.9\.0\.255 scope global e0:vip/);
    assert.match(s.addr, /inet6 fd00:9::1\/64 scope global nodad/);
    assert.match(s.addr, /inet 10\.9\.1\.1 peer 10\.9\.1\.2\/32 scope global noprefixroute e0/);
    assert.match(s.addr, /inet6 fd00:9::5\/64 scope global nodad deprecated/);
    for (const [r, re] of routes) assert.match(s.route, re, `route ${JSON.stringify(r)}`);
    for (const [r, re] of rules) assert.match(s.rule, re, `rule ${JSON.stringify(r)}`);
    assert.deepEqual(apply(ns, ops('add')), ops('add').map(() => 'ok'), 'already there');
  });

  it('deletes them again; deleting what is gone is not an error', () => {
    const del = ops('del').reverse();
    assert.deepEqual(apply(ns, del), del.map(() => 'ok'));
    const s = show();
    assert.doesNotMatch(s.addr, /10\.9\.0\.1|10\.9\.1\.1|fd00:9::1|fd00:9::5/);
    assert.doesNotMatch(s.route, /proto keepalived|proto static/);
    assert.doesNotMatch(s.rule, /^10[0-4]:/m);
    assert.deepEqual(apply(ns, del), del.map(() => 'ok'), 'already gone');
  });

  it('says what the kernel refuses: an unknown device, an unreachable gateway', () => {
    const out = apply(ns, [
      { op: 'add', kind: 'route', spec: route({ dst: '10.20.0.0', dstLen: 16, via: '10.9.0.254', dev: 'nosuch' }) },
      { op: 'add', kind: 'route', spec: route({ dst: '10.20.0.0', dstLen: 16, via: '10.77.0.254', dev: 'e0' }) },
    ]);
    assert.match(out[0]!, /^error .*nosuch.*No such device/);
    assert.match(out[1]!, /^error netlink add route 10\.20\.0\.0\/16: Network is unreachable/);
  });
});
