/**
 * The ring driver of the packet forwarder: reads frames from AF_PACKET RX rings, runs the pure
 * pipeline on each (codec parseFrame -> classify.ts -> a decision: from the flow cache of
 * flow-cache.ts, or from the engine through a decide callback or, on ring worker threads, the
 * channel of channel.ts -> decision.ts Action), rewrites with the pure forwarding step of src/codec (`forwardFrame`: NAT / DR / IPIP, TTL,
 * MTU and ICMP errors, incremental checksums) in ring memory, and sends in batches: DR frames on
 * AF_PACKET, NAT and TUN packets on a raw IP socket (the kernel routes and ARPs those).
 * Malformed packets addressed to a virtual service are dropped and counted by reason.
 */
import { formatIp } from '../../core/addr.ts';
import { PacketSocket, TxBatch, openRawIpSocket, openRawIp6Socket, openPacketTxSocket, type RxFrame } from '../../os/packet-ring.ts';
import { sys, C, check, sockaddrLl, errno } from '../../os/libc.ts';
import { createFrameMeta, parseFrame, FrameKind, DropReason, type FrameMeta } from '../../codec/frame.ts';
import { createForwardResult, forwardFrame, tunnelOverhead, SCRATCH_BYTES, type ForwardDecision, type ForwardResult } from '../../codec/forward.ts';
import { ACTION_CODE, FWD_NAMES, TUN_CSUMS, TUN_TYPES } from '../../core/types.ts';
import { PACKET_DEFAULTS } from '../../dataplane/options.ts';
import { buildIcmpErrorFrame, IcmpErrorKind } from '../../codec/icmp.ts';
import { DropCounters } from '../../codec/counters.ts';
import { IPPROTO } from '../../codec/ip.ts';
import type { NextHop } from '../../os/neigh.ts';
import { KICK_AGE_MS, type DecisionChannel } from './channel.ts';
import { newAction, type Action, type DecideBatch } from './decision.ts';
import { classify, malformedOurs, newMeta, NO_ADDRS6, type Addrs6, type PacketMeta } from './classify.ts';
import { FlowCache, flowKey, flowPeer, type FlowEntry, type FlowKey, type FlowPeer } from './flow-cache.ts';
import type { FastPathTable } from './fastpath.ts';
import type { FastPathTable6 } from './fastpath6.ts';
import { OffloadStep, TX_COPY_MAX } from './offload.ts';

/** How to reach a real server: resolved by os/neigh.ts. */
export type { NextHop };

/** Held packets per real server without a next hop, how long, and the headroom of their copies. */
const HOLD_MAX = 16;
const HOLD_MS = 3000;
const HOLD_ROOM = 64;

export interface ForwarderStats {
  rx: number;
  considered: number;
  route: number;
  masqIn: number;
  masqOut: number;
  tunnel: number;
  icmp: number;
  dropped: number;
  rejected: number;
  passed: number;
  noRoute: number;
  malformed: number;
  fragNeeded: number;
  txErrors: number;
  /** Packets taken from the NFQUEUE (firewall-mark services). */
  queued: number;
  /** Packets forwarded from a cached decision (the engine decided them afterwards, in order). */
  cached: number;
  /** Cached decisions the engine's later answer contradicted (entry dropped). */
  divergent: number;
  /** Offloads (offload.ts): partial checksums completed, GSO super-packets cut, segments made. */
  csumCompleted: number;
  gsoFrames: number;
  gsoSegments: number;
}

export function emptyStats(): ForwarderStats {
  return {
    rx: 0, considered: 0, route: 0, masqIn: 0, masqOut: 0, tunnel: 0, icmp: 0, dropped: 0, rejected: 0, passed: 0,
    noRoute: 0, malformed: 0, fragNeeded: 0, txErrors: 0, queued: 0, cached: 0, divergent: 0,
    csumCompleted: 0, gsoFrames: 0, gsoSegments: 0,
  };
}

