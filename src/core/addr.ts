/**
 * IP addresses as the core sees them: parsed once at the boundary into numbers, formatted back
 * to canonical text. Pure; no DNS.
 */
import type { Af } from './types.ts';

/** A parsed address: IPv4 uses words[0]; IPv6 uses four host-order u32 words, most significant first. */
export interface Ip {
  readonly af: Af;
  readonly words: readonly number[];
}

/** IN_MULTICAST (224.0.0.0/4) or IN6_IS_ADDR_MULTICAST (ff00::/8). */
export function isMulticast(ip: Ip): boolean {
  return ip.af === 4 ? ip.words[0]! >>> 28 === 0xe : ip.words[0]! >>> 24 === 0xff;
}

export function parseIpv4(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255 || (m[i]!.length > 1 && m[i]![0] === '0')) return null;
    v = v * 256 + o;
  }
  return v >>> 0;
}

export function formatIpv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** Parses IPv6 text (with optional embedded IPv4 tail) into 8 16-bit groups, or null. */
function parseIpv6Groups(s: string): number[] | null {
  if (s.length === 0 || s.length > 45 || /[^0-9a-fA-F:.]/.test(s)) return null;
  let tail: number[] = [];
  let head = s;
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.')) {
    const v4 = parseIpv4(s.slice(lastColon + 1));
    if (v4 === null) return null;
    tail = [v4 >>> 16, v4 & 0xffff];
    head = s.slice(0, lastColon + 1) + (s[lastColon - 1] === ':' ? '' : '0');
    if (s[lastColon - 1] !== ':') { head = s.slice(0, lastColon); } else { head = s.slice(0, lastColon + 1); }
  }
  const parts = head.split('::');
  if (parts.length > 2) return null;
  const toGroups = (p: string): number[] | null => {
    if (p === '') return [];
    const out: number[] = [];
    for (const g of p.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = toGroups(parts[0]!.replace(/:$/, parts.length === 2 ? '' : ':'));
  if (left === null) return null;
  if (parts.length === 1) {
    const all = [...left, ...tail];
    return all.length === 8 ? all : null;
  }
  const right = toGroups(parts[1]!);
  if (right === null) return null;
  const have = left.length + right.length + tail.length;
  if (have > 7) return null;
  return [...left, ...new Array<number>(8 - have).fill(0), ...right, ...tail];
}

export function parseIp(s: string): Ip | null {
  const v4 = parseIpv4(s);
  if (v4 !== null) return { af: 4, words: [v4] };
  const g = parseIpv6Groups(s);
  if (g === null) return null;
  return { af: 6, words: [0, 1, 2, 3].map((i) => ((g[2 * i]! << 16) | g[2 * i + 1]!) >>> 0) };
}

/** RFC 5952 canonical IPv6 text (longest run of >= 2 zero groups compressed, lower case). */
function formatIpv6(words: readonly number[]): string {
  const g: number[] = [];
  for (const w of words) g.push(w >>> 16, w & 0xffff);
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  // IPv4-mapped addresses print their tail dotted, as inet_ntop does.
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${formatIpv4(words[3]!)}`;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

export function formatIp(ip: Ip): string {
  return ip.af === 4 ? formatIpv4(ip.words[0]!) : formatIpv6(ip.words);
}

/** Canonical text for any accepted address text, or null. */
export function canonicalIp(s: string): string | null {
  const ip = parseIp(s);
  return ip ? formatIp(ip) : null;
}

/** The kernel's fold of an address into 32 bits for hashing: IPv4 as is, IPv6 XOR of its words. */
export function fold32(ip: Ip): number {
  if (ip.af === 4) return ip.words[0]! >>> 0;
  return (ip.words[0]! ^ ip.words[1]! ^ ip.words[2]! ^ ip.words[3]!) >>> 0;
}

export function ipEquals(a: Ip, b: Ip): boolean {
  if (a.af !== b.af) return false;
  for (let i = 0; i < a.words.length; i++) if (a.words[i] !== b.words[i]) return false;
  return true;
}

/** Applies a persistence mask: IPv4 with a u32 mask, IPv6 with a prefix length. */
export function maskIp(ip: Ip, netmask: number): Ip {
  if (ip.af === 4) return { af: 4, words: [(ip.words[0]! & netmask) >>> 0] };
  const words = ip.words.map((w, i) => {
    const bits = Math.max(0, Math.min(32, netmask - 32 * i));
    const m = bits === 0 ? 0 : bits === 32 ? 0xffffffff : (~0 << (32 - bits)) >>> 0;
    return (w & m) >>> 0;
  });
  return { af: 6, words };
}

export function prefixToMask4(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Network-order bytes of an address (4 or 16), as sockets and wire formats carry it. */
export function ipToBytes(ip: Ip): Uint8Array {
  const b = new Uint8Array(ip.af === 4 ? 4 : 16);
  const dv = new DataView(b.buffer);
  ip.words.forEach((w, i) => dv.setUint32(i * 4, w >>> 0));
  return b;
}

/** The inverse of ipToBytes: 4 bytes (af 4) or 16 bytes (af 6) in network order. */
export function ipFromBytes(b: Uint8Array, af: Af): Ip {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const words: number[] = [];
  for (let i = 0; i < (af === 4 ? 1 : 4); i++) words.push(dv.getUint32(i * 4));
  return { af, words };
}
