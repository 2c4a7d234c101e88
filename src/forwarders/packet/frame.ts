/**
 * Minimal in-place frame work for the data path: parse Ethernet/IPv4/TCP/UDP headers out of the
 * ring, and rewrite addresses/ports with incremental checksum updates (RFC 1624). The full codecs
 * and golden-table rewrite step live in src/packet/; this is the worker's fast path over ring
 * memory (no allocation, no copies).
 */

export const ETH_HLEN = 14;

/** Parsed view of one IPv4 frame (offsets into `buf`). Reused between packets. */
export interface ParsedFrame {
  buf: Uint8Array;
  mac: number;
  /** Offset of the IP header. */
  ip: number;
  ihl: number;
  /** IP total length. */
  totLen: number;
  proto: number;
  saddr: number;
  daddr: number;
  /** Offset of the L4 header, or -1 for non-first fragments / unknown protocols. */
  l4: number;
  sport: number;
  dport: number;
  tcpFlags: number;
}

export function newParsed(): ParsedFrame {
  return { buf: new Uint8Array(0), mac: 0, ip: 0, ihl: 0, totLen: 0, proto: 0, saddr: 0, daddr: 0, l4: -1, sport: 0, dport: 0, tcpFlags: 0 };
}

function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 255;
  b[o + 1] = v & 255;
}
function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 255;
  b[o + 1] = (v >>> 16) & 255;
  b[o + 2] = (v >>> 8) & 255;
  b[o + 3] = v & 255;
}

/**
 * Parses an Ethernet+IPv4 frame of `len` captured bytes at `mac`. Returns false for anything that
 * is not a well-formed IPv4 packet (the caller leaves those to the kernel or drops them).
 */
export function parseFrame(buf: Uint8Array, mac: number, len: number, out: ParsedFrame): boolean {
  if (len < ETH_HLEN + 20) return false;
  if (buf[mac + 12] !== 0x08 || buf[mac + 13] !== 0x00) return false;
  const ip = mac + ETH_HLEN;
  const vihl = buf[ip]!;
  if (vihl >> 4 !== 4) return false;
  const ihl = (vihl & 15) * 4;
  const totLen = u16(buf, ip + 2);
  if (ihl < 20 || totLen < ihl || ETH_HLEN + totLen > len) return false;
  out.buf = buf;
  out.mac = mac;
  out.ip = ip;
  out.ihl = ihl;
  out.totLen = totLen;
  out.proto = buf[ip + 9]!;
  out.saddr = u32(buf, ip + 12);
  out.daddr = u32(buf, ip + 16);
  out.l4 = -1;
  out.sport = 0;
  out.dport = 0;
  out.tcpFlags = 0;
  const frag = u16(buf, ip + 6) & 0x1fff;
  if (frag !== 0) return true;
  const l4 = ip + ihl;
  const l4len = totLen - ihl;
  if (out.proto === 6) {
    if (l4len < 20) return false;
    out.l4 = l4;
    out.sport = u16(buf, l4);
    out.dport = u16(buf, l4 + 2);
    out.tcpFlags = buf[l4 + 13]!;
  } else if (out.proto === 17) {
    if (l4len < 8) return false;
    out.l4 = l4;
    out.sport = u16(buf, l4);
    out.dport = u16(buf, l4 + 2);
  }
  return true;
}

