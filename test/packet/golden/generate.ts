/**
 * Regenerates the golden tables (nat.ts, dr.ts, tun.ts, tuntypes.ts, icmp.ts, malformed.ts) from scratch:
 *   npx tsx test/packet/golden/generate.ts
 * Inputs AND expected outputs are built by src/codec/build.ts with full checksums, from what
 * the rewrite must produce (addresses, ports, TTL, MACs), never by running the forwarding step.
 * GUE/GRE headers are spelled out here byte by byte; the GRE checksum is the RFC 1071 sum and
 * the GUE source port comes from the flow hash (src/codec/gue.ts flowHash, a pure function of
 * the inner 5-tuple; its spread is tested on its own).
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildEthernet, buildFrame, buildPacket, toHex, type EthSpec, type PacketSpec } from '../../../src/codec/build.ts';
import type { GoldenCase, GoldenDecision } from './types.ts';
import { checksum } from '../../../src/codec/checksum.ts';
import { flowHash, gueSourcePort } from '../../../src/codec/gue.ts';
import { parseIp } from '../../../src/core/addr.ts';

const here = dirname(fileURLToPath(import.meta.url));

// Topology (as the seeds' NAT lab): client — director — real servers.
const MAC = {
  client: '02:00:00:00:00:01', dirExt: '02:00:00:00:00:fe', dirInt: '02:00:00:00:01:fe',
  rs1: '02:00:00:00:01:11', router: '02:00:00:00:00:0a',
};
const CIP = '192.0.2.10', VIP = '10.0.0.100', RIP = '10.1.0.11', DIP = '10.1.0.1';
const CIP6 = '2001:db8::10', VIP6 = '2001:db8::100', RIP6 = '2001:db8:1::11', DIP6 = '2001:db8:1::1';
const te = new TextEncoder();

const fromClient: EthSpec = { src: MAC.client, dst: MAC.dirExt };
const toRs: EthSpec = { src: MAC.dirInt, dst: MAC.rs1 };
const fromRs: EthSpec = { src: MAC.rs1, dst: MAC.dirInt };
const toClient: EthSpec = { src: MAC.dirExt, dst: MAC.client };
const replyToClient: EthSpec = { src: MAC.dirExt, dst: MAC.client };

const natIn: GoldenDecision = { method: 'masq', dir: 'in', rip: RIP, rport: 8080, vip: VIP, vport: 80, srcMac: MAC.dirInt, dstMac: MAC.rs1, tunnelSrc: null, mtu: 1500 };
const natOut: GoldenDecision = { ...natIn, dir: 'out', srcMac: MAC.dirExt, dstMac: MAC.client };
const natIn6: GoldenDecision = { ...natIn, rip: RIP6, vip: VIP6 };
const natOut6: GoldenDecision = { ...natOut, rip: RIP6, vip: VIP6 };
const natInUdp: GoldenDecision = { ...natIn, rport: 5353, vport: 53 };
const natOutUdp: GoldenDecision = { ...natOut, rport: 5353, vport: 53 };
const dr: GoldenDecision = { method: 'route', dir: 'in', rip: RIP, rport: 80, vip: VIP, vport: 80, srcMac: MAC.dirInt, dstMac: MAC.rs1, tunnelSrc: null, mtu: 1500 };
const dr6: GoldenDecision = { ...dr, rip: RIP6, vip: VIP6 };
const tun: GoldenDecision = { method: 'tunnel', dir: 'in', rip: RIP, rport: 80, vip: VIP, vport: 80, srcMac: MAC.dirInt, dstMac: MAC.rs1, tunnelSrc: DIP, mtu: 1500 };
const tun6: GoldenDecision = { ...tun, rip: RIP6, vip: VIP6, tunnelSrc: DIP6 };
const tun6in4: GoldenDecision = { ...tun, vip: VIP6 };
const local: GoldenDecision = { ...natIn, method: 'local' };

// TCP options: SYN (MSS 1460, SACK permitted, timestamps, NOP, window scale 7); data (NOP NOP TS).
const synOpts = new Uint8Array([2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 1, 3, 3, 7]);
const tsOpts = new Uint8Array([1, 1, 8, 10, 0, 0, 0x12, 0x40, 0, 0, 0x56, 0x78]);
const httpGet = te.encode('GET / HTTP/1.1\r\nHost: test\r\n\r\n');
const dnsQuery = new Uint8Array([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, 116, 101, 115, 116, 0, 0, 1, 0, 1]);

function tcp(src: string, dst: string, sport: number, dport: number, flags: number, ttl: number, extra: Partial<PacketSpec['tcp']> = {}, ip: Partial<PacketSpec['ip']> = {}): PacketSpec {
  return { ip: { src, dst, ttl, id: 0x1c46, df: true, ...ip }, tcp: { sport, dport, flags, seq: 0x11223344, ack: flags & 16 ? 0x55667788 : 0, window: 64240, ...extra } };
}

function udp(src: string, dst: string, sport: number, dport: number, ttl: number, payload: Uint8Array, zeroCsum = false, ip: Partial<PacketSpec['ip']> = {}): PacketSpec {
  return { ip: { src, dst, ttl, id: 0x0a0b, ...ip }, udp: { sport, dport, payload, zeroCsum } };
}

const cases: Record<string, GoldenCase[]> = { nat: [], dr: [], tun: [], tuntypes: [], icmp: [], malformed: [] };

function add(table: string, name: string, input: Uint8Array, decision: GoldenDecision, verdict: string, reason: string, expected: Uint8Array | null, headroom?: number): void {
  const c: GoldenCase = { name, input: toHex(input), decision, verdict, reason, expected: expected ? toHex(expected) : '' };
  if (headroom !== undefined) c.headroom = headroom;
  cases[table]!.push(c);
}

/** ICMP error frame the director sends back, built from scratch (quote ≤ 548 / 1232 bytes). */
function icmpReply(eth: EthSpec, src: string, dst: string, v6: boolean, type: number, code: number, rest: number, orig: Uint8Array): Uint8Array {
  const q = orig.subarray(0, Math.min(orig.length, v6 ? 1232 : 548));
  return buildFrame(eth, { ip: v6 ? { src, dst, ttl: 64 } : { src, dst, ttl: 64, tos: 0xc0, id: 0 }, icmp: { type, code, rest, payload: q } });
}

