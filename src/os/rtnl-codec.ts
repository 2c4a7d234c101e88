/**
 * rtnetlink messages for addresses, routes and rules, as plain data in and bytes out (pure: the
 * socket is ./rtnetlink.ts). The shapes follow what keepalived 2.2.7 sends (vrrp_ipaddress.c
 * netlink_ipaddress, vrrp_iproute.c netlink_route, vrrp_iprule.c netlink_rule): the same header
 * fields and attributes, so `ip route` / `ip rule` show what keepalived would have set.
 * Interfaces are named in the specs; the encoder is given the name -> ifindex lookup.
 */
import { canonicalIp, formatIp, ipFromBytes, ipToBytes, parseIp } from '../core/addr.ts';

export const NL = {
  NETLINK_ROUTE: 0,
  AF_NETLINK: 16,
  NLMSG_ERROR: 2,
  NLMSG_DONE: 3,
  F_REQUEST: 0x1,
  F_ACK: 0x4,
  F_REPLACE: 0x100,
  F_EXCL: 0x200,
  F_CREATE: 0x400,
  F_APPEND: 0x800,
  RTM_NEWLINK: 16,
  RTM_DELLINK: 17,
  RTM_NEWADDR: 20,
  RTM_DELADDR: 21,
  RTM_NEWROUTE: 24,
  RTM_DELROUTE: 25,
  RTM_NEWRULE: 32,
  RTM_DELRULE: 33,
} as const;

const AF = { 4: 2, 6: 10 } as const;
const IFA = { ADDRESS: 1, LOCAL: 2, LABEL: 3, BROADCAST: 4, CACHEINFO: 6, FLAGS: 8 } as const;
const RTA = {
  DST: 1, SRC: 2, OIF: 4, GATEWAY: 5, PRIORITY: 6, PREFSRC: 7, METRICS: 8, MULTIPATH: 9, FLOW: 11, TABLE: 15, PREF: 20, ENCAP_TYPE: 21, ENCAP: 22,
  EXPIRES: 23, TTL_PROPAGATE: 26,
} as const;
/** Light-weight tunnel encapsulations (lwtunnel.h LWTUNNEL_ENCAP_*) and their attributes (LWTUNNEL_IP_* / LWTUNNEL_IP6_*, the same numbers). */
const LWTUNNEL_ENCAP = { ip: 2, ip6: 4 } as const;
const LWTUNNEL_IP = { ID: 1, DST: 2, SRC: 3, TTL: 4, TOS: 5, FLAGS: 6 } as const;
const RTAX_MTU = 2;
const RTAX_LOCK = 1;
/** Route metrics (linux/rtnetlink.h RTAX_*): the words keepalived and ip route take for them. */
export const RTAX = {
  mtu: 2, window: 3, rtt: 4, rttvar: 5, ssthresh: 6, cwnd: 7, advmss: 8, reordering: 9, hoplimit: 10, initcwnd: 11,
  features: 12, rto_min: 13, initrwnd: 14, quickack: 15, cc_algo: 16, fastopen_no_cookie: 17,
} as const;
const RTNH_F_ONLINK = 4;
const FRA = {
  DST: 1, SRC: 2, IIFNAME: 3, GOTO: 4, PRIORITY: 6, FWMARK: 10, FLOW: 11, TUN_ID: 12, SUPPRESS_IFGROUP: 13,
  SUPPRESS_PREFIXLEN: 14, TABLE: 15, FWMASK: 16, OIFNAME: 17, L3MDEV: 19, UID_RANGE: 20, PROTOCOL: 21, IP_PROTO: 22,
  SPORT_RANGE: 23, DPORT_RANGE: 24,
} as const;
const FIB_RULE_INVERT = 0x2;

