/**
 * The virtual-server engine: Linux IPVS semantics in a pure core (spec §1, §3, §4, §5.4).
 *
 * No I/O and no clock of its own: time is whatever `setTime(now)` (seconds, non-decreasing)
 * last said. Control operations go through `apply(IpvsCommand)` (the IpvsBackend contract that
 * ipvsadm drives); the data path is `processPacket(PacketIn)` which answers a Verdict telling
 * the forwarder what to do. See docs/ENGINE.md.
 */
import { formatIp, maskIp, parseIp, type Ip } from './addr.ts';
import { AddrPool, CF, ConnTable, TICKS_PER_SECOND } from './conntable.ts';
import {
  CONTROL_REARM, NEW_CONN_TIMEOUT, PROTO, PROTO_NAMES, TCP_ACTIVE, TCP_DEFAULT_TIMEOUTS, TCP_DIR, TCP_FLAG, TCP_S,
  TCP_STATE_NAMES, UDP_DEFAULT_TIMEOUT, tcpNextState,
} from './proto.ts';
import { DEST_F, decidesAhead, type RtDest, type RtServiceView, type SchedEnv, type Scheduler } from './scheduler.ts';
import { getSchedulerFactory } from './schedulers/index.ts';
import { peekSchedule, schedulerState as explainSchedState, type Explanation } from './explain.ts';
import { hostPort } from './service-key.ts';
import { Stats } from './stats.ts';
import {
  SVC_F, type Af, type ConnSnapshot, type DestSnapshot, type DestSpec, type Errno, type FwdMethod, type IpvsBackend,
  type IpvsCommand, type IpvsInfo, type Protocol, type ServiceKey, type ServiceSnapshot, type ServiceSpec, type ServiceVisit, type ServiceVisitor,
  type StatsSnapshot, type RateSnapshot, type SyncDaemonSpec, type Timeouts, type TunCsum, type TunType,
  type VerdictAction, FWD_CODE, FWD_NAMES,
} from './types.ts';

// ---------------------------------------------------------------------------------------------
// Public types

/** A packet as the forwarders see it (or synthesize it from socket events). */
export interface PacketIn {
  /** 'in' = client -> director; 'out' = real server reply passing back through the director (NAT). */
  readonly dir: 'in' | 'out';
  readonly af: Af;
  readonly protocol: Protocol;
  readonly saddr: Ip;
  readonly sport: number;
  readonly daddr: Ip;
  readonly dport: number;
  /** TCP flag bits: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10 (0 for UDP). */
  readonly tcpFlags: number;
  /** Full IP packet length (stats). */
  readonly bytes: number;
  /** Firewall mark (0 = none). */
  readonly mark: number;
}

/** A PacketIn a forwarder fills in place and reuses for every packet (no allocation per packet). */
export type MutablePacketIn = { -readonly [K in keyof PacketIn]: PacketIn[K] };

/**
 * A verdict's action (the vocabulary of core/types.ts):
 * - forward: send to `dest` (for 'in': to dest address, port `dport`, with method `fwd`; for
 *   'out': rewrite the source back to `vaddr:vport`).
 * - drop: discard silently (dest gone with expire_nodest_conn=0, table full, conn reuse with...).
 * - pass: not ours (no service / no connection for a non-SYN / FTP pass rule / cache bypass):
 *   let the packet through untouched.
 * - reject: a service matched but no destination is available: ICMP port unreachable + drop.
 */
export type { VerdictAction };

/** Why a packet was not forwarded (empty when forwarded). */
export type VerdictReason =
  | ''
  | 'no-service' // pass: no virtual service matches
  | 'no-conn' // pass: no connection and the packet may not create one (TCP non-SYN, reply)
  | 'no-dest' // reject: the scheduler found no destination
  | 'ftp-pass' // pass: FTP service rule (§2 leave path) or FTPDATA source port
  | 'cache-bypass' // pass: fwmark service, cache_bypass=1, no destination
  | 'dest-unavailable' // drop: connection's destination deleted and expire_nodest_conn=0
  | 'table-full' // drop: the connection table holds connMax entries
  | 'defense-drop' // drop: drop_packet defence (one new connection in drop_rate)
  | 'port-mismatch'; // reject: non-persistent service, packet port != service port

export interface Verdict {
  action: VerdictAction;
  reason: VerdictReason;
  /** Connection handle (see connInfo), -1 if none (also for one-packet-scheduling entries, freed at once). */
  conn: number;
  /** The destination the packet goes to (null unless forwarded). */
  dest: RtDest | null;
  /** Forwarding method bound to the connection when it was created. */
  fwd: FwdMethod | null;
  /** 'in': destination port to send to (dest.port, or the packet's port when dest.port is 0). */
  dport: number;
  /** 'out': the virtual address/port to restore as the reply's source. */
  vaddr: Ip | null;
  vport: number;
  /** The packet created the connection. */
  isNew: boolean;
  /** Protocol state after the packet ('SYN_RECV', 'ESTABLISHED', 'UDP', ...); '' without a connection. */
  state: string;
  /** Template handle when persistence chose the destination (new connection under a template), else -1. */
  template: number;
}

export interface Sysctls {
  expire_nodest_conn: number;
  expire_quiescent_template: number;
  conn_reuse_mode: number;
  sloppy_tcp: number;
  sloppy_sctp: number;
  lblc_expiration: number;
  lblcr_expiration: number;
  run_estimation: number;
  cache_bypass: number;
  /** Defence (ip_vs_ctl.c update_defense_level): 0 off, 1 auto (on below amemthresh, then 2), 3 always. */
  drop_entry: number;
  drop_packet: number;
  /** Available memory threshold, pages: below it the automatic defences (1/2) turn on. */
  amemthresh: number;
  /** drop_packet 3: drop one new connection in this many. */
  am_droprate: number;
  /** secure_tcp: 0 off, 1 auto (the DoS state table below amemthresh, shown as 2), 3 always. */
  secure_tcp: number;
  /**
   * tsvs, not the kernel: a TCP entry's SYN_RECV lifetime, seconds, while the table is under a
   * SYN flood (syn_load_rate new half-open entries or more in the current or the last second);
   * the kernel keeps 60 s always (0 here does the same). Legitimate handshakes leave SYN_RECV
   * within a round trip, so only a flood's entries live that long; a shorter lifetime under
   * load gives their memory back sooner.
   */
  syn_recv_under_load: number;
  /** New half-open (SYN_RECV) entries a second from which syn_recv_under_load applies. */
  syn_load_rate: number;
}

export const DEFAULT_SYSCTLS: Readonly<Sysctls> = {
  expire_nodest_conn: 0,
  expire_quiescent_template: 0,
  conn_reuse_mode: 1,
  sloppy_tcp: 0,
  sloppy_sctp: 0,
  lblc_expiration: 86400,
  lblcr_expiration: 86400,
  run_estimation: 1,
  cache_bypass: 0,
  drop_entry: 0,
  drop_packet: 0,
  amemthresh: 1024,
  am_droprate: 10,
  secure_tcp: 0,
  syn_recv_under_load: 10,
  syn_load_rate: 1000,
};

export interface EngineOptions {
  /** Initial time, seconds (default 0). */
  now?: number;
  /** Maximum number of entries (connections + templates) in the table. Default 1,048,576. */
  connMax?: number;
  /** Uniform [0,1) source (twos; hash seed). Default Math.random. */
  random?: () => number;
  sysctl?: Partial<Sysctls>;
}

/**
 * A connection or template as the IPVS sync protocol carries it (src/ha/sync-codec.ts turns it
 * into bytes). `flags` uses the kernel's IP_VS_CONN_F_* bits; `state` the kernel's state numbers.
 */
export interface SyncRecord {
  readonly af: Af;
  /** 6 TCP, 17 UDP, 132 SCTP; 0 for fwmark templates. */
  readonly protocol: number;
  readonly flags: number;
  readonly state: number;
  readonly caddr: Ip;
  readonly cport: number;
  readonly vaddr: Ip;
  readonly vport: number;
  readonly daddr: Ip;
  readonly dport: number;
  readonly fwmark: number;
  /** Seconds. */
  readonly timeout: number;
}

/** Engine protocol codes (PROTO) <-> IP protocol numbers, for the sync protocol. */
const IPPROTO_OF = [0, 6, 17, 132] as const;
function protoOfIpproto(n: number): number {
  return n === 6 ? PROTO.TCP : n === 17 ? PROTO.UDP : n === 132 ? PROTO.SCTP : n === 0 ? PROTO.IP : -1;
}

/** IP_VS_CONN_F_* bits used in SyncRecord.flags. */
export const SYNC_CONN_F = { FWD_MASK: 0x7, NOOUTPUT: 0x80, INACTIVE: 0x100, TEMPLATE: 0x1000 } as const;

export interface EngineCounters {
  /** New connections/templates refused because the table was full. */
  tableFull: number;
  /** Entries currently in the table (connections + templates). */
  entries: number;
  /** Bytes held by the connection table's arrays. */
  tableBytes: number;
  /** Most entries the table holds (EngineOptions.connMax). */
  limit: number;
}

// ---------------------------------------------------------------------------------------------
// Internal model

interface Dest extends RtDest {
  fwd: FwdMethod;
  tunType: TunType;
  tunPort: number;
  tunCsum: TunCsum;
  svc: Svc | null;
  stats: Stats;
  /** Connections/templates bound to it. */
  refs: number;
  inTrash: boolean;
  /** Trash idle start (0 = not yet seen idle). */
  idleStart: number;
  /** Service key string it belonged to (trash re-use matching). */
  svcKey: string;
}

interface Svc extends RtServiceView {
  readonly af: Af;
  readonly fwmark: number;
  readonly protocol: Protocol;
  readonly addr: string;
  readonly ip: Ip;
  readonly port: number;
  readonly key: string;
  schedName: string;
  sched: Scheduler | null;
  flags: number;
  timeout: number;
  netmask: number;
  pe: string;
  dests: Dest[];
  stats: Stats;
}

const PROTO_CODE: Record<Protocol, number> = { tcp: PROTO.TCP, udp: PROTO.UDP, sctp: PROTO.SCTP };
const FTPPORT = 21;
const FTPDATA = 20;
const TRASH_PERIOD = 120;
const INT_MAX_SECONDS = Math.floor(2147483647 / 1000);
/** Simplified SCTP model: one state, shown as ESTABLISHED, counted active. */
const SCTP_STATE = 1;