const DUMMY_MAC = new Uint8Array(6);

/**
 * Applies decisions to frames and queues what goes out: shared by the ring path (zero copy,
 * iovecs into the ring) and the NFQUEUE path (copies).
 */
export class Egress {
  readonly stats: ForwarderStats;
  readonly drops = new DropCounters();
  readonly rawTx: TxBatch;
  readonly llTx: TxBatch;
  nextHops: Map<number, NextHop>;
  /** IPv6 real servers' next hops, by canonical address text. */
  readonly nextHops6 = new Map<string, NextHop>();
  private readonly missing = new Set<number | string>();
  /**
   * Packets whose real server had no next hop yet (the first SYN after `-a`, before ARP/NDP
   * answered): copies held per real server and sent when its next hop arrives, as the kernel's
   * neighbour layer queues packets while it resolves (the engine already counted them as
   * forwarded). At most HOLD_MAX per real server, for HOLD_MS.
   */
  private readonly held = new Map<number | string, { since: number; items: { frame: Uint8Array; len: number; a: Action }[] }>();
  /** Raw AF_INET6 socket for IPv6 NAT/TUN sends and ICMPv6 errors (opened on first use). */
  private raw6: TxBatch | null = null;
  private readonly name6 = Buffer.alloc(28);
  /** sockaddr_ll per next hop (DR sends). */
  private readonly llNames = new WeakMap<NextHop, Buffer>();
  private readonly nameIn = Buffer.alloc(16);
  private readonly d: ForwardDecision;
  private readonly res: ForwardResult = createForwardResult();
  private readonly scratch = new Uint8Array(SCRATCH_BYTES);
  private readonly tunBuf = new Uint8Array(SCRATCH_BYTES + 64);
  private readonly rip: { af: 4; words: number[] } = { af: 4, words: [0] };
  private readonly vip: { af: 4; words: number[] } = { af: 4, words: [0] };
  private readonly tsrc: { af: 4; words: number[] } = { af: 4, words: [0] };

  constructor(rawFd: number, llFd: number, stats: ForwarderStats, nextHops: Map<number, NextHop>, private readonly onMissingHop?: (rip: number | string) => void) {
    this.stats = stats;
    this.rawTx = new TxBatch(rawFd);
    this.llTx = new TxBatch(llFd);
    this.nextHops = nextHops;
    this.nameIn.writeUInt16LE(C.AF_INET, 0);
    this.name6.writeUInt16LE(C.AF_INET6, 0);
    this.d = { method: 'masq', dir: 'in', rip: this.rip, rport: 0, vip: this.vip, vport: 0, srcMac: DUMMY_MAC, dstMac: DUMMY_MAC, tunnelSrc: null, mtu: 0 };
  }

  setNextHop(rip: number | string, hop: NextHop): void {
    if (typeof rip === 'string') this.nextHops6.set(rip, hop);
    else this.nextHops.set(rip, hop);
    this.missing.delete(rip);
    const h = this.held.get(rip);
    if (!h) return;
    this.held.delete(rip);
    const m = createFrameMeta();
    for (const it of h.items) {
      parseFrame(it.frame, HOLD_ROOM, it.len, m);
      if (m.reason === 0) this.apply(it.frame, m, it.a, null, 0n, HOLD_ROOM);
    }
    this.flush();
  }

  /** Keeps a copy of a packet whose real server has no next hop yet; false when over the limit. */
  private hold(rip: number | string, buf: Uint8Array, m: FrameMeta, a: Action): boolean {
    const now = performance.now();
    let h = this.held.get(rip);
    if (h && now - h.since > HOLD_MS) h = undefined;
    if (!h) this.held.set(rip, h = { since: now, items: [] });
    if (h.items.length >= HOLD_MAX) return false;
    const frame = new Uint8Array(HOLD_ROOM + m.len);
    frame.set(buf.subarray(m.off, m.off + m.len), HOLD_ROOM);
    h.items.push({ frame, len: m.len, a: { ...a } });
    return true;
  }

