/**
 * ipvsadm 1.31 command-line grammar: argv (without argv[0]) → Invocation | IpvsadmFailure.
 * Follows ipvsadm.c parse_options()/process_options() step by step so that the first error
 * reported, its text and its exit code are the ones ipvsadm gives (§5.1–5.9 of the spec).
 * Pure: name lookups go through an injected SyncResolver.
 */
import type {
  Af, DestSpec, FwdMethod, Protocol, ServiceKey, ServiceSpec, SyncDaemonSpec, TunCsum, TunType,
} from '../core/types.ts';
import { FWD_CODE, SVC_F, TUN_CSUMS, TUN_TYPES } from '../core/types.ts';
import { formatIpv4 } from '../core/addr.ts';
import { atoi, inetAton, inetPton4, inetPton6, stringToNumber, strtol } from './cnum.ts';
import { Popt, POPT_STRERROR, type OptDef } from './popt.ts';
import { tryHelpText, usageText, versionText } from './texts.ts';
import type { IpvsadmFailure, ListFormat, ParseResult, SyncResolver } from './types.ts';
import { numericResolver } from './types.ts';

const MAX_TIMEOUT = 86400 * 31;
const INT_MAX = 2147483647;
const DEF_SCHED = 'wlc';
const DEF_MCAST_IFN = 'eth0';
/** IPVS_SVC_PERSISTENT_TIMEOUT (libipvs.h): 6 minutes, not the man page's 300. */
export const DEFAULT_PERSISTENT_TIMEOUT = 360;

const CMD = {
  ADD: 0, EDIT: 1, DEL: 2, FLUSH: 3, LIST: 4, ADDDEST: 5, DELDEST: 6, EDITDEST: 7,
  TIMEOUT: 8, STARTDAEMON: 9, STOPDAEMON: 10, RESTORE: 11, SAVE: 12, ZERO: 13,
} as const;
const CMDNAMES = [
  'add-service', 'edit-service', 'delete-service', 'flush', 'list', 'add-server', 'delete-server',
  'edit-server', 'set', 'start-daemon', 'stop-daemon', 'restore', 'save', 'zero',
];

const O = {
  NUMERIC: 0, CONNECTION: 1, SERVICE: 2, SCHEDULER: 3, PERSISTENT: 4, NETMASK: 5, SERVER: 6,
  FORWARD: 7, WEIGHT: 8, UTHRESHOLD: 9, LTHRESHOLD: 10, MCAST: 11, TIMEOUT: 12, DAEMON: 13,
  STATS: 14, RATE: 15, THRESHOLDS: 16, PERSISTENTCONN: 17, NOSORT: 18, SYNCID: 19, EXACT: 20,
  ONEPACKET: 21, PE: 22, SCHED_FLAGS: 23, MCAST_GROUP: 24, MCAST_PORT: 25, MCAST_TTL: 26,
  SYNC_MAXLEN: 27, TUN_INFO: 28, TUN_TYPE: 29, TUN_PORT: 30, TUN_NOCSUM: 31, TUN_CSUM: 32,
  TUN_REMCSUM: 33,
} as const;
const OPTNAMES = [
  'numeric', 'connection', 'service-address', 'scheduler', 'persistent', 'netmask', 'real-server',
  'forwarding-method', 'weight', 'u-threshold', 'l-threshold', 'mcast-interface', 'timeout',
  'daemon', 'stats', 'rate', 'thresholds', 'persistent-conn', 'nosort', 'syncid', 'exact', 'ops',
  'pe', 'sched-flags', 'mcast-group', 'mcast-port', 'mcast-ttl', 'sync-maxlen', 'tun-info',
  'tun-type', 'tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum',
];

// commands_v_options[][] of ipvsadm 1.31, one string per command, one char per option above.
//                          -n -c svc -s -p -M -r fwd -w -x -y mc tot dmn st rt thr pc srt sid ex ops pe b grp prt ttl sz tinf type tprt nocs csum remc
const CMD_V_OPT = [
  /* ADD      */ 'xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx',
  /* EDIT     */ 'xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx',
  /* DEL      */ 'xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* FLUSH    */ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* LIST     */ ' 11xxxxxxxxx11       xxxxxxx xxxxx',
  /* ADDSRV   */ 'xx+xxx+    xxxxxxxxxxxxxxxxxx     ',
  /* DELSRV   */ 'xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* EDITSRV  */ 'xx+xxx+    xxxxxxxxxxxxxxxxxx     ',
  /* TIMEOUT  */ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* STARTD   */ 'xxxxxxxxxxx xxxxxxx xxxx    xxxxxx',
  /* STOPD    */ 'xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx',
  /* RESTORE  */ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* SAVE     */ ' xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* ZERO     */ 'xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
];