/** The packet rr/wrr are given by scheduleAhead (they do not look at it). */
const AHEAD_PACKET: PacketIn = { dir: 'in', af: 4, protocol: 'tcp', saddr: { af: 4, words: [0] }, sport: 0, daddr: { af: 4, words: [0] }, dport: 0, tcpFlags: 0, bytes: 0, mark: 0 };

function svcKeyOf(k: { af: Af; fwmark: number; protocol: Protocol; addr: string; port: number }): string {
  return k.fwmark > 0 ? `f${k.af}/${k.fwmark >>> 0}` : `${k.af}/${k.protocol}/${k.addr}/${k.port}`;
}

const PROTO_INDEX: Record<Protocol, number> = { tcp: 0, udp: 1, sctp: 2 };
/** Numeric key of an IPv4 service (address, protocol, port): below 2^50, exact as a number. */
function svcV4Key(addr: number, protocol: Protocol, port: number): number {
  return ((addr >>> 0) * 65536 + port) * 4 + PROTO_INDEX[protocol];
}

function isUnicast(ip: Ip): boolean {
  if (ip.af === 4) {
    const v = ip.words[0]!;
    if (v === 0 || v === 0xffffffff) return false;
    if (v >>> 28 === 0xe) return false; // multicast
    return true;
  }
  const w = ip.words;
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0) return false;
  if (w[0]! >>> 24 === 0xff) return false;
  return true;
}

export function newVerdict(): Verdict {
  return {
    action: 'pass', reason: '', conn: -1, dest: null, fwd: null, dport: 0, vaddr: null, vport: 0, isNew: false,
    state: '', template: -1,
  };
}

function resetVerdict(v: Verdict): Verdict {
  v.action = 'pass';
  v.reason = '';
  v.conn = -1;
  v.dest = null;
  v.fwd = null;
  v.dport = 0;
  v.vaddr = null;
  v.vport = 0;
  v.isNew = false;
  v.state = '';
  v.template = -1;
  return v;
}

// Scheduling outcomes (negative = no connection; kernel *ignored semantics)
const S_LEAVE = -2; // ignored = 0: leave path (reject / pass rules)
const S_DROP = -3; // ignored = -1: NF_DROP (table full)
const S_ACCEPT = -4; // ignored = 1: accept untouched
const S_PORT0 = -5; // non-persistent port mismatch: leave path

// ---------------------------------------------------------------------------------------------

export class Engine implements IpvsBackend {
  private now: number;
  private readonly random: () => number;
  private readonly sys: Sysctls;
  private readonly table: ConnTable;
  private readonly pool: AddrPool;

  private services_: Svc[] = [];
  private svcByKey = new Map<string, Svc>();
  private svcFwm = new Map<number, Svc>();
  /**
   * IPv4 services by a numeric key (svcV4Key): the per-packet lookup of a new connection and
   * scheduleAhead build no address text (svcByKey stays the index of record).
   */
  private svcV4 = new Map<number, Svc>();
  /** Parsed service addresses of ServiceKeys (scheduleAhead is called once per connection). */
  private keyIps = new Map<string, Ip | null>();
  private ftpCount = 0;
  private nullCount = 0;

  private destById: (Dest | undefined)[] = [];
  private destIps: (Ip | undefined)[] = [];
  private nextDestId = 1;
  private trash: Dest[] = [];
  private nextTrashSweep = Infinity;

  private readonly total = new Stats();
  private tcpTimeouts = TCP_DEFAULT_TIMEOUTS.slice();
  private udpTimeout = UDP_DEFAULT_TIMEOUT;
  private daemons_: SyncDaemonSpec[] = [];

  private nextEst = Infinity;
  private nextSchedTick = Infinity;
  private tableFull = 0;
  private readonly env: { now: number; random: () => number };
  private readonly due: number[] = [];
  /** Sync master: handles of entries created or changed since the last drainSync(). */
  private syncQ: number[] = [];
  private syncMaster = false;
  /** queueSyncRefresh(): the next slot of the running full-refresh pass. */
  private syncCursor = 0;

  constructor(opts: EngineOptions = {}) {
    this.now = opts.now ?? 0;
    this.random = opts.random ?? Math.random;
    this.sys = { ...DEFAULT_SYSCTLS, ...(opts.sysctl ?? {}) };
    this.secureTcp = this.sys.secure_tcp === 3;
    const seed = Math.floor(this.random() * 0x100000000);
    this.table = new ConnTable(opts.connMax ?? 1 << 20, 1024, seed);
    this.pool = this.table.pool;
    this.table.wheelTick = ConnTable.tickOf(this.now);
    this.env = { now: this.now, random: this.random };
  }

  // ---- IpvsBackend ----------------------------------------------------------------------------

  info(): IpvsInfo {
    return { version: '1.2.1', connTableSize: 4096 };
  }

  timeouts(): Timeouts {
    return { tcp: this.tcpTimeouts[TCP_S.ESTABLISHED]!, tcpfin: this.tcpTimeouts[TCP_S.FIN_WAIT]!, udp: this.udpTimeout };
  }

  daemons(): readonly SyncDaemonSpec[] {
    return this.daemons_.slice();
  }

  services(): readonly ServiceSnapshot[] {
    return this.services_.map((s) => this.svcSnapshot(s));
  }

  /**
   * The service table read in place, for observers of large tables (/metrics): what services()
   * gives, without building it (1,000 services x 10 real servers are ~33,000 objects, made on the
   * forwarding thread at every scrape). One service object is refilled for each service; real
   * servers are handed over as they are, read-only.
   */
  visitServices(v: ServiceVisitor): void {
    const row = this.visitRow;
    for (const s of this.services_) {
      row.af = s.af; row.fwmark = s.fwmark; row.protocol = s.protocol; row.addr = s.addr; row.port = s.port;
      row.scheduler = s.schedName; row.flags = s.flags & ~SVC_F.HASHED; row.timeout = s.timeout; row.netmask = s.netmask; row.pe = s.pe;
      s.stats.snapshotInto(row.stats);
      s.stats.ratesInto(row.rates);
      v.service(row);
      for (const d of s.dests) v.dest(d);
    }
  }

  /** The object visitServices refills (its fields as svcSnapshot writes them). */
  private readonly visitRow = {
    af: 4 as Af, fwmark: 0, protocol: 'tcp' as Protocol, addr: '', port: 0, scheduler: '', flags: 0, timeout: 0, netmask: 0, pe: '',
    stats: { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 },
    rates: { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 },
  } satisfies ServiceVisit;

  service(key: ServiceKey): ServiceSnapshot | null {
    const s = this.findSvcByKey(key);
    return s ? this.svcSnapshot(s) : null;
  }

  connections(): readonly ConnSnapshot[] {
    const out: ConnSnapshot[] = [];
    this.table.forEach((s) => {
      const c = this.connSnapshot(s);
      if (c) out.push(c);
    });
    return out;
  }

  servicesPage(from: number, max: number): readonly ServiceSnapshot[] {
    return this.services_.slice(from, from + max).map((s) => this.svcSnapshot(s));
  }

  connectionsPage(cursor: number, max: number): { conns: readonly ConnSnapshot[]; next: number } {
    const conns: ConnSnapshot[] = [];
    const next = this.table.forEachFrom(Math.max(0, cursor), max, (s) => {
      const c = this.connSnapshot(s);
      if (c) conns.push(c);
    });
    return { conns, next };
  }

  apply(cmd: IpvsCommand): Errno | null {
    switch (cmd.kind) {
      case 'add-service': return this.addService(cmd.svc);
      case 'edit-service': return this.editService(cmd.svc);
      case 'delete-service': {
        const s = this.findSvcByKey(cmd.key);
        if (!s) return 'ESRCH';
        this.delService(s);
        return null;
      }
      case 'flush':
        for (const s of this.services_.slice()) this.delService(s);
        return null;
      case 'add-dest': return this.addDest(cmd.key, cmd.dest);
      case 'edit-dest': return this.editDest(cmd.key, cmd.dest);
      case 'delete-dest': return this.delDest(cmd.key, cmd.af, cmd.addr, cmd.port);
      case 'zero': {
        if (cmd.key) {
          const s = this.findSvcByKey(cmd.key);
          if (!s) return 'ESRCH';
          this.zeroSvc(s);
        } else {
          for (const s of this.services_) this.zeroSvc(s);
          this.total.zero();
        }
        return null;
      }
      case 'set-timeouts': {
        for (const v of [cmd.tcp, cmd.tcpfin, cmd.udp]) {
          if (!Number.isInteger(v) || v < 0 || v > INT_MAX_SECONDS) return 'EINVAL';
        }
        if (cmd.tcp) this.tcpTimeouts[TCP_S.ESTABLISHED] = cmd.tcp;
        if (cmd.tcpfin) this.tcpTimeouts[TCP_S.FIN_WAIT] = cmd.tcpfin;
        if (cmd.udp) this.udpTimeout = cmd.udp;
        return null;
      }
      case 'start-daemon': {
        const d = cmd.daemon;
        if (this.daemons_.some((x) => x.state === d.state)) return 'EEXIST';
        if (d.syncid < 0 || d.syncid > 255) return 'EINVAL';
        const group = d.group || '224.0.0.81';
        const g = parseIp(group);
        if (!g) return 'EINVAL';
        const maxlen = d.maxlen || (g.af === 6 ? 1500 - 40 - 8 : 1500 - 20 - 8);
        this.daemons_.push({ ...d, group, maxlen, port: d.port || 8848, ttl: d.ttl || 1 });
        this.daemons_.sort((a, b) => (a.state === b.state ? 0 : a.state === 'master' ? -1 : 1));
        this.syncMaster = this.daemons_.some((x) => x.state === 'master');
        return null;
      }
      case 'stop-daemon': {
        const i = this.daemons_.findIndex((x) => x.state === cmd.state);
        if (i < 0) return 'ESRCH';
        this.daemons_.splice(i, 1);
        this.syncMaster = this.daemons_.some((x) => x.state === 'master');
        if (!this.syncMaster) this.syncQ.length = 0;
        return null;
      }
      default:
        return 'EINVAL';
    }
  }

