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
 * The kernel map sits behind `FlowMap` (src/os/flow-map.ts; os/bpf.ts: the BPF hash map;
 * MemoryFlowMap: a fake with the program's lookup, for tests). Layouts match bpf/tsvs_fastpath.c.
 */
import type { NextHop } from '../../os/neigh.ts';
import { FAST, type Action } from './decision.ts';
import type { PacketMeta } from './classify.ts';
import { TCP_FLAG } from '../../core/proto.ts';
import { FLOW_VAL as V, KEY_BYTES, VAL_BYTES, writeFlowKey, type FlowMap } from '../../os/flow-map.ts';
import { ACTION_CODE, FWD_CODE } from '../../core/types.ts';

/** Action.fast (decision.ts): whether the engine's decision may be carried out by the kernel. */
export { FAST };

/** Counts packets the kernel forwarded for connection `conn` (Engine.countForwarded). */
export type CountForwarded = (conn: number, pkts: number, bytes: number) => boolean;

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
  /** Counters already handed to the engine. */
  pkts: number;
  bytes: number;
}

export interface FastPathCounters {
  /** Flows in the kernel map now. */
  flows: number;
  installed: number;
  removed: number;
  /** Installs refused because the kernel map was full. */
  full: number;
  /** State-changing packets the kernel forwarded and reported. */
  events: number;
  /** Packets the kernel forwarded and counted (handed to the engine). */
  forwarded: number;
}

const PROTO_NUM: Record<string, number> = { tcp: 6, udp: 17 };

export class FastPathTable {
  /** By client address * 65536 + client port (the full tuple is checked on every use). */
  private readonly flows = new Map<number, Installed>();
  private readonly val = new Uint8Array(VAL_BYTES);
  private readonly valView = new DataView(this.val.buffer);
  readonly counters: FastPathCounters = { flows: 0, installed: 0, removed: 0, full: 0, events: 0, forwarded: 0 };

  /** `ifindexes`: where the program is attached; a next hop elsewhere keeps its flows in user space. */
  constructor(private readonly map: FlowMap, private readonly count: CountForwarded, private readonly ifindexes: ReadonlySet<number>) {}

  get size(): number {
    return this.flows.size;
  }

