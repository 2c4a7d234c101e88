/**
 * From-scratch packet builders (allocating; for tests, golden tables, the lab and tools, not
 * the per-packet path). Every checksum is computed in full over the final bytes (RFC 1071),
 * independently of the incremental rewrite code in ./forward.ts.
 */
import { parseIp } from '../core/addr.ts';
import { checksum, sum16 } from './checksum.ts';
import { parseMac } from './ethernet.ts';

export interface EthSpec {
  src: string;
  dst: string;
  /** 802.1Q TCI; absent = untagged. */
  vlan?: number;
}

export interface Ipv6Ext {
  /** Extension header type (0 hop-by-hop, 43 routing, 44 fragment, 60 dest opts). */
  type: number;
  /** The header's bytes after the next-header byte (hdr-ext-len included), 7 + 8n bytes. */
  body: Uint8Array;
}

export interface IpSpec {
  src: string;
  dst: string;
  ttl?: number;
  tos?: number;
  id?: number;
  df?: boolean;
  mf?: boolean;
  fragOffset?: number;
  /** IPv4 options (padded to 4 bytes by the caller). */
  options?: Uint8Array;
  flowLabel?: number;
  ext?: Ipv6Ext[];
  /** Override the protocol number (default from the L4 part). */
  protocol?: number;
}

export interface TcpSpec {
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  flags: number;
  window?: number;
  options?: Uint8Array;
  payload?: Uint8Array;
}

export interface UdpSpec {
  sport: number;
  dport: number;
  payload?: Uint8Array;
  /** Send with checksum 0 (IPv4: "no checksum"). */
  zeroCsum?: boolean;
}

export interface IcmpSpec {
  type: number;
  code: number;
  /** Second header word (MTU, id/seq). */
  rest?: number;
  /** Body: the quoted datagram for errors. */
  payload?: Uint8Array;
}

export interface PacketSpec {
  ip: IpSpec;
  tcp?: TcpSpec;
  udp?: UdpSpec;
  icmp?: IcmpSpec;
  /** Raw L4 bytes (protocol from ip.protocol), e.g. an inner packet for IPIP. */
  raw?: Uint8Array;
}

