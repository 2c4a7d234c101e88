/**
 * The forwarders' options: one typed, frozen options object per forwarder, with every default
 * here and nowhere else. Each option is also a `tsvs daemon` flag (`--KEY VALUE`) and a key of
 * the daemon's config file (`KEY = VALUE`); src/daemon/options.ts reads both and calls
 * proxyOptions() / packetOptions(). No I/O; nothing is read from the environment.
 */
import { OptionError } from '../core/errors.ts';

/** How the proxy relays TCP connections (src/forwarders/proxy/forwarder.ts relayKind()). */
export type RelayKind = 'epoll' | 'net';
export const RELAY_KINDS: readonly RelayKind[] = ['epoll', 'net'];

/** What the proxy's relay workers are: threads of the daemon, or cluster worker processes. */
export type WorkerMode = 'threads' | 'processes';

export type ProxyProtocolVersion = 'v1' | 'v2';

/** The kernel fast path of the packet forwarder (docs/PACKET-FORWARDER.md "Kernel fast path"). */
export type FastPathChoice = 'auto' | 'tc' | 'xdp' | 'none';

export interface ProxyOptions {
  /** Relay workers; 0: the daemon's main thread relays. */
  readonly workers: number;
  /**
   * threads: relay threads of the daemon sharing listening sockets (with the net relay processes
   * are used); processes: cluster worker processes over IPC, relaying on net.Socket.
   */
  readonly workerMode: WorkerMode;
  /** TCP relay kind; without epoll through koffi, epoll falls back to net. */
  readonly relay: RelayKind;
  /** Relay threads connect new clients to destinations the engine chose ahead (rr/wrr). */
  readonly ahead: boolean;
  /** One accept queue per service shared by every relay thread (off: one SO_REUSEPORT socket each). */
  readonly sharedAccept: boolean;
  /** The epoll relay reads and sends the client's request right after connect() (HAProxy's way). */
  readonly speculate: boolean;
  /** Send a PROXY protocol header to real servers (null: none). */
  readonly proxyProtocol: ProxyProtocolVersion | null;
  /** Give up connecting to a real server after this many ms (the client is reset). */
  readonly connectTimeoutMs: number;
  /**
   * Open TCP connections per virtual service (all relay workers together), as HAProxy's maxconn;
   * a new one past it is reset at accept and counted. 0: no per-service maximum (the descriptor
   * budget still applies: src/forwarders/proxy/admission.ts).
   */
  readonly maxconn: number;
}

export interface PacketOptions {
  /** Interfaces to capture on; empty: every interface with an IPv4 address but lo. */
  readonly ifaces: readonly string[];
  /** Ring worker threads; 0: the rings are read in the main thread, beside the engine. */
  readonly workers: number;
  /** auto: tc when it loads (else none, with a warning), none with ring workers. */
  readonly fastPath: FastPathChoice;
  /** The kernel fast path also forwards new connections on decisions made ahead (rr/wrr, DR). */
  readonly fastPathAhead: boolean;
  /** Ring workers forward a connection's packets from their decision cache (off: every packet waits for the engine). */
  readonly flowCache: boolean;
  /**
   * The kernel fast path takes no new decision (no decision ahead) once the daemon's heartbeat
   * (written every 100 ms) is this old: a daemon that died leaves nothing deciding for it.
   */
  readonly fastPathStaleMs: number;
  /** Connections the kernel fast path carries continue this long after the daemon's last heartbeat. */
  readonly fastPathOrphanMs: number;
}

/** One option as a flag and a config key: how it reads, what --help says. */
export interface OptionSpec<T> {
  /** The flag without `--`, and the config key. */
  readonly key: string;
  /** The value as --help shows it ("on|off", "N", "MS"). */
  readonly arg: string;
  readonly help: string;
  /** The default as --help shows it. */
  readonly shown: string;
  /** The option may be given more than once (values accumulate). */
  readonly multiple?: boolean;
  /** Reads one value; throws OptionValueError saying what was expected. */
  parse(text: string): T;
}

/** A value an option cannot take; the message completes "--KEY ..." ("must be on or off, not 'x'"). */
/** A value refused before its option is known (the caller adds the option's name). */
export class OptionValueError extends OptionError {
  constructor(message: string) {
    super(null, message);
  }
}

function onOff(text: string): boolean {
  if (text === 'on') return true;
  if (text === 'off') return false;
  throw new OptionValueError(`must be on or off, not '${text}'`);
}

function oneOf<T extends string>(values: readonly T[]): (text: string) => T {
  const list = values.length > 1 ? `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}` : values[0]!;
  return (text) => {
    if ((values as readonly string[]).includes(text)) return text as T;
    throw new OptionValueError(`must be ${list}, not '${text}'`);
  };
}

function integer(min: number, max: number, what: string): (text: string) => number {
  return (text) => {
    const n = /^[0-9]+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new OptionValueError(`must be ${what}, not '${text}'`);
    return n;
  };
}

