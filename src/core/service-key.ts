/**
 * The one text key of a virtual service, used wherever services are compared or mapped by text:
 * config diffs and reloads, health checker identities, the forwarders' listener and decision-ring
 * maps. ("tcp 10.0.0.1:80", "udp [2001:db8::1]:53", "fwmark 5", "fwmark 5 v6".) The engine keeps
 * its own numeric index for the per-packet lookup.
 */
import type { Protocol, ServiceKey } from './types.ts';

/** `addr:port`, an IPv6 address in brackets (`[::1]:80`). */
export function hostPort(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

export function serviceKeyString(k: ServiceKey): string {
  if (k.fwmark > 0) return k.af === 6 ? `fwmark ${k.fwmark} v6` : `fwmark ${k.fwmark}`;
  return serviceKeyText(k.protocol, k.addr, k.port);
}

/** serviceKeyString of an address service, without a key object (per-connection paths). */
export function serviceKeyText(protocol: Protocol, addr: string, port: number): string {
  return `${protocol} ${hostPort(addr, port)}`;
}
