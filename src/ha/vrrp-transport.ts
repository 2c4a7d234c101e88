/**
 * VRRP transport over a raw IPv4 socket (protocol 112), through koffi: multicast (224.0.0.18 or
 * the configured group) or unicast peers, TTL 255, bound to one interface. Receives by polling a non-blocking socket on a
 * short timer (VRRP traffic is a few packets a second; no thread needed).
 */
import { sys, C, check, setIntOpt, errno, sockaddrIn, ifIndex } from '../os/libc.ts';
import { ipToBytes, isMulticast, parseIp, parseIpv4 } from '../core/addr.ts';
import { VRRP_PROTO, VRRP_MCAST_V4 } from './vrrp-codec.ts';
import { IPPROTO_AH } from './vrrp-ah.ts';

const IP_TTL = 2;
const IP_MULTICAST_IF = 32;
const IP_MULTICAST_TTL = 33;
const IP_MULTICAST_LOOP = 34;
const IP_ADD_MEMBERSHIP = 35;

export interface ReceivedPacket {
  readonly msg: Uint8Array;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly ttl: number;
  /** IPv4 only: the IP protocol (112, or 51 for an AH) and the whole packet (an AH's ICV covers the IP header). */
  readonly proto?: number;
  readonly ip?: Uint8Array;
}

export interface VrrpTransport {
  /** Sends one VRRP message to dstIps[i] (the group, or one unicast peer). */
  send(msg: Uint8Array, i: number): void;
  /** The source address adverts carry (needed for the v3 pseudo-header). */
  readonly srcIp: Uint8Array;
  readonly dstIps: readonly Uint8Array[];
  close(): void;
}

export interface RawTransportOptions {
  readonly ifname: string;
  /** Our address on the interface (keepalived: unicast_src_ip / mcast_src_ip / primary address). */
  readonly srcIp: string;
  /** Unicast peers; empty = multicast to `group`. */
  readonly unicastPeers: readonly string[];
  /**
   * The multicast group joined and sent to when there are no unicast peers (keepalived:
   * mcast_dst_ip / vrrp_mcast_group4/6); default 224.0.0.18 / ff02::12. Adverts to any other
   * destination are dropped, as keepalived's socket bound to its group drops them.
   */
  readonly group?: string;
  readonly onPacket: (p: ReceivedPacket) => void;
  /** Poll period in ms (default 5). */
  readonly pollMs?: number;
  /**
   * auth_type AH (keepalived: the socket is opened for protocol 51): adverts are received inside
   * an AH, and send() takes whole IPv4 packets (IP_HDRINCL; built by vrrp-ah.ts).
   */
  readonly ah?: boolean;
}

function ipBytes(s: string): Uint8Array {
  const ip = parseIp(s);
  if (ip === null || ip.af !== 4) throw new Error(`not an IPv4 address: ${s}`);
  return ipToBytes(ip);
}

function mreqn(group: number, local: number, ifindex: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(group >>> 0, 0);
  b.writeUInt32BE(local >>> 0, 4);
  b.writeInt32LE(ifindex, 8);
  return b;
}