  // ---- time, sysctls, counters ---------------------------------------------------------------

  getTime(): number {
    return this.now;
  }

  /**
   * Moves the clock forward (seconds; a smaller value is ignored). Expires every entry whose
   * timer is due at or before `now` (templates that still control connections are re-armed for
   * 60 s), runs the 2-second estimator, the schedulers' tick (once per whole second crossed) and
   * the 60-second destination-trash sweep.
   */
  setTime(now: number): void {
    if (!(now > this.now)) return;
    const prev = this.now;
    this.runTimers(now);
    this.now = now;
    this.env.now = now;
    // estimator
    if (this.nextEst <= now) {
      let n = Math.floor((now - this.nextEst) / 2) + 1;
      const run = this.sys.run_estimation !== 0;
      // after ~200 idle periods every average has decayed to 0: no need to iterate further
      const iters = Math.min(n, 256);
      if (run) for (let i = 0; i < iters; i++) this.estimateAll();
      this.nextEst += 2 * n;
      n = 0;
    }
    // scheduler ticks: once per whole second crossed (capped at 7 days of seconds per call)
    if (this.nextSchedTick <= now) {
      const ticking = this.services_.filter((s) => s.sched?.tick);
      let t = this.nextSchedTick;
      if (now - t > 604800) t = Math.ceil(now - 604800);
      for (; t <= now; t++) for (const s of ticking) s.sched!.tick!(s, t);
      this.nextSchedTick = Math.floor(now) + 1;
    }
    if (this.nextTrashSweep <= now) this.trashSweep(now);
    // A flood's entries gone: give the table's memory back (O(1) unless it shrinks).
    if (Math.floor(now) !== Math.floor(prev)) this.table.shrinkIfSparse();
  }

  sysctls(): Readonly<Sysctls> {
    return { ...this.sys };
  }

  setSysctl(name: string, value: number): Errno | null {
    if (!Object.prototype.hasOwnProperty.call(DEFAULT_SYSCTLS, name)) return 'ENOENT';
    if (!Number.isInteger(value) || value < 0) return 'EINVAL';
    if ((name === 'secure_tcp' || name === 'drop_entry' || name === 'drop_packet') && value > 3) return 'EINVAL';
    (this.sys as unknown as Record<string, number>)[name] = value;
    // proc_do_defense_mode: a mode written takes effect at once (secure_tcp 3 / 0 here; 1 and 2
    // at the next defence tick, which knows the memory available).
    if (name === 'secure_tcp') this.secureTcp = value === 3 || (value === 2 && this.secureTcp);
    return null;
  }

  /**
   * A graceful drain (src/daemon/drain.ts): while `on` and the destination's weight is 0, its
   * persistence templates are not used, as expire_quiescent_template=1 does for every destination,
   * so no new connection reaches it at all.
   */
  setDestQuiesced(key: ServiceKey, af: Af, a: string, port: number, on: boolean): Errno | null {
    const svc = this.findSvcByKey(key);
    if (!svc) return 'ESRCH';
    const ip = parseIp(a);
    if (!ip) return 'EINVAL';
    const addr = formatIp(ip);
    const dest = svc.dests.find((x) => x.af === af && x.addr === addr && x.port === port);
    if (!dest) return 'ENOENT';
    if (on) dest.flags |= DEST_F.QUIESCED;
    else dest.flags &= ~DEST_F.QUIESCED;
    return null;
  }

  /** The services' keys only (what the forwarders listen on), without snapshots of their destinations. */
  serviceKeys(): ServiceKey[] {
    return this.services_.map((s) => ({ af: s.af, fwmark: s.fwmark, protocol: s.protocol, addr: s.addr, port: s.port }));
  }

  // ---- defence against floods (ip_vs_ctl.c) -------------------------------------------------

  private dropEntryOn = false;
  private dropRate = 0;
  private dropCounter = 0;
  private readonly defenseCounts = { entriesDropped: 0, packetsDropped: 0 };
  private lastAvail = -1;

  /**
   * update_defense_level, once a second: `availPages` is the memory available (pages; the daemon
   * passes the smaller of the system's and what is left of the connection table). drop_entry and
   * drop_packet in mode 1 switch to 2 while memory is short and back; 3 is always on. Then, while
   * drop_entry is on, ip_vs_random_dropentry: a thirty-second of the table examined at random,
   * SYN_RECV/SYNACK connections dropped (a flood's half-open entries go first).
   */
  defense(availPages: number): void {
    const sys = this.sys;
    const th = sys.amemthresh;
    const nomem = availPages < th;
    this.lastAvail = availPages;
    switch (sys.drop_entry) {
      case 1: if (nomem) { this.dropEntryOn = true; sys.drop_entry = 2; } else this.dropEntryOn = false; break;
      case 2: if (nomem) this.dropEntryOn = true; else { this.dropEntryOn = false; sys.drop_entry = 1; } break;
      case 3: this.dropEntryOn = true; break;
      default: this.dropEntryOn = false;
    }
    switch (sys.drop_packet) {
      case 1: if (nomem) { this.dropRate = this.dropCounter = Math.floor(th / (th - availPages)); sys.drop_packet = 2; } else this.dropRate = 0; break;
      case 2: if (nomem) this.dropRate = this.dropCounter = Math.floor(th / (th - availPages)); else { this.dropRate = 0; sys.drop_packet = 1; } break;
      case 3: this.dropRate = sys.am_droprate; break;
      default: this.dropRate = 0;
    }
    // secure_tcp: the DoS state table while the mode is above 1.
    switch (sys.secure_tcp) {
      case 1: if (nomem) sys.secure_tcp = 2; break;
      case 2: if (!nomem) sys.secure_tcp = 1; break;
    }
    this.secureTcp = sys.secure_tcp > 1;
    if (this.dropEntryOn) this.randomDropEntry();
  }

  /** New SYN_RECV entries in the second starting at halfOpenSecond, and in the second before. */
  private halfOpenNow = 0;
  private halfOpenLast = 0;
  private halfOpenSecond = 0;

  private countHalfOpen(): void {
    const sec = Math.floor(this.now);
    if (sec !== this.halfOpenSecond) {
      this.halfOpenLast = sec === this.halfOpenSecond + 1 ? this.halfOpenNow : 0;
      this.halfOpenNow = 0;
      this.halfOpenSecond = sec;
    }
    this.halfOpenNow++;
  }

  /** True while new half-open entries arrive at syn_load_rate a second or faster. */
  synFlooded(): boolean {
    const rate = this.sys.syn_load_rate;
    const sec = Math.floor(this.now);
    if (sec === this.halfOpenSecond) return this.halfOpenNow >= rate || this.halfOpenLast >= rate;
    return sec === this.halfOpenSecond + 1 && this.halfOpenNow >= rate;
  }

  /** A TCP state's timeout, seconds: the table's, SYN_RECV shortened under a SYN flood. */
  private tcpTimeout(state: number): number {
    const t = this.tcpTimeouts[state] ?? 60;
    const short = this.sys.syn_recv_under_load;
    return state === TCP_S.SYN_RECV && short > 0 && short < t && this.synFlooded() ? short : t;
  }

  /** tcp_timeout_change: TCP transitions use the kernel's tcp_states_dos while true. */
  private secureTcp = false;

  /** What the defence is doing (status). */
  defenseStatus(): { availPages: number; dropEntry: number; dropPacket: number; dropRate: number; secureTcp: number; synFlooded: boolean; entriesDropped: number; packetsDropped: number } {
    return { availPages: this.lastAvail, dropEntry: this.sys.drop_entry, dropPacket: this.sys.drop_packet, dropRate: this.dropRate, secureTcp: this.sys.secure_tcp, synFlooded: this.synFlooded(), ...this.defenseCounts };
  }

  /** ip_vs_todrop: one new connection in dropRate is dropped. */
  private todrop(): boolean {
    if (--this.dropCounter > 0) return false;
    this.dropCounter = this.dropRate;
    this.defenseCounts.packetsDropped++;
    return true;
  }

  /**
   * ip_vs_random_dropentry: the kernel looks at 1/32 of its hash buckets at random; here as many
   * random slots of the table. Half-open TCP entries (SYN_RECV, SYNACK) are expired now;
   * ESTABLISHED TCP and SCTP entries, UDP and other entries when todrop_entry says so (idle for
   * 60 s and only 1-8 packets from the client); with an entry, its template. Templates
   * themselves stay (the kernel drops only one-packet-scheduling templates that control nothing;
   * this engine's one-packet entries are never in the table).
   */
  private randomDropEntry(): void {
    const t = this.table;
    const n = Math.max(1, t.cap >> 5);
    for (let i = 0; i < n; i++) {
      const sl = Math.floor(this.random() * t.cap);
      const f = t.flags[sl]!;
      if (!(f & CF.USED) || (f & (CF.TEMPLATE | CF.ONEPACKET))) continue;
      const pc = t.proto[sl]!, st = t.state[sl]!;
      if (pc === PROTO.TCP) {
        if (st === TCP_S.ESTABLISHED) {
          if (!this.todropEntry(sl)) continue;
        } else if (st !== TCP_S.SYN_RECV && st !== TCP_S.SYNACK) continue;
      } else if (pc === PROTO.SCTP) {
        if (st !== SCTP_STATE || !this.todropEntry(sl)) continue;
      } else if (!this.todropEntry(sl)) continue;
      const ct = t.control[sl]!;
      const hct = ct >= 0 ? t.handleOf(ct) : -1;
      this.expireNow(sl);
      this.defenseCounts.entriesDropped++;
      if (hct >= 0) {
        const c = t.slotOf(hct);
        if (c >= 0) this.expireNow(c);
      }
    }
  }

  /** ip_vs_conn.c dropentry_counters: for 1..8 packets from the client, one entry in that many. */
  private readonly dropentryCounters = new Int8Array(8);

  /**
   * todrop_entry: not an entry that saw a packet (its timer re-armed) in the last 60 s, nor one
   * with no packet or more than 8 from the client; of those with i packets, one in i is dropped
   * (fewer packets: dropped sooner).
   */
  private todropEntry(s: number): boolean {
    const t = this.table;
    if (this.now < t.expires[s]! - t.timeout[s]! + 60) return false;
    const i = t.inPkts[s]!;
    if (i > 8 || i < 1) return false;
    if (--this.dropentryCounters[i - 1]! > 0) return false;
    this.dropentryCounters[i - 1] = i;
    return true;
  }

