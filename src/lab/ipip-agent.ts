/**
 * The real server's tunnel decapsulation agent, for kernels without tunnel devices (like these
 * machines; ordinary distributions use `tunl0`, `gre0` or `ip fou add port P gue`). Receives
 * the director's encapsulated packets, strips the encapsulation and injects the inner packet
 * through a TUN device, where the kernel delivers it to the VIP held on lo:
 *  - ipip (default): a raw socket for protocol 4 (IPv4 in IPv4) and 41 (IPv6 in IPv4);
 *  - gre: a raw socket for protocol 47 (checksum verified, key/sequence skipped);
 *  - gue: a UDP socket bound to the tunnel port (`--tun-port`, the destination's ipvsadm
 *    --tun-port); the kernel checks the UDP checksum, the agent the GUE header (REMCSUM handled).
 * Each also over IPv6 (an IPv6 director address: ip6ip6, IPv4 in IPv6, GRE and GUE over IPv6): the
 * same sockets in AF_INET6, which deliver the payload without the outer header (the GUE socket
 * accepts a zero UDP checksum, UDP_NO_CHECK6_RX, as IPVS sends with --tun-nocsum). A host
 * without IPv6 (EAFNOSUPPORT) runs the IPv4 sockets alone.
 * Several types can run at once (`--tun-type ipip,gre`). Decapsulation is src/codec (ipip.ts,
 * gre.ts, gue.ts); packets whose inner destination is not one of `--vip` are ignored.
 *
 * Run: `ipip-agent.ts [--dev tsvstun0] [--vip A ...] [--tun-type ipip|gue|gre[,...]] [--tun-port N]`
 * (in its own process: the receive loop blocks). Prints "ready" once the device is up.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { sys, C, CT, check, errno, sockaddrIn, setIntOpt } from '../os/libc.ts';
import { parseIp } from '../core/addr.ts';
import { createIpipInner, ipipDecapsulate, ipipPayloadDecapsulate, type IpipInner } from '../codec/ipip.ts';
import { greDecapsulate, greDecapsulatePayload } from '../codec/gre.ts';
import { gueDecapsulate } from '../codec/gue.ts';
import { TUN_TYPES, type TunType } from '../core/types.ts';
import { checksum, fold16, pseudoSum4, rd16, rd32, sum16, wr16 } from '../codec/checksum.ts';

/**
 * Completes the TCP/UDP checksum of an inner IPv4 packet left partial by the sender's checksum
 * offload (the field holds the folded pseudo-header sum: CHECKSUM_PARTIAL). A kernel tunnel
 * device keeps the socket buffer's checksum state across decapsulation; this agent reads raw
 * sockets, which do not say it, and injects through a TUN device, where the kernel verifies the
 * checksum in full. The director's kernel fast path (like kernel IPVS) passes such packets on as
 * they are. A checksum that is neither right nor partial is left alone (the kernel drops it).
 * Returns whether it completed one.
 */
export function completePartial4(b: Uint8Array, off: number, len: number): boolean {
  if (len < 20 || b[off]! >> 4 !== 4) return false;
  const ihl = (b[off]! & 15) * 4, tot = rd16(b, off + 2), proto = b[off + 9]!;
  if (tot > len || tot < ihl + 8 || (rd16(b, off + 6) & 0x3fff) !== 0) return false;
  const at = proto === 6 ? 16 : proto === 17 ? 6 : -1;
  const l4 = off + ihl, l4len = tot - ihl;
  if (at < 0 || (proto === 6 && l4len < 20)) return false;
  const field = rd16(b, l4 + at);
  if (proto === 17 && field === 0) return false; // no checksum
  const pseudo = pseudoSum4(rd32(b, off + 12), rd32(b, off + 16), proto, l4len);
  if (fold16(sum16(b, l4, l4len, pseudo)) === 0xffff) return false; // complete and right
  if (field !== fold16(pseudo)) return false;
  wr16(b, l4 + at, 0);
  const c = checksum(b, l4, l4len, pseudo);
  wr16(b, l4 + at, proto === 17 && c === 0 ? 0xffff : c);
  return true;
}