export function openRawVrrpTransport(o: RawTransportOptions): VrrpTransport {
  const proto = o.ah ? IPPROTO_AH : VRRP_PROTO;
  const fd = check(`socket(AF_INET, SOCK_RAW, ${proto})`, sys.socket(C.AF_INET, C.SOCK_RAW | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, proto));
  const ifindex = ifIndex(o.ifname);
  const src = parseIpv4(o.srcIp)!;
  const groupText = o.group ?? VRRP_MCAST_V4;
  const g = parseIp(groupText);
  if (!g || g.af !== 4 || !isMulticast(g)) throw new Error(`not an IPv4 multicast group: ${groupText}`);
  const group = g.words[0]! >>> 0;
  try {
    const dev = Buffer.from(`${o.ifname}\0`);
    check('setsockopt(SO_BINDTODEVICE)', sys.setsockopt(fd, C.SOL_SOCKET, C.SO_BINDTODEVICE, dev, dev.length));
    if (o.ah) setIntOpt(fd, C.SOL_IP, C.IP_HDRINCL, 1, 'IP_HDRINCL');
    setIntOpt(fd, C.SOL_IP, IP_TTL, 255, 'IP_TTL');
    setIntOpt(fd, C.SOL_IP, IP_MULTICAST_TTL, 255, 'IP_MULTICAST_TTL');
    setIntOpt(fd, C.SOL_IP, IP_MULTICAST_LOOP, 0, 'IP_MULTICAST_LOOP');
    const m = mreqn(group, src, ifindex);
    check('setsockopt(IP_MULTICAST_IF)', sys.setsockopt(fd, C.SOL_IP, IP_MULTICAST_IF, m, m.length));
    if (o.unicastPeers.length === 0) check('setsockopt(IP_ADD_MEMBERSHIP)', sys.setsockopt(fd, C.SOL_IP, IP_ADD_MEMBERSHIP, m, m.length));
    // Binding a raw socket to an address also filters received packets by destination, so only
    // unicast mode binds (peers address us); multicast takes its source from IP_MULTICAST_IF.
    if (o.unicastPeers.length > 0) {
      const sa = sockaddrIn(src);
      check('bind', sys.bind(fd, sa, sa.length));
    }
  } catch (e) {
    sys.close(fd);
    throw e;
  }
  const dsts = o.unicastPeers.length > 0 ? o.unicastPeers.map(ipBytes) : [ipBytes(groupText)];
  const dstAddrs = dsts.map((d) => sockaddrIn(((d[0]! << 24) | (d[1]! << 16) | (d[2]! << 8) | d[3]!) >>> 0));
  const multicast = o.unicastPeers.length === 0;
  const buf = Buffer.alloc(2048);
  let closed = false;
  const timer = setInterval(() => {
    for (let i = 0; i < 64 && !closed; i++) {
      const n = Number(sys.recvfrom(fd, buf, buf.length, C.MSG_DONTWAIT, null, null));
      if (n < 0) {
        if (errno() === C.EINTR) continue;
        break; // EAGAIN: nothing more queued
      }
      if (n < 20) continue;
      const ihl = (buf[0]! & 0x0f) * 4;
      if (buf[9] !== proto || n < ihl) continue;
      if (multicast && buf.readUInt32BE(16) !== group) continue; // another group's advert
      o.onPacket({
        msg: new Uint8Array(buf.subarray(ihl, n)),
        src: new Uint8Array(buf.subarray(12, 16)),
        dst: new Uint8Array(buf.subarray(16, 20)),
        ttl: buf[8]!,
        proto,
        ip: new Uint8Array(buf.subarray(0, n)),
      });
    }
  }, o.pollMs ?? 5);
  timer.unref?.();
  return transportHandle({ fd, srcIp: ipBytes(o.srcIp), dstIps: dsts, dstAddrs, timer, onClose: () => { closed = true; } });
}

/**
 * The VrrpTransport both raw-socket transports return: sends to dstIps[i] through the matching
 * prepared sockaddr; close stops the receive poll, closes the socket and releases `free`.
 */
export function transportHandle(t: {
  fd: number;
  srcIp: Uint8Array;
  dstIps: readonly Uint8Array[];
  dstAddrs: readonly Buffer[];
  timer: NodeJS.Timeout;
  onClose: () => void;
  free?: () => void;
}): VrrpTransport {
  let closed = false;
  return {
    srcIp: t.srcIp,
    dstIps: t.dstIps,
    send(msg: Uint8Array, i: number) {
      if (closed) return;
      const b = Buffer.from(msg);
      const sa = t.dstAddrs[i]!;
      sys.sendto(t.fd, b, b.length, 0, sa, sa.length);
    },
    close() {
      if (closed) return;
      closed = true;
      t.onClose();
      clearInterval(t.timer);
      sys.close(t.fd);
      t.free?.();
    },
  };
}