  /** The connection table's memory: bytes its arrays hold, and its capacity in entries. */
  tableMemory(): { bytes: number; capacity: number } {
    return { bytes: this.table.bytes(), capacity: this.table.cap };
  }

  /** Table sizes without building snapshots (status asks often; 100,000 destinations snapshot in ~300 ms). */
  sizes(): { services: number; destinations: number; entries: number } {
    let destinations = 0;
    for (const svc of this.services_) destinations += svc.dests.length;
    return { services: this.services_.length, destinations, entries: this.table.count };
  }

  counters(): EngineCounters {
    return { tableFull: this.tableFull, entries: this.table.count, tableBytes: this.table.bytes(), limit: this.table.max };
  }

  totalStats(): StatsSnapshot {
    return this.total.snapshot();
  }

  totalRates(): RateSnapshot {
    return this.total.rates();
  }

  // ---- data path ----------------------------------------------------------------------------

  /**
   * Runs one packet through the virtual server. Pass `out` to reuse a Verdict object (no
   * allocation on the hot path); otherwise a new one is returned.
   */
  // ---- connection synchronisation (IPVS sync daemon) ------------------------------------------

  /** True while a master sync daemon is configured (--start-daemon master): changes are queued. */
  isSyncMaster(): boolean {
    return this.syncMaster;
  }

  /**
   * Entries created or whose state changed since the last call (with their templates), as the
   * master sync daemon sends them. Entries that expired meanwhile are skipped.
   */
  drainSync(): SyncRecord[] {
    const t = this.table;
    const out: SyncRecord[] = [];
    const seen = new Set<number>();
    for (const h of this.syncQ) {
      if (seen.has(h)) continue;
      seen.add(h);
      const s = t.slotOf(h);
      if (s < 0 || !(t.flags[s]! & CF.USED)) continue;
      const dest = this.destById[t.dest[s]!];
      if (!dest) continue;
      const f = t.flags[s]!;
      let flags = (f >> 8) & 3;
      if (f & CF.NOOUTPUT) flags |= SYNC_CONN_F.NOOUTPUT;
      if (f & CF.INACTIVE) flags |= SYNC_CONN_F.INACTIVE;
      if (f & CF.TEMPLATE) flags |= SYNC_CONN_F.TEMPLATE;
      out.push({
        af: dest.af, protocol: IPPROTO_OF[t.proto[s]!]!, flags, state: f & CF.TEMPLATE ? 0 : t.state[s]!,
        caddr: t.clientIp(s), cport: t.cport[s]!, vaddr: this.pool.ips[t.vaddr[s]!]!, vport: t.vport[s]!,
        daddr: dest.ip, dport: t.dport[s]!, fwmark: dest.svc?.fwmark ?? 0, timeout: t.timeout[s]!,
      });
    }
    this.syncQ.length = 0;
    return out;
  }

  /**
   * Sync master: queues up to `max` live entries for the next drainSync(), continuing where the
   * previous call stopped (a rate-limited full refresh, so that a backup that (re)started learns
   * connections whose state no longer changes). `wrapped` is true when the pass reached the end
   * of the table. Added for src/ha/sync-daemon.ts (periodic refresh).
   */
  queueSyncRefresh(max: number): { queued: number; wrapped: boolean } {
    if (!this.syncMaster) return { queued: 0, wrapped: true };
    const t = this.table;
    let i = this.syncCursor;
    let queued = 0;
    let wrapped = false;
    for (let scanned = 0; queued < max && scanned < max * 8 + 4096; scanned++, i++) {
      if (i >= t.cap) {
        i = 0;
        wrapped = true;
        break;
      }
      const f = t.flags[i]!;
      if (f & CF.USED && !(f & CF.ONEPACKET)) {
        this.syncQ.push(t.handleOf(i));
        queued++;
      }
    }
    this.syncCursor = i;
    return { queued, wrapped };
  }

  /**
   * Backup side: creates or updates the entry a sync message describes, bound to the matching
   * real server of the matching service (ip_vs_proc_conn). Returns false when no service or
   * real server matches (the kernel would keep an unbound entry; we skip it) or the table is full.
   */
  importSync(r: SyncRecord): boolean {
    const t = this.table;
    const template = (r.flags & SYNC_CONN_F.TEMPLATE) !== 0;
    const pc = protoOfIpproto(r.protocol);
    if (pc < 0) return false;
    let svc: Svc | undefined;
    if (r.fwmark) svc = this.svcFwm.get(r.fwmark * 2 + (r.af === 6 ? 1 : 0));
    if (!svc) {
      const proto: Protocol | undefined = pc === PROTO.TCP ? 'tcp' : pc === PROTO.UDP ? 'udp' : pc === PROTO.SCTP ? 'sctp' : undefined;
      if (!proto) return false;
      const addr = r.af === 4 ? '' : formatIp(r.vaddr);
      svc = this.svcAt(r.af, proto, r.vaddr, addr, r.vport) ?? this.svcAt(r.af, proto, r.vaddr, addr, 0);
    }
    if (!svc) return false;
    const daddr = formatIp(r.daddr);
    const dest = svc.dests.find((d) => d.addr === daddr && (d.port === r.dport || r.dport === 0 || d.port === 0));
    if (!dest) return false;
    let s = t.lookupIn(pc, r.caddr, r.cport, r.vaddr, r.vport, template);
    if (s >= 0 && (this.destById[t.dest[s]!] !== dest || t.dport[s] !== r.dport)) {
      // ip_vs_proc_conn: the master bound this tuple to another real server (a reused client
      // port rescheduled): the old entry goes. An INACTIVE record for it is the expiry of the
      // entry already replaced: ignored.
      // A template still controlling connections stays (no second entry for one tuple).
      if (r.flags & SYNC_CONN_F.INACTIVE || t.nControl[s] !== 0) return false;
      this.expireNow(s);
      s = -1;
    }
    if (s < 0) {
      s = this.newConn(pc, r.caddr, r.cport, r.vaddr, r.vport, dest, r.dport, template, false);
      if (s < 0) return false;
    }
    if (!template) {
      const active = pc === PROTO.TCP ? TCP_ACTIVE[r.state] === true : pc === PROTO.SCTP && r.state === SCTP_STATE;
      const inactive = (t.flags[s]! & CF.INACTIVE) !== 0;
      if (inactive && active) {
        dest.activeConns++;
        dest.inactConns--;
        t.flags[s]! &= ~CF.INACTIVE;
        this.countsChanged(dest);
      } else if (!inactive && !active) {
        dest.activeConns--;
        dest.inactConns++;
        t.flags[s]! |= CF.INACTIVE;
        this.countsChanged(dest);
      }
      t.state[s] = r.state;
    }
    if (!(r.flags & SYNC_CONN_F.NOOUTPUT)) t.flags[s]! &= ~CF.NOOUTPUT;
    t.timeout[s] = r.timeout > 0 ? r.timeout : template ? 180 : pc === PROTO.TCP ? this.tcpTimeout(r.state) : this.udpTimeout;
    this.rearm(s);
    return true;
  }

  private queueSync(s: number): void {
    const t = this.table;
    this.syncQ.push(t.handleOf(s));
    const ct = t.control[s]!;
    if (ct >= 0) this.syncQ.push(t.handleOf(ct));
    // A master that nobody drains must not grow without bound: keep the newest entries.
    if (this.syncQ.length > 1 << 20) this.syncQ.splice(0, this.syncQ.length - (1 << 19));
  }

  /**
   * `ahead`: a destination scheduleAhead() chose for this packet's service before the packet
   * arrived (a relay worker connected to it without asking). A new connection is bound to it
   * instead of running the scheduler again, as long as it is still an available destination of
   * the service; otherwise the packet is rejected as if no destination were available (the
   * caller closes what it opened).
   */
  processPacket(p: PacketIn, out?: Verdict, ahead?: RtDest): Verdict {
    const v = out ? resetVerdict(out) : newVerdict();
    if (!ahead) return p.dir === 'in' ? this.inPacket(p, v) : this.outPacket(p, v);
    this.ahead = ahead as Dest;
    try {
      return p.dir === 'in' ? this.inPacket(p, v) : this.outPacket(p, v);
    } finally {
      this.ahead = null;
    }
  }

  /** The destination handed to the next runScheduler instead of scheduling (processPacket `ahead`). */
  private ahead: Dest | null = null;

  /**
   * Runs the scheduler of the service `key` now, for a new connection that will be reported later
   * with processPacket(..., ahead). Only where the choice depends on neither the packet nor live
   * counts (decidesAhead in ./scheduler.ts: rr and wrr, without persistence, one-packet scheduling
   * or thresholds on any destination); null otherwise, or when no destination is available. Advances the scheduler as a
   * new connection would (a choice never used is one step of rr/wrr skipped).
   */
  scheduleAhead(key: ServiceKey): RtDest | null {
    const svc = this.findSvcByKey(key);
    if (!svc || !svc.sched || !decidesAhead(svc.schedName, svc.fwmark, svc.flags, svc.dests)) return null;
    return this.runScheduler(svc, AHEAD_PACKET);
  }

