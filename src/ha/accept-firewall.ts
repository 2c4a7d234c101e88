/**
 * keepalived's accept-mode firewall (vrrp_nftables.c; Debian's keepalived 2.2.7 is built with
 * nftables only): a MASTER that is not the address owner and runs without accept mode
 * (`no_accept`, or `vrrp_strict` by default) must not take packets to or from its virtual
 * addresses. keepalived keeps, in `table ip keepalived` (and `ip6`), a `vips` set, an `out` chain
 * dropping `saddr @vips` and an `in` chain dropping `daddr @vips` (both priority -1), set up the
 * first time an instance of that family becomes MASTER; an instance's addresses are in the set
 * while it is MASTER. Same table, names and order, so `nft list ruleset` reads as under keepalived.
 *
 * The same table holds use_vmac's entries (./vrrp-firewall.ts): everything here is added with
 * `add` (idempotent) and elements are added and deleted one by one, never the table rewritten.
 */
import { runNftScript } from '../os/nft.ts';
import type { NftScriptRunner } from './vrrp-firewall.ts';

const fam = (f: 4 | 6) => (f === 4 ? 'ip' : 'ip6');

/**
 * The script that sets a family's chains, set and rules up (pure; keepalived's nft_setup_ipv4/6 +
 * _vips, in its order, so `nft list ruleset` lists them as keepalived's). IPv6 lets neighbour
 * solicitations and advertisements through first (a constant `neighbor-discovery` set), and
 * sends link-local addresses to chains of their own (`in_link_local`, `out_link_local`; empty
 * until a link-local address is refused, keepalived's setup_link_local_checks).
 */
export function acceptFirewallSetup(f: 4 | 6): string {
  const t = `${fam(f)} keepalived`;
  return [
    `add table ${t}`,
    `add chain ${t} out { type filter hook output priority filter - 1; policy accept; }`,
    `add chain ${t} in { type filter hook input priority filter - 1; policy accept; }`,
    ...(f === 6 ? [`add chain ${t} in_link_local`, `add chain ${t} out_link_local`] : []),
    `add set ${t} vips { type ${f === 4 ? 'ipv4_addr' : 'ipv6_addr'}; }`,
    ...(f === 6 ? [
      `add set ${t} neighbor-discovery { type icmpv6_type; flags constant; elements = { nd-neighbor-solicit, nd-neighbor-advert }; }`,
      `add rule ${t} in icmpv6 type @neighbor-discovery accept`,
      `add rule ${t} in ip6 daddr fe80::/10 goto in_link_local`,
      `add rule ${t} out icmpv6 type @neighbor-discovery accept`,
      `add rule ${t} out ip6 saddr fe80::/10 goto out_link_local`,
    ] : []),
    `add rule ${t} in ${fam(f)} daddr @vips drop`,
    `add rule ${t} out ${fam(f)} saddr @vips drop`,
  ].join('\n') + '\n';
}

/** The script that adds (or deletes) addresses of one family in its `vips` set (pure). */
export function acceptFirewallElements(op: 'add' | 'delete', f: 4 | 6, addrs: readonly string[]): string {
  return addrs.length ? `${op} element ${fam(f)} keepalived vips { ${addrs.join(', ')} }\n` : '';
}

/** The firewall the VRRP instances drive: whose addresses are refused now. */
export interface AcceptFirewall {
  /** Refuses traffic to and from `owner`'s addresses (a MASTER without accept mode); replaces its earlier ones. */
  add(owner: string, addrs: readonly string[]): void;
  /** Stops refusing `owner`'s addresses (it left MASTER). */
  del(owner: string): void;
  /** Removes the tables (the VRRP side stops; keepalived's nft_end). */
  close(): void;
}

/** Through `nft`; a failure throws with nft's words (the instance logs it). */
export function nftAcceptFirewall(run: NftScriptRunner = runNftScript): AcceptFirewall {
  const byOwner = new Map<string, readonly string[]>();
  const ready = new Set<4 | 6>();
  const union = () => new Set([...byOwner.values()].flat());
  const exec = (script: string) => {
    if (!script) return;
    const r = run(script);
    if (!r.ok) throw new Error(`nftables: ${r.error}`);
  };
  /** Makes the set hold the union after `change`: the elements that came added, those that left deleted. */
  const apply = (change: () => void) => {
    const before = union();
    change();
    const after = union();
    const came = [...after].filter((a) => !before.has(a)), left = [...before].filter((a) => !after.has(a));
    let script = '';
    for (const f of [4, 6] as const) {
      const of = (l: string[]) => l.filter((a) => a.includes(':') === (f === 6));
      if (of(came).length && !ready.has(f)) { script += acceptFirewallSetup(f); ready.add(f); }
      if (ready.has(f)) script += acceptFirewallElements('delete', f, of(left)) + acceptFirewallElements('add', f, of(came));
    }
    exec(script);
  };
  return {
    add: (owner, addrs) => apply(() => byOwner.set(owner, addrs)),
    del: (owner) => { if (byOwner.has(owner)) apply(() => byOwner.delete(owner)); },
    close: () => {
      byOwner.clear();
      for (const f of ready) run(`delete table ${fam(f)} keepalived\n`);
      ready.clear();
    },
  };
}
