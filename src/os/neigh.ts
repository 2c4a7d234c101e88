/**
 * Next hops toward real servers, from the kernel's own tables (`ip -j route get`, `ip -j neigh`,
 * `ip -j link`): the outgoing interface, our MAC and address on it, the MTU, and the neighbour's
 * MAC (resolved by triggering ARP with a datagram when the entry is missing).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createSocket } from 'node:dgram';
import { ipv4FromString } from '../core/addr4.ts';
import { parseIp, type Ip } from '../core/addr.ts';

/** How to reach a real server (resolved from the routing and neighbour tables). */
export interface NextHop {
  readonly ifindex: number;
  /** Destination MAC (the real server's for DR). */
  readonly mac: Uint8Array;
  /** Our MAC on ifindex. */
  readonly srcMac: Uint8Array;
  /** Our address toward the real server (TUN outer source; IPv4 hops). */
  readonly src: number;
  /** The same for an IPv6 real server. */
  readonly src6?: Ip;
  readonly mtu: number;
}

const run = promisify(execFile);

async function ipJson<T>(args: string[]): Promise<T> {
  const { stdout } = await run('ip', ['-j', ...args]);
  return JSON.parse(stdout || '[]') as T;
}

export function parseMac(s: string): Uint8Array {
  const parts = s.split(':').map((x) => parseInt(x, 16));
  if (parts.length !== 6 || parts.some((x) => !(x >= 0 && x <= 255))) throw new Error(`bad MAC ${s}`);
  return new Uint8Array(parts);
}

async function poke(addr: string): Promise<void> {
  await new Promise<void>((resolve) => {
    const s = createSocket(addr.includes(':') ? 'udp6' : 'udp4');
    s.on('error', () => { s.close(); resolve(); });
    s.send(Buffer.alloc(0), 9, addr, () => { s.close(); resolve(); });
  });
}

/**
 * Resolves how to reach `rip` (IPv4 or IPv6 text). null when there is no route or no ARP / NDP
 * answer in time.
 */
export async function resolveNextHop(rip: string, timeoutMs = 2000): Promise<NextHop | null> {
  const v6 = rip.includes(':');
  const fam = v6 ? ['-6'] : [];
  const routes = await ipJson<{ dst: string; gateway?: string; dev: string; prefsrc?: string }[]>([...fam, 'route', 'get', rip]).catch(() => []);
  const r = routes[0];
  if (!r) return null;
  const links = await ipJson<{ ifindex: number; address: string; mtu: number }[]>(['link', 'show', 'dev', r.dev]);
  const l = links[0];
  if (!l) return null;
  const via = r.gateway ?? rip;
  const deadline = Date.now() + timeoutMs;
  let poked = false;
  for (;;) {
    const n = await ipJson<{ dst: string; lladdr?: string; state?: string[] }[]>([...fam, 'neigh', 'show', 'to', via, 'dev', r.dev]).catch(() => []);
    const e = n.find((x) => x.lladdr && !(x.state ?? []).includes('FAILED') && !(x.state ?? []).includes('INCOMPLETE'));
    if (e?.lladdr) {
      const src6 = v6 && r.prefsrc ? parseIp(r.prefsrc) : null;
      return {
        ifindex: l.ifindex,
        mac: parseMac(e.lladdr),
        srcMac: parseMac(l.address),
        src: v6 ? 0 : ipv4FromString(r.prefsrc ?? '0.0.0.0'),
        ...(src6 ? { src6 } : {}),
        mtu: l.mtu,
      };
    }
    if (Date.now() > deadline) return null;
    if (!poked) { await poke(via); poked = true; }
    await new Promise((res) => setTimeout(res, 50));
  }
}
