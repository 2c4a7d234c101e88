/**
 * keepalived's nftables table for use_vmac (vrrp_nftables.c nft_add_vmac, as 2.2.7 leaves it,
 * checked with `nft list ruleset` beside it): `table ip keepalived` / `table ip6 keepalived`
 * with a map from each macvlan to its base interface and an output chain that sends the
 * macvlan's multicast membership reports (IGMP, MLDv2) out of the base interface instead (so
 * switches learn the groups on the real MAC) and, for IPv6, drops its router solicitations.
 * The table is removed when the last macvlan of its family goes (keepalived removes it at exit).
 */
import { runNftScript } from '../os/nft.ts';

export type NftScriptRunner = (script: string) => { ok: true } | { ok: false; error: string };

export interface VmacFirewallEntry {
  readonly family: 4 | 6;
  readonly vmac: string;
  readonly base: string;
}

const q = (name: string) => `"${name.replace(/"/g, '')}"`;

/**
 * The `nft -f` script that adds `e` (pure; the table, map, set and chain are created if absent).
 * The rules are the same for every macvlan (they look the interface up in the map): `rules` only
 * for the family's first one. The `out` chain is shared with no_accept's rules
 * (./accept-firewall.ts), so nothing here flushes or rewrites it.
 */
export function vmacFirewallAdd(e: VmacFirewallEntry, rules = true): string {
  const t = `${e.family === 6 ? 'ip6' : 'ip'} keepalived`;
  const lines = [
    `add table ${t}`,
    `add map ${t} vmac_map { type iface_index : iface_index; }`,
    ...(e.family === 6 ? [`add set ${t} vmac_set { type iface_index; }`] : []),
    `add chain ${t} out { type filter hook output priority filter - 1; policy accept; }`,
    ...(!rules ? [] : e.family === 6
      ? [`add rule ${t} out icmpv6 type mld2-listener-report meta oifkind "macvlan" dup to ip6 daddr device oif map @vmac_map drop`,
        `add rule ${t} out icmpv6 type nd-router-solicit meta oifkind "macvlan" oif @vmac_set drop`]
      : [`add rule ${t} out ip protocol igmp meta oifkind "macvlan" dup to ip daddr device oif map @vmac_map drop`]),
    `add element ${t} vmac_map { ${q(e.vmac)} : ${q(e.base)} }`,
    ...(e.family === 6 ? [`add element ${t} vmac_set { ${q(e.vmac)} }`] : []),
  ];
  return lines.join('\n') + '\n';
}

/** The script that removes `e`; with `last`, the family's whole table. */
export function vmacFirewallRemove(e: VmacFirewallEntry, last: boolean): string {
  const t = `${e.family === 6 ? 'ip6' : 'ip'} keepalived`;
  if (last) return `delete table ${t}\n`;
  return [`delete element ${t} vmac_map { ${q(e.vmac)} }`, ...(e.family === 6 ? [`delete element ${t} vmac_set { ${q(e.vmac)} }`] : [])].join('\n') + '\n';
}

/** The macvlans' firewall entries of one VRRP process. Failures are logged, never thrown. */
export class VmacFirewall {
  private readonly entries: VmacFirewallEntry[] = [];
  constructor(private readonly warn: (msg: string) => void, private readonly run: NftScriptRunner = runNftScript) {}

  add(e: VmacFirewallEntry): void {
    const r = this.run(vmacFirewallAdd(e, !this.entries.some((x) => x.family === e.family)));
    if (!r.ok) { this.warn(`nftables: cannot add the rules for VMAC ${e.vmac}: ${r.error}`); return; }
    this.entries.push(e);
  }

  /** Before the macvlan is deleted (an interface element is held by index). */
  remove(vmac: string): void {
    const i = this.entries.findIndex((x) => x.vmac === vmac);
    if (i < 0) return;
    const [e] = this.entries.splice(i, 1);
    const last = !this.entries.some((x) => x.family === e!.family);
    const r = this.run(vmacFirewallRemove(e!, last));
    if (!r.ok) this.warn(`nftables: cannot remove the rules for VMAC ${vmac}: ${r.error}`);
  }
}
