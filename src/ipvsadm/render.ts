/**
 * ipvsadm 1.31 listings as pure functions: -L (all formats), -S, -Lc, --timeout, --daemon.
 * Byte for byte the printf formats of ipvsadm.c (trailing spaces included), the libipvs sort
 * comparators (signed-int subtraction quirk) and glibc's merge sort order.
 */
import { parseIp } from '../core/addr.ts';
import type {
  Af, ConnSnapshot, DestSnapshot, IpvsInfo, Protocol, ServiceSnapshot, SyncDaemonSpec, Timeouts,
} from '../core/types.ts';
import { SVC_F } from '../core/types.ts';
import type { ListFormat, SyncResolver } from './types.ts';
import { numericResolver } from './types.ts';

// ---------------------------------------------------------------- printf helpers
const padR = (s: string, w: number): string => (s.length >= w ? s : s + ' '.repeat(w - s.length));
const padL = (s: string, w: number): string => (s.length >= w ? s : ' '.repeat(w - s.length) + s);
const u32 = (n: number): string => String(Math.trunc(n) >>> 0);
const i32 = (n: number): string => String(Math.trunc(n) | 0);

function toBig(v: number): bigint {
  if (!Number.isFinite(v) || v <= 0) return 0n;
  return BigInt(Math.trunc(v));
}

/** print_largenum(): K/M/G/T scaling in 9 columns, or exact digits in max(9, len+1). */
export function largenum(v: number, exact: boolean): string {
  const b = toBig(v);
  if (exact) {
    const s = b.toString();
    return padL(s, s.length <= 8 ? 9 : s.length + 1);
  }
  if (b < 100000000n) return padL(b.toString(), 9);
  if (b < 1000000000n) return padL((b / 1000n).toString(), 8) + 'K';
  if (b < 100000000000n) return padL((b / 1000000n).toString(), 8) + 'M';
  if (b < 100000000000000n) return padL((b / 1000000000n).toString(), 8) + 'G';
  return padL((b / 1000000000000n).toString(), 8) + 'T';
}

const ullu = (v: number): string => toBig(v).toString();

// ---------------------------------------------------------------- sorting
const AF_NUM: Record<Af, number> = { 4: 2, 6: 10 };
const PROTO_NUM: Record<Protocol, number> = { tcp: 6, udp: 17, sctp: 132 };

function words(af: Af, addr: string): number[] {
  const ip = parseIp(addr);
  if (!ip) return af === 6 ? [0, 0, 0, 0] : [0];
  return [...ip.words];
}

/** libipvs ipvs_cmp_services(): int subtraction of unsigned values, as C does it. */
export function cmpServices(a: ServiceSnapshot, b: ServiceSnapshot): number {
  let r = (a.fwmark - b.fwmark) | 0;
  if (r !== 0) return r;
  r = AF_NUM[a.af] - AF_NUM[b.af];
  if (r !== 0) return r;
  r = PROTO_NUM[a.protocol] - PROTO_NUM[b.protocol];
  if (r !== 0) return r;
  const wa = words(a.af, a.addr);
  const wb = words(b.af, b.addr);
  if (a.af === 6) {
    for (let i = 0; r === 0 && i < 4; i++) r = ((wa[i] ?? 0) - (wb[i] ?? 0)) | 0;
  } else {
    r = ((wa[0] ?? 0) - (wb[0] ?? 0)) | 0;
  }
  if (r !== 0) return r;
  return a.port - b.port;
}

/** libipvs ipvs_cmp_dests(): address (as the first dest's family sees the union) then port. */
export function cmpDests(a: DestSnapshot, b: DestSnapshot): number {
  const wa = words(a.af, a.addr);
  const wb = words(b.af, b.addr);
  let r = 0;
  if (a.af === 6) {
    for (let i = 0; r === 0 && i < 4; i++) r = ((wa[i] ?? 0) - (wb[i] ?? 0)) | 0;
  } else {
    r = ((wa[0] ?? 0) - (wb[0] ?? 0)) | 0;
  }
  if (r !== 0) return r;
  return a.port - b.port;
}

