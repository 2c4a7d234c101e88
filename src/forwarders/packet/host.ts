/**
 * Main-thread side of the packet forwarder: starts N worker threads (one PacketForwarder each, all
 * in the same PACKET_FANOUT groups), feeds them next hops resolved from the kernel's tables, and
 * answers their decide batches (channel mode) from one decide function, where the engine lives.
 */
import type { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { startThread } from '../../os/entries.ts';
import type { ForwarderStats, NextHop } from './forwarder.ts';
import { emptyStats, PacketForwarder } from './forwarder.ts';
import { newAction, type Action, type DecideBatch } from './decision.ts';
import { newMeta, type PacketMeta } from './classify.ts';
import { ACTION_CODE } from '../../core/types.ts';
import { TCP_FLAG } from '../../core/proto.ts';
import { PACKET_DEFAULTS } from '../../dataplane/options.ts';
import { createChannel, serveChannel, type ChannelServer } from './channel.ts';
import type { WorkerInit, WorkerMsgIn, WorkerMsgOut } from './worker.ts';
import { resolveNextHop } from '../../os/neigh.ts';
import { watchReadable } from '../../os/libc.ts';
import { ipv4ToString } from '../../core/addr4.ts';
import { FastPathTable, kernelTun, type CountForwarded, type FastPathCounters } from './fastpath.ts';
import { FastPathTable6, type FastPathCounters6 } from './fastpath6.ts';
import { formatIp, type Ip } from '../../core/addr.ts';
import { HEARTBEAT_MS, KernelFastPath, type FastPathKind, type FlowEvent, type HeartbeatBounds } from '../../os/bpf.ts';
import { ackInToken, FLOW_EV } from '../../os/flow-map.ts';
import { KernelAhead, type AheadEngine } from './fastpath-ahead.ts';
import type { RtDest } from '../../core/scheduler.ts';
import { LeftFlows, type LeftConn } from './adopt.ts';

/** How long a client's next hop (NAT replies in the kernel fast path) is used before it is resolved again. */
const CLIENT_HOP_MS = 30_000;
/** How soon a client whose next hop was not found is tried again. */
const CLIENT_RETRY_MS = 1_000;
/** The kernel fast path's events are read every EVENT_READ_MS, until EVENT_QUIET_READS reads in a row found none. */
const EVENT_READ_MS = 20;
const EVENT_QUIET_READS = 5;

/**
 * Next hops toward clients, for NAT replies: resolved once per client and again after
 * CLIENT_HOP_MS (CLIENT_RETRY_MS while not found); never waits: until it is known, undefined
 * (the replies' entry is installed at a later packet). At most 4,096 clients are kept.
 */
function clientHopCache<K>(text: (client: K) => string): (client: K) => NextHop | undefined {
  const known = new Map<K, { hop: NextHop | null; at: number }>();
  return (client) => {
    const c = known.get(client);
    const now = performance.now();
    // Known (or being resolved, or not found) and fresh: as it is; else resolved (again).
    if (c && now - c.at < (c.hop ? CLIENT_HOP_MS : CLIENT_RETRY_MS)) return c.hop ?? undefined;
    if (known.size >= 4096) known.clear();
    known.set(client, { hop: c?.hop ?? null, at: now });
    void resolveNextHop(text(client)).then((h) => { known.set(client, { hop: h, at: performance.now() }); }, () => {});
    return c?.hop ?? undefined;
  };
}

export interface WorkersOptions {
  readonly ifaces: readonly string[];
  /** Ring worker threads (default: CPU count; ignored with `inline`). */
  readonly workers?: number;
  /**
   * Read the rings in the main thread, on its event loop, and decide each packet right there (no
   * ring workers, no channel): every packet costs one thread instead of a worker, the main thread
   * and a wake-up of each (see docs/PACKET-FORWARDER.md, "Threads"). Needs `decide`.
   */
  readonly inline?: boolean;
  readonly inAddrs: readonly number[];
  readonly outAddrs: readonly number[];
  /** Real servers to resolve up front (DR/TUN next hops). */
  readonly rips?: readonly number[];
  /**
   * IPv6: VIPs and NAT real servers (key6 strings, forwarder.ts) and the DR/TUN real servers to
   * resolve (address text).
   */
  readonly v6?: { readonly inAddrs: readonly string[]; readonly outAddrs: readonly string[]; readonly rips: readonly string[]; readonly svcs?: readonly string[] };
  /** Decide in the main thread (the engine) ... */
  readonly decide?: (m: PacketMeta, out: Action) => void;
  /** Called before each batch is decided (advance the engine's clock once per batch). */
  readonly onBatch?: () => void;
  /** Also run one worker reading NFQUEUE `queue` (firewall-mark services; see nfqueue.ts). */
  readonly nfqueue?: number;
  /** ... or in each worker, from a module exporting createDecider(config) (tests, static lab). */
  readonly deciderModule?: { readonly path: string; readonly config: unknown };
  readonly log?: (msg: string) => void;
  /** Ring workers: forward from their decision caches (default on; forwarder.ts flowCache). */
  readonly flowCache?: boolean;
  /**
   * Inline only: attach the kernel fast path (bpf.ts) to `ifaces`; `count` hands the engine the
   * packets it forwarded (Engine.countForwarded). A load failure fails the start.
   */
  readonly fastPath?: {
    readonly kind: FastPathKind;
    /** When the program stops deciding, and carrying, without the daemon's heartbeat. */
    readonly bounds: HeartbeatBounds;
    readonly count: CountForwarded;
    /** Decisions ahead in the kernel (fastpath-ahead.ts): the engine, and deciding a packet bound to one. */
    readonly ahead?: AheadEngine;
    readonly decideAhead?: (m: PacketMeta, out: Action, dest: RtDest | undefined) => void;
    /** Creates the engine's entry for a connection a killed daemon's program left (adopt.ts); false: not yet possible. */
    readonly adopt?: (c: LeftConn) => boolean;
  };
}

export interface WorkersHandle {
  /** Sum of the workers' latest counters. */
  stats(): ForwarderStats;
  /** Malformed/dropped packets by reason (summed over workers). */
  drops(): Record<string, number>;
  setAddrs(inAddrs: readonly number[], outAddrs: readonly number[], rips?: readonly number[], v6?: WorkersOptions['v6']): void;
  /**
   * Decides, now, every record the workers have published: the engine then has seen every packet
   * already forwarded from a worker's decision cache (call before -Z, listings, rule changes).
   */
  settle(): void;
  /** The kernel fast path's counters (null when off); `ipv6`: its IPv6 table's (fastpath6.ts). */
  fastPath(): (FastPathCounters & { ipv6?: FastPathCounters6 }) | null;
  /** Empties the kernel fast path's flows (their counts handed over first): the next packet of every connection goes to the engine. */
  resetFastPath(): void;
  stop(): Promise<void>;
}


export async function startWorkers(opts: WorkersOptions): Promise<WorkersHandle> {
  const n = opts.inline ? 0 : Math.max(1, opts.workers ?? availableParallelism());
  const log = opts.log ?? (() => {});
  const hops = new Map<number, NextHop>();
  const resolving = new Set<number | string>();
  const perWorker: ForwarderStats[] = [];
  const perWorkerDrops: Record<string, number>[] = [];
  const workers: Worker[] = [];
  const servers: ChannelServer[] = [];
  const fanoutGroup = ((process.pid * 7) & 0x7fff) + 1;

  let inline: PacketForwarder | null = null;
  let kfp: KernelFastPath | null = null;
  let table: FastPathTable | null = null;
  let table6: FastPathTable6 | null = null;
  let kahead: KernelAhead | null = null;
  let left: LeftFlows | null = null;
  let sweepTimer: NodeJS.Timeout | null = null;
  const addrs6of = (v6: WorkersOptions['v6']) => ({ inAddrs: new Set(v6?.inAddrs ?? []), outAddrs: new Set(v6?.outAddrs ?? []) });
  let addrs6 = addrs6of(opts.v6);
  const polls: { close(): void }[] = [];
  let drainFastPath = (): void => {};
  let drainEvents = (): void => {};
  let eventTimer: NodeJS.Timeout | null = null;
  let armEvents = (): void => {};
  let stopping = false;
  let beatTimer: NodeJS.Timeout | null = null;
  const broadcast = (m: WorkerMsgIn) => {
    for (const w of workers) w.postMessage(m);
    if (inline && m.type === 'hop') inline.setNextHop(m.rip, m.hop);
    if (inline && m.type === 'addrs') inline.setAddrs(m.inAddrs, m.outAddrs, addrs6);
  };
  const hops6 = new Map<string, NextHop>();
  const resolve = async (rip: number | string): Promise<void> => {
    if (resolving.has(rip)) return;
    resolving.add(rip);
    const text = typeof rip === 'string' ? rip : ipv4ToString(rip);
    try {
      const h = await resolveNextHop(text);
      if (!h) log(`no next hop for ${text} yet`);
      else if (typeof rip === 'string') {
        const had = hops6.has(rip);
        hops6.set(rip, h);
        broadcast({ type: 'hop', rip, hop: h });
        if (!had) kahead?.sync();
      } else {
        const had = hops.has(rip);
        hops.set(rip, h);
        broadcast({ type: 'hop', rip, hop: h });
        // A real server's first next hop may let its services take decisions ahead.
        if (!had) kahead?.sync();
      }
    } finally {
      resolving.delete(rip);
    }
  };
  await Promise.all((opts.rips ?? []).map(resolve));

  if (opts.inline) {
    const decide = opts.decide;
    if (!decide) throw new Error('startWorkers: inline needs decide');
    const onBatch = opts.onBatch;
    const batch: DecideBatch = (metas, out) => {
      onBatch?.();
      for (let i = 0; i < metas.length; i++) {
        const a = out[i]!;
        try {
          decide(metas[i]!, a);
        } catch {
          a.kind = ACTION_CODE.drop;
          a.conn = -1;
        }
      }
    };
    if (opts.fastPath) {
      kfp = KernelFastPath.open(opts.ifaces, opts.fastPath.kind, opts.fastPath.bounds);
      // NAT replies leave toward the client's next hop: resolved once per client (and again after
      // CLIENT_HOP_MS), their entries installed once it is known. XDP carries no NAT.
      const clientHop = clientHopCache<number>(ipv4ToString);
      table = new FastPathTable(kfp.flows, opts.fastPath.count, kfp.ifindexes, opts.fastPath.kind === 'tc' ? clientHop : undefined, opts.fastPath.kind === 'tc');
      // IPv6 NAT replies likewise, by the client's address text.
      const clientHopByText = clientHopCache<string>((text) => text);
      const clientHop6 = (w: ArrayLike<number>): NextHop | undefined => clientHopByText(formatIp({ af: 6, words: [w[0]!, w[1]!, w[2]!, w[3]!] }));
      table6 = new FastPathTable6(kfp.flows6, opts.fastPath.count, kfp.ifindexes, opts.fastPath.kind === 'tc' ? clientHop6 : undefined);
      table6.services = new Set(opts.v6?.svcs ?? []);
    }
    const fwd = new PacketForwarder({
      // A fanout group of one: its defragmenting flag reassembles IP fragments as for the workers.
      ifaces: opts.ifaces, fanoutGroup, decide: batch, inAddrs: opts.inAddrs, outAddrs: opts.outAddrs,
      nextHops: new Map(hops), onMissingHop: (rip) => void resolve(rip), ipv6: addrs6,
      ...(table ? { fastPath: table } : {}),
      ...(table6 ? { fastPath6: table6 } : {}),
    });
    inline = fwd;
    if (kfp && table && opts.fastPath?.ahead && opts.fastPath.decideAhead) {
      kahead = new KernelAhead(kfp, opts.fastPath.ahead, fwd.egress.nextHops, kfp.ifindexes, opts.fastPath.kind === 'tc', fwd.egress.nextHops6);
      kahead.sync();
    }
    if (kfp && table) {
      // Packets the kernel forwarded that change a connection's state: the engine decides them
      // (they are gone already: only the engine's state, counters and the table follow).
      const x = kfp, t = table;
      const decideAhead = opts.fastPath?.decideAhead;
      const m = newMeta(), a = newAction();
      const ev: FlowEvent = { saddr: 0, daddr: 0, sport: 0, dport: 0, proto: 0, flags: 0, len: 0, pkts: 0, bytes: 0, kind: 0, token: 0 };
      const hops = fwd.egress.nextHops;
      const t6 = table6!;
      const hops6 = fwd.egress.nextHops6;
      const ip6 = (w: Uint32Array): Ip => ({ af: 6, words: [w[0]!, w[1]!, w[2]!, w[3]!] });
      /** An IPv6 flow's state event (fastpath6.ts): its counts first, then the engine decides it and the table follows. */
      const onEvent6 = (e: FlowEvent): void => {
        m.dir = 'in';
        m.af = 6;
        m.protocol = e.proto === 17 ? 'udp' : 'tcp';
        m.saddr = ip6(e.saddr6!);
        m.daddr = ip6(e.daddr6!);
        m.sport = e.sport;
        m.dport = e.dport;
        m.tcpFlags = e.flags;
        m.bytes = e.len;
        m.mark = 0;
        if (e.kind === FLOW_EV.TAKEN || e.kind === FLOW_EV.TAKEN_NAT) {
          // A new connection the kernel sent to a decision ahead: the engine binds it to that destination.
          const dest = kahead?.taken(e.token);
          decideAheadSafe(m, a, dest);
          tookAhead = true;
          const nat = e.kind === FLOW_EV.TAKEN_NAT && dest ? { rip: dest.ip.words, rport: dest.port || e.dport } : undefined;
          t6.adoptTaken(m, a, a.rip6 ? hops6.get(formatIp(a.rip6)) : undefined, dest ? hops6.get(formatIp(dest.ip)) : undefined, nat);
          return;
        }
        // (A NAT reply's last ACK or RST comes as the real server sent it: the engine decides it as
        // one, after the FINs its report carries.)
        m.dir = t6.reported(e.saddr6!, e.daddr6!, e.sport, e.dport, e.flags, e.pkts, e.bytes, e.kind, e.token, e.end ?? null);
        decideSafe(m, a);
        t6.offer(m, a, a.rip6 ? hops6.get(formatIp(a.rip6)) : undefined);
      };
      // IPv6 NAT FINs the kernel recorded: the engine decides each as its sender's (an own record:
      // this runs inside the decision of the report in `m`).
      const fm6 = newMeta(), fa6 = newAction();
      t6.decideRecorded = (saddr, daddr, sport, dport, proto, flags, len, out, offer): void => {
        Object.assign(fm6, { dir: out ? 'out' : 'in', af: 6, protocol: proto === 17 ? 'udp' : 'tcp', saddr: ip6(Uint32Array.from(saddr)), daddr: ip6(Uint32Array.from(daddr)), sport, dport, tcpFlags: flags, bytes: len, mark: 0 });
        decideSafe(fm6, fa6);
        if (offer) t6.offer(fm6, fa6, fa6.rip6 ? hops6.get(formatIp(fa6.rip6)) : undefined);
      };
      /** The engine's verdict on a packet the kernel forwarded already (an exception: drop, nothing to carry). */
      const decideSafe = (r: PacketMeta, x: Action): void => {
        try {
          decide(r, x);
        } catch {
          x.kind = ACTION_CODE.drop;
          x.conn = -1;
          x.fast = 0;
        }
      };
      /** The engine binds a connection the kernel took on a decision ahead (an exception: drop, as decideSafe). */
      const decideAheadSafe = (r: PacketMeta, x: Action, dest: RtDest | undefined): void => {
        try {
          decideAhead!(r, x, dest);
        } catch {
          x.kind = ACTION_CODE.drop;
          x.conn = -1;
          x.fast = 0;
        }
      };
      /** An IPv4 packet the kernel reported, into record `r` (its own address records; host order). */
      const fill4 = (r: PacketMeta, saddr: number, daddr: number, sport: number, dport: number, proto: number, flags: number, bytes: number): void => {
        r.dir = 'in';
        r.af = 4;
        r.protocol = proto === 17 ? 'udp' : 'tcp';
        (r.saddr.words as number[])[0] = saddr;
        (r.daddr.words as number[])[0] = daddr;
        r.sport = sport;
        r.dport = dport;
        r.tcpFlags = flags;
        r.bytes = bytes;
        r.mark = 0;
      };
      // Packets the kernel recorded (bpf/tsvs_fastpath.c ACK_SEEN, FIN_SELF): the engine decides
      // each as its sender's, before the report that carried it or after the read that found it.
      const am = newMeta(), aa = newAction();
      t.decideRecorded = (saddr, daddr, sport, dport, proto, flags, len, out, offer): void => {
        fill4(am, saddr, daddr, sport, dport, proto, flags, len);
        if (out) am.dir = 'out';
        decideSafe(am, aa);
        if (offer) t.offer(am, aa, hops.get(aa.rip));
      };
      const drainAcks = (): void => t.takeAcks();
      const s4 = m.saddr, d4 = m.daddr; // IPv4 records (an IPv6 event puts others in `m`)
      const onEvent = (e: FlowEvent): void => {
        if (e.af === 6) { onEvent6(e); return; }
        m.saddr = s4;
        m.daddr = d4;
        fill4(m, e.saddr, e.daddr, e.sport, e.dport, e.proto, e.flags, e.len);
        // EV_TAKEN: a new connection the kernel sent to a decision ahead, which the engine binds
        // it to. Else: the counters of a flow the kernel ended first, then the event moves the state.
        const taken = e.kind === FLOW_EV.TAKEN || e.kind === FLOW_EV.TAKEN_NAT || e.kind === FLOW_EV.TAKEN_TUN;
        if (!taken && ackInToken(e.token) > 0) {
          t.ackCarried(e.saddr, e.daddr, e.sport, e.dport, ackInToken(e.token));
          drainAcks();
        }
        const dest = taken ? kahead?.taken(e.token) : undefined;
        // A NAT reply's last ACK or RST comes as the real server sent it: the engine decides it as
        // one (after the FINs its report carries).
        if (!taken) m.dir = t.reported(e.saddr, e.daddr, e.sport, e.dport, e.flags, e.pkts, e.bytes, e.kind, e.token, e.end ?? null);
        if (!taken) decideSafe(m, a);
        else decideAheadSafe(m, a, dest);
        if (!taken) {
          t.offer(m, a, hops.get(a.rip));
          drainAcks();
        }
        else {
          tookAhead = true;
          // NAT: the kernel rewrote the SYN to the destination's address and port (the service's
          // when it has none) and installed the replies' entry.
          const nat = e.kind === FLOW_EV.TAKEN_NAT && dest ? { rip: dest.ip.words[0]! >>> 0, rport: dest.port || e.dport } : undefined;
          // A tunnel: the kind the kernel built is the destination's at the taking (a change since
          // would have dropped the decision), as the engine's verdict says it now.
          t.adoptTaken(m, a, hops.get(a.rip), dest ? hops.get(dest.ip.words[0]! >>> 0) : undefined, nat, e.kind === FLOW_EV.TAKEN_TUN ? kernelTun(a) || -1 : 0);
        }
      };
      let tookAhead = false;
      // Connections a killed daemon's program left (tc): carried on by ours; each bound to an
      // engine entry (created, its next packet decided, its flow installed as ours) once the
      // rules and next hops are back.
      const adopt = opts.fastPath?.adopt;
      if (adopt && x.adopted.length > 0) {
        const lm = newMeta(), la = newAction();
        left = new LeftFlows(x.adopted.splice(0), x.flows, hops, (c) => {
          // Bound once its real server's next hop is known (they resolve after the start, as the
          // rules come back): else offer() could not install it as ours, and the kernel would go
          // on alone with a connection whose close the engine never sees (left in CLOSE_WAIT).
          const rip = c.v6 ? formatIp({ af: 6, words: c.v6.rip }) : c.rip;
          if (typeof rip === 'string' ? !hops6.has(rip) : !hops.has(rip)) { void resolve(rip); return false; }
          if (!adopt(c)) return false;
          if (c.v6) {
            // An IPv6 flow: its next packet decided as the client's, its flow(s) installed in flows6 again.
            Object.assign(lm, { dir: 'in', af: 6, protocol: c.proto === 17 ? 'udp' : 'tcp', saddr: { af: 6, words: c.v6.saddr }, daddr: { af: 6, words: c.v6.daddr },
              sport: c.sport, dport: c.dport, tcpFlags: c.proto === 6 ? TCP_FLAG.ACK : 0, bytes: 0, mark: 0 });
            decide(lm, la);
            t6.offer(lm, la, la.rip6 ? hops6.get(formatIp(la.rip6)) : undefined);
            lm.saddr = { af: 4, words: [0] };
            lm.daddr = { af: 4, words: [0] };
            return true;
          }
          lm.dir = 'in';
          lm.af = 4;
          lm.protocol = c.proto === 17 ? 'udp' : 'tcp';
          (lm.saddr.words as number[])[0] = c.saddr;
          (lm.daddr.words as number[])[0] = c.daddr;
          lm.sport = c.sport;
          lm.dport = c.dport;
          lm.tcpFlags = c.proto === 6 ? TCP_FLAG.ACK : 0;
          lm.bytes = 0;
          lm.mark = 0;
          decide(lm, la);
          t.offer(lm, la, hops.get(la.rip));
          return true;
        }, performance.now(), x.flows6, hops6);
      }
      drainEvents = (): void => {
        if (!x.hasEvents()) return;
        onBatch?.();
        tookAhead = false;
        x.readEvents(onEvent, ev);
        if (tookAhead) kahead?.refill();
      };
      drainFastPath = () => {
        drainEvents();
        opts.onBatch?.();
        t.sweep();
        t6.sweep();
      };
      // The 20 ms reads of the kernel's events below stop after EVENT_QUIET_READS empty ones (a
      // keep-alive load the kernel carries whole reports nothing: 50 wake-ups a second for no
      // event, the most frequent of an idle daemon's timers); the 100 ms sweep and the ring
      // buffer's wake-up read the events meanwhile, and start them again when there are some.
      let eventQuiet = 0;
      const eventTick = (): void => {
        eventTimer = null;
        let had = false;
        try {
          had = x.hasEvents();
          drainEvents();
        } catch (e) { log(`fast path: ${(e as Error).message}`); }
        eventQuiet = had ? 0 : eventQuiet + 1;
        if (eventQuiet < EVENT_QUIET_READS) armEvents();
      };
      armEvents = (): void => {
        if (eventTimer || stopping) return;
        eventTimer = setTimeout(eventTick, EVENT_READ_MS);
        eventTimer.unref();
      };
      const wakeEvents = (): void => {
        if (!x.hasEvents()) return;
        eventQuiet = 0;
        armEvents();
      };
      polls.push(watchReadable(x.eventFd, () => {
        try {
          wakeEvents();
          drainEvents();
        } catch (e) {
          log(`fast path: ${(e as Error).message}`);
        }
      }));
      // The kernel's counts reach the engine within a second (statistics, rates, timers) and before
      // every listing (settle). Its events: before each batch of ring packets (onReady), every
      // 20 ms while there are some (else every 100 ms, here), and on a wake-up when its ring
      // buffer fills up or a decision-ahead ring runs low (bpf/tsvs_fastpath.c WAKE_AT, AHEAD_LOW).
      // A tenth of the flows every 100 ms (each a map lookup): no one-second stall at 65,536 flows;
      // at least 16 (a small table is swept whole), not 256 (64 keep-alive flows were swept ten
      // times a second: 640 map lookups a second for counts wanted once a second).
      sweepTimer = setInterval(() => {
        try {
          wakeEvents();
          drainEvents();
          opts.onBatch?.();
          left?.step();
          t.sweepSome(Math.max(16, Math.ceil(t.size / 10)));
          t6.sweepSome(Math.max(16, Math.ceil(t6.size / 10)));
        } catch (e) { log(`fast path: ${(e as Error).message}`); }
      }, 100);
      sweepTimer.unref();
      armEvents();
      // The program decides (ahead) and carries only while this beats (bpf/tsvs_fastpath.c ctl).
      beatTimer = setInterval(() => x.heartbeat(), HEARTBEAT_MS);
      beatTimer.unref();
    }
    // One uv_poll per ring socket: a V2 ring is readable as soon as a frame is written; a wake-up
    // takes every frame that arrived meanwhile (ring.ts).
    const onReady = (): void => {
      try {
        // State events the kernel reported first: the engine schedules on current counts.
        drainEvents();
        fwd.pump();
      } catch (e) {
        log(`packet forwarder: ${(e as Error).message}`);
      }
    };
    for (const fd of fwd.fds) polls.push(watchReadable(fd, onReady));
  }

  // IPv6 real servers: their next hops reach the main-thread forwarder, and the workers' start.
  await Promise.all((opts.v6?.rips ?? []).map(resolve));
  const ready: Promise<void>[] = [];
  const total = n + (opts.nfqueue !== undefined ? 1 : 0);
  for (let id = 0; id < total; id++) {
    let decider: WorkerInit['decider'];
    if (opts.deciderModule) decider = { kind: 'module', path: opts.deciderModule.path, config: opts.deciderModule.config };
    else if (opts.decide) {
      const sab = createChannel();
      servers.push(serveChannel(sab, opts.decide, opts.onBatch));
      decider = { kind: 'channel', sab };
    } else throw new Error('startWorkers: decide or deciderModule is required');
    const init: WorkerInit = {
      id, ifaces: opts.ifaces, fanoutGroup, inAddrs: [...opts.inAddrs], outAddrs: [...opts.outAddrs],
      nextHops: [...hops.entries()], decider,
      v6: { inAddrs: [...addrs6.inAddrs], outAddrs: [...addrs6.outAddrs] }, nextHops6: [...hops6.entries()],
      nfqueue: id === n ? opts.nfqueue : undefined,
      flowCache: opts.flowCache ?? PACKET_DEFAULTS.flowCache,
    };
    const w = startThread('packetWorker', { workerData: init });
    perWorker.push(emptyStats());
    perWorkerDrops.push({});
    workers.push(w);
    ready.push(new Promise<void>((res, rej) => {
      w.on('message', (m: WorkerMsgOut) => {
        if (m.type === 'ready') res();
        else if (m.type === 'error') { log(`worker ${m.id}: ${m.message}`); rej(new Error(m.message)); }
        else if (m.type === 'stats') { perWorker[m.id] = m.stats; perWorkerDrops[m.id] = m.drops; }
        else if (m.type === 'missing') void resolve(m.rip);
      });
      w.on('error', (e) => { log(`worker ${id} crashed: ${e.message}`); rej(e); });
    }));
  }
  try {
    await Promise.all(ready);
  } catch (e) {
    for (const s of servers) s.stop();
    await Promise.all(workers.map((w) => w.terminate()));
    for (const p of polls) p.close();
    if (sweepTimer) clearInterval(sweepTimer);
    stopping = true;
    if (eventTimer) clearTimeout(eventTimer);
    if (beatTimer) clearInterval(beatTimer);
    kfp?.close();
    inline?.close();
    throw e;
  }
  // Next hops are looked up again every 10 s (a real server's MAC or route may change).
  const refresh = setInterval(() => { for (const rip of [...hops.keys(), ...hops6.keys()]) void resolve(rip); }, 10_000);
  refresh.unref();
  return {
    stats() {
      const t = emptyStats();
      for (const s of inline ? [...perWorker, inline.stats] : perWorker) for (const k of Object.keys(t) as (keyof ForwarderStats)[]) t[k] += s[k];
      return t;
    },
    drops() {
      const t: Record<string, number> = {};
      for (const d of inline ? [...perWorkerDrops, inline.drops.snapshot()] : perWorkerDrops) for (const [k, v] of Object.entries(d)) t[k] = (t[k] ?? 0) + v;
      return t;
    },
    settle() {
      for (const s of servers) s.drain();
      drainFastPath();
    },
    resetFastPath() {
      if (table) { drainFastPath(); table.clear(); table6?.clear(); }
    },
    fastPath() {
      return table ? {
        ...table.counters, tableBytes: table.bytesHeld(), ...(kahead ? { aheadServices: kahead.size, aheadPublished: kahead.counters.published, aheadTaken: kahead.counters.taken } : {}),
        ...(kfp ? { heartbeat: { ...kfp.bounds, ...kfp.heartbeatCounters() } } : {}),
        ...(left ? left.counters : {}),
        ...(table6 ? { ipv6: { ...table6.counters } } : {}),
      } : null;
    },
    setAddrs(inAddrs, outAddrs, rips, v6) {
      addrs6 = addrs6of(v6);
      // The rules changed: every connection's next packet goes to the engine again, and the
      // kernel's decisions ahead are redone for the services that changed.
      if (table) { drainFastPath(); table.clear(); table6?.clear(); }
      if (table6) table6.services = new Set(v6?.svcs ?? []);
      kahead?.sync();
      for (const r of v6?.rips ?? []) if (!hops6.has(r)) void resolve(r);
      broadcast({ type: 'addrs', inAddrs: [...inAddrs], outAddrs: [...outAddrs], v6: { inAddrs: [...addrs6.inAddrs], outAddrs: [...addrs6.outAddrs] } });
      // The rules changed: cached decisions must be confirmed by the engine again.
      for (const s of servers) s.invalidate();
      for (const r of rips ?? []) if (!hops.has(r)) void resolve(r);
    },
    async stop() {
      clearInterval(refresh);
      const exits = workers.map((w) => new Promise<void>((res) => {
        const t = setTimeout(() => { void w.terminate().then(() => res()); }, 2000);
        w.once('exit', () => { clearTimeout(t); res(); });
      }));
      broadcast({ type: 'stop' });
      await Promise.all(exits);
      // Whatever the workers forwarded from their caches and the engine has not seen yet.
      for (const s of servers) { s.drain(); s.stop(); }
      if (sweepTimer) clearInterval(sweepTimer);
      stopping = true;
      if (eventTimer) clearTimeout(eventTimer);
      if (beatTimer) clearInterval(beatTimer);
      kahead?.clear();
      if (table) { drainFastPath(); table.clear(); table6?.clear(); }
      for (const p of polls) p.close();
      kfp?.close();
      inline?.close();
    },
  };
}