/** RFC 1624 eqn 3: HC' = ~(~HC + ~m + m') over 16-bit words. */
function csumReplace16(sum: number, oldv: number, newv: number): number {
  let s = (~sum & 0xffff) + (~oldv & 0xffff) + (newv & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
function csumReplace32(sum: number, oldv: number, newv: number): number {
  return csumReplace16(csumReplace16(sum, oldv >>> 16, newv >>> 16), oldv & 0xffff, newv & 0xffff);
}

/** Offset of the L4 checksum field, or -1 (UDP with checksum 0 keeps 0). */
function l4CsumOff(p: ParsedFrame): number {
  if (p.l4 < 0) return -1;
  if (p.proto === 6) return p.l4 + 16;
  if (p.proto === 17) return u16(p.buf, p.l4 + 6) === 0 ? -1 : p.l4 + 6;
  return -1;
}

function fixL4(p: ParsedFrame, addrOld: number, addrNew: number, portOld: number, portNew: number): void {
  const off = l4CsumOff(p);
  if (off < 0) return;
  let c = u16(p.buf, off);
  c = csumReplace32(c, addrOld, addrNew);
  c = csumReplace16(c, portOld, portNew);
  if (p.proto === 17 && c === 0) c = 0xffff;
  put16(p.buf, off, c);
}

/** NAT in: destination becomes rip:rport (IP + L4 checksums updated in place). */
export function rewriteDst(p: ParsedFrame, rip: number, rport: number): void {
  const b = p.buf;
  put16(b, p.ip + 10, csumReplace32(u16(b, p.ip + 10), p.daddr, rip));
  put32(b, p.ip + 16, rip);
  if (p.l4 >= 0 && rport !== 0) {
    fixL4(p, p.daddr, rip, p.dport, rport);
    put16(b, p.l4 + 2, rport);
    p.dport = rport;
  } else if (p.l4 >= 0) {
    fixL4(p, p.daddr, rip, p.dport, p.dport);
  }
  p.daddr = rip;
}

/** NAT out: source becomes vip:vport. */
export function rewriteSrc(p: ParsedFrame, vip: number, vport: number): void {
  const b = p.buf;
  put16(b, p.ip + 10, csumReplace32(u16(b, p.ip + 10), p.saddr, vip));
  put32(b, p.ip + 12, vip);
  if (p.l4 >= 0) {
    fixL4(p, p.saddr, vip, p.sport, vport || p.sport);
    if (vport) put16(b, p.l4, vport);
    if (vport) p.sport = vport;
  }
  p.saddr = vip;
}

/** DR: only the MAC addresses change. */
export function rewriteMacs(p: ParsedFrame, dst: Uint8Array, src: Uint8Array): void {
  p.buf.set(dst, p.mac);
  p.buf.set(src, p.mac + 6);
}

/** Full IPv4 header checksum over `len` bytes at `off`. */
export function ipChecksum(b: Uint8Array, off: number, len: number): number {
  let s = 0;
  for (let i = 0; i < len; i += 2) s += (b[off + i]! << 8) | (i + 1 < len ? b[off + i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

let ipId = (Math.random() * 65536) | 0;

/**
 * TUN: writes a 20-byte outer IPv4 header (protocol 4, src -> dst) just before the inner IP
 * header, in place (needs 6+ bytes of ring headroom beyond the Ethernet header). Returns the
 * offset of the outer header; the packet to send is [offset, offset + 20 + totLen).
 */
export function encapIpip(p: ParsedFrame, src: number, dst: number): number {
  const b = p.buf;
  const o = p.ip - 20;
  const inner = p.ip;
  b[o] = 0x45;
  b[o + 1] = b[inner + 1]!; // TOS copied
  put16(b, o + 2, p.totLen + 20);
  ipId = (ipId + 1) & 0xffff;
  put16(b, o + 4, ipId);
  put16(b, o + 6, u16(b, inner + 6) & 0x4000); // DF copied from the inner header
  b[o + 8] = 64;
  b[o + 9] = 4;
  put16(b, o + 10, 0);
  put32(b, o + 12, src);
  put32(b, o + 16, dst);
  put16(b, o + 10, ipChecksum(b, o, 20));
  return o;
}

/** Builds the ICMP "fragmentation needed" (type 3 code 4) reply to `p` advertising `mtu`, as an IPv4 packet. */
export function icmpFragNeeded(p: ParsedFrame, from: number, mtu: number): Uint8Array {
  const quoted = Math.min(p.totLen, p.ihl + 8);
  const out = new Uint8Array(20 + 8 + quoted);
  out[0] = 0x45;
  put16(out, 2, out.length);
  out[8] = 64;
  out[9] = 1;
  put32(out, 12, from);
  put32(out, 16, p.saddr);
  put16(out, 10, ipChecksum(out, 0, 20));
  out[20] = 3;
  out[21] = 4;
  put16(out, 26, mtu);
  out.set(p.buf.subarray(p.ip, p.ip + quoted), 28);
  put16(out, 22, ipChecksum(out, 20, out.length - 20));
  return out;
}

export function ipv4ToString(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}
export function ipv4FromString(s: string): number {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (!m) throw new Error(`not an IPv4 address: ${s}`);
  return ((+m[1]! << 24) | (+m[2]! << 16) | (+m[3]! << 8) | +m[4]!) >>> 0;
}
