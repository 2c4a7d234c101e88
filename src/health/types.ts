/**
 * Health checking: checker definitions (plain data, field names as keepalived.conf and
 * ldirectord.cf spell them), check results (values, never exceptions), and the operations the
 * health manager emits for the daemon to apply.
 *
 * Times are in seconds (fractions allowed) as the config files write them.
 */
import type { Af, DestSpec, FwdMethod, ServiceKey, TunCsum, TunType } from '../core/types.ts';

/** Options every keepalived checker block accepts (conn_opts + checker common keywords). */
export interface CommonCheckOpts {
  /** Address to check instead of the real server's (keepalived connect_ip). */
  readonly connect_ip?: string;
  /** Port to check instead of the real server's (keepalived connect_port). */
  readonly connect_port?: number;
  /** Source address for the check's socket (keepalived bindto). */
  readonly bindto?: string;
  /** Source port (keepalived bind_port). */
  readonly bind_port?: number;
  /** Seconds; default 5 (keepalived). */
  readonly connect_timeout?: number;
  /** Failed checks retried this many times before the server is declared down (keepalived retry / nb_get_retry). */
  readonly retry?: number;
  /** Seconds between a failed check and its retry; default 1. */
  readonly delay_before_retry?: number;
  /** Seconds: the first check starts after a random delay in [0, warmup]; default delay_loop. */
  readonly warmup?: number;
  /** Per-checker check interval override (keepalived `delay_loop` inside a checker block). */
  readonly delay_loop?: number;
  /** ldirectord: consecutive failures before the server is declared down (failurecount); default 1. */
  readonly failurecount?: number;
}

/** A status_code entry: one code or an inclusive range [lo, hi]. */
export type StatusCodeSpec = number | readonly [number, number];

export interface UrlSpec {
  readonly path: string;
  /** MD5 hex of the body, as keepalived's genhash prints it. */
  readonly digest?: string;
  /** Accepted status codes; default 200-299 when none is given. */
  readonly status_code?: readonly StatusCodeSpec[];
  /** Regex the body must match (keepalived 2.x `regex`). */
  readonly regex?: string;
  /** Invert the regex test (keepalived `regex_no_match`). */
  readonly regex_no_match?: boolean;
  /** Per-url virtualhost override. */
  readonly virtualhost?: string;
}

export interface TcpCheckDef extends CommonCheckOpts { readonly type: 'TCP_CHECK' }

export interface HttpCheckDef extends CommonCheckOpts {
  readonly type: 'HTTP_GET' | 'SSL_GET';
  readonly url: readonly UrlSpec[];
  /** Host header (and TLS SNI for SSL_GET) instead of the address. */
  readonly virtualhost?: string;
  /** SSL_GET: send SNI (virtualhost, or the address when it is a name); default true when virtualhost is set. */
  readonly enable_sni?: boolean;
  /** '1.0' (default, as keepalived) or '1.1' (sends Connection: close). */
  readonly http_protocol?: '1.0' | '1.1';
}

export interface MiscCheckDef extends CommonCheckOpts {
  readonly type: 'MISC_CHECK';
  /** Command line, split like a shell word list (quotes honoured), run without a shell. */
  readonly misc_path: string;
  /** Seconds; default = delay_loop (keepalived). */
  readonly misc_timeout?: number;
  /** Exit codes 2..255 set the weight to code-2; 0 restores the configured weight. */
  readonly misc_dynamic?: boolean;
  /** `user USER [GROUP]` as written: who runs the script (default: the script user). */
  readonly user?: string;
}

export type DnsType = 'A' | 'NS' | 'CNAME' | 'SOA' | 'MX' | 'TXT' | 'AAAA';
export interface DnsCheckDef extends CommonCheckOpts {
  readonly type: 'DNS_CHECK';
  /** Default 'SOA' (keepalived). */
  readonly dns_type?: DnsType;
  /** Default '.' (keepalived). */
  readonly name?: string;
}