const onOffSpec = (key: string, help: string, dflt: boolean): OptionSpec<boolean> => ({ key, arg: 'on|off', help, shown: dflt ? 'on' : 'off', parse: onOff });

const DEFAULT_RELAY: RelayKind = 'epoll';

/** Defaults of the proxy forwarder; `workers` defaults to the number of CPUs (proxyOptions's `cpus`). */
export const PROXY_DEFAULTS: Readonly<Omit<ProxyOptions, 'workers'>> = Object.freeze({
  workerMode: 'threads',
  relay: DEFAULT_RELAY,
  ahead: true,
  sharedAccept: true,
  speculate: true,
  proxyProtocol: null,
  connectTimeoutMs: 5000,
  maxconn: 0,
});

export const PACKET_DEFAULTS: Readonly<PacketOptions> = Object.freeze({
  ifaces: Object.freeze([]) as readonly string[],
  workers: 0,
  fastPath: 'auto',
  fastPathAhead: true,
  flowCache: true,
  fastPathStaleMs: 500,
  fastPathOrphanMs: 30_000,
});

/** --workers: both forwarders, with their own defaults. */
export const WORKERS: OptionSpec<number> = {
  key: 'workers', arg: 'N', shown: 'proxy: number of CPUs; packet: 0',
  help: 'proxy: relay workers (0 = relay in the daemon\'s main thread); packet: ring worker threads (0 = the rings are read in the main thread, beside the engine)',
  parse: integer(0, 64, 'an integer 0..64'),
};

/** The proxy forwarder's own options (besides --workers). */
export const PROXY_SPECS = {
  workerMode: { key: 'proxy-worker-mode', arg: 'threads|processes', shown: PROXY_DEFAULTS.workerMode, help: 'proxy: relay workers as threads of the daemon sharing its listening sockets, or as cluster worker processes relaying on net.Socket (used anyway with the net relay)', parse: oneOf<WorkerMode>(['threads', 'processes']) },
  relay: { key: 'proxy-relay', arg: RELAY_KINDS.join('|'), shown: PROXY_DEFAULTS.relay, help: 'proxy: how TCP is relayed: bare descriptors in our own epoll loop, or net.Socket (epoll falls back to net where koffi cannot drive epoll)', parse: oneOf(RELAY_KINDS) },
  ahead: onOffSpec('proxy-ahead', 'proxy: relay threads connect new clients of rr/wrr services to destinations the engine chose ahead (off: every new connection asks the main thread)', PROXY_DEFAULTS.ahead),
  sharedAccept: onOffSpec('proxy-shared-accept', 'proxy: one accept queue per service shared by every relay thread (off: one SO_REUSEPORT socket per thread)', PROXY_DEFAULTS.sharedAccept),
  speculate: onOffSpec('proxy-speculate', 'proxy: the epoll relay reads and sends the client\'s request right after connect(), before the handshake is known to be complete', PROXY_DEFAULTS.speculate),
  proxyProtocol: { key: 'proxy-protocol', arg: 'v1|v2|none', shown: 'none', help: 'proxy: send a PROXY protocol header to real servers (client address)', parse: (t: string) => { const v = oneOf(['v1', 'v2', 'none'] as const)(t); return v === 'none' ? null : v; } },
  connectTimeoutMs: { key: 'connect-timeout', arg: 'MS', shown: String(PROXY_DEFAULTS.connectTimeoutMs), help: 'proxy: give up connecting to a real server after MS (the client is reset)', parse: integer(1, 2 ** 31 - 1, 'a positive integer (ms)') },
  maxconn: { key: 'proxy-maxconn', arg: 'N', shown: String(PROXY_DEFAULTS.maxconn), help: 'proxy: open TCP connections per virtual service (as HAProxy\'s maxconn); a new one past it is reset at once and counted (0: no per-service maximum; the descriptor budget still applies)', parse: integer(0, 2 ** 31 - 1, 'an integer >= 0') },
} as const satisfies { readonly [K in Exclude<keyof ProxyOptions, 'workers'>]: OptionSpec<ProxyOptions[K]> };

