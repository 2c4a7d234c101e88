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
 * too, counted as OutPkts).
 *
 * The kernel map sits behind `FlowMap` (src/os/flow-map.ts; os/bpf.ts: the BPF hash map;
 * MemoryFlowMap: a fake with the program's lookup, for tests). Layouts match bpf/tsvs_fastpath.c.
 */
import type { NextHop } from '../../os/neigh.ts';
import { FAST, type Action } from './decision.ts';
import type { PacketMeta } from './classify.ts';
import { TCP_FLAG } from '../../core/proto.ts';
import { FLOW_NAT, FLOW_VAL as V, KEY_BYTES, VAL_BYTES, writeFlowKey, type FlowMap } from '../../os/flow-map.ts';
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
/** The next hop toward a client (NAT replies), or undefined while unknown (the caller starts resolving it). */
export type ClientHop = (client: number) => NextHop | undefined;

interface Installed {
  readonly key: Uint8Array;
  saddr: number;
  daddr: number;
  sport: number;
  dport: number;
  proto: number;
  conn: number;
  needAck: boolean;
  hop: NextHop;
  /** A tunnel's kind (FLOW_NAT.TUN_*), 0 for DR and NAT. */
  tun: number;
  /** Counters already handed to the engine. */
  pkts: number;
  bytes: number;
  /** NAT: the real server and the virtual service; the replies' entry once installed. */
  nat: boolean;
  rip: number;
  rport: number;
  vip: number;
  vport: number;
  outKey: Uint8Array | null;
  outPkts: number;
  outBytes: number;
}

export interface FastPathCounters {
  /** Flows in the kernel map now. */
  flows: number;
  installed: number;
  removed: number;
  /** Installs refused because the kernel map was full. */
  full: number;
  /** Flows the kernel's LRU map evicted to make room (their packets come to user space again). */
  evicted: number;
  /** State-changing packets the kernel forwarded and reported. */
  events: number;
  /** Packets the kernel forwarded and counted (handed to the engine). */
  forwarded: number;
  /** Of `events` and `forwarded`: NAT replies (the engine's OutPkts). */
  eventsOut: number;
  forwardedOut: number;
}

const PROTO_NUM: Record<string, number> = { tcp: 6, udp: 17 };

export class FastPathTable {
  /** By client address * 65536 + client port (the full tuple is checked on every use). */
  private readonly flows = new Map<number, Installed>();
  private readonly val = new Uint8Array(VAL_BYTES);
  private readonly valView = new DataView(this.val.buffer);
  readonly counters: FastPathCounters = { flows: 0, installed: 0, removed: 0, full: 0, evicted: 0, events: 0, forwarded: 0, eventsOut: 0, forwardedOut: 0 };

  /**
   * `ifindexes`: where the program is attached; a next hop elsewhere keeps its flows in user space.
   * `clientHop`: next hops toward clients, for NAT replies (without it NAT stays in user space).
   * `tunnels`: the program encapsulates (tc): tunnel connections it can build go to the kernel too.
   */
  constructor(private readonly map: FlowMap, private readonly count: CountForwarded, private readonly ifindexes: ReadonlySet<number>, private readonly clientHop?: ClientHop, private readonly tunnels = false) {}

  get size(): number {
    return this.flows.size;
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
    const saddr = m.saddr.words[0]! >>> 0, sport = m.sport;
    const id = saddr * 65536 + sport;
    let e = this.flows.get(id);
    const proto = PROTO_NUM[m.protocol] ?? 0;
    const daddr = m.daddr.words[0]! >>> 0;
    if (e && (e.daddr !== daddr || e.dport !== m.dport || e.proto !== proto)) {
      // Another flow with the same client address and port: only one is kept.
      if (a.fast === FAST.NO) return;
      this.remove(id, e);
      e = undefined;
    }
    const nat = a.method === FWD_CODE.masq;
    const tun = this.tunnels ? kernelTun(a) : 0;
    const ok = a.kind === ACTION_CODE.forward && (a.method === FWD_CODE.route || (tun !== 0 && hop !== undefined && hop.src !== 0) || (nat && a.fast === FAST.YES && this.clientHop !== undefined)) && a.conn >= 0 &&
      a.fast !== FAST.NO && hop !== undefined && this.ifindexes.has(hop.ifindex);
    if (!ok) {
      if (e) this.remove(id, e);
      return;
    }
    const needAck = a.fast === FAST.NEED_ACK;
    if (e && e.conn === a.conn && e.needAck === needAck && e.hop === hop && e.nat === nat && e.tun === tun) {
      if (nat) this.installReply(e);
      return;
    }
    if (e && e.nat !== nat) {
      this.remove(id, e);
      e = undefined;
    }
    if (e && e.conn !== a.conn) {
      // The engine made a new connection for this tuple: settle the old one's counts first.
      this.remove(id, e);
      e = undefined;
    }
    const key = e ? e.key : (this.freeKeys.pop() ?? new Uint8Array(KEY_BYTES));
    if (!e) writeFlowKey(key, saddr, daddr, sport, m.dport, proto);
    const v = this.val;
    v.fill(0);
    v.set(hop.mac, V.DMAC);
    v.set(hop.srcMac, V.SMAC);
    const dv = this.valView;
    dv.setUint32(V.IFINDEX, hop.ifindex, true);
    dv.setUint16(V.MTU, Math.min(hop.mtu || 1500, 0xffff), true);
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
    if (e) {
      // Replacing the value resets the kernel's counters: hand them over first.
      if (this.map.get(key, this.scratch)) this.harvest(e);
    }
    if (!this.map.put(key, v)) {
      this.counters.full++;
      if (e) this.remove(id, e);
      return;
    }
    if (!e) {
      e = { key, saddr, daddr, sport, dport: m.dport, proto, conn: a.conn, needAck, hop, tun, pkts: 0, bytes: 0, nat, rip: a.rip >>> 0, rport: a.rport, vip: a.vip >>> 0, vport: a.vport, outKey: null, outPkts: 0, outBytes: 0 };
      this.flows.set(id, e);
      this.counters.installed++;
      this.counters.flows = this.flows.size;
    } else {
      e.conn = a.conn;
      e.needAck = needAck;
      e.hop = hop;
      e.tun = tun;
    }
    e.pkts = 0;
    e.bytes = 0;
    if (nat) this.installReply(e);
  }

  /** NAT: the replies' entry (real server -> client, source rewritten), once the client's next hop is known. */
  private installReply(e: Installed): void {
    if (e.outKey) return;
    const hop = this.clientHop?.(e.saddr);
    if (!hop || !this.ifindexes.has(hop.ifindex)) return;
    const key = this.freeKeys.pop() ?? new Uint8Array(KEY_BYTES);
    writeFlowKey(key, e.rip, e.saddr, e.rport, e.sport, e.proto);
    const v = this.val, dv = this.valView;
    v.fill(0);
    v.set(hop.mac, V.DMAC);
    v.set(hop.srcMac, V.SMAC);
    dv.setUint32(V.IFINDEX, hop.ifindex, true);
    dv.setUint16(V.MTU, Math.min(hop.mtu || 1500, 0xffff), true);
    v[V.NAT] = FLOW_NAT.SRC;
    dv.setUint32(V.NADDR, e.vip, false);
    dv.setUint16(V.NPORT, e.vport, false);
    if (!this.map.put(key, v)) {
      this.counters.full++;
      this.freeKeys.push(key);
      return;
    }
    e.outKey = key;
    e.outPkts = 0;
    e.outBytes = 0;
  }

  /**
   * The engine decided a NAT reply (user space forwarded it, or the kernel reported it): its
   * connection keeps its entries while established, else both leave the kernel.
   */
  private offerReply(m: PacketMeta, a: Action): void {
    const client = m.daddr.words[0]! >>> 0;
    const id = client * 65536 + m.dport;
    const e = this.flows.get(id);
    if (!e || !e.nat || e.rip !== m.saddr.words[0]! >>> 0 || e.rport !== m.sport) return;
    if (a.kind === ACTION_CODE.forward && a.method === FWD_CODE.masq && a.conn === e.conn && a.fast === FAST.YES) this.installReply(e);
    else this.remove(id, e);
  }

  /**
   * A kernel event for a flow (before the engine decides it): an ACK means the kernel cleared
   * need_ack itself; a FIN or RST that it removed the flow, whose last counters are `pkts`,
   * `bytes` (handed to the engine now, before the event moves the state).
   */
  reported(saddr: number, daddr: number, sport: number, dport: number, tcpFlags: number, pkts: number, bytes: number): 'in' | 'out' {
    this.counters.events++;
    const id = (saddr >>> 0) * 65536 + sport;
    const e = this.flows.get(id);
    if (!e || e.daddr !== daddr >>> 0 || e.dport !== dport) {
      // A NAT reply's FIN or RST: the kernel removed the replies' entry (perhaps right after the
      // client's FIN ended the connection's record: `closing`).
      const cid = (daddr >>> 0) * 65536 + dport;
      const o = this.flows.get(cid) ?? this.closing.get(cid);
      if (!o || !o.outKey || o.rip !== saddr >>> 0 || o.rport !== sport) return 'in';
      this.closing.delete(cid);
      this.counters.eventsOut++;
      if (tcpFlags & (TCP_FLAG.FIN | TCP_FLAG.RST)) {
        this.handOver(o, pkts, bytes, true);
        this.dropReply(o);
      }
      return 'out';
    }
    if (tcpFlags & (TCP_FLAG.FIN | TCP_FLAG.RST)) {
      this.handOver(e, pkts, bytes);
      if (e.outKey) {
        if (this.map.take(e.outKey, this.scratch)) {
          this.harvest(e, true);
          this.dropReply(e);
        } else {
          // The replies' entry is gone already: the real server's FIN or RST went through the
          // kernel too, and its report (with the replies' counts) comes next.
          this.closing.set(id, e);
        }
      }
      this.forget(id, e);
    } else if (tcpFlags & TCP_FLAG.ACK) e.needAck = false;
    return 'in';
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
    const saddr = m.saddr.words[0]! >>> 0, sport = m.sport;
    const id = saddr * 65536 + sport;
    const old = this.flows.get(id);
    if (old) this.forget(id, old); // not in the kernel (it took the decision on a miss)
    const proto = PROTO_NUM[m.protocol] ?? 0;
    const key = this.freeKeys.pop() ?? new Uint8Array(KEY_BYTES);
    writeFlowKey(key, saddr, m.daddr.words[0]! >>> 0, sport, m.dport, proto);
    const nat = kernelNat !== undefined;
    const outKey = nat ? (this.freeKeys.pop() ?? new Uint8Array(KEY_BYTES)) : null;
    if (outKey) writeFlowKey(outKey, kernelNat!.rip, saddr, kernelNat!.rport, sport, proto);
    const method = nat ? FWD_CODE.masq : kernelTunKind ? FWD_CODE.tunnel : FWD_CODE.route;
    const ok = a.kind === ACTION_CODE.forward && a.method === method && a.conn >= 0 && a.fast !== FAST.NO && hop !== undefined && hop === kernelHop &&
      (!nat || (a.rip >>> 0 === kernelNat!.rip && a.rport === kernelNat!.rport)) && (!kernelTunKind || kernelTun(a) === kernelTunKind);
    if (!ok) {
      this.map.take(key, this.scratch);
      this.freeKeys.push(key);
      if (outKey) {
        this.map.take(outKey, this.scratch);
        this.freeKeys.push(outKey);
      }
      this.offer(m, a, hop);
      return;
    }
    this.flows.set(id, {
      key, saddr, daddr: m.daddr.words[0]! >>> 0, sport, dport: m.dport, proto, conn: a.conn, needAck: a.fast === FAST.NEED_ACK, hop, tun: kernelTunKind, pkts: 0, bytes: 0,
      nat, rip: nat ? a.rip >>> 0 : 0, rport: nat ? a.rport : 0, vip: nat ? a.vip >>> 0 : 0, vport: nat ? a.vport : 0, outKey, outPkts: 0, outBytes: 0,
    });
    this.counters.installed++;
    this.counters.flows = this.flows.size;
  }

  /** Hands every flow's new counts to the engine; forgets flows whose connection is gone. */
  sweep(): void {
    this.settleClosing();
    for (const [id, e] of this.flows) this.sweepOne(id, e);
    this.counters.flows = this.flows.size;
  }

  /** Where the periodic sweep left off (a live Map iterator: deletions and additions are fine). */
  private cursor: MapIterator<[number, Installed]> | null = null;

  /**
   * The periodic sweep, a slice at a time: every call visits `max` flows from where the last
   * stopped (a map lookup, a system call, each), so 65,536 flows never hold the event loop in
   * one go. Called ten times a second with a tenth of the table: each flow about every second.
   */
  sweepSome(max: number): void {
    this.settleClosing();
    for (let n = 0; n < max; n++) {
      this.cursor ??= this.flows.entries();
      const r = this.cursor.next();
      if (r.done) {
        this.cursor = null;
        break;
      }
      this.sweepOne(r.value[0], r.value[1]);
    }
    this.counters.flows = this.flows.size;
  }

  /** Events are read before every sweep: a closing connection's reply report came, or never will. */
  private settleClosing(): void {
    for (const e of this.closing.values()) this.dropReply(e);
    this.closing.clear();
  }

  private sweepOne(id: number, e: Installed): void {
    if (!this.map.get(e.key, this.scratch)) {
      // Not in the kernel any more (evicted by its LRU, or cleared from outside): its counts
      // since the last sweep went with it.
      if (e.outKey && this.map.take(e.outKey, this.scratch)) this.harvest(e, true);
      this.dropReply(e);
      this.forget(id, e, false);
      this.counters.evicted++;
      return;
    }
    if (!this.harvest(e)) { this.remove(id, e); return; }
    if (e.outKey) {
      if (!this.map.get(e.outKey, this.scratch)) this.dropReply(e);
      else if (!this.harvest(e, true)) this.remove(id, e);
    } else if (e.nat) this.installReply(e);
  }

  /** Removes every flow (a rule change: the engine must see the next packet of each). */
  clear(): void {
    for (const [id, e] of this.flows) this.remove(id, e);
  }

  private readonly scratch = new Uint8Array(VAL_BYTES);
  private readonly scratchView = new DataView(this.scratch.buffer);
  /** NAT connections the client's FIN ended whose replies' FIN report is still to be read, by client. */
  private readonly closing = new Map<number, Installed>();
  /** Keys of removed flows, reused. */
  private readonly freeKeys: Uint8Array[] = [];

  private remove(id: number, e: Installed): void {
    if (this.map.take(e.key, this.scratch)) this.harvest(e);
    if (e.outKey && this.map.take(e.outKey, this.scratch)) this.harvest(e, true);
    this.dropReply(e);
    this.forget(id, e);
  }

  /** Forgets the replies' entry (gone from the kernel, counts handed over). */
  private dropReply(e: Installed): void {
    if (!e.outKey) return;
    if (this.freeKeys.length < 1024) this.freeKeys.push(e.outKey);
    e.outKey = null;
  }

  /** Drops the flow from the table (`removed`: counted as a removal by us). */
  private forget(id: number, e: Installed, removed = true): void {
    if (this.freeKeys.length < 1024) this.freeKeys.push(e.key);
    this.flows.delete(id);
    if (removed) this.counters.removed++;
    this.counters.flows = this.flows.size;
  }

  /** Hands the counters of the entry just read into `scratch` (the replies' with `out`) to the engine. */
  private harvest(e: Installed, out = false): boolean {
    const d = this.scratchView;
    return this.handOver(e, Number(d.getBigUint64(V.PKTS, true)), Number(d.getBigUint64(V.BYTES, true)), out);
  }

  /** Hands the kernel's counts beyond those handed already; false when the connection is gone. */
  private handOver(e: Installed, pkts: number, bytes: number, out = false): boolean {
    const dp = pkts - (out ? e.outPkts : e.pkts), db = bytes - (out ? e.outBytes : e.bytes);
    if (out) { e.outPkts = pkts; e.outBytes = bytes; } else { e.pkts = pkts; e.bytes = bytes; }
    if (dp > 0) {
      this.counters.forwarded += dp;
      if (out) this.counters.forwardedOut += dp;
    }
    // Called with 0 packets too: the answer says whether the connection still exists.
    return this.count(e.conn, Math.max(0, dp), Math.max(0, db), out);
  }
}