export function openTun(name: string): number {
  const fd = check('open(/dev/net/tun)', sys.open('/dev/net/tun', C.O_RDWR | C.O_CLOEXEC));
  const ifr = Buffer.alloc(40);
  ifr.write(name, 0, 15, 'latin1');
  ifr.writeUInt16LE(C.IFF_TUN | C.IFF_NO_PI, 16);
  check('ioctl(TUNSETIFF)', sys.ioctl(fd, C.TUNSETIFF, 'void *', ifr));
  return fd;
}

export interface AgentOptions {
  /** Tunnel types to accept (default ['ipip']). */
  readonly types?: readonly TunType[];
  /** GUE UDP port (required with 'gue'). */
  readonly gueport?: number;
}

type Decap = (b: Uint8Array, off: number, len: number, res: IpipInner) => number;

interface Source {
  readonly fd: number;
  readonly what: string;
  readonly decap: Decap;
}

const EAFNOSUPPORT = 97;
const SOL_UDP = 17;
const UDP_NO_CHECK6_RX = 102;

/** sockaddr_in6 for [::]:port. */
function sockaddrAny6(port: number): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt16LE(C.AF_INET6, 0);
  b.writeUInt16BE(port, 2);
  return b;
}

/** Opens the receive sockets for `types` (IPv4 and, where the host has it, IPv6 outer headers). */
export function openSources(types: readonly TunType[], gueport = 0): Source[] {
  const out: Source[] = [];
  const raw = (proto: number, what: string, decap: Decap) =>
    out.push({ fd: check(`socket(AF_INET, SOCK_RAW, ${proto})`, sys.socket(C.AF_INET, C.SOCK_RAW | C.SOCK_CLOEXEC | C.SOCK_NONBLOCK, proto)), what, decap });
  let have6 = true;
  /** An AF_INET6 socket, or -1 when the host has no IPv6 (then no IPv6 source at all). */
  const socket6 = (type: number, proto: number, what: string): number => {
    if (!have6) return -1;
    const fd = sys.socket(C.AF_INET6, type | C.SOCK_CLOEXEC | C.SOCK_NONBLOCK, proto) as number;
    if (fd < 0 && errno() === EAFNOSUPPORT) { have6 = false; return -1; }
    return check(`socket(AF_INET6, ${what})`, fd);
  };
  const raw6 = (proto: number, what: string, decap: Decap) => {
    const fd = socket6(C.SOCK_RAW, proto, `SOCK_RAW, ${proto}`);
    if (fd >= 0) out.push({ fd, what, decap });
  };
  try {
    for (const t of new Set(types)) {
      if (t === 'ipip') {
        raw(C.IPPROTO_IPIP, 'ipip', ipipDecapsulate);
        raw(41, 'ipip6', ipipDecapsulate);
        raw6(41, 'ip6ip6', (b, off, len, res) => ipipPayloadDecapsulate(b, off, len, 6, res));
        raw6(C.IPPROTO_IPIP, 'ipip-over-6', (b, off, len, res) => ipipPayloadDecapsulate(b, off, len, 4, res));
      } else if (t === 'gre') {
        raw(47, 'gre', greDecapsulate);
        raw6(47, 'gre6', greDecapsulatePayload);
      } else if (t === 'gue') {
        if (!(gueport >= 1 && gueport <= 65535)) throw new Error('gue needs --tun-port 1..65535');
        const fd = check('socket(AF_INET, SOCK_DGRAM)', sys.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_CLOEXEC | C.SOCK_NONBLOCK, 0));
        out.push({ fd, what: 'gue', decap: gueDecapsulate });
        const sa = sockaddrIn(0, gueport);
        check(`bind(udp ${gueport})`, sys.bind(fd, sa, sa.length));
        const fd6 = socket6(C.SOCK_DGRAM, 0, 'SOCK_DGRAM');
        if (fd6 >= 0) {
          out.push({ fd: fd6, what: 'gue6', decap: gueDecapsulate });
          // IPv6 only (the IPv4 socket has the port there); a zero checksum is what --tun-nocsum sends.
          setIntOpt(fd6, CT.IPPROTO_IPV6, CT.IPV6_V6ONLY, 1, 'IPV6_V6ONLY');
          setIntOpt(fd6, SOL_UDP, UDP_NO_CHECK6_RX, 1, 'UDP_NO_CHECK6_RX');
          const sa6 = sockaddrAny6(gueport);
          check(`bind(udp6 ${gueport})`, sys.bind(fd6, sa6, sa6.length));
        }
      } else {
        throw new Error(`unknown tunnel type ${t as string}`);
      }
    }
  } catch (e) {
    for (const s of out) sys.close(s.fd);
    throw e;
  }
  return out;
}