const TUN_NAMES = TUN_TYPES;
const TUN_OPTS = [O.TUN_PORT, O.TUN_NOCSUM, O.TUN_CSUM, O.TUN_REMCSUM];
//                       tprt nocs csum remc
const TUN_V_OPT = ['xxxx', '+111', 'x11x'];

const OPTIONS: readonly OptDef[] = [
  { long: 'add-service', short: 'A', arg: 'none', tag: 'A' },
  { long: 'edit-service', short: 'E', arg: 'none', tag: 'E' },
  { long: 'delete-service', short: 'D', arg: 'none', tag: 'D' },
  { long: 'clear', short: 'C', arg: 'none', tag: 'C' },
  { long: 'list', short: 'L', arg: 'none', tag: 'L' },
  { long: 'list', short: 'l', arg: 'none', tag: 'l' },
  { long: 'zero', short: 'Z', arg: 'none', tag: 'Z' },
  { long: 'add-server', short: 'a', arg: 'none', tag: 'a' },
  { long: 'edit-server', short: 'e', arg: 'none', tag: 'e' },
  { long: 'delete-server', short: 'd', arg: 'none', tag: 'd' },
  { long: 'set', arg: 'none', tag: 'set' },
  { long: 'help', short: 'h', arg: 'none', tag: 'h' },
  { long: 'version', short: 'v', arg: 'none', tag: 'v' },
  { long: 'restore', short: 'R', arg: 'none', tag: 'R' },
  { long: 'save', short: 'S', arg: 'none', tag: 'S' },
  { long: 'start-daemon', arg: 'string', tag: 'start-daemon' },
  { long: 'stop-daemon', arg: 'string', tag: 'stop-daemon' },
  { long: 'tcp-service', short: 't', arg: 'string', tag: 't' },
  { long: 'udp-service', short: 'u', arg: 'string', tag: 'u' },
  { long: 'sctp-service', arg: 'string', tag: 'sctp' },
  { long: 'fwmark-service', short: 'f', arg: 'string', tag: 'f' },
  { long: 'scheduler', short: 's', arg: 'string', tag: 's' },
  { long: 'persistent', short: 'p', arg: 'optional', tag: 'p' },
  { long: 'netmask', short: 'M', arg: 'string', tag: 'M' },
  { long: 'real-server', short: 'r', arg: 'string', tag: 'r' },
  { long: 'masquerading', short: 'm', arg: 'none', tag: 'm' },
  { long: 'ipip', short: 'i', arg: 'none', tag: 'i' },
  { long: 'gatewaying', short: 'g', arg: 'none', tag: 'g' },
  { long: 'weight', short: 'w', arg: 'string', tag: 'w' },
  { long: 'u-threshold', short: 'x', arg: 'string', tag: 'x' },
  { long: 'l-threshold', short: 'y', arg: 'string', tag: 'y' },
  { long: 'numeric', short: 'n', arg: 'none', tag: 'n' },
  { long: 'connection', short: 'c', arg: 'none', tag: 'c' },
  { long: 'mcast-interface', arg: 'string', tag: 'mcast-interface' },
  { long: 'syncid', arg: 'string', tag: 'syncid' },
  { long: 'timeout', arg: 'none', tag: 'timeout' },
  { long: 'daemon', arg: 'none', tag: 'daemon' },
  { long: 'stats', arg: 'none', tag: 'stats' },
  { long: 'rate', arg: 'none', tag: 'rate' },
  { long: 'thresholds', arg: 'none', tag: 'thresholds' },
  { long: 'persistent-conn', arg: 'none', tag: 'persistent-conn' },
  { long: 'nosort', arg: 'none', tag: 'nosort' },
  { long: 'sort', arg: 'none', tag: 'sort' },
  { long: 'exact', short: 'X', arg: 'none', tag: 'X' },
  { long: 'ipv6', short: '6', arg: 'none', tag: '6' },
  { long: 'ops', short: 'o', arg: 'none', tag: 'o' },
  { long: 'pe', arg: 'string', tag: 'pe' },
  { long: 'sched-flags', short: 'b', arg: 'string', tag: 'b' },
  { long: 'mcast-group', arg: 'string', tag: 'mcast-group' },
  { long: 'mcast-port', arg: 'string', tag: 'mcast-port' },
  { long: 'mcast-ttl', arg: 'string', tag: 'mcast-ttl' },
  { long: 'sync-maxlen', arg: 'string', tag: 'sync-maxlen' },
  { long: 'tun-info', arg: 'none', tag: 'tun-info' },
  { long: 'tun-type', arg: 'string', tag: 'tun-type' },
  { long: 'tun-port', arg: 'string', tag: 'tun-port' },
  { long: 'tun-nocsum', arg: 'none', tag: 'tun-nocsum' },
  { long: 'tun-csum', arg: 'none', tag: 'tun-csum' },
  { long: 'tun-remcsum', arg: 'none', tag: 'tun-remcsum' },
];

