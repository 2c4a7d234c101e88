/**
 * The kernel fast path's table (user-space side): which connections the XDP program
 * (bpf/tsvs_fastpath.c) forwards by itself, kept in step with the engine's decisions.
 *
 * After the engine decides a packet of a direct-routing IPv4 connection, `offer` installs the
 * connection's flow in the kernel map (SYN_RECV: with "report the first ACK"; ESTABLISHED, UDP),
 * and removes it when the engine says the connection left those states or went elsewhere. The
 * kernel then forwards the flow's packets itself: those that change no state are only counted in
 * the map entry, and `sweep` hands the counts to the engine (statistics, timer); those that do
 * (FIN, RST, the handshake's ACK) come back as events, which the engine decides like packets
 * (they were already forwarded) and which are offered again. No state is decided in the kernel.
 *
 * NAT connections (tc only) take two entries: the client's direction (destination rewritten to the
 * real server) and the replies' (source rewritten to the virtual service, sent toward the client's
 * next hop, `clientHop`: installed once that is known). Established ones only: the handshake and
 * every state change stay the engine's, from either direction (a reply's FIN comes back as an event
 * too, counted as OutPkts). Their close is carried in the kernel: a FIN is forwarded and recorded
 * in both entries, as the first ACK is (FLOW_FIN), and the engine decides it when user space next
 * reads them (a sweep, a listing: `-L -c` shows the state a kernel IPVS would) or from the report
 * of the last ACK (or a RST), which ends both entries: one report (FLOW_EV.END) with both entries'
 * last counters and the FINs in the order they came. No packet of the close crosses user space,
 * and no system call is made for it.
 *
 * The kernel map sits behind `FlowMap` (src/os/flow-map.ts; os/bpf.ts: the BPF hash map;
 * MemoryFlowMap: a fake with the program's lookup, for tests). Layouts match bpf/tsvs_fastpath.c.
 */
import type { NextHop } from '../../os/neigh.ts';
import { FAST, type Action } from './decision.ts';
import type { PacketMeta } from './classify.ts';
import { TCP_FLAG } from '../../core/proto.ts';
import { FLOW_ACK, FLOW_EV, FLOW_FIN, FLOW_NAT, FLOW_VAL as V, KEY_BYTES, VAL_BYTES, writeFlowKey, writeHopValue, type FlowEnd, type FlowMap } from '../../os/flow-map.ts';
import { FlowSlab, SF } from './flow-slab.ts';
import { ACTION_CODE, FWD_CODE, TUN_CODE } from '../../core/types.ts';

/**
 * The program's tunnel kind for a tunnel action handed to it (IPIP; GRE stays in user space, see
 * kernelTunnel in src/dataplane/ahead.ts), else 0.
 */
export function kernelTun(a: Action): number {
  return a.method === FWD_CODE.tunnel && a.tun === TUN_CODE.ipip ? FLOW_NAT.TUN_IPIP : 0;
}

/** Action.fast (decision.ts): whether the engine's decision may be carried out by the kernel. */
export { FAST };

/** Counts packets the kernel forwarded for connection `conn` (Engine.countForwarded; `out`: NAT replies). */
export type CountForwarded = (conn: number, pkts: number, bytes: number, out: boolean) => boolean;
/**
 * Has the engine decide a packet the kernel forwarded and recorded instead of reporting it (a first
 * ACK, a NAT FIN; `out`: the real server's, as it sent it), and offers the verdict back when `offer`.
 */
export type RecordedDecide = (saddr: number, daddr: number, sport: number, dport: number, proto: number, flags: number, len: number, out: boolean, offer: boolean) => void;
/** The next hop toward a client (NAT replies), or undefined while unknown (the caller starts resolving it). */
export type ClientHop = (client: number) => NextHop | undefined;

export interface FastPathCounters {
  /** Flows in the kernel map now. */
  flows: number;
  installed: number;
  removed: number;
  /** Installs refused because the kernel map was full. */
  full: number;
  /** Flows the kernel's LRU map evicted to make room (their packets come to user space again). */
  evicted: number;
  /** State-changing packets the kernel forwarded that the engine decided (reported, or recorded in the entry and read). */
  events: number;
  /** Reports read from the kernel (a NAT connection's FINs ride on the report that ends it). */
  reports: number;
  /** Packets the kernel forwarded and counted (handed to the engine). */
  forwarded: number;
  /** Of `events` and `forwarded`: NAT replies (the engine's OutPkts). */
  eventsOut: number;
  forwardedOut: number;
}