  private hop(rip: number | string): NextHop | undefined {
    const h = typeof rip === 'string' ? this.nextHops6.get(rip) : this.nextHops.get(rip);
    if (!h && !this.missing.has(rip)) {
      this.missing.add(rip);
      this.onMissingHop?.(rip);
    }
    return h;
  }

  private queueRaw(buf: Uint8Array, off: number, len: number, dst: number, ringBuf: Uint8Array | null, ringAddr: bigint): void {
    this.nameIn.writeUInt32BE(dst >>> 0, 4);
    if (buf === ringBuf) this.rawTx.addRef(ringAddr + BigInt(off), len, this.nameIn);
    else this.rawTx.addCopy(buf.subarray(off, off + len), this.nameIn);
  }

  private tx6(): TxBatch {
    return this.raw6 ??= new TxBatch(openRawIp6Socket());
  }

  /** Queues the IPv6 packet buf[off, off+len) to its destination (the header's) on the raw IPv6 socket. */
  private queueRaw6(buf: Uint8Array, off: number, len: number, ringBuf: Uint8Array | null, ringAddr: bigint): void {
    this.name6.set(buf.subarray(off + 24, off + 40), 8);
    const tx = this.tx6();
    if (buf === ringBuf) tx.addRef(ringAddr + BigInt(off), len, this.name6);
    else tx.addCopy(buf.subarray(off, off + len), this.name6);
  }

  /** An ICMP error frame built in scratch (REPLY): its IP packet goes back to the sender. */
  private sendReply(len: number): void {
    const s = this.scratch;
    const l3 = (s[12] === 0x81 && s[13] === 0x00) ? 18 : 14;
    if (s[l3]! >> 4 === 6) {
      this.queueRaw6(s, l3, len - l3, null, 0n);
      return;
    }
    const dst = ((s[l3 + 16]! << 24) | (s[l3 + 17]! << 16) | (s[l3 + 18]! << 8) | s[l3 + 19]!) >>> 0;
    this.nameIn.writeUInt32BE(dst, 4);
    this.rawTx.addCopy(s.subarray(l3, len), this.nameIn);
  }

