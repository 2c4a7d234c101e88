/**
 * node_exporter's IPVS label values, derived as its collector derives them from
 * /proc/net/ip_vs (prometheus/node_exporter collector/ipvs_linux.go over prometheus/procfs
 * ipvs.go): a firewall-mark service has local_address "", local_port "0", proto "FWM" and
 * local_mark its mark as the kernel prints it (%08X); an address service has local_mark "".
 * Addresses are written as Go's net.IP.String() writes them (IPv4-mapped IPv6 as dotted quad).
 */
import type { ServiceKey } from '../core/types.ts';
import { labels } from './prom.ts';
import { canonicalIp } from '../core/addr.ts';

export function hex8(v: number): string {
  return (v >>> 0).toString(16).toUpperCase().padStart(8, '0');
}

/** Go's net.IP.String() of a canonical tsvs address (RFC 5952 already, but ::ffff:a.b.c.d is a.b.c.d). */
export function goIp(addr: string): string {
  if (addr.startsWith('::ffff:') && addr.includes('.')) return addr.slice(7);
  return addr;
}

export interface ServiceLabelValues {
  readonly local_address: string;
  readonly local_mark: string;
  readonly local_port: string;
  readonly proto: string;
}

export function serviceLabelValues(k: ServiceKey): ServiceLabelValues {
  if (k.fwmark > 0) return { local_address: '', local_mark: hex8(k.fwmark), local_port: '0', proto: 'FWM' };
  return { local_address: goIp(k.addr), local_mark: '', local_port: String(k.port), proto: k.protocol.toUpperCase() };
}

/** `{local_address,local_mark,local_port,proto}` (label names sorted, as client_golang writes them). */
export function serviceLabels(k: ServiceKey, extra: readonly (readonly [string, string])[] = []): string {
  const v = serviceLabelValues(k);
  return labels([['local_address', v.local_address], ['local_mark', v.local_mark], ['local_port', v.local_port], ['proto', v.proto], ...extra]);
}

/** node_exporter's full backend label set, names sorted. */
export function backendLabels(k: ServiceKey, addr: string, port: number, extra: readonly (readonly [string, string])[] = []): string {
  const v = serviceLabelValues(k);
  return labels([
    ['local_address', v.local_address], ['local_mark', v.local_mark], ['local_port', v.local_port], ['proto', v.proto],
    ['remote_address', goIp(addr)], ['remote_port', String(port)], ...extra,
  ]);
}

/** A backend label set up to the remote address's value: append `ADDR",remote_port="PORT"}`. */
export function backendPrefix(k: ServiceKey): string {
  const v = serviceLabelValues(k);
  return labels([['local_address', v.local_address], ['local_mark', v.local_mark], ['local_port', v.local_port], ['proto', v.proto]]).slice(0, -1) + ',remote_address="';
}

/** Splits "addr:port" / "[v6]:port" (how health status names real servers), the address made canonical as the table has it. */
export function splitHostPort(s: string): { addr: string; port: number } | null {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  return m ? { addr: canonicalIp(m[1]!) ?? m[1]!, port: Number(m[2]) } : null;
}

/** How tsvsadm writes a service: "TCP 10.0.0.1:80", "UDP [2001:db8::1]:53", "FWM 7". */
export function serviceName(k: ServiceKey): string {
  if (k.fwmark > 0) return `FWM ${k.fwmark}${k.af === 6 ? ' IPv6' : ''}`;
  const a = k.af === 6 ? `[${k.addr}]` : k.addr;
  return `${k.protocol.toUpperCase()} ${a}:${k.port}`;
}
