/**
 * The real server's IPIP decapsulation agent, for kernels without an ipip device (like these
 * machines; ordinary distributions use `tunl0`). Receives protocol-4 packets on a raw socket,
 * strips the outer IPv4 header and injects the inner packet through a TUN device, where the
 * kernel delivers it to the VIP held on lo. Run: `ipip-agent.ts [--dev tsvstun0] [--vip A ...]`
 * (in its own process: the receive loop blocks). Prints "ready" once the device is up.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { sys, C, check, errno } from './sys.ts';
import { ipv4FromString } from './addr4.ts';

export function openTun(name: string): number {
  const fd = check('open(/dev/net/tun)', sys.open('/dev/net/tun', C.O_RDWR | C.O_CLOEXEC));
  const ifr = Buffer.alloc(40);
  ifr.write(name, 0, 15, 'latin1');
  ifr.writeUInt16LE(C.IFF_TUN | C.IFF_NO_PI, 16);
  check('ioctl(TUNSETIFF)', sys.ioctl(fd, C.TUNSETIFF, 'void *', ifr));
  return fd;
}

export function runAgent(dev: string, vips: readonly number[]): never {
  const tun = openTun(dev);
  execFileSync('ip', ['link', 'set', dev, 'up']);
  writeFileSync(`/proc/sys/net/ipv4/conf/${dev}/rp_filter`, '0');
  const raw = check('socket(AF_INET, SOCK_RAW, IPPROTO_IPIP)', sys.socket(C.AF_INET, C.SOCK_RAW | C.SOCK_CLOEXEC, C.IPPROTO_IPIP));
  const buf = Buffer.alloc(65536);
  const allowed = new Set(vips);
  process.stdout.write('ready\n');
  for (;;) {
    const n = Number(sys.recvfrom(raw, buf, buf.length, 0, null, null));
    if (n < 0) {
      if (errno() === C.EINTR) continue;
      check('recvfrom', n);
    }
    if (n < 40) continue;
    const ihl = (buf[0]! & 15) * 4;
    if (buf[9] !== 4 || n < ihl + 20 || buf[ihl]! >> 4 !== 4) continue;
    const innerDst = buf.readUInt32BE(ihl + 16);
    if (allowed.size > 0 && !allowed.has(innerDst)) continue;
    const innerLen = Math.min(buf.readUInt16BE(ihl + 2), n - ihl);
    sys.write(tun, buf.subarray(ihl, ihl + innerLen), innerLen);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const a = process.argv.slice(2);
  let dev = 'tsvstun0';
  const vips: number[] = [];
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--dev') dev = a[++i]!;
    else if (a[i] === '--vip') vips.push(ipv4FromString(a[++i]!));
  }
  runAgent(dev, vips);
}