function ipOf(frame: Uint8Array, ethLen = 14): Uint8Array {
  return frame.subarray(ethLen);
}

// ------------------------------------------------------------------------------------ NAT
{
  const SYN = 2, ACK = 16, PSH = 8;
  add('nat', 'NAT in: TCP SYN with options, dst VIP:80 → RIP:8080, TTL 64 → 63',
    buildFrame(fromClient, tcp(CIP, VIP, 40000, 80, SYN, 64, { options: synOpts })), natIn, 'forward', '',
    buildFrame(toRs, tcp(CIP, RIP, 40000, 8080, SYN, 63, { options: synOpts })));
  add('nat', 'NAT in: TCP data with timestamp options and payload',
    buildFrame(fromClient, tcp(CIP, VIP, 40000, 80, ACK | PSH, 60, { options: tsOpts, payload: httpGet })), natIn, 'forward', '',
    buildFrame(toRs, tcp(CIP, RIP, 40000, 8080, ACK | PSH, 59, { options: tsOpts, payload: httpGet })));
  add('nat', 'NAT in: TCP on an 802.1Q-tagged frame keeps the tag',
    buildFrame({ ...fromClient, vlan: 0x2064 }, tcp(CIP, VIP, 40001, 80, SYN, 64)), natIn, 'forward', '',
    buildFrame({ ...toRs, vlan: 0x2064 }, tcp(CIP, RIP, 40001, 8080, SYN, 63)));
  const rr = new Uint8Array([7, 7, 4, 0, 0, 0, 0, 1]); // record route (7 bytes) + EOL
  add('nat', 'NAT in: IPv4 options are kept and the L4 header found after them',
    buildFrame(fromClient, tcp(CIP, VIP, 40002, 80, SYN, 64, {}, { options: rr })), natIn, 'forward', '',
    buildFrame(toRs, tcp(CIP, RIP, 40002, 8080, SYN, 63, {}, { options: rr })));
  add('nat', 'NAT in: UDP with checksum, VIP:53 → RIP:5353',
    buildFrame(fromClient, udp(CIP, VIP, 33333, 53, 64, dnsQuery)), natInUdp, 'forward', '',
    buildFrame(toRs, udp(CIP, RIP, 33333, 5353, 63, dnsQuery)));
  add('nat', 'NAT in: UDP with zero checksum (IPv4: none) stays zero',
    buildFrame(fromClient, udp(CIP, VIP, 33334, 53, 64, dnsQuery, true)), natInUdp, 'forward', '',
    buildFrame(toRs, udp(CIP, RIP, 33334, 5353, 63, dnsQuery, true)));
  // A payload for which the rewritten UDP checksum computes to 0 and must be sent as 0xffff.
  for (let v = 0; v < 65536; v++) {
    const p = new Uint8Array([v >>> 8, v & 255, 1, 2]);
    const out = buildPacket(udp(CIP, RIP, 33335, 5353, 63, p));
    if (out[26] === 0xff && out[27] === 0xff) {
      add('nat', 'NAT in: UDP whose rewritten checksum computes to 0 is sent as 0xffff',
        buildFrame(fromClient, udp(CIP, VIP, 33335, 53, 64, p)), natInUdp, 'forward', '',
        buildEthernet(toRs, 0x0800, out));
      break;
    }
  }
  add('nat', 'NAT in: IPv6 TCP SYN, hop limit 64 → 63',
    buildFrame(fromClient, tcp(CIP6, VIP6, 40000, 80, SYN, 64, { options: synOpts })), natIn6, 'forward', '',
    buildFrame(toRs, tcp(CIP6, RIP6, 40000, 8080, SYN, 63, { options: synOpts })));
  const hbh = { type: 0, body: new Uint8Array([0, 1, 4, 0, 0, 0, 0]) }; // hop-by-hop, PadN
  const dst = { type: 60, body: new Uint8Array([0, 1, 4, 0, 0, 0, 0]) };
  add('nat', 'NAT in: IPv6 UDP behind hop-by-hop and destination-options headers',
    buildFrame(fromClient, udp(CIP6, VIP6, 33333, 53, 64, dnsQuery, false, { ext: [hbh, dst] })), { ...natInUdp, rip: RIP6, vip: VIP6 }, 'forward', '',
    buildFrame(toRs, udp(CIP6, RIP6, 33333, 5353, 63, dnsQuery, false, { ext: [hbh, dst] })));
  add('nat', 'NAT out: TCP SYN-ACK RIP:8080 → VIP:80 toward the client',
    buildFrame(fromRs, tcp(RIP, CIP, 8080, 40000, SYN | ACK, 64, { options: synOpts })), natOut, 'forward', '',
    buildFrame(toClient, tcp(VIP, CIP, 80, 40000, SYN | ACK, 63, { options: synOpts })));
  add('nat', 'NAT out: UDP reply RIP:5353 → VIP:53',
    buildFrame(fromRs, udp(RIP, CIP, 5353, 33333, 64, dnsQuery)), natOutUdp, 'forward', '',
    buildFrame(toClient, udp(VIP, CIP, 53, 33333, 63, dnsQuery)));
  add('nat', 'NAT out: IPv6 TCP SYN-ACK',
    buildFrame(fromRs, tcp(RIP6, CIP6, 8080, 40000, SYN | ACK, 64)), natOut6, 'forward', '',
    buildFrame(toClient, tcp(VIP6, CIP6, 80, 40000, SYN | ACK, 63)));
  const ttl1 = buildFrame(fromClient, tcp(CIP, VIP, 40003, 80, SYN, 1));
  add('nat', 'NAT in: TTL 1 is answered with ICMP time exceeded from the VIP',
    ttl1, natIn, 'reject', 'ttl-expired', icmpReply(replyToClient, VIP, CIP, false, 11, 0, 0, ipOf(ttl1)));
  add('nat', 'NAT in: TTL 1 with ttlExpired=drop is dropped',
    ttl1, { ...natIn, ttlExpired: 'drop' }, 'drop', 'ttl-expired', null);
  const hl1 = buildFrame(fromClient, tcp(CIP6, VIP6, 40003, 80, SYN, 1));
  add('nat', 'NAT in: IPv6 hop limit 1 is answered with ICMPv6 time exceeded',
    hl1, natIn6, 'reject', 'ttl-expired', icmpReply(replyToClient, VIP6, CIP6, true, 3, 0, 0, ipOf(hl1)));
  const sctp = buildFrame(fromClient, { ip: { src: CIP, dst: VIP, ttl: 64, protocol: 132 }, raw: new Uint8Array(16) });
  add('nat', 'NAT in: SCTP is unsupported under masq (CRC32c)', sctp, natIn, 'drop', 'unsupported', null);
  const f = buildFrame(fromClient, tcp(CIP, VIP, 40004, 80, SYN, 64));
  add('nat', 'local: the frame goes to the director unchanged', f, local, 'pass', '', f);
}