  /**
   * Applies `a` to the frame `buf[m.off .. m.off+m.len)` parsed into `m`. `ringBuf`/`ringAddr`:
   * the ring the frame lives in (sends then point into it), or null to send copies.
   * `headroom`: writable bytes before m.off (an in-place IPIP header needs 20).
   */
  apply(buf: Uint8Array, m: FrameMeta, a: Action, ringBuf: Uint8Array | null, ringAddr: bigint, headroom: number): void {
    const st = this.stats;
    switch (a.kind) {
      case ACTION_CODE.pass: st.passed++; return;
      case ACTION_CODE.drop: st.dropped++; return;
      case ACTION_CODE.reject: {
        // No destination available: ICMP port unreachable from the VIP, as ip_vs_leave does.
        const n = buildIcmpErrorFrame(this.scratch, 0, buf, m, IcmpErrorKind.PORT_UNREACH);
        this.sendReply(n);
        st.rejected++;
        return;
      }
    }
    const d = this.d;
    const method = FWD_NAMES[a.method] ?? 'masq';
    d.method = method;
    d.dir = a.dir;
    // The real server's family is the outgoing one (a mixed-family tunnel's outer header).
    const v6 = a.rip6 !== null;
    if (v6) d.rip = a.rip6!;
    else {
      this.rip.words[0] = a.rip >>> 0;
      d.rip = this.rip;
    }
    if (a.vip6) d.vip = a.vip6;
    else {
      this.vip.words[0] = a.vip >>> 0;
      d.vip = this.vip;
    }
    d.rport = a.rport;
    d.vport = a.vport;
    let hop: NextHop | undefined;
    if (method !== 'masq') {
      const key = v6 ? formatIp(a.rip6!) : a.rip;
      hop = this.hop(key);
      if (!hop) {
        if (!this.hold(key, buf, m, a)) st.noRoute++;
        return;
      }
      if (v6 && method === 'tunnel' && !hop.src6) { st.noRoute++; return; }
      d.srcMac = hop.srcMac;
      d.dstMac = hop.mac;
      d.mtu = hop.mtu;
      this.tsrc.words[0] = hop.src >>> 0;
      d.tunnelSrc = method === 'tunnel' ? (v6 ? hop.src6! : this.tsrc) : null;
      d.tunType = TUN_TYPES[a.tun] ?? 'ipip';
      d.tunPort = a.tunPort;
      d.tunCsum = TUN_CSUMS[a.tunCsum] ?? 'nocsum';
    } else {
      d.srcMac = DUMMY_MAC;
      d.dstMac = DUMMY_MAC;
      d.mtu = 0;
      d.tunnelSrc = null;
    }
    let fb = buf;
    if (method === 'tunnel' && headroom < tunnelOverhead(v6 ? 6 : 4, d.tunType, d.tunCsum)) {
      // forwardFrame builds the outer headers in place, before the frame: make room in a copy.
      const tb = this.tunBuf;
      tb.set(buf.subarray(m.off, m.off + m.len), 64);
      parseFrame(tb, 64, m.len, m);
      fb = tb;
    }
    const v = forwardFrame(fb, m.off, m.len, m, d, this.res, this.scratch, this.drops);
    const r = this.res;
    if (v === ACTION_CODE.forward) {
      const eth = m.l3Off - m.off;
      // Related ICMP / ICMPv6 errors are counted as such, whatever the method.
      const icmp = m.protocol === IPPROTO.ICMP || m.protocol === IPPROTO.ICMPV6;
      if (icmp) st.icmp++;
      if (method === 'route') {
        const bufIsRing = r.buf === ringBuf;
        let name = this.llNames.get(hop!);
        if (!name) this.llNames.set(hop!, name = sockaddrLl(hop!.ifindex, v6 ? C.ETH_P_IPV6 : C.ETH_P_IP, hop!.mac));
        if (bufIsRing) this.llTx.addRef(ringAddr + BigInt(r.off), r.len, name);
        else this.llTx.addCopy(r.buf.subarray(r.off, r.off + r.len), name);
        if (!icmp) st.route++;
      } else {
        // NAT and TUN go out on a raw IP socket, to the packet's (outer) destination.
        const ip = r.off + eth, len = r.len - eth;
        if (v6) this.queueRaw6(r.buf, ip, len, ringBuf, ringAddr);
        else {
          const dst = method === 'tunnel' || a.dir === 'in' ? a.rip : ((r.buf[ip + 16]! << 24) | (r.buf[ip + 17]! << 16) | (r.buf[ip + 18]! << 8) | r.buf[ip + 19]!) >>> 0;
          this.queueRaw(r.buf, ip, len, dst, ringBuf, ringAddr);
        }
        if (!icmp) {
          if (method === 'tunnel') st.tunnel++;
          else if (a.dir === 'in') st.masqIn++;
          else st.masqOut++;
        }
      }
    } else if (v === ACTION_CODE.reject) {
      this.sendReply(r.len);
      if (r.reason === DropReason.TOO_BIG) st.fragNeeded++;
      else st.dropped++;
    } else {
      st.dropped++;
    }
  }

  flush(): void {
    const r6 = this.raw6;
    const e0 = this.rawTx.errors + this.llTx.errors + (r6 ? r6.errors : 0);
    this.rawTx.flush();
    this.llTx.flush();
    if (r6 && r6.count > 0) r6.flush();
    this.stats.txErrors += this.rawTx.errors + this.llTx.errors + (r6 ? r6.errors : 0) - e0;
  }

