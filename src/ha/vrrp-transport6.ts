/**
 * VRRPv3 over IPv6 (RFC 5798): a raw AF_INET6 socket for protocol 112, bound to one interface,
 * multicast ff02::12 or the configured group (or unicast peers), hop limit 255, sourced from the interface's link-local
 * address (RFC 5798 §5.1.1.1, as keepalived does). Raw IPv6 sockets deliver no IPv6 header, so
 * the hop limit and destination address come as ancillary data (IPV6_RECVHOPLIMIT /
 * IPV6_RECVPKTINFO) through recvmsg; the msghdr/iovec/control blocks live in calloc'd memory
 * (the kernel follows their pointers) and are read through koffi.view.
 *
 * Also: unsolicited neighbour advertisements (ICMPv6 136, override flag) for IPv6 virtual
 * addresses, the IPv6 counterpart of gratuitous ARP.
 */
import { sys, C, check, setIntOpt, errno, ifIndex, view } from '../os/libc.ts';
import { ipToBytes, isMulticast, parseIp } from '../core/addr.ts';
import { interfaceAddrs } from '../os/ifaddr.ts';
import { VRRP_PROTO, VRRP_MCAST_V6 } from './vrrp-codec.ts';
import { transportHandle, type RawTransportOptions, type VrrpTransport } from './vrrp-transport.ts';

export const IPPROTO_IPV6 = 41;
export const IPPROTO_ICMPV6 = 58;
const IPV6_UNICAST_HOPS = 16;
const IPV6_MULTICAST_IF = 17;
const IPV6_MULTICAST_HOPS = 18;
const IPV6_MULTICAST_LOOP = 19;
const IPV6_JOIN_GROUP = 20;
const IPV6_RECVPKTINFO = 49;
const IPV6_PKTINFO = 50;
const IPV6_RECVHOPLIMIT = 51;
const IPV6_HOPLIMIT = 52;

/** 16 raw bytes of an IPv6 address (throws on anything else). */
export function ipv6Bytes(s: string): Uint8Array {
  const ip = parseIp(s.split('%')[0]!);
  if (ip === null || ip.af !== 6) throw new Error(`not an IPv6 address: ${s}`);
  return ipToBytes(ip);
}

/** struct sockaddr_in6 (28 bytes). */
export function sockaddrIn6(addr: Uint8Array, scopeId = 0, port = 0): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt16LE(C.AF_INET6, 0);
  b.writeUInt16BE(port, 2);
  b.set(addr.subarray(0, 16), 8);
  b.writeUInt32LE(scopeId >>> 0, 24);
  return b;
}

/** The interface's first link-local (fe80::/10) address that is not tentative, or null. */
export function linkLocalIpv6(dev: string): string | null {
  return interfaceAddrs(dev, 6).find((a) => !a.tentative && !a.dadfailed && /^fe[89ab]/i.test(a.local))?.local ?? null;
}

/** Decoded ancillary data of one received datagram. */
export interface Ipv6Ancillary {
  hopLimit: number;
  dst: Uint8Array | null;
  ifindex: number;
}

/** Walks a control buffer (struct cmsghdr chain, 8-byte aligned) for hop limit and pktinfo. */
export function parseIpv6Cmsgs(ctl: Uint8Array, len: number): Ipv6Ancillary {
  const dv = new DataView(ctl.buffer, ctl.byteOffset, ctl.byteLength);
  const r: Ipv6Ancillary = { hopLimit: -1, dst: null, ifindex: 0 };
  let off = 0;
  while (off + 16 <= len) {
    const clen = Number(dv.getBigUint64(off, true));
    if (clen < 16 || off + clen > len) break;
    const level = dv.getInt32(off + 8, true);
    const type = dv.getInt32(off + 12, true);
    if (level === IPPROTO_IPV6 && type === IPV6_HOPLIMIT && clen >= 20) r.hopLimit = dv.getInt32(off + 16, true);
    if (level === IPPROTO_IPV6 && type === IPV6_PKTINFO && clen >= 36) {
      r.dst = ctl.slice(off + 16, off + 32);
      r.ifindex = dv.getInt32(off + 32, true);
    }
    off += (clen + 7) & ~7;
  }
  return r;
}

