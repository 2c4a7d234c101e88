/**
 * `tsvs daemon`'s options: one table for the flags, the config file's keys and --help; the
 * config file's reader; and the resolution into the daemon's typed, frozen options (the
 * forwarders' own defaults and checks are src/dataplane/options.ts). No I/O: the command reads
 * the file and hands its text here.
 *
 * Config file (`--config FILE`): one `KEY = VALUE` per line, KEY any option below that takes a
 * value (the flag without `--`); `#` starts a comment; blank lines are skipped; a repeatable option
 * may appear on several lines. Relative paths are taken from the file's directory. A flag given
 * on the command line replaces the file's value (all of a repeatable option's values).
 */
import { resolve } from 'node:path';
import {
  OptionError, OptionValueError, PACKET_KEYS, PACKET_SPECS, PROXY_KEYS, PROXY_SPECS, WORKERS, optionValue, optionValues, packetOptions, proxyOptions,
  type OptionSpec, type PacketOptions, type ProxyOptions, type RawOptions,
} from '../dataplane/options.ts';
import { LOG_LEVELS, type LogLevel } from './log.ts';
import { DEFAULT_SYSCTLS, type Sysctls } from '../core/engine.ts';
import { formatIp, parseIp } from '../core/addr.ts';
import { parsePrefix } from '../ha/announce/controller.ts';
import { parseListenAddr, type ListenAddr } from './http/listen-addr.ts';
import { SLOW_START_DEFAULTS } from './slow-start.ts';
import { KA_DUMP_DIR_DEFAULT } from './ka-dump.ts';
import type { ObserverOptions } from './observers.ts';
import { sortDiagnostics, type DaemonOptionSetting, type Diagnostic, type LoadResult, type SourcePos } from '../config/desired.ts';

export type ForwarderKind = 'proxy' | 'packet' | 'none';

/** The daemon's options, resolved (the forwarder's are in `proxy` / `packet`). */
export interface DaemonOptions {
  readonly socketPath: string;
  readonly rulesFile: string | null;
  /** null = do not persist. */
  readonly stateFile: string | null;
  readonly forwarder: ForwarderKind;
  /** keepalived.conf / ldirectord.cf as the source of truth (health checks, VRRP, reload by diff). */
  readonly configFile: string | null;
  readonly configFormat: 'keepalived' | 'ldirectord';
  /** Where SIGUSR1/SIGUSR2 write keepalived's dump files (--dump-dir; keepalived's /tmp). */
  readonly dumpDir: string;
  readonly logLevel: LogLevel;
  /** The master sync daemon's full-table refresh period (ms; 0: none). */
  readonly syncRefreshMs: number;
  /** How often the engine's clock is advanced when no packet does it (ms). */
  readonly tickMs: number;
  /** The connection table's maximum entries (new connections past it: dropped, counted tableFull). */
  readonly connMax: number;
  readonly proxy: ProxyOptions;
  readonly packet: PacketOptions;
  /** The IPVS sysctls the engine starts with (net.ipv4.vs.*; the kernel's defaults unless given). */
  readonly ipvs: IpvsSysctls;
  /** Announcing the virtual addresses over BGP (docs/SCALE-OUT.md); null: --bgp none. */
  readonly bgp: BgpOptions | null;
  /** --http, --procfs, --http-token (src/daemon/observers.ts); absent = all off (the config file's tsvs_http... may still turn them on). */
  readonly observe?: ObserverOptions;
  /** --slow-start S (src/daemon/slow-start.ts); absent = the configuration file's tsvs_slow_start, else off. */
  readonly slowStartS?: number;
}

/** --bgp bird and its --bgp-* options, resolved. */
export interface BgpOptions {
  readonly daemon: 'bird';
  readonly localAs: number;
  readonly peers: readonly string[];
  readonly peerAs: number;
  /** null: the address the first IPv4 peer is reached from (found at start). */
  readonly routerId: string | null;
  readonly holdSeconds: number;
  /** Canonical "addr/len"; empty: every virtual service's address. */
  readonly prefixes: readonly string[];
  /** Minimum live weight per service (rules without keepalived.conf; keepalived.conf's quorum wins). */
  readonly quorum: number;
  readonly riseMs: number;
}

/** The IPVS sysctls that are daemon options (docs/SCALE-OUT.md: mh + sloppy_tcp for several active directors). */
export type IpvsSysctls = Readonly<Pick<Sysctls, 'sloppy_tcp' | 'sloppy_sctp' | 'conn_reuse_mode' | 'expire_nodest_conn' | 'expire_quiescent_template' | 'drop_entry' | 'drop_packet' | 'amemthresh' | 'am_droprate' | 'secure_tcp' | 'syn_recv_under_load' | 'syn_load_rate'>>;

