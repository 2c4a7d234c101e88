/**
 * The desired state a config file describes: virtual services with their real servers and
 * health checks, service-level health options, global settings and the VRRP blocks (parsed and
 * validated here, run by the HA layer). Plain JSON-able data, deep-frozen once built.
 *
 * Both readers (./keepalived.ts, ./ldirectord.ts) produce this one shape; the differ (./diff.ts)
 * and the health manager consume it. Checker definitions are the health layer's `CheckerDef`
 * (src/health/types.ts), so a parsed config can be handed to the health manager as is
 * (see `toHealthServices`). Times are seconds, as the files write them.
 */
import type { DestSpec, FwdMethod, ServiceKey, ServiceSpec } from '../core/types.ts';
import type { CheckerDef, HealthRealServer, HealthService } from '../health/types.ts';
import type { ScriptPolicy } from '../health/script-security.ts';
import type { RouteSpec, RuleSpec } from '../os/rtnl-codec.ts';

/** Where something was written: 1-based line and column. */
export interface SourcePos {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

/**
 * 'error': tsvs refuses the file (nothing of it is applied). 'warning': the file is loaded, doing
 * what keepalived does with it (or, for what tsvs does not implement, said so).
 */
export type Severity = 'error' | 'warning';

/**
 * How `keepalived -t` counts a problem (its config_err_t, lib/parser.h), which sets
 * `tsvs config-test`'s exit code for keepalived.conf: 'none' = keepalived says nothing about it
 * (a tsvs note; exit unaffected), 'log' = keepalived logs it without counting it (exit
 * unaffected), 'fatal' = cannot run the file (missing file, bad interface: 4),
 * 'param' = a missing parameter (keepalived -t stops at once: 2), 'noconfig' = an include that
 * include_check requires is missing (keepalived exits KEEPALIVED_EXIT_NO_CONFIG, 6, after reading),
 * 'config' = any other configuration problem (5; the default), 'security' = script security (6).
 */
export type KaClass = 'none' | 'log' | 'fatal' | 'param' | 'noconfig' | 'config' | 'security';

export interface Diagnostic {
  readonly severity: Severity;
  readonly file: string;
  readonly line: number;
  /** 1-based; 0 when only the line is known. */
  readonly col: number;
  readonly message: string;
  /**
   * keepalived's script-security problems (CONFIG_SECURITY_ERROR): the file is loaded and run,
   * as keepalived runs it, but `config-test` fails with keepalived -t's security exit code.
   */
  readonly security?: true;
  /** keepalived -t's class for it; absent = 'config' (or 'security' when `security` is set). */
  readonly ka?: KaClass;
}

/** keepalived -t's exit codes (keepalived/core/main.c config_test_exit, lib/scheduler.h). */
export const KA_EXIT = { ok: 0, param: 2, fatal: 4, config: 5, security: 6, noconfig: 6 } as const;

export function kaClassOf(d: Diagnostic): KaClass {
  return d.ka ?? (d.security ? 'security' : 'config');
}

/**
 * What `keepalived -t` would exit with for these problems: it stops at once on a missing
 * parameter (2), after reading on an include_check failure (6); otherwise the highest class reported wins (security 6 over config 5 over fatal 4).
 * A file tsvs refuses never exits 0.
 */
export function keepalivedTestExit(ds: readonly Diagnostic[], refused: boolean): number {
  const cls = new Set(ds.map(kaClassOf));
  if (cls.has('param')) return KA_EXIT.param;
  if (cls.has('noconfig')) return KA_EXIT.noconfig;
  if (cls.has('security')) return KA_EXIT.security;
  if (cls.has('config')) return KA_EXIT.config;
  if (cls.has('fatal')) return KA_EXIT.fatal;
  return refused ? KA_EXIT.config : KA_EXIT.ok;
}

/** "FILE:LINE[:COL]: error|warning|note: message"; a note is what keepalived does without a word. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.col > 0 ? `${d.file}:${d.line}:${d.col}` : `${d.file}:${d.line}`;
  return `${where}: ${d.ka === 'none' && d.severity === 'warning' ? 'note' : d.severity}: ${d.message}`;
}

/** Orders diagnostics by file (read order), line, column; stable otherwise. */
export function sortDiagnostics(ds: readonly Diagnostic[], files: readonly string[]): Diagnostic[] {
  const fi = (f: string) => { const i = files.indexOf(f); return i < 0 ? files.length : i; };
  return ds.map((d, i) => ({ d, i })).sort((a, b) => fi(a.d.file) - fi(b.d.file) || a.d.line - b.d.line || a.d.col - b.d.col || a.i - b.i).map((x) => x.d);
}

/** Every default the readers apply, in one place. */
export const DEFAULTS = {
  /** keepalived delay_loop (seconds). */
  delay_loop: 60,
  /** ldirectord checkinterval (seconds). */
  checkinterval: 10,
  /** ldirectord checktimeout / connecttimeout (seconds). */
  checktimeout: 5,
  /** ldirectord negotiatetimeout (seconds). */
  negotiatetimeout: 30,
  failurecount: 1,
  quorum: 1,
  hysteresis: 0,
  weight: 1,
  /** keepalived lb_algo and ldirectord scheduler when omitted. */
  keepalivedScheduler: 'wlc',
  ldirectordScheduler: 'wrr',
  /** keepalived lb_kind when omitted (NAT); ldirectord has no default method (gate when omitted). */
  keepalivedFwd: 'masq' as FwdMethod,
  ldirectordFwd: 'route' as FwdMethod,
  /** `persistence_timeout` with no value, `persistent` with no value (seconds). */
  persistence_timeout: 360,
  netmask4: 0xffffffff,
  netmask6: 128,
  /** ldirectord: quiescent=yes unless the file says no. */
  ldirectordQuiescent: true,
  ldirectordChecktype: 'negotiate',
} as const;

export interface SorryServerConfig {
  readonly addr: string;
  readonly port: number;
  readonly fwd: FwdMethod;
  readonly weight: number;
}

export interface RealServerConfig {
  /** "addr:port" ("[v6]:port" for IPv6): the real server's identity inside its service. */
  readonly key: string;
  /** The configured destination (configured weight; the health manager decides the live one). */
  readonly dest: DestSpec;
  readonly inhibit_on_failure: boolean;
  readonly notify_up?: string;
  readonly notify_down?: string;
  /** `notify_up SCRIPT USER [GROUP]`: who runs each script ("user [group]"), keyed by keyword. */
  readonly script_users?: Readonly<Partial<Record<'notify_up' | 'notify_down', string>>>;
  /** keepalived per-real-server delay_loop. */
  readonly delay_loop?: number;
  readonly alpha?: boolean;
  /** keepalived: mail its checkers' transitions (resolved: real_server, global_defs, else true). */
  readonly smtp_alert?: boolean;
  /** keepalived's name of it in alerts and logs (FMT_RS): "[10.0.0.2]:tcp:80". */
  readonly ka_name?: string;
  /** No checkers = always alive (keepalived); ldirectord checktype=on/off are explicit checkers. */
  readonly checkers: readonly CheckerDef[];
  readonly at: SourcePos;
}

export interface VirtualServiceConfig {
  /** serviceKeyString(spec): "tcp 10.0.0.1:80", "fwmark 5", "fwmark 5 v6". */
  readonly key: string;
  readonly spec: ServiceSpec;
  /** virtual_server_group this service was expanded from. */
  readonly group?: string;
  /** Default forwarding method of its real servers (lb_kind / per-real gate|masq|ipip). */
  readonly lb_kind: FwdMethod;
  /** Seconds between checks (keepalived delay_loop, ldirectord checkinterval). */
  readonly delay_loop: number;
  readonly alpha: boolean;
  readonly omega: boolean;
  readonly quorum: number;
  readonly hysteresis: number;
  readonly quorum_up?: string;
  readonly quorum_down?: string;
  /** `quorum_up SCRIPT USER [GROUP]`: who runs each script ("user [group]"), keyed by keyword. */
  readonly script_users?: Readonly<Partial<Record<'quorum_up' | 'quorum_down', string>>>;
  readonly inhibit_on_failure: boolean;
  readonly ha_suspend: boolean;
  readonly virtualhost?: string;
  /** keepalived sorry_server / ldirectord fallback. */
  readonly sorry_server?: SorryServerConfig;
  readonly sorry_server_inhibit: boolean;
  /** ldirectord fallbackcommand, emailalert... kept as written. */
  readonly extra: Readonly<Record<string, string>>;
  /** keepalived: mail quorum crossings (resolved: virtual_server, global_defs, else false). */
  readonly smtp_alert?: boolean;
  /** keepalived's name of it in alerts and logs (FMT_VS): "[10.0.0.1]:tcp:80", "FWM 5", "[GROUP]:80". */
  readonly ka_name?: string;
  readonly reals: readonly RealServerConfig[];
  readonly at: SourcePos;
}

export interface VrrpAddress {
  /** Canonical address. */
  readonly addr: string;
  readonly prefix: number;
  readonly dev?: string;
  readonly brd?: string;
  readonly scope?: string;
  readonly label?: string;
  /** Remaining words as written (e.g. "no_track"). */
  readonly extra: readonly string[];
}

/** `track_file NAME { file PATH weight N [reverse] init_file [VALUE] [overwrite] }`. */
export interface TrackFileConfig {
  readonly name: string;
  readonly file: string;
  readonly weight: number;
  readonly reverse: boolean;
  /** init_file: the value written at start when the file is absent (or always, with overwrite). */
  readonly init?: { readonly value: number; readonly overwrite: boolean };
  readonly at: SourcePos;
}

/** An instance's track_file line: the file by name, its weight and direction there. */
export interface VrrpTrackFile {
  readonly name: string;
  readonly weight: number;
  readonly reverse: boolean;
}

export interface VrrpTrack {
  readonly name: string;
  readonly weight?: number;
  readonly reverse?: boolean;
}

export type NotifyKeyword = 'notify' | 'notify_master' | 'notify_backup' | 'notify_fault' | 'notify_stop';

export interface VrrpInstanceConfig {
  readonly name: string;
  readonly state: 'MASTER' | 'BACKUP';
  readonly interface?: string;
  readonly virtual_router_id: number;
  readonly priority: number;
  readonly advert_int: number;
  readonly version: 2 | 3;
  readonly nopreempt: boolean;
  readonly preempt_delay: number;
  readonly authentication?: { readonly auth_type: 'PASS' | 'AH'; readonly auth_pass: string };
  readonly virtual_ipaddress: readonly VrrpAddress[];
  readonly virtual_ipaddress_excluded: readonly VrrpAddress[];
  /** virtual_routes / virtual_rules: set on becoming MASTER, removed on leaving it (keepalived). */
  readonly virtual_routes: readonly RouteSpec[];
  readonly virtual_rules: readonly RuleSpec[];
  /** track_file entries: the file's integer value, weighted (vrrp-track.ts trackFileStatus). */
  readonly track_file: readonly VrrpTrackFile[];
  readonly unicast_src_ip?: string;
  readonly unicast_peer: readonly string[];
  /**
   * check_unicast_src / vrrp_check_unicast_src: an advert must come from a unicast peer, with a
   * TTL within the peer's min_ttl..max_ttl (unicast_peer_ttl, by peer; keepalived: 0..255).
   */
  readonly check_unicast_src?: boolean;
  readonly unicast_peer_ttl?: Readonly<Record<string, { readonly min: number; readonly max: number }>>;
  readonly mcast_src_ip?: string;
  /**
   * The multicast group adverts go to and are received on: mcast_dst_ip, else global_defs
   * vrrp_mcast_group4/6; absent = 224.0.0.18 / ff02::12. Never set with unicast peers.
   */
  readonly mcast_dst_ip?: string;
  readonly track_interface: readonly VrrpTrack[];
  readonly track_script: readonly VrrpTrack[];
  readonly notify: Readonly<Partial<Record<NotifyKeyword, string>>>;
  /** `notify_master SCRIPT USER [GROUP]`: who runs each script ("user [group]"), keyed by keyword. */
  readonly notify_users?: Readonly<Partial<Record<NotifyKeyword, string>>>;
  readonly garp_master_delay?: number;
  readonly smtp_alert: boolean;
  readonly use_vmac: boolean;
  /**
   * use_vmac: the macvlan keepalived creates on `interface` (private mode, the VRRP MAC
   * 00:00:5e:00:01:VRID for IPv4 and 00:00:5e:00:02:VRID for IPv6 unless given) that holds the
   * virtual addresses and sends the adverts (from the base interface with vmac_xmit_base).
   */
  readonly vmac?: { readonly name: string; readonly mac: string; readonly xmit_base: boolean };
  /**
   * Accept mode as keepalived resolves it (accept / no_accept; unset: on for the address owner,
   * off under vrrp_strict): false = as MASTER, traffic to and from the virtual addresses is
   * dropped (keepalived's nftables rules; ha/accept-firewall.ts).
   */
  readonly accept?: boolean;
  readonly lvs_sync_daemon_interface?: string;
  /**
   * dont_track_primary: the instance's interface (and a use_vmac macvlan's base) going down does
   * not put it in FAULT, nor do its addresses on that interface make it tracked; without accept
   * mode, its link-local IPv6 addresses on that interface (and no_track ones) are refused by
   * interface name (nftables set vips_link_local_name) unless `nftables_ifindex`.
   */
  readonly dont_track_primary?: boolean;
  /** global_defs nftables_ifindex: link-local addresses always refused by interface index. */
  readonly nftables_ifindex?: boolean;
  readonly at: SourcePos;
}

export interface VrrpScriptConfig {
  readonly name: string;
  readonly script: string;
  readonly interval: number;
  readonly timeout?: number;
  readonly weight: number;
  readonly reverse: boolean;
  readonly rise: number;
  readonly fall: number;
  /** `user USER [GROUP]` as written: who runs the script (default: the script user). */
  readonly user?: string;
  readonly init_fail: boolean;
  readonly at: SourcePos;
}

export interface VrrpSyncGroupConfig {
  readonly name: string;
  readonly group: readonly string[];
  readonly notify: Readonly<Partial<Record<NotifyKeyword, string>>>;
  /** `notify_master SCRIPT USER [GROUP]`: who runs each script ("user [group]"), keyed by keyword. */
  readonly notify_users?: Readonly<Partial<Record<NotifyKeyword, string>>>;
  readonly smtp_alert: boolean;
  readonly track_script: readonly VrrpTrack[];
  readonly at: SourcePos;
}

export interface VrrpConfig {
  readonly instances: readonly VrrpInstanceConfig[];
  readonly syncGroups: readonly VrrpSyncGroupConfig[];
  readonly scripts: readonly VrrpScriptConfig[];
  readonly trackFiles: readonly TrackFileConfig[];
  /** Set when the VRRP side starts and removed when it stops (keepalived's static entries). */
  readonly static_ipaddress: readonly VrrpAddress[];
  readonly static_routes: readonly RouteSpec[];
  readonly static_rules: readonly RuleSpec[];
  /** track_group blocks: which instances track the interfaces of the static entries naming them. */
  readonly trackGroups: readonly StaticTrackGroupConfig[];
}

/** `track_group NAME { group { ... } }` with the interfaces of the static entries written with it. */
export interface StaticTrackGroupConfig {
  readonly name: string;
  readonly group: readonly string[];
  /** Interfaces of static addresses, routes (dev) and rules (iif) with `track_group NAME` (not no_track). */
  readonly devs: readonly string[];
  readonly at: SourcePos;
}

export interface GlobalConfig {
  readonly router_id?: string;
  readonly notification_email: readonly string[];
  readonly notification_email_from?: string;
  readonly smtp_server?: string;
  /** smtp_server's port (keepalived: 25). */
  readonly smtp_port?: number;
  readonly smtp_helo_name?: string;
  readonly smtp_connect_timeout?: number;
  /** smtp_alert, smtp_alert_vrrp, smtp_alert_checker: the defaults of the blocks' smtp_alert (unset: undefined). */
  readonly smtp_alert?: boolean;
  readonly smtp_alert_vrrp?: boolean;
  readonly smtp_alert_checker?: boolean;
  /** no_checker_emails: checker alerts only when the real server's state changes with them. */
  readonly no_checker_emails?: boolean;
  /** no_email_faults: no e-mail for FAULT transitions. */
  readonly no_email_faults?: boolean;
  /** keepalived lvs_timeouts (0 = unchanged), as ipvsadm --set. */
  readonly lvs_timeouts?: { readonly tcp: number; readonly tcpfin: number; readonly udp: number };
  readonly lvs_sync_daemon?: { readonly interface: string; readonly instance: string; readonly syncid: number };
  readonly lvs_flush: boolean;
  /** global_defs `script_user USER [GROUP]` as written. */
  readonly script_user?: string;
  /** global_defs enable_script_security. */
  readonly enable_script_security?: boolean;
  /** ldirectord global options and other global_defs keywords, as written. */
  readonly options: Readonly<Record<string, string>>;
  /**
   * global_defs keywords that are `tsvs daemon` options (`tsvs_bgp_as 65001`: keywords.ts
   * tsvsDaemonKeywords), in file order, as written; the daemon checks their values.
   */
  readonly daemonOptions?: readonly DaemonOptionSetting[];
}

/** One global_defs line setting a daemon option: `tsvs_bgp_peer 10.0.0.1 10.0.0.2`. */
export interface DaemonOptionSetting {
  /** The keyword as written (`tsvs_bgp_peer`). */
  readonly keyword: string;
  /** The daemon option's key (`bgp-peer`). */
  readonly key: string;
  /** Its words, each with where it is. */
  readonly values: readonly { readonly text: string; readonly at: SourcePos }[];
  readonly at: SourcePos;
}

export type ConfigFormat = 'keepalived' | 'ldirectord';

export interface DesiredState {
  readonly format: ConfigFormat;
  /** Every file read (main file first, then includes in read order). */
  readonly files: readonly string[];
  readonly global: GlobalConfig;
  readonly services: readonly VirtualServiceConfig[];
  readonly vrrp: VrrpConfig;
  /**
   * Who runs scripts and whether unsafe ones may run (keepalived: resolved at load from
   * script_user, enable_script_security and the users scripts name; absent = the daemon's user).
   */
  readonly scripts?: ScriptPolicy;
}

/** What a reader returns. `state` is null when there are errors: a config with errors is refused whole. */
export interface LoadResult {
  readonly state: DesiredState | null;
  readonly diagnostics: readonly Diagnostic[];
  /**
   * keepalived.conf with errors: what was read all the same, for the checks keepalived makes
   * whatever else is wrong (its script security check runs before it drops a bad instance).
   * `vrrpInstancesRead`: the vrrp_instance blocks read, complete or not.
   */
  readonly partial?: { readonly state: DesiredState; readonly vrrpInstancesRead: number };
}

export function emptyVrrp(): VrrpConfig {
  return { instances: [], syncGroups: [], scripts: [], trackFiles: [], static_ipaddress: [], static_routes: [], static_rules: [], trackGroups: [] };
}

export function keyOf(spec: ServiceSpec): ServiceKey {
  return { af: spec.af, fwmark: spec.fwmark, protocol: spec.protocol, addr: spec.addr, port: spec.port };
}

export function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

/** Counts for summaries. */
export function summarize(s: DesiredState): { services: number; reals: number; checkers: number; vrrpInstances: number; vrrpScripts: number; syncGroups: number } {
  let reals = 0, checkers = 0;
  for (const v of s.services) {
    reals += v.reals.length;
    for (const r of v.reals) checkers += r.checkers.length;
  }
  return { services: s.services.length, reals, checkers, vrrpInstances: s.vrrp.instances.length, vrrpScripts: s.vrrp.scripts.length, syncGroups: s.vrrp.syncGroups.length };
}

/** The desired state as the health manager's input (src/health/types.ts). */
export function toHealthServices(s: DesiredState): HealthService[] {
  return s.services.map((v): HealthService => ({
    name: v.key,
    key: keyOf(v.spec),
    delay_loop: v.delay_loop,
    lb_kind: v.lb_kind,
    alpha: v.alpha,
    omega: v.omega,
    quorum: v.quorum,
    hysteresis: v.hysteresis,
    ...(v.quorum_up !== undefined ? { quorum_up: v.quorum_up } : {}),
    ...(v.quorum_down !== undefined ? { quorum_down: v.quorum_down } : {}),
    ...(v.script_users !== undefined ? { script_users: v.script_users } : {}),
    ...(v.sorry_server ? { sorry_server: { ...v.sorry_server } } : {}),
    sorry_server_inhibit: v.sorry_server_inhibit,
    inhibit_on_failure: v.inhibit_on_failure,
    ...(v.smtp_alert ? { smtp_alert: true } : {}),
    ...(v.ka_name !== undefined ? { alert_name: v.ka_name } : {}),
    real_servers: v.reals.map((r): HealthRealServer => ({
      addr: r.dest.addr,
      port: r.dest.port,
      weight: r.dest.weight,
      fwd: r.dest.fwd,
      uthreshold: r.dest.uThreshold,
      lthreshold: r.dest.lThreshold,
      tun_type: r.dest.tunType,
      tun_port: r.dest.tunPort,
      tun_csum: r.dest.tunCsum,
      inhibit_on_failure: r.inhibit_on_failure,
      ...(r.notify_up !== undefined ? { notify_up: r.notify_up } : {}),
      ...(r.notify_down !== undefined ? { notify_down: r.notify_down } : {}),
      ...(r.script_users !== undefined ? { script_users: r.script_users } : {}),
      ...(r.delay_loop !== undefined ? { delay_loop: r.delay_loop } : {}),
      ...(r.alpha !== undefined ? { alpha: r.alpha } : {}),
      ...(r.smtp_alert ? { smtp_alert: true } : {}),
      ...(r.ka_name !== undefined ? { alert_name: r.ka_name } : {}),
      checkers: r.checkers,
    })),
  }));
}