export interface SmtpCheckDef extends CommonCheckOpts {
  readonly type: 'SMTP_CHECK';
  /** Name sent in HELO; default the checker's own host name. */
  readonly helo_name?: string;
}

export interface UdpCheckDef extends CommonCheckOpts {
  readonly type: 'UDP_CHECK';
  /** Payload bytes as hex (keepalived writes hex); default one zero byte... empty datagram when omitted. */
  readonly payload?: string;
  /** When set, a reply is required (and must start with `require_reply` hex bytes if non-empty). */
  readonly require_reply?: string | true;
  /** keepalived min_reply_length / max_reply_length. */
  readonly min_reply_length?: number;
  readonly max_reply_length?: number;
}

export interface PingCheckDef extends CommonCheckOpts { readonly type: 'PING_CHECK' }

/** ldirectord checktype=connect (TCP connect, or a UDP probe for protocol=udp). */
export interface LdConnectDef extends CommonCheckOpts {
  readonly type: 'connect';
  /** Seconds; ldirectord checktimeout (default 5). */
  readonly checktimeout?: number;
}

export type LdService = 'http' | 'https' | 'none' | 'simpletcp' | 'smtp' | 'dns' | 'ftp' | string;

/** ldirectord checktype=negotiate. */
export interface LdNegotiateDef extends CommonCheckOpts {
  readonly type: 'negotiate';
  /** http / https: GET `request` and match `receive` against the body; otherwise (simpletcp/none) send `request` raw. */
  readonly service: LdService;
  readonly request: string;
  /** A Perl-ish regex (JavaScript syntax) matched against the response. */
  readonly receive: string;
  readonly virtualhost?: string;
  /** Seconds; ldirectord negotiatetimeout (default 30). */
  readonly negotiatetimeout?: number;
  /** http_method GET (default) or HEAD. */
  readonly httpmethod?: 'GET' | 'HEAD';
  /**
   * ldirectord checktype = N ("combined"): after a negotiate check that passes, N connect checks
   * (within checktimeout) before the next negotiate; a failed connect brings the negotiate back.
   */
  readonly every?: number;
  /** Seconds; the connect checks' timeout with `every` (ldirectord checktimeout / connecttimeout). */
  readonly checktimeout?: number;
}

export interface LdPingDef extends CommonCheckOpts {
  readonly type: 'ping';
  readonly checktimeout?: number;
}

/** ldirectord checktype=external: `checkcommand VIP VPORT RIP RPORT`, exit 0 = up. */
export interface LdExternalDef extends CommonCheckOpts {
  readonly type: 'external';
  readonly checkcommand: string;
  readonly checktimeout?: number;
}

/**
 * keepalived FILE_CHECK: a global track_file's number (re-read every delay_loop) decides for the
 * real server: with weight 0 non-zero is down; otherwise value x weight is added to its weight.
 */
export interface FileCheckDef extends CommonCheckOpts {
  readonly type: 'FILE_CHECK';
  /** The track_file block's name, and the file it names. */
  readonly track_file: string;
  readonly file: string;
  readonly weight: number;
  readonly reverse: boolean;
}

/** ldirectord checktype=on/off: always up / always down (no probe). */
export interface LdStaticDef extends CommonCheckOpts { readonly type: 'on' | 'off' }

export type CheckerDef =
  | TcpCheckDef | HttpCheckDef | MiscCheckDef | DnsCheckDef | SmtpCheckDef | UdpCheckDef | PingCheckDef | FileCheckDef
  | LdConnectDef | LdNegotiateDef | LdPingDef | LdExternalDef | LdStaticDef;

export type CheckerKind = CheckerDef['type'];

/**
 * A check result. `reason` starts with a stable code (see RESULT_CODES) optionally followed by
 * ': ' and detail text. Checkers never throw.
 */
export interface CheckResult {
  readonly ok: boolean;
  readonly reason: string;
  readonly latencyMs: number;
  /** MISC_CHECK with misc_dynamic: the weight the exit code asks for. */
  readonly weight?: number;
  /** FILE_CHECK: what to add to the real server's configured weight. */
  readonly weightChange?: number;
}