  /**
   * `tsvs explain`: where a new connection from `client` to service `key` would go now, and why,
   * or the client's existing entry (`cport` given). A dry run: no entry is created, no template
   * neutralised, no scheduler state moved (peekSchedule runs a copy). For fwmark services the
   * new connection's packet is taken to the first destination port (the service has none).
   * Null when there is no such service; 'EINVAL' for a client address of the other family.
   */
  explain(key: ServiceKey, caddr: string, cport: number | null): Explanation | null | 'EINVAL' {
    const svc = this.findSvcByKey(key);
    if (!svc) return null;
    const cip = parseIp(caddr);
    if (!cip || cip.af !== svc.af) return 'EINVAL';
    const t = this.table;
    const persistent = (svc.flags & SVC_F.PERSISTENT) !== 0;
    const pc = PROTO_CODE[svc.protocol];
    const vport = svc.fwmark ? 0 : svc.port;
    const ex: Explanation = {
      service: svc.fwmark ? `FWM ${svc.fwmark}${svc.af === 6 ? ' IPv6' : ''}` : `${svc.protocol.toUpperCase()} ${hostPort(svc.addr, svc.port)}`,
      scheduler: svc.schedName, persistent,
      ...(persistent ? { timeout: svc.timeout, netmask: svc.netmask } : {}),
      client: { addr: formatIp(cip), port: cport }, outcome: 'no-dest', dest: null, connection: null, template: null,
      schedulerState: svc.sched ? explainSchedState(svc.sched, svc.dests) : {},
      dests: svc.dests.map((d) => ({
        addr: d.addr, port: d.port, weight: d.weight, uThreshold: d.uThreshold, lThreshold: d.lThreshold,
        activeConns: d.activeConns, inactConns: d.inactConns, persistConns: d.persistConns,
        skipped: [
          ...(d.weight === 0 ? ['weight-0' as const] : []),
          ...(d.flags & DEST_F.OVERLOAD ? ['overloaded' as const] : []),
          ...(d.flags & DEST_F.QUIESCED ? ['quiesced' as const] : []),
        ],
      })),
      notes: [],
    };
    const mine = new Set<Dest>(svc.dests);
    // the client's existing connection entry
    if (cport !== null) {
      let s = -1;
      if (!svc.fwmark) s = t.lookupIn(pc, cip, cport, svc.ip, svc.port, false);
      else {
        t.forEach((x) => {
          if (s < 0 && !(t.flags[x]! & CF.TEMPLATE) && t.cport[x] === cport && t.proto[x] === pc && mine.has(this.destById[t.dest[x]!]!) && formatIp(t.clientIp(x)) === ex.client.addr) s = x;
        });
      }
      if (s >= 0) ex.connection = this.connSnapshot(s);
      if (ex.connection) {
        ex.outcome = 'existing';
        ex.dest = { addr: ex.connection.daddr, port: ex.connection.dport };
        return ex;
      }
    } else ex.notes.push('no client port given: existing connections are not looked up and port-hashing schedulers see port 0');
    let dest: RtDest | null = null;
    if (persistent) {
      // ip_vs_sched_persist's template lookup, without ip_vs_check_template's side effect
      const snet = maskIp(cip, svc.netmask);
      const fw = svc.fwmark !== 0;
      const proto = fw ? PROTO.IP : pc;
      const vaddr: Ip = fw ? (svc.af === 6 ? { af: 6, words: [svc.fwmark >>> 0, 0, 0, 0] } : { af: 4, words: [svc.fwmark >>> 0] }) : svc.ip;
      const tvport = fw || svc.port === FTPPORT ? 0 : svc.port;
      const ct = t.lookupIn(proto, snet, 0, vaddr, tvport, true);
      if (ct >= 0) {
        ex.template = this.connSnapshot(ct);
        const d = this.destById[t.dest[ct]!];
        if (!d || !(d.flags & DEST_F.AVAILABLE)) ex.templateUnusable = 'its real server was deleted';
        else if (d.weight === 0 && (this.sys.expire_quiescent_template || (d.flags & DEST_F.QUIESCED))) {
          ex.templateUnusable = d.flags & DEST_F.QUIESCED ? 'its real server is being drained' : 'its real server has weight 0 and expire_quiescent_template is set';
        } else dest = d;
        if (dest) ex.outcome = 'template';
      }
    } else if (svc.fwmark === 0 && cport === FTPDATA) ex.notes.push('client port 20 (FTP data) is passed, not scheduled');
    if (!dest) {
      const pkt = { protocol: svc.protocol, saddr: cip, sport: cport ?? 0, daddr: svc.ip, dport: svc.fwmark ? (svc.dests[0]?.port ?? 0) : vport };
      // Math.random, not the engine's (possibly seeded) source, so a seeded run is not moved either
      dest = svc.sched ? peekSchedule(svc.sched, svc, pkt, { now: this.now, random: Math.random }) : null;
      if (dest) ex.outcome = 'scheduled';
      if (svc.schedName === 'twos') ex.notes.push('twos picks two destinations at random: the real choice may differ');
      if (svc.sched && decidesAhead(svc.schedName, svc.fwmark, svc.flags, svc.dests)) {
        ex.notes.push('rr/wrr choices may be decided ahead by the forwarder: connections already queued take their choices first');
      }
    }
    if (dest) ex.dest = { addr: dest.addr, port: dest.port };
    return ex;
  }

  /**
   * Accounts `pkts` packets (`bytes` in all) that a kernel fast path forwarded for the connection
   * `handle` on the engine's behalf (src/forwarders/packet/fastpath.ts): statistics as for
   * processPacket, and the connection's timer re-armed for its current state. The fast path only
   * carries packets that change no state (it reports the others as packets). `out`: NAT replies
   * (OutPkts/OutBytes). False when the connection is gone: the fast path must forget it.
   */
  countForwarded(handle: number, pkts: number, bytes: number, out = false): boolean {
    const t = this.table;
    const s = t.slotOf(handle);
    if (s < 0 || t.flags[s]! & CF.TEMPLATE) return false;
    if (pkts <= 0) return true;
    const dest = this.destById[t.dest[s]!]!;
    if (out) this.countOut(dest, pkts, bytes);
    else {
      this.countIn(dest, pkts, bytes);
      t.inPkts[s] = Math.min(255, t.inPkts[s]! + pkts);
    }
    this.rearm(s);
    return true;
  }

  /** Outbound statistics (NAT replies the kernel fast path forwarded), as outPacket counts them. */
  private countOut(dest: Dest, pkts: number, bytes: number): void {
    if (!(dest.flags & DEST_F.AVAILABLE)) return;
    dest.stats.outpkts += pkts;
    dest.stats.outbytes += bytes;
    if (dest.svc) {
      dest.svc.stats.outpkts += pkts;
      dest.svc.stats.outbytes += bytes;
    }
    this.total.outpkts += pkts;
    this.total.outbytes += bytes;
  }

  /** Inbound statistics of a destination, its service and the totals (not for a deleted destination). */
  private countIn(dest: Dest, pkts: number, bytes: number): void {
    if (!(dest.flags & DEST_F.AVAILABLE)) return;
    dest.stats.inpkts += pkts;
    dest.stats.inbytes += bytes;
    if (dest.svc) {
      dest.svc.stats.inpkts += pkts;
      dest.svc.stats.inbytes += bytes;
    }
    this.total.inpkts += pkts;
    this.total.inbytes += bytes;
  }

  /** The connection (or template) behind a handle, or null once it is gone. */
  connInfo(handle: number): ConnSnapshot | null {
    const s = this.table.slotOf(handle);
    return s < 0 ? null : this.connSnapshot(s);
  }

  /** One-line description of an entry: "TCP 172.16.5.0:0 10.0.0.1:80 -> 192.168.10.1:80 NONE". */
  describeConn(handle: number): string {
    const c = this.connInfo(handle);
    if (!c) return '';
    const hp = (a: string, p: number, af: Af): string => (af === 6 ? `[${a}]:${p}` : `${a}:${p}`);
    return `${c.protocol} ${hp(c.caddr, c.cport, c.af)} ${hp(c.vaddr, c.vport, c.af)} -> ${hp(c.daddr, c.dport, c.af)} ${c.state}`;
  }

  private inPacket(p: PacketIn, v: Verdict): Verdict {
    const t = this.table;
    const pc = PROTO_CODE[p.protocol];
    const flags = p.tcpFlags;
    let s = t.lookupIn(pc, p.saddr, p.sport, p.daddr, p.dport, false);
    const isNewPkt = pc !== PROTO.UDP && (flags & TCP_FLAG.SYN) !== 0;
    if (s >= 0 && isNewPkt) {
      const dest = this.destById[t.dest[s]!]!;
      let resched = false;
      // A connection opened on a destination chosen ahead is new whatever the table holds for
      // its tuple (a relay worker's accept: the old entry's socket pair is gone).
      if (this.ahead) resched = true;
      else if (this.sys.expire_nodest_conn && dest.weight === 0) resched = true;
      else if (this.sys.conn_reuse_mode && this.newConnExpected(s)) resched = true;
      if (resched) {
        if (t.nControl[s] === 0) this.expireNow(s);
        s = -1;
      }
    }
    if (s >= 0) {
      const dest = this.destById[t.dest[s]!]!;
      if (!(dest.flags & DEST_F.AVAILABLE)) {
        if (this.sys.expire_nodest_conn) {
          this.expireNow(s);
          s = -1;
        } else {
          v.action = 'drop';
          v.reason = 'dest-unavailable';
          v.conn = t.handleOf(s);
          return v;
        }
      }
    }
    if (s < 0) {
      // may this packet create a connection?
      if (pc === PROTO.TCP) {
        if (!((flags & TCP_FLAG.SYN) || this.sys.sloppy_tcp) || (flags & TCP_FLAG.RST)) {
          v.reason = 'no-conn';
          return v;
        }
      } else if (pc === PROTO.SCTP) {
        if (!((flags & TCP_FLAG.SYN) || this.sys.sloppy_sctp) || (flags & TCP_FLAG.RST)) {
          v.reason = 'no-conn';
          return v;
        }
      }
      const svc = this.findService(p.af, p.protocol, p.daddr, p.dport, p.mark);
      if (!svc) {
        v.reason = 'no-service';
        return v;
      }
      if (this.dropRate !== 0 && this.todrop()) {
        // ip_vs_todrop: "It seems that we are very loaded. We have to drop this packet."
        v.action = 'drop';
        v.reason = 'defense-drop';
        return v;
      }
      s = this.schedule(svc, p, v);
      if (s < 0) {
        if (s === S_DROP) {
          v.action = 'drop';
          v.reason = 'table-full';
        } else if (s === S_ACCEPT) {
          v.reason = 'ftp-pass';
        } else this.leave(svc, p, v, s === S_PORT0);
        return v;
      }
      v.isNew = true;
    }
    // stats, state transition, timer
    const dest = this.destById[t.dest[s]!]!;
    this.countIn(dest, 1, p.bytes);
    if (t.inPkts[s]! < 255) t.inPkts[s]!++;
    const before = t.state[s]!;
    this.transition(s, false, flags, dest);
    if (this.syncMaster && (v.isNew || before !== t.state[s]) && !(t.flags[s]! & CF.ONEPACKET)) this.queueSync(s);
    v.action = 'forward';
    v.dest = dest;
    v.fwd = FWD_NAMES[(t.flags[s]! >> 8) & 3]!;
    v.dport = t.dport[s]!;
    v.state = this.stateName(s);
    if (t.flags[s]! & CF.ONEPACKET) {
      v.conn = -1;
      this.freeEntry(s);
    } else {
      v.conn = t.handleOf(s);
      this.rearm(s);
    }
    return v;
  }