/** keepalived's routing protocol number (RTPROT_KEEPALIVED): `ip route` shows `proto keepalived`. */
export const RTPROT_KEEPALIVED = 18;
export const RT_TABLE_MAIN = 254;
export const RT_SCOPE = { universe: 0, site: 200, link: 253, host: 254, nowhere: 255 } as const;
/** Route types (rtm_type), by iproute2's names. */
export const RTN: Readonly<Record<string, number>> = {
  unicast: 1, local: 2, broadcast: 3, anycast: 4, multicast: 5, blackhole: 6, unreachable: 7, prohibit: 8, throw: 9, nat: 10, xresolve: 11,
};
/** Rule actions (fib_rule_hdr.action). */
export const FR_ACT = { to_tbl: 1, goto: 2, nop: 3, blackhole: 6, unreachable: 7, prohibit: 8 } as const;

/** An address on an interface (keepalived's ip_address_t). */
export interface AddrSpec {
  readonly addr: string;
  readonly prefix: number;
  readonly dev: string;
  readonly brd?: string;
  /** rtm scope number (RT_SCOPE); absent: universe. */
  readonly scope?: number;
  readonly label?: string;
  /** IFA_F_* flags (home, mngtmpaddr, noprefixroute, autojoin; IPv6 gets nodad unless `-nodad`). */
  readonly flags?: number;
  /** `-nodad`: IPv6 duplicate address detection left on. */
  readonly dad?: boolean;
  /** `peer ADDR[/P]`: the other end of a point-to-point address. */
  readonly peer?: string;
  /** `preferred_lft N` (IPv6): 0 deprecates the address as a source. */
  readonly preferredLft?: number;
}

/** ifa_flags bits keepalived sets from words on an address line. */
export const IFA_F = { NODAD: 0x02, HOMEADDRESS: 0x10, MANAGETEMPADDR: 0x100, NOPREFIXROUTE: 0x200, MCAUTOJOIN: 0x400 } as const;

/** A route (keepalived's ip_route_t, the parts tsvs sets). */
export interface RouteSpec {
  readonly family: 4 | 6;
  /** null: default. */
  readonly dst: string | null;
  readonly dstLen: number;
  readonly type: number;
  /** Whether the type was written (a delete then names it, as keepalived's). */
  readonly typeGiven: boolean;
  readonly table: number;
  readonly protocol: number;
  /** Absent: universe on add, any (nowhere) on delete. */
  readonly scope?: number;
  readonly via?: string;
  readonly dev?: string;
  /** `src`: the preferred source address. */
  readonly prefsrc?: string;
  /** `from` (IPv6 source routing). */
  readonly src?: string;
  readonly srcLen?: number;
  readonly metric?: number;
  readonly tos?: number;
  readonly mtu?: number;
  /** Other RTA_METRICS values by RTAX number (advmss, window, cwnd, ...: keepalived's route words). */
  readonly metrics?: Readonly<Record<number, number>>;
  /** RTAX_LOCK: a bit per locked metric (`mtu lock 1400`). */
  readonly lock?: number;
  readonly onlink?: boolean;
  /** `add` (fail when it exists) / `append`; default prepend (keepalived's). */
  readonly mode?: 'add' | 'append';
  /** A multipath route (`nexthop ...`, or keepalived's older `via A or B`). */
  readonly nexthops?: readonly NextHopSpec[];
  /** `congctl [lock] NAME`: RTAX_CC_ALGO, the TCP congestion control algorithm's name (its lock bit in `lock`). */
  readonly congctl?: string;
  /** `realms [FROM/]TO`: RTA_FLOW (FROM in the upper 16 bits). */
  readonly realms?: number;
  /** `expires SECS` (IPv6): RTA_EXPIRES. */
  readonly expires?: number;
  /** `pref low|medium|high|N` (IPv6): RTA_PREF, the ICMPv6 router preference (low 3, medium 0, high 1). */
  readonly pref?: number;
  /** `ttl-propagate enabled|disabled`: RTA_TTL_PROPAGATE (1/0; the kernel uses it for MPLS routes only). */
  readonly ttlPropagate?: number;
  /** `encap ip|ip6 ...`: RTA_ENCAP with RTA_ENCAP_TYPE. */
  readonly encap?: EncapSpec;
  /** `no_track` (or no interface to track): its deletion by someone else is not acted on. */
  readonly noTrack?: boolean;
}