const PROTO_NUM: Record<string, number> = { tcp: 6, udp: 17 };

export class FastPathTable {
  /** The installed flows, by client address and port (the full tuple is checked on every use). */
  private readonly slab = new FlowSlab();
  private readonly val = new Uint8Array(VAL_BYTES);
  private readonly valView = new DataView(this.val.buffer);
  /** The key of the flow at hand (written from a slot's fields before each map call). */
  private readonly key = new Uint8Array(KEY_BYTES);
  readonly counters: FastPathCounters = { flows: 0, installed: 0, removed: 0, full: 0, evicted: 0, events: 0, reports: 0, forwarded: 0, eventsOut: 0, forwardedOut: 0 };

  /**
   * `ifindexes`: where the program is attached; a next hop elsewhere keeps its flows in user space.
   * `clientHop`: next hops toward clients, for NAT replies (without it NAT stays in user space).
   * `tunnels`: the program encapsulates (tc): tunnel connections it can build go to the kernel too.
   */
  constructor(private readonly map: FlowMap, private readonly count: CountForwarded, private readonly ifindexes: ReadonlySet<number>, private readonly clientHop?: ClientHop, private readonly tunnels = false) {}

  get size(): number {
    return this.slab.used;
  }

  /** Bytes the table's arrays hold now (the per-flow figure: SLOT_BYTES). */
  bytesHeld(): number {
    return this.slab.bytesHeld();
  }

  /** The client's direction's key of slot s, in `this.key`. */
  private keyIn(s: number): Uint8Array {
    const t = this.slab;
    writeFlowKey(this.key, t.saddr[s]!, t.daddr[s]!, t.sport[s]!, t.dport[s]!, t.proto[s]!);
    return this.key;
  }

  /** The replies' key of slot s (NAT), in `this.key`. */
  private keyOut(s: number): Uint8Array {
    const t = this.slab;
    writeFlowKey(this.key, t.rip[s]!, t.saddr[s]!, t.rport[s]!, t.sport[s]!, t.proto[s]!);
    return this.key;
  }

