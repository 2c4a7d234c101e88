/**
 * The real server's tunnel decapsulation agent, for kernels without tunnel devices (like these
 * machines; ordinary distributions use `tunl0`, `gre0` or `ip fou add port P gue`). Receives
 * the director's encapsulated packets, strips the encapsulation and injects the inner packet
 * through a TUN device, where the kernel delivers it to the VIP held on lo:
 *  - ipip (default): a raw socket for protocol 4 (IPv4 in IPv4) and 41 (IPv6 in IPv4);
 *  - gre: a raw socket for protocol 47 (checksum verified, key/sequence skipped);
 *  - gue: a UDP socket bound to the tunnel port (`--tun-port`, the destination's ipvsadm
 *    --tun-port); the kernel checks the UDP checksum, the agent the GUE header (REMCSUM handled).
 * Several types can run at once (`--tun-type ipip,gre`). Decapsulation is src/codec (ipip.ts,
 * gre.ts, gue.ts); packets whose inner destination is not one of `--vip` are ignored.
 *
 * Run: `ipip-agent.ts [--dev tsvstun0] [--vip A ...] [--tun-type ipip|gue|gre[,...]] [--tun-port N]`
 * (in its own process: the receive loop blocks). Prints "ready" once the device is up.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { sys, C, check, errno, sockaddrIn } from '../os/libc.ts';
import { ipv4FromString } from '../core/addr4.ts';
import { createIpipInner, ipipDecapsulate, type IpipInner } from '../codec/ipip.ts';
import { greDecapsulate } from '../codec/gre.ts';
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

/** Opens the receive sockets for `types`. */
export function openSources(types: readonly TunType[], gueport = 0): Source[] {
  const out: Source[] = [];
  const raw = (proto: number, what: string, decap: Decap) =>
    out.push({ fd: check(`socket(AF_INET, SOCK_RAW, ${proto})`, sys.socket(C.AF_INET, C.SOCK_RAW | C.SOCK_CLOEXEC | C.SOCK_NONBLOCK, proto)), what, decap });
  try {
    for (const t of new Set(types)) {
      if (t === 'ipip') {
        raw(C.IPPROTO_IPIP, 'ipip', ipipDecapsulate);
        raw(41, 'ipip6', ipipDecapsulate);
      } else if (t === 'gre') {
        raw(47, 'gre', greDecapsulate);
      } else if (t === 'gue') {
        if (!(gueport >= 1 && gueport <= 65535)) throw new Error('gue needs --tun-port 1..65535');
        const fd = check('socket(AF_INET, SOCK_DGRAM)', sys.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_CLOEXEC | C.SOCK_NONBLOCK, 0));
        out.push({ fd, what: 'gue', decap: gueDecapsulate });
        const sa = sockaddrIn(0, gueport);
        check(`bind(udp ${gueport})`, sys.bind(fd, sa, sa.length));
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

export function runAgent(dev: string, vips: readonly number[], opts: AgentOptions = {}): never {
  const types = opts.types && opts.types.length ? opts.types : ['ipip' as const];
  const srcs = openSources(types, opts.gueport);
  const tun = openTun(dev);
  execFileSync('ip', ['link', 'set', dev, 'up']);
  writeFileSync(`/proc/sys/net/ipv4/conf/${dev}/rp_filter`, '0');
  const buf = Buffer.alloc(65536);
  const allowed = new Set(vips);
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
        if (allowed.size > 0 && (res.innerAf !== 4 || !allowed.has(buf.readUInt32BE(res.innerOff + 16)))) continue;
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
  const vips: number[] = [];
  const types: string[] = [];
  let gueport = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--dev') dev = a[++i]!;
    else if (a[i] === '--vip') vips.push(ipv4FromString(a[++i]!));
    else if (a[i] === '--tun-type') types.push(a[++i]!);
    else if (a[i] === '--tun-port') gueport = Number(a[++i]);
  }
  runAgent(dev, vips, { types: parseTunTypes(types), gueport });
}