/** A light-weight tunnel encapsulation of a route (keepalived's encap_t, ip and ip6). */
export interface EncapSpec {
  readonly type: 'ip' | 'ip6';
  /** The tunnel key (u64, decimal text: JSON-able). */
  readonly id?: string;
  readonly dst?: string;
  readonly src?: string;
  /** ip's tos, ip6's tc. */
  readonly tos?: number;
  /** ip's ttl, ip6's hoplimit. */
  readonly ttl?: number;
  readonly flags?: number;
}

/** One path of a multipath route. */
export interface NextHopSpec {
  readonly via?: string;
  readonly dev?: string;
  /** 1..256, as written (rtnh_hops carries weight - 1). */
  readonly weight?: number;
  readonly onlink?: boolean;
  /** `realms`: RTA_FLOW inside the path. */
  readonly realms?: number;
}

/** A policy routing rule (keepalived's ip_rule_t, the parts tsvs sets). */
export interface RuleSpec {
  readonly family: 4 | 6;
  readonly action: number;
  /** FR_ACT.to_tbl: the table. */
  readonly table?: number;
  readonly priority: number;
  readonly from?: string;
  readonly fromLen?: number;
  readonly to?: string;
  readonly toLen?: number;
  readonly invert?: boolean;
  readonly tos?: number;
  readonly fwmark?: number;
  readonly fwmask?: number;
  readonly realms?: number;
  readonly suppressPrefixLen?: number;
  readonly suppressGroup?: number;
  readonly iif?: string;
  readonly oif?: string;
  readonly tunnelId?: bigint;
  readonly uidRange?: readonly [number, number];
  readonly l3mdev?: boolean;
  readonly protocol?: number;
  readonly ipProto?: number;
  readonly sport?: readonly [number, number];
  readonly dport?: readonly [number, number];
  readonly goto?: number;
  /** `no_track`: its deletion by someone else is not acted on. */
  readonly noTrack?: boolean;
}

export type IfIndexOf = (dev: string) => number;

/** A message under construction: header + fixed part + attributes, 4-byte aligned. */
class Msg {
  private parts: Buffer[] = [];
  private len = 0;
  constructor(readonly type: number, readonly flags: number, fixed: Buffer) {
    this.push(fixed);
  }
  private push(b: Buffer): void {
    this.parts.push(b);
    this.len += b.length;
    const pad = (4 - (b.length & 3)) & 3;
    if (pad) { this.parts.push(Buffer.alloc(pad)); this.len += pad; }
  }
  attr(type: number, data: Buffer): this {
    const h = Buffer.alloc(4);
    h.writeUInt16LE(4 + data.length, 0);
    h.writeUInt16LE(type, 2);
    this.push(Buffer.concat([h, data]));
    return this;
  }
  u8(type: number, v: number): this { return this.attr(type, Buffer.from([v & 0xff])); }
  u32(type: number, v: number): this { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return this.attr(type, b); }
  str(type: number, s: string): this { return this.attr(type, Buffer.concat([Buffer.from(s), Buffer.alloc(1)])); }
  ip(type: number, a: string): this { return this.attr(type, addrBytes(a)); }
  bytes(seq: number): Buffer {
    const h = Buffer.alloc(16);
    h.writeUInt32LE(16 + this.len, 0);
    h.writeUInt16LE(this.type, 4);
    h.writeUInt16LE(this.flags, 6);
    h.writeUInt32LE(seq >>> 0, 8);
    return Buffer.concat([h, ...this.parts]);
  }
}

function addrBytes(a: string): Buffer {
  const ip = parseIp(a);
  if (!ip) throw new Error(`not an IP address: ${a}`);
  return Buffer.from(ipToBytes(ip));
}

function familyOf(a: string): 4 | 6 {
  return a.includes(':') ? 6 : 4;
}

