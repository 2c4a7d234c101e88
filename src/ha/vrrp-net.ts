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