// ------------------------------------------------------------------------------------ DR
{
  add('dr', 'DR: TCP SYN, only MACs and TTL change',
    buildFrame(fromClient, tcp(CIP, VIP, 40000, 80, 2, 64, { options: synOpts })), dr, 'forward', '',
    buildFrame(toRs, tcp(CIP, VIP, 40000, 80, 2, 63, { options: synOpts })));
  add('dr', 'DR: UDP with zero checksum untouched but for MACs and TTL',
    buildFrame(fromClient, udp(CIP, VIP, 33333, 53, 17, dnsQuery, true)), dr, 'forward', '',
    buildFrame(toRs, udp(CIP, VIP, 33333, 53, 16, dnsQuery, true)));
  add('dr', 'DR: IPv6 TCP data',
    buildFrame(fromClient, tcp(CIP6, VIP6, 40000, 80, 24, 255, { payload: httpGet })), dr6, 'forward', '',
    buildFrame(toRs, tcp(CIP6, VIP6, 40000, 80, 24, 254, { payload: httpGet })));
  const big = buildFrame(fromClient, tcp(CIP, VIP, 40000, 80, 24, 64, { payload: new Uint8Array(1460).fill(0x61) }));
  add('dr', 'DR: 1500-byte DF packet toward a 1400 MTU link → ICMP fragmentation needed (MTU 1400)',
    big, { ...dr, mtu: 1400 }, 'reject', 'too-big', icmpReply(replyToClient, VIP, CIP, false, 3, 4, 1400, ipOf(big)));
}

