/**
 * The lab's BGP router: BIRD 2 in a namespace, peering with each director (they announce the
 * VIP, src/ha/announce/bird.ts) and installing what they announce into the kernel as one
 * multipath route, which the kernel spreads over the directors by an L4 hash
 * (net.ipv4.fib_multipath_hash_policy=1). Passive: the directors open the sessions. Used by
 * `tsvs lab up dr --directors N` (topology.ts) and the tests.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { nsSh, shTry, spawnInNs, waitFor } from './netns.ts';

export interface RouterPeer {
  /** BIRD protocol name (letters, digits, _). */
  readonly name: string;
  readonly address: string;
  readonly as: number;
}

export interface RouterSettings {
  readonly routerId: string;
  readonly localAs: number;
  readonly peers: readonly RouterPeer[];
  /** Hold time the router proposes (s); the smaller of the two sides' is used. */
  readonly holdSeconds: number;
}

/** The router's BIRD configuration (pure). */
export function renderRouterConfig(s: RouterSettings): string {
  const lines = [
    '# tsvs lab: the BGP router (generated)',
    `router id ${s.routerId};`,
    'log stderr all;',
    'timeformat protocol iso long;',
    'protocol device {}',
    // merge paths: equal routes from several directors become one multipath kernel route.
    'protocol kernel kernel4 { ipv4 { import none; export all; }; merge paths on; }',
    'protocol kernel kernel6 { ipv6 { import none; export all; }; merge paths on; }',
  ];
  for (const p of s.peers) {
    const six = p.address.includes(':');
    lines.push(
      `protocol bgp ${p.name} {`,
      `  local as ${s.localAs};`,
      `  neighbor ${p.address} as ${p.as};`,
      '  passive on;',
      // After an error (a hold timer expiry) BIRD refuses the peer for `error wait time`
      // (default 60 s, growing to 300 s): a director that comes back is taken again after 1 s.
      '  error wait time 1, 10;',
      `  hold time ${s.holdSeconds};`,
      `  keepalive time ${Math.max(1, Math.floor(s.holdSeconds / 3))};`,
      '  graceful restart off;',
      `  ${six ? 'ipv6' : 'ipv4'} { import all; export none; };`,
      '}',
    );
  }
  return lines.join('\n') + '\n';
}

export interface RouterHandle {
  readonly pid: number;
  readonly conf: string;
  readonly ctl: string;
  readonly log: string;
}

/** Writes the configuration and starts BIRD in `ns` (foreground, so the PID is BIRD's); resolves once its socket answers. */
export async function startRouterBird(ns: string, base: string, s: RouterSettings): Promise<RouterHandle> {
  const h = { conf: `${base}.conf`, ctl: `${base}.ctl`, log: `${base}.log` };
  writeFileSync(h.conf, renderRouterConfig(s));
  rmSync(h.ctl, { force: true });
  nsSh(ns, ['sysctl', '-q', '-w', 'net.ipv4.fib_multipath_hash_policy=1']);
  shTry(['ip', 'netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv6.fib_multipath_hash_policy=1']);
  const pid = spawnInNs(ns, ['bird', '-f', '-c', h.conf, '-s', h.ctl], h.log);
  const ok = await waitFor(() => existsSync(h.ctl) && shTry(['birdc', '-s', h.ctl, 'show', 'status']).status === 0, 10000, 50);
  if (!ok) throw new Error(`the router's BIRD did not start: ${existsSync(h.log) ? readFileSync(h.log, 'utf8').slice(-1000) : ''}`);
  return { pid, ...h };
}

/** The next hops of the router's kernel route to `prefix` (sorted), [] without a route. */
export function routeNextHops(ns: string, prefix: string): string[] {
  const six = prefix.includes(':');
  const r = shTry(['ip', '-n', ns, ...(six ? ['-6'] : []), '-j', 'route', 'show', 'exact', prefix]);
  if (r.status !== 0 || !r.out.trim()) return [];
  const routes = JSON.parse(r.out) as { gateway?: string; nexthops?: { gateway?: string }[] }[];
  const out: string[] = [];
  for (const x of routes) {
    if (x.gateway) out.push(x.gateway);
    for (const n of x.nexthops ?? []) if (n.gateway) out.push(n.gateway);
  }
  return out.sort();
}

/**
 * Milliseconds from `t0` (performance.now()) until the router's route to `prefix` no longer goes
 * through `hop` (polled every ~2 ms); -1 after `timeoutMs`.
 */
export async function untilHopWithdrawn(ns: string, prefix: string, hop: string, t0: number, timeoutMs = 10000): Promise<number> {
  while (performance.now() - t0 < timeoutMs) {
    if (!routeNextHops(ns, prefix).includes(hop)) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 2));
  }
  return -1;
}

/** The router's BGP sessions: protocol name -> BGP state ("Established", "Active", ...). */
export function routerSessions(ctl: string): Record<string, string> {
  const r = shTry(['birdc', '-s', ctl, 'show', 'protocols']);
  const out: Record<string, string> = {};
  for (const line of r.out.split('\n')) {
    const m = /^(\S+)\s+BGP\s+\S+\s+\S+\s+\S+ \S+\s+(\S+)/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}
