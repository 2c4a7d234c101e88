/**
 * `tsvs doctor`: the seeds' troubleshooting list as checks. Each check reads the live system
 * (optionally inside a namespace) and returns a finding: what is wrong and the command that fixes
 * it. Real-server checks: VIP on lo, ARP sysctls, rp_filter (TUN), the service listening on the
 * VIP (not only on its own address), NAT gateway via the director, firewall drops, tunnel MTU and
 * decapsulation. Director checks: VIP present, the daemon's nftables table, TUN MTU. The role is
 * director where a tsvs daemon or its nftables table is in the namespace, or the VIP is on a
 * non-loopback interface; else real server.
 */
import { readFileSync } from 'node:fs';
import { nsArgv, shTry } from './netns.ts';
import { readState } from './realserver.ts';
import { tunnelOverhead } from '../codec/forward.ts';

export type Role = 'realserver' | 'director';
export type Mode = 'dr' | 'tun' | 'nat';

export interface DoctorOptions {
  readonly role?: Role;
  readonly vip: string;
  readonly port?: number;
  readonly mode?: Mode;
  /** The director's address (NAT gateway check). */
  readonly director?: string;
  readonly ns?: string;
}

export interface Finding {
  readonly check: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly fix?: string;
}

function run(ns: string | undefined, argv: string[]): string {
  const r = shTry(nsArgv(ns, argv));
  return r.status === 0 ? r.out : '';
}

function sysctl(ns: string | undefined, key: string): number {
  const v = run(ns, ['sysctl', '-n', key]).trim();
  return v === '' ? NaN : Number(v);
}

interface AddrInfo { ifname: string; mtu: number; addr_info?: { local: string; prefixlen: number; family: string }[] }

function addrs(ns: string | undefined): AddrInfo[] {
  const o = run(ns, ['ip', '-j', 'addr', 'show']);
  return o ? (JSON.parse(o) as AddrInfo[]) : [];
}

/** Is this argv (from /proc/PID/cmdline) `tsvs daemon ...`, run as a script (node .../tsvs.mjs) or installed? */
export function isTsvsDaemonArgv(argv: readonly string[]): boolean {
  const i = argv.findIndex((a) => /(^|\/)tsvs(\.m?[jt]s)?$/.test(a));
  return i >= 0 && argv[i + 1] === 'daemon';
}

/**
 * What shows this namespace is a director, or null: a tsvs daemon's control socket (a listening
 * Unix socket of this network namespace whose process is `tsvs daemon`), or the packet
 * forwarder's nftables table. A DR director keeps the VIP on lo, as a real server does, so the
 * VIP's place alone cannot tell them apart.
 */
export function directorSign(ns: string | undefined): string | null {
  // `ss -x` lists only the Unix sockets created in the namespace it runs in.
  const ss = run(ns, ['ss', '-xlpH']);
  for (const line of ss.split('\n')) {
    const path = line.trim().split(/\s+/)[4];
    for (const m of line.matchAll(/pid=(\d+)/g)) {
      let cmd: string;
      try {
        cmd = readFileSync(`/proc/${m[1]}/cmdline`, 'utf8');
      } catch {
        continue; // gone since ss listed it
      }
      if (isTsvsDaemonArgv(cmd.split('\0'))) return `tsvs daemon (pid ${m[1]}) listens on ${path ?? 'a control socket'}`;
    }
  }
  if (shTry(nsArgv(ns, ['nft', 'list', 'table', 'inet', 'tsvs'])).status === 0) return 'nftables table inet tsvs present';
  return null;
}

/** The role and what decided it (shown by `tsvs doctor`). */
export function detectRoleWhy(o: DoctorOptions): { role: Role; why: string } {
  if (o.role) return { role: o.role, why: '--role' };
  const sign = directorSign(o.ns);
  if (sign) return { role: 'director', why: sign };
  const on = addrs(o.ns).find((l) => (l.addr_info ?? []).some((a) => a.local === o.vip));
  if (on && on.ifname !== 'lo') return { role: 'director', why: `${o.vip} on ${on.ifname}` };
  return { role: 'realserver', why: on ? `${o.vip} on lo, no tsvs daemon or table here` : 'no tsvs daemon or table here' };
}