  close(): void {
    this.rawTx.close();
    this.llTx.close();
    if (this.raw6) {
      sys.close(this.raw6.fd);
      this.raw6.close();
    }
  }
}

export interface PacketForwarderOptions {
  /** Interfaces to capture on (the director's client-facing one, and for NAT the real-server side). */
  readonly ifaces: readonly string[];
  /** Fanout group base: socket on ifaces[i] joins group base+i (shared by every worker). */
  readonly fanoutGroup?: number;
  readonly decide?: DecideBatch;
  /** Addresses whose inbound packets are offered to decide (the VIPs). */
  readonly inAddrs: Iterable<number>;
  /** Source addresses whose packets are offered as replies (NAT real servers). */
  readonly outAddrs: Iterable<number>;
  readonly nextHops?: Map<number, NextHop>;
  /** Called (at most once per address until set) when a real server has no next hop yet (IPv6: its text). */
  readonly onMissingHop?: (rip: number | string) => void;
  readonly blockTimeoutMs?: number;
  /**
   * Also capture IPv6 (an ETH_P_IPV6 ring per interface, fanout group base+0x100+i) and forward
   * for these IPv6 VIPs / NAT real servers (key6 strings). With `channel` (ring workers) IPv6
   * flows are cached as IPv4 ones are (flow-cache.ts; keys are text).
   */
  readonly ipv6?: Addrs6;
  /**
   * The engine's ring (channel.ts) instead of `decide`: packets of connections whose decision is
   * cached are forwarded at once and handed to the engine asynchronously (in order).
   */
  readonly channel?: DecisionChannel;
  /**
   * The kernel fast path's table (main-thread path): every decision is offered to it after the
   * packet went out, so that it installs, refreshes or removes the connection's kernel entry.
   */
  readonly fastPath?: FastPathTable;
  /** The kernel fast path's IPv6 table (fastpath6.ts), offered the IPv6 decisions likewise. */
  readonly fastPath6?: FastPathTable6;
  /**
   * With `channel`: forward the packets of a connection whose decision is cached at once (default
   * on; tsvs daemon --flow-cache off: every packet waits for the engine's answer). Counters stay
   * exact with it on: the engine decides the cached packets in order within ~2 ms, and at once
   * when the daemon settles the channels before a command (-Z).
   */
  readonly flowCache?: boolean;
}

interface Pending {
  m: FrameMeta;
  /** The frame's buffer: the ring, a long frame's copy or a segment (offload.ts). */
  buf: Uint8Array;
  headroom: number;
  sock: number;
  /** Sequence number in the channel (fast path), or -1. */
  seq: number;
  /** Flow key, cache map and the other side of the packet (fast path). */
  key: FlowKey;
  out: boolean;
  peer: FlowPeer;
}

export class PacketForwarder {
  readonly stats: ForwarderStats = emptyStats();
  private readonly socks: PacketSocket[] = [];
  private readonly rawFd: number;
  /** AF_PACKET socket for DR sends (the ring sockets carry virtio-net headers). */
  private readonly llFd: number;
  private readonly offload: OffloadStep;
  readonly egress: Egress;
  private readonly pfds: Buffer;
  private inAddrs: Set<number>;
  private outAddrs: Set<number>;
  private addrs6: Addrs6 = NO_ADDRS6;
  private readonly decide: DecideBatch | null;
  private readonly chan: DecisionChannel | null;
  private readonly fastPath: FastPathTable | null;
  private readonly fastPath6: FastPathTable6 | null;
  private readonly pending: Pending[] = [];
  private readonly pool: Pending[] = [];
  private readonly metaPool: PacketMeta[] = [];
  private readonly metas: PacketMeta[] = [];
  private readonly actions: Action[] = [];
  private readonly meta = newMeta();
  private cur = 0;
  private nowMs = 0;
  private gen = 0;
  /** Cached decisions per connection direction (flow-cache.ts; the flowCache option). */
  private readonly flows: FlowCache;
  /** The cache entry each async record of the channel was forwarded with (by slot). */
  private readonly used: (FlowEntry | null)[];
  private readonly onFrameFn: (f: RxFrame) => void;
  private readonly flushFn: () => void;
  private readonly onAnsweredFn: (seq: number, a: Action) => void;

