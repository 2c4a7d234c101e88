/**
 * keepalived.conf reader: the load-balancing part (global_defs, virtual_server_group,
 * virtual_server, real_server, every checker) into the desired state, and the VRRP part
 * (vrrp_instance, vrrp_sync_group, vrrp_script, vrrp_track_file, static_*) parsed and validated
 * into plain data for the HA layer.
 *
 * Pure: files come through a ConfigSource. Errors carry file:line:col and what was expected;
 * unknown or unsupported keywords are warnings with file:line, never silently dropped. A config
 * with any error yields `state: null`.
 */
import { canonicalIp, parseIp, prefixToMask4 } from '../core/addr.ts';
import { SVC_F, type Af, type DestSpec, type FwdMethod, type Protocol, type ServiceSpec, type TunCsum, type TunType } from '../core/types.ts';
import { hostPort, serviceKeyString } from '../core/service-key.ts';
import type { CheckerDef, CommonCheckOpts, DnsType, StatusCodeSpec, UrlSpec } from '../health/types.ts';
import {
  DEFAULTS, deepFreeze, emptyVrrp,
  type Diagnostic, type GlobalConfig, type LoadResult, type RealServerConfig, type SorryServerConfig, type SourcePos,
  type VirtualServiceConfig, type VrrpAddress, type VrrpConfig, type VrrpInstanceConfig, type VrrpScriptConfig,
  type VrrpSyncGroupConfig, type VrrpTrack, type NotifyKeyword,
} from './desired.ts';
import { buildTree, endCol, lexKeepalived, type LexOptions, type Stmt, type Tok } from './kalex.ts';
import type { ConfigSource } from './source.ts';
import { sortDiagnostics } from './desired.ts';

export interface KeepalivedOptions extends LexOptions {}

const MAX_DIAGS = 500;

/** Records who runs a script (`KEYWORD SCRIPT USER [GROUP]`); a later line without a user clears it. */
function setUser<K extends string>(users: Partial<Record<K, string>>, k: K, user: string | undefined): void {
  if (user === undefined) delete users[k];
  else users[k] = user;
}

type Handler = { block: boolean | 'optional'; run: (s: Stmt) => void };
type Table = Record<string, Handler>;

/** Keywords accepted in global_defs and kept as written (no effect on the load balancer). */
const GLOBAL_PASSTHROUGH = new Set([
  // tsvs's own (src/daemon/observers.ts; keepalived itself warns about them): the HTTP listener, its tokens, the /proc files.
  'tsvs_http', 'tsvs_http_token', 'tsvs_procfs', 'tsvs_slow_start',
  'lvs_id', 'vrrp_mcast_group4', 'vrrp_mcast_group6', 'vrrp_garp_master_delay',
  'vrrp_garp_master_repeat', 'vrrp_garp_master_refresh', 'vrrp_garp_master_refresh_repeat', 'vrrp_garp_interval',
  'vrrp_gna_interval', 'vrrp_skip_check_adv_addr', 'vrrp_strict', 'vrrp_iptables', 'vrrp_ipsets', 'vrrp_version',
  'vrrp_check_unicast_src', 'vrrp_priority', 'checker_priority', 'bfd_priority', 'vrrp_no_swap', 'checker_no_swap',
  'dynamic_interfaces', 'max_auto_priority', 'min_auto_priority_delay', 'smtp_helo_name', 'smtp_alert', 'smtp_alert_vrrp',
  'smtp_alert_checker', 'notify_fifo', 'notify_fifo_script', 'vrrp_notify_fifo', 'vrrp_notify_fifo_script', 'lvs_notify_fifo',
  'lvs_notify_fifo_script', 'default_interface', 'no_email_faults', 'checker_log_all_failures', 'vrrp_rx_bufs_policy',
  'vrrp_startup_delay', 'vrrp_lower_prio_no_advert', 'vrrp_higher_prio_send_advert', 'vrrp_min_garp', 'script_security',
  'vrrp_rlimit_rttime', 'checker_rlimit_rttime', 'vrrp_rt_priority', 'checker_rt_priority', 'process_names',
  'process_name', 'vrrp_process_name', 'checker_process_name', 'lvs_netlink_monitor_rcv_bufs', 'vrrp_netlink_monitor_rcv_bufs',
  'instance', 'net_namespace', 'namespace_with_ipsets', 'use_pid_dir', 'linkbeat_use_polling', 'enable_traps',
  'snmp_socket', 'enable_snmp_vrrp', 'enable_snmp_checker', 'enable_snmp_rfc', 'enable_dbus', 'random_seed',
  'reload_check_config', 'reload_time_file', 'data_use_instance', 'startup_script', 'shutdown_script', 'tmp_config_directory',
]);

const LB_KIND: Record<string, FwdMethod> = { NAT: 'masq', DR: 'route', TUN: 'tunnel' };
const PROTOCOLS: Record<string, Protocol> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };
const SCHEDULERS = new Set(['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos']);
const DNS_TYPES = new Set<DnsType>(['A', 'NS', 'CNAME', 'SOA', 'MX', 'TXT', 'AAAA']);

interface PartialGroupMember { af: Af; fwmark: number; addr: string; port: number; at: SourcePos }

/** Inheritable checker options (virtual_server -> real_server -> checker). */
interface Inherit {
  retry?: number;
  delay_before_retry?: number;
  warmup?: number;
  connect_timeout?: number;
  delay_loop?: number;
}