export function detectRole(o: DoctorOptions): Role {
  return detectRoleWhy(o).role;
}

export function diagnose(o: DoctorOptions): Finding[] {
  const ns = o.ns;
  const port = o.port ?? 80;
  const mode = o.mode ?? 'dr';
  const role = detectRole(o);
  const out: Finding[] = [];
  const links = addrs(ns);
  const holder = links.find((l) => (l.addr_info ?? []).some((a) => a.local === o.vip));
  if (role === 'realserver') {
    if (mode !== 'nat') {
      const onLo = holder?.ifname === 'lo' && (holder.addr_info ?? []).some((a) => a.local === o.vip && a.prefixlen === 32);
      out.push(onLo
        ? { check: 'vip-on-lo', ok: true, detail: `${o.vip}/32 is on lo` }
        : { check: 'vip-on-lo', ok: false, detail: holder ? `${o.vip} is on ${holder.ifname}, not lo as /32` : `${o.vip} is not configured`, fix: `ip addr add ${o.vip}/32 dev lo   (or: tsvs realserver up --vip ${o.vip} --mode ${mode})` });
      for (const [k, want] of [['arp_ignore', 1], ['arp_announce', 2]] as const) {
        const all = sysctl(ns, `net.ipv4.conf.all.${k}`);
        const lo = sysctl(ns, `net.ipv4.conf.lo.${k}`);
        const eff = Math.max(all, lo);
        out.push(eff >= want
          ? { check: k, ok: true, detail: `${k}: all=${all} lo=${lo}` }
          : { check: k, ok: false, detail: `${k} is ${eff} (all=${all}, lo=${lo}): this server answers ARP for the VIP and steals traffic from the director`, fix: `sysctl -w net.ipv4.conf.all.${k}=${want} net.ipv4.conf.lo.${k}=${want}` });
      }
    }
    if (mode === 'tun') {
      const dev = links.find((l) => l.ifname === 'tsvstun0' || l.ifname === 'tunl0');
      out.push(dev
        ? { check: 'ipip-decap', ok: true, detail: `${dev.ifname} present` }
        : { check: 'ipip-decap', ok: false, detail: 'no IPIP decapsulation (no tunl0, no tsvs agent device)', fix: `tsvs realserver up --vip ${o.vip} --mode tun   (or: modprobe ipip; ip link set tunl0 up)` });
      const all = sysctl(ns, 'net.ipv4.conf.all.rp_filter');
      const devRp = dev ? sysctl(ns, `net.ipv4.conf.${dev.ifname}.rp_filter`) : 0;
      const eff = Math.max(all, devRp);
      out.push(eff !== 1
        ? { check: 'rp_filter', ok: true, detail: `rp_filter all=${all}${dev ? ` ${dev.ifname}=${devRp}` : ''}` }
        : { check: 'rp_filter', ok: false, detail: `strict rp_filter (all=${all}${dev ? `, ${dev.ifname}=${devRp}` : ''}) drops decapsulated packets whose client address routes elsewhere`, fix: `sysctl -w net.ipv4.conf.all.rp_filter=0${dev ? ` net.ipv4.conf.${dev.ifname}.rp_filter=0` : ''}` });
      const eth = links.filter((l) => l.ifname !== 'lo' && !l.ifname.startsWith('tsvstun') && l.ifname !== 'tunl0');
      const small = eth.find((l) => l.mtu <= 1500);
      // The encapsulations this real server's agent accepts (tsvs realserver up --tun-type): the
      // largest overhead decides (IPIP 20, GUE 32, GRE 24, 28 with its checksum).
      const types = readState(ns, o.vip)?.tunTypes ?? ['ipip' as const];
      const over = Math.max(...types.map((t) => tunnelOverhead(4, t, t === 'gre' ? 'csum' : undefined)));
      out.push({ check: 'tun-mtu', ok: true, detail: small ? `${small.ifname} MTU ${small.mtu}: tunnelled packets (${types.join(', ')}) carry up to ${over} more bytes; the director answers too-big packets with ICMP fragmentation-needed (keep ICMP open), or clamp MSS to ${small.mtu - over - 40}` : 'MTU ok' });
    }
    // listening sockets
    const ss = run(ns, ['ss', '-ltnH']);
    const locals = ss.split('\n').map((l) => l.trim().split(/\s+/)[3]).filter((x): x is string => !!x);
    const onPort = locals.filter((l) => l.endsWith(`:${port}`)).map((l) => l.slice(0, l.lastIndexOf(':')).replace(/^\[|\]$/g, ''));
    const wild = onPort.some((a) => a === '0.0.0.0' || a === '*' || a === '::' || a === o.vip);
    if (onPort.length === 0) out.push({ check: 'listening', ok: false, detail: `nothing listens on TCP port ${port}`, fix: `start the service on 0.0.0.0:${port}` });
    else if (!wild && mode !== 'nat') out.push({ check: 'listening', ok: false, detail: `the service listens only on ${onPort.join(', ')}:${port}; packets for ${o.vip} are refused`, fix: `bind the service to 0.0.0.0:${port} (or add a listener on ${o.vip}:${port})` });
    else out.push({ check: 'listening', ok: true, detail: `listening on ${onPort.join(', ')}:${port}` });
    if (mode === 'nat' && o.director) {
      const r = run(ns, ['ip', '-j', 'route', 'show', 'default']);
      const gw = r ? (JSON.parse(r) as { gateway?: string }[])[0]?.gateway : undefined;
      out.push(gw === o.director
        ? { check: 'nat-gateway', ok: true, detail: `default route via ${gw}` }
        : { check: 'nat-gateway', ok: false, detail: `default route is ${gw ? `via ${gw}` : 'missing'}: NAT replies must return through the director ${o.director}`, fix: `ip route replace default via ${o.director}` });
    }
  } else {
    out.push(holder
      ? { check: 'vip', ok: true, detail: `${o.vip} on ${holder.ifname}` }
      : { check: 'vip', ok: false, detail: `${o.vip} is not configured on the director`, fix: `ip addr add ${o.vip}/32 dev <client-facing interface>` });
    const table = shTry(nsArgv(ns, ['nft', 'list', 'table', 'inet', 'tsvs'])).status === 0;
    out.push(table
      ? { check: 'nft-table', ok: true, detail: 'table inet tsvs present (the kernel does not answer on virtual ports)' }
      : { check: 'nft-table', ok: false, detail: 'table inet tsvs missing: the packet forwarder is not running, and the director\'s kernel would answer (RST) on the virtual port', fix: 'tsvs daemon --forwarder packet' });
  }
  // firewall drops (outside our own table)
  const rules = run(ns, ['nft', '-a', 'list', 'ruleset']);
  const drops: string[] = [];
  let inTsvs = false;
  for (const line of rules.split('\n')) {
    if (/^table /.test(line)) inTsvs = /^table inet tsvs\b/.test(line);
    if (inTsvs) continue;
    if (/\b(drop|reject)\b/.test(line) && (line.includes(o.vip) || new RegExp(`dport ${port}\\b`).test(line))) drops.push(line.trim());
    if (/policy drop/.test(line) && /hook (input|prerouting|forward)/.test(line)) drops.push(line.trim());
  }
  out.push(drops.length === 0
    ? { check: 'firewall', ok: true, detail: `no drop rule for ${o.vip} / port ${port}` }
    : { check: 'firewall', ok: false, detail: `firewall rules may drop the service: ${drops.join(' | ')}`, fix: `nft -a list ruleset, then remove or narrow those rules (nft delete rule <family> <table> <chain> handle <n>)` });
  return out;
}

export function renderFindings(f: readonly Finding[]): string {
  return f.map((x) => `${x.ok ? 'ok  ' : 'FAIL'} ${x.check.padEnd(12)} ${x.detail}${x.fix ? `\n     fix: ${x.fix}` : ''}`).join('\n') + '\n';
}