/** Key of the 16 address bytes at b[o..o+16). */
function key16(b: Buffer, o: number): string {
  return `${b.readUInt32BE(o)}.${b.readUInt32BE(o + 4)}.${b.readUInt32BE(o + 8)}.${b.readUInt32BE(o + 12)}`;
}

/** `vips`: the VIPs (IPv4 or IPv6 text) whose inner packets are delivered; empty: any. */
export function runAgent(dev: string, vips: readonly string[], opts: AgentOptions = {}): never {
  const types = opts.types && opts.types.length ? opts.types : ['ipip' as const];
  const srcs = openSources(types, opts.gueport);
  const tun = openTun(dev);
  execFileSync('ip', ['link', 'set', dev, 'up']);
  writeFileSync(`/proc/sys/net/ipv4/conf/${dev}/rp_filter`, '0');
  const buf = Buffer.alloc(65536);
  const allowed4 = new Set<number>(), allowed6 = new Set<string>();
  for (const v of vips) {
    const ip = parseIp(v);
    if (!ip) throw new Error(`bad --vip ${v}`);
    if (ip.af === 4) allowed4.add(ip.words[0]! >>> 0);
    else allowed6.add(ip.words.map((w) => w >>> 0).join('.'));
  }
  const any = vips.length === 0;
  const res = createIpipInner();
  const pfds = Buffer.alloc(8 * srcs.length);
  srcs.forEach((s, i) => {
    pfds.writeInt32LE(s.fd, i * 8);
    pfds.writeInt16LE(C.POLLIN, i * 8 + 4);
  });
  process.stdout.write(`ready ${srcs.map((s) => s.what).join(',')}\n`);
  for (;;) {
    const r = sys.poll(pfds, srcs.length, -1) as number;
    if (r < 0) {
      if (errno() === C.EINTR) continue;
      check('poll', r);
    }
    for (let i = 0; i < srcs.length; i++) {
      if ((pfds.readInt16LE(i * 8 + 6) & C.POLLIN) === 0) continue;
      const s = srcs[i]!;
      for (;;) {
        const n = Number(sys.recvfrom(s.fd, buf, buf.length, C.MSG_DONTWAIT, null, null));
        if (n < 0) {
          const e = errno();
          if (e === C.EAGAIN || e === C.EINTR) break;
          check('recvfrom', n);
        }
        if (s.decap(buf, 0, n, res) !== 0) continue;
        if (!any && !(res.innerAf === 4 ? allowed4.has(buf.readUInt32BE(res.innerOff + 16)) : allowed6.has(key16(buf, res.innerOff + 24)))) continue;
        if (res.innerAf === 4) completePartial4(buf, res.innerOff, res.innerLen);
        sys.write(tun, buf.subarray(res.innerOff, res.innerOff + res.innerLen), res.innerLen);
      }
    }
  }
}

/** Parses `--tun-type a,b --tun-type c` values. */
export function parseTunTypes(values: readonly string[]): TunType[] {
  const out: TunType[] = [];
  for (const v of values) {
    for (const t of v.split(',')) {
      const x = t.trim();
      if (!x) continue;
      if (!(TUN_TYPES as readonly string[]).includes(x)) throw new Error(`unknown tunnel type ${x} (${TUN_TYPES.join(', ')})`);
      out.push(x as TunType);
    }
  }
  return out;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const a = process.argv.slice(2);
  let dev = 'tsvstun0';
  const vips: string[] = [];
  const types: string[] = [];
  let gueport = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--dev') dev = a[++i]!;
    else if (a[i] === '--vip') vips.push(a[++i]!);
    else if (a[i] === '--tun-type') types.push(a[++i]!);
    else if (a[i] === '--tun-port') gueport = Number(a[++i]);
  }
  runAgent(dev, vips, { types: parseTunTypes(types), gueport });
}