  constructor(opts: PacketForwarderOptions) {
    this.decide = opts.decide ?? null;
    this.chan = opts.channel ?? null;
    this.fastPath = opts.fastPath ?? null;
    this.fastPath6 = opts.fastPath6 ?? null;
    this.flows = new FlowCache(opts.flowCache ?? PACKET_DEFAULTS.flowCache);
    if (!this.decide && !this.chan) throw new Error('PacketForwarder: decide or channel is required');
    this.used = new Array<FlowEntry | null>(this.chan ? this.chan.cap : 0).fill(null);
    this.inAddrs = new Set(opts.inAddrs);
    this.outAddrs = new Set(opts.outAddrs);
    try {
      opts.ifaces.forEach((ifname, i) => {
        this.socks.push(new PacketSocket({
          ifname,
          fanoutGroup: opts.fanoutGroup === undefined ? undefined : opts.fanoutGroup + i,
          blockTimeoutMs: opts.blockTimeoutMs ?? 1,
        }));
      });
      if (opts.ipv6) {
        opts.ifaces.forEach((ifname, i) => {
          this.socks.push(new PacketSocket({
            ifname,
            protocol: C.ETH_P_IPV6,
            fanoutGroup: opts.fanoutGroup === undefined ? undefined : opts.fanoutGroup + 0x100 + i,
            blockTimeoutMs: opts.blockTimeoutMs ?? 1,
          }));
        });
        this.addrs6 = opts.ipv6;
      }
      this.rawFd = openRawIpSocket();
    } catch (e) {
      for (const s of this.socks) s.close();
      throw e;
    }
    this.llFd = openPacketTxSocket();
    this.egress = new Egress(this.rawFd, this.llFd, this.stats, opts.nextHops ?? new Map(), opts.onMissingHop);
    this.offload = new OffloadStep(this.stats, this.egress.drops, (b, off, len, room) => this.onFrame(b, off, len, room, -1, len));
    this.pfds = Buffer.alloc(8 * this.socks.length);
    this.socks.forEach((s, i) => {
      this.pfds.writeInt32LE(s.fd, i * 8);
      this.pfds.writeInt16LE(C.POLLIN, i * 8 + 4);
    });
    this.onFrameFn = (f) => {
      this.stats.rx++;
      this.onFrame(f.buf, f.mac, f.len, f.headroom, f.vnet, f.wireLen);
    };
    this.flushFn = () => this.flushDecisions();
    this.onAnsweredFn = (seq, a) => this.onAnswered(seq, a);
  }

  get drops(): DropCounters {
    return this.egress.drops;
  }

  setAddrs(inAddrs: Iterable<number>, outAddrs: Iterable<number>, addrs6?: Addrs6): void {
    this.inAddrs = new Set(inAddrs);
    this.outAddrs = new Set(outAddrs);
    if (addrs6 && this.addrs6 !== NO_ADDRS6) this.addrs6 = addrs6;
    this.flows.clear();
  }

  setNextHop(rip: number | string, hop: NextHop): void {
    this.egress.setNextHop(rip, hop);
  }