// ------------------------------------------------------------------------------------ TUN
{
  const syn = tcp(CIP, VIP, 40000, 80, 2, 64, { options: synOpts });
  const innerOut = buildPacket(tcp(CIP, VIP, 40000, 80, 2, 63, { options: synOpts }));
  const encap = (inner: Uint8Array, src: string, dstA: string, tos: number, ttl: number, df: boolean, id: number) =>
    buildFrame(toRs, { ip: { src, dst: dstA, ttl, tos, df, id, protocol: inner[0]! >>> 4 === 4 ? 4 : 41 }, raw: inner });
  add('tun', 'TUN: IPIP toward RIP from the director, TTL/TOS/DF/ID copied from the inner packet',
    buildFrame(fromClient, syn), tun, 'forward', '', encap(innerOut, DIP, RIP, 0, 63, true, 0x1c46));
  add('tun', 'TUN: encapsulated in place when the buffer has 20 bytes of headroom',
    buildFrame(fromClient, syn), tun, 'forward', '', encap(innerOut, DIP, RIP, 0, 63, true, 0x1c46), 32);
  const tos = tcp(CIP, VIP, 40001, 80, 24, 20, { payload: httpGet }, { tos: 0xb8, df: false, id: 0x7777 });
  add('tun', 'TUN: DSCP/ECN and a clear DF bit carry over to the outer header',
    buildFrame(fromClient, tos), tun, 'forward', '', encap(buildPacket({ ...tos, ip: { ...tos.ip, ttl: 19 } }), DIP, RIP, 0xb8, 19, false, 0x7777));
  const full = buildFrame(fromClient, tcp(CIP, VIP, 40000, 80, 24, 64, { payload: new Uint8Array(1460).fill(0x62) }));
  add('tun', 'TUN: 1500-byte DF packet + 20 > MTU 1500 → ICMP fragmentation needed, next-hop MTU 1480',
    full, tun, 'reject', 'too-big', icmpReply(replyToClient, VIP, CIP, false, 3, 4, 1480, ipOf(full)));
  const fullNoDf = buildFrame(fromClient, tcp(CIP, VIP, 40000, 80, 24, 64, { payload: new Uint8Array(1460).fill(0x63) }, { df: false }));
  add('tun', 'TUN: too big without DF is dropped (no fragmentation here)', fullNoDf, tun, 'drop', 'too-big', null);
  const fits = buildFrame(fromClient, tcp(CIP, VIP, 40000, 80, 24, 64, { payload: new Uint8Array(1440).fill(0x64) }));
  add('tun', 'TUN: 1480-byte DF packet fits exactly in MTU 1500 after encapsulation',
    fits, tun, 'forward', '', encap(buildPacket(tcp(CIP, VIP, 40000, 80, 24, 63, { payload: new Uint8Array(1440).fill(0x64) })), DIP, RIP, 0, 63, true, 0x1c46));
  const syn6 = tcp(CIP6, VIP6, 40000, 80, 2, 64);
  add('tun', 'TUN: IPv6 in IPv6 (next header 41), hop limit copied',
    buildFrame(fromClient, syn6), tun6, 'forward', '',
    buildFrame(toRs, { ip: { src: DIP6, dst: RIP6, ttl: 63, protocol: 41 }, raw: buildPacket(tcp(CIP6, VIP6, 40000, 80, 2, 63)) }));
  add('tun', 'TUN: IPv6 inside IPv4 (protocol 41), DF set',
    buildFrame(fromClient, syn6), tun6in4, 'forward', '', encap(buildPacket(tcp(CIP6, VIP6, 40000, 80, 2, 63)), DIP, RIP, 0, 63, true, 0));
  const big6 = buildFrame(fromClient, tcp(CIP6, VIP6, 40000, 80, 24, 64, { payload: new Uint8Array(1440).fill(0x65) }));
  add('tun', 'TUN: 1500-byte IPv6 packet + 40 > MTU 1500 → ICMPv6 packet too big, MTU 1460',
    big6, tun6, 'reject', 'too-big', icmpReply(replyToClient, VIP6, CIP6, true, 2, 0, 1460, ipOf(big6)));
}