/** glibc qsort() (msort: top-down merge, left run wins ties) with an arbitrary comparator. */
export function glibcSort<T>(items: readonly T[], cmp: (a: T, b: T) => number): T[] {
  const n = items.length;
  if (n <= 1) return items.slice();
  const n1 = n >> 1;
  const b1 = glibcSort(items.slice(0, n1), cmp);
  const b2 = glibcSort(items.slice(n1), cmp);
  const out: T[] = [];
  let i = 0;
  let j = 0;
  while (i < b1.length && j < b2.length) {
    if (cmp(b1[i]!, b2[j]!) <= 0) out.push(b1[i++]!);
    else out.push(b2[j++]!);
  }
  while (i < b1.length) out.push(b1[i++]!);
  while (j < b2.length) out.push(b2[j++]!);
  return out;
}

export function sortServices(services: readonly ServiceSnapshot[]): ServiceSnapshot[] {
  return glibcSort(services, cmpServices);
}

// ---------------------------------------------------------------- names
/** addrport_to_anyname(): 60-byte buffer, so at most 59 characters. */
function addrPort(af: Af, addr: string, port: number, proto: Protocol | null, numeric: boolean, names: SyncResolver): string {
  const o = af === 4 ? '' : '[';
  const c = af === 4 ? '' : ']';
  let s: string;
  if (numeric) {
    s = `${o}${addr}${c}:${port}`;
  } else {
    const host = names.addrToHost(af, addr) ?? addr;
    const svc = proto !== null ? names.portToService(port, proto) : null;
    s = `${o}${host}${c}:${svc ?? String(port)}`;
  }
  return s.slice(0, 59);
}

export interface RenderOptions extends Partial<ListFormat> {
  /** Reverse names for addresses and ports (ignored when numeric). */
  readonly names?: SyncResolver;
}

const FWD_NAME = { masq: 'Masq', local: 'Local', tunnel: 'Tunnel', route: 'Route' } as const;
const FWD_SWITCH = { masq: '-m', local: '-g', tunnel: '-i', route: '-g' } as const;
const TUN_FLAGS = { nocsum: '-c', csum: '+c', remcsum: 'r+c' } as const;
const TUN_FLAG_OPTS = { nocsum: '--tun-nocsum', csum: '--tun-csum', remcsum: '--tun-remcsum' } as const;
const PROTO_NAME = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' } as const;
const PROTO_OPT = { tcp: '-t', udp: '-u', sctp: '--sctp-service' } as const;

function schedFlags(s: ServiceSnapshot): string {
  const out: string[] = [];
  if (s.scheduler === 'sh' || s.scheduler === 'mh') {
    if (s.flags & SVC_F.SCHED1) out.push(`${s.scheduler}-fallback`);
    if (s.flags & SVC_F.SCHED2) out.push(`${s.scheduler}-port`);
  } else {
    if (s.flags & SVC_F.SCHED1) out.push('flag-1');
    if (s.flags & SVC_F.SCHED2) out.push('flag-2');
  }
  if (s.flags & SVC_F.SCHED3) out.push('flag-3');
  return out.join(',');
}

const SCHED_ANY = SVC_F.SCHED1 | SVC_F.SCHED2 | SVC_F.SCHED3;