  /**
   * Polls every socket up to timeoutMs (less while records wait for the engine), then processes
   * all ready blocks. Returns frames seen.
   */
  pollOnce(timeoutMs: number): number {
    let total = 0;
    this.nowMs = performance.now();
    for (let i = 0; i < this.socks.length; i++) total += this.drain(i);
    if (total === 0) {
      let t = timeoutMs;
      // About to sleep with records the engine has not decided: wake it when the oldest is
      // KICK_AGE_MS old (or now, if it is), not at once: a SYN coming meanwhile carries them.
      if (this.chan) {
        const due = this.chan.kickDue(this.nowMs);
        if (due >= 0) t = Math.min(t, due === 0 ? KICK_AGE_MS : Math.ceil(due));
      }
      for (let i = 0; i < this.socks.length; i++) this.pfds.writeInt16LE(0, i * 8 + 6);
      const r = sys.poll(this.pfds, this.socks.length, t) as number;
      if (r < 0 && errno() !== C.EINTR) check('poll', r);
      this.nowMs = performance.now();
      for (let i = 0; i < this.socks.length; i++) total += this.drain(i);
    }
    if (this.chan) this.chan.maybeKick(this.nowMs);
    return total;
  }

  /** The ring sockets' descriptors (to watch for readiness on an event loop). */
  get fds(): number[] {
    return this.socks.map((s) => s.fd);
  }

  /**
   * Processes ready frames of every socket without blocking (a readiness callback on an event
   * loop: the main-thread forwarder, host.ts), at most about `budget` per socket so that a flood
   * cannot starve the loop's timers (VRRP adverts, health checks, the control socket): the
   * level-triggered readiness calls again on the next turn. Returns frames seen.
   */
  pump(budget = 2048): number {
    let total = 0;
    this.nowMs = performance.now();
    for (let i = 0; i < this.socks.length; i++) total += this.drain(i, budget);
    if (this.chan) this.chan.maybeKick(this.nowMs);
    return total;
  }

  private drain(si: number, budget = Infinity): number {
    const s = this.socks[si]!;
    let n = 0;
    let k: number;
    this.cur = si;
    if (this.chan) {
      const g = this.chan.generation();
      if (g !== this.gen) {
        this.gen = g;
        this.flows.clear();
      }
    }
    do {
      k = s.readBlock(this.onFrameFn, this.flushFn);
      n += k;
    } while (k > 0 && n < budget);
    return n;
  }

  private takePending(): Pending {
    const idx = this.pending.length;
    let pe = this.pool[idx];
    if (!pe) {
      pe = { m: createFrameMeta(), buf: this.socks[0]!.ringBytes, headroom: 0, sock: 0, seq: -1, key: 0, out: false, peer: 0 };
      this.pool.push(pe);
      this.metaPool.push(newMeta());
      this.actions.push(newAction());
    }
    return pe;
  }

  /**
   * One frame (from the ring, a long frame's copy, or a GSO segment with `vnet` -1): `vnet` is the
   * offset of its virtio-net header, `wireLen` its length on the wire (more than `len`: cut short).
   */
  private onFrame(buf: Uint8Array, mac: number, len: number, headroom: number, vnet: number, wireLen: number): void {
    const pe = this.takePending();
    const m = parseFrame(buf, mac, len, pe.m);
    if (wireLen > len) m.reason = DropReason.GIANT;
    if (m.reason !== 0) {
      // Ours but malformed: dropped (the kernel's copy dies in the nft table) and counted.
      if (m.kind === FrameKind.IP && malformedOurs(buf, m, this.inAddrs, this.outAddrs)) {
        this.stats.malformed++;
        this.egress.drops.count(m.reason);
      }
      return;
    }
    const chan = this.chan;
    const meta = chan ? this.meta : this.metaPool[this.pending.length]!;
    if (!classify(m, this.inAddrs, this.outAddrs, meta, this.addrs6)) return;
    // Partial checksum completed in place; a super-packet comes back as its segments (offload.ts).
    if (vnet >= 0 && ((buf[vnet]! | buf[vnet + 1]!) !== 0 || len > TX_COPY_MAX) && this.offload.take(buf, m, vnet)) return;
    this.stats.considered++;
    pe.buf = buf;
    pe.headroom = headroom;
    pe.sock = this.cur;
    if (!chan) {
      pe.seq = -1;
      this.pending.push(pe);
      this.metas.push(meta);
      return;
    }
    // Flow cache: a flow whose decision is cached is forwarded now; the engine gets the record.
    // Otherwise (none, a SYN, expired, colliding) the engine answers first, and the flow's later
    // packets of this block wait behind that answer.
    const key = flowKey(meta, m.protocol);
    const e = this.flows.take(meta, m.protocol, key, this.nowMs);
    if (e !== undefined) {
      const seq = chan.push(meta, false, this.nowMs, this.onAnsweredFn);
      this.used[seq & (chan.cap - 1)] = e;
      this.stats.cached++;
      const s = this.socks[this.cur]!;
      this.egress.apply(buf, m, e, s.ringBytes, s.ringAddress, headroom);
      return;
    }
    pe.seq = chan.push(meta, true, this.nowMs, this.onAnsweredFn);
    this.used[pe.seq & (chan.cap - 1)] = null;
    pe.key = key;
    pe.out = meta.dir === 'out';
    pe.peer = key === -1 ? 0 : flowPeer(meta);
    this.pending.push(pe);
  }