/** The daemon's own defaults (the forwarders' are PROXY_DEFAULTS / PACKET_DEFAULTS). */
export const DAEMON_DEFAULTS = Object.freeze({
  forwarder: 'proxy' as ForwarderKind,
  logLevel: 'info' as LogLevel,
  syncRefreshMs: 1000,
  tickMs: 200,
  bgp: 'none' as 'none' | 'bird',
  bgpHoldSeconds: 9,
  bgpQuorum: 1,
  bgpRiseMs: 1000,
  /** The connection table's maximum (connections and templates), as the kernel's default table holds. */
  connMax: 1 << 20,
});

const text = (what: string) => (t: string): string => {
  if (t === '') throw new OptionValueError(`needs ${what}`);
  return t;
};

/** The kernel's defence modes: 0 off, 1 automatic, 2 (automatic, on now), 3 always. */
const mode = (key: string) => (t: string): number => {
  if (/^[0-3]$/.test(t)) return Number(t);
  throw new OptionValueError(`must be 0, 1, 2 or 3 (the kernel's ${key.replace('-', '_')} modes), not '${t}'`);
};

/** The daemon's own options (the forwarders' follow, from src/dataplane/options.ts). */
export const DAEMON_SPECS = {
  rules: { key: 'rules', arg: 'FILE', shown: 'none', help: 'ipvsadm -S format rules loaded when there is no saved state, and on SIGHUP / reload (a bad file is refused whole)', parse: text('a file') },
  socket: { key: 'socket', arg: 'PATH', shown: '$TSVS_SOCKET, /run/tsvs/tsvs.sock as root, else $XDG_RUNTIME_DIR/tsvs/tsvs.sock, else ./.tsvs/tsvs.sock', help: 'control socket', parse: text('a path') },
  state: { key: 'state', arg: 'FILE', shown: '/var/lib/tsvs/rules as root, else beside the socket', help: 'where the running rules are saved after every change and restored from on start; --no-state to keep nothing', parse: text('a file') },
  forwarder: { key: 'forwarder', arg: 'proxy|packet|none', shown: DAEMON_DEFAULTS.forwarder, help: 'proxy: TCP/UDP sockets, no root needed; packet (root): NAT/DR/TUN on real packets; none: control only', parse: (t: string): ForwarderKind => { if (t === 'proxy' || t === 'packet' || t === 'none') return t; throw new OptionValueError(`must be proxy, packet or none, not '${t}'`); } },
  keepalived: { key: 'keepalived', arg: 'FILE', shown: 'none', help: 'run keepalived.conf as it is: virtual_server/real_server with health checks, vrrp_instance failover, lvs_sync_daemon; SIGHUP reloads it', parse: text('a file') },
  dumpDir: { key: 'dump-dir', arg: 'DIR', shown: KA_DUMP_DIR_DEFAULT, help: 'with --keepalived: SIGUSR1 writes DIR/keepalived.data (VRRP) and DIR/keepalived_check.data (virtual/real servers), SIGUSR2 DIR/keepalived.stats, in keepalived\'s formats', parse: text('a directory') },
  ldirectord: { key: 'ldirectord', arg: 'FILE', shown: 'none', help: 'run ldirectord.cf as it is (virtual=/real= with checks); SIGHUP reloads it', parse: text('a file') },
  logLevel: { key: 'log-level', arg: LOG_LEVELS.join('|'), shown: DAEMON_DEFAULTS.logLevel, help: 'logs are JSON lines on stderr (the proxy relay workers log at the same level)', parse: (t: string): LogLevel => { if ((LOG_LEVELS as readonly string[]).includes(t)) return t as LogLevel; throw new OptionValueError(`must be one of ${LOG_LEVELS.join(', ')}, not '${t}'`); } },
  syncRefreshMs: { key: 'sync-refresh', arg: 'MS', shown: String(DAEMON_DEFAULTS.syncRefreshMs), help: 'connection sync master: send the whole connection table every MS (0: only changes)', parse: (t: string): number => { const n = /^[0-9]+$/.test(t) ? Number(t) : NaN; if (!Number.isSafeInteger(n) || n > 2 ** 31 - 1) throw new OptionValueError(`must be a number of ms (0 turns it off), not '${t}'`); return n; } },
  connMax: { key: 'conn-max', arg: 'N', shown: String(DAEMON_DEFAULTS.connMax), help: 'the connection table\'s maximum (connections and persistence templates); at the maximum new connections are dropped and counted (status table.tableFull), existing ones keep working', parse: (t: string): number => { const n = /^[0-9]+$/.test(t) ? Number(t) : NaN; if (!Number.isSafeInteger(n) || n < 1024 || n > 1 << 26) throw new OptionValueError(`must be an integer 1024..${1 << 26}, not '${t}'`); return n; } },
} as const satisfies Record<string, OptionSpec<unknown>>;