  private outPacket(p: PacketIn, v: Verdict): Verdict {
    const t = this.table;
    const pc = PROTO_CODE[p.protocol];
    const s = t.lookupOut(pc, p.daddr, p.dport, p.saddr, p.sport, this.destIps);
    if (s < 0) {
      v.reason = 'no-conn';
      return v;
    }
    const dest = this.destById[t.dest[s]!]!;
    if (dest.flags & DEST_F.AVAILABLE) {
      dest.stats.outpkts++;
      dest.stats.outbytes += p.bytes;
      if (dest.svc) {
        dest.svc.stats.outpkts++;
        dest.svc.stats.outbytes += p.bytes;
      }
      this.total.outpkts++;
      this.total.outbytes += p.bytes;
    }
    const before = t.state[s]!;
    this.transition(s, true, p.tcpFlags, dest);
    if (this.syncMaster && before !== t.state[s]) this.queueSync(s);
    v.action = 'forward';
    v.conn = t.handleOf(s);
    v.dest = dest;
    v.fwd = FWD_NAMES[(t.flags[s]! >> 8) & 3]!;
    v.vaddr = this.pool.ips[t.vaddr[s]!]!;
    v.vport = t.vport[s]!;
    v.state = this.stateName(s);
    this.rearm(s);
    return v;
  }

  private newConnExpected(s: number): boolean {
    const t = this.table;
    if (t.control[s]! >= 0) return false;
    if (t.proto[s] !== PROTO.TCP) return false;
    const st = t.state[s]!;
    return st === TCP_S.TIME_WAIT || st === TCP_S.CLOSE ||
      ((this.sys.conn_reuse_mode & 2) !== 0 && st === TCP_S.FIN_WAIT && (t.flags[s]! & CF.NOOUTPUT) !== 0);
  }

  /** Protocol state transition for one packet (set_tcp_state / udp_state_transition). */
  private transition(s: number, output: boolean, flags: number, dest: Dest): void {
    const t = this.table;
    const pc = t.proto[s]!;
    if (pc === PROTO.TCP) {
      let off: number = output ? TCP_DIR.OUTPUT : TCP_DIR.INPUT;
      const f = t.flags[s]!;
      if (f & CF.NOOUTPUT) {
        if (output) t.flags[s] = f & ~CF.NOOUTPUT;
        else off = TCP_DIR.INPUT_ONLY;
      }
      const old = t.state[s]!;
      const ns = tcpNextState(off, flags, old, this.secureTcp);
      if (ns !== old) {
        const inactive = (t.flags[s]! & CF.INACTIVE) !== 0;
        if (!inactive && !TCP_ACTIVE[ns]) {
          dest.activeConns--;
          dest.inactConns++;
          t.flags[s]! |= CF.INACTIVE;
          this.countsChanged(dest);
        } else if (inactive && TCP_ACTIVE[ns]) {
          dest.activeConns++;
          dest.inactConns--;
          t.flags[s]! &= ~CF.INACTIVE;
          this.countsChanged(dest);
        }
        if (ns === TCP_S.ESTABLISHED) this.assure(s);
      }
      t.state[s] = ns;
      if (ns === TCP_S.SYN_RECV && old !== ns) this.countHalfOpen();
      t.timeout[s] = this.tcpTimeout(ns);
    } else if (pc === PROTO.UDP) {
      t.timeout[s] = this.udpTimeout;
      if (output) this.assure(s);
    } else {
      // SCTP (simplified): one established state
      if (t.state[s] !== SCTP_STATE) {
        t.state[s] = SCTP_STATE;
        if (t.flags[s]! & CF.INACTIVE) {
          dest.activeConns++;
          dest.inactConns--;
          t.flags[s]! &= ~CF.INACTIVE;
          this.countsChanged(dest);
        }
        this.assure(s);
      }
      t.timeout[s] = this.tcpTimeouts[TCP_S.ESTABLISHED]!;
    }
  }

  private assure(s: number): void {
    const ct = this.table.control[s]!;
    if (ct >= 0 && this.table.flags[ct]! & CF.TEMPLATE) this.table.flags[ct]! |= CF.ASSURED;
  }

  private stateName(s: number): string {
    const t = this.table;
    const f = t.flags[s]!;
    if (f & CF.TEMPLATE) return f & CF.ASSURED ? 'ASSURED' : 'NONE';
    const pc = t.proto[s]!;
    if (pc === PROTO.TCP) return TCP_STATE_NAMES[t.state[s]!]!;
    if (pc === PROTO.UDP) return 'UDP';
    return t.state[s] === SCTP_STATE ? 'ESTABLISHED' : 'NONE';
  }

  private rearm(s: number): void {
    this.table.arm(s, this.now + this.table.timeout[s]!);
  }

  // ---- service lookup & scheduling ----------------------------------------------------------

  private findService(af: Af, protocol: Protocol, daddr: Ip, dport: number, mark: number): Svc | null {
    if (mark) {
      const s = this.svcFwm.get(mark * 2 + (af === 6 ? 1 : 0));
      if (s) return s;
    }
    // IPv6 services are found by their address text (formatted once); IPv4 ones by number.
    const addr = af === 4 ? '' : formatIp(daddr);
    let s = this.svcAt(af, protocol, daddr, addr, dport);
    if (!s && protocol === 'tcp' && this.ftpCount > 0 && (dport === FTPDATA || dport >= 1024)) s = this.svcAt(af, protocol, daddr, addr, FTPPORT);
    if (!s && this.nullCount > 0) s = this.svcAt(af, protocol, daddr, addr, 0);
    return s ?? null;
  }

  /** The non-fwmark service at an address and port; `addr` is the address text (IPv6 only). */
  private svcAt(af: Af, protocol: Protocol, daddr: Ip, addr: string, port: number): Svc | undefined {
    return af === 4 ? this.svcV4.get(svcV4Key(daddr.words[0]!, protocol, port)) : this.svcByKey.get(`${af}/${protocol}/${addr}/${port}`);
  }

  private runScheduler(svc: Svc, p: PacketIn): Dest | null {
    const a = this.ahead;
    if (a) {
      this.ahead = null;
      return a.svc === svc && (a.flags & DEST_F.AVAILABLE) !== 0 && !a.inTrash ? a : null;
    }
    if (!svc.sched) return null;
    this.env.now = this.now;
    return svc.sched.schedule(svc, p, this.env as SchedEnv) as Dest | null;
  }

  /** ip_vs_schedule: creates the connection (slot) or answers a negative outcome. */
  private schedule(svc: Svc, p: PacketIn, v: Verdict): number {
    const cport = p.sport, vport = p.dport;
    if (cport === FTPDATA) return S_ACCEPT;
    if (svc.flags & SVC_F.PERSISTENT) return this.schedPersist(svc, p, v);
    if (!svc.fwmark && vport !== svc.port) return S_PORT0;
    const dest = this.runScheduler(svc, p);
    if (!dest) return S_LEAVE;
    const ops = (svc.flags & SVC_F.ONEPACKET) !== 0 && p.protocol === 'udp';
    const s = this.newConn(PROTO_CODE[p.protocol], p.saddr, cport, p.daddr, vport, dest, dest.port || vport, false, ops);
    if (s < 0) return S_DROP;
    this.connStats(dest, svc);
    return s;
  }

  private schedPersist(svc: Svc, p: PacketIn, v: Verdict): number {
    const t = this.table;
    const snet = maskIp(p.saddr, svc.netmask);
    let proto: number = PROTO_CODE[p.protocol];
    let vaddr: Ip = p.daddr;
    let tvport = 0;
    if (p.dport === svc.port) {
      if (svc.port !== FTPPORT) tvport = p.dport;
    } else if (svc.fwmark) {
      proto = PROTO.IP;
      vaddr = svc.af === 6 ? { af: 6, words: [svc.fwmark >>> 0, 0, 0, 0] } : { af: 4, words: [svc.fwmark >>> 0] };
    }
    let ct = t.lookupIn(proto, snet, 0, vaddr, tvport, true);
    if (ct >= 0 && !this.checkTemplate(ct)) ct = -1;
    let dest: Dest;
    if (ct < 0) {
      const d = this.runScheduler(svc, p);
      if (!d) return S_LEAVE;
      dest = d;
      const dport = p.dport === svc.port && svc.port !== FTPPORT ? d.port : 0;
      ct = this.newConn(proto, snet, 0, vaddr, tvport, d, dport, true, false);
      if (ct < 0) return S_DROP;
      t.timeout[ct] = svc.timeout;
    } else {
      dest = this.destById[t.dest[ct]!]!;
    }
    let dport = p.dport;
    if (dport === svc.port && dest.port) dport = dest.port;
    const ops = (svc.flags & SVC_F.ONEPACKET) !== 0 && p.protocol === 'udp';
    const s = this.newConn(PROTO_CODE[p.protocol], p.saddr, p.sport, p.daddr, p.dport, dest, dport, false, ops);
    if (s < 0) {
      this.rearm(ct);
      return S_DROP;
    }
    t.control[s] = ct;
    t.nControl[ct]!++;
    this.rearm(ct);
    v.template = t.handleOf(ct);
    this.connStats(dest, svc);
    return s;
  }

  /** ip_vs_check_template: false (and the template neutralised) if its dest is unusable. */
  private checkTemplate(ct: number): boolean {
    const t = this.table;
    const dest = this.destById[t.dest[ct]!];
    if (!dest || !(dest.flags & DEST_F.AVAILABLE) || (dest.weight === 0 && (this.sys.expire_quiescent_template || (dest.flags & DEST_F.QUIESCED)))) {
      if (t.vport[ct] !== 0xffff) {
        t.unlink(ct);
        t.dport[ct] = 0xffff;
        t.vport[ct] = 0xffff;
        t.cport[ct] = 0;
        t.link(ct);
      }
      return false;
    }
    return true;
  }

