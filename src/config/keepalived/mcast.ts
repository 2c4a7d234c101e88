/**
 * VRRP multicast groups (keepalived 2.2.7: global_defs vrrp_mcast_group4/6, vrrp_instance
 * mcast_dst_ip): the link-local check keepalived makes while reading an IPv6 one (the multicast
 * check itself is core/addr.ts isMulticast, which the transports use too).
 */
import type { Ip } from '../../core/addr.ts';

/** IN6_IS_ADDR_MC_LINKLOCAL: ff02::/16 with any flags (ffX2::). */
export function isLinkLocalMulticast6(ip: Ip): boolean {
  return ip.af === 6 && ip.words[0]! >>> 24 === 0xff && ((ip.words[0]! >>> 16) & 0x0f) === 0x2;
}