  /**
   * After the engine decided `m` (an 'in' packet user space forwarded, or a kernel event): keep the
   * kernel's entry for its connection in step. `hop`: the next hop of `a.rip` (DR).
   */
  offer(m: PacketMeta, a: Action, hop: NextHop | undefined): void {
    if (m.af !== 4) return;
    if (m.dir !== 'in') {
      this.offerReply(m, a);
      return;
    }
    const t = this.slab;
    const saddr = m.saddr.words[0]! >>> 0, sport = m.sport;
    let e = t.find(saddr, sport);
    const proto = PROTO_NUM[m.protocol] ?? 0;
    const daddr = m.daddr.words[0]! >>> 0;
    if (e >= 0 && (t.daddr[e] !== daddr || t.dport[e] !== m.dport || t.proto[e] !== proto)) {
      // Another flow with the same client address and port: only one is kept.
      if (a.fast === FAST.NO) return;
      this.remove(e);
      e = -1;
    }
    const nat = a.method === FWD_CODE.masq;
    if (a.fast === FAST.CLOSING) {
      // The kernel carries this connection's close if it carried its first FIN: its entries stay;
      // one closing in user space is never installed.
      if (e >= 0 && !(nat && a.kind === ACTION_CODE.forward && t.conn[e] === a.conn && (t.flags[e]! & SF.NAT))) this.remove(e);
      return;
    }
    const tun = this.tunnels ? kernelTun(a) : 0;
    const ok = a.kind === ACTION_CODE.forward && (a.method === FWD_CODE.route || (tun !== 0 && hop !== undefined && hop.src !== 0) || (nat && a.fast === FAST.YES && this.clientHop !== undefined)) && a.conn >= 0 &&
      a.fast !== FAST.NO && hop !== undefined && this.ifindexes.has(hop.ifindex);
    if (!ok) {
      if (e >= 0) this.remove(e);
      return;
    }
    const needAck = a.fast === FAST.NEED_ACK;
    if (e >= 0 && t.conn[e] === a.conn && ((t.flags[e]! & SF.NEED_ACK) !== 0) === needAck && t.hopOf(e) === hop && ((t.flags[e]! & SF.NAT) !== 0) === nat && t.tun[e] === tun) {
      if (nat) this.installReply(e);
      return;
    }
    if (e >= 0 && (((t.flags[e]! & SF.NAT) !== 0) !== nat || t.conn[e] !== a.conn)) {
      // Another forwarding method, or the engine made a new connection for this tuple: settle
      // the old one's counts first.
      this.remove(e);
      e = -1;
    }
    const v = this.val, dv = this.valView;
    writeHopValue(v, dv, hop);
    v[V.NEED_ACK] = needAck ? 1 : 0;
    if (nat) {
      v[V.NAT] = FLOW_NAT.DST;
      dv.setUint32(V.NADDR, a.rip >>> 0, false);
      dv.setUint16(V.NPORT, a.rport, false);
    } else if (tun) {
      v[V.NAT] = tun;
      dv.setUint32(V.NADDR, a.rip >>> 0, false);
      dv.setUint32(V.TSRC, hop.src >>> 0, false);
    }
    let key: Uint8Array;
    if (e >= 0) key = this.keyIn(e);
    else {
      key = this.key;
      writeFlowKey(key, saddr, daddr, sport, m.dport, proto);
    }
    // Replacing the value resets the kernel's counters: hand them over first. The FINs the kernel
    // saw stay (its close goes on; a killed daemon's entry taken over is replaced here too).
    if (this.map.get(key, this.scratch)) {
      if (e >= 0) this.harvest(e);
      keepFin(v, this.scratch);
    }
    if (!this.map.put(key, v)) {
      this.counters.full++;
      if (e >= 0) this.remove(e);
      return;
    }
    if (e < 0) {
      e = t.add(saddr, daddr, sport, m.dport, proto, a.conn, hop);
      if (nat) {
        t.flags[e]! |= SF.NAT;
        t.rip[e] = a.rip >>> 0;
        t.rport[e] = a.rport;
        t.vip[e] = a.vip >>> 0;
        t.vport[e] = a.vport;
      }
      this.counters.installed++;
      this.counters.flows = this.size;
    } else {
      t.conn[e] = a.conn;
      t.setHop(e, hop);
    }
    if (needAck) t.flags[e]! |= SF.NEED_ACK;
    else t.flags[e]! &= ~SF.NEED_ACK;
    t.flags[e]! &= ~SF.MISSING;
    t.tun[e] = tun;
    t.pkts[e] = 0;
    t.bytes[e] = 0;
    if (nat) this.installReply(e);
  }

  /** NAT: the replies' entry (real server -> client, source rewritten), once the client's next hop is known. */
  private installReply(e: number): void {
    const t = this.slab;
    if (t.flags[e]! & SF.OUT) return;
    const hop = this.clientHop?.(t.saddr[e]!);
    if (!hop || !this.ifindexes.has(hop.ifindex)) {
      // A killed daemon's replies' entry the kernel still carries (adopt.ts): ours from now on,
      // counted from what it holds (its close's reports must be known as the replies').
      if (this.clientHop && this.map.get(this.keyOut(e), this.scratch) && this.scratch[V.NAT] === FLOW_NAT.SRC) {
        t.flags[e]! |= SF.OUT;
        t.outPkts[e] = Number(this.scratchView.getBigUint64(V.PKTS, true));
        t.outBytes[e] = Number(this.scratchView.getBigUint64(V.BYTES, true));
      }
      return;
    }
    const v = this.val, dv = this.valView;
    writeHopValue(v, dv, hop);
    if (this.map.get(this.keyOut(e), this.scratch)) keepFin(v, this.scratch);
    v[V.NAT] = FLOW_NAT.SRC;
    dv.setUint32(V.NADDR, t.vip[e]!, false);
    dv.setUint16(V.NPORT, t.vport[e]!, false);
    if (!this.map.put(this.keyOut(e), v)) {
      this.counters.full++;
      return;
    }
    t.flags[e]! |= SF.OUT;
    t.outPkts[e] = 0;
    t.outBytes[e] = 0;
  }