// ------------------------------------------------------------------------------------ TUN types (GUE, GRE)
{
  const PORT = 6080;
  const gue = (csum: 'nocsum' | 'csum' | 'remcsum'): GoldenDecision => ({ ...tun, tunType: 'gue', tunPort: PORT, tunCsum: csum });
  const gre = (csum: 'nocsum' | 'csum'): GoldenDecision => ({ ...tun, tunType: 'gre', tunCsum: csum });
  const cat = (...parts: Uint8Array[]) => { const o = new Uint8Array(parts.reduce((a, p) => a + p.length, 0)); let k = 0; for (const p of parts) { o.set(p, k); k += p.length; } return o; };
  const words = (s: string) => parseIp(s)!.words;
  const sportOf = (src: string, dst: string, proto: number, sp: number, dp: number) =>
    gueSourcePort(flowHash(parseIp(src)!.af, words(src), words(dst), proto, sp, dp));
  /** GUE version 0, no options, proto 4/41. */
  const gueHdr = (inner: Uint8Array) => new Uint8Array([0, inner[0]! >>> 4 === 4 ? 4 : 41, 0, 0]);
  /** GRE: [C] 0, protocol type, [checksum over header + payload, reserved]. */
  const greWrap = (inner: Uint8Array, csum: boolean) => {
    const h = new Uint8Array(csum ? 8 : 4);
    h[0] = csum ? 0x80 : 0; h[2] = inner[0]! >>> 4 === 4 ? 0x08 : 0x86; h[3] = inner[0]! >>> 4 === 4 ? 0x00 : 0xdd;
    const g = cat(h, inner);
    if (csum) { const c = checksum(g, 0, g.length); g[4] = c >>> 8; g[5] = c & 255; }
    return g;
  };
  const outerIp = (src: string, dstA: string, ttl: number, tos: number, df: boolean, id: number) =>
    (parseIp(src)!.af === 4 ? { src, dst: dstA, ttl, tos, df, id } : { src, dst: dstA, ttl, tos });
  const gueFrame = (inner: Uint8Array, sport: number, csum: boolean, src = DIP, dstA = RIP, tos = 0, ttl = 63, df = true, id = 0x1c46) =>
    buildFrame(toRs, { ip: outerIp(src, dstA, ttl, tos, df, id), udp: { sport, dport: PORT, payload: cat(gueHdr(inner), inner), zeroCsum: !csum } });
  const greFrame = (inner: Uint8Array, csum: boolean, src = DIP, dstA = RIP, tos = 0, ttl = 63, df = true, id = 0x1c46) =>
    buildFrame(toRs, { ip: { ...outerIp(src, dstA, ttl, tos, df, id), protocol: 47 }, raw: greWrap(inner, csum) });

  const syn = tcp(CIP, VIP, 40000, 80, 2, 64, { options: synOpts });
  const innerSyn = buildPacket(tcp(CIP, VIP, 40000, 80, 2, 63, { options: synOpts }));
  const sp = sportOf(CIP, VIP, 6, 40000, 80);
  add('tuntypes', 'GUE (--tun-nocsum): outer UDP to the tun port, source port from the flow hash, GUE proto 4, UDP checksum 0',
    buildFrame(fromClient, syn), gue('nocsum'), 'forward', '', gueFrame(innerSyn, sp, false));
  add('tuntypes', 'GUE (--tun-csum): the same with the outer UDP checksum computed',
    buildFrame(fromClient, syn), gue('csum'), 'forward', '', gueFrame(innerSyn, sp, true));
  add('tuntypes', 'GUE (--tun-remcsum): checksum on, no REMCSUM option for a packet with a complete inner checksum (as the kernel)',
    buildFrame(fromClient, syn), gue('remcsum'), 'forward', '', gueFrame(innerSyn, sp, true));
  add('tuntypes', 'GUE: encapsulated in place when the buffer has 32 bytes of headroom',
    buildFrame(fromClient, syn), gue('csum'), 'forward', '', gueFrame(innerSyn, sp, true), 32);
  const data = tcp(CIP, VIP, 40001, 80, 24, 20, { payload: httpGet }, { tos: 0xb8, df: false, id: 0x7777 });
  add('tuntypes', 'GUE: another flow gets its own source port; DSCP/ECN, clear DF and ID carry over to the outer header',
    buildFrame(fromClient, data), gue('csum'), 'forward', '',
    gueFrame(buildPacket({ ...data, ip: { ...data.ip, ttl: 19 } }), sportOf(CIP, VIP, 6, 40001, 80), true, DIP, RIP, 0xb8, 19, false, 0x7777));
  const dns = udp(CIP, VIP, 33333, 53, 64, dnsQuery);
  add('tuntypes', 'GUE: UDP inner packet (a DNS query)',
    buildFrame(fromClient, dns), gue('csum'), 'forward', '', gueFrame(buildPacket(udp(CIP, VIP, 33333, 53, 63, dnsQuery)), sportOf(CIP, VIP, 17, 33333, 53), true, DIP, RIP, 0, 63, false, 0x0a0b));
  const syn6 = tcp(CIP6, VIP6, 40000, 80, 2, 64);
  const inner6 = buildPacket(tcp(CIP6, VIP6, 40000, 80, 2, 63));
  add('tuntypes', 'GUE: IPv6 in IPv6 (GUE proto 41), UDP checksum over the IPv6 pseudo-header',
    buildFrame(fromClient, syn6), { ...gue('csum'), rip: RIP6, vip: VIP6, tunnelSrc: DIP6 }, 'forward', '',
    gueFrame(inner6, sportOf(CIP6, VIP6, 6, 40000, 80), true, DIP6, RIP6));
  add('tuntypes', 'GUE: IPv6 inside IPv4 (GUE proto 41), DF set',
    buildFrame(fromClient, syn6), { ...gue('csum'), vip: VIP6 }, 'forward', '', gueFrame(inner6, sportOf(CIP6, VIP6, 6, 40000, 80), true, DIP, RIP, 0, 63, true, 0));
  const fits = (n: number, fill: number) => buildFrame(fromClient, tcp(CIP, VIP, 40000, 80, 24, 64, { payload: new Uint8Array(n).fill(fill) }));
  const fitsInner = (n: number, fill: number) => buildPacket(tcp(CIP, VIP, 40000, 80, 24, 63, { payload: new Uint8Array(n).fill(fill) }));
  add('tuntypes', 'GUE: 1468-byte DF packet fits exactly in MTU 1500 (overhead 20 + 8 + 4)',
    fits(1428, 0x66), gue('csum'), 'forward', '', gueFrame(fitsInner(1428, 0x66), sp, true));
  const big = fits(1429, 0x67);
  add('tuntypes', 'GUE: 1469-byte DF packet → ICMP fragmentation needed, next-hop MTU 1468',
    big, gue('csum'), 'reject', 'too-big', icmpReply(replyToClient, VIP, CIP, false, 3, 4, 1468, ipOf(big)));
  const big6 = buildFrame(fromClient, tcp(CIP6, VIP6, 40000, 80, 24, 64, { payload: new Uint8Array(1440).fill(0x68) }));
  add('tuntypes', 'GUE: 1500-byte IPv6 packet in IPv6 → ICMPv6 packet too big, MTU 1448 (overhead 40 + 12)',
    big6, { ...gue('csum'), rip: RIP6, vip: VIP6, tunnelSrc: DIP6 }, 'reject', 'too-big', icmpReply(replyToClient, VIP6, CIP6, true, 2, 0, 1448, ipOf(big6)));
  add('tuntypes', 'GUE without a tunnel port is a bad decision (dropped, counted)',
    buildFrame(fromClient, syn), { ...tun, tunType: 'gue', tunCsum: 'csum' }, 'drop', 'bad-decision', null);

  add('tuntypes', 'GRE (--tun-nocsum): protocol 47, 4-byte header with protocol type 0x0800',
    buildFrame(fromClient, syn), gre('nocsum'), 'forward', '', greFrame(innerSyn, false));
  add('tuntypes', 'GRE (--tun-csum): C flag and the checksum over header and payload',
    buildFrame(fromClient, syn), gre('csum'), 'forward', '', greFrame(innerSyn, true));
  add('tuntypes', 'GRE: encapsulated in place when the buffer has 28 bytes of headroom',
    buildFrame(fromClient, syn), gre('csum'), 'forward', '', greFrame(innerSyn, true), 28);
  add('tuntypes', 'GRE: DSCP/ECN, clear DF and ID carry over to the outer header',
    buildFrame(fromClient, data), gre('nocsum'), 'forward', '',
    greFrame(buildPacket({ ...data, ip: { ...data.ip, ttl: 19 } }), false, DIP, RIP, 0xb8, 19, false, 0x7777));
  add('tuntypes', 'GRE: IPv6 in IPv6, protocol type 0x86DD, with checksum',
    buildFrame(fromClient, syn6), { ...gre('csum'), rip: RIP6, vip: VIP6, tunnelSrc: DIP6 }, 'forward', '', greFrame(inner6, true, DIP6, RIP6));
  add('tuntypes', 'GRE (--tun-csum): 1472-byte DF packet fits exactly in MTU 1500 (overhead 20 + 8)',
    fits(1432, 0x69), gre('csum'), 'forward', '', greFrame(fitsInner(1432, 0x69), true));
  const big2 = fits(1433, 0x6a);
  add('tuntypes', 'GRE (--tun-csum): 1473-byte DF packet → ICMP fragmentation needed, next-hop MTU 1472',
    big2, gre('csum'), 'reject', 'too-big', icmpReply(replyToClient, VIP, CIP, false, 3, 4, 1472, ipOf(big2)));
  add('tuntypes', 'GRE (--tun-nocsum): 1477-byte DF packet → ICMP fragmentation needed, next-hop MTU 1476',
    fits(1437, 0x6b), gre('nocsum'), 'reject', 'too-big', icmpReply(replyToClient, VIP, CIP, false, 3, 4, 1476, ipOf(fits(1437, 0x6b))));
  add('tuntypes', 'GRE (--tun-nocsum): 1476-byte DF packet fits (overhead 20 + 4)',
    fits(1436, 0x6c), gre('nocsum'), 'forward', '', greFrame(fitsInner(1436, 0x6c), false));
  add('tuntypes', 'IPIP stays the default when tunType is ipip (1481-byte DF packet → MTU 1480)',
    fits(1441, 0x6d), { ...tun, tunType: 'ipip' }, 'reject', 'too-big', icmpReply(replyToClient, VIP, CIP, false, 3, 4, 1480, ipOf(fits(1441, 0x6d))));
}