const sysctlOnOff = (key: string, name: keyof IpvsSysctls, help: string): OptionSpec<number> => ({
  key, arg: 'on|off', shown: DEFAULT_SYSCTLS[name] ? 'on' : 'off', help: `${help} (net.ipv4.vs.${name})`,
  parse: (t: string): number => { if (t === 'on') return 1; if (t === 'off') return 0; throw new OptionValueError(`must be on or off, not '${t}'`); },
});

/**
 * The IPVS sysctls as options: the engine's (and the kernel's) defaults, DEFAULT_SYSCTLS in
 * src/core/engine.ts, are theirs. Values as the kernel takes them (on = 1).
 */
export const IPVS_SPECS = {
  sloppy_tcp: sysctlOnOff('sloppy-tcp', 'sloppy_tcp', 'any TCP packet but a RST may create a connection, not only a SYN: a director that first sees a flow mid-stream (another director failed or left) schedules it; with mh every director picks the same real server'),
  sloppy_sctp: sysctlOnOff('sloppy-sctp', 'sloppy_sctp', 'the same for SCTP: not only an INIT creates a connection'),
  conn_reuse_mode: { key: 'conn-reuse-mode', arg: '0..3', shown: String(DEFAULT_SYSCTLS.conn_reuse_mode), help: 'a SYN that reuses the tuple of a closed connection is scheduled anew (0: never; 1: from TIME_WAIT and CLOSE; bit 2: also from FIN_WAIT of a direct-routing or tunnel connection) (net.ipv4.vs.conn_reuse_mode)', parse: (t: string): number => { if (/^[0-3]$/.test(t)) return Number(t); throw new OptionValueError(`must be 0, 1, 2 or 3, not '${t}'`); } },
  expire_nodest_conn: sysctlOnOff('expire-nodest-conn', 'expire_nodest_conn', 'the next packet of a connection whose real server was deleted expires it and is scheduled again (off: dropped until the connection times out)'),
  expire_quiescent_template: sysctlOnOff('expire-quiescent-template', 'expire_quiescent_template', 'a persistence template whose real server has weight 0 is expired at its next use (the client is scheduled again)'),
  drop_entry: { key: 'drop-entry', arg: '0..3', shown: String(DEFAULT_SYSCTLS.drop_entry), help: 'the kernel\'s drop_entry: 0 off, 1 on while memory is short (amemthresh), 3 always: half-open connections, and idle ones that saw 1-8 packets, are expired at random', parse: mode('drop-entry') },
  drop_packet: { key: 'drop-packet', arg: '0..3', shown: String(DEFAULT_SYSCTLS.drop_packet), help: 'the kernel\'s drop_packet: 0 off, 1 while memory is short (one new connection in amemthresh/(amemthresh-available) dropped), 3 always (one in am-droprate)', parse: mode('drop-packet') },
  amemthresh: { key: 'amemthresh', arg: 'PAGES', shown: String(DEFAULT_SYSCTLS.amemthresh), help: 'the kernel\'s amemthresh: the automatic defences turn on below this many pages available (the smaller of the system\'s and what is left of the connection table at 512 bytes an entry)', parse: (t: string): number => { const n = /^[0-9]+$/.test(t) ? Number(t) : NaN; if (!Number.isSafeInteger(n) || n < 1 || n > 2 ** 31 - 1) throw new OptionValueError(`must be a number of pages >= 1, not '${t}'`); return n; } },
  secure_tcp: { key: 'secure-tcp', arg: '0..3', shown: String(DEFAULT_SYSCTLS.secure_tcp), help: 'the kernel\'s secure_tcp: 0 off, 1 while memory is short (amemthresh), 3 always: TCP states follow the kernel\'s secure table (a forged handshake ACK does not make a flood\'s entry ESTABLISHED)', parse: mode('secure-tcp') },
  am_droprate: { key: 'am-droprate', arg: 'N', shown: String(DEFAULT_SYSCTLS.am_droprate), help: 'the kernel\'s am_droprate: drop-packet 3 drops one new connection in N', parse: (t: string): number => { const n = /^[0-9]+$/.test(t) ? Number(t) : NaN; if (!Number.isSafeInteger(n) || n < 1 || n > 2 ** 31 - 1) throw new OptionValueError(`must be an integer >= 1, not '${t}'`); return n; } },
  syn_recv_under_load: { key: 'syn-recv-under-load', arg: 'S', shown: String(DEFAULT_SYSCTLS.syn_recv_under_load), help: 'tsvs, not the kernel: a half-open (SYN_RECV) connection lives S seconds instead of 60 while new ones arrive at --syn-load-rate a second or faster (a SYN flood\'s entries give their memory back sooner; a real handshake leaves SYN_RECV within a round trip); 0 keeps 60 s always, as the kernel', parse: (t: string): number => { const n = /^[0-9]+$/.test(t) ? Number(t) : NaN; if (!Number.isSafeInteger(n) || n > 60) throw new OptionValueError(`must be 0..60 seconds, not '${t}'`); return n; } },
  syn_load_rate: { key: 'syn-load-rate', arg: 'N', shown: String(DEFAULT_SYSCTLS.syn_load_rate), help: 'new half-open connections a second from which --syn-recv-under-load applies', parse: (t: string): number => { const n = /^[0-9]+$/.test(t) ? Number(t) : NaN; if (!Number.isSafeInteger(n) || n < 1 || n > 2 ** 31 - 1) throw new OptionValueError(`must be an integer >= 1, not '${t}'`); return n; } },
} as const satisfies { readonly [K in keyof IpvsSysctls]: OptionSpec<number> };