  /**
   * After the engine decided `m` (an 'in' packet user space forwarded, or a kernel event): keep the
   * kernel's entry for its connection in step. `hop`: the next hop of `a.rip` (DR).
   */
  offer(m: PacketMeta, a: Action, hop: NextHop | undefined): void {
    if (m.af !== 4 || m.dir !== 'in') return;
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
    const ok = a.kind === ACTION_CODE.forward && a.method === FWD_CODE.route && a.conn >= 0 && a.fast !== FAST.NO && hop !== undefined && this.ifindexes.has(hop.ifindex);
    if (!ok) {
      if (e) this.remove(id, e);
      return;
    }
    const needAck = a.fast === FAST.NEED_ACK;
    if (e && e.conn === a.conn && e.needAck === needAck && e.hop === hop) return;
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
      e = { key, saddr, daddr, sport, dport: m.dport, proto, conn: a.conn, needAck, hop, pkts: 0, bytes: 0 };
      this.flows.set(id, e);
      this.counters.installed++;
      this.counters.flows = this.flows.size;
    } else {
      e.conn = a.conn;
      e.needAck = needAck;
      e.hop = hop;
    }
    e.pkts = 0;
    e.bytes = 0;
  }

  /**
   * A kernel event for a flow (before the engine decides it): an ACK means the kernel cleared
   * need_ack itself; a FIN or RST that it removed the flow, whose last counters are `pkts`,
   * `bytes` (handed to the engine now, before the event moves the state).
   */
  reported(saddr: number, daddr: number, sport: number, dport: number, tcpFlags: number, pkts: number, bytes: number): void {
    this.counters.events++;
    const id = (saddr >>> 0) * 65536 + sport;
    const e = this.flows.get(id);
    if (!e || e.daddr !== daddr >>> 0 || e.dport !== dport) return;
    if (tcpFlags & (TCP_FLAG.FIN | TCP_FLAG.RST)) {
      this.handOver(e, pkts, bytes);
      this.forget(id, e);
    } else if (tcpFlags & TCP_FLAG.ACK) e.needAck = false;
  }

  /**
   * The kernel created this flow itself, for a new connection sent to a decision ahead
   * (fastpath-ahead.ts) through `kernelHop`; `a` is the engine's verdict on it. Recorded as
   * installed when they agree; otherwise the kernel's entry is removed and the verdict offered.
   */
  adoptTaken(m: PacketMeta, a: Action, hop: NextHop | undefined, kernelHop: NextHop | undefined): void {
    this.counters.events++;
    const saddr = m.saddr.words[0]! >>> 0, sport = m.sport;
    const id = saddr * 65536 + sport;
    const old = this.flows.get(id);
    if (old) this.forget(id, old); // not in the kernel (it took the decision on a miss)
    const proto = PROTO_NUM[m.protocol] ?? 0;
    const key = this.freeKeys.pop() ?? new Uint8Array(KEY_BYTES);
    writeFlowKey(key, saddr, m.daddr.words[0]! >>> 0, sport, m.dport, proto);
    const ok = a.kind === ACTION_CODE.forward && a.method === FWD_CODE.route && a.conn >= 0 && a.fast !== FAST.NO && hop !== undefined && hop === kernelHop;
    if (!ok) {
      this.map.take(key, this.scratch);
      this.freeKeys.push(key);
      this.offer(m, a, hop);
      return;
    }
    this.flows.set(id, { key, saddr, daddr: m.daddr.words[0]! >>> 0, sport, dport: m.dport, proto, conn: a.conn, needAck: a.fast === FAST.NEED_ACK, hop, pkts: 0, bytes: 0 });
    this.counters.installed++;
    this.counters.flows = this.flows.size;
  }

  /** Hands every flow's new counts to the engine; forgets flows whose connection is gone. */
  sweep(): void {
    for (const [id, e] of this.flows) {
      if (!this.map.get(e.key, this.scratch)) {
        // Not in the kernel any more (cleared from outside): nothing to count.
        this.forget(id, e, false);
        continue;
      }
      if (!this.harvest(e)) this.remove(id, e);
    }
    this.counters.flows = this.flows.size;
  }

  /** Removes every flow (a rule change: the engine must see the next packet of each). */
  clear(): void {
    for (const [id, e] of this.flows) this.remove(id, e);
  }

  private readonly scratch = new Uint8Array(VAL_BYTES);
  private readonly scratchView = new DataView(this.scratch.buffer);
  /** Keys of removed flows, reused. */
  private readonly freeKeys: Uint8Array[] = [];

  private remove(id: number, e: Installed): void {
    if (this.map.take(e.key, this.scratch)) this.harvest(e);
    this.forget(id, e);
  }

  /** Drops the flow from the table (`removed`: counted as a removal by us). */
  private forget(id: number, e: Installed, removed = true): void {
    if (this.freeKeys.length < 1024) this.freeKeys.push(e.key);
    this.flows.delete(id);
    if (removed) this.counters.removed++;
    this.counters.flows = this.flows.size;
  }

  /** Hands the counters of the entry just read into `scratch` to the engine. */
  private harvest(e: Installed): boolean {
    const d = this.scratchView;
    return this.handOver(e, Number(d.getBigUint64(V.PKTS, true)), Number(d.getBigUint64(V.BYTES, true)));
  }

  /** Hands the kernel's counts beyond those handed already; false when the connection is gone. */
  private handOver(e: Installed, pkts: number, bytes: number): boolean {
    const dp = pkts - e.pkts, db = bytes - e.bytes;
    e.pkts = pkts;
    e.bytes = bytes;
    if (dp > 0) this.counters.forwarded += dp;
    // Called with 0 packets too: the answer says whether the connection still exists.
    return this.count(e.conn, Math.max(0, dp), Math.max(0, db));
  }
}