// ------------------------------------------------------------------------------------ ICMP
{
  // The real server answers the client's UDP (as DNATed: CIP → RIP:5353) with port unreachable.
  const quoted = buildPacket(udp(CIP, RIP, 33333, 5353, 63, dnsQuery));
  const quotedNat = buildPacket({ ...udp(CIP, VIP, 33333, 53, 63, dnsQuery) });
  // IPVS rewrites the inner header's address and port but leaves the quoted UDP checksum alone.
  quotedNat.set(quoted.subarray(26, 28), 26);
  add('icmp', 'NAT out: ICMP port unreachable from the real server → outer src VIP, inner dst VIP:53',
    buildFrame(fromRs, { ip: { src: RIP, dst: CIP, ttl: 64, tos: 0xc0 }, icmp: { type: 3, code: 3, payload: quoted } }), natOutUdp, 'forward', '',
    buildFrame(toClient, { ip: { src: VIP, dst: CIP, ttl: 63, tos: 0xc0 }, icmp: { type: 3, code: 3, payload: quotedNat } }));
  // A router on the client's path says the director's reply (VIP:80 → CIP) needs fragmenting.
  const reply = buildPacket(tcp(VIP, CIP, 80, 40000, 24, 63, { payload: httpGet })).subarray(0, 28);
  const replyRs = buildPacket(tcp(RIP, CIP, 8080, 40000, 24, 63, { payload: httpGet })).subarray(0, 28);
  const replyRsQuoted = replyRs; // quoted 8 bytes of TCP: ports only, the checksum is cut off
  add('icmp', 'NAT in: ICMP fragmentation needed about the director\'s reply → outer dst RIP, inner src RIP:8080',
    buildFrame(fromClient, { ip: { src: '198.51.100.1', dst: VIP, ttl: 250 }, icmp: { type: 3, code: 4, rest: 1400, payload: reply } }), natIn, 'forward', '',
    buildFrame(toRs, { ip: { src: '198.51.100.1', dst: RIP, ttl: 249 }, icmp: { type: 3, code: 4, rest: 1400, payload: replyRsQuoted } }));
  const q6 = buildPacket(udp(CIP6, RIP6, 33333, 5353, 63, dnsQuery));
  const q6nat = buildPacket(udp(CIP6, VIP6, 33333, 53, 63, dnsQuery));
  q6nat.set(q6.subarray(46, 48), 46);
  add('icmp', 'NAT out: ICMPv6 port unreachable from the real server',
    buildFrame(fromRs, { ip: { src: RIP6, dst: CIP6, ttl: 64 }, icmp: { type: 1, code: 4, payload: q6 } }), { ...natOutUdp, rip: RIP6, vip: VIP6 }, 'forward', '',
    buildFrame(toClient, { ip: { src: VIP6, dst: CIP6, ttl: 63 }, icmp: { type: 1, code: 4, payload: q6nat } }));
  const other = buildPacket(udp(CIP, '10.1.0.99', 33333, 5353, 63, dnsQuery));
  add('icmp', 'NAT out: ICMP error quoting another server\'s packet is not related → dropped',
    buildFrame(fromRs, { ip: { src: RIP, dst: CIP, ttl: 64 }, icmp: { type: 3, code: 3, payload: other } }), natOutUdp, 'drop', 'not-related', null);
  const err = buildFrame(fromRs, { ip: { src: RIP, dst: CIP, ttl: 1 }, icmp: { type: 3, code: 3, payload: quoted } });
  add('icmp', 'NAT out: an ICMP error with TTL 1 is dropped, never answered with another ICMP error', err, natOutUdp, 'drop', 'ttl-expired', null);
  add('icmp', 'DR: ICMP error forwarded like any packet (MACs, TTL)',
    buildFrame(fromClient, { ip: { src: '198.51.100.1', dst: VIP, ttl: 250 }, icmp: { type: 3, code: 4, rest: 1400, payload: reply } }), dr, 'forward', '',
    buildFrame(toRs, { ip: { src: '198.51.100.1', dst: VIP, ttl: 249 }, icmp: { type: 3, code: 4, rest: 1400, payload: reply } }));
  const unreach = buildFrame(fromClient, udp(CIP, VIP, 33333, 53, 64, dnsQuery));
  // Not a forwarding-step output: the builder the engine uses for "no destination available".
  add('icmp', 'builder: port unreachable for "no destination available" (checked by the builder test)',
    unreach, natInUdp, 'builder', '', icmpReply(replyToClient, VIP, CIP, false, 3, 3, 0, ipOf(unreach)));
}

