/**
 * /proc/net/ip_vs, /proc/net/ip_vs_stats and /proc/net/ip_vs_conn, byte for byte as the kernel
 * writes them (net/netfilter/ipvs/ip_vs_ctl.c ip_vs_info_seq_show / ip_vs_stats_show,
 * ip_vs_conn.c ip_vs_conn_seq_show), so tools written for kernel IPVS (node_exporter's ipvs
 * collector through prometheus/procfs, scripts that grep these files) read tsvs.
 *
 * Kernel details kept on purpose:
 * - addresses and ports in upper-case hex (%08X:%04X); IPv6 as [%pI6]: eight groups of four
 *   lower-case hex digits;
 * - address services first, then firewall-mark services (the kernel walks its two tables);
 * - the trailing blanks of the service line ("%s %s " then the flags) and of the padded
 *   destination columns; the IPv4 line's "ops " flag (IPv6 lines have none);
 * - `persistent %d %08X`: the timeout in jiffies (the kernel prints svc->timeout, which holds
 *   seconds * HZ) and ntohl(netmask), which for IPv6 (the prefix length, stored unswapped) comes
 *   out byte-swapped on little-endian machines (/128 prints 80000000).
 */
import type { ConnSnapshot, DestSnapshot, FwdMethod, IpvsInfo, RateSnapshot, ServiceSnapshot, StatsSnapshot } from '../core/types.ts';
import { SVC_F } from '../core/types.ts';
import { parseIp } from '../core/addr.ts';

/** Debian's amd64 kernels are built with CONFIG_HZ=250. */
export const DEFAULT_HZ = 250;

const FWD_NAME: Record<FwdMethod, string> = { masq: 'Masq', local: 'Local', tunnel: 'Tunnel', route: 'Route' };

function hex(v: number, width: number): string {
  return Math.floor(v).toString(16).toUpperCase().padStart(width, ' ');
}

function hex0(v: number, width: number): string {
  return (v >>> 0).toString(16).toUpperCase().padStart(width, '0');
}

/** %08X of an IPv4 address (host order, as ntohl gives it). */
function v4hex(addr: string): string {
  const ip = parseIp(addr);
  return hex0(ip && ip.af === 4 ? ip.words[0]! : 0, 8);
}

/** %pI6: eight groups of four lower-case hex digits. */
export function pI6(addr: string): string {
  const ip = parseIp(addr);
  const w = ip && ip.af === 6 ? ip.words : [0, 0, 0, 0];
  const g: string[] = [];
  for (const x of w) g.push(((x >>> 16) & 0xffff).toString(16).padStart(4, '0'), (x & 0xffff).toString(16).padStart(4, '0'));
  return g.join(':');
}

function bswap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | ((v >>> 24) & 0xff)) >>> 0;
}

/** %-Nd / %-Ns */
function left(v: string | number, n: number): string {
  return String(v).padEnd(n, ' ');
}

function serviceLine(s: ServiceSnapshot, hz: number): string {
  const ops = (s.flags & SVC_F.ONEPACKET) !== 0 ? 'ops ' : '';
  let line: string;
  if (s.fwmark > 0) line = `FWM  ${hex0(s.fwmark, 8)} ${s.scheduler} ${ops}`;
  else if (s.af === 6) line = `${s.protocol.toUpperCase()}  [${pI6(s.addr)}]:${hex0(s.port, 4)} ${s.scheduler} `;
  else line = `${s.protocol.toUpperCase()}  ${v4hex(s.addr)}:${hex0(s.port, 4)} ${s.scheduler} ${ops} `;
  if ((s.flags & SVC_F.PERSISTENT) !== 0) {
    const mask = s.af === 6 ? bswap32(s.netmask) : s.netmask >>> 0;
    return `${line}persistent ${s.timeout * hz} ${hex0(mask, 8)}\n`;
  }
  return line + '\n';
}

function destLine(d: DestSnapshot): string {
  const a = d.af === 6 ? `[${pI6(d.addr)}]` : v4hex(d.addr);
  return `  -> ${a}:${hex0(d.port, 4)}      ${left(FWD_NAME[d.fwd], 7)} ${left(d.weight, 6)} ${left(d.activeConns, 10)} ${left(d.inactConns, 10)}\n`;
}

export function renderIpVs(services: readonly ServiceSnapshot[], info: IpvsInfo, hz = DEFAULT_HZ): string {
  let out = `IP Virtual Server version ${info.version} (size=${info.connTableSize})\n`
    + 'Prot LocalAddress:Port Scheduler Flags\n'
    + '  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n';
  for (const pass of [false, true]) {
    for (const s of services) {
      if ((s.fwmark > 0) !== pass) continue;
      out += serviceLine(s, hz);
      for (const d of s.dests) out += destLine(d);
    }
  }
  return out;
}

export function renderIpVsStats(stats: StatsSnapshot, rates: RateSnapshot): string {
  return '   Total Incoming Outgoing         Incoming         Outgoing\n'
    + '   Conns  Packets  Packets            Bytes            Bytes\n'
    + `${hex(stats.conns, 8)} ${hex(stats.inpkts, 8)} ${hex(stats.outpkts, 8)} ${hex(stats.inbytes, 16)} ${hex(stats.outbytes, 16)}\n\n`
    + ' Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n'
    + `${hex(rates.cps, 8)} ${hex(rates.inpps, 8)} ${hex(rates.outpps, 8)} ${hex(rates.inbps, 16)} ${hex(rates.outbps, 16)}\n`;
}

export const IP_VS_CONN_HEADER = 'Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n';

function connLine(c: ConnSnapshot): string {
  const v6 = c.af === 6;
  const addr = (a: string) => (v6 ? pI6(a) : v4hex(a));
  const daddr = c.daddr.includes(':') ? pI6(c.daddr) : v4hex(c.daddr);
  const pe = c.peName ? ` ${c.peName} ${c.peData ?? ''}` : '';
  return `${left(c.protocol, 3)} ${addr(c.caddr)} ${hex0(c.cport, 4)} ${addr(c.vaddr)} ${hex0(c.vport, 4)} `
    + `${daddr} ${hex0(c.dport, 4)} ${left(c.state, 11)} ${String(Math.floor(c.expiresIn)).padStart(7, ' ')}${pe}\n`;
}

export function renderIpVsConn(conns: readonly ConnSnapshot[]): string {
  let out = IP_VS_CONN_HEADER;
  for (const c of conns) out += connLine(c);
  return out;
}