// Layout of the calloc'd receive block.
const MSGHDR = 0; // 56 bytes
const IOV = 64; // 16 bytes
const NAME = 80; // sockaddr_in6, 28 bytes (32 reserved)
const CTL = 112; // control buffer
const CTL_LEN = 128;
const DATA = 240;
const DATA_LEN = 2048;
const BLOCK = DATA + DATA_LEN;

/** Opens the IPv6 VRRP transport; `srcIp` is the interface's link-local address (or unicast_src_ip). */
export function openRawVrrpTransport6(o: RawTransportOptions): VrrpTransport {
  const fd = check('socket(AF_INET6, SOCK_RAW, 112)', sys.socket(C.AF_INET6, C.SOCK_RAW | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, VRRP_PROTO));
  const ifindex = ifIndex(o.ifname);
  const src = ipv6Bytes(o.srcIp);
  const groupText = o.group ?? VRRP_MCAST_V6;
  const g = parseIp(groupText);
  if (!g || g.af !== 6 || !isMulticast(g)) throw new Error(`not an IPv6 multicast group: ${groupText}`);
  const group = ipv6Bytes(groupText);
  let mem: bigint = 0n;
  try {
    const dev = Buffer.from(`${o.ifname}\0`);
    check('setsockopt(SO_BINDTODEVICE)', sys.setsockopt(fd, C.SOL_SOCKET, C.SO_BINDTODEVICE, dev, dev.length));
    setIntOpt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 255, 'IPV6_MULTICAST_HOPS');
    setIntOpt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 255, 'IPV6_UNICAST_HOPS');
    setIntOpt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, ifindex, 'IPV6_MULTICAST_IF');
    setIntOpt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0, 'IPV6_MULTICAST_LOOP');
    setIntOpt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1, 'IPV6_RECVHOPLIMIT');
    setIntOpt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, 'IPV6_RECVPKTINFO');
    if (o.unicastPeers.length === 0) {
      const mreq = Buffer.alloc(20);
      mreq.set(group, 0);
      mreq.writeInt32LE(ifindex, 16);
      check('setsockopt(IPV6_JOIN_GROUP)', sys.setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, mreq, mreq.length));
    } else {
      // Unicast: bind to our address so the kernel sources from it (and filters by destination).
      const sa = sockaddrIn6(src, src[0] === 0xfe && (src[1]! & 0xc0) === 0x80 ? ifindex : 0);
      check('bind', sys.bind(fd, sa, sa.length));
    }
    mem = sys.calloc(1, BLOCK) as bigint;
    if (mem === 0n) throw new Error('calloc failed');
  } catch (e) {
    sys.close(fd);
    throw e;
  }
  const block = new Uint8Array(view(mem, BLOCK));
  const dv = new DataView(block.buffer, block.byteOffset, BLOCK);
  dv.setBigUint64(IOV, mem + BigInt(DATA), true); // iov_base
  dv.setBigUint64(IOV + 8, BigInt(DATA_LEN), true); // iov_len
  const resetHdr = () => {
    dv.setBigUint64(MSGHDR, mem + BigInt(NAME), true); // msg_name
    dv.setUint32(MSGHDR + 8, 28, true); // msg_namelen
    dv.setBigUint64(MSGHDR + 16, mem + BigInt(IOV), true); // msg_iov
    dv.setBigUint64(MSGHDR + 24, 1n, true); // msg_iovlen
    dv.setBigUint64(MSGHDR + 32, mem + BigInt(CTL), true); // msg_control
    dv.setBigUint64(MSGHDR + 40, BigInt(CTL_LEN), true); // msg_controllen
    dv.setInt32(MSGHDR + 48, 0, true); // msg_flags
  };

  const peers = o.unicastPeers.map(ipv6Bytes);
  const dsts = peers.length > 0 ? peers : [group];
  const dstAddrs = dsts.map((d) => sockaddrIn6(d, d[0] === 0xff || (d[0] === 0xfe && (d[1]! & 0xc0) === 0x80) ? ifindex : 0));
  let closed = false;
  const timer = setInterval(() => {
    for (let i = 0; i < 64 && !closed; i++) {
      resetHdr();
      const n = Number(sys.recvmsg(fd, mem + BigInt(MSGHDR), C.MSG_DONTWAIT));
      if (n < 0) {
        const e = errno();
        if (e === C.EINTR) continue;
        break; // EAGAIN: nothing more queued
      }
      const ctlLen = Number(dv.getBigUint64(MSGHDR + 40, true));
      const anc = parseIpv6Cmsgs(block.subarray(CTL, CTL + CTL_LEN), Math.min(ctlLen, CTL_LEN));
      if (dv.getUint16(NAME, true) !== C.AF_INET6) continue;
      // Multicast: another group's advert is not ours (keepalived's socket is bound to its group).
      if (peers.length === 0 && anc.dst && !anc.dst.every((b, k) => b === group[k])) continue;
      o.onPacket({
        msg: block.slice(DATA, DATA + Math.min(n, DATA_LEN)),
        src: block.slice(NAME + 8, NAME + 24),
        // Without pktinfo we cannot verify the v3 checksum: an all-zero destination fails it.
        dst: anc.dst ?? new Uint8Array(16),
        // Without the hop limit the packet fails decodeAdvert's 255 check (off-link spoofing guard).
        ttl: anc.hopLimit,
      });
    }
  }, o.pollMs ?? 5);
  timer.unref?.();
  return transportHandle({ fd, srcIp: src, dstIps: dsts, dstAddrs, timer, onClose: () => { closed = true; }, free: () => sys.free(mem) });
}

