/**
 * PROXY protocol headers (HAProxy's proxy-protocol.txt, versions 1 and 2) that the proxy
 * forwarder can send to a real server before the client's bytes, so the real server learns the
 * client's address. Pure.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { parseIp } from '../../core/addr.ts';

import type { ProxyProtocolVersion } from '../../dataplane/options.ts';

export type { ProxyProtocolVersion };

export interface ProxyEndpoints {
  readonly protocol: 'tcp' | 'udp';
  readonly srcAddr: string;
  readonly srcPort: number;
  readonly dstAddr: string;
  readonly dstPort: number;
}

const V2_SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** '::ffff:1.2.3.4' -> '1.2.3.4'; other addresses unchanged. */
export function unmapV4(a: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  return m ? m[1]! : a;
}

/** Brings both ends to one family: both IPv4 when possible, else both IPv6 (v4 mapped). */
function sameFamily(e: ProxyEndpoints): { af: 4 | 6; src: string; dst: string } {
  const s = unmapV4(e.srcAddr), d = unmapV4(e.dstAddr);
  if (isIPv4(s) && isIPv4(d)) return { af: 4, src: s, dst: d };
  return { af: 6, src: isIPv6(s) ? s : `::ffff:${s}`, dst: isIPv6(d) ? d : `::ffff:${d}` };
}

export function proxyV1(e: ProxyEndpoints): Buffer {
  if (e.protocol !== 'tcp') return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  const f = sameFamily(e);
  return Buffer.from(`PROXY TCP${f.af} ${f.src} ${f.dst} ${e.srcPort} ${e.dstPort}\r\n`, 'latin1');
}

function addrBytes(a: string): Buffer {
  const ip = parseIp(a);
  if (!ip) throw new Error(`bad address ${a}`);
  const b = Buffer.alloc(ip.af === 4 ? 4 : 16);
  ip.words.forEach((w, i) => b.writeUInt32BE(w >>> 0, i * 4));
  return b;
}

export function proxyV2(e: ProxyEndpoints): Buffer {
  const f = sameFamily(e);
  const fam = (f.af === 4 ? 0x10 : 0x20) | (e.protocol === 'tcp' ? 0x01 : 0x02);
  const addrs = Buffer.concat([addrBytes(f.src), addrBytes(f.dst)]);
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(e.srcPort, 0);
  ports.writeUInt16BE(e.dstPort, 2);
  const hdr = Buffer.alloc(4);
  hdr[0] = 0x21; // version 2, command PROXY
  hdr[1] = fam;
  hdr.writeUInt16BE(addrs.length + 4, 2);
  return Buffer.concat([V2_SIG, hdr, addrs, ports]);
}

export function proxyHeader(v: ProxyProtocolVersion, e: ProxyEndpoints): Buffer {
  return v === 'v1' ? proxyV1(e) : proxyV2(e);
}

/** Parses a header at the start of buf (for tests and for real servers written in tsvs). */
export function parseProxyHeader(buf: Buffer): { version: 1 | 2; endpoints: ProxyEndpoints | null; length: number } | null {
  if (buf.subarray(0, 12).equals(V2_SIG)) {
    if (buf.length < 16) return null;
    const len = buf.readUInt16BE(14);
    if (buf.length < 16 + len) return null;
    const fam = buf[13]!;
    const af = fam >> 4, proto = fam & 0xf;
    const body = buf.subarray(16, 16 + len);
    const protocol = proto === 2 ? 'udp' : 'tcp';
    const fmt = (b: Buffer): string => {
      if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
      const g: string[] = [];
      for (let i = 0; i < 16; i += 2) g.push(b.readUInt16BE(i).toString(16));
      return g.join(':');
    };
    if (af === 1) return { version: 2, length: 16 + len, endpoints: { protocol, srcAddr: fmt(body.subarray(0, 4)), dstAddr: fmt(body.subarray(4, 8)), srcPort: body.readUInt16BE(8), dstPort: body.readUInt16BE(10) } };
    if (af === 2) return { version: 2, length: 16 + len, endpoints: { protocol, srcAddr: fmt(body.subarray(0, 16)), dstAddr: fmt(body.subarray(16, 32)), srcPort: body.readUInt16BE(32), dstPort: body.readUInt16BE(34) } };
    return { version: 2, length: 16 + len, endpoints: null };
  }
  const end = buf.indexOf('\r\n');
  if (!buf.subarray(0, 6).equals(Buffer.from('PROXY ')) || end < 0) return null;
  const parts = buf.subarray(0, end).toString('latin1').split(' ');
  if (parts[1] === 'UNKNOWN') return { version: 1, length: end + 2, endpoints: null };
  return { version: 1, length: end + 2, endpoints: { protocol: 'tcp', srcAddr: parts[2]!, dstAddr: parts[3]!, srcPort: Number(parts[4]), dstPort: Number(parts[5]) } };
}