const PROTO_NUM = { tcp: 6, udp: 17, sctp: 132 } as const;
const FWD_FLAGS: Record<FwdMethod, number> = FWD_CODE;

/** Thrown inside the parser; turned into an IpvsadmFailure at the boundary. */
class Exit {
  constructor(readonly failure: IpvsadmFailure) {}
}

function failure(message: string, code: number, exits = true, stderr?: string): IpvsadmFailure {
  return { kind: 'failure', message, stderr: stderr ?? `${message}\n`, code, exits };
}

/** ipvsadm's fail(2, ...). */
function fail(message: string): never {
  throw new Exit(failure(message, 2));
}

interface SvcState {
  af: 0 | Af;
  fwmark: number;
  protocol: 0 | Protocol;
  addr: string | null;
  port: number;
  sched: string;
  flags: number;
  timeout: number;
  netmask: number;
  pe: string;
}

interface AddrParse {
  af: Af;
  addr: string;
  port: number | null;
}

const SERVICE_ADDR = 1;
const SERVICE_PORT = 2;

function strIsDigit(s: string): boolean {
  return /^[0-9]*$/.test(s);
}

/**
 * parse_service(): host[:port] / [v6]:port. Returns the flags (0 = SERVICE_NONE) and what was
 * read. Reproduces the quirks: all-digit text is refused; `::1:80` is an IPv6 address without
 * port; `[1.2.3.4]:80` loses the port; IPv4 accepts inet_aton forms and IPv4-only host names.
 */
function parseService(buf: string, proto: 0 | Protocol, names: SyncResolver): { res: number; v?: AddrParse } {
  if (strIsDigit(buf)) return { res: 0 };
  let s = buf;
  let portp: string | null = null;
  if (s[0] === '[') {
    s = s.slice(1);
    const k = s.indexOf(']');
    if (k < 0) return { res: 0 };
    const after = s.slice(k + 1);
    s = s.slice(0, k);
    if (after[0] === ':') portp = after.slice(1);
    else return { res: 0 };
  }
  let af: Af;
  let addr: string;
  const v6 = inetPton6(s);
  if (v6 !== null) {
    af = 6;
    addr = v6;
  } else {
    const c = s.lastIndexOf(':');
    if (c >= 0) {
      portp = s.slice(c + 1);
      s = s.slice(0, c);
    } else {
      portp = null;
    }
    let v4 = inetAton(s);
    if (v4 === null && s !== '') {
      const h = names.hostToAddr(s);
      if (h !== null) v4 = inetPton4(h);
    }
    if (v4 === null) return { res: 0 };
    af = 4;
    addr = formatIpv4(v4);
  }
  let res = SERVICE_ADDR;
  let port: number | null = null;
  if (portp !== null) {
    res |= SERVICE_PORT;
    let n = stringToNumber(portp, 0, 65535);
    if (n === -1) {
      const p = proto === 0 || portp === '' ? null : names.serviceToPort(portp, proto);
      if (p === null || p < 0 || p > 65535) return { res: 0 };
      n = p;
    }
    port = n;
  }
  return { res, v: { af, addr, port } };
}

