/**
 * use_vmac: the macvlan keepalived creates for an instance (vrrp_vmac.c netlink_link_add_vmac),
 * created at start whatever the state, removed at stop. As keepalived 2.2.7 leaves it (checked in
 * a namespace beside it): private mode, the VRRP MAC (00:00:5e:00:01:VRID), IPv6 off and no
 * link-local generated, up; the base interface answers ARP only for its own addresses
 * (arp_ignore 1, arp_filter 1, left so at stop as keepalived leaves them) and the macvlan
 * accepts packets from its own addresses (arp_ignore 1, accept_local 1, promote_secondaries 1,
 * rp_filter 0). An interface of that name left by an earlier run on the same base is replaced;
 * any other interface of that name is not touched, and the instance runs on its base interface.
 * IPv6 (checked the same way): the MAC 00:00:5e:00:02:VRID, IPv6 left on but no address
 * generated, no IPv4 parameter set; the adverts' source, the base interface's link-local
 * address (or the configured source), is added to the macvlan (/64, nodad, preferred_lft 0 so
 * nothing else picks it as a source) unless vmac_xmit_base. Both families: keepalived's
 * nftables rules for the macvlan (vrrp-firewall.ts).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { ifIndex } from '../os/libc.ts';
import { MACVLAN_MODE } from '../os/rtnl-codec.ts';
import type { AddrSpec, MacvlanSpec } from '../os/rtnl-codec.ts';
import { parseMac } from '../codec/ethernet.ts';
import type { VrrpLog } from './vrrp-instance.ts';

/** What creating a VMAC needs from rtnetlink (NetlinkRoutes has these). */
export interface VmacLinks {
  addMacvlan(s: MacvlanSpec): void;
  setLink(dev: string, o: { up?: boolean; addrGenNone?: boolean }): void;
  deleteLink(dev: string): void;
  address(op: 'add' | 'del', a: AddrSpec): void;
}

/** Writes one sysctl under /proc/sys (a path relative to it). */
export type SysctlWriter = (path: string, value: string) => void;
export const procSysctl: SysctlWriter = (path, value) => writeFileSync(`/proc/sys/${path}`, value);

export interface VmacSpec {
  readonly name: string;
  readonly base: string;
  readonly mac: string;
  readonly instance: string;
  readonly family: 4 | 6;
  /** IPv6: the address the adverts leave from, added to the macvlan (absent: vmac_xmit_base). */
  readonly source?: string;
}

/** Creates the VMAC; false (said) when it cannot be, and the instance then runs on its base interface. */
export function createVmac(v: VmacSpec, links: VmacLinks, log: VrrpLog, sysctl: SysctlWriter = procSysctl): boolean {
  const mac = parseMac(v.mac);
  if (!mac) { log.warn({ instance: v.instance, mac: v.mac }, 'VMAC: not a MAC address'); return false; }
  try {
    if (existsSync(`/sys/class/net/${v.name}`)) {
      // keepalived replaces a VMAC an earlier run left on this base; another interface of the name is not ours.
      if (!existsSync(`/sys/class/net/${v.name}/lower_${v.base}`)) {
        log.warn({ instance: v.instance, vmac: v.name }, `VMAC ${v.name} conflicts with existing interface`);
        return false;
      }
      log.info({ instance: v.instance, vmac: v.name }, `(${v.instance}) Removing old VMAC interface ${v.name}`);
      links.deleteLink(v.name);
    }
    links.addMacvlan({ name: v.name, link: ifIndex(v.base), mac, mode: MACVLAN_MODE.private });
  } catch (e) {
    log.warn({ instance: v.instance, vmac: v.name, err: (e as Error).message }, `(${v.instance}): Unable to create VMAC interface ${v.name}`);
    return false;
  }
  const set = (path: string, value: string) => {
    try { sysctl(path, value); } catch (e) { log.warn({ instance: v.instance, sysctl: path, err: (e as Error).message }, 'VMAC: cannot set a kernel parameter'); }
  };
  if (v.family === 4) {
    set(`net/ipv4/conf/${v.base}/arp_ignore`, '1');
    set(`net/ipv4/conf/${v.base}/arp_filter`, '1');
    set(`net/ipv4/conf/${v.name}/arp_ignore`, '1');
    set(`net/ipv4/conf/${v.name}/accept_local`, '1');
    set(`net/ipv4/conf/${v.name}/promote_secondaries`, '1');
    set(`net/ipv4/conf/${v.name}/rp_filter`, '0');
    set(`net/ipv6/conf/${v.name}/disable_ipv6`, '1');
  }
  try {
    links.setLink(v.name, { addrGenNone: true });
    links.setLink(v.name, { up: true });
    if (v.family === 6 && v.source) links.address('add', { addr: v.source, prefix: 64, dev: v.name, preferredLft: 0 });
  } catch (e) {
    log.warn({ instance: v.instance, vmac: v.name, err: (e as Error).message }, `(${v.instance}) cannot set VMAC ${v.name} up`);
    links.deleteLink(v.name);
    return false;
  }
  log.info({ instance: v.instance, vmac: v.name, mac: v.mac }, `(${v.instance}): Success creating VMAC interface ${v.name}`);
  return true;
}

/** Removes a VMAC at stop (keepalived: "Success removing VMAC interface"). */
export function removeVmac(name: string, links: VmacLinks, log: VrrpLog): void {
  try {
    links.deleteLink(name);
    log.info({ vmac: name }, `Success removing VMAC interface ${name}`);
  } catch (e) {
    log.warn({ vmac: name, err: (e as Error).message }, `Error removing VMAC interface ${name}`);
  }
}
