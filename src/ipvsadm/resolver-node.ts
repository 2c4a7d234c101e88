/**
 * A Resolver backed by /etc/hosts and /etc/services (the "files" NSS backend), read once at
 * construction. Reverse DNS is off by default (it would send traffic off the machine); pass
 * `{ dnsReverse: true }` to try dns.reverse() with a short timeout after /etc/hosts.
 */
import { readFileSync } from 'node:fs';
import { promises as dnsp } from 'node:dns';
import { canonicalIp } from '../core/addr.ts';
import type { Af, Protocol } from '../core/types.ts';
import type { Resolver } from './types.ts';

export interface HostsEntry { readonly addr: string; readonly names: readonly string[] }
export interface ServicesEntry { readonly name: string; readonly port: number; readonly proto: string; readonly aliases: readonly string[] }

export function parseHosts(text: string): HostsEntry[] {
  const out: HostsEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const [addr, ...names] = line.split(/\s+/);
    const c = addr ? canonicalIp(addr) : null;
    if (c && names.length > 0) out.push({ addr: c, names });
  }
  return out;
}

export function parseServices(text: string): ServicesEntry[] {
  const out: ServicesEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const [name, pp, ...aliases] = line.split(/\s+/);
    const m = /^(\d+)\/(\w+)$/.exec(pp ?? '');
    if (!name || !m) continue;
    out.push({ name, port: Number(m[1]), proto: m[2]!, aliases });
  }
  return out;
}

export interface NodeResolverOptions {
  readonly hostsText?: string;
  readonly servicesText?: string;
  readonly dnsReverse?: boolean;
  readonly dnsTimeoutMs?: number;
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export function createNodeResolver(opts: NodeResolverOptions = {}): Resolver {
  const hosts = parseHosts(opts.hostsText ?? readOr('/etc/hosts'));
  const services = parseServices(opts.servicesText ?? readOr('/etc/services'));
  const timeout = opts.dnsTimeoutMs ?? 300;
  return {
    async addrToHost(_af: Af, addr: string): Promise<string | null> {
      const h = hosts.find((e) => e.addr === addr);
      if (h) return h.names[0]!;
      if (!opts.dnsReverse) return null;
      const r = new dnsp.Resolver({ timeout, tries: 1 });
      try {
        const names = await Promise.race([
          r.reverse(addr),
          new Promise<string[]>((resolve) => setTimeout(() => resolve([]), timeout).unref()),
        ]);
        return names[0] ?? null;
      } catch {
        return null;
      } finally {
        r.cancel();
      }
    },
    portToService(port: number, proto: Protocol): string | null {
      return services.find((s) => s.port === port && s.proto === proto)?.name ?? null;
    },
    hostToAddr(name: string): string | null {
      const h = hosts.find((e) => !e.addr.includes(':') && e.names.includes(name));
      return h ? h.addr : null;
    },
    serviceToPort(name: string, proto: Protocol): number | null {
      return services.find((s) => s.proto === proto && (s.name === name || s.aliases.includes(name)))?.port ?? null;
    },
  };
}