function dottedMask(m: number): string {
  const v = m >>> 0;
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

function tunInfo(d: DestSnapshot): string {
  if (d.fwd !== 'tunnel') return 'n/a';
  if (d.tunType === 'ipip') return 'ipip';
  if (d.tunType === 'gue') return `gue:${d.tunPort}:${TUN_FLAGS[d.tunCsum]}`.slice(0, 15);
  return `gre:${TUN_FLAGS[d.tunCsum]}`;
}

function titleLines(f: Partial<ListFormat>, rule: boolean): string {
  if (f.stats) {
    return `${padR('Prot LocalAddress:Port', 33)} ${padL('Conns', 8)} ${padL('InPkts', 8)} ${padL('OutPkts', 8)} ${padL('InBytes', 8)} ${padL('OutBytes', 8)}\n  -> RemoteAddress:Port\n`;
  }
  if (f.rate) {
    return `${padR('Prot LocalAddress:Port', 33)} ${padL('CPS', 8)} ${padL('InPPS', 8)} ${padL('OutPPS', 8)} ${padL('InBPS', 8)} ${padL('OutBPS', 8)}\n  -> RemoteAddress:Port\n`;
  }
  if (f.thresholds) {
    return `${padR('Prot LocalAddress:Port', 33)} ${padR('Uthreshold', 10)} ${padR('Lthreshold', 10)} ${padR('ActiveConn', 10)} ${padR('InActConn', 10)}\n  -> RemoteAddress:Port\n`;
  }
  if (f.persistentConn) {
    return `${padR('Prot LocalAddress:Port', 33)} ${padR('Weight', 9)} ${padR('PersistConn', 11)} ${padR('ActiveConn', 10)} ${padR('InActConn', 10)}\n  -> RemoteAddress:Port\n`;
  }
  if (f.tunInfo) {
    return 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n';
  }
  if (!rule) return 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
  return '';
}

/** print_service_entry() for one service (and its dests) in list or rule (-S) form. */
function serviceEntry(se: ServiceSnapshot, f: Partial<ListFormat>, rule: boolean, names: SyncResolver): string {
  const numeric = !!f.numeric;
  let svcName: string;
  if (se.fwmark) {
    const mark = i32(se.fwmark);
    if (rule) svcName = se.af === 6 ? `-f ${mark} -6` : `-f ${mark}`;
    else svcName = se.af === 6 ? `FWM  ${mark} IPv6` : `FWM  ${mark}`;
  } else {
    const vname = addrPort(se.af, se.addr, se.port, se.protocol, numeric, names);
    if (rule) svcName = `${PROTO_OPT[se.protocol]} ${vname}`;
    else {
      svcName = `${padR(PROTO_NAME[se.protocol], 4)} ${vname}`;
      if (se.af !== 6) svcName = svcName.slice(0, 33);
    }
  }
  let out = '';
  if (rule) {
    out += `-A ${svcName} -s ${se.scheduler}`;
    if (se.flags & SVC_F.PERSISTENT) {
      out += ` -p ${u32(se.timeout)}`;
      if (se.af === 4 && se.netmask >>> 0 !== 0xffffffff) out += ` -M ${dottedMask(se.netmask)}`;
      if (se.af === 6 && se.netmask !== 128) out += ` -M ${i32(se.netmask)}`;
    }
    if (se.pe) out += ` --pe ${se.pe}`;
    if (se.flags & SVC_F.ONEPACKET) out += ' -o';
    if (se.flags & SCHED_ANY) out += ` -b ${schedFlags(se)}`;
  } else if (f.stats) {
    out += padR(svcName, 33);
    for (const v of [se.stats.conns, se.stats.inpkts, se.stats.outpkts, se.stats.inbytes, se.stats.outbytes]) out += largenum(v, !!f.exact);
  } else if (f.rate) {
    out += padR(svcName, 33);
    for (const v of [se.rates.cps, se.rates.inpps, se.rates.outpps, se.rates.inbps, se.rates.outbps]) out += largenum(v, !!f.exact);
  } else {
    out += `${svcName} ${se.scheduler}`;
    if (se.flags & SCHED_ANY) out += ` (${schedFlags(se)})`;
    if (se.flags & SVC_F.PERSISTENT) {
      out += ` persistent ${u32(se.timeout)}`;
      if (se.af === 4 && se.netmask >>> 0 !== 0xffffffff) out += ` mask ${dottedMask(se.netmask)}`;
      if (se.af === 6 && se.netmask !== 128) out += ` mask ${i32(se.netmask)}`;
      if (se.pe) out += ` pe ${se.pe}`;
    }
    if (se.flags & SVC_F.ONEPACKET) out += ' ops';
  }
  out += '\n';

  const dests = f.nosort ? se.dests.slice() : glibcSort(se.dests, cmpDests);
  for (const e of dests) {
    let dname = addrPort(e.af, e.addr, e.port, se.protocol, numeric, names);
    if (!rule && e.af !== 6) dname = dname.slice(0, 28);
    if (rule) {
      const base = `-a ${svcName} -r ${dname} ${FWD_SWITCH[e.fwd]} -w ${i32(e.weight)}`;
      if (e.fwd === 'tunnel') {
        if (e.tunType === 'gre') out += `${base} --tun-type gre ${TUN_FLAG_OPTS[e.tunCsum]}\n`;
        else if (e.tunType === 'gue') out += `${base} --tun-type gue --tun-port ${e.tunPort} ${TUN_FLAG_OPTS[e.tunCsum]}\n`;
        else out += `${base} --tun-type ipip\n`;
      } else out += `${base}\n`;
    } else if (f.stats) {
      out += `  -> ${padR(dname, 28)}`;
      for (const v of [e.stats.conns, e.stats.inpkts, e.stats.outpkts, e.stats.inbytes, e.stats.outbytes]) out += largenum(v, !!f.exact);
      out += '\n';
    } else if (f.rate) {
      out += `  -> ${padR(dname, 28)} ${padL(ullu(e.rates.cps), 8)} ${padL(ullu(e.rates.inpps), 8)} ${padL(ullu(e.rates.outpps), 8)}`;
      out += largenum(e.rates.inbps, !!f.exact) + largenum(e.rates.outbps, !!f.exact) + '\n';
    } else if (f.thresholds) {
      out += `  -> ${padR(dname, 28)} ${padR(u32(e.uThreshold), 10)} ${padR(u32(e.lThreshold), 10)} ${padR(u32(e.activeConns), 10)} ${padR(u32(e.inactConns), 10)}\n`;
    } else if (f.persistentConn) {
      out += `  -> ${padR(dname, 28)} ${padR(u32(e.weight), 9)} ${padR(u32(e.persistConns), 11)} ${padR(u32(e.activeConns), 10)} ${padR(u32(e.inactConns), 10)}\n`;
    } else if (f.tunInfo) {
      out += `  -> ${padR(dname, 28)} ${padR(FWD_NAME[e.fwd], 7)} ${padR(tunInfo(e), 13)} ${padR(i32(e.weight), 6)} ${padR(u32(e.activeConns), 10)} ${padR(u32(e.inactConns), 10)}\n`;
    } else {
      out += `  -> ${padR(dname, 28)} ${padR(FWD_NAME[e.fwd], 7)} ${padR(i32(e.weight), 6)} ${padR(u32(e.activeConns), 10)} ${padR(u32(e.inactConns), 10)}\n`;
    }
  }
  return out;
}

/**
 * `-L` output. With `info` it is list_all() (version header, services sorted unless --nosort);
 * without it, list_service() for the given service(s): title and entries only.
 */
export function renderList(services: readonly ServiceSnapshot[], opts: RenderOptions = {}, info?: IpvsInfo): string {
  const list = info && !opts.nosort ? sortServices(services) : services;
  return renderListHead(opts, info) + renderServiceEntries(list, opts);
}

/** The head of a `-L` listing: the version line (with `info`) and the column titles. */
export function renderListHead(opts: RenderOptions = {}, info?: IpvsInfo): string {
  return (info ? `IP Virtual Server version ${info.version} (size=${info.connTableSize})\n` : '') + titleLines(opts, false);
}

/** The services of a `-L` listing, in the order given (a listing rendered in parts). */
export function renderServiceEntries(services: readonly ServiceSnapshot[], opts: RenderOptions = {}): string {
  const names = opts.names ?? numericResolver;
  let out = '';
  for (const s of services) out += serviceEntry(s, opts, false, names);
  return out;
}

/** `-S` output (sorted, no header). */
export function renderSave(services: readonly ServiceSnapshot[], numeric: boolean, names: SyncResolver = numericResolver): string {
  let out = '';
  for (const s of sortServices(services)) out += serviceEntry(s, { numeric }, true, names);
  return out;
}

const CONN_PROTO: Record<string, Protocol> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };

/** `-L -c` output (connection table order, unsorted). */
export function renderConnections(
  conns: readonly ConnSnapshot[],
  opts: { readonly numeric?: boolean; readonly persistentConn?: boolean; readonly names?: SyncResolver } = {},
): string {
  return renderConnectionsHead(opts) + renderConnectionLines(conns, opts);
}

/** The head of `-L -c`. */
export function renderConnectionsHead(opts: { readonly persistentConn?: boolean } = {}): string {
  if (opts.persistentConn) {
    return `IPVS connection entries\npro expire ${padR('state', 11)} ${padR('source', 18)} ${padR('virtual', 18)} ${padR('destination', 18)} ${padR('pe name', 16)} pe_data\n`;
  }
  return `IPVS connection entries\npro expire ${padR('state', 11)} ${padR('source', 18)} ${padR('virtual', 18)} destination\n`;
}

/** The lines of `-L -c` for these connections (a listing rendered in parts). */
export function renderConnectionLines(
  conns: readonly ConnSnapshot[],
  opts: { readonly numeric?: boolean; readonly persistentConn?: boolean; readonly names?: SyncResolver } = {},
): string {
  const names = opts.names ?? numericResolver;
  const numeric = !!opts.numeric;
  let out = '';
  for (const c of conns) {
    const proto = CONN_PROTO[c.protocol] ?? null;
    const daf: Af = c.daddr.includes(':') ? 6 : 4;
    const cname = addrPort(c.af, c.caddr, c.cport, proto, numeric, names);
    const vname = addrPort(c.af, c.vaddr, c.vport, proto, numeric, names);
    const dname = addrPort(daf, c.daddr, c.dport, proto, numeric, names);
    const exp = Math.max(0, Math.trunc(c.expiresIn));
    const expire = `${String(Math.trunc(exp / 60)).padStart(2, '0')}:${String(exp % 60).padStart(2, '0')}`;
    if (opts.persistentConn && c.peName && c.peData) {
      out += `${padR(c.protocol, 3)} ${padR(expire, 6)} ${padR(c.state, 11)} ${padR(cname, 18)} ${padR(vname, 18)} ${padR(dname, 16)} ${padR(c.peName, 18)} ${c.peData}\n`;
    } else {
      out += `${padR(c.protocol, 3)} ${padR(expire, 6)} ${padR(c.state, 11)} ${padR(cname, 18)} ${padR(vname, 18)} ${dname}\n`;
    }
  }
  return out;
}

/** `-L --timeout`. */
export function renderTimeouts(t: Timeouts): string {
  return `Timeout (tcp tcpfin udp): ${i32(t.tcp)} ${i32(t.tcpfin)} ${i32(t.udp)}\n`;
}

/** `-L --daemon`: master first, then backup (kernel dump order); nothing when none runs. */
export function renderDaemons(daemons: readonly SyncDaemonSpec[]): string {
  let out = '';
  const ordered = [...daemons.filter((d) => d.state === 'master'), ...daemons.filter((d) => d.state === 'backup')];
  for (const d of ordered) {
    out += `${d.state} sync daemon (mcast=${d.mcastIfn}, syncid=${i32(d.syncid)}`;
    if (d.maxlen) out += `, maxlen=${u32(d.maxlen)}`;
    if (d.group) out += `, group=${d.group}`;
    if (d.port) out += `, port=${u32(d.port)}`;
    if (d.ttl) out += `, ttl=${u32(d.ttl)}`;
    out += ')\n';
  }
  return out;
}
