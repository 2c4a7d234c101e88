import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIp } from '../../src/core/addr.ts';
import { buildFrame, buildPacket, fromHex } from '../../src/codec/build.ts';
import { checksum, csumReplace16, csumReplace32, rd16, sum16, fold16, wr16, wr32 } from '../../src/codec/checksum.ts';
import { DropCounters } from '../../src/codec/counters.ts';
import {
  ARP_OP, buildArpFrame, buildGratuitousArp, formatMac, parseArp, parseEthernet, parseMac, type ArpInfo, type EthInfo,
} from '../../src/codec/ethernet.ts';
import { createFrameMeta, DropReason, FrameKind, parseFrame } from '../../src/codec/frame.ts';
import { createIpipInner, ipipDecapsulate, ipipEncapsulate } from '../../src/codec/ipip.ts';
import { walkIpv6, type Ipv6Walk } from '../../src/codec/ip.ts';

/** Deterministic PRNG (xorshift32) so failures reproduce. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
}

test('RFC 1071 checksum of the RFC example bytes and of a buffer containing its own checksum', () => {
  // RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
  const b = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
  assert.equal(fold16(sum16(b, 0, 8)), 0xddf2);
  assert.equal(checksum(b, 0, 8), ~0xddf2 & 0xffff);
  const odd = new Uint8Array([1, 2, 3]);
  assert.equal(checksum(odd, 0, 3), ~(0x0102 + 0x0300) & 0xffff, 'odd tail padded with zero');
});

test('incremental updates (RFC 1624) equal a full recompute for random 16- and 32-bit changes', () => {
  const r = rng(7);
  for (let n = 0; n < 5000; n++) {
    const len = 8 + (r() % 60) * 2;
    const b = new Uint8Array(len);
    for (let i = 0; i < len; i++) b[i] = r() & 255;
    wr16(b, 0, 0);
    wr16(b, 0, checksum(b, 0, len));
    const at = 2 + 2 * (r() % ((len - 6) / 2));
    if (n % 2) {
      const old = rd16(b, at), nv = r() & 0xffff;
      wr16(b, at, nv);
      const inc = csumReplace16(rd16(b, 0), old, nv);
      wr16(b, 0, 0);
      const full = checksum(b, 0, len);
      // 0x0000 and 0xffff are the same one's-complement value; both verify.
      assert.ok(inc === full || (inc ^ full) === 0xffff && (inc === 0 || full === 0), `16-bit #${n}`);
      wr16(b, 0, inc);
      assert.equal(checksum(b, 0, len) === 0 || checksum(b, 0, len) === 0xffff, true);
    } else {
      const old = ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
      const nv = r() >>> 0;
      wr32(b, at, nv);
      const inc = csumReplace32(rd16(b, 0), old, nv);
      wr16(b, 0, inc);
      assert.equal(checksum(b, 0, len), 0, `32-bit #${n}: buffer verifies`);
    }
  }
});

test('MAC text round trip and rejection of malformed text', () => {
  const m = parseMac('02:AB:cd:00:01:ff')!;
  assert.equal(formatMac(m), '02:ab:cd:00:01:ff');
  assert.equal(formatMac(parseMac('02-ab-cd-00-01-ff')!), '02:ab:cd:00:01:ff');
  for (const bad of ['', '02:ab:cd:00:01', '02:ab:cd:00:01:fg', '002:ab:cd:00:01:ff']) assert.equal(parseMac(bad), null, bad);
});

test('Ethernet parse: untagged, one 802.1Q tag, truncated', () => {
  const e: EthInfo = { etherType: 0, vlanTci: 0, hlen: 0 };
  const f = buildFrame({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02', vlan: 0xa07b }, { ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 1, dport: 2 } });
  assert.ok(parseEthernet(f, 0, f.length, e));
  assert.deepEqual(e, { etherType: 0x0800, vlanTci: 0xa07b, hlen: 18 });
  assert.equal(parseEthernet(f, 0, 16, e), false);
  assert.equal(parseEthernet(f, 0, 13, e), false);
});

test('gratuitous ARP: 42 bytes, broadcast, request, sender = target = VIP; parse round trip', () => {
  const out = new Uint8Array(64);
  const mac = parseMac('02:00:00:00:00:fe')!;
  const vip = parseIp('10.0.0.100')!.words[0]!;
  const n = buildGratuitousArp(out, 0, mac, vip);
  assert.equal(n, 42);
  assert.equal(formatMac(out, 0), 'ff:ff:ff:ff:ff:ff');
  assert.equal(formatMac(out, 6), '02:00:00:00:00:fe');
  assert.equal(rd16(out, 12), 0x0806);
  const a: ArpInfo = { op: 0, shaOff: 0, spa: 0, thaOff: 0, tpa: 0 };
  assert.ok(parseArp(out, 14, 28, a));
  assert.equal(a.op, ARP_OP.REQUEST);
  assert.equal(a.spa, vip);
  assert.equal(a.tpa, vip);
  assert.equal(formatMac(out, a.shaOff), '02:00:00:00:00:fe');
  const m = parseFrame(out, 0, n, createFrameMeta());
  assert.equal(m.kind, FrameKind.ARP);
  assert.equal(m.reason, 0);
});

test('ARP reply builder and parser agree; non-Ethernet/IPv4 ARP is refused', () => {
  const out = new Uint8Array(42);
  const sha = parseMac('02:00:00:00:01:11')!, tha = parseMac('02:00:00:00:01:fe')!;
  buildArpFrame(out, 0, tha, ARP_OP.REPLY, sha, 0x0a01000b, tha, 0x0a010001);
  const a: ArpInfo = { op: 0, shaOff: 0, spa: 0, thaOff: 0, tpa: 0 };
  assert.ok(parseArp(out, 14, 28, a));
  assert.deepEqual([a.op, a.spa, a.tpa, formatMac(out, a.thaOff)], [2, 0x0a01000b, 0x0a010001, '02:00:00:00:01:fe']);
  out[14 + 5] = 16; // protocol address length 16: not IPv4
  assert.equal(parseArp(out, 14, 28, a), false);
  assert.equal(parseArp(out, 14, 27, a), false);
});

test('parseFrame fills addresses, ports, TCP flags, lengths and offsets', () => {
  const f = buildFrame({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, {
    ip: { src: '192.0.2.10', dst: '10.0.0.100', ttl: 33, tos: 0x10, id: 0x1234, df: true },
    tcp: { sport: 40000, dport: 80, flags: 0x12, options: new Uint8Array([2, 4, 5, 0xb4]), payload: new Uint8Array(5) },
  });
  const padded = new Uint8Array(f.length + 10); // Ethernet padding after the IP packet
  padded.set(f, 3);
  const m = parseFrame(padded, 3, f.length + 7, createFrameMeta());
  assert.equal(m.reason, 0);
  assert.deepEqual(
    [m.af, m.protocol, m.src[0], m.dst[0], m.sport, m.dport, m.tcpFlags, m.ttl, m.tos, m.ipId, m.df, m.ipTotalLen, m.l3Off, m.l4Off, m.l4Len, m.l4HdrLen],
    [4, 6, 0xc000020a, 0x0a000064, 40000, 80, 0x12, 33, 0x10, 0x1234, true, 49, 17, 37, 29, 24],
  );
});

test('parseFrame walks IPv6 extension headers to the L4 header and refuses long chains', () => {
  const ext = { type: 60, body: new Uint8Array(7) };
  const f = buildFrame({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, {
    ip: { src: '2001:db8::1', dst: '2001:db8::2', ext: [{ type: 0, body: new Uint8Array(7) }, { type: 43, body: new Uint8Array([0, 0, 0, 0, 0, 0, 0]) }, ext] },
    udp: { sport: 5000, dport: 53, payload: new Uint8Array(3) },
  });
  const m = parseFrame(f, 0, f.length, createFrameMeta());
  assert.equal(m.reason, 0);
  assert.deepEqual([m.af, m.protocol, m.l4Off, m.sport, m.dport, m.src[3], m.dst[3]], [6, 17, 14 + 40 + 24, 5000, 53, 1, 2]);
  const long = buildFrame({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, {
    ip: { src: '2001:db8::1', dst: '2001:db8::2', ext: Array.from({ length: 10 }, () => ({ type: 60, body: new Uint8Array(7) })) },
    udp: { sport: 1, dport: 2 },
  });
  assert.equal(parseFrame(long, 0, long.length, createFrameMeta()).reason, DropReason.TRUNCATED_IP);
  const w: Ipv6Walk = { protocol: 0, l4Off: 0, fragOffset: 0, moreFrags: false, fragId: 0 };
  assert.ok(walkIpv6(f, 0, 54, f.length, w));
  assert.equal(w.protocol, 17);
});

test('parseFrame reads the datagram quoted in ICMP and ICMPv6 errors (addresses, protocol, ports)', () => {
  const inner = buildPacket({ ip: { src: '10.1.0.11', dst: '192.0.2.10' }, tcp: { sport: 8080, dport: 40000, flags: 0x18 } }).subarray(0, 28);
  const f = buildFrame({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, { ip: { src: '198.51.100.1', dst: '10.0.0.100' }, icmp: { type: 3, code: 4, rest: 1400, payload: inner } });
  const m = parseFrame(f, 0, f.length, createFrameMeta());
  assert.deepEqual([m.reason, m.icmpError, m.icmpType, m.icmpCode, m.innerAf, m.innerProtocol, m.innerSrc[0], m.innerDst[0], m.innerSport, m.innerDport],
    [0, true, 3, 4, 4, 6, 0x0a01000b, 0xc000020a, 8080, 40000]);
  const in6 = buildPacket({ ip: { src: '2001:db8::10', dst: '2001:db8:1::11' }, udp: { sport: 33333, dport: 5353 } });
  const f6 = buildFrame({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, { ip: { src: '2001:db8:1::11', dst: '2001:db8::10' }, icmp: { type: 1, code: 4, payload: in6 } });
  const m6 = parseFrame(f6, 0, f6.length, createFrameMeta());
  assert.deepEqual([m6.reason, m6.icmpError, m6.innerAf, m6.innerProtocol, m6.innerSport, m6.innerDport, m6.innerDst[3]], [0, true, 6, 17, 33333, 5353, 0x11]);
  const echo = buildFrame({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, { ip: { src: '192.0.2.10', dst: '10.0.0.100' }, icmp: { type: 8, code: 0, rest: 0x77770001 } });
  const me = parseFrame(echo, 0, echo.length, createFrameMeta());
  assert.deepEqual([me.reason, me.icmpError, me.sport], [0, false, 0x7777]);
});

test('IPIP encapsulate then decapsulate returns the inner packet; bad outer headers are refused', () => {
  const inner = buildPacket({ ip: { src: '192.0.2.10', dst: '10.0.0.100', ttl: 9, tos: 0x28, df: true, id: 5 }, tcp: { sport: 1, dport: 80, flags: 2 } });
  const out = new Uint8Array(200);
  const src = parseIp('10.1.0.1')!.words, dst = parseIp('10.1.0.11')!.words;
  const n = ipipEncapsulate(out, 0, inner, 0, inner.length, 4, 4, src, dst);
  assert.equal(n, inner.length + 20);
  assert.deepEqual([out[0], out[1], out[8], out[9], rd16(out, 6) & 0x4000, rd16(out, 4)], [0x45, 0x28, 9, 4, 0x4000, 5]);
  assert.equal(checksum(out, 0, 20), 0);
  const r = createIpipInner();
  const bad = new Uint8Array(out.subarray(0, n)); bad[9] = 6;
  assert.equal(ipipDecapsulate(out, 0, n, r), 0);
  assert.deepEqual(out.subarray(r.innerOff, r.innerOff + r.innerLen), inner);
  assert.equal(r.outerSrc[0], 0x0a010001);
  const six = buildPacket({ ip: { src: '2001:db8::10', dst: '2001:db8::100' }, udp: { sport: 1, dport: 53 } });
  const n6 = ipipEncapsulate(out, 0, six, 0, six.length, 6, 6, parseIp('2001:db8:1::1')!.words, parseIp('2001:db8:1::11')!.words);
  assert.equal(ipipDecapsulate(out, 0, n6, r), 0);
  assert.deepEqual([r.innerAf, r.innerLen, out[6]], [6, six.length, 41]);
  assert.equal(ipipDecapsulate(bad, 0, bad.length, r), DropReason.BAD_IP_CSUM);
  assert.equal(ipipDecapsulate(out, 0, 10, r), DropReason.TRUNCATED_IP);
  assert.equal(ipipDecapsulate(fromHex('00'), 0, 1, r), DropReason.BAD_VERSION);
});

test('drop counters count by reason and report names', () => {
  const c = new DropCounters(new SharedArrayBuffer(DropCounters.BYTES));
  c.count(DropReason.FRAGMENT); c.count(DropReason.FRAGMENT); c.count(DropReason.TRUNCATED_IP);
  c.count(0); c.count(999);
  assert.deepEqual(c.snapshot(), { 'truncated-ip': 1, fragment: 2 });
  assert.equal(c.total(), 3);
  c.reset();
  assert.equal(c.total(), 0);
});