  /**
   * The engine decided a NAT reply (user space forwarded it, or the kernel reported it): its
   * connection keeps its entries while established, else both leave the kernel.
   */
  private offerReply(m: PacketMeta, a: Action): void {
    const t = this.slab;
    const e = t.find(m.daddr.words[0]! >>> 0, m.dport);
    if (e < 0 || !(t.flags[e]! & SF.NAT) || t.rip[e] !== m.saddr.words[0]! >>> 0 || t.rport[e] !== m.sport) return;
    const same = a.kind === ACTION_CODE.forward && a.method === FWD_CODE.masq && a.conn === t.conn[e];
    if (same && a.fast === FAST.YES) this.installReply(e);
    else if (!(same && a.fast === FAST.CLOSING)) this.remove(e);
  }

  /**
   * A kernel event for a flow (before the engine decides it): an ACK means the kernel cleared
   * need_ack itself; a FIN or RST of DR or a tunnel that it removed the flow, whose last counters
   * are `pkts`, `bytes` (handed to the engine now, before the event moves the state). A NAT
   * connection's close: `closed`. Returns the packet's direction.
   */
  reported(saddr: number, daddr: number, sport: number, dport: number, tcpFlags: number, pkts: number, bytes: number, kind: number = FLOW_EV.STATE, token = 0, end: FlowEnd | null = null): 'in' | 'out' {
    this.counters.events++;
    this.counters.reports++;
    if (kind === FLOW_EV.CLOSING || kind === FLOW_EV.END) return this.closed(saddr, daddr, sport, dport, pkts, bytes, kind, token, end);
    const t = this.slab;
    const e = t.find(saddr >>> 0, sport);
    if (e < 0 || t.daddr[e] !== daddr >>> 0 || t.dport[e] !== dport) return 'in';
    if (tcpFlags & (TCP_FLAG.FIN | TCP_FLAG.RST)) {
      this.handOver(e, pkts, bytes);
      this.forget(e, true);
    } else if (tcpFlags & TCP_FLAG.ACK) t.flags[e]! &= ~SF.NEED_ACK;
    return 'in';
  }

  /**
   * The slot of an entry's key: the client's direction, or (`out`) a NAT connection's replies'
   * whose entry user space knows of. -1 when unknown.
   */
  private locate(saddr: number, daddr: number, sport: number, dport: number): { e: number; out: boolean } {
    const t = this.slab;
    const e = t.find(saddr >>> 0, sport);
    if (e >= 0 && t.daddr[e] === daddr >>> 0 && t.dport[e] === dport) return { e, out: false };
    const o = t.find(daddr >>> 0, dport);
    if (o >= 0 && (t.flags[o]! & SF.OUT) && t.rip[o] === saddr >>> 0 && t.rport[o] === sport) return { e: o, out: true };
    return { e: -1, out: false };
  }

  /**
   * A NAT connection's close, carried in the kernel: a FIN that was also the first ACK, forwarded
   * with both entries kept (CLOSING: the engine decides it now, not from the record), or the
   * packet that ended both (END: the last ACK or a RST). For an END the engine first decides the
   * FINs recorded that it has not (in the order they came), then gets both entries' last
   * counters; the packet itself is the caller's to decide.
   */
  private closed(saddr: number, daddr: number, sport: number, dport: number, pkts: number, bytes: number, kind: number, token: number, end: FlowEnd | null): 'in' | 'out' {
    const { e, out } = this.locate(saddr, daddr, sport, dport);
    if (out) this.counters.eventsOut++;
    if (e < 0) return out ? 'out' : 'in';
    const t = this.slab;
    if (kind === FLOW_EV.CLOSING) {
      t.flags[e]! |= out ? SF.FIN_OUT : SF.FIN_IN;
      return out ? 'out' : 'in';
    }
    if (end) {
      // (The FIN bits are the reporting entry's: the client's for a packet of the client's.)
      endFins(this.fins, end, out);
      this.queueFins(e, false);
      this.takeAcks();
      this.handOver(e, pkts, bytes, out);
      // (token 1: the other entry was there, its counters follow.)
      if (token & 1 && (out || t.flags[e]! & SF.OUT)) this.handOver(e, end.peerPkts, end.peerBytes, !out);
    } else this.handOver(e, pkts, bytes, out);
    this.dropReply(e);
    this.forget(e, true);
    return out ? 'out' : 'in';
  }