  private connStats(dest: Dest, svc: Svc): void {
    dest.stats.conns++;
    svc.stats.conns++;
    this.total.conns++;
  }

  private leave(svc: Svc, p: PacketIn, v: Verdict, portMismatch: boolean): void {
    if (this.sys.cache_bypass && svc.fwmark && isUnicast(p.daddr)) {
      v.action = 'pass';
      v.reason = 'cache-bypass';
      return;
    }
    if (svc.port === FTPPORT && p.dport !== FTPPORT) {
      v.action = 'pass';
      v.reason = 'ftp-pass';
      return;
    }
    v.action = 'reject';
    v.reason = portMismatch ? 'port-mismatch' : 'no-dest';
  }

  /** ip_vs_conn_new + bind_dest. Returns the slot, or -1 when the table is full. */
  private newConn(proto: number, caddr: Ip, cport: number, vaddr: Ip, vport: number, dest: Dest, dport: number,
    template: boolean, ops: boolean): number {
    const t = this.table;
    const s = t.alloc();
    if (s < 0) {
      this.tableFull++;
      return -1;
    }
    t.setClient(s, caddr);
    t.cport[s] = cport;
    t.vaddr[s] = this.pool.acquire(vaddr);
    t.vport[s] = vport;
    t.dport[s] = dport;
    t.proto[s] = proto;
    t.state[s] = 0;
    t.timeout[s] = NEW_CONN_TIMEOUT;
    t.dest[s] = dest.id;
    let f = t.flags[s]! | CF.INACTIVE | (FWD_CODE[dest.fwd] << 8);
    if (template) f |= CF.TEMPLATE;
    if (dest.fwd !== 'masq') f |= CF.NOOUTPUT;
    if (ops) f |= CF.ONEPACKET;
    t.flags[s] = f;
    // bind dest
    dest.refs++;
    if (template) dest.persistConns++;
    else dest.inactConns++;
    if (dest.uThreshold !== 0 && dest.activeConns + dest.inactConns >= dest.uThreshold) dest.flags |= DEST_F.OVERLOAD;
    if (!template) this.countsChanged(dest);
    else if (dest.flags & DEST_F.OVERLOAD) this.countsChanged(dest);
    if (!ops) {
      t.link(s);
      t.arm(s, this.now + NEW_CONN_TIMEOUT);
    }
    return s;
  }

  private countsChanged(dest: Dest): void {
    const svc = dest.svc;
    if (svc && !dest.inTrash && svc.sched?.countsChanged) svc.sched.countsChanged(svc, dest);
  }

  // ---- expiry --------------------------------------------------------------------------------

  private runTimers(now: number): void {
    const t = this.table;
    const endTick = ConnTable.tickOf(now);
    let k = t.wheelTick;
    const due = this.due;
    // process fully elapsed ticks (time order), then the partial current one
    while (k < endTick) {
      if (t.inWheel === 0) {
        k = endTick;
        break;
      }
      k++;
      const tickEnd = Math.min(now, (k + 1) / TICKS_PER_SECOND);
      due.length = 0;
      t.collectDue(k, tickEnd, due);
      for (let i = 0; i < due.length; i++) this.expire(due[i]!, t.expires[due[i]!]!);
    }
    // entries due within the current (partial) tick
    due.length = 0;
    t.collectDue(endTick, now, due);
    for (let i = 0; i < due.length; i++) this.expire(due[i]!, t.expires[due[i]!]!);
    t.wheelTick = endTick - 1;
  }

  /** ip_vs_conn_expire at time `at`. */
  private expire(s: number, at: number): void {
    const t = this.table;
    if (t.nControl[s]! > 0) {
      t.timeout[s] = CONTROL_REARM;
      t.arm(s, at + CONTROL_REARM);
      return;
    }
    const ct = t.control[s]!;
    const wasNow = (t.flags[s]! & CF.EXPIRE_NOW) !== 0;
    t.unlink(s);
    if (ct >= 0) {
      t.control[s] = -1;
      t.nControl[ct]!--;
      if (wasNow && t.nControl[ct] === 0 && (!(t.flags[ct]! & CF.TEMPLATE) || !(t.flags[ct]! & CF.ASSURED))) {
        this.expireNow(ct);
      }
    }
    this.freeEntry(s, true);
  }

  /** ip_vs_conn_expire_now: expire (or re-arm if it controls others) at the current time. */
  private expireNow(s: number): void {
    const t = this.table;
    t.disarm(s);
    t.flags[s]! |= CF.EXPIRE_NOW;
    t.timeout[s] = 0;
    this.expire(s, this.now);
  }

  /** Unbinds the dest and frees the slot (the entry must already be unlinked when `unlinked`). */
  private freeEntry(s: number, unlinked = false): void {
    const t = this.table;
    void unlinked;
    const ct = t.control[s]!;
    if (ct >= 0 && (t.flags[s]! & CF.ONEPACKET)) {
      t.nControl[ct]!--;
      t.control[s] = -1;
    }
    const dest = this.destById[t.dest[s]!]!;
    const f = t.flags[s]!;
    if (f & CF.TEMPLATE) dest.persistConns--;
    else if (f & CF.INACTIVE) dest.inactConns--;
    else dest.activeConns--;
    const before = dest.flags;
    if (dest.lThreshold !== 0) {
      if (dest.activeConns + dest.inactConns < dest.lThreshold) dest.flags &= ~DEST_F.OVERLOAD;
    } else if (dest.uThreshold !== 0) {
      if ((dest.activeConns + dest.inactConns) * 4 < dest.uThreshold * 3) dest.flags &= ~DEST_F.OVERLOAD;
    } else dest.flags &= ~DEST_F.OVERLOAD;
    dest.refs--;
    if (!(f & CF.TEMPLATE) || before !== dest.flags) this.countsChanged(dest);
    this.pool.release(t.vaddr[s]!);
    t.release(s);
  }

  // ---- estimator & trash ---------------------------------------------------------------------

  private estimateAll(): void {
    this.total.estimate();
    for (const s of this.services_) {
      s.stats.estimate();
      for (const d of s.dests) d.stats.estimate();
    }
  }

  private trashSweep(now: number): void {
    // the kernel's timer runs every 60 s while the trash is non-empty
    while (this.nextTrashSweep <= now) {
      const at = this.nextTrashSweep;
      this.trash = this.trash.filter((d) => {
        if (d.refs > 0) return true;
        if (d.idleStart) {
          if (at < d.idleStart + TRASH_PERIOD) return true;
        } else {
          d.idleStart = Math.max(at, 1e-9);
          return true;
        }
        this.destById[d.id] = undefined;
        this.destIps[d.id] = undefined;
        return false;
      });
      this.nextTrashSweep = this.trash.length ? at + TRASH_PERIOD / 2 : Infinity;
    }
  }

  // ---- control plane -------------------------------------------------------------------------

  private findSvcByKey(k: ServiceKey): Svc | null {
    if (k.fwmark > 0) return this.svcByKey.get(svcKeyOf(k)) ?? null;
    let ip = this.keyIps.get(k.addr);
    if (ip === undefined) {
      ip = parseIp(k.addr);
      if (this.keyIps.size >= 4096) this.keyIps.clear();
      this.keyIps.set(k.addr, ip);
    }
    if (!ip) return null;
    if (k.af === 4 && ip.af === 4) return this.svcV4.get(svcV4Key(ip.words[0]!, k.protocol, k.port)) ?? null;
    return this.svcByKey.get(svcKeyOf({ ...k, addr: formatIp(ip) })) ?? null;
  }

  private bindScheduler(svc: Svc, name: string): Errno | null {
    if (name === 'none') {
      svc.sched = null;
      svc.schedName = 'none';
      return null;
    }
    const f = getSchedulerFactory(name, {
      lblcExpiration: () => this.sys.lblc_expiration,
      lblcrExpiration: () => this.sys.lblcr_expiration,
    });
    if (!f) return 'ENOENT';
    const sc = f(svc);
    if (sc === 'EINVAL') return 'EINVAL';
    svc.sched = sc;
    svc.schedName = name;
    if (sc.tick && this.nextSchedTick === Infinity) this.nextSchedTick = Math.floor(this.now) + 1;
    return null;
  }

  private checkSvcSpec(spec: ServiceSpec): Errno | null {
    if (spec.af !== 4 && spec.af !== 6) return 'EAFNOSUPPORT';
    if (spec.protocol !== 'tcp' && spec.protocol !== 'udp' && spec.protocol !== 'sctp') return 'EINVAL';
    if (spec.scheduler !== 'none' && !getSchedulerFactory(spec.scheduler)) return 'ENOENT';
    if (spec.pe && spec.pe !== 'sip') return 'ENOENT';
    if (spec.af === 6 && (spec.netmask < 1 || spec.netmask > 128)) return 'EINVAL';
    if (spec.fwmark === 0) {
      const ip = parseIp(spec.addr);
      if (!ip || ip.af !== spec.af) return 'EINVAL';
      if (!Number.isInteger(spec.port) || spec.port < 0 || spec.port > 65535) return 'EINVAL';
    }
    return null;
  }

  private addService(spec: ServiceSpec): Errno | null {
    const bad = this.checkSvcSpec(spec);
    if (bad) return bad;
    const fw = spec.fwmark > 0;
    const ip: Ip = fw ? (spec.af === 6 ? { af: 6, words: [0, 0, 0, 0] } : { af: 4, words: [0] }) : parseIp(spec.addr)!;
    const addr = formatIp(ip);
    const key = svcKeyOf({ af: spec.af, fwmark: spec.fwmark, protocol: fw ? 'tcp' : spec.protocol, addr, port: fw ? 0 : spec.port });
    if (this.svcByKey.has(key)) return 'EEXIST';
    const svc: Svc = {
      af: spec.af, fwmark: spec.fwmark >>> 0, protocol: fw ? 'tcp' : spec.protocol, addr, ip, port: fw ? 0 : spec.port, key,
      schedName: spec.scheduler, sched: null, flags: (spec.flags & ~SVC_F.HASHED) | SVC_F.HASHED,
      timeout: spec.timeout, netmask: spec.netmask, pe: spec.pe, dests: [], stats: new Stats(),
    };
    const e = this.bindScheduler(svc, spec.scheduler);
    if (e) return e;
    this.services_.push(svc);
    this.svcByKey.set(key, svc);
    if (!fw && svc.af === 4) this.svcV4.set(svcV4Key(ip.words[0]!, svc.protocol, svc.port), svc);
    if (fw) this.svcFwm.set(svc.fwmark * 2 + (svc.af === 6 ? 1 : 0), svc);
    else if (svc.port === FTPPORT) this.ftpCount++;
    else if (svc.port === 0) this.nullCount++;
    if (this.nextEst === Infinity) this.nextEst = this.now + 2;
    return null;
  }