function addrBytes(s: string): { af: 4 | 6; bytes: Uint8Array } {
  const ip = parseIp(s);
  if (!ip) throw new Error(`bad address ${s}`);
  const bytes = new Uint8Array(ip.af === 4 ? 4 : 16);
  ip.words.forEach((w, i) => {
    bytes[4 * i] = w >>> 24;
    bytes[4 * i + 1] = (w >>> 16) & 255;
    bytes[4 * i + 2] = (w >>> 8) & 255;
    bytes[4 * i + 3] = w & 255;
  });
  return { af: ip.af, bytes };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function u16(v: number): Uint8Array {
  return new Uint8Array([(v >>> 8) & 255, v & 255]);
}

function u32(v: number): Uint8Array {
  return new Uint8Array([(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);
}

/** Builds an IP packet (IPv4 or IPv6 by the address family) with full checksums. */
export function buildPacket(spec: PacketSpec): Uint8Array {
  const s = addrBytes(spec.ip.src);
  const d = addrBytes(spec.ip.dst);
  if (s.af !== d.af) throw new Error('address families differ');
  const af = s.af;
  let proto: number;
  let l4: Uint8Array;
  if (spec.tcp) {
    const t = spec.tcp;
    proto = 6;
    const opts = t.options ?? new Uint8Array(0);
    if (opts.length % 4) throw new Error('TCP options must be padded to 4 bytes');
    const hl = 20 + opts.length;
    l4 = concat([u16(t.sport), u16(t.dport), u32(t.seq ?? 0), u32(t.ack ?? 0), new Uint8Array([(hl / 4) << 4, t.flags & 255]),
      u16(t.window ?? 65535), u16(0), u16(0), opts, t.payload ?? new Uint8Array(0)]);
  } else if (spec.udp) {
    const u = spec.udp;
    proto = 17;
    const p = u.payload ?? new Uint8Array(0);
    l4 = concat([u16(u.sport), u16(u.dport), u16(8 + p.length), u16(0), p]);
  } else if (spec.icmp) {
    const c = spec.icmp;
    proto = af === 4 ? 1 : 58;
    l4 = concat([new Uint8Array([c.type, c.code]), u16(0), u32(c.rest ?? 0), c.payload ?? new Uint8Array(0)]);
  } else {
    proto = spec.ip.protocol ?? 59;
    l4 = spec.raw ?? new Uint8Array(0);
  }
  if (spec.ip.protocol !== undefined) proto = spec.ip.protocol;
  // L4 checksum over the pseudo-header (ICMPv4: no pseudo-header).
  const pseudo = af === 4
    ? concat([s.bytes, d.bytes, new Uint8Array([0, proto]), u16(l4.length)])
    : concat([s.bytes, d.bytes, u32(l4.length), new Uint8Array([0, 0, 0, proto])]);
  const csumAt = spec.tcp ? 16 : spec.udp ? 6 : spec.icmp ? 2 : -1;
  if (csumAt >= 0 && !(spec.udp?.zeroCsum)) {
    const init = spec.icmp && af === 4 ? 0 : sum16(pseudo, 0, pseudo.length);
    let c = checksum(l4, 0, l4.length, init);
    if (spec.udp && c === 0) c = 0xffff;
    l4.set(u16(c), csumAt);
  }
  const ip = spec.ip;
  if (af === 4) {
    const opts = ip.options ?? new Uint8Array(0);
    if (opts.length % 4) throw new Error('IPv4 options must be padded to 4 bytes');
    const hl = 20 + opts.length;
    const frag = (ip.df ? 0x4000 : 0) | (ip.mf ? 0x2000 : 0) | ((ip.fragOffset ?? 0) & 0x1fff);
    const hdr = concat([new Uint8Array([0x40 | (hl / 4), ip.tos ?? 0]), u16(hl + l4.length), u16(ip.id ?? 0), u16(frag),
      new Uint8Array([ip.ttl ?? 64, proto]), u16(0), s.bytes, d.bytes, opts]);
    hdr.set(u16(checksum(hdr, 0, hdr.length)), 10);
    return concat([hdr, l4]);
  }
  const exts = ip.ext ?? [];
  const extBytes: Uint8Array[] = [];
  for (let i = 0; i < exts.length; i++) {
    const next = i + 1 < exts.length ? exts[i + 1]!.type : proto;
    extBytes.push(concat([new Uint8Array([next]), exts[i]!.body]));
  }
  const ext = concat(extBytes);
  const first = exts.length ? exts[0]!.type : proto;
  const tc = ip.tos ?? 0;
  const w0 = ((6 << 28) | (tc << 20) | ((ip.flowLabel ?? 0) & 0xfffff)) >>> 0;
  const hdr = concat([u32(w0), u16(ext.length + l4.length), new Uint8Array([first, ip.ttl ?? 64]), s.bytes, d.bytes]);
  return concat([hdr, ext, l4]);
}

/** Wraps an IP packet (or any payload) in an Ethernet header. */
export function buildEthernet(eth: EthSpec, etherType: number, payload: Uint8Array): Uint8Array {
  const dst = parseMac(eth.dst), src = parseMac(eth.src);
  if (!dst || !src) throw new Error('bad MAC');
  const tag = eth.vlan !== undefined ? concat([u16(0x8100), u16(eth.vlan)]) : new Uint8Array(0);
  return concat([dst, src, tag, u16(etherType), payload]);
}

/** Ethernet frame around a built IP packet (EtherType from the packet's version). */
export function buildFrame(eth: EthSpec, spec: PacketSpec): Uint8Array {
  const p = buildPacket(spec);
  return buildEthernet(eth, p[0]! >>> 4 === 4 ? 0x0800 : 0x86dd, p);
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function fromHex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}