  /**
   * The kernel created this flow itself, for a new connection sent to a decision ahead
   * (fastpath-ahead.ts) through `kernelHop` (NAT: to `kernelNat.rip`:`kernelNat.rport`, with the
   * replies' entry beside it; a tunnel: encapsulated as `kernelTunKind`, FLOW_NAT.TUN_*); `a` is
   * the engine's verdict on it. Recorded as installed when they agree; otherwise the kernel's
   * entries are removed and the verdict offered.
   */
  adoptTaken(m: PacketMeta, a: Action, hop: NextHop | undefined, kernelHop: NextHop | undefined, kernelNat?: { readonly rip: number; readonly rport: number }, kernelTunKind = 0): void {
    this.counters.events++;
    this.counters.reports++;
    const t = this.slab;
    const saddr = m.saddr.words[0]! >>> 0, sport = m.sport;
    const old = t.find(saddr, sport);
    if (old >= 0) this.forget(old); // not in the kernel (it took the decision on a miss)
    const proto = PROTO_NUM[m.protocol] ?? 0;
    const daddr = m.daddr.words[0]! >>> 0;
    const nat = kernelNat !== undefined;
    const method = nat ? FWD_CODE.masq : kernelTunKind ? FWD_CODE.tunnel : FWD_CODE.route;
    const ok = a.kind === ACTION_CODE.forward && a.method === method && a.conn >= 0 && a.fast !== FAST.NO && hop !== undefined && hop === kernelHop &&
      (!nat || (a.rip >>> 0 === kernelNat!.rip && a.rport === kernelNat!.rport)) && (!kernelTunKind || kernelTun(a) === kernelTunKind);
    if (!ok) {
      writeFlowKey(this.key, saddr, daddr, sport, m.dport, proto);
      this.map.take(this.key, this.scratch);
      if (nat) {
        writeFlowKey(this.key, kernelNat!.rip, saddr, kernelNat!.rport, sport, proto);
        this.map.take(this.key, this.scratch);
      }
      this.offer(m, a, hop);
      return;
    }
    const e = t.add(saddr, daddr, sport, m.dport, proto, a.conn, hop);
    if (a.fast === FAST.NEED_ACK) t.flags[e]! |= SF.NEED_ACK;
    t.tun[e] = kernelTunKind;
    if (nat) {
      // The kernel installed the replies' entry beside the client's (both counted from zero).
      t.flags[e]! |= SF.NAT | SF.OUT;
      t.rip[e] = a.rip >>> 0;
      t.rport[e] = a.rport;
      t.vip[e] = a.vip >>> 0;
      t.vport[e] = a.vport;
    }
    this.counters.installed++;
    this.counters.flows = this.size;
  }

  /** Hands every flow's new counts to the engine; forgets flows whose connection is gone. */
  sweep(): void {
    const t = this.slab;
    for (let s = 0; s < t.limit; s++) if (t.flags[s]! & SF.USED) this.sweepOne(s);
    this.compact();
    this.counters.flows = this.size;
    this.takeAcks();
  }

  /** Where the periodic sweep left off (a slot number). */
  private cursor = 0;

  /**
   * The periodic sweep, a slice at a time: every call visits `max` flows from where the last
   * stopped (a map lookup, a system call, each), so 65,536 flows never hold the event loop in
   * one go. Called ten times a second with a tenth of the table: each flow about every second.
   * At the end of a pass, a table that has emptied (a flood's flows gone) is compacted.
   */
  sweepSome(max: number): void {
    const t = this.slab;
    let n = 0;
    while (n < max) {
      if (this.cursor >= t.limit) {
        this.cursor = 0;
        this.compact();
        break;
      }
      const s = this.cursor++;
      if (!(t.flags[s]! & SF.USED)) continue;
      this.sweepOne(s);
      n++;
    }
    this.counters.flows = this.size;
    this.takeAcks();
  }