/** RTM_NEWADDR / RTM_DELADDR as keepalived's netlink_ipaddress builds them (IPv6 without DAD unless `-nodad`). */
export function encodeAddr(op: 'add' | 'del', a: AddrSpec, seq: number, ifindex: IfIndexOf): Buffer {
  const fam = familyOf(a.addr);
  const fixed = Buffer.alloc(8);
  fixed.writeUInt8(AF[fam], 0);
  fixed.writeUInt8(a.prefix, 1);
  fixed.writeUInt8(a.scope ?? 0, 3);
  fixed.writeUInt32LE(ifindex(a.dev), 4);
  const m = op === 'add'
    ? new Msg(NL.RTM_NEWADDR, NL.F_REQUEST | NL.F_ACK | NL.F_CREATE | NL.F_EXCL, fixed)
    : new Msg(NL.RTM_DELADDR, NL.F_REQUEST | NL.F_ACK, fixed);
  m.ip(IFA.LOCAL, a.addr);
  if (op === 'del') {
    if (fam === 4) m.ip(IFA.ADDRESS, a.peer ?? a.addr);
    return m.bytes(seq);
  }
  if (fam === 6 && a.preferredLft !== undefined && a.preferredLft !== 0xffffffff) {
    const ci = Buffer.alloc(16);
    ci.writeUInt32LE(a.preferredLft, 0);
    ci.writeUInt32LE(0xffffffff, 4);
    m.attr(IFA.CACHEINFO, ci);
  }
  if (fam === 4 && a.brd) m.ip(IFA.BROADCAST, a.brd);
  const flags = (a.flags ?? 0) | (fam === 6 && !a.dad ? IFA_F.NODAD : 0);
  if (flags) m.u32(IFA.FLAGS, flags);
  if (a.label) m.str(IFA.LABEL, a.label);
  if (a.peer) m.ip(IFA.ADDRESS, a.peer);
  return m.bytes(seq);
}