const asNumber = (t: string): number => {
  const n = /^[0-9]{1,10}$/.test(t) ? Number(t) : NaN;
  if (!(n >= 1 && n <= 4294967295)) throw new OptionValueError(`must be an AS number 1..4294967295, not '${t}'`);
  return n;
};
const address = (t: string): string => {
  const ip = parseIp(t);
  if (!ip) throw new OptionValueError(`must be an IPv4 or IPv6 address, not '${t}'`);
  return formatIp(ip);
};

/** Announcing the virtual addresses over BGP through BIRD 2 (src/ha/announce/, docs/SCALE-OUT.md). */
export const BGP_SPECS = {
  bgp: { key: 'bgp', arg: 'none|bird', shown: DAEMON_DEFAULTS.bgp, help: 'announce the virtual services\' addresses over BGP while their real servers are up, through BIRD 2 run by the daemon (several active directors behind ECMP; docs/SCALE-OUT.md)', parse: (t: string): 'none' | 'bird' => { if (t === 'none' || t === 'bird') return t; throw new OptionValueError(`must be none or bird, not '${t}'`); } },
  localAs: { key: 'bgp-as', arg: 'AS', shown: 'none (needed with --bgp bird)', help: 'this director\'s AS number', parse: asNumber },
  peers: { key: 'bgp-peer', arg: 'ADDR', shown: 'none (needed with --bgp bird)', multiple: true, help: 'a BGP neighbour (router) to announce to (repeatable; IPv4 neighbours get the IPv4 prefixes, IPv6 ones the IPv6 prefixes)', parse: address },
  peerAs: { key: 'bgp-peer-as', arg: 'AS', shown: 'the --bgp-as (iBGP)', help: 'the neighbours\' AS number', parse: asNumber },
  routerId: { key: 'bgp-router-id', arg: 'IPv4', shown: 'the address the first IPv4 neighbour is reached from', help: 'BGP router id', parse: (t: string): string => { const ip = parseIp(t); if (!ip || ip.af !== 4) throw new OptionValueError(`must be an IPv4 address, not '${t}'`); return formatIp(ip); } },
  holdSeconds: { key: 'bgp-hold', arg: 'S', shown: String(DAEMON_DEFAULTS.bgpHoldSeconds), help: 'BGP hold time proposed to the neighbours (keepalives every third): how long a router keeps the routes of a director that stopped answering without closing its sessions (a crashed daemon closes them at once)', parse: (t: string): number => { const n = /^[0-9]{1,5}$/.test(t) ? Number(t) : NaN; if (!(n >= 3 && n <= 65535)) throw new OptionValueError(`must be 3..65535 seconds, not '${t}'`); return n; } },
  prefixes: { key: 'bgp-prefix', arg: 'ADDR/LEN', shown: 'every virtual service address, as /32 or /128', multiple: true, help: 'announce this prefix instead (repeatable), while every service whose address lies in it (and every fwmark service) has its quorum', parse: (t: string): string => { const p = parsePrefix(t); if (!p) throw new OptionValueError(`must be an address or ADDR/LEN, not '${t}'`); return p.text; } },
  quorum: { key: 'bgp-quorum', arg: 'WEIGHT', shown: String(DAEMON_DEFAULTS.bgpQuorum), help: 'a service counts as up while the weights of its real servers in the table add up to WEIGHT (keepalived.conf: its virtual_server quorum and hysteresis instead)', parse: (t: string): number => { const n = /^[0-9]{1,10}$/.test(t) ? Number(t) : NaN; if (!(n >= 1 && n <= 2 ** 31 - 1)) throw new OptionValueError(`must be a weight 1..2147483647, not '${t}'`); return n; } },
  riseMs: { key: 'bgp-rise', arg: 'MS', shown: String(DAEMON_DEFAULTS.bgpRiseMs), help: 'announce a prefix once its services have been up for MS (withdrawal is immediate)', parse: (t: string): number => { const n = /^[0-9]{1,10}$/.test(t) ? Number(t) : NaN; if (!(n <= 2 ** 31 - 1)) throw new OptionValueError(`must be a number of ms, not '${t}'`); return n; } },
} as const satisfies Record<string, OptionSpec<unknown>>;