  private editService(spec: ServiceSpec): Errno | null {
    const svc = this.findSvcByKey(spec);
    if (!svc) return 'ESRCH';
    if (spec.scheduler !== 'none' && !getSchedulerFactory(spec.scheduler)) return 'ENOENT';
    if (spec.pe && spec.pe !== 'sip') return 'ENOENT';
    if (svc.af === 6 && (spec.netmask < 1 || spec.netmask > 128)) return 'EINVAL';
    if (spec.scheduler !== svc.schedName) {
      svc.sched?.done?.(svc);
      svc.sched = null;
      svc.schedName = 'none';
      const e = this.bindScheduler(svc, spec.scheduler);
      if (e) return e;
    }
    svc.flags = (spec.flags & ~SVC_F.HASHED) | SVC_F.HASHED;
    svc.timeout = spec.timeout;
    svc.netmask = spec.netmask;
    svc.pe = spec.pe;
    return null;
  }

  private delService(svc: Svc): void {
    svc.sched?.done?.(svc);
    svc.sched = null;
    for (const d of svc.dests.slice()) this.moveToTrash(svc, d, false);
    svc.dests = [];
    this.services_.splice(this.services_.indexOf(svc), 1);
    this.svcByKey.delete(svc.key);
    if (!svc.fwmark && svc.af === 4) this.svcV4.delete(svcV4Key(svc.ip.words[0]!, svc.protocol, svc.port));
    if (svc.fwmark) this.svcFwm.delete(svc.fwmark * 2 + (svc.af === 6 ? 1 : 0));
    else if (svc.port === FTPPORT) this.ftpCount--;
    else if (svc.port === 0) this.nullCount--;
  }

  private checkDestSpec(svc: Svc, d: DestSpec): Errno | null {
    // The kernel's weight is an int: negative or above INT_MAX is out of range (schedulers' indexes rely on it).
    if (!Number.isInteger(d.weight) || d.weight < 0 || d.weight > 2147483647) return 'ERANGE';
    if (d.lThreshold > d.uThreshold) return 'ERANGE';
    if (d.fwd === 'tunnel' && d.tunType === 'gue' && !d.tunPort) return 'EINVAL';
    if (d.af !== 4 && d.af !== 6) return 'EAFNOSUPPORT';
    if (d.af !== svc.af && d.fwd !== 'tunnel') return 'EINVAL';
    return null;
  }

  private addDest(key: ServiceKey, d: DestSpec): Errno | null {
    const svc = this.findSvcByKey(key);
    if (!svc) return 'ESRCH';
    const bad = this.checkDestSpec(svc, d);
    if (bad) return bad;
    const ip = parseIp(d.addr);
    if (!ip || ip.af !== d.af || !isUnicast(ip)) return 'EINVAL';
    const addr = formatIp(ip);
    if (svc.dests.some((x) => x.af === d.af && x.addr === addr && x.port === d.port)) return 'EEXIST';
    const ti = this.trash.findIndex((x) => x.svcKey === svc.key && x.af === d.af && x.addr === addr && x.port === d.port);
    let dest: Dest;
    if (ti >= 0) {
      dest = this.trash[ti]!;
      this.trash.splice(ti, 1);
      dest.inTrash = false;
      dest.idleStart = 0;
      if (dest.svc !== svc) dest.stats.zero();
    } else {
      const id = this.nextDestId++;
      dest = {
        af: d.af, ip, addr, port: d.port, fwd: d.fwd, weight: 0, lastWeight: 0, uThreshold: 0, lThreshold: 0,
        activeConns: 0, inactConns: 0, persistConns: 0, flags: 0, id, tunType: d.tunType, tunPort: d.tunPort,
        tunCsum: d.tunCsum, svc, stats: new Stats(), refs: 0, inTrash: false, idleStart: 0, svcKey: svc.key,
      };
      this.destById[id] = dest;
      this.destIps[id] = ip;
    }
    this.updateDest(svc, dest, d, true);
    return null;
  }

  /** __ip_vs_update_dest */
  private updateDest(svc: Svc, dest: Dest, d: DestSpec, add: boolean): void {
    if (add || d.weight !== 0) dest.lastWeight = d.weight;
    dest.weight = d.weight;
    dest.fwd = d.fwd;
    dest.tunType = d.tunType;
    dest.tunPort = d.tunPort;
    dest.tunCsum = d.tunCsum;
    dest.svc = svc;
    dest.svcKey = svc.key;
    dest.flags |= DEST_F.AVAILABLE;
    if (!d.uThreshold || d.uThreshold > dest.uThreshold) dest.flags &= ~DEST_F.OVERLOAD;
    dest.uThreshold = d.uThreshold;
    dest.lThreshold = d.lThreshold;
    if (add) {
      svc.dests.unshift(dest);
      svc.sched?.addDest?.(svc, dest);
    } else {
      svc.sched?.updDest?.(svc, dest);
    }
  }

  private editDest(key: ServiceKey, d: DestSpec): Errno | null {
    const svc = this.findSvcByKey(key);
    if (!svc) return 'ESRCH';
    const bad = this.checkDestSpec(svc, d);
    if (bad) return bad;
    const ip = parseIp(d.addr);
    if (!ip) return 'EINVAL';
    const addr = formatIp(ip);
    const dest = svc.dests.find((x) => x.af === d.af && x.addr === addr && x.port === d.port);
    if (!dest) return 'ENOENT';
    this.updateDest(svc, dest, d, false);
    return null;
  }

  private delDest(key: ServiceKey, af: Af, a: string, port: number): Errno | null {
    const svc = this.findSvcByKey(key);
    if (!svc) return 'ESRCH';
    const ip = parseIp(a);
    if (!ip) return 'EINVAL';
    const addr = formatIp(ip);
    const dest = svc.dests.find((x) => x.af === af && x.addr === addr && x.port === port);
    if (!dest) return 'ENOENT';
    this.moveToTrash(svc, dest, true);
    return null;
  }

  private moveToTrash(svc: Svc, dest: Dest, notify: boolean): void {
    const idx = svc.dests.indexOf(dest);
    dest.flags &= ~(DEST_F.AVAILABLE | DEST_F.QUIESCED);
    svc.dests.splice(idx, 1);
    if (notify) svc.sched?.delDest?.(svc, dest, idx);
    dest.inTrash = true;
    dest.idleStart = 0;
    this.trash.push(dest);
    if (this.nextTrashSweep === Infinity) this.nextTrashSweep = this.now + TRASH_PERIOD / 2;
    if (this.sys.expire_nodest_conn) this.expireNodestFlush();
  }

  /** ip_vs_expire_nodest_conn_flush: drop every entry whose dest is gone (not controllers). */
  private expireNodestFlush(): void {
    const t = this.table;
    const victims: number[] = [];
    t.forEach((s) => {
      const d = this.destById[t.dest[s]!]!;
      if (d.flags & DEST_F.AVAILABLE) return;
      if (t.nControl[s]! > 0) return;
      victims.push(s);
    });
    for (const s of victims) {
      if (!(t.flags[s]! & CF.USED)) continue;
      const ct = t.control[s]!;
      t.disarm(s);
      t.unlink(s);
      if (ct >= 0) {
        t.nControl[ct]!--;
        t.control[s] = -1;
      }
      this.freeEntry(s, true);
      if (ct >= 0 && t.nControl[ct] === 0 && (t.flags[ct]! & CF.USED)) {
        t.disarm(ct);
        t.unlink(ct);
        const cc = t.control[ct]!;
        if (cc >= 0) {
          t.nControl[cc]!--;
          t.control[ct] = -1;
        }
        this.freeEntry(ct, true);
      }
    }
  }

  private zeroSvc(s: Svc): void {
    s.stats.zero();
    for (const d of s.dests) d.stats.zero();
  }

  // ---- snapshots -----------------------------------------------------------------------------

  private svcSnapshot(s: Svc): ServiceSnapshot {
    return {
      af: s.af, fwmark: s.fwmark, protocol: s.protocol, addr: s.addr, port: s.port, scheduler: s.schedName,
      flags: s.flags & ~SVC_F.HASHED, timeout: s.timeout, netmask: s.netmask, pe: s.pe,
      stats: s.stats.snapshot(), rates: s.stats.rates(),
      dests: s.dests.map((d) => this.destSnapshot(d)),
    };
  }

  private destSnapshot(d: Dest): DestSnapshot {
    return {
      af: d.af, addr: d.addr, port: d.port, fwd: d.fwd, weight: d.weight, uThreshold: d.uThreshold,
      lThreshold: d.lThreshold, tunType: d.tunType, tunPort: d.tunPort, tunCsum: d.tunCsum,
      activeConns: d.activeConns, inactConns: d.inactConns, persistConns: d.persistConns,
      overloaded: (d.flags & DEST_F.OVERLOAD) !== 0, stats: d.stats.snapshot(), rates: d.stats.rates(),
    };
  }

  private connSnapshot(s: number): ConnSnapshot | null {
    const t = this.table;
    const f = t.flags[s]!;
    if (f & CF.ONEPACKET) return null;
    const dest = this.destById[t.dest[s]!]!;
    const c = t.clientIp(s);
    const v = this.pool.ips[t.vaddr[s]!]!;
    return {
      af: c.af,
      protocol: PROTO_NAMES[t.proto[s]!]!,
      expiresIn: Math.max(0, t.expires[s]! - this.now),
      state: this.stateName(s),
      caddr: formatIp(c),
      cport: t.cport[s]!,
      vaddr: formatIp(v),
      vport: t.vport[s]!,
      daddr: dest.addr,
      dport: t.dport[s]!,
      template: (f & CF.TEMPLATE) !== 0,
    };
  }
}