/** RTM_NEWROUTE / RTM_DELROUTE as keepalived's netlink_route builds them. */
export function encodeRoute(op: 'add' | 'del', r: RouteSpec, seq: number, ifindex: IfIndexOf): Buffer {
  const fixed = Buffer.alloc(12);
  fixed.writeUInt8(AF[r.family], 0);
  fixed.writeUInt8(r.dst === null ? 0 : r.dstLen, 1);
  fixed.writeUInt8(r.src ? r.srcLen ?? (r.family === 4 ? 32 : 128) : 0, 2);
  fixed.writeUInt8(r.tos ?? 0, 3);
  fixed.writeUInt8(r.table < 256 ? r.table : 0, 4);
  fixed.writeUInt8(r.protocol, 5);
  fixed.writeUInt8(r.scope ?? (op === 'del' ? RT_SCOPE.nowhere : RT_SCOPE.universe), 6);
  fixed.writeUInt8(op === 'add' || r.typeGiven ? r.type : 0, 7);
  fixed.writeUInt32LE(r.onlink ? RTNH_F_ONLINK : 0, 8);
  let flags: number = NL.F_REQUEST | NL.F_ACK;
  if (op === 'add') flags |= NL.F_CREATE | (r.mode === 'add' ? NL.F_EXCL : r.mode === 'append' ? NL.F_APPEND : 0);
  const m = new Msg(op === 'add' ? NL.RTM_NEWROUTE : NL.RTM_DELROUTE, flags, fixed);
  if (r.table >= 256) m.u32(RTA.TABLE, r.table);
  if (r.dst !== null) m.ip(RTA.DST, r.dst);
  if (r.src) m.ip(RTA.SRC, r.src);
  if (r.prefsrc) m.ip(RTA.PREFSRC, r.prefsrc);
  if (r.via) m.ip(RTA.GATEWAY, r.via);
  if (r.dev) m.u32(RTA.OIF, ifindex(r.dev));
  if (r.metric !== undefined) m.u32(RTA.PRIORITY, r.metric);
  if (r.encap) {
    m.attr(RTA.ENCAP, encapAttrs(r.encap));
    const t = Buffer.alloc(2);
    t.writeUInt16LE(LWTUNNEL_ENCAP[r.encap.type]);
    m.attr(RTA.ENCAP_TYPE, t);
  }
  if (r.realms) m.u32(RTA.FLOW, r.realms);
  if (r.expires !== undefined) m.u32(RTA.EXPIRES, r.expires);
  if (r.pref !== undefined) m.u8(RTA.PREF, r.pref);
  if (r.ttlPropagate !== undefined) m.u8(RTA.TTL_PROPAGATE, r.ttlPropagate);
  if (r.nexthops?.length) {
    // struct rtnexthop { u16 len; u8 flags; u8 hops; s32 ifindex } + its own attributes, each 4-aligned.
    const parts = r.nexthops.map((nh) => {
      const gw = nh.via ? nest(RTA.GATEWAY, addrBytes(nh.via)) : Buffer.alloc(0);
      const flow = nh.realms ? attrU32(RTA.FLOW, nh.realms) : Buffer.alloc(0);
      const b = Buffer.alloc(8);
      b.writeUInt16LE(8 + gw.length + flow.length, 0);
      b.writeUInt8(nh.onlink ? RTNH_F_ONLINK : 0, 2);
      b.writeUInt8(nh.weight ? (nh.weight - 1) & 0xff : 0, 3);
      b.writeInt32LE(nh.dev ? ifindex(nh.dev) : 0, 4);
      return Buffer.concat([b, gw, flow]);
    });
    m.attr(RTA.MULTIPATH, Buffer.concat(parts));
  }
  // RTA_METRICS: one attribute per metric, u32 but for the congestion control's name (the lock bits first).
  const metrics: Buffer[] = [
    ...(r.lock ? [attrU32(RTAX_LOCK, r.lock)] : []),
    ...(r.mtu !== undefined ? [attrU32(RTAX_MTU, r.mtu)] : []),
    ...Object.entries(r.metrics ?? {}).map(([k, v]) => attrU32(Number(k), v)),
    ...(r.congctl !== undefined ? [nest(RTAX.cc_algo, Buffer.from(r.congctl))] : []),
  ];
  if (metrics.length > 0) m.attr(RTA.METRICS, Buffer.concat(metrics));
  return m.bytes(seq);
}

/** RTA_ENCAP's nested attributes as keepalived's add_encap_ip / add_encap_ip6 write them (flags in host order, as it does). */
function encapAttrs(e: EncapSpec): Buffer {
  const out: Buffer[] = [];
  if (e.id !== undefined) { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(e.id)); out.push(nest(LWTUNNEL_IP.ID, b)); }
  if (e.dst) out.push(nest(LWTUNNEL_IP.DST, addrBytes(e.dst)));
  if (e.src) out.push(nest(LWTUNNEL_IP.SRC, addrBytes(e.src)));
  // ip: TTL 4, TOS 5; ip6: HOPLIMIT 4, TC 5 (the same numbers).
  if (e.tos !== undefined) out.push(nest(LWTUNNEL_IP.TOS, Buffer.from([e.tos])));
  if (e.ttl !== undefined) out.push(nest(LWTUNNEL_IP.TTL, Buffer.from([e.ttl])));
  if (e.flags !== undefined) { const b = Buffer.alloc(2); b.writeUInt16LE(e.flags); out.push(nest(LWTUNNEL_IP.FLAGS, b)); }
  return Buffer.concat(out);
}