/** The observers (docs/OBSERVABILITY.md): HTTP metrics/API/dashboard, /proc files, slow start. */
export const OBSERVE_SPECS = {
  http: { key: 'http', arg: '[ADDR:]PORT', shown: 'off', help: 'serve GET /metrics (Prometheus; node_exporter\'s IPVS names), the API and the dashboard over HTTP; 127.0.0.1 unless ADDR is given (docs/OBSERVABILITY.md)', parse: (t: string): ListenAddr => { const h = parseListenAddr(t); if ('error' in h) throw new OptionValueError(h.error); return h; } },
  httpToken: { key: 'http-token', arg: 'FILE', shown: 'none: the API\'s reads are open, its writes refused', help: 'API tokens, one per line: "admin TOKEN" (may change rules, drain) or "read TOKEN"; the file must be mode 600', parse: (t: string): string => { if (t.trim() === '') throw new OptionValueError('needs a file'); return t; } },
  procfs: { key: 'procfs', arg: 'DIR', shown: 'off', help: 'keep DIR/net/ip_vs, ip_vs_stats and ip_vs_conn in the kernel\'s formats (node_exporter --path.procfs DIR reads them); rewritten every second', parse: (t: string): string => { if (t.trim() === '') throw new OptionValueError('needs a directory'); return t; } },
  slowStart: { key: 'slow-start', arg: 'S', shown: String(SLOW_START_DEFAULTS.seconds), help: 'a real server entering service (added, or its weight raised from 0) ramps its weight up over S seconds (0: off, as ipvsadm)', parse: (t: string): number => { const n = /^[0-9]{1,4}$/.test(t) ? Number(t) : NaN; if (!(n >= 0 && n <= SLOW_START_DEFAULTS.maxSeconds)) throw new OptionValueError(`must be seconds 0..${SLOW_START_DEFAULTS.maxSeconds}, not '${t}'`); return n; } },
} as const satisfies Record<string, OptionSpec<unknown>>;

/** Every option that takes a value, in --help order: flags and config keys. */
export const OPTION_SPECS: readonly OptionSpec<unknown>[] = [
  DAEMON_SPECS.rules, DAEMON_SPECS.socket, DAEMON_SPECS.state, DAEMON_SPECS.forwarder, DAEMON_SPECS.keepalived, DAEMON_SPECS.dumpDir, DAEMON_SPECS.ldirectord,
  WORKERS, DAEMON_SPECS.logLevel, DAEMON_SPECS.syncRefreshMs, DAEMON_SPECS.connMax,
  PROXY_SPECS.proxyProtocol, PROXY_SPECS.connectTimeoutMs, PROXY_SPECS.workerMode, PROXY_SPECS.relay, PROXY_SPECS.ahead, PROXY_SPECS.sharedAccept, PROXY_SPECS.speculate, PROXY_SPECS.maxconn,
  PACKET_SPECS.ifaces, PACKET_SPECS.fastPath, PACKET_SPECS.fastPathAhead, PACKET_SPECS.fastPathStaleMs, PACKET_SPECS.fastPathOrphanMs, PACKET_SPECS.flowCache,
  ...Object.values(IPVS_SPECS),
  ...Object.values(BGP_SPECS),
  ...Object.values(OBSERVE_SPECS),
];

const BY_KEY = new Map(OPTION_SPECS.map((s) => [s.key, s]));
const PATH_KEYS = new Set(['rules', 'socket', 'state', 'keepalived', 'dump-dir', 'ldirectord', 'http-token', 'procfs']);

/** A config file error: "FILE:LINE: message". */
export class ConfigFileError extends OptionError {
  constructor(message: string) {
    super(null, message);
  }
}

/**
 * Reads a daemon config file's text into raw values by key (paths resolved from `dir`, the
 * file's directory). Throws ConfigFileError naming the file and line of the first problem;
 * values are checked here too, so a bad one names its line.
 */