class Ctx {
  readonly diags: Diagnostic[] = [];
  err(t: { file: string; line: number; col: number }, message: string): void {
    if (this.diags.length < MAX_DIAGS) this.diags.push({ severity: 'error', file: t.file, line: t.line, col: t.col, message });
  }
  warn(t: { file: string; line: number; col: number }, message: string): void {
    if (this.diags.length < MAX_DIAGS) this.diags.push({ severity: 'warning', file: t.file, line: t.line, col: t.col, message });
  }
  /** Position just after the statement (where a missing argument was expected). */
  after(s: Stmt): { file: string; line: number; col: number } {
    const last = s.args.length ? s.args[s.args.length - 1]! : s.name;
    return { file: last.file, line: last.line, col: endCol(last) + 1 };
  }
  arg(s: Stmt, i: number, what: string): Tok | null {
    const t = s.args[i];
    if (!t) { this.err(this.after(s), `expected ${what} after '${s.args.length ? s.args[s.args.length - 1]!.text : s.name.text}'`); return null; }
    return t;
  }
  extra(s: Stmt, n: number): void {
    if (s.args.length > n) this.warn(s.args[n]!, `unexpected argument '${s.args[n]!.text}' to '${s.name.text}'; ignored`);
  }
  num(s: Stmt, i: number, what: string, min: number, max: number, integer = true): number | null {
    const t = this.arg(s, i, what);
    if (!t) return null;
    const ok = integer ? /^[+-]?\d+$/.test(t.text) : /^[+-]?(\d+\.?\d*|\.\d+)$/.test(t.text);
    const v = Number(t.text);
    if (!ok || !Number.isFinite(v) || v < min || v > max) {
      this.err(t, `expected ${what} (${integer ? 'an integer' : 'a number'} ${min}..${max}), got '${t.text}'`);
      return null;
    }
    return v;
  }
  ip(s: Stmt, i: number, what: string): { addr: string; af: Af } | null {
    const t = this.arg(s, i, what);
    if (!t) return null;
    const ip = parseIp(t.text);
    if (!ip) { this.err(t, `expected ${what} (an IPv4 or IPv6 address), got '${t.text}'`); return null; }
    return { addr: canonicalIp(t.text)!, af: ip.af };
  }
  /**
   * A notify-style script, `KEYWORD SCRIPT [USER [GROUP]]` as keepalived reads it: the script is
   * one word (quoted when it has arguments); the next words name who runs it.
   */
  script(s: Stmt, what: string): { cmd: string; user?: string } | null {
    const t = this.arg(s, 0, what);
    if (!t) return null;
    this.extra(s, 3);
    const user = s.args.slice(1, 3).map((x) => x.text).join(' ');
    return user ? { cmd: t.text, user } : { cmd: t.text };
  }
  /** The rest of the line as one command string (quoted words re-quoted when needed). */
  command(s: Stmt, from: number, what: string): string | null {
    if (s.args.length <= from) { this.err(this.after(s), `expected ${what} after '${s.name.text}'`); return null; }
    const parts = s.args.slice(from);
    if (parts.length === 1) return parts[0]!.text;
    return parts.map((t) => (t.quoted && /[\s"]/.test(t.text) ? `"${t.text.replace(/(["\\])/g, '\\$1')}"` : t.text)).join(' ');
  }
  bool(s: Stmt, i: number): boolean {
    const t = s.args[i];
    if (!t) return true;
    const v = t.text.toLowerCase();
    if (['on', 'true', 'yes', '1'].includes(v)) return true;
    if (['off', 'false', 'no', '0'].includes(v)) return false;
    this.err(t, `expected on|off|true|false|yes|no, got '${t.text}'`);
    return true;
  }
  /** Runs the handlers of a block; unknown keywords warn (with their block). */
  dispatch(stmts: readonly Stmt[] | null, table: Table, where: string): void {
    if (!stmts) return;
    for (const s of stmts) {
      let h = table[s.name.text];
      if (!h) {
        const lower = s.name.text.toLowerCase();
        const k = Object.keys(table).find((x) => x.toLowerCase() === lower);
        if (k) {
          this.warn(s.name, `keyword '${s.name.text}' is spelled '${k}' (keywords are case-sensitive in keepalived); accepted as '${k}'`);
          h = table[k];
        }
      }
      if (!h) {
        this.warn(s.name, `unknown keyword '${s.name.text}' in ${where}; ignored${s.block ? ' with its block' : ''}`);
        continue;
      }
      if (h.block === true && !s.block) { this.err(this.after(s), `expected '{' after '${[s.name, ...s.args].map((t) => t.text).join(' ')}'`); continue; }
      if (h.block === false && s.block) { this.warn(s.open!, `unexpected block after '${s.name.text}'; block ignored`); }
      h.run(s);
    }
  }
}

function pos(t: Tok): SourcePos {
  return { file: t.file, line: t.line, col: t.col };
}

function lines(stmts: readonly Stmt[] | null): string[] {
  return (stmts ?? []).map((s) => [s.name, ...s.args].map((t) => t.text).join(' '));
}

/** Parses keepalived.conf text files starting at `path`. */
export function parseKeepalived(path: string, src: ConfigSource, opts: KeepalivedOptions = {}): LoadResult {
  const c = new Ctx();
  const lex = lexKeepalived(path, src, c.diags, opts);
  const tree = buildTree(lex.toks, c.diags);

  const global: {
    router_id?: string; notification_email: string[]; notification_email_from?: string; smtp_server?: string;
    smtp_connect_timeout?: number; lvs_timeouts?: { tcp: number; tcpfin: number; udp: number };
    lvs_sync_daemon?: { interface: string; instance: string; syncid: number }; lvs_flush: boolean; options: Record<string, string>;
    script_user?: string; enable_script_security?: boolean;
  } = { notification_email: [], lvs_flush: false, options: {} };
  const vrrp = emptyVrrp() as { -readonly [K in keyof VrrpConfig]: VrrpConfig[K][number][] };
  const groups = new Map<string, { members: PartialGroupMember[]; at: Tok }>();
  const services: VirtualServiceConfig[] = [];
  const svcSeen = new Map<string, SourcePos>();

  // ---- global_defs ----
  const globalTable: Table = {
    router_id: { block: false, run: (s) => { const t = c.arg(s, 0, 'a router id'); if (t) global.router_id = t.text; c.extra(s, 1); } },
    notification_email: { block: true, run: (s) => { for (const l of s.block!) global.notification_email.push([l.name, ...l.args].map((t) => t.text).join(' ')); } },
    notification_email_from: { block: false, run: (s) => { const t = c.arg(s, 0, 'an e-mail address'); if (t) global.notification_email_from = t.text; c.extra(s, 1); } },
    smtp_server: { block: false, run: (s) => { const t = c.ip(s, 0, 'the SMTP server address'); if (t) global.smtp_server = t.addr; if (s.args[1]) { c.num(s, 1, 'the SMTP port', 1, 65535); } c.extra(s, 2); } },
    smtp_connect_timeout: { block: false, run: (s) => { const v = c.num(s, 0, 'seconds', 0, 86400, false); if (v !== null) global.smtp_connect_timeout = v; c.extra(s, 1); } },
    lvs_timeouts: {
      block: false,
      run: (s) => {
        const t = { tcp: 0, tcpfin: 0, udp: 0 };
        for (let i = 0; i < s.args.length; i += 2) {
          const k = s.args[i]!.text;
          if (k !== 'tcp' && k !== 'tcpfin' && k !== 'udp') { c.err(s.args[i]!, `expected tcp|tcpfin|udp, got '${k}'`); continue; }
          const v = c.num(s, i + 1, `seconds for ${k}`, 0, 86400 * 365);
          if (v !== null) t[k] = v;
        }
        global.lvs_timeouts = t;
      },
    },
    lvs_sync_daemon: {
      block: false,
      run: (s) => {
        const ifn = c.arg(s, 0, 'an interface name');
        const inst = c.arg(s, 1, 'a vrrp_instance name');
        let syncid = 0;
        for (let i = 2; i < s.args.length; i++) {
          if (s.args[i]!.text === 'id') { syncid = c.num(s, i + 1, 'a sync id', 0, 255) ?? 0; i++; }
          else if (['maxlen', 'port', 'ttl', 'group'].includes(s.args[i]!.text)) { i++; }
          else c.warn(s.args[i]!, `unknown lvs_sync_daemon option '${s.args[i]!.text}'; ignored`);
        }
        if (ifn && inst) global.lvs_sync_daemon = { interface: ifn.text, instance: inst.text, syncid };
      },
    },
    lvs_flush: { block: false, run: () => { global.lvs_flush = true; } },
    script_user: { block: false, run: (s) => { const t = c.arg(s, 0, 'a user name'); if (t) global.script_user = s.args.slice(0, 2).map((x) => x.text).join(' '); c.extra(s, 2); } },
    enable_script_security: { block: false, run: (s) => { global.enable_script_security = true; c.extra(s, 0); } },
    lvs_flush_onstop: { block: false, run: (s) => { global.options['lvs_flush_onstop'] = s.args.map((t) => t.text).join(' ') || 'true'; } },
    smtp_connection_timeout: { block: false, run: (s) => { c.warn(s.name, "'smtp_connection_timeout' is not a keepalived keyword (did you mean smtp_connect_timeout?); ignored"); } },
  };
  for (const k of GLOBAL_PASSTHROUGH) {
    globalTable[k] = { block: 'optional', run: (s) => { global.options[k] = s.block ? lines(s.block).join('; ') : s.args.map((t) => t.text).join(' '); } };
  }

  // ---- checkers ----
  const parseCommon = (o: Record<string, unknown>): Table => ({
    connect_ip: { block: false, run: (s) => { const a = c.ip(s, 0, 'an address'); if (a) o['connect_ip'] = a.addr; c.extra(s, 1); } },
    connect_port: { block: false, run: (s) => { const v = c.num(s, 0, 'a port', 0, 65535); if (v !== null) o['connect_port'] = v; c.extra(s, 1); } },
    bindto: { block: false, run: (s) => { const a = c.ip(s, 0, 'an address'); if (a) o['bindto'] = a.addr; c.extra(s, 1); } },
    bind_port: { block: false, run: (s) => { const v = c.num(s, 0, 'a port', 0, 65535); if (v !== null) o['bind_port'] = v; c.extra(s, 1); } },
    connect_timeout: { block: false, run: (s) => { const v = c.num(s, 0, 'seconds', 0, 86400, false); if (v !== null) o['connect_timeout'] = v; c.extra(s, 1); } },
    retry: { block: false, run: (s) => { const v = c.num(s, 0, 'a retry count', 0, 1_000_000); if (v !== null) o['retry'] = v; c.extra(s, 1); } },
    nb_get_retry: { block: false, run: (s) => {
      const v = c.num(s, 0, 'a retry count', 0, 1_000_000);
      if (v !== null) { o['retry'] = v; c.warn(s.name, "'nb_get_retry' is deprecated: use 'retry' (applied as retry; keepalived 2.2 ignores it outside HTTP_GET/SSL_GET)"); }
      c.extra(s, 1);
    } },
    delay_before_retry: { block: false, run: (s) => { const v = c.num(s, 0, 'seconds', 0, 86400, false); if (v !== null) o['delay_before_retry'] = v; c.extra(s, 1); } },
    warmup: { block: false, run: (s) => { const v = c.num(s, 0, 'seconds', 0, 86400, false); if (v !== null) o['warmup'] = v; c.extra(s, 1); } },
    delay_loop: { block: false, run: (s) => { const v = c.num(s, 0, 'seconds', 0.001, 86400 * 365, false); if (v !== null) o['delay_loop'] = v; c.extra(s, 1); } },
    bind_if: { block: false, run: (s) => c.warn(s.name, "'bind_if' is not supported (checks use the routing table); ignored") },
    fwmark: { block: false, run: (s) => c.warn(s.name, "checker 'fwmark' is not supported; ignored") },
    log_all_failures: { block: false, run: (s) => c.warn(s.name, "'log_all_failures' is not supported (every failure is logged); ignored") },
  });

  const parseChecker = (s: Stmt, inh: Inherit): CheckerDef | null => {
    const kind = s.name.text.toUpperCase();
    const o: Record<string, unknown> = {};
    if (inh.retry !== undefined) o['retry'] = inh.retry;
    if (inh.delay_before_retry !== undefined) o['delay_before_retry'] = inh.delay_before_retry;
    if (inh.warmup !== undefined) o['warmup'] = inh.warmup;
    if (inh.connect_timeout !== undefined) o['connect_timeout'] = inh.connect_timeout;
    const common = parseCommon(o);
    const where = `${kind}`;
    const before = c.diags.filter((d) => d.severity === 'error').length;
    switch (kind) {
      case 'TCP_CHECK':
      case 'PING_CHECK':
        c.dispatch(s.block, common, where);
        break;
      case 'HTTP_GET':
      case 'SSL_GET': {
        const urls: UrlSpec[] = [];
        c.dispatch(s.block, {
          ...common,
          url: {
            block: true,
            run: (u) => {
              const url: Record<string, unknown> = {};
              const codes: StatusCodeSpec[] = [];
              c.dispatch(u.block, {
                path: { block: false, run: (x) => { const t = c.arg(x, 0, 'a URL path'); if (t) url['path'] = t.text; c.extra(x, 1); } },
                digest: {
                  block: false,
                  run: (x) => {
                    const t = c.arg(x, 0, 'an MD5 digest (32 hex digits)');
                    if (t && !/^[0-9a-fA-F]{32}$/.test(t.text)) c.err(t, `expected an MD5 digest (32 hex digits), got '${t.text}'`);
                    else if (t) url['digest'] = t.text.toLowerCase();
                    c.extra(x, 1);
                  },
                },
                status_code: {
                  block: false,
                  run: (x) => {
                    if (!x.args.length) c.arg(x, 0, 'a status code');
                    for (const t of x.args) {
                      const m = /^(\d{3})(?:-(\d{3}))?$/.exec(t.text);
                      if (!m || Number(m[1]) < 100 || Number(m[2] ?? m[1]) > 599 || Number(m[2] ?? m[1]) < Number(m[1])) {
                        c.err(t, `expected a status code 100..599 or a range like 200-299, got '${t.text}'`);
                        continue;
                      }
                      codes.push(m[2] ? [Number(m[1]), Number(m[2])] as const : Number(m[1]));
                    }
                  },
                },
                virtualhost: { block: false, run: (x) => { const t = c.arg(x, 0, 'a host name'); if (t) url['virtualhost'] = t.text; c.extra(x, 1); } },
                regex: { block: false, run: (x) => {
                  const t = c.arg(x, 0, 'a regular expression');
                  if (!t) return;
                  try { new RegExp(t.text); url['regex'] = t.text; } catch (e) { c.err(t, `invalid regex: ${(e as Error).message}`); }
                } },
                regex_no_match: { block: false, run: () => { url['regex_no_match'] = true; } },
                regex_options: { block: false, run: (x) => c.warn(x.name, "'regex_options' is not supported; ignored") },
                regex_stack: { block: false, run: (x) => c.warn(x.name, "'regex_stack' is not supported; ignored") },
                regex_min_offset: { block: false, run: (x) => c.warn(x.name, "'regex_min_offset' is not supported; ignored") },
                regex_max_offset: { block: false, run: (x) => c.warn(x.name, "'regex_max_offset' is not supported; ignored") },
              }, 'url');
              if (url['path'] === undefined) { c.err(c.after(u), "expected 'path' in url block"); return; }
              if (codes.length) url['status_code'] = codes;
              urls.push(url as unknown as UrlSpec);
            },
          },
          virtualhost: { block: false, run: (x) => { const t = c.arg(x, 0, 'a host name'); if (t) o['virtualhost'] = t.text; c.extra(x, 1); } },
          enable_sni: { block: false, run: (x) => { o['enable_sni'] = c.bool(x, 0); } },
          http_protocol: { block: false, run: (x) => {
            const t = c.arg(x, 0, 'an HTTP protocol version');
            if (!t) return;
            if (t.text === '1.0' || t.text === '1.1') o['http_protocol'] = t.text;
            else if (t.text === '1.0C' || t.text === '1.0K') { o['http_protocol'] = '1.0'; c.warn(t, `http_protocol ${t.text} is treated as 1.0`); }
            else c.err(t, `expected 1.0|1.1|1.0C|1.0K, got '${t.text}'`);
          } },
          tls_compliant: { block: false, run: (x) => c.warn(x.name, "'tls_compliant' is not supported (TLS close is always tolerant); ignored") },
          fast_recovery: { block: false, run: (x) => c.warn(x.name, "'fast_recovery' is not supported; ignored") },
        }, where);
        if (!urls.length) { c.err(c.after(s), `${kind} needs at least one 'url { path ... }' block`); return null; }
        o['url'] = urls;
        break;
      }
      case 'MISC_CHECK':
        c.dispatch(s.block, {
          ...common,
          misc_path: { block: false, run: (x) => { const v = c.command(x, 0, 'a script path'); if (v !== null) o['misc_path'] = v; } },
          misc_timeout: { block: false, run: (x) => { const v = c.num(x, 0, 'seconds', 0, 86400, false); if (v !== null) o['misc_timeout'] = v; c.extra(x, 1); } },
          misc_dynamic: { block: false, run: () => { o['misc_dynamic'] = true; } },
          user: { block: false, run: (x) => { const t = c.arg(x, 0, 'a user name'); if (t) o['user'] = x.args.slice(0, 2).map((a) => a.text).join(' '); c.extra(x, 2); } },
        }, where);
        if (o['misc_path'] === undefined) { c.err(c.after(s), "MISC_CHECK needs 'misc_path'"); return null; }
        break;
      case 'SMTP_CHECK': {
        let hosts = 0;
        c.dispatch(s.block, {
          ...common,
          helo_name: { block: false, run: (x) => { const t = c.arg(x, 0, 'a HELO name'); if (t) o['helo_name'] = t.text; c.extra(x, 1); } },
          host: { block: true, run: (x) => {
            hosts++;
            if (hosts > 1) { c.warn(x.name, "only the first 'host' block of SMTP_CHECK is used; this one is ignored"); return; }
            c.warn(x.name, "'host' blocks in SMTP_CHECK are deprecated; its options are applied to the checker");
            c.dispatch(x.block, common, 'SMTP_CHECK host');
          } },
        }, where);
        break;
      }
      case 'DNS_CHECK':
        c.dispatch(s.block, {
          ...common,
          type: { block: false, run: (x) => {
            const t = c.arg(x, 0, 'a DNS type');
            if (t && DNS_TYPES.has(t.text.toUpperCase() as DnsType)) o['dns_type'] = t.text.toUpperCase();
            else if (t) c.err(t, `expected a DNS type (A|NS|CNAME|SOA|MX|TXT|AAAA), got '${t.text}'`);
          } },
          name: { block: false, run: (x) => { const t = c.arg(x, 0, 'a DNS name'); if (t) o['name'] = t.text; c.extra(x, 1); } },
        }, where);
        break;
      case 'UDP_CHECK':
        c.dispatch(s.block, {
          ...common,
          payload: { block: false, run: (x) => {
            const t = c.arg(x, 0, 'a hex payload');
            if (t && /^([0-9a-fA-F]{2})+$/.test(t.text)) o['payload'] = t.text.toLowerCase();
            else if (t) c.err(t, `expected hex bytes (an even number of hex digits), got '${t.text}'`);
          } },
          require_reply: { block: false, run: (x) => {
            const t = x.args[0];
            if (!t) { o['require_reply'] = true; return; }
            if (/^([0-9a-fA-F]{2})+$/.test(t.text)) o['require_reply'] = t.text.toLowerCase();
            else c.err(t, `expected hex bytes, got '${t.text}'`);
          } },
          min_reply_length: { block: false, run: (x) => { const v = c.num(x, 0, 'a length', 0, 65535); if (v !== null) o['min_reply_length'] = v; } },
          max_reply_length: { block: false, run: (x) => { const v = c.num(x, 0, 'a length', 0, 65535); if (v !== null) o['max_reply_length'] = v; } },
        }, where);
        break;
      default:
        return null;
    }
    if (c.diags.filter((d) => d.severity === 'error').length > before) return null;
    return { type: kind, ...o } as CheckerDef;
  };

  const checkerTable = (onChecker: (d: CheckerDef) => void, inh: () => Inherit): Table => {
    const t: Table = {};
    for (const k of ['TCP_CHECK', 'HTTP_GET', 'SSL_GET', 'MISC_CHECK', 'SMTP_CHECK', 'DNS_CHECK', 'UDP_CHECK', 'PING_CHECK']) {
      t[k] = { block: 'optional', run: (s) => { const d = parseChecker(s, inh()); if (d) onChecker(d); } };
    }
    for (const k of ['FILE_CHECK', 'BFD_CHECK']) {
      t[k] = { block: 'optional', run: (s) => c.warn(s.name, `${k} is not supported by the tsvs health checkers; ignored (the real server is not checked by it)`) };
    }
    return t;
  };

  // ---- lvs_method / tunnel ----
  const parseMethod = (s: Stmt): { fwd: FwdMethod; tunType: TunType; tunPort: number; tunCsum: TunCsum } | null => {
    const t = c.arg(s, 0, 'NAT|DR|TUN');
    if (!t) return null;
    const fwd = LB_KIND[t.text.toUpperCase()];
    if (!fwd) { c.err(t, `expected NAT|DR|TUN, got '${t.text}'`); return null; }
    if (t.text !== t.text.toUpperCase()) c.warn(t, `'${t.text}' accepted as '${t.text.toUpperCase()}'`);
    let tunType: TunType = 'ipip', tunPort = 0, tunCsum: TunCsum = 'nocsum';
    for (let i = 1; i < s.args.length; i++) {
      const a = s.args[i]!.text;
      if (fwd !== 'tunnel') { c.warn(s.args[i]!, `unexpected argument '${a}' to '${s.name.text} ${t.text}'; ignored`); break; }
      if (a === 'type') {
        const ty = s.args[i + 1]?.text;
        if (ty === 'ipip' || ty === 'gue' || ty === 'gre') tunType = ty;
        else c.err(s.args[i + 1] ?? c.after(s), `expected ipip|gue|gre after 'type'`);
        i++;
      } else if (a === 'port') { tunPort = c.num(s, i + 1, 'a tunnel port', 1, 65535) ?? 0; i++; }
      else if (a === 'nocsum' || a === 'csum' || a === 'remcsum') tunCsum = a;
      else c.err(s.args[i]!, `expected type|port|nocsum|csum|remcsum, got '${a}'`);
    }
    if (tunType === 'gue' && tunPort === 0 && fwd === 'tunnel') c.err(c.after(s), "tunnel type gue needs 'port N'");
    return { fwd, tunType, tunPort, tunCsum };
  };

  // ---- virtual_server_group ----
  const expandRange = (t: Tok, portTok: Tok | undefined, af: Af, out: PartialGroupMember[]): void => {
    const m = /^(.*[.:])([0-9a-fA-F]+)-([0-9a-fA-F]+)$/.exec(t.text);
    const port = portTok ? Number(portTok.text) : 0;
    if (!portTok || !/^\d+$/.test(portTok.text) || port > 65535) {
      c.err(portTok ?? { file: t.file, line: t.line, col: endCol(t) + 1 }, `expected a port number after '${t.text}'`);
      return;
    }
    if (!m) { c.err(t, `expected an address or range like 10.0.0.1-10, got '${t.text}'`); return; }
    const base = m[1]! + m[2]!;
    const ip = parseIp(base);
    if (!ip) { c.err(t, `expected an address or range like 10.0.0.1-10, got '${t.text}'`); return; }
    const radix = ip.af === 4 ? 10 : 16;
    const lo = parseInt(m[2]!, radix), hi = parseInt(m[3]!, radix);
    const max = ip.af === 4 ? 255 : 0xffff;
    if (Number.isNaN(hi) || hi < lo || hi > max || (ip.af === 4 && !/^\d+$/.test(m[3]!))) { c.err(t, `bad address range '${t.text}': the end must be >= ${m[2]} and <= ${ip.af === 4 ? 255 : 'ffff'}`); return; }
    if (hi - lo > 4096) { c.err(t, `address range '${t.text}' is too large (more than 4096 addresses)`); return; }
    for (let v = lo; v <= hi; v++) {
      const txt = m[1]! + v.toString(radix);
      out.push({ af: ip.af, fwmark: 0, addr: canonicalIp(txt)!, port, at: pos(t) });
    }
    void af;
  };
  const parseGroup = (s: Stmt): void => {
    const name = c.arg(s, 0, 'a group name');
    if (!name) return;
    if (groups.has(name.text)) c.err(name, `virtual_server_group '${name.text}' is already defined at ${groups.get(name.text)!.at.file}:${groups.get(name.text)!.at.line}`);
    const members: PartialGroupMember[] = [];
    for (const l of s.block ?? []) {
      if (l.name.text === 'fwmark') {
        const v = c.num(l, 0, 'a firewall mark', 1, 0xffffffff);
        let af: Af = 4;
        if (l.args[1]?.text === 'inet6') af = 6;
        if (v !== null) members.push({ af, fwmark: v, addr: af === 6 ? '::' : '0.0.0.0', port: 0, at: pos(l.name) });
        continue;
      }
      if (l.block) { c.warn(l.name, `unexpected block in virtual_server_group; ignored`); continue; }
      const ip = parseIp(l.name.text);
      if (ip) {
        const portTok = l.args[0];
        if (!portTok || !/^\d+$/.test(portTok.text) || Number(portTok.text) > 65535) {
          c.err(portTok ?? c.after(l), `expected a port number after '${l.name.text}'`);
          continue;
        }
        members.push({ af: ip.af, fwmark: 0, addr: canonicalIp(l.name.text)!, port: Number(portTok.text), at: pos(l.name) });
        c.extra(l, 1);
      } else if (l.name.text.includes('-')) {
        expandRange(l.name, l.args[0], 4, members);
        c.extra(l, 1);
      } else c.err(l.name, `expected 'IP PORT', 'IP-RANGE PORT' or 'fwmark N' in virtual_server_group, got '${l.name.text}'`);
    }
    if (!members.length) c.warn(name, `virtual_server_group '${name.text}' is empty`);
    groups.set(name.text, { members, at: name });
  };

  // ---- virtual_server ----
  const parseVirtualServer = (s: Stmt): void => {
    const head = c.arg(s, 0, "an address, 'fwmark N' or 'group NAME'");
    if (!head) return;
    type Member = { af: Af; fwmark: number; addr: string; port: number; fromAddr: boolean };
    let members: Member[] = [];
    let groupName: string | undefined;
    let explicitAf: Af | null = null;
    if (head.text === 'fwmark') {
      const v = c.num(s, 1, 'a firewall mark', 1, 0xffffffff);
      c.extra(s, 2);
      if (v === null) return;
      members = [{ af: 4, fwmark: v, addr: '0.0.0.0', port: 0, fromAddr: false }];
    } else if (head.text === 'group') {
      const g = c.arg(s, 1, 'a virtual_server_group name');
      c.extra(s, 2);
      if (!g) return;
      const grp = groups.get(g.text);
      if (!grp) { c.err(g, `virtual_server_group '${g.text}' is not defined`); return; }
      groupName = g.text;
      members = grp.members.map((m) => ({ af: m.af, fwmark: m.fwmark, addr: m.addr, port: m.port, fromAddr: m.fwmark === 0 }));
    } else {
      const ip = c.ip(s, 0, "an address, 'fwmark N' or 'group NAME'");
      if (!ip) return;
      const port = c.num(s, 1, 'a port number', 0, 65535);
      c.extra(s, 2);
      if (port === null) return;
      members = [{ af: ip.af, fwmark: 0, addr: ip.addr, port, fromAddr: true }];
    }

    let scheduler: string = DEFAULTS.keepalivedScheduler;
    let lbKind: { fwd: FwdMethod; tunType: TunType; tunPort: number; tunCsum: TunCsum } = { fwd: DEFAULTS.keepalivedFwd, tunType: 'ipip', tunPort: 0, tunCsum: 'nocsum' };
    let protocol: Protocol = 'tcp';
    let protocolTok: Tok | null = null;
    let persistence = 0;
    let vsWeight: number = DEFAULTS.weight;
    let granularity: { text: string; tok: Tok } | null = null;
    let pe = '';
    let flags = 0;
    let delayLoop: number = DEFAULTS.delay_loop;
    const opt = {
      alpha: false, omega: false, quorum: DEFAULTS.quorum as number, hysteresis: DEFAULTS.hysteresis as number,
      inhibit_on_failure: false, ha_suspend: false, sorry_server_inhibit: false,
    };
    let quorumUp: string | undefined, quorumDown: string | undefined, virtualhost: string | undefined;
    const vsUsers: Partial<Record<'quorum_up' | 'quorum_down', string>> = {};
    let sorry: { addr: string; af: Af; port: number; tok: Tok } | null = null;
    let sorryMethod: FwdMethod | null = null;
    const inh: Inherit = {};
    const realStmts: Stmt[] = [];

    c.dispatch(s.block, {
      delay_loop: { block: false, run: (x) => { const v = c.num(x, 0, 'seconds', 0.001, 86400 * 365, false); if (v !== null) delayLoop = v; c.extra(x, 1); } },
      lb_algo: { block: false, run: (x) => {
        const t = c.arg(x, 0, 'a scheduler name');
        if (!t) return;
        const v = t.text.toLowerCase();
        if (!SCHEDULERS.has(v)) { c.err(t, `expected a scheduler (${[...SCHEDULERS].join('|')}), got '${t.text}'`); return; }
        if (v !== t.text) c.warn(t, `scheduler '${t.text}' accepted as '${v}'`);
        scheduler = v;
        c.extra(x, 1);
      } },
      lb_kind: { block: false, run: (x) => { const m = parseMethod(x); if (m) lbKind = m; } },
      persistence_timeout: { block: false, run: (x) => {
        if (!x.args.length) { persistence = DEFAULTS.persistence_timeout; return; }
        const v = c.num(x, 0, 'seconds', 0, 0x7fffffff);
        if (v !== null) persistence = v;
        c.extra(x, 1);
      } },
      persistence_granularity: { block: false, run: (x) => { const t = c.arg(x, 0, 'a netmask or prefix length'); if (t) granularity = { text: t.text, tok: t }; c.extra(x, 1); } },
      persistence_engine: { block: false, run: (x) => { const t = c.arg(x, 0, 'a persistence engine name'); if (t) pe = t.text; c.extra(x, 1); } },
      protocol: { block: false, run: (x) => {
        const t = c.arg(x, 0, 'TCP|UDP|SCTP');
        if (!t) return;
        const p = PROTOCOLS[t.text.toUpperCase()];
        if (!p) c.err(t, `expected TCP|UDP|SCTP, got '${t.text}'`);
        else { protocol = p; protocolTok = t; }
        c.extra(x, 1);
      } },
      ha_suspend: { block: false, run: () => { opt.ha_suspend = true; } },
      weight: { block: false, run: (x) => { const v = c.num(x, 0, 'a default weight', 0, 65535); if (v !== null) vsWeight = v; c.extra(x, 1); } },
      virtualhost: { block: false, run: (x) => { const t = c.arg(x, 0, 'a host name'); if (t) virtualhost = t.text; c.extra(x, 1); } },
      alpha: { block: false, run: (x) => { opt.alpha = c.bool(x, 0); } },
      omega: { block: false, run: (x) => { opt.omega = c.bool(x, 0); } },
      quorum: { block: false, run: (x) => { const v = c.num(x, 0, 'a weight sum', 0, 0x7fffffff); if (v !== null) opt.quorum = v; c.extra(x, 1); } },
      hysteresis: { block: false, run: (x) => { const v = c.num(x, 0, 'a weight', 0, 0x7fffffff); if (v !== null) opt.hysteresis = v; c.extra(x, 1); } },
      quorum_up: { block: false, run: (x) => { const v = c.script(x, 'a script'); if (v) { quorumUp = v.cmd; setUser(vsUsers, 'quorum_up', v.user); } } },
      quorum_down: { block: false, run: (x) => { const v = c.script(x, 'a script'); if (v) { quorumDown = v.cmd; setUser(vsUsers, 'quorum_down', v.user); } } },
      inhibit_on_failure: { block: false, run: (x) => { opt.inhibit_on_failure = c.bool(x, 0); } },
      sorry_server: { block: false, run: (x) => {
        const a = c.ip(x, 0, 'the sorry server address');
        if (!a) return;
        const p = x.args[1] ? c.num(x, 1, 'a port', 0, 65535) : 0;
        if (p === null) return;
        sorry = { addr: a.addr, af: a.af, port: p, tok: x.args[0]! };
        c.extra(x, 2);
      } },
      sorry_server_inhibit: { block: false, run: (x) => { opt.sorry_server_inhibit = c.bool(x, 0); } },
      sorry_server_lvs_method: { block: false, run: (x) => { const m = parseMethod(x); if (m) sorryMethod = m.fwd; } },
      ops: { block: false, run: () => { flags |= SVC_F.ONEPACKET; } },
      ip_family: { block: false, run: (x) => {
        const t = c.arg(x, 0, 'inet|inet6');
        if (t?.text === 'inet') explicitAf = 4;
        else if (t?.text === 'inet6') explicitAf = 6;
        else if (t) c.err(t, `expected inet|inet6, got '${t.text}'`);
      } },
      lb_flags: { block: false, run: (x) => { for (const t of x.args) applyFlag(t); } },
      ...Object.fromEntries(['sh-port', 'sh-fallback', 'mh-port', 'mh-fallback', 'flag-1', 'flag-2', 'flag-3'].map((k) => [k, { block: false, run: (x: Stmt) => applyFlag(x.name) }])),
      retry: { block: false, run: (x) => { const v = c.num(x, 0, 'a retry count', 0, 1_000_000); if (v !== null) inh.retry = v; } },
      delay_before_retry: { block: false, run: (x) => { const v = c.num(x, 0, 'seconds', 0, 86400, false); if (v !== null) inh.delay_before_retry = v; } },
      warmup: { block: false, run: (x) => { const v = c.num(x, 0, 'seconds', 0, 86400, false); if (v !== null) inh.warmup = v; } },
      connect_timeout: { block: false, run: (x) => { const v = c.num(x, 0, 'seconds', 0, 86400, false); if (v !== null) inh.connect_timeout = v; } },
      nat_mask: { block: false, run: (x) => c.warn(x.name, "'nat_mask' is obsolete (keepalived 1.x) and has no effect; ignored") },
      net_mask: { block: false, run: (x) => c.warn(x.name, "'net_mask' is obsolete and has no effect; ignored") },
      smtp_alert: { block: false, run: (x) => c.warn(x.name, "'smtp_alert' is not supported (no e-mail alerts); ignored") },
      real_server: { block: 'optional', run: (x) => { realStmts.push(x); } },
    }, 'virtual_server');

    function applyFlag(t: Tok): void {
      const map: Record<string, number> = {
        'sh-fallback': SVC_F.SCHED1, 'mh-fallback': SVC_F.SCHED1, 'flag-1': SVC_F.SCHED1,
        'sh-port': SVC_F.SCHED2, 'mh-port': SVC_F.SCHED2, 'flag-2': SVC_F.SCHED2, 'flag-3': SVC_F.SCHED3,
      };
      for (const part of t.text.split(',')) {
        const b = map[part];
        if (b === undefined) { c.err(t, `expected a scheduler flag (sh-port|sh-fallback|mh-port|mh-fallback|flag-1|flag-2|flag-3), got '${part}'`); continue; }
        flags |= b;
      }
    }
    if (flags & (SVC_F.SCHED1 | SVC_F.SCHED2)) {
      // ipvsadm semantics: sh-*/mh-* flags only with their scheduler.
      if (!['sh', 'mh'].includes(scheduler)) c.warn(s.name, `scheduler flags set on a '${scheduler}' service have no effect`);
    }
    // keepalived's validate_check_config() corrections, with the same outcome and a warning each.
    const byAddr = members.some((m) => m.fwmark === 0);
    const byMark = members.some((m) => m.fwmark > 0);
    if (byAddr && protocolTok === null) {
      c.warn(s.name, `virtual server ${head.text}${s.args[1] ? ' ' + s.args[1].text : ''}: no 'protocol' set; UDP is used (as keepalived 2.x does: the kernel default)`);
      protocol = 'udp';
    }
    if (!byAddr && byMark && protocolTok !== null) c.warn(protocolTok, 'protocol specified for a fwmark service; ignored');
    if (byMark && opt.ha_suspend) { c.warn(s.name, 'ha_suspend cannot be used with fwmark services; cleared'); opt.ha_suspend = false; }
    if (byAddr && (flags & SVC_F.ONEPACKET) && (protocol as Protocol) !== 'udp') { c.warn(s.name, "'ops' (one-packet scheduling) requires UDP; cleared"); flags &= ~SVC_F.ONEPACKET; }
    if (byAddr && persistence === 0 && members.some((m) => m.fwmark === 0 && m.port === 0)) {
      c.warn(s.name, `port 0 is only valid for persistent services; persistence_timeout ${DEFAULTS.persistence_timeout} is set`);
      persistence = DEFAULTS.persistence_timeout;
    }
    if (persistence > 0) flags |= SVC_F.PERSISTENT;

    const svcs: { spec: ServiceSpec; at: SourcePos }[] = [];
    for (const m of members) {
      let af = m.af;
      if (m.fwmark > 0 && explicitAf !== null) af = explicitAf;
      if (m.fwmark === 0 && explicitAf !== null && explicitAf !== m.af) c.err(s.name, `ip_family ${explicitAf === 6 ? 'inet6' : 'inet'} does not match the address ${m.addr}`);
      let netmask: number = af === 4 ? DEFAULTS.netmask4 : DEFAULTS.netmask6;
      if (granularity) {
        const g = granularity as { text: string; tok: Tok };
        if (af === 4) {
          const v4 = /^\d+$/.test(g.text) ? (Number(g.text) <= 32 ? prefixToMask4(Number(g.text)) : null) : parseIp(g.text);
          const mask = typeof v4 === 'number' ? v4 : v4 && v4.af === 4 ? v4.words[0]! : null;
          if (mask === null || !isContiguous(mask)) c.err(g.tok, `expected an IPv4 netmask like 255.255.255.0 or a prefix length 0..32, got '${g.text}'`);
          else netmask = mask;
        } else {
          const v = Number(g.text);
          if (!/^\d+$/.test(g.text) || v < 1 || v > 128) c.err(g.tok, `expected an IPv6 prefix length 1..128, got '${g.text}'`);
          else netmask = v;
        }
      }
      const fwmark = m.fwmark;
      const spec: ServiceSpec = {
        af, fwmark,
        protocol: fwmark > 0 ? 'tcp' : protocol,
        addr: fwmark > 0 ? (af === 6 ? '::' : '0.0.0.0') : m.addr,
        port: fwmark > 0 ? 0 : m.port,
        scheduler, flags, timeout: persistence > 0 ? persistence : 0, netmask, pe,
      };
      const key = serviceKeyString(spec);
      if (svcSeen.has(key)) {
        const p = svcSeen.get(key)!;
        c.err(head, `virtual service ${key} is defined twice (first at ${p.file}:${p.line})`);
        continue;
      }
      svcSeen.set(key, pos(head));
      svcs.push({ spec, at: pos(s.name) });
    }

    // Real servers (parsed once per virtual_server; shared by all group members).
    type RealDraft = { addr: string; af: Af; port: number | null; weight: number; method: typeof lbKind | null; u: number; l: number;
      inhibit?: boolean; notify_up?: string; notify_down?: string; users: Partial<Record<'notify_up' | 'notify_down', string>>; delay_loop?: number; alpha?: boolean; checkers: CheckerDef[]; at: Tok };
    const drafts: RealDraft[] = [];
    for (const r of realStmts) {
      const a = c.ip(r, 0, 'the real server address');
      if (!a) continue;
      let port: number | null = null;
      if (r.args[1]) { port = c.num(r, 1, 'a port', 0, 65535); if (port === null) continue; }
      c.extra(r, 2);
      const d: RealDraft = { addr: a.addr, af: a.af, port, weight: vsWeight, method: null, u: 0, l: 0, users: {}, checkers: [], at: r.args[0]! };
      const rInh: Inherit = { ...inh };
      c.dispatch(r.block, {
        weight: { block: false, run: (x) => { const v = c.num(x, 0, 'a weight', 0, 65535); if (v !== null) d.weight = v; c.extra(x, 1); } },
        inhibit_on_failure: { block: false, run: (x) => { d.inhibit = c.bool(x, 0); } },
        notify_up: { block: false, run: (x) => { const v = c.script(x, 'a script'); if (v) { d.notify_up = v.cmd; setUser(d.users, 'notify_up', v.user); } } },
        notify_down: { block: false, run: (x) => { const v = c.script(x, 'a script'); if (v) { d.notify_down = v.cmd; setUser(d.users, 'notify_down', v.user); } } },
        uthreshold: { block: false, run: (x) => { const v = c.num(x, 0, 'a connection count', 0, 0x7fffffff); if (v !== null) d.u = v; } },
        lthreshold: { block: false, run: (x) => { const v = c.num(x, 0, 'a connection count', 0, 0x7fffffff); if (v !== null) d.l = v; } },
        lvs_method: { block: false, run: (x) => { const m = parseMethod(x); if (m) d.method = m; } },
        delay_loop: { block: false, run: (x) => { const v = c.num(x, 0, 'seconds', 0.001, 86400 * 365, false); if (v !== null) d.delay_loop = v; } },
        alpha: { block: false, run: (x) => { d.alpha = c.bool(x, 0); } },
        retry: { block: false, run: (x) => { const v = c.num(x, 0, 'a retry count', 0, 1_000_000); if (v !== null) rInh.retry = v; } },
        delay_before_retry: { block: false, run: (x) => { const v = c.num(x, 0, 'seconds', 0, 86400, false); if (v !== null) rInh.delay_before_retry = v; } },
        warmup: { block: false, run: (x) => { const v = c.num(x, 0, 'seconds', 0, 86400, false); if (v !== null) rInh.warmup = v; } },
        connect_timeout: { block: false, run: (x) => { const v = c.num(x, 0, 'seconds', 0, 86400, false); if (v !== null) rInh.connect_timeout = v; } },
        virtualhost: { block: false, run: (x) => c.warn(x.name, "real_server 'virtualhost' is applied only through HTTP_GET/SSL_GET blocks; ignored here") },
        smtp_alert: { block: false, run: (x) => c.warn(x.name, "'smtp_alert' is not supported (no e-mail alerts); ignored") },
        ...checkerTable((ck) => d.checkers.push(ck), () => rInh),
      }, 'real_server');
      // Service-level virtualhost applies to HTTP checkers that do not set their own.
      if (virtualhost !== undefined) {
        d.checkers = d.checkers.map((ck) => ((ck.type === 'HTTP_GET' || ck.type === 'SSL_GET') && ck.virtualhost === undefined ? { ...ck, virtualhost } : ck));
      }
      drafts.push(d);
    }

    for (const { spec, at } of svcs) {
      const reals: RealServerConfig[] = [];
      const seen = new Set<string>();
      for (const d of drafts) {
        if (d.af !== spec.af && !(spec.fwmark > 0 && spec.af === 6 && d.af === 6)) {
          c.err(d.at, `real server ${d.addr} is IPv${d.af} but the virtual service ${serviceKeyString(spec)} is IPv${spec.af}`);
          continue;
        }
        const method = d.method ?? lbKind;
        let port = d.port ?? 0;
        if (method.fwd === 'masq') {
          if (spec.fwmark === 0 && port === 0) port = spec.port;
        } else if (spec.fwmark > 0) {
          if (port !== 0 && !groupName) c.warn(d.at, `fwmark service: real server ${d.addr} port ${port} is ignored for ${method.fwd === 'route' ? 'DR' : 'TUN'}; 0 is used`);
          port = 0;
        } else if (port === 0) port = spec.port;
        else if (port !== spec.port) {
          // keepalived resets it; ipvsadm/the kernel force it: DR and TUN cannot change ports.
          c.warn(d.at, `real server port ${port} differs from the service port ${spec.port}: ${method.fwd === 'route' ? 'DR' : 'TUN'} cannot change ports; ${spec.port} is used`);
          port = spec.port;
        }
        const key = hostPort(d.addr, port);
        if (seen.has(key)) { c.warn(d.at, `real server ${key} is duplicated in ${serviceKeyString(spec)}; the second one is removed`); continue; }
        seen.add(key);
        const dest: DestSpec = {
          af: d.af, addr: d.addr, port, fwd: method.fwd, weight: d.weight, uThreshold: d.u, lThreshold: d.l,
          tunType: method.tunType, tunPort: method.tunPort, tunCsum: method.tunCsum,
        };
        reals.push({
          key, dest, inhibit_on_failure: d.inhibit ?? opt.inhibit_on_failure,
          ...(d.notify_up !== undefined ? { notify_up: d.notify_up } : {}),
          ...(d.notify_down !== undefined ? { notify_down: d.notify_down } : {}),
          ...(Object.keys(d.users).length ? { script_users: { ...d.users } } : {}),
          ...(d.delay_loop !== undefined ? { delay_loop: d.delay_loop } : {}),
          ...(d.alpha !== undefined ? { alpha: d.alpha } : {}),
          checkers: d.checkers,
          at: pos(d.at),
        });
      }
      let sorryCfg: SorryServerConfig | undefined;
      if (sorry) {
        const so = sorry as { addr: string; af: Af; port: number; tok: Tok };
        if (so.af !== spec.af) c.err(so.tok, `sorry server ${so.addr} is IPv${so.af} but the service is IPv${spec.af}`);
        const fwd = sorryMethod ?? lbKind.fwd;
        let port = so.port;
        if (fwd !== 'masq') port = spec.fwmark > 0 ? 0 : spec.port;
        else if (port === 0 && spec.fwmark === 0) port = spec.port;
        if (fwd !== 'masq' && so.port !== 0 && so.port !== port) c.warn(so.tok, `sorry server port ${so.port} cannot be used with ${fwd === 'route' ? 'DR' : 'TUN'}; ${port} is used`);
        sorryCfg = { addr: so.addr, port, fwd, weight: 1 };
      }
      if (reals.length === 0) { c.warn(at, `virtual server ${serviceKeyString(spec)} has no real servers; ignored (as keepalived)`); continue; }
      let quorum = opt.quorum, hysteresis = opt.hysteresis;
      const weightSum = reals.reduce((a, r) => a + r.dest.weight, 0);
      if (quorum > weightSum) { c.warn(at, `quorum ${quorum} of ${serviceKeyString(spec)} exceeds the total weight of its real servers ${weightSum}; reduced to ${weightSum}`); quorum = weightSum; }
      if (hysteresis >= quorum && (hysteresis > 0 || quorum > 0)) {
        const h = Math.max(0, quorum - 1);
        if (hysteresis !== h) c.warn(at, `hysteresis ${hysteresis} >= quorum ${quorum} for ${serviceKeyString(spec)}; set to ${h}`);
        hysteresis = h;
      }
      services.push({
        key: serviceKeyString(spec), spec,
        ...(groupName !== undefined ? { group: groupName } : {}),
        lb_kind: lbKind.fwd, delay_loop: delayLoop,
        alpha: opt.alpha, omega: opt.omega, quorum, hysteresis,
        ...(quorumUp !== undefined ? { quorum_up: quorumUp } : {}),
        ...(quorumDown !== undefined ? { quorum_down: quorumDown } : {}),
        ...(Object.keys(vsUsers).length ? { script_users: { ...vsUsers } } : {}),
        inhibit_on_failure: opt.inhibit_on_failure, ha_suspend: opt.ha_suspend,
        ...(virtualhost !== undefined ? { virtualhost } : {}),
        ...(sorryCfg ? { sorry_server: sorryCfg } : {}),
        sorry_server_inhibit: opt.sorry_server_inhibit,
        extra: {}, reals, at,
      });
    }
  };

  // ---- VRRP ----
  const parseAddrLine = (l: Stmt): VrrpAddress | null => {
    const m = /^([^/]+)(?:\/(\d+))?$/.exec(l.name.text);
    const ip = m ? parseIp(m[1]!) : null;
    if (!m || !ip) { c.err(l.name, `expected an address[/prefix], got '${l.name.text}'`); return null; }
    const maxP = ip.af === 4 ? 32 : 128;
    const prefix = m[2] !== undefined ? Number(m[2]) : maxP;
    if (prefix > maxP) { c.err(l.name, `prefix length ${prefix} is larger than ${maxP}`); return null; }
    const a: { addr: string; prefix: number; dev?: string; brd?: string; scope?: string; label?: string; extra: string[] } = { addr: canonicalIp(m[1]!)!, prefix, extra: [] };
    for (let i = 0; i < l.args.length; i++) {
      const k = l.args[i]!.text;
      if (k === 'dev' || k === 'brd' || k === 'scope' || k === 'label' || k === 'broadcast') {
        const v = l.args[i + 1];
        if (!v) { c.err(c.after(l), `expected a value after '${k}'`); break; }
        a[k === 'broadcast' ? 'brd' : k] = v.text;
        i++;
      } else a.extra.push(k);
    }
    if (l.block) c.warn(l.open!, 'unexpected block after an address; ignored');
    return a;
  };
  const addrBlock = (s: Stmt, out: VrrpAddress[]): void => { for (const l of s.block ?? []) { const a = parseAddrLine(l); if (a) out.push(a); } };
  const trackBlock = (s: Stmt, out: VrrpTrack[]): void => {
    for (const l of s.block ?? []) {
      const t: { name: string; weight?: number; reverse?: boolean } = { name: l.name.text };
      for (let i = 0; i < l.args.length; i++) {
        if (l.args[i]!.text === 'weight') { const v = c.num(l, i + 1, 'a weight', -254, 254); if (v !== null) t.weight = v; i++; }
        else if (l.args[i]!.text === 'reverse') t.reverse = true;
        else c.warn(l.args[i]!, `unexpected '${l.args[i]!.text}' in ${s.name.text}; ignored`);
      }
      out.push(t);
    }
  };
  type Notify = Partial<Record<NotifyKeyword, string>>;
  const notifyHandlers = (n: Notify, users: Notify): Table => Object.fromEntries(
    (['notify', 'notify_master', 'notify_backup', 'notify_fault', 'notify_stop'] as const).map((k) => [k, { block: false, run: (x: Stmt) => { const v = c.script(x, 'a script'); if (v) { n[k] = v.cmd; setUser(users, k, v.user); } } }]),
  );
  const ignoredVrrp = (names: string[]): Table => Object.fromEntries(names.map((k) => [k, { block: 'optional' as const, run: (x: Stmt) => c.warn(x.name, `'${k}' is accepted but not implemented by the tsvs VRRP engine; ignored`) }]));

  const parseInstance = (s: Stmt): void => {
    const name = c.arg(s, 0, 'an instance name');
    if (!name) return;
    const i: {
      name: string; state: 'MASTER' | 'BACKUP'; interface?: string; virtual_router_id: number; priority: number; advert_int: number; version: 2 | 3;
      nopreempt: boolean; preempt_delay: number; authentication?: { auth_type: 'PASS' | 'AH'; auth_pass: string };
      virtual_ipaddress: VrrpAddress[]; virtual_ipaddress_excluded: VrrpAddress[]; virtual_routes: string[]; unicast_src_ip?: string;
      unicast_peer: string[]; mcast_src_ip?: string; track_interface: VrrpTrack[]; track_script: VrrpTrack[]; notify: Notify; notify_users?: Notify;
      garp_master_delay?: number; smtp_alert: boolean; use_vmac: boolean; accept?: boolean; lvs_sync_daemon_interface?: string; at: SourcePos;
    } = {
      name: name.text, state: 'BACKUP', virtual_router_id: 0, priority: 100, advert_int: 1,
      // global_defs vrrp_version is every instance's default (keepalived); `version` in the instance overrides it.
      version: global.options['vrrp_version'] === '3' ? 3 : 2, nopreempt: false, preempt_delay: 0,
      virtual_ipaddress: [], virtual_ipaddress_excluded: [], virtual_routes: [], unicast_peer: [], track_interface: [], track_script: [],
      notify: {}, smtp_alert: false, use_vmac: false, at: pos(name),
    };
    let vridTok: Tok | null = null;
    let stateGiven = false, prioGiven = false;
    c.dispatch(s.block, {
      state: { block: false, run: (x) => {
        const t = c.arg(x, 0, 'MASTER|BACKUP');
        if (!t) return;
        const v = t.text.toUpperCase();
        if (v !== 'MASTER' && v !== 'BACKUP') { c.err(t, `expected MASTER|BACKUP, got '${t.text}'`); return; }
        if (v !== t.text) c.warn(t, `'${t.text}' accepted as '${v}'`);
        i.state = v; stateGiven = true;
      } },
      interface: { block: false, run: (x) => { const t = c.arg(x, 0, 'an interface name'); if (t) i.interface = t.text; c.extra(x, 1); } },
      virtual_router_id: { block: false, run: (x) => { vridTok = x.args[0] ?? null; const v = c.num(x, 0, 'a virtual router id', 1, 255); if (v !== null) i.virtual_router_id = v; c.extra(x, 1); } },
      priority: { block: false, run: (x) => { const v = c.num(x, 0, 'a priority', 1, 255); if (v !== null) { i.priority = v; prioGiven = true; } c.extra(x, 1); } },
      advert_int: { block: false, run: (x) => { const v = c.num(x, 0, 'seconds', 0.01, 255, false); if (v !== null) i.advert_int = v; c.extra(x, 1); } },
      version: { block: false, run: (x) => { const v = c.num(x, 0, 'a VRRP version', 2, 3); if (v !== null) i.version = v as 2 | 3; } },
      nopreempt: { block: false, run: () => { i.nopreempt = true; } },
      preempt: { block: false, run: () => { i.nopreempt = false; } },
      preempt_delay: { block: false, run: (x) => { const v = c.num(x, 0, 'seconds', 0, 1000, false); if (v !== null) i.preempt_delay = v; } },
      authentication: { block: true, run: (x) => {
        let type: 'PASS' | 'AH' | undefined, pass = '';
        c.dispatch(x.block, {
          auth_type: { block: false, run: (y) => { const t = c.arg(y, 0, 'PASS|AH'); if (t && (t.text.toUpperCase() === 'PASS' || t.text.toUpperCase() === 'AH')) type = t.text.toUpperCase() as 'PASS' | 'AH'; else if (t) c.err(t, `expected PASS|AH, got '${t.text}'`); } },
          auth_pass: { block: false, run: (y) => { const t = c.arg(y, 0, 'a password'); if (t) { pass = t.text; if (pass.length > 8) c.warn(t, 'auth_pass is longer than 8 characters; VRRP uses the first 8'); } } },
        }, 'authentication');
        if (type) i.authentication = { auth_type: type, auth_pass: pass.slice(0, 8) };
        else c.err(c.after(x), "authentication needs 'auth_type PASS|AH'");
      } },
      virtual_ipaddress: { block: true, run: (x) => addrBlock(x, i.virtual_ipaddress) },
      virtual_ipaddress_excluded: { block: true, run: (x) => addrBlock(x, i.virtual_ipaddress_excluded) },
      virtual_routes: { block: true, run: (x) => { i.virtual_routes.push(...lines(x.block)); } },
      virtual_rules: { block: true, run: (x) => { i.virtual_routes.push(...lines(x.block).map((l) => `rule ${l}`)); } },
      unicast_src_ip: { block: false, run: (x) => { const a = c.ip(x, 0, 'an address'); if (a) i.unicast_src_ip = a.addr; } },
      unicast_peer: { block: true, run: (x) => { for (const l of x.block ?? []) { const a = parseIp(l.name.text); if (!a) c.err(l.name, `expected a peer address, got '${l.name.text}'`); else i.unicast_peer.push(canonicalIp(l.name.text)!); } } },
      mcast_src_ip: { block: false, run: (x) => { const a = c.ip(x, 0, 'an address'); if (a) i.mcast_src_ip = a.addr; } },
      track_interface: { block: true, run: (x) => trackBlock(x, i.track_interface) },
      track_script: { block: true, run: (x) => trackBlock(x, i.track_script) },
      ...notifyHandlers(i.notify, i.notify_users ??= {}),
      garp_master_delay: { block: false, run: (x) => { const v = c.num(x, 0, 'seconds', 0, 3600, false); if (v !== null) i.garp_master_delay = v; } },
      smtp_alert: { block: false, run: () => { i.smtp_alert = true; } },
      use_vmac: { block: false, run: () => { i.use_vmac = true; } },
      accept: { block: false, run: () => { i.accept = true; } },
      no_accept: { block: false, run: () => { i.accept = false; } },
      lvs_sync_daemon_interface: { block: false, run: (x) => { const t = c.arg(x, 0, 'an interface name'); if (t) i.lvs_sync_daemon_interface = t.text; } },
      ...ignoredVrrp(['garp_master_refresh', 'garp_master_repeat', 'garp_master_refresh_repeat', 'garp_lower_prio_delay', 'garp_lower_prio_repeat',
        'dont_track_primary', 'vmac_xmit_base', 'native_ipv6', 'debug', 'strict_mode', 'skip_check_adv_addr', 'track_file', 'track_process',
        'track_bfd', 'check_unicast_src', 'unicast_ttl', 'old_unicast_checksum', 'kernel_rx_buf_size', 'notify_master_rx_lower_pri',
        'lower_prio_no_advert', 'higher_prio_send_advert', 'mcast_dst_ip', 'promote_secondaries', 'linkbeat_use_polling', 'send_arp']),
    }, 'vrrp_instance');
    if (!s.block) return;
    if (i.virtual_router_id === 0 && vridTok === null) c.err(c.after(s), `vrrp_instance ${name.text}: expected 'virtual_router_id N' (1..255)`);
    if (!i.interface && !i.unicast_peer.length) c.warn(name, `vrrp_instance ${name.text} has no 'interface'; the default interface will be used`);
    if (!i.virtual_ipaddress.length) c.warn(name, `vrrp_instance ${name.text} has no virtual_ipaddress`);
    if (stateGiven && i.state === 'MASTER' && !prioGiven) i.priority = 100;
    if (i.authentication && i.version === 3) c.warn(name, 'VRRPv3 has no authentication; authentication block ignored');
    const fam = new Set(i.virtual_ipaddress.map((a) => (a.addr.includes(':') ? 6 : 4)));
    if (fam.size > 1) c.warn(name, `vrrp_instance ${name.text} mixes IPv4 and IPv6 virtual addresses; keepalived moves the other family to virtual_ipaddress_excluded`);
    if (vrrp.instances.some((o) => o.name === name.text)) { c.err(name, `vrrp_instance ${name.text} is defined twice`); return; }
    if (i.notify_users && Object.keys(i.notify_users).length === 0) delete i.notify_users;
    vrrp.instances.push(i);
  };

  const parseScript = (s: Stmt): void => {
    const name = c.arg(s, 0, 'a script name');
    if (!name) return;
    const v: { name: string; script: string; interval: number; timeout?: number; weight: number; reverse: boolean; rise: number; fall: number; user?: string; init_fail: boolean; at: SourcePos } =
      { name: name.text, script: '', interval: 1, weight: 0, reverse: false, rise: 1, fall: 1, init_fail: false, at: pos(name) };
    c.dispatch(s.block, {
      script: { block: false, run: (x) => { const t = c.command(x, 0, 'a command'); if (t !== null) v.script = t; } },
      interval: { block: false, run: (x) => { const n = c.num(x, 0, 'seconds', 0.001, 86400, false); if (n !== null) v.interval = n; } },
      timeout: { block: false, run: (x) => { const n = c.num(x, 0, 'seconds', 0.001, 86400, false); if (n !== null) v.timeout = n; } },
      weight: { block: false, run: (x) => { const n = c.num(x, 0, 'a weight', -254, 254); if (n !== null) v.weight = n; if (x.args[1]?.text === 'reverse') v.reverse = true; } },
      rise: { block: false, run: (x) => { const n = c.num(x, 0, 'a count', 1, 1_000_000); if (n !== null) v.rise = n; } },
      fall: { block: false, run: (x) => { const n = c.num(x, 0, 'a count', 1, 1_000_000); if (n !== null) v.fall = n; } },
      user: { block: false, run: (x) => { const t = c.arg(x, 0, 'a user name'); if (t) v.user = x.args.slice(0, 2).map((a) => a.text).join(' '); c.extra(x, 2); } },
      init_fail: { block: false, run: () => { v.init_fail = true; } },
    }, 'vrrp_script');
    if (!v.script) c.err(c.after(s), `vrrp_script ${name.text} needs 'script'`);
    else vrrp.scripts.push(v);
  };

  const parseSyncGroup = (s: Stmt): void => {
    const name = c.arg(s, 0, 'a sync group name');
    if (!name) return;
    const g: { name: string; group: string[]; notify: Notify; notify_users?: Notify; smtp_alert: boolean; track_script: VrrpTrack[]; at: SourcePos } =
      { name: name.text, group: [], notify: {}, smtp_alert: false, track_script: [], at: pos(name) };
    const users: Notify = {};
    c.dispatch(s.block, {
      group: { block: true, run: (x) => { for (const l of x.block ?? []) g.group.push(l.name.text, ...l.args.map((t) => t.text)); } },
      ...notifyHandlers(g.notify, users),
      smtp_alert: { block: false, run: () => { g.smtp_alert = true; } },
      track_script: { block: true, run: (x) => trackBlock(x, g.track_script) },
      ...ignoredVrrp(['global_tracking', 'sync_group_tracking_weight', 'track_interface', 'track_file', 'track_process', 'track_bfd']),
    }, 'vrrp_sync_group');
    if (Object.keys(users).length) g.notify_users = users;
    vrrp.syncGroups.push(g);
  };

  const parseTrackFile = (s: Stmt): void => {
    const name = c.arg(s, 0, 'a track file name');
    if (!name) return;
    let file = '', weight = 1;
    c.dispatch(s.block, {
      file: { block: false, run: (x) => { const t = c.arg(x, 0, 'a path'); if (t) file = t.text; } },
      weight: { block: false, run: (x) => { const n = c.num(x, 0, 'a weight', -254, 254); if (n !== null) weight = n; } },
      init_file: { block: false, run: () => {} },
    }, s.name.text);
    if (!file) c.err(c.after(s), `${s.name.text} ${name.text} needs 'file'`);
    else vrrp.trackFiles.push({ name: name.text, file, weight, at: pos(name) });
  };

  // ---- top level: groups first (a virtual_server may name a group defined later) ----
  for (const s of tree) if (s.name.text === 'virtual_server_group' && s.block) parseGroup(s);
  c.dispatch(tree, {
    global_defs: { block: true, run: (s) => c.dispatch(s.block, globalTable, 'global_defs') },
    virtual_server_group: { block: true, run: () => {} },
    virtual_server: { block: true, run: parseVirtualServer },
    vrrp_instance: { block: true, run: parseInstance },
    vrrp_sync_group: { block: true, run: parseSyncGroup },
    vrrp_script: { block: true, run: parseScript },
    vrrp_track_file: { block: true, run: parseTrackFile },
    track_file: { block: true, run: parseTrackFile },
    static_ipaddress: { block: true, run: (s) => addrBlock(s, vrrp.static_ipaddress) },
    static_routes: { block: true, run: (s) => { vrrp.static_routes.push(...lines(s.block)); } },
    static_rules: { block: true, run: (s) => { vrrp.static_rules.push(...lines(s.block)); } },
    ...Object.fromEntries(['linkbeat_interfaces', 'vrrp_track_process', 'track_process', 'bfd_instance', 'garp_group', 'net_namespace', 'use_pid_dir', 'instance'].map((k) => [k, { block: 'optional' as const, run: (s: Stmt) => c.warn(s.name, `'${k}' is not supported by tsvs; ignored`) }])),
  }, 'the top level');

  // ---- cross-checks ----
  const scripts = new Set(vrrp.scripts.map((x) => x.name));
  const instances = new Set(vrrp.instances.map((x) => x.name));
  for (const i of vrrp.instances) for (const t of i.track_script) if (!scripts.has(t.name)) c.warn(i.at, `vrrp_instance ${i.name} tracks script '${t.name}' which is not defined; ignored`);
  for (const g of vrrp.syncGroups) {
    for (const m of g.group) if (!instances.has(m)) c.warn(g.at, `vrrp_sync_group ${g.name} names instance '${m}' which is not defined; ignored`);
    if (g.group.length < 2) c.warn(g.at, `vrrp_sync_group ${g.name} has fewer than 2 instances`);
  }
  const vrids = new Map<string, VrrpInstanceConfig>();
  for (const i of vrrp.instances) {
    const fam = i.virtual_ipaddress.some((a) => a.addr.includes(':')) && !i.virtual_ipaddress.some((a) => !a.addr.includes(':')) ? 6 : 4;
    const k = `${i.interface ?? ''}/${fam}/${i.virtual_router_id}`;
    const o = vrids.get(k);
    if (o) c.err(i.at, `vrrp_instance ${i.name} uses virtual_router_id ${i.virtual_router_id} on ${i.interface ?? 'the default interface'}, already used by ${o.name} (${o.at.file}:${o.at.line})`);
    else vrids.set(k, i);
  }
  if (global.lvs_sync_daemon && !instances.has(global.lvs_sync_daemon.instance)) {
    c.diags.push({ severity: 'warning', file: path, line: 0, col: 0, message: `lvs_sync_daemon names vrrp_instance '${global.lvs_sync_daemon.instance}' which is not defined` });
  }
  if (!tree.length && !c.diags.some((d) => d.severity === 'error')) c.diags.push({ severity: 'warning', file: path, line: 1, col: 0, message: 'the configuration is empty' });

  const hasErrors = c.diags.some((d) => d.severity === 'error');
  if (c.diags.length >= MAX_DIAGS) c.diags.push({ severity: hasErrors ? 'error' : 'warning', file: path, line: 0, col: 0, message: `too many problems; stopped reporting after ${MAX_DIAGS}` });
  const g: GlobalConfig = global;
  return {
    state: hasErrors ? null : deepFreeze({ format: 'keepalived' as const, files: lex.files, global: g, services, vrrp: vrrp as VrrpConfig }),
    diagnostics: sortDiagnostics(c.diags, lex.files),
  };
}

function isContiguous(mask: number): boolean {
  const inv = (~mask) >>> 0;
  return ((inv + 1) & inv) === 0;
}

export type { VrrpScriptConfig, VrrpSyncGroupConfig, CommonCheckOpts };