/** RTM_NEWRULE / RTM_DELRULE as keepalived's netlink_rule builds them. */
export function encodeRule(op: 'add' | 'del', r: RuleSpec, seq: number): Buffer {
  const fixed = Buffer.alloc(12);
  fixed.writeUInt8(AF[r.family], 0);
  fixed.writeUInt8(r.to ? r.toLen ?? 0 : 0, 1);
  fixed.writeUInt8(r.from ? r.fromLen ?? 0 : 0, 2);
  fixed.writeUInt8(r.tos ?? 0, 3);
  const table = r.action === FR_ACT.to_tbl && !r.l3mdev ? r.table ?? RT_TABLE_MAIN : 0;
  fixed.writeUInt8(table < 256 ? table : 0, 4);
  fixed.writeUInt8(r.action, 7);
  fixed.writeUInt32LE(r.invert ? FIB_RULE_INVERT : 0, 8);
  const m = op === 'add'
    ? new Msg(NL.RTM_NEWRULE, NL.F_REQUEST | NL.F_ACK | NL.F_CREATE | NL.F_EXCL, fixed)
    : new Msg(NL.RTM_DELRULE, NL.F_REQUEST | NL.F_ACK, fixed);
  if (table >= 256) m.u32(FRA.TABLE, table);
  if (r.from && (r.fromLen ?? 0) > 0) m.ip(FRA.SRC, r.from);
  if (r.to && (r.toLen ?? 0) > 0) m.ip(FRA.DST, r.to);
  m.u32(FRA.PRIORITY, r.priority);
  if (r.fwmark !== undefined) m.u32(FRA.FWMARK, r.fwmark);
  if (r.fwmask !== undefined) m.u32(FRA.FWMASK, r.fwmask);
  if (r.realms) m.u32(FRA.FLOW, r.realms);
  if (r.suppressPrefixLen !== undefined) m.u32(FRA.SUPPRESS_PREFIXLEN, r.suppressPrefixLen);
  if (r.suppressGroup !== undefined) m.u32(FRA.SUPPRESS_IFGROUP, r.suppressGroup);
  if (r.iif) m.str(FRA.IIFNAME, r.iif);
  if (r.oif) m.str(FRA.OIFNAME, r.oif);
  if (r.tunnelId !== undefined) { const b = Buffer.alloc(8); b.writeBigUInt64BE(r.tunnelId); m.attr(FRA.TUN_ID, b); }
  if (r.uidRange) { const b = Buffer.alloc(8); b.writeUInt32LE(r.uidRange[0]); b.writeUInt32LE(r.uidRange[1], 4); m.attr(FRA.UID_RANGE, b); }
  if (r.l3mdev) m.u8(FRA.L3MDEV, 1);
  if (r.protocol !== undefined) m.u8(FRA.PROTOCOL, r.protocol);
  if (r.ipProto !== undefined) m.u8(FRA.IP_PROTO, r.ipProto);
  const range = (t: number, p: readonly [number, number]) => { const b = Buffer.alloc(4); b.writeUInt16LE(p[0]); b.writeUInt16LE(p[1], 2); m.attr(t, b); };
  if (r.sport) range(FRA.SPORT_RANGE, r.sport);
  if (r.dport) range(FRA.DPORT_RANGE, r.dport);
  if (r.action === FR_ACT.goto && r.goto !== undefined) m.u32(FRA.GOTO, r.goto);
  return m.bytes(seq);
}

const IFLA = { ADDRESS: 1, IFNAME: 3, LINK: 5, LINKINFO: 18, AF_SPEC: 26 } as const;
const IFLA_INFO = { KIND: 1, DATA: 2 } as const;
const IFLA_MACVLAN_MODE = 1;
const IFLA_INET6_ADDR_GEN_MODE = 8;
/** macvlan modes (if_link.h). */
export const MACVLAN_MODE = { private: 1, vepa: 2, bridge: 4, passthru: 8, source: 16 } as const;
const IN6_ADDR_GEN_MODE_NONE = 1;
const IFF_UP = 0x1;

/** One attribute holding others (a nested netlink attribute), padded as netlink wants. */
function nest(type: number, ...inner: Buffer[]): Buffer {
  const body = Buffer.concat(inner);
  const h = Buffer.alloc(4);
  h.writeUInt16LE(4 + body.length, 0);
  h.writeUInt16LE(type, 2);
  const pad = (4 - ((4 + body.length) & 3)) & 3;
  return Buffer.concat([h, body, Buffer.alloc(pad)]);
}
const attrU32 = (type: number, v: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return nest(type, b); };