function parseTimeout(buf: string | null, min: number, max: number): number {
  if (buf === null) return DEFAULT_PERSISTENT_TIMEOUT;
  const i = stringToNumber(buf, min, max);
  if (i === -1) fail(`invalid timeout value \`${buf}' specified`);
  return i;
}

function parseFwmark(buf: string): number {
  const r = strtol(buf, 10);
  // (unsigned long)strtol: negatives become huge and fail the UINT_MAX test.
  if (r.end !== buf.length || r.end === 0 || r.erange || r.value <= 0n || r.value > 0xffffffffn) {
    fail(`invalid fwmark value \`${buf}' specified`);
  }
  return Number(r.value);
}

function parseSchedFlags(sched: string, arg: string): number {
  const s = sched !== '' ? sched : DEF_SCHED;
  const tokens = arg.split(',').filter((t) => t !== '');
  if (tokens.length === 0) {
    // strtok() returns NULL and ipvsadm dereferences it: the process dies with SIGSEGV.
    throw new Exit(failure('Segmentation fault', 139));
  }
  let flags = 0;
  for (const f of tokens) {
    if (f === 'flag-1') flags |= SVC_F.SCHED1;
    else if (f === 'flag-2') flags |= SVC_F.SCHED2;
    else if (f === 'flag-3') flags |= SVC_F.SCHED3;
    else if (f === 'sh-fallback' || f === 'sh-port') {
      flags |= f === 'sh-fallback' ? SVC_F.SCHED1 : SVC_F.SCHED2;
      if (s !== 'sh') fail(`incompatible scheduler flag \`${f}'`);
    } else if (f === 'mh-fallback' || f === 'mh-port') {
      flags |= f === 'mh-fallback' ? SVC_F.SCHED1 : SVC_F.SCHED2;
      if (s !== 'mh') fail(`incompatible scheduler flag \`${f}'`);
    } else fail(`invalid scheduler flag \`${f}'`);
  }
  return flags;
}

function isMulticast6(text: string): boolean {
  return /^ff/i.test(text);
}

/**
 * Parses one ipvsadm command line (argv without argv[0]). An empty argv is `-L` (list all, names
 * resolved). Never throws.
 */
export function parseIpvsadm(argv: readonly string[], names: SyncResolver = numericResolver, program = 'ipvsadm'): ParseResult {
  try {
    if (argv.length === 0) {
      return { kind: 'list', target: { what: 'all' }, format: listFormat(new Set<number>()) };
    }
    return parseInner(argv, names, program);
  } catch (e) {
    if (e instanceof Exit) return e.failure;
    const msg = e instanceof Error ? e.message : String(e);
    return failure(`internal error: ${msg}`, 2);
  }
}

function listFormat(opts: ReadonlySet<number>): ListFormat {
  return {
    numeric: opts.has(O.NUMERIC),
    stats: opts.has(O.STATS),
    rate: opts.has(O.RATE),
    thresholds: opts.has(O.THRESHOLDS),
    persistentConn: opts.has(O.PERSISTENTCONN),
    nosort: opts.has(O.NOSORT),
    exact: opts.has(O.EXACT),
    tunInfo: opts.has(O.TUN_INFO),
  };
}