  /** Gives back what a flood grew (FlowSlab.shrinkIfSparse); slots move, so does the cursor. */
  private compact(): void {
    if (this.slab.shrinkIfSparse(() => {})) this.cursor = 0;
  }

  private sweepOne(e: number): void {
    const t = this.slab;
    noFins(this.fins);
    if (!this.map.get(this.keyIn(e), this.scratch)) {
      // Not in the kernel: ended by it just now (a NAT connection's last ACK or RST, or a DR FIN
      // or RST, after the events were read: its report, with the last counters, is read before
      // the next visit and frees the slot), or evicted by its LRU, or cleared from outside.
      // Counted evicted at the second visit that finds it gone: its counts since the last sweep
      // went with it. (At 10,000 NAT connections a second, about one visit in ten sweeps met a
      // connection ended between the read of the events and its lookup; forgotten at once, its
      // END report found no slot and its counters were lost.)
      if (!(t.flags[e]! & SF.MISSING)) {
        t.flags[e]! |= SF.MISSING;
        return;
      }
      if (t.flags[e]! & SF.OUT && this.map.take(this.keyOut(e), this.scratch)) this.harvest(e, true);
      this.dropReply(e);
      this.forget(e, false);
      this.counters.evicted++;
      return;
    }
    t.flags[e]! &= ~SF.MISSING;
    if (!this.harvest(e)) { this.remove(e); return; }
    if (t.flags[e]! & SF.OUT) {
      if (!this.map.get(this.keyOut(e), this.scratch)) this.dropReply(e);
      else if (!this.harvest(e, true)) { this.remove(e); return; }
    } else if (t.flags[e]! & SF.NAT) this.installReply(e);
    this.queueFins(e, true);
  }

  /** Removes every flow (a rule change: the engine must see the next packet of each). */
  clear(): void {
    const t = this.slab;
    this.clearing = true;
    try {
      for (let s = 0; s < t.limit; s++) if (t.flags[s]! & SF.USED) this.remove(s);
    } finally {
      this.clearing = false;
    }
    this.takeAcks();
  }

  private readonly scratch = new Uint8Array(VAL_BYTES);
  private readonly scratchView = new DataView(this.scratch.buffer);

  /**
   * Removes the flow's entries from the kernel (their counts handed over, the FINs they recorded
   * queued for the engine before the packet that made the change is decided further).
   */
  private remove(e: number): void {
    noFins(this.fins);
    const had = this.map.take(this.keyIn(e), this.scratch);
    if (had) this.harvest(e);
    if (this.slab.flags[e]! & SF.OUT && this.map.take(this.keyOut(e), this.scratch)) this.harvest(e, true);
    if (had) this.queueFins(e, false);
    this.dropReply(e);
    this.forget(e);
  }

  /** Forgets the replies' entry (gone from the kernel, counts handed over). */
  private dropReply(e: number): void {
    this.slab.flags[e]! &= ~SF.OUT;
  }

  /** Drops the flow from the table (`removed`: counted as a removal by us). */
  private forget(e: number, removed = true): void {
    this.slab.free(e, false);
    if (removed) this.counters.removed++;
    this.counters.flows = this.size;
  }

  /**
   * Packets the kernel recorded (a first ACK, FLOW_ACK.SEEN; a NAT FIN, FLOW_FIN) that the engine
   * has still to decide, in the order they came: saddr, daddr, sport, dport, proto, TCP flags, IP
   * length, whether the real server's (1), whether to offer the verdict back (1; not while
   * clearing: the next packet goes to the engine) (takeAcks).
   */
  private readonly acks: number[] = [];
  private clearing = false;
  /** Decides a recorded packet (host.ts: the engine, then offer() unless `offer` is false); set by the owner. */
  decideRecorded: RecordedDecide | null = null;

  private queueAck(e: number, len: number): void {
    const t = this.slab;
    t.flags[e]! &= ~SF.NEED_ACK;
    this.acks.push(t.saddr[e]!, t.daddr[e]!, t.sport[e]!, t.dport[e]!, t.proto[e]!, TCP_FLAG.ACK, len, 0, this.clearing ? 0 : 1);
  }

