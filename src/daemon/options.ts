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
  OptionError, OptionValueError, PACKET_KEYS, PACKET_SPECS, PROXY_KEYS, PROXY_SPECS, WORKERS, optionValue, packetOptions, proxyOptions,
  type OptionSpec, type PacketOptions, type ProxyOptions, type RawOptions,
} from '../dataplane/options.ts';
import { LOG_LEVELS, type LogLevel } from './log.ts';

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
  readonly logLevel: LogLevel;
  /** The master sync daemon's full-table refresh period (ms; 0: none). */
  readonly syncRefreshMs: number;
  /** How often the engine's clock is advanced when no packet does it (ms). */
  readonly tickMs: number;
  readonly proxy: ProxyOptions;
  readonly packet: PacketOptions;
}

/** The daemon's own defaults (the forwarders' are PROXY_DEFAULTS / PACKET_DEFAULTS). */
export const DAEMON_DEFAULTS = Object.freeze({
  forwarder: 'proxy' as ForwarderKind,
  logLevel: 'info' as LogLevel,
  syncRefreshMs: 1000,
  tickMs: 200,
});

const text = (what: string) => (t: string): string => {
  if (t === '') throw new OptionValueError(`needs ${what}`);
  return t;
};

/** The daemon's own options (the forwarders' follow, from src/dataplane/options.ts). */
export const DAEMON_SPECS = {
  rules: { key: 'rules', arg: 'FILE', shown: 'none', help: 'ipvsadm -S format rules loaded when there is no saved state, and on SIGHUP / reload (a bad file is refused whole)', parse: text('a file') },
  socket: { key: 'socket', arg: 'PATH', shown: '$TSVS_SOCKET, /run/tsvs/tsvs.sock as root, else $XDG_RUNTIME_DIR/tsvs/tsvs.sock, else ./.tsvs/tsvs.sock', help: 'control socket', parse: text('a path') },
  state: { key: 'state', arg: 'FILE', shown: '/var/lib/tsvs/rules as root, else beside the socket', help: 'where the running rules are saved after every change and restored from on start; --no-state to keep nothing', parse: text('a file') },
  forwarder: { key: 'forwarder', arg: 'proxy|packet|none', shown: DAEMON_DEFAULTS.forwarder, help: 'proxy: TCP/UDP sockets, no root needed; packet (root): NAT/DR/TUN on real packets; none: control only', parse: (t: string): ForwarderKind => { if (t === 'proxy' || t === 'packet' || t === 'none') return t; throw new OptionValueError(`must be proxy, packet or none, not '${t}'`); } },
  keepalived: { key: 'keepalived', arg: 'FILE', shown: 'none', help: 'run keepalived.conf as it is: virtual_server/real_server with health checks, vrrp_instance failover, lvs_sync_daemon; SIGHUP reloads it', parse: text('a file') },
  ldirectord: { key: 'ldirectord', arg: 'FILE', shown: 'none', help: 'run ldirectord.cf as it is (virtual=/real= with checks); SIGHUP reloads it', parse: text('a file') },
  logLevel: { key: 'log-level', arg: LOG_LEVELS.join('|'), shown: DAEMON_DEFAULTS.logLevel, help: 'logs are JSON lines on stderr (the proxy relay workers log at the same level)', parse: (t: string): LogLevel => { if ((LOG_LEVELS as readonly string[]).includes(t)) return t as LogLevel; throw new OptionValueError(`must be one of ${LOG_LEVELS.join(', ')}, not '${t}'`); } },
  syncRefreshMs: { key: 'sync-refresh', arg: 'MS', shown: String(DAEMON_DEFAULTS.syncRefreshMs), help: 'connection sync master: send the whole connection table every MS (0: only changes)', parse: (t: string): number => { const n = /^[0-9]+$/.test(t) ? Number(t) : NaN; if (!Number.isSafeInteger(n) || n > 2 ** 31 - 1) throw new OptionValueError(`must be a number of ms (0 turns it off), not '${t}'`); return n; } },
} as const satisfies Record<string, OptionSpec<unknown>>;

/** Every option that takes a value, in --help order: flags and config keys. */
export const OPTION_SPECS: readonly OptionSpec<unknown>[] = [
  DAEMON_SPECS.rules, DAEMON_SPECS.socket, DAEMON_SPECS.state, DAEMON_SPECS.forwarder, DAEMON_SPECS.keepalived, DAEMON_SPECS.ldirectord,
  WORKERS, DAEMON_SPECS.logLevel, DAEMON_SPECS.syncRefreshMs,
  PROXY_SPECS.proxyProtocol, PROXY_SPECS.connectTimeoutMs, PROXY_SPECS.workerMode, PROXY_SPECS.relay, PROXY_SPECS.ahead, PROXY_SPECS.sharedAccept, PROXY_SPECS.speculate,
  PACKET_SPECS.ifaces, PACKET_SPECS.fastPath, PACKET_SPECS.fastPathAhead, PACKET_SPECS.flowCache,
];

const BY_KEY = new Map(OPTION_SPECS.map((s) => [s.key, s]));
const PATH_KEYS = new Set(['rules', 'socket', 'state', 'keepalived', 'ldirectord']);

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
  return Object.freeze({
    socketPath,
    rulesFile: rules ? resolve(env.cwd, rules) : null,
    stateFile: flags.noState ? null : state ? resolve(env.cwd, state) : env.defaultState(socketPath),
    forwarder,
    configFile: keepalived ? resolve(env.cwd, keepalived) : ldirectord ? resolve(env.cwd, ldirectord) : null,
    configFormat: ldirectord ? 'ldirectord' : 'keepalived',
    logLevel,
    syncRefreshMs,
    tickMs: DAEMON_DEFAULTS.tickMs,
    proxy: forwarder === 'proxy' ? proxy : Object.freeze({ ...proxy, workers: 0 }),
    packet,
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