/** Stable leading codes of CheckResult.reason. */
export const RESULT_CODES = [
  'ok', 'timeout', 'refused', 'unreachable', 'reset', 'closed', 'error', 'tls error',
  'status', 'digest mismatch', 'regex mismatch', 'bad response', 'exit', 'killed', 'spawn failed',
  'dns rcode', 'dns no answer', 'dns id mismatch', 'smtp banner', 'smtp helo', 'udp reply mismatch',
  'icmp unreachable', 'ping failed', 'receive mismatch', 'disabled', 'unsupported',
] as const;

/** Where a check goes and the context ldirectord's external check passes. */
export interface CheckTarget {
  /** Real server address (before connect_ip override). */
  readonly addr: string;
  readonly port: number;
  /** The virtual service (for ldirectord external checks' arguments). */
  readonly vip?: string;
  readonly vport?: number;
  readonly protocol?: 'tcp' | 'udp' | 'sctp';
}

/** Real server as the health manager sees it. */
export interface HealthRealServer {
  readonly addr: string;
  readonly port: number;
  /** Configured weight (keepalived default 1). */
  readonly weight: number;
  readonly fwd?: FwdMethod;
  readonly uthreshold?: number;
  readonly lthreshold?: number;
  readonly tun_type?: TunType;
  readonly tun_port?: number;
  readonly tun_csum?: TunCsum;
  /** Keep at weight 0 instead of removing on failure (keepalived inhibit_on_failure, ldirectord quiescent). */
  readonly inhibit_on_failure?: boolean;
  readonly notify_up?: string;
  readonly notify_down?: string;
  /** Who runs notify_up / notify_down (`notify_up SCRIPT USER [GROUP]`), keyed by keyword. */
  readonly script_users?: Readonly<Partial<Record<'notify_up' | 'notify_down', string>>>;
  /** No checkers = always alive (as keepalived). */
  readonly checkers: readonly CheckerDef[];
  /** Per-real-server delay_loop override (keepalived allows it). */
  readonly delay_loop?: number;
  readonly alpha?: boolean;
  /** keepalived's real_server smtp_alert: mail its checkers' up/down transitions (onAlert). */
  readonly smtp_alert?: boolean;
  /** How keepalived names it in alerts (FMT_RS: "[10.0.0.2]:tcp:80"); default [addr]:port. */
  readonly alert_name?: string;
}

export interface HealthSorryServer {
  readonly addr: string;
  readonly port: number;
  readonly weight?: number;
  readonly fwd?: FwdMethod;
}

/** A virtual service with its health configuration. */
export interface HealthService {
  /** Display name (e.g. "10.0.0.1:80" or "fwmark 5"); defaults to one derived from key. */
  readonly name?: string;
  readonly key: ServiceKey;
  /** Seconds; default 60 (keepalived). ldirectord checkinterval maps here. */
  readonly delay_loop?: number;
  /** Default forwarding method for real servers (lb_kind). */
  readonly lb_kind?: FwdMethod;
  /** Start real servers down until their first successful check. */
  readonly alpha?: boolean;
  /** Run notify_down / quorum_down scripts when the manager stops. */
  readonly omega?: boolean;
  /** Default 1. */
  readonly quorum?: number;
  /** Default 0. */
  readonly hysteresis?: number;
  readonly quorum_up?: string;
  readonly quorum_down?: string;
  /** Who runs quorum_up / quorum_down (`quorum_up SCRIPT USER [GROUP]`), keyed by keyword. */
  readonly script_users?: Readonly<Partial<Record<'quorum_up' | 'quorum_down', string>>>;
  readonly sorry_server?: HealthSorryServer;
  /** Keep the sorry server at weight 0 while it is not needed. */
  readonly sorry_server_inhibit?: boolean;
  /** Default for real servers that do not set it. */
  readonly inhibit_on_failure?: boolean;
  /** keepalived's virtual_server smtp_alert: mail quorum gained / lost (onAlert). */
  readonly smtp_alert?: boolean;
  /** How keepalived names it in alerts (FMT_VS: "[10.0.0.1]:tcp:80", "FWM 5", "[GROUP]:80"). */
  readonly alert_name?: string;
  readonly real_servers: readonly HealthRealServer[];
}

