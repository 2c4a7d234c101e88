/**
 * Stable, URL-safe identifiers of services and real servers for the HTTP API, the dashboard and
 * drains: `tcp-10.0.0.1-80`, `udp-2001:db8::1-53`, `fwm-7` (IPv6: `fwm6-7`); a real server is
 * `ADDR-PORT`. Addresses are canonical (RFC 5952), so one service has one id.
 */
import { canonicalIp } from '../core/addr.ts';
import type { Af, Protocol, ServiceKey } from '../core/types.ts';

export function serviceId(k: ServiceKey): string {
  if (k.fwmark > 0) return `${k.af === 6 ? 'fwm6' : 'fwm'}-${k.fwmark >>> 0}`;
  return `${k.protocol}-${k.addr}-${k.port}`;
}

export function realId(addr: string, port: number): string {
  return `${addr}-${port}`;
}

const PROTOS: readonly Protocol[] = ['tcp', 'udp', 'sctp'];

function port(s: string | undefined): number | null {
  if (s === undefined || !/^\d{1,5}$/.test(s)) return null;
  const n = Number(s);
  return n <= 65535 ? n : null;
}

export function parseServiceId(id: string): ServiceKey | null {
  const f = /^fwm(6?)-(\d{1,10})$/.exec(id);
  if (f) {
    const mark = Number(f[2]);
    if (mark < 1 || mark > 0xffffffff) return null;
    const af: Af = f[1] ? 6 : 4;
    return { af, fwmark: mark, protocol: 'tcp', addr: af === 6 ? '::' : '0.0.0.0', port: 0 };
  }
  const first = id.indexOf('-');
  const last = id.lastIndexOf('-');
  if (first < 0 || last <= first) return null;
  const protocol = id.slice(0, first) as Protocol;
  if (!PROTOS.includes(protocol)) return null;
  const addr = canonicalIp(id.slice(first + 1, last));
  const p = port(id.slice(last + 1));
  if (addr === null || p === null) return null;
  return { af: addr.includes(':') ? 6 : 4, fwmark: 0, protocol, addr, port: p };
}

export function parseRealId(id: string): { af: Af; addr: string; port: number } | null {
  const last = id.lastIndexOf('-');
  if (last < 0) return null;
  const addr = canonicalIp(id.slice(0, last));
  const p = port(id.slice(last + 1));
  if (addr === null || p === null) return null;
  return { af: addr.includes(':') ? 6 : 4, addr, port: p };
}