export function parseConfigFile(textOf: string, file: string, dir: string): Map<string, string[]> {
  const raw = new Map<string, string[]>();
  textOf.split('\n').forEach((line, i) => {
    const at = `${file}:${i + 1}`;
    const s = line.replace(/#.*$/, '').trim();
    if (s === '') return;
    const m = /^([a-z][a-z0-9-]*)\s*=\s*(.*)$/.exec(s);
    if (!m) throw new ConfigFileError(`${at}: expected KEY = VALUE, not '${s}'`);
    const [, key, value] = m as unknown as [string, string, string];
    const spec = BY_KEY.get(key);
    if (!spec) throw new ConfigFileError(`${at}: unknown key '${key}' (keys: ${OPTION_SPECS.map((o) => o.key).join(', ')})`);
    try {
      spec.parse(value);
    } catch (e) {
      if (e instanceof OptionValueError) throw new ConfigFileError(`${at}: ${key} ${e.message}`);
      throw e;
    }
    const v = PATH_KEYS.has(key) ? resolve(dir, value) : value;
    const have = raw.get(key);
    if (have && spec.multiple) have.push(v);
    else raw.set(key, [v]);
  });
  return raw;
}

/**
 * keepalived.conf's global_defs daemon options (`tsvs_bgp_as 65001`, src/config/keepalived
 * keywords.ts tsvsDaemonKeywords) as raw option values, each checked by the option table, and
 * the BGP settings checked together (`tsvs_bgp bird` needs `tsvs_bgp_as` and a `tsvs_bgp_peer`;
 * a `tsvs_bgp_*` needs `tsvs_bgp bird`): the file's own settings must stand on their own. Problems
 * are errors at FILE:LINE:COL in keepalived's words. A repeatable option accumulates; another
 * takes its last line.
 */
export function keepalivedOptionLayer(settings: readonly DaemonOptionSetting[]): { raw: Map<string, string[]>; diagnostics: Diagnostic[] } {
  const raw = new Map<string, string[]>();
  const diagnostics: Diagnostic[] = [];
  const err = (at: SourcePos, message: string) => diagnostics.push({ severity: 'error', ...at, message });
  const firstAt = new Map<string, SourcePos>();
  for (const s of settings) {
    const spec = BY_KEY.get(s.key);
    if (!spec || !KEEPALIVED_OPTION_KEYS.has(s.key)) { err(s.at, `'${s.keyword}' is not a tsvs daemon option`); continue; }
    const ok: string[] = [];
    for (const v of s.values) {
      try {
        spec.parse(v.text);
        ok.push(v.text);
      } catch (e) {
        if (!(e instanceof OptionValueError)) throw e;
        err(v.at, `${s.keyword} ${e.message}`);
      }
    }
    if (ok.length === 0) continue;
    if (!firstAt.has(s.key)) firstAt.set(s.key, s.at);
    raw.set(s.key, spec.multiple ? [...(raw.get(s.key) ?? []), ...ok] : ok.slice(0, 1));
  }
  if (diagnostics.length === 0 && [...raw.keys()].some((k) => BGP_KEYS.has(k))) {
    try {
      bgpOptions(raw);
    } catch (e) {
      if (!(e instanceof OptionError)) throw e;
      // The message names flags (--bgp-as); the file's words are keywords (tsvs_bgp_as).
      const at = (e.key !== null ? firstAt.get(e.key) : undefined) ?? firstAt.get(BGP_SPECS.bgp.key) ?? [...firstAt.values()][0]!;
      err(at, e.message.replace(/--([a-z][a-z0-9-]*)/g, (_m, k: string) => keepalivedKeyword(k)));
    }
  }
  return { raw, diagnostics };
}

/**
 * keepalived.conf's daemon options (global_defs tsvs_bgp_as ...) checked by the daemon's option
 * table: a bad value is an error at its FILE:LINE:COL and the file is refused (start, reload,
 * config-test alike).
 */
export function withDaemonOptionChecks<R extends LoadResult>(r: R): R {
  const settings = r.state?.global.daemonOptions;
  if (!r.state || !settings?.length) return r;
  const { diagnostics } = keepalivedOptionLayer(settings);
  if (diagnostics.length === 0) return r;
  return { ...r, state: null, diagnostics: sortDiagnostics([...r.diagnostics, ...diagnostics], r.state.files) };
}

/** The keepalived.conf global_defs keyword of a daemon option: `bgp-as` -> `tsvs_bgp_as`. */
export function keepalivedKeyword(key: string): string {
  return `tsvs_${key.replace(/-/g, '_')}`;
}

/**
 * The daemon options keepalived.conf may set (global_defs `tsvs_...`): the BGP announcement but
 * --bgp-quorum (keepalived.conf's virtual_server quorum decides there), and the IPVS sysctls that
 * matter with several directors.
 */
export const KEEPALIVED_OPTION_KEYS: ReadonlySet<string> = new Set([
  ...Object.values(BGP_SPECS).filter((s) => s !== BGP_SPECS.quorum).map((s) => s.key),
  IPVS_SPECS.sloppy_tcp.key, IPVS_SPECS.sloppy_sctp.key, IPVS_SPECS.conn_reuse_mode.key, IPVS_SPECS.expire_nodest_conn.key, IPVS_SPECS.expire_quiescent_template.key,
]);
const BGP_KEYS: ReadonlySet<string> = new Set(Object.values(BGP_SPECS).map((s) => s.key));

/**
 * The layers of raw options, lowest first, merged: keepalived.conf's global_defs, then --config's
 * file, then the flags (each replaces a key's values of the layers below). `--bgp none` above
 * the keepalived layer drops its BGP settings with it.
 */
export function layerOptions(keepalived: RawOptions | null, file: RawOptions | null, cli: RawOptions): Map<string, readonly string[]> {
  const upper = mergeOptions(file, cli);
  const base = new Map<string, readonly string[]>(keepalived ?? []);
  if (upper.get(BGP_SPECS.bgp.key)?.[0] === 'none') for (const k of BGP_KEYS) base.delete(k);
  return mergeOptions(base, upper);
}

/** The file's values with the command line's on top (a flag replaces all of the file's values of its key). */
export function mergeOptions(file: RawOptions | null, cli: RawOptions): Map<string, readonly string[]> {
  const out = new Map<string, readonly string[]>(file ?? []);
  for (const [k, v] of cli) if (v.length > 0) out.set(k, v);
  return out;
}

/** What resolution needs from the machine (passed in: this module does no I/O). */
export interface OptionEnv {
  readonly cpus: number;
  readonly root: boolean;
  readonly cwd: string;
  readonly defaultSocket: () => string;
  readonly defaultState: (socket: string) => string;
}

/**
 * The daemon's options from raw values (flags merged over the config file). Throws OptionError
 * with a message naming the option for a bad value or a combination that cannot work.
 */
export function daemonOptions(raw: RawOptions, flags: { readonly noState: boolean }, env: OptionEnv): DaemonOptions {
  const forwarder = optionValue(raw, DAEMON_SPECS.forwarder) ?? DAEMON_DEFAULTS.forwarder;
  if (forwarder === 'packet' && !env.root) throw new OptionError('forwarder', '--forwarder packet needs root (raw packet sockets, nftables); use --forwarder proxy without root');
  const keepalived = optionValue(raw, DAEMON_SPECS.keepalived), ldirectord = optionValue(raw, DAEMON_SPECS.ldirectord), rules = optionValue(raw, DAEMON_SPECS.rules);
  if (keepalived && ldirectord) throw new OptionError('keepalived', 'give either --keepalived or --ldirectord, not both');
  if ((keepalived || ldirectord) && rules) throw new OptionError('rules', '--rules cannot be combined with --keepalived/--ldirectord (the config file is the source of truth)');
  const logLevel = optionValue(raw, DAEMON_SPECS.logLevel) ?? DAEMON_DEFAULTS.logLevel;
  const syncRefreshMs = optionValue(raw, DAEMON_SPECS.syncRefreshMs) ?? DAEMON_DEFAULTS.syncRefreshMs;
  // Every option is checked whatever the forwarder; one of the other forwarder's is refused.
  const proxy = proxyOptions(raw, env.cpus);
  const fastPath = optionValue(raw, PACKET_SPECS.fastPath);
  if ((fastPath === 'tc' || fastPath === 'xdp') && forwarder !== 'packet') throw new OptionError('fast-path', `--fast-path ${fastPath} needs --forwarder packet`);
  const packet = packetOptions(raw);
  const foreign = forwarder === 'proxy' ? PACKET_KEYS : forwarder === 'packet' ? PROXY_KEYS : [];
  for (const k of foreign) {
    if (k === 'fast-path') continue; // auto/none: harmless (the default)
    if (raw.get(k)?.length) throw new OptionError(k, `--${k} is an option of the ${forwarder === 'proxy' ? 'packet' : 'proxy'} forwarder (this daemon runs --forwarder ${forwarder})`);
  }
  const socketPath = (() => { const s = optionValue(raw, DAEMON_SPECS.socket); return s ? resolve(env.cwd, s) : env.defaultSocket(); })();
  const state = optionValue(raw, DAEMON_SPECS.state);
  const ipvs = Object.freeze(Object.fromEntries((Object.keys(IPVS_SPECS) as (keyof IpvsSysctls)[]).map((k) => [k, optionValue(raw, IPVS_SPECS[k]) ?? DEFAULT_SYSCTLS[k]])) as unknown as IpvsSysctls);
  const http = optionValue(raw, OBSERVE_SPECS.http) ?? null;
  const procfs = optionValue(raw, OBSERVE_SPECS.procfs);
  const httpToken = optionValue(raw, OBSERVE_SPECS.httpToken);
  if (httpToken !== undefined && !http) throw new OptionError('http-token', '--http-token needs --http');
  const slowStartS = optionValue(raw, OBSERVE_SPECS.slowStart);
  return Object.freeze({
    bgp: bgpOptions(raw),
    ...(http || procfs ? { observe: { http, procfsDir: procfs ? resolve(env.cwd, procfs) : null, httpTokenFile: httpToken ? resolve(env.cwd, httpToken) : null } } : {}),
    ...(slowStartS !== undefined ? { slowStartS } : {}),
    socketPath,
    rulesFile: rules ? resolve(env.cwd, rules) : null,
    stateFile: flags.noState ? null : state ? resolve(env.cwd, state) : env.defaultState(socketPath),
    forwarder,
    configFile: keepalived ? resolve(env.cwd, keepalived) : ldirectord ? resolve(env.cwd, ldirectord) : null,
    configFormat: ldirectord ? 'ldirectord' : 'keepalived',
    dumpDir: resolve(env.cwd, optionValue(raw, DAEMON_SPECS.dumpDir) ?? KA_DUMP_DIR_DEFAULT),
    logLevel,
    syncRefreshMs,
    tickMs: DAEMON_DEFAULTS.tickMs,
    connMax: optionValue(raw, DAEMON_SPECS.connMax) ?? DAEMON_DEFAULTS.connMax,
    proxy: forwarder === 'proxy' ? proxy : Object.freeze({ ...proxy, workers: 0 }),
    packet,
    ipvs,
  });
}

/** --bgp and its --bgp-* options; a --bgp-* option without --bgp bird is refused. */
export function bgpOptions(raw: RawOptions): BgpOptions | null {
  const kind = optionValue(raw, BGP_SPECS.bgp) ?? DAEMON_DEFAULTS.bgp;
  if (kind === 'none') {
    for (const s of Object.values(BGP_SPECS)) if (s !== BGP_SPECS.bgp && raw.get(s.key)?.length) throw new OptionError(s.key, `--${s.key} needs --bgp bird`);
    return null;
  }
  const localAs = optionValue(raw, BGP_SPECS.localAs);
  if (localAs === undefined) throw new OptionError('bgp-as', '--bgp bird needs --bgp-as AS');
  const peers = optionValues(raw, BGP_SPECS.peers) ?? [];
  if (peers.length === 0) throw new OptionError('bgp-peer', '--bgp bird needs at least one --bgp-peer ADDR');
  const routerId = optionValue(raw, BGP_SPECS.routerId) ?? null;
  if (routerId === null && !peers.some((p) => !p.includes(':'))) throw new OptionError('bgp-router-id', '--bgp bird with IPv6 neighbours only needs --bgp-router-id IPv4');
  const prefixes = optionValues(raw, BGP_SPECS.prefixes) ?? [];
  return Object.freeze({
    daemon: kind,
    localAs,
    peers: Object.freeze([...new Set(peers)]),
    peerAs: optionValue(raw, BGP_SPECS.peerAs) ?? localAs,
    routerId,
    holdSeconds: optionValue(raw, BGP_SPECS.holdSeconds) ?? DAEMON_DEFAULTS.bgpHoldSeconds,
    prefixes: Object.freeze([...new Set(prefixes)]),
    quorum: optionValue(raw, BGP_SPECS.quorum) ?? DAEMON_DEFAULTS.bgpQuorum,
    riseMs: optionValue(raw, BGP_SPECS.riseMs) ?? DAEMON_DEFAULTS.bgpRiseMs,
  });
}

/** The option list of --help, generated from the table (flag, values, what, default). */
export function optionsHelp(): string {
  const out: string[] = [];
  for (const s of OPTION_SPECS) {
    const head = `  --${s.key} ${s.arg}`;
    const body = `${s.help} (default: ${s.shown})`;
    out.push(head.length < 26 ? head.padEnd(26) + wrap(body, 26)[0] : head, ...wrap(body, 26).slice(head.length < 26 ? 1 : 0).map((l) => ' '.repeat(26) + l));
  }
  return out.join('\n');
}

function wrap(s: string, indent: number, width = 100): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const w of s.split(' ')) {
    if (cur && indent + cur.length + 1 + w.length > width) {
      lines.push(cur);
      cur = w;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) lines.push(cur);
  return lines;
}