/**
 * An e-mail alert keepalived sends about health checking (core/smtp.c SMTP_MSG_RS / SMTP_MSG_VS):
 * a checker's transition on a real server with smtp_alert ('rs': state = the server's after it),
 * or a quorum crossing of a virtual server with smtp_alert ('vs').
 */
export interface HealthAlert {
  readonly kind: 'rs' | 'vs';
  /** FMT_VS. */
  readonly vs: string;
  /** FMT_RS ('rs' only). */
  readonly rs?: string;
  readonly state: 'UP' | 'DOWN';
  readonly body: string;
  /**
   * Whether the real server's alive state changed with it: with global no_checker_emails
   * keepalived mails only those ('vs' alerts: always true).
   */
  readonly serverChanged: boolean;
}

/** What the manager asks the daemon to do. Apply in order. */
export type HealthOp =
  | { readonly op: 'add'; readonly service: ServiceKey; readonly dest: DestSpec; readonly why: string }
  | { readonly op: 'set-weight'; readonly service: ServiceKey; readonly dest: DestSpec; readonly weight: number; readonly why: string }
  | { readonly op: 'remove'; readonly service: ServiceKey; readonly af: Af; readonly addr: string; readonly port: number; readonly why: string }
  | {
      readonly op: 'exec';
      readonly script: string;
      /** The script's own "user [group]" as written; default: the configuration's script user. */
      readonly user?: string;
      readonly event: 'notify_up' | 'notify_down' | 'quorum_up' | 'quorum_down';
      readonly service: ServiceKey;
      readonly dest?: { readonly addr: string; readonly port: number };
    };

export interface CheckerStatus {
  readonly service: string;
  readonly dest: string;
  readonly checker: string;
  /** Address:port the probe goes to. */
  readonly target: string;
  readonly state: 'up' | 'down' | 'pending';
  readonly since: number;
  readonly lastResult: (CheckResult & { readonly at: number }) | null;
  readonly consecutiveFailures: number;
  readonly checks: number;
}

export interface DestStatus {
  readonly dest: string;
  readonly alive: boolean;
  readonly sorry: boolean;
  /** Weight in the table, or null when the manager keeps it out. */
  readonly weight: number | null;
  readonly configuredWeight: number;
  readonly effectiveWeight: number;
  readonly since: number;
  readonly checkers: readonly CheckerStatus[];
}

export interface ServiceStatus {
  readonly service: string;
  readonly key: ServiceKey;
  readonly quorumUp: boolean;
  readonly aliveWeight: number;
  readonly quorum: number;
  readonly hysteresis: number;
  readonly sorryActive: boolean;
  readonly dests: readonly DestStatus[];
}

export interface HealthStatus {
  /** Epoch milliseconds (the manager's clock). */
  readonly now: number;
  readonly services: readonly ServiceStatus[];
}

/**
 * Which checkers' state carries over a reload, keyed by identity.ts `checkerKey(serviceKey,
 * realKey, index)` (structurally planReload's `HealthCarry`). The manager restarts the checkers
 * listed in `start` / `stop`; `keep` is advisory (an unchanged definition and target is kept).
 */
export interface HealthCarryHint {
  readonly keep?: readonly string[];
  readonly start?: readonly string[];
  readonly stop?: readonly string[];
}

/** What health checking knows about one real server (structurally config/diff.ts `HealthVerdict`). */
export interface HealthVerdict {
  readonly up: boolean;
  /** Live weight: the configured one unless MISC_CHECK misc_dynamic changed it. */
  readonly weight?: number;
}

/** A virtual service of the live table with its dests (an IpvsBackend's ServiceSnapshot fits). */
export interface RunningService extends ServiceKey {
  readonly dests: readonly DestSpec[];
}