// ------------------------------------------------------------------------------------ malformed
{
  const good = buildFrame(fromClient, tcp(CIP, VIP, 40000, 80, 2, 64, { options: synOpts }));
  const m = (name: string, frame: Uint8Array, reason: string) => add('malformed', name, frame, natIn, 'drop', reason, null);
  m('truncated Ethernet header (10 bytes)', good.subarray(0, 10), 'truncated-eth');
  m('truncated 802.1Q tag', buildEthernet({ ...fromClient, vlan: 5 }, 0x0800, new Uint8Array(0)).subarray(0, 16), 'truncated-eth');
  m('truncated IPv4 header (10 bytes)', good.subarray(0, 24), 'truncated-ip');
  m('empty IP payload after Ethernet', good.subarray(0, 14), 'truncated-ip');
  const vbad = new Uint8Array(good); vbad[14] = 0x65;
  m('IPv4 EtherType carrying version 6', vbad, 'bad-version');
  const ihl = new Uint8Array(good); ihl[14] = 0x44;
  m('bad IHL (4 words)', ihl, 'bad-ihl');
  const ihl2 = buildFrame(fromClient, { ip: { src: CIP, dst: VIP, ttl: 64, options: new Uint8Array(40) }, raw: new Uint8Array(0), });
  ihl2[14] = 0x4f; // 60-byte header claimed in a 60-byte packet: fine; shrink total length below it:
  ihl2[16] = 0; ihl2[17] = 40;
  m('IHL larger than the total length', ihl2, 'bad-ihl');
  const tl = buildFrame(fromClient, tcp(CIP, VIP, 40000, 80, 2, 64));
  tl[16] = 0x05; tl[17] = 0xdc; // total length 1500 in a 54-byte frame
  m('total length beyond the buffer', tl, 'bad-total-len');
  const tl2 = buildFrame(fromClient, tcp(CIP, VIP, 40000, 80, 2, 64));
  tl2[16] = 0; tl2[17] = 12;
  m('total length smaller than the header', tl2, 'bad-ihl');
  const cs = new Uint8Array(good); cs[24] ^= 0xff;
  m('bad IPv4 header checksum', cs, 'bad-ip-csum');
  m('truncated TCP header (IP says 30 bytes)', buildFrame(fromClient, { ip: { src: CIP, dst: VIP, ttl: 64, protocol: 6 }, raw: new Uint8Array(10) }), 'truncated-l4');
  const doff = buildFrame(fromClient, tcp(CIP, VIP, 40000, 80, 2, 64));
  doff[14 + 20 + 12] = 0xf0; // data offset 60 in a 20-byte segment
  m('TCP data offset beyond the segment', doff, 'truncated-l4');
  m('UDP header truncated', buildFrame(fromClient, { ip: { src: CIP, dst: VIP, ttl: 64, protocol: 17 }, raw: new Uint8Array(6) }), 'truncated-l4');
  const ul = buildFrame(fromClient, udp(CIP, VIP, 1, 53, 64, dnsQuery));
  ul[14 + 20 + 4] = 0x01; // UDP length 256+ > datagram
  m('UDP length beyond the datagram', ul, 'bad-l4-len');
  m('IPv4 first fragment (MF set)', buildFrame(fromClient, tcp(CIP, VIP, 40000, 80, 2, 64, {}, { mf: true, df: false })), 'fragment');
  m('IPv4 later fragment (offset 185)', buildFrame(fromClient, { ip: { src: CIP, dst: VIP, ttl: 64, protocol: 6, fragOffset: 185 }, raw: new Uint8Array(40) }), 'fragment');
  const frag6 = { type: 44, body: new Uint8Array([0, 0, 1, 0, 0, 0, 42]) }; // offset 0, M=1
  m('IPv6 fragment header (M set)', buildFrame(fromClient, udp(CIP6, VIP6, 1, 53, 64, dnsQuery, false, { ext: [frag6] })), 'fragment');
  m('UDP over IPv6 with zero checksum', buildFrame(fromClient, udp(CIP6, VIP6, 1, 53, 64, dnsQuery, true)), 'udp6-zero-csum');
  const p6 = buildFrame(fromClient, tcp(CIP6, VIP6, 40000, 80, 2, 64));
  p6[18] = 0x10; // payload length 4096+
  m('IPv6 payload length beyond the buffer', p6, 'bad-total-len');
  m('truncated IPv6 header', buildFrame(fromClient, tcp(CIP6, VIP6, 40000, 80, 2, 64)).subarray(0, 14 + 30), 'truncated-ip');
  m('ICMP error quoting a truncated inner header', buildFrame(fromClient, { ip: { src: CIP, dst: VIP, ttl: 64 }, icmp: { type: 3, code: 3, payload: new Uint8Array([0x45, 0, 0, 40]) } }), 'bad-icmp-inner');
  m('ARP is not forwarded', buildEthernet({ src: MAC.client, dst: 'ff:ff:ff:ff:ff:ff' }, 0x0806, new Uint8Array(28)), 'unsupported');
  m('unknown EtherType (0x88cc LLDP)', buildEthernet(fromClient, 0x88cc, new Uint8Array(46)), 'unsupported');
}

const header = '// Generated by test/packet/golden/generate.ts — do not edit by hand.\nimport type { GoldenCase } from \'./types.ts\';\n\n';
for (const [name, list] of Object.entries(cases)) {
  writeFileSync(join(here, `${name}.ts`), `${header}export const ${name}Cases: GoldenCase[] = ${JSON.stringify(list, null, 1)};\n`);
  console.log(`${name}: ${list.length} cases`);
}