/**
 * An unsolicited neighbour advertisement (RFC 4861 §4.4/§7.2.6) without the checksum (the
 * kernel fills it in on ICMPv6 raw sockets): type 136, Override flag, target = `target`,
 * target link-layer address option carrying `mac`. 32 bytes.
 */
export function buildUnsolicitedNa(target: Uint8Array, mac: Uint8Array, router = false): Uint8Array {
  const b = new Uint8Array(32);
  b[0] = 136;
  b[4] = 0x20 | (router ? 0x80 : 0);
  b.set(target.subarray(0, 16), 8);
  b[24] = 2; // target link-layer address
  b[25] = 1; // length in units of 8 bytes
  b.set(mac.subarray(0, 6), 26);
  return b;
}

/** Sends `count` unsolicited neighbour advertisements for `ip` to ff02::1 on `dev`, hop limit 255. */
export function sendUnsolicitedNa(dev: string, ip: string, mac: Uint8Array, count: number): void {
  const fd = check('socket(AF_INET6, SOCK_RAW, ICMPV6)', sys.socket(C.AF_INET6, C.SOCK_RAW | C.SOCK_CLOEXEC, IPPROTO_ICMPV6));
  try {
    const ifindex = ifIndex(dev);
    const name = Buffer.from(`${dev}\0`);
    check('setsockopt(SO_BINDTODEVICE)', sys.setsockopt(fd, C.SOL_SOCKET, C.SO_BINDTODEVICE, name, name.length));
    setIntOpt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 255, 'IPV6_MULTICAST_HOPS');
    setIntOpt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, ifindex, 'IPV6_MULTICAST_IF');
    const msg = Buffer.from(buildUnsolicitedNa(ipv6Bytes(ip), mac));
    const sa = sockaddrIn6(ipv6Bytes('ff02::1'), ifindex);
    for (let i = 0; i < count; i++) sys.sendto(fd, msg, msg.length, 0, sa, sa.length);
  } finally {
    sys.close(fd);
  }
}