  /**
   * The FINs of a NAT connection the kernel recorded, as its entries were just read (`fins`: the
   * client's entry says which and in what order, each entry its own FIN's flags and length):
   * those the engine has not decided yet, queued in the order they came. `offer`: the verdicts
   * offered back (not when the entries are gone: a removal, an END).
   */
  private queueFins(e: number, offer: boolean): void {
    const t = this.slab, f = this.fins, o = offer && !this.clearing ? 1 : 0;
    const had = (t.flags[e]! & SF.FIN_IN ? FIN_DECIDED.IN : 0) | (t.flags[e]! & SF.FIN_OUT ? FIN_DECIDED.OUT : 0);
    for (let q = finsInOrder(f, had); q !== 0; q >>= 2) {
      if ((q & 3) === FIN_DECIDED.OUT) {
        t.flags[e]! |= SF.FIN_OUT;
        this.acks.push(t.rip[e]!, t.saddr[e]!, t.rport[e]!, t.sport[e]!, t.proto[e]!, f.serverFlags, f.serverLen, 1, o);
      } else {
        t.flags[e]! |= SF.FIN_IN;
        this.acks.push(t.saddr[e]!, t.daddr[e]!, t.sport[e]!, t.dport[e]!, t.proto[e]!, f.clientFlags, f.clientLen, 0, o);
      }
    }
  }

  /** The FINs the entries just read recorded (queueFins): set by harvest (noteFin). */
  private readonly fins = newFins();

  /** A report carried the connection's recorded first ACK (ackInToken): queued for the engine unless decided already. */
  ackCarried(saddr: number, daddr: number, sport: number, dport: number, len: number): void {
    const { e } = this.locate(saddr, daddr, sport, dport);
    if (e >= 0 && this.slab.flags[e]! & SF.NEED_ACK) this.queueAck(e, len);
  }

  /**
   * Hands each queued recorded packet to `decideRecorded` (which has the engine decide it and
   * offers the verdict back): before the report that carried it, and after every read of the
   * entries (sweeps, removals: called at their end). The kernel forwarded it already.
   */
  takeAcks(): void {
    const q = this.acks, decide = this.decideRecorded;
    // (Called twice per report: an empty queue costs nothing, not a length store.)
    if (q.length === 0) return;
    // (A decision may queue more: its offer can remove an entry that recorded one.)
    for (let i = 0; i < q.length; i += 9) {
      if (!decide) break;
      this.counters.events++;
      if (q[i + 7] === 1) this.counters.eventsOut++;
      decide(q[i]!, q[i + 1]!, q[i + 2]!, q[i + 3]!, q[i + 4]!, q[i + 5]!, q[i + 6]!, q[i + 7] === 1, q[i + 8] === 1);
    }
    q.length = 0;
  }

  /** Hands the counters of the entry just read into `scratch` (the replies' with `out`) to the engine; notes its FIN (queueFins). */
  private harvest(e: number, out = false): boolean {
    const d = this.scratchView;
    if (!out && this.scratch[V.NEED_ACK] === FLOW_ACK.SEEN && this.slab.flags[e]! & SF.NEED_ACK) this.queueAck(e, d.getUint32(V.ACK_LEN, true));
    noteFin(this.fins, this.scratch, d, out);
    return this.handOver(e, Number(d.getBigUint64(V.PKTS, true)), Number(d.getBigUint64(V.BYTES, true)), out);
  }

  /** Hands the kernel's counts beyond those handed already; false when the connection is gone. */
  private handOver(e: number, pkts: number, bytes: number, out = false): boolean {
    const t = this.slab;
    const dp = pkts - (out ? t.outPkts[e]! : t.pkts[e]!), db = bytes - (out ? t.outBytes[e]! : t.bytes[e]!);
    if (out) { t.outPkts[e] = pkts; t.outBytes[e] = bytes; } else { t.pkts[e] = pkts; t.bytes[e] = bytes; }
    if (dp > 0) {
      this.counters.forwarded += dp;
      if (out) this.counters.forwardedOut += dp;
    }
    // Called with 0 packets too: the answer says whether the connection still exists.
    return this.count(t.conn[e]!, Math.max(0, dp), Math.max(0, db), out);
  }
}

