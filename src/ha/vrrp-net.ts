/**
 * The side effects of a VRRP transition, behind narrow interfaces: virtual addresses on
 * interfaces, gratuitous ARP, notify scripts. Real implementations use rtnetlink and an AF_PACKET
 * socket; tests can pass fakes that record calls.
 */
import { splitCommand, type ScriptRunner } from '../health/io.ts';
import { readFileSync } from 'node:fs';
import { sys, C, check, sockaddrLl, ifIndex } from '../os/libc.ts';
import { buildGratuitousArp, parseMac, ETHERTYPE } from '../codec/ethernet.ts';
import { canonicalIp, formatIpv4, parseIpv4 } from '../core/addr.ts';
import type { VrrpAddress } from '../config/desired.ts';
import { sendUnsolicitedNa } from './vrrp-transport6.ts';
import type { AddrSpec, RouteTable } from '../os/rtnetlink.ts';
import { IFA_F } from '../os/rtnl-codec.ts';

export interface AddressManager {
  add(a: VrrpAddress, defaultDev: string): Promise<void>;
  del(a: VrrpAddress, defaultDev: string): Promise<void>;
}

export interface GarpSender {
  send(dev: string, ip: string, count: number): void;
}

export interface NotifyRunner {
  /** Starts `script` (split as keepalived splits it) with `args` appended, as `user` ("user [group]") or the script user; never waits. */
  run(script: string, args: readonly string[], user?: string): void;
}

const SCOPES: Readonly<Record<string, number>> = { global: 0, universe: 0, site: 200, link: 253, host: 254, nowhere: 255 };

/** A configured address as rtnetlink sets it (keepalived's scope names, or a number). */
export function addrSpec(a: VrrpAddress, defaultDev: string): AddrSpec {
  const scope = a.scope === undefined ? undefined : SCOPES[a.scope] ?? (/^\d+$/.test(a.scope) ? Number(a.scope) : undefined);
  // `brd +` / `brd -`: the host bits all set / all clear (keepalived's, like iproute2's).
  let brd = a.brd;
  if ((brd === '+' || brd === '-') && !a.addr.includes(':')) {
    const v = parseIpv4(a.addr) ?? 0;
    const mask = a.prefix === 0 ? 0 : (0xffffffff << (32 - a.prefix)) >>> 0;
    brd = a.prefix >= 31 ? undefined : formatIpv4(brd === '+' ? (v | ~mask) >>> 0 : (v & mask) >>> 0);
  }
  // Words keepalived turns into address flags, a peer, a preferred lifetime.
  let flags = 0, dad = false, peer: string | undefined, prefix = a.prefix, preferredLft: number | undefined;
  for (let i = 0; i < a.extra.length; i++) {
    const w = a.extra[i]!;
    if (w === 'home') flags |= IFA_F.HOMEADDRESS;
    else if (w === 'mngtmpaddr') flags |= IFA_F.MANAGETEMPADDR;
    else if (w === 'noprefixroute') flags |= IFA_F.NOPREFIXROUTE;
    else if (w === 'autojoin') flags |= IFA_F.MCAUTOJOIN;
    else if (w === '-nodad') dad = true;
    else if (w === 'peer') {
      const [p, len] = (a.extra[++i] ?? '').split('/');
      const ip = p ? canonicalIp(p) : null;
      if (ip && ip.includes(':') === a.addr.includes(':') && peer === undefined) {
        peer = ip;
        prefix = len !== undefined && /^\d+$/.test(len) ? Number(len) : ip.includes(':') ? 128 : 32;
      }
    } else if (w === 'preferred_lft') {
      const v = a.extra[++i] ?? '';
      preferredLft = v === 'forever' ? 0xffffffff : /^\d+$/.test(v) ? Number(v) : undefined;
    } else if (w === 'track_group') i++;
  }
  if (peer) brd = undefined;
  return { addr: a.addr, prefix, dev: a.dev ?? defaultDev, ...(brd ? { brd } : {}),
    ...(flags ? { flags } : {}), ...(dad ? { dad } : {}), ...(peer ? { peer } : {}), ...(preferredLft !== undefined ? { preferredLft } : {}), ...(scope !== undefined ? { scope } : {}), ...(a.label ? { label: a.label } : {}) };
}

/**
 * Adds/removes addresses through rtnetlink, as keepalived (IPv6 ones without duplicate address
 * detection, so a new master uses them at once); "exists"/"not found" are not errors.
 */
export function netlinkAddresses(rt: RouteTable): AddressManager {
  return {
    add: async (a, dev) => rt.address('add', addrSpec(a, dev)),
    del: async (a, dev) => rt.address('del', addrSpec(a, dev)),
  };
}

export function interfaceMac(dev: string): Uint8Array {
  const mac = parseMac(readFileSync(`/sys/class/net/${dev}/address`, 'utf8').trim());
  if (!mac) throw new Error(`no MAC address for ${dev}`);
  return mac;
}

/**
 * Gratuitous ARP on an AF_PACKET socket (42-byte broadcast frames); for IPv6 addresses,
 * unsolicited neighbour advertisements to ff02::1 instead (vrrp-transport6.ts).
 */
export const packetGarp: GarpSender = {
  send(dev, ip, count) {
    if (ip.includes(':')) {
      sendUnsolicitedNa(dev, ip, interfaceMac(dev), count);
      return;
    }
    const v4 = parseIpv4(ip);
    if (v4 === null) return;
    const fd = check('socket(AF_PACKET)', sys.socket(C.AF_PACKET, C.SOCK_RAW | C.SOCK_CLOEXEC, 0));
    try {
      const frame = Buffer.alloc(42);
      buildGratuitousArp(frame, 0, interfaceMac(dev), v4);
      const sa = sockaddrLl(ifIndex(dev), ETHERTYPE.ARP);
      for (let i = 0; i < count; i++) sys.sendto(fd, frame, frame.length, 0, sa, sa.length);
    } finally {
      sys.close(fd);
    }
  },
};

/** Notify scripts through a ScriptRunner (who runs them and whether they may: its policy), never waiting. */
export function runnerNotify(scripts: ScriptRunner): NotifyRunner {
  return { run(script, args, user) { void scripts.run([...splitCommand(script), ...args], 0, user); } };
}
