/**
 * VRRP multicast groups (keepalived 2.2.7: global_defs vrrp_mcast_group4/6, vrrp_instance
 * mcast_dst_ip): the address checks keepalived makes while reading them.
 */
import type { Ip } from '../../core/addr.ts';

/** keepalived's defaults (INADDR_VRRP_GROUP, INADDR6_VRRP_GROUP). */
export const DEFAULT_VRRP_GROUP4 = '224.0.0.18';
export const DEFAULT_VRRP_GROUP6 = 'ff02::12';

/** IN_MULTICAST (224.0.0.0/4) or IN6_IS_ADDR_MULTICAST (ff00::/8). */
export function isMulticast(ip: Ip): boolean {
  return ip.af === 4 ? ip.words[0]! >>> 28 === 0xe : ip.words[0]! >>> 24 === 0xff;
}

/** IN6_IS_ADDR_MC_LINKLOCAL: ff02::/16 with any flags (ffX2::). */
export function isLinkLocalMulticast6(ip: Ip): boolean {
  return ip.af === 6 && ip.words[0]! >>> 24 === 0xff && ((ip.words[0]! >>> 16) & 0x0f) === 0x2;
}
