/**
 * keepalived's accept-mode firewall (vrrp_nftables.c; Debian's keepalived 2.2.7 is built with
 * nftables only): a MASTER that is not the address owner and runs without accept mode
 * (`no_accept`, or `vrrp_strict` by default) must not take packets to or from its virtual
 * addresses. keepalived keeps, in `table ip keepalived` (and `ip6`), a `vips` set, an `out` chain
 * dropping `saddr @vips` and an `in` chain dropping `daddr @vips` (both priority -1), set up the
 * first time an instance of that family becomes MASTER; an instance's addresses are in the set
 * while it is MASTER. Same table, names and order, so `nft list ruleset` reads as under keepalived.
 * A link-local IPv6 address (fe80::/10) is sent by the setup's first rules to the `in_link_local`
 * / `out_link_local` chains, never reaching `@vips`: keepalived keeps those in a set of their own,
 * `vips_link_local` (address . interface index, the address's interface), made with its two drop
 * rules the first time one is needed (nft_update_ipv6_address, setup_link_local_checks).
 * Under dont_track_primary (and without global_defs nftables_ifindex) a link-local address on
 * the instance's own interface, or written no_track, goes in `vips_link_local_name` (address .
 * interface name) instead, with its own two rules: the instance does not follow that interface,
 * which may go and come back with another index.
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

/** An address refused and the interface it is on (a link-local address is refused on that one only). */
export interface FirewallAddress {
  readonly addr: string;
  readonly dev: string;
  /** A link-local address matched by interface name rather than index (dont_track_primary; see above). */
  readonly byName?: boolean;
}

/** fe80::/10 (keepalived's IN6_IS_ADDR_LINKLOCAL): the first group is fe80 to febf. */
export const isLinkLocal6 = (addr: string): boolean => /^fe[89ab][0-9a-f]:/i.test(addr);

/** The set an address goes in: `vips` of its family, or IPv6's `vips_link_local` (by index) / `vips_link_local_name` for a link-local one. */
type SetName = 'vips4' | 'vips6' | 'll' | 'llName';

const setOf = (a: FirewallAddress): SetName => (!a.addr.includes(':') ? 'vips4' : !isLinkLocal6(a.addr) ? 'vips6' : a.byName ? 'llName' : 'll');

/** The link-local sets, by index and by name: the set's name, its key type and the rules' interface words. */
const LINK_LOCAL = {
  ll: { set: 'vips_link_local', type: 'iface_index', iif: 'iif', oif: 'oif' },
  llName: { set: 'vips_link_local_name', type: 'ifname', iif: 'iifname', oif: 'oifname' },
} as const;
type LinkLocalSet = keyof typeof LINK_LOCAL;

/** The element as nft writes it: the address, or for a link-local one address . interface (by index, nft resolves the name). */
const elementOf = (a: FirewallAddress): string => (setOf(a) === 'll' || setOf(a) === 'llName' ? `${a.addr} . ${JSON.stringify(a.dev)}` : a.addr);

/**
 * The script that makes a link-local set and its two rules (pure; keepalived's
 * setup_link_local_checks): the interface is matched by index, or by name under dont_track_primary.
 */
export function acceptFirewallLinkLocalSetup(which: LinkLocalSet = 'll'): string {
  const t = 'ip6 keepalived';
  const w = LINK_LOCAL[which];
  return [
    `add set ${t} ${w.set} { type ipv6_addr . ${w.type}; }`,
    `add rule ${t} in_link_local ip6 daddr . ${w.iif} @${w.set} drop`,
    `add rule ${t} out_link_local ip6 saddr . ${w.oif} @${w.set} drop`,
  ].join('\n') + '\n';
}

/** The script that adds (or deletes) addresses of one family in its `vips` set, or link-local ones in their set (pure). */
export function acceptFirewallElements(op: 'add' | 'delete', f: 4 | 6, addrs: readonly FirewallAddress[]): string {
  let script = '';
  const global = addrs.filter((a) => setOf(a) === (f === 4 ? 'vips4' : 'vips6'));
  if (global.length) script += `${op} element ${fam(f)} keepalived vips { ${global.map(elementOf).join(', ')} }\n`;
  for (const which of f === 6 ? (['ll', 'llName'] as const) : []) {
    const ll = addrs.filter((a) => setOf(a) === which);
    if (ll.length) script += `${op} element ip6 keepalived ${LINK_LOCAL[which].set} { ${ll.map(elementOf).join(', ')} }\n`;
  }
  return script;
}

/** The firewall the VRRP instances drive: whose addresses are refused now. */
export interface AcceptFirewall {
  /** Refuses traffic to and from `owner`'s addresses (a MASTER without accept mode); replaces its earlier ones. */
  add(owner: string, addrs: readonly FirewallAddress[]): void;
  /** Stops refusing `owner`'s addresses (it left MASTER). */
  del(owner: string): void;
  /** Removes the tables (the VRRP side stops; keepalived's nft_end). */
  close(): void;
}

/** Through `nft`; a failure throws with nft's words (the instance logs it). */
export function nftAcceptFirewall(run: NftScriptRunner = runNftScript): AcceptFirewall {
  const byOwner = new Map<string, readonly FirewallAddress[]>();
  const ready = new Set<4 | 6>();
  const linkLocalReady = new Set<LinkLocalSet>();
  /** The addresses refused now, one per element and set (a link-local address counts once per interface). */
  const union = () => new Map([...byOwner.values()].flat().map((a) => [`${setOf(a)} ${elementOf(a)}`, a] as const));
  const exec = (script: string) => {
    if (!script) return;
    const r = run(script);
    if (!r.ok) throw new Error(`nftables: ${r.error}`);
  };
  /** Makes the sets hold the union after `change`: the elements that came added, those that left deleted. */
  const apply = (change: () => void) => {
    const before = union();
    change();
    const after = union();
    const came = [...after].filter(([k]) => !before.has(k)).map(([, a]) => a);
    const left = [...before].filter(([k]) => !after.has(k)).map(([, a]) => a);
    let script = '';
    for (const f of [4, 6] as const) {
      const of = (l: FirewallAddress[]) => l.filter((a) => a.addr.includes(':') === (f === 6));
      if (of(came).length && !ready.has(f)) { script += acceptFirewallSetup(f); ready.add(f); }
      // In the order the addresses came, as keepalived makes each set with its first address.
      for (const a of f === 6 ? came : []) {
        const which = setOf(a);
        if ((which === 'll' || which === 'llName') && !linkLocalReady.has(which)) { script += acceptFirewallLinkLocalSetup(which); linkLocalReady.add(which); }
      }
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
      linkLocalReady.clear();
    },
  };
}