function ifinfo(index: number, flags = 0, change = 0): Buffer {
  const b = Buffer.alloc(16); // ifinfomsg: family, pad, type, index, flags, change
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags, 8);
  b.writeUInt32LE(change, 12);
  return b;
}

/** A macvlan interface as keepalived's netlink_link_add_vmac creates a VMAC: on `link`, its own MAC, a mode. */
export interface MacvlanSpec {
  readonly name: string;
  /** The base interface's index. */
  readonly link: number;
  readonly mac: Uint8Array;
  readonly mode: number;
}

/** RTM_NEWLINK creating a macvlan (fails with EEXIST if the name is taken). */
export function encodeNewMacvlan(s: MacvlanSpec, seq: number): Buffer {
  const m = new Msg(NL.RTM_NEWLINK, NL.F_REQUEST | NL.F_ACK | NL.F_CREATE | NL.F_EXCL, ifinfo(0));
  m.attr(IFLA.LINKINFO, Buffer.concat([nest(IFLA_INFO.KIND, Buffer.from('macvlan')), nest(IFLA_INFO.DATA, attrU32(IFLA_MACVLAN_MODE, s.mode))]));
  m.u32(IFLA.LINK, s.link);
  m.str(IFLA.IFNAME, s.name);
  m.attr(IFLA.ADDRESS, Buffer.from(s.mac));
  return m.bytes(seq);
}

/** RTM_NEWLINK on an existing interface: set it up, and/or stop IPv6 link-local generation (addrgenmode none). */
export function encodeLinkSet(index: number, o: { up?: boolean; addrGenNone?: boolean }, seq: number): Buffer {
  const m = new Msg(NL.RTM_NEWLINK, NL.F_REQUEST | NL.F_ACK, ifinfo(index, o.up ? IFF_UP : 0, o.up !== undefined ? IFF_UP : 0));
  if (o.addrGenNone) m.attr(IFLA.AF_SPEC, nest(AF[6], Buffer.from([5, 0, IFLA_INET6_ADDR_GEN_MODE, 0, IN6_ADDR_GEN_MODE_NONE, 0, 0, 0])));
  return m.bytes(seq);
}

/** RTM_DELLINK. */
export function encodeDelLink(index: number, seq: number): Buffer {
  return new Msg(NL.RTM_DELLINK, NL.F_REQUEST | NL.F_ACK, ifinfo(index)).bytes(seq);
}

/** What the kernel answered a request: 0 (done) or a negative errno, with the sequence number; null if not an ack. */
export function decodeAck(b: Buffer): { seq: number; error: number } | null {
  let off = 0;
  while (off + 16 <= b.length) {
    const len = b.readUInt32LE(off);
    if (len < 16 || off + len > b.length) return null;
    const type = b.readUInt16LE(off + 4);
    const seq = b.readUInt32LE(off + 8);
    if (type === NL.NLMSG_ERROR && len >= 20) return { seq, error: b.readInt32LE(off + 16) };
    if (type === NL.NLMSG_DONE) return { seq, error: 0 };
    off += (len + 3) & ~3;
  }
  return null;
}

/** Something the kernel reports deleted (RTM_DELADDR / RTM_DELROUTE / RTM_DELRULE), the parts keepalived matches on. */
export type Deleted =
  | { readonly kind: 'address'; readonly addr: string; readonly prefix: number; readonly ifindex: number }
  | { readonly kind: 'route'; readonly family: 4 | 6; readonly dst: string | null; readonly dstLen: number; readonly table: number; readonly protocol: number; readonly type: number; readonly metric?: number }
  | { readonly kind: 'rule'; readonly family: 4 | 6; readonly priority: number; readonly action: number; readonly table: number; readonly protocol?: number };

