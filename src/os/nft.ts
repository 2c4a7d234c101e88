/**
 * The daemon's own nftables table, `table inet tsvs`. It keeps the director's kernel from
 * handling what the packet forwarder handles (AF_PACKET taps see frames before netfilter, so
 * dropping in the input hook costs the forwarder nothing):
 *  - prerouting (priority -300, before conntrack and the route lookup): drop VIP:port traffic of
 *    every virtual service (no RST from the director's kernel, and no kernel work past the drop);
 *  - forward: drop replies from NAT real servers (RIP:port), which the forwarder rewrites itself.
 * Installing replaces the whole table atomically (one `nft -f` transaction that deletes any old
 * table first), so it is idempotent and a start after a crash removes what the last run left.
 */
import { execFileSync, spawnSync } from 'node:child_process';

export const TABLE = 'tsvs';

export interface NftRules {
  /** Virtual services: protocol, VIP (IPv4/IPv6 text), port (0 = every port of that address). */
  readonly vips: readonly { readonly protocol: 'tcp' | 'udp'; readonly addr: string; readonly port: number }[];
  /** NAT real servers whose replies the forwarder rewrites. */
  readonly masq: readonly { readonly protocol: 'tcp' | 'udp'; readonly addr: string; readonly port: number }[];
}

function fam(addr: string): 'ip' | 'ip6' {
  return addr.includes(':') ? 'ip6' : 'ip';
}

/** The `nft -f` script for `rules` (pure; tested). */
export function renderNft(rules: NftRules): string {
  const lines: string[] = [];
  lines.push(`table inet ${TABLE}`, `delete table inet ${TABLE}`, `table inet ${TABLE} {`);
  lines.push('  chain prerouting {', '    type filter hook prerouting priority -300; policy accept;');
  for (const v of rules.vips) {
    lines.push(`    ${fam(v.addr)} daddr ${v.addr} ${v.port ? `${v.protocol} dport ${v.port}` : `meta l4proto ${v.protocol}`} counter drop`);
  }
  lines.push('  }');
  lines.push('  chain forward {', '    type filter hook forward priority -150; policy accept;');
  for (const m of rules.masq) {
    lines.push(`    ${fam(m.addr)} saddr ${m.addr} ${m.port ? `${m.protocol} sport ${m.port}` : `meta l4proto ${m.protocol}`} counter drop`);
  }
  lines.push('  }', '}');
  return lines.join('\n') + '\n';
}

/** Installs (or replaces) the table. Throws with nft's message on failure. */
export function installNft(rules: NftRules, netns?: string): void {
  const argv = netns ? ['ip', 'netns', 'exec', netns, 'nft', '-f', '-'] : ['nft', '-f', '-'];
  execFileSync(argv[0]!, argv.slice(1), { input: renderNft(rules), stdio: ['pipe', 'ignore', 'pipe'] });
}

/** Removes the table if present (no error when absent). */
export function removeNft(netns?: string): boolean {
  const argv = netns ? ['ip', 'netns', 'exec', netns, 'nft', 'delete', 'table', 'inet', TABLE] : ['nft', 'delete', 'table', 'inet', TABLE];
  return spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore' }).status === 0;
}

export function nftTablePresent(netns?: string): boolean {
  const argv = netns ? ['ip', 'netns', 'exec', netns, 'nft', 'list', 'table', 'inet', TABLE] : ['nft', 'list', 'table', 'inet', TABLE];
  return spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore' }).status === 0;
}

/** Runs an `nft -f -` script; the error is nft's message (a value: callers log it). */
export function runNftScript(script: string): { ok: true } | { ok: false; error: string } {
  const r = spawnSync('nft', ['-f', '-'], { input: script, encoding: 'utf8', stdio: ['pipe', 'ignore', 'pipe'] });
  if (r.error) return { ok: false, error: r.error.message };
  return r.status === 0 ? { ok: true } : { ok: false, error: (r.stderr || `nft exited ${r.status}`).trim() };
}