function parseInner(argv: readonly string[], names: SyncResolver, program: string): ParseResult {
  const popt = new Popt(argv, OPTIONS);
  const options = new Set<number>();
  const setOption = (o: number): void => {
    if (options.has(o)) fail(`multiple '${OPTNAMES[o]}' options specified`);
    options.add(o);
  };
  const svc: SvcState = {
    af: 0, fwmark: 0, protocol: 0, addr: null, port: 0, sched: '', flags: 0, timeout: 0,
    netmask: 0xffffffff, pe: '',
  };
  const dest = {
    af: 0 as 0 | Af, addr: '', port: 0, fwd: 'route' as FwdMethod, weight: 1, u: 0, l: 0,
    tunType: 0, tunPort: 0, tunFlags: 0,
  };
  const daemon = { state: 'master' as 'master' | 'backup', ifn: '', syncid: 0, group: '', port: 0, ttl: 0, maxlen: 0 };
  const tryhelp = (): never => {
    throw new Exit(failure(tryHelpText(program).slice(0, -1), 255));
  };

  // The first option must be the command.
  const first = popt.getNextOpt();
  if (first.type !== 'opt') tryhelp();
  let cmd: number;
  const f0 = first as { tag: string; arg: string | null };
  switch (f0.tag) {
    case 'A': cmd = CMD.ADD; break;
    case 'E': cmd = CMD.EDIT; break;
    case 'D': cmd = CMD.DEL; break;
    case 'a': cmd = CMD.ADDDEST; break;
    case 'e': cmd = CMD.EDITDEST; break;
    case 'd': cmd = CMD.DELDEST; break;
    case 'C': cmd = CMD.FLUSH; break;
    case 'L': case 'l': cmd = CMD.LIST; break;
    case 'Z': cmd = CMD.ZERO; break;
    case 'set': cmd = CMD.TIMEOUT; break;
    case 'R': cmd = CMD.RESTORE; break;
    case 'S': cmd = CMD.SAVE; break;
    case 'start-daemon':
    case 'stop-daemon': {
      cmd = f0.tag === 'start-daemon' ? CMD.STARTDAEMON : CMD.STOPDAEMON;
      if (f0.arg === 'master') daemon.state = 'master';
      else if (f0.arg === 'backup') daemon.state = 'backup';
      else fail(cmd === CMD.STARTDAEMON ? 'illegal start-daemon parameter specified' : 'illegal start_daemon specified');
      break;
    }
    case 'h': return { kind: 'help', text: usageText(program) };
    case 'v': return { kind: 'version', text: versionText() };
    default: return tryhelp();
  }

  let schedFlagsArg = '';
  let ev = popt.getNextOpt();
  for (; ev.type === 'opt'; ev = popt.getNextOpt()) {
    const optarg = ev.arg;
    const arg = optarg ?? '';
    switch (ev.tag) {
      case 't': case 'u': case 'sctp': {
        setOption(O.SERVICE);
        svc.protocol = ev.tag === 't' ? 'tcp' : ev.tag === 'u' ? 'udp' : 'sctp';
        const r = parseService(arg, svc.protocol, names);
        if (r.v) {
          svc.af = r.v.af;
          svc.addr = r.v.addr;
          if (r.v.af === 6) svc.netmask = 128;
          if (r.v.port !== null) svc.port = r.v.port;
        }
        if (!(r.res & SERVICE_ADDR)) fail('illegal virtual server address[:port] specified');
        break;
      }
      case 'f':
        setOption(O.SERVICE);
        svc.af = 4;
        svc.protocol = 'tcp';
        svc.fwmark = parseFwmark(arg);
        break;
      case 's':
        setOption(O.SCHEDULER);
        svc.sched = arg.slice(0, 15);
        break;
      case 'p':
        setOption(O.PERSISTENT);
        svc.flags |= SVC_F.PERSISTENT;
        svc.timeout = parseTimeout(optarg, 1, MAX_TIMEOUT);
        break;
      case 'M':
        setOption(O.NETMASK);
        if (svc.af !== 6) {
          let m = inetAton(arg);
          if (m === null && arg !== '') {
            const h = names.hostToAddr(arg);
            if (h !== null) m = inetPton4(h);
          }
          if (m === null) fail('illegal virtual server persistent mask specified');
          svc.netmask = m;
        } else {
          const n = atoi(arg) >>> 0;
          svc.netmask = n;
          if (n < 1 || n > 128) fail('illegal ipv6 netmask specified');
        }
        break;
      case 'r': {
        setOption(O.SERVER);
        const r = parseService(arg, svc.protocol, names);
        if (r.v) {
          dest.af = r.v.af;
          dest.addr = r.v.addr;
          dest.port = r.v.port ?? svc.port;
        } else {
          dest.af = svc.af;
        }
        if (!(r.res & SERVICE_ADDR)) fail('illegal real server address[:port] specified');
        if (r.res === SERVICE_ADDR) dest.port = svc.port;
        break;
      }
      case 'i': setOption(O.FORWARD); dest.fwd = 'tunnel'; break;
      case 'g': setOption(O.FORWARD); dest.fwd = 'route'; break;
      case 'm': setOption(O.FORWARD); dest.fwd = 'masq'; break;
      case 'w':
        setOption(O.WEIGHT);
        if ((dest.weight = stringToNumber(arg, 0, 65535)) === -1) fail('illegal weight specified');
        break;
      case 'x':
        setOption(O.UTHRESHOLD);
        if ((dest.u = stringToNumber(arg, 0, INT_MAX)) === -1) fail('illegal u_threshold specified');
        break;
      case 'y':
        setOption(O.LTHRESHOLD);
        if ((dest.l = stringToNumber(arg, 0, INT_MAX)) === -1) fail('illegal l_threshold specified');
        break;
      case 'c': setOption(O.CONNECTION); break;
      case 'n': setOption(O.NUMERIC); break;
      case 'mcast-interface':
        setOption(O.MCAST);
        daemon.ifn = arg.slice(0, 15);
        break;
      case 'syncid':
        setOption(O.SYNCID);
        if ((daemon.syncid = stringToNumber(arg, 0, 255)) === -1) fail('illegal syncid specified');
        break;
      case 'timeout': setOption(O.TIMEOUT); break;
      case 'daemon': setOption(O.DAEMON); break;
      case 'stats': setOption(O.STATS); break;
      case 'rate': setOption(O.RATE); break;
      case 'thresholds': setOption(O.THRESHOLDS); break;
      case 'persistent-conn': setOption(O.PERSISTENTCONN); break;
      case 'nosort': setOption(O.NOSORT); break;
      case 'sort': break; // no-op, kept for compatibility
      case 'X': setOption(O.EXACT); break;
      case '6':
        if (svc.fwmark) {
          svc.af = 6;
          svc.netmask = 128;
        } else {
          fail('-6 used before -f\n');
        }
        break;
      case 'o':
        setOption(O.ONEPACKET);
        svc.flags |= SVC_F.ONEPACKET;
        break;
      case 'pe':
        setOption(O.PE);
        svc.pe = arg.slice(0, 15);
        break;
      case 'b':
        setOption(O.SCHED_FLAGS);
        schedFlagsArg = arg.slice(0, 127);
        break;
      case 'mcast-group': {
        setOption(O.MCAST_GROUP);
        if (arg.includes(':')) {
          const g = inetPton6(arg);
          if (g === null || !isMulticast6(g)) fail(`invalid IPv6 mcast-group \`${arg}'`);
          daemon.group = g;
        } else {
          const g = inetPton4(arg);
          if (g === null || g >>> 28 !== 0xe) fail(`invalid IPv4 mcast-group \`${arg}'`);
          daemon.group = formatIpv4(g);
        }
        break;
      }
      case 'mcast-port':
        setOption(O.MCAST_PORT);
        if ((daemon.port = stringToNumber(arg, 1, 65535)) === -1) fail('illegal mcast-port specified');
        break;
      case 'mcast-ttl':
        setOption(O.MCAST_TTL);
        if ((daemon.ttl = stringToNumber(arg, 1, 255)) === -1) fail('illegal mcast-ttl specified');
        break;
      case 'sync-maxlen':
        setOption(O.SYNC_MAXLEN);
        if ((daemon.maxlen = stringToNumber(arg, 1, 65535 - 20 - 8)) === -1) fail('illegal sync-maxlen specified');
        break;
      case 'tun-info': setOption(O.TUN_INFO); break;
      case 'tun-type': {
        setOption(O.TUN_TYPE);
        const t = (TUN_NAMES as readonly string[]).indexOf(arg);
        if (t < 0) fail('illegal tunnel type specified');
        dest.tunType = t;
        break;
      }
      case 'tun-port':
        setOption(O.TUN_PORT);
        if ((dest.tunPort = stringToNumber(arg, 1, 65535)) === -1) fail('illegal tunnel port specified');
        break;
      case 'tun-nocsum': setOption(O.TUN_NOCSUM); break;
      case 'tun-csum': setOption(O.TUN_CSUM); dest.tunFlags |= 1; break;
      case 'tun-remcsum': setOption(O.TUN_REMCSUM); dest.tunFlags |= 2; break;
      default:
        fail(`invalid option \`${popt.badOption()}'`);
    }
  }
  if (ev.type === 'error') {
    // parse_options() prints the popt error and returns -1: no exit(), so -R carries on.
    const msg = `${popt.badOption()}: ${POPT_STRERROR[ev.code]}`;
    return failure(msg, 255, false);
  }

  let timeouts = { tcp: 0, tcpfin: 0, udp: 0 };
  if (cmd === CMD.TIMEOUT) {
    const a = popt.getArg();
    const b = a !== null ? popt.getArg() : null;
    const c = b !== null ? popt.getArg() : null;
    if (a === null || b === null || c === null) fail('--set option requires 3 timeout values');
    timeouts = {
      tcp: parseTimeout(a, 0, MAX_TIMEOUT),
      tcpfin: parseTimeout(b, 0, MAX_TIMEOUT),
      udp: parseTimeout(c, 0, MAX_TIMEOUT),
    };
  }
  const extra = popt.getArg();
  if (extra !== null) fail(`unexpected argument ${extra}`);

  if (schedFlagsArg !== '') {
    svc.flags &= ~(SVC_F.SCHED1 | SVC_F.SCHED2 | SVC_F.SCHED3);
    svc.flags |= parseSchedFlags(svc.sched, schedFlagsArg);
  }

  // generic_opt_check()
  const row = CMD_V_OPT[cmd]!;
  let last = 0;
  let count = 0;
  for (let j = 0; j < OPTNAMES.length; j++) {
    const rule = row[j];
    if (!options.has(j)) {
      if (rule === '+') fail(`You need to supply the '${OPTNAMES[j]}' option for the '${CMDNAMES[cmd]}' command`);
    } else {
      if (rule === 'x') fail(`Illegal '${OPTNAMES[j]}' option with the '${CMDNAMES[cmd]}' command`);
      if (rule === '1') {
        count++;
        if (count === 1) {
          last = j;
          continue;
        }
        fail(`The option '${OPTNAMES[j]}' conflicts with the '${OPTNAMES[last]}' option in the '${CMDNAMES[cmd]}' command`);
      }
    }
  }

  if (cmd === CMD.ADD || cmd === CMD.EDIT) {
    if (!svc.fwmark && !svc.port && !(svc.flags & SVC_F.PERSISTENT)) fail('Zero port specified for non-persistent service');
    if (svc.flags & SVC_F.ONEPACKET && !svc.fwmark && svc.protocol !== 'udp') fail('One-Packet Scheduling is only for UDP virtual services');
    if (svc.sched === '') svc.sched = DEF_SCHED;
  }
  if (cmd === CMD.STARTDAEMON && daemon.ifn === '') daemon.ifn = DEF_MCAST_IFN;

  if (cmd === CMD.ADDDEST || cmd === CMD.EDITDEST) {
    if (!svc.fwmark && (dest.fwd === 'tunnel' || dest.fwd === 'route')) dest.port = svc.port;
    if (dest.af !== svc.af && dest.fwd !== 'tunnel') fail('Different address family is allowed only for tunneling servers');
    const tunOpt = [O.TUN_TYPE, O.TUN_PORT, O.TUN_NOCSUM, O.TUN_CSUM, O.TUN_REMCSUM].some((o) => options.has(o));
    if (tunOpt && dest.fwd !== 'tunnel') fail('Tunnel options conflict with forward method');
    // tunnel_opt_check()
    const trow = TUN_V_OPT[dest.tunType]!;
    let tlast = 0;
    let tcount = 0;
    for (let j = 0; j < TUN_OPTS.length; j++) {
      const k = TUN_OPTS[j]!;
      const rule = trow[j];
      if (!options.has(k)) {
        if (rule === '+') fail(`You need to supply the '${OPTNAMES[k]}' option for the '${TUN_NAMES[dest.tunType]}' tunnel type`);
      } else {
        if (rule === 'x') fail(`Illegal '${OPTNAMES[k]}' option with the '${TUN_NAMES[dest.tunType]}' tunnel type`);
        if (rule === '1') {
          tcount++;
          if (tcount === 1) {
            tlast = k;
            continue;
          }
          fail(`The option '${OPTNAMES[k]}' conflicts with the '${OPTNAMES[tlast]}' option in the '${TUN_NAMES[dest.tunType]}' tunnel type`);
        }
      }
    }
  }

  const key = (): ServiceKey => {
    const af: Af = svc.af === 0 ? 4 : svc.af;
    const protocol: Protocol = svc.protocol === 0 ? 'tcp' : svc.protocol;
    const addr = svc.addr ?? (af === 6 ? '::' : '0.0.0.0');
    return { af, fwmark: svc.fwmark, protocol, addr, port: svc.port };
  };
  const spec = (): ServiceSpec => ({
    ...key(), scheduler: svc.sched, flags: svc.flags, timeout: svc.timeout, netmask: svc.netmask, pe: svc.pe,
  });
  const destSpec = (): DestSpec => ({
    af: dest.af === 0 ? 4 : dest.af,
    addr: dest.addr,
    port: dest.port,
    fwd: dest.fwd,
    weight: dest.weight,
    uThreshold: dest.u,
    lThreshold: dest.l,
    tunType: TUN_NAMES[dest.tunType] as TunType,
    tunPort: dest.tunPort,
    tunCsum: TUN_CSUMS[Math.min(dest.tunFlags, 2)] as TunCsum,
  });

  switch (cmd) {
    case CMD.LIST: {
      const conflictA = [O.CONNECTION, O.TIMEOUT, O.DAEMON].some((o) => options.has(o));
      const conflictB = [O.STATS, O.RATE, O.THRESHOLDS].some((o) => options.has(o));
      const conflictC = [O.TIMEOUT, O.DAEMON].some((o) => options.has(o));
      if ((conflictA && conflictB) || (conflictC && options.has(O.PERSISTENTCONN))) fail('options conflicts in the list command');
      const format = listFormat(options);
      if (options.has(O.CONNECTION)) return { kind: 'list', target: { what: 'connections' }, format };
      if (options.has(O.SERVICE)) return { kind: 'list', target: { what: 'service', key: key() }, format };
      if (options.has(O.TIMEOUT)) return { kind: 'list', target: { what: 'timeout' }, format };
      if (options.has(O.DAEMON)) return { kind: 'list', target: { what: 'daemon' }, format };
      return { kind: 'list', target: { what: 'all' }, format };
    }
    case CMD.RESTORE: return { kind: 'restore' };
    case CMD.SAVE: return { kind: 'save', numeric: options.has(O.NUMERIC) };
    case CMD.FLUSH: return { kind: 'apply', command: { kind: 'flush' } };
    case CMD.ADD: return { kind: 'apply', command: { kind: 'add-service', svc: spec() } };
    case CMD.EDIT: return { kind: 'apply', command: { kind: 'edit-service', svc: spec() } };
    case CMD.DEL: return { kind: 'apply', command: { kind: 'delete-service', key: key() } };
    case CMD.ZERO: {
      // libipvs zeroes everything when fwmark, address and port are all zero.
      const k = key();
      const any = k.addr === '0.0.0.0' || k.addr === '::';
      if (!k.fwmark && any && !k.port) return { kind: 'apply', command: { kind: 'zero' } };
      return { kind: 'apply', command: { kind: 'zero', key: k } };
    }
    case CMD.ADDDEST: return { kind: 'apply', command: { kind: 'add-dest', key: key(), dest: destSpec() } };
    case CMD.EDITDEST: return { kind: 'apply', command: { kind: 'edit-dest', key: key(), dest: destSpec() } };
    case CMD.DELDEST: {
      const d = destSpec();
      return { kind: 'apply', command: { kind: 'delete-dest', key: key(), af: d.af, addr: d.addr, port: d.port } };
    }
    case CMD.TIMEOUT: return { kind: 'apply', command: { kind: 'set-timeouts', ...timeouts } };
    case CMD.STARTDAEMON: {
      const d: SyncDaemonSpec = {
        state: daemon.state, mcastIfn: daemon.ifn, syncid: daemon.syncid, maxlen: daemon.maxlen,
        group: daemon.group, port: daemon.port, ttl: daemon.ttl,
      };
      return { kind: 'apply', command: { kind: 'start-daemon', daemon: d } };
    }
    case CMD.STOPDAEMON: return { kind: 'apply', command: { kind: 'stop-daemon', state: daemon.state, syncid: daemon.syncid } };
  }
  return tryhelp();
}

export { PROTO_NUM, FWD_FLAGS };