/** The packet forwarder's own options (besides --workers). */
export const PACKET_SPECS = {
  ifaces: { key: 'iface', arg: 'IF', shown: 'every interface with an IPv4 address except lo', multiple: true, help: 'packet: capture on IF (repeatable)', parse: (t: string) => { if (!/^[^\s/]{1,15}$/.test(t)) throw new OptionValueError(`must be an interface name, not '${t}'`); return t; } },
  fastPath: { key: 'fast-path', arg: 'auto|tc|xdp|none', shown: PACKET_DEFAULTS.fastPath, help: 'packet: forward the packets of direct-routing connections the engine decided in the kernel, on tc ingress or XDP (eBPF; needs clang and libbpf1). auto: tc when it loads (else none, with a warning); none with --workers N', parse: oneOf<FastPathChoice>(['auto', 'tc', 'xdp', 'none']) },
  fastPathAhead: onOffSpec('fast-path-ahead', 'packet: the kernel fast path also forwards new connections of rr/wrr direct-routing services on decisions the engine made ahead (off: every new connection goes to the engine)', PACKET_DEFAULTS.fastPathAhead),
  fastPathStaleMs: { key: 'fast-path-stale', arg: 'MS', shown: String(PACKET_DEFAULTS.fastPathStaleMs), help: 'packet: the kernel fast path takes no new decision once the daemon\'s heartbeat (every 100 ms) is MS old: a daemon that died leaves nothing deciding for it', parse: integer(200, 60_000, 'a number of ms 200..60000') },
  fastPathOrphanMs: { key: 'fast-path-orphan', arg: 'MS', shown: String(PACKET_DEFAULTS.fastPathOrphanMs), help: 'packet: connections the kernel fast path carries continue MS after the daemon\'s last heartbeat, then are left to the kernel', parse: integer(200, 3_600_000, 'a number of ms 200..3600000') },
  flowCache: onOffSpec('flow-cache', 'packet: ring workers forward a connection\'s packets from their decision cache, the engine deciding them in order right after (off: every packet waits for the engine)', PACKET_DEFAULTS.flowCache),
} as const;

/** Raw values by option key, as given (flags or config file); the last one counts unless the option is multiple. */
export type RawOptions = ReadonlyMap<string, readonly string[]>;

/** A bad option: its key and what is wrong (the caller says where it came from). */
export { OptionError };

/** One value read by its spec; a bad one becomes an OptionError naming the flag. */
function parseAs<T>(spec: OptionSpec<T>, text: string): T {
  try {
    return spec.parse(text);
  } catch (e) {
    if (e instanceof OptionValueError) throw new OptionError(spec.key, `--${spec.key} ${e.message}`);
    throw e;
  }
}

/** An option's value (the last given), or undefined when it was not given. */
export function optionValue<T>(raw: RawOptions, spec: OptionSpec<T>): T | undefined {
  const v = raw.get(spec.key);
  return v && v.length > 0 ? parseAs(spec, v[v.length - 1]!) : undefined;
}

/** Every value of a repeatable option, or undefined when it was not given. */
export function optionValues<T>(raw: RawOptions, spec: OptionSpec<T>): T[] | undefined {
  const v = raw.get(spec.key);
  return v && v.length > 0 ? v.map((x) => parseAs(spec, x)) : undefined;
}

/** The proxy forwarder's options from raw values (defaults for the others); frozen. */
export function proxyOptions(raw: RawOptions, cpus: number): ProxyOptions {
  const o: { -readonly [K in keyof ProxyOptions]: ProxyOptions[K] } = { workers: optionValue(raw, WORKERS) ?? cpus, ...PROXY_DEFAULTS };
  for (const [field, spec] of Object.entries(PROXY_SPECS) as [keyof typeof PROXY_SPECS, OptionSpec<unknown>][]) {
    const v = optionValue(raw, spec);
    if (v !== undefined) (o as Record<string, unknown>)[field] = v;
  }
  return Object.freeze(o);
}

/** The packet forwarder's options from raw values (defaults for the others); frozen. Throws on a bad combination. */
export function packetOptions(raw: RawOptions): PacketOptions {
  const workers = optionValue(raw, WORKERS) ?? PACKET_DEFAULTS.workers;
  const fastPath = optionValue(raw, PACKET_SPECS.fastPath) ?? PACKET_DEFAULTS.fastPath;
  if ((fastPath === 'tc' || fastPath === 'xdp') && workers > 0) throw new OptionError('fast-path', `--fast-path ${fastPath} works with the default packet path (drop --workers)`);
  const stale = optionValue(raw, PACKET_SPECS.fastPathStaleMs) ?? PACKET_DEFAULTS.fastPathStaleMs;
  const orphan = optionValue(raw, PACKET_SPECS.fastPathOrphanMs) ?? PACKET_DEFAULTS.fastPathOrphanMs;
  if (orphan < stale) throw new OptionError('fast-path-orphan', `--fast-path-orphan ${orphan} is shorter than --fast-path-stale ${stale}: known flows would stop before new decisions do`);
  return Object.freeze({
    ifaces: Object.freeze(optionValues(raw, PACKET_SPECS.ifaces) ?? [...PACKET_DEFAULTS.ifaces]),
    workers,
    // auto is the default path's: with ring workers there is no fast path.
    fastPath: fastPath === 'auto' && workers > 0 ? 'none' : fastPath,
    fastPathAhead: optionValue(raw, PACKET_SPECS.fastPathAhead) ?? PACKET_DEFAULTS.fastPathAhead,
    flowCache: optionValue(raw, PACKET_SPECS.flowCache) ?? PACKET_DEFAULTS.flowCache,
    fastPathStaleMs: stale,
    fastPathOrphanMs: orphan,
  });
}

/** Every forwarder option's key, by forwarder (an option of the other forwarder is refused). */
export const PROXY_KEYS: readonly string[] = Object.values(PROXY_SPECS).map((s) => s.key);
export const PACKET_KEYS: readonly string[] = Object.values(PACKET_SPECS).map((s) => s.key);