function attrs(b: Buffer, off: number, end: number): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  while (off + 4 <= end) {
    const len = b.readUInt16LE(off);
    if (len < 4 || off + len > end) break;
    m.set(b.readUInt16LE(off + 2) & 0x3fff, b.subarray(off + 4, off + len));
    off += (len + 3) & ~3;
  }
  return m;
}

const famOf = (f: number): 4 | 6 | null => (f === AF[4] ? 4 : f === AF[6] ? 6 : null);
const ipText = (b: Buffer | undefined, f: 4 | 6): string | null =>
  b && b.length === (f === 4 ? 4 : 16) ? formatIp(ipFromBytes(b, f)) : null;

/** The deletions in one datagram from a socket bound to the address, route and rule groups. */
export function decodeDeleted(b: Buffer): Deleted[] {
  const out: Deleted[] = [];
  let off = 0;
  while (off + 16 <= b.length) {
    const len = b.readUInt32LE(off);
    if (len < 16 || off + len > b.length) break;
    const type = b.readUInt16LE(off + 4);
    const p = off + 16, end = off + len;
    if (type === NL.RTM_DELADDR && len >= 24) {
      const f = famOf(b[p]!);
      const a = attrs(b, p + 8, end);
      const addr = f ? ipText(a.get(IFA.LOCAL) ?? a.get(IFA.ADDRESS), f) : null;
      if (f && addr) out.push({ kind: 'address', addr, prefix: b[p + 1]!, ifindex: b.readUInt32LE(p + 4) });
    } else if (type === NL.RTM_DELROUTE && len >= 28) {
      const f = famOf(b[p]!);
      const a = attrs(b, p + 12, end);
      const t = a.get(RTA.TABLE);
      const m = a.get(RTA.PRIORITY);
      if (f) out.push({ kind: 'route', family: f, dst: ipText(a.get(RTA.DST), f), dstLen: b[p + 1]!, table: t ? t.readUInt32LE(0) : b[p + 4]!, protocol: b[p + 5]!, type: b[p + 7]!, ...(m ? { metric: m.readUInt32LE(0) } : {}) });
    } else if (type === NL.RTM_DELRULE && len >= 28) {
      const f = famOf(b[p]!);
      const a = attrs(b, p + 12, end);
      const t = a.get(FRA.TABLE), pr = a.get(FRA.PRIORITY), proto = a.get(FRA.PROTOCOL);
      if (f) out.push({ kind: 'rule', family: f, priority: pr ? pr.readUInt32LE(0) : 0, action: b[p + 7]!, table: t ? t.readUInt32LE(0) : b[p + 4]!, ...(proto ? { protocol: proto[0]! } : {}) });
    }
    off += (len + 3) & ~3;
  }
  return out;
}

/** Whether a deletion is of this address (keepalived's addr_is_equal: address, interface). */
export function isAddress(d: Deleted, a: AddrSpec, ifindex: IfIndexOf): boolean {
  if (d.kind !== 'address' || canonicalIp(a.addr) !== d.addr) return false;
  try { return ifindex(a.dev) === d.ifindex; } catch { return false; }
}

/** Whether a deletion is of this route (route_is_ours: family, destination, table, metric, a type when written). */
export function isRoute(d: Deleted, r: RouteSpec): boolean {
  return d.kind === 'route' && d.family === r.family && d.dst === (r.dst === null ? null : canonicalIp(r.dst)) && d.dstLen === (r.dst === null ? 0 : r.dstLen)
    && d.table === r.table && (d.metric ?? 0) === (r.metric ?? 0) && (!r.typeGiven || d.type === r.type) && d.protocol === r.protocol;
}

/** Whether a deletion is of this rule (rule_is_ours: family, preference, action, table). */
export function isRule(d: Deleted, r: RuleSpec): boolean {
  if (d.kind !== 'rule' || d.family !== r.family || d.priority !== r.priority || d.action !== r.action) return false;
  return r.action !== FR_ACT.to_tbl || r.l3mdev === true || d.table === (r.table ?? RT_TABLE_MAIN);
}
