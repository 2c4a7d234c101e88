/**
 * `--http [ADDR:]PORT`: where the HTTP listener binds. Loopback unless an address is named:
 * "9100" and ":9100" bind 127.0.0.1; "0.0.0.0:9100", "[::]:9100", "10.0.0.5:9100" bind what
 * they say. Port 0 takes a free port (the daemon logs the one it got).
 */
import { isIP } from 'node:net';

export interface ListenAddr {
  readonly host: string;
  readonly port: number;
}

export const DEFAULT_HTTP_HOST = '127.0.0.1';

export function parseListenAddr(s: string): ListenAddr | { error: string } {
  const m = /^(?:\[([^\]]*)\]:|([^:[\]]*):)?(\d+)$/.exec(s.trim());
  if (!m) return { error: `'${s}' is not [ADDR:]PORT (e.g. 9180, 127.0.0.1:9180, [::1]:9180)` };
  const host = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port > 65535) return { error: `port ${m[3]} is out of range 0..65535` };
  if (host === '') return { host: DEFAULT_HTTP_HOST, port };
  if (m[1] !== undefined && isIP(host) !== 6) return { error: `'${host}' is not an IPv6 address` };
  if (m[2] !== undefined && isIP(host) !== 4) return { error: `'${host}' is not an IPv4 address (write IPv6 as [ADDR]:PORT)` };
  return { host, port };
}

export function formatListenAddr(a: ListenAddr): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