  /** The engine's answer to a packet the worker forwarded from the cache: drop the entry if they differ. */
  private onAnswered(seq: number, a: Action): void {
    const i = seq & (this.chan!.cap - 1);
    const e = this.used[i];
    if (!e) return;
    this.used[i] = null;
    if (!this.flows.confirm(e, a)) this.stats.divergent++;
  }

  private cacheAnswer(pe: Pending, a: Action): void {
    const m = pe.m;
    this.flows.remember(pe.key, pe.out, m.protocol, pe.peer, pe.out ? m.sport : m.dport, a, this.nowMs);
  }

  private flushDecisions(): void {
    const n = this.pending.length;
    const chan = this.chan;
    if (n > 0) {
      const acts = this.actions;
      if (chan) {
        // What was forwarded from the cache goes out before we wait for the engine.
        this.egress.flush();
        const ok = chan.waitAnswers();
        for (let i = 0; i < n; i++) {
          const a = acts[i]!;
          if (ok) chan.answer(this.pending[i]!.seq, a);
          else { a.kind = ACTION_CODE.drop; a.conn = -1; }
        }
      } else {
        try {
          this.decide!(this.metas, acts);
        } catch {
          for (let i = 0; i < n; i++) acts[i]!.kind = ACTION_CODE.drop;
        }
      }
      const fp = this.fastPath;
      if (fp) {
        // Before the packets go out: the answer to one (a SYN's SYN-ACK, then the client's ACK)
        // may reach the kernel before this batch is done, and must find the flow installed.
        const hops = this.egress.nextHops, fp6 = this.fastPath6;
        for (let i = 0; i < n; i++) {
          const a = acts[i]!, m = this.metas[i]!;
          if (m.af === 6) {
            if (fp6 && (a.fast !== 0 || fp6.size > 0)) fp6.offer(m, a, a.rip6 ? this.egress.nextHops6.get(formatIp(a.rip6)) : undefined);
          } else if (a.fast !== 0 || fp.size > 0) fp.offer(m, a, hops.get(a.rip));
        }
      }
      for (let i = 0; i < n; i++) {
        const pe = this.pending[i]!;
        const s = this.socks[pe.sock]!;
        if (chan) this.cacheAnswer(pe, acts[i]!);
        this.egress.apply(pe.buf, pe.m, acts[i]!, s.ringBytes, s.ringAddress, pe.headroom);
      }
      this.pending.length = 0;
      this.metas.length = 0;
    }
    if (chan) chan.scan(this.onAnsweredFn);
    this.egress.flush();
    this.offload.reset();
  }

  close(): void {
    this.egress.close();
    sys.close(this.rawFd);
    sys.close(this.llFd);
    for (const s of this.socks) s.close();
  }
}