/**
 * The FINs a NAT connection's entries recorded (FLOW_FIN), as user space read them: the client's
 * and the real server's (non-zero: recorded), whether the client's came first, and each one's TCP
 * flags and IP length. IPv6's table (fastpath6.ts) reads them the same way.
 */
export interface RecordedFins { client: number; server: number; clientFirst: boolean; clientFlags: number; clientLen: number; serverFlags: number; serverLen: number }

export function newFins(): RecordedFins {
  return { client: 0, server: 0, clientFirst: false, clientFlags: 0, clientLen: 0, serverFlags: 0, serverLen: 0 };
}

/** Before a flow's entries are read: none recorded yet. */
export function noFins(f: RecordedFins): void {
  f.client = f.server = f.clientFlags = f.clientLen = f.serverFlags = f.serverLen = 0;
  f.clientFirst = false;
}

/**
 * Notes the FIN of the entry just read (`v`, its view `dv`; `out`: the replies'): the client's
 * entry says which FINs and in what order, each entry its own FIN's flags and length.
 */
export function noteFin(f: RecordedFins, v: Uint8Array, dv: DataView, out: boolean): void {
  if (out) {
    f.serverFlags = v[V.FIN_FLAGS]!;
    f.serverLen = dv.getUint16(V.FIN_LEN, true);
    return;
  }
  const fin = v[V.FIN]!;
  f.client = fin & FLOW_FIN.SELF;
  f.server = fin & FLOW_FIN.PEER;
  f.clientFirst = (fin & FLOW_FIN.FIRST) !== 0;
  f.clientFlags = v[V.FIN_FLAGS]!;
  f.clientLen = dv.getUint16(V.FIN_LEN, true);
}

/** The FINs an END report carries (`out`: it came by the replies' entry, whose bits it has). */
export function endFins(f: RecordedFins, end: FlowEnd, out: boolean): void {
  const self = end.fin & FLOW_FIN.SELF, peer = end.fin & FLOW_FIN.PEER, first = end.fin & FLOW_FIN.FIRST;
  f.client = out ? peer : self;
  f.server = out ? self : peer;
  f.clientFirst = out ? !first : first !== 0;
  f.clientFlags = out ? end.peerFinFlags : end.finFlags;
  f.clientLen = out ? end.peerFinLen : end.finLen;
  f.serverFlags = out ? end.finFlags : end.peerFinFlags;
  f.serverLen = out ? end.finLen : end.peerFinLen;
}

/** FIN_DECIDED bits: the engine has decided the client's (IN), the real server's (OUT) FIN. */
export const FIN_DECIDED = { IN: 1, OUT: 2 } as const;

/**
 * The recorded FINs not yet decided (`decided`: FIN_DECIDED bits), in the order they came: the
 * first one's FIN_DECIDED bit, then (shifted by 2) the second's; 0 when none.
 */
export function finsInOrder(f: RecordedFins, decided: number): number {
  // (A FIN whose flags were not read with it -- the other entry not read, a FIN reported as the
  // first ACK and marked only -- is left for a later read.)
  const client = f.client !== 0 && (f.clientFlags & TCP_FLAG.FIN) !== 0 && !(decided & FIN_DECIDED.IN);
  const server = f.server !== 0 && (f.serverFlags & TCP_FLAG.FIN) !== 0 && !(decided & FIN_DECIDED.OUT);
  if (client && server) return f.clientFirst ? FIN_DECIDED.IN | (FIN_DECIDED.OUT << 2) : FIN_DECIDED.OUT | (FIN_DECIDED.IN << 2);
  return client ? FIN_DECIDED.IN : server ? FIN_DECIDED.OUT : 0;
}

/** A flow value about to replace the kernel's (`old`): the FINs the kernel recorded stay (its close goes on). */
export function keepFin(v: Uint8Array, old: Uint8Array): void {
  v[V.FIN] = old[V.FIN]!;
  v[V.FIN_FLAGS] = old[V.FIN_FLAGS]!;
  v[V.FIN_LEN] = old[V.FIN_LEN]!;
  v[V.FIN_LEN + 1] = old[V.FIN_LEN + 1]!;
}
