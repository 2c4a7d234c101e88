/**
 * The kernel fast path's IPv6 table (user-space side): IPv6 direct-routing connections in the
 * program's `flows6` map (bpf/tsvs_fastpath.c, fast_step6), kept in step with the engine's
 * decisions as FastPathTable (fastpath.ts) does for IPv4 DR: after the engine decides an 'in'
 * packet of a DR connection, `offer` installs its flow (SYN_RECV: with "report the first ACK";
 * ESTABLISHED, UDP) or removes it when the engine says it left those states or went elsewhere.
 * The kernel then forwards the flow's packets itself; the sweeps hand their counts to the engine,
 * and the packets that change state (FIN, RST, the handshake's ACK) come back as events
 * (`reported`, then the engine decides them and they are offered again). IPv6 has no NAT and no
 * decisions ahead in the kernel: those packets stay in user space.
 */
import type { NextHop } from '../../os/neigh.ts';
import { FAST, type Action } from './decision.ts';
import type { PacketMeta } from './classify.ts';
import { key6 } from './classify.ts';
import { TCP_FLAG } from '../../core/proto.ts';
import { FLOW_VAL as V, KEY6_BYTES, VAL_BYTES, writeFlowKey6, type FlowMap } from '../../os/flow-map.ts';
import { ACTION_CODE, FWD_CODE } from '../../core/types.ts';
import type { CountForwarded } from './fastpath.ts';

interface Installed6 {
  readonly key: Uint8Array;
  readonly daddr: string;
  readonly dport: number;
  readonly proto: number;
  conn: number;
  needAck: boolean;
  hop: NextHop;
  /** Counters already handed to the engine. */
  pkts: number;
  bytes: number;
}

/** What the IPv6 table did (status: fastPath.ipv6). */
export interface FastPathCounters6 {
  flows: number;
  installed: number;
  removed: number;
  full: number;
  evicted: number;
  events: number;
  forwarded: number;
}

const PROTO_NUM: Record<string, number> = { tcp: 6, udp: 17 };

/** The table's key of a client side: its address (key6) and port. */
const idOf = (w: ArrayLike<number>, port: number): string => `${key6(w)}/${port}`;

export class FastPathTable6 {
  private readonly flows = new Map<string, Installed6>();
  private readonly val = new Uint8Array(VAL_BYTES);
  private readonly valView = new DataView(this.val.buffer);
  private readonly scratch = new Uint8Array(VAL_BYTES);
  private readonly scratchView = new DataView(this.scratch.buffer);
  private cursor: MapIterator<[string, Installed6]> | null = null;
  readonly counters: FastPathCounters6 = { flows: 0, installed: 0, removed: 0, full: 0, evicted: 0, events: 0, forwarded: 0 };

  /** `ifindexes`: where the program is attached; a next hop elsewhere keeps its flows in user space. */
  constructor(private readonly map: FlowMap, private readonly count: CountForwarded, private readonly ifindexes: ReadonlySet<number>) {}

  get size(): number {
    return this.flows.size;
  }

  /** After the engine decided `m` (an IPv6 packet user space forwarded, or a kernel event); `hop`: the real server's next hop. */
  offer(m: PacketMeta, a: Action, hop: NextHop | undefined): void {
    if (m.af !== 6 || m.dir !== 'in') return;
    const id = idOf(m.saddr.words, m.sport);
    let e = this.flows.get(id);
    const proto = PROTO_NUM[m.protocol] ?? 0;
    const daddr = key6(m.daddr.words);
    if (e && (e.daddr !== daddr || e.dport !== m.dport || e.proto !== proto)) {
      // Another flow with the same client address and port: only one is kept.
      if (a.fast === FAST.NO) return;
      this.remove(id, e);
      e = undefined;
    }
    const ok = a.kind === ACTION_CODE.forward && a.method === FWD_CODE.route && a.conn >= 0 && a.fast !== FAST.NO &&
      hop !== undefined && this.ifindexes.has(hop.ifindex);
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
    const key = e ? e.key : new Uint8Array(KEY6_BYTES);
    if (!e) writeFlowKey6(key, m.saddr.words, m.daddr.words, m.sport, m.dport, proto);
    const v = this.val, dv = this.valView;
    v.fill(0);
    v.set(hop.mac, V.DMAC);
    v.set(hop.srcMac, V.SMAC);
    dv.setUint32(V.IFINDEX, hop.ifindex, true);
    dv.setUint16(V.MTU, Math.min(hop.mtu || 1500, 0xffff), true);
    v[V.NEED_ACK] = needAck ? 1 : 0;
    // Replacing the value resets the kernel's counters: hand them over first.
    if (e && this.map.get(key, this.scratch)) this.harvest(e);
    if (!this.map.put(key, v)) {
      this.counters.full++;
      if (e) this.remove(id, e);
      return;
    }
    if (!e) {
      e = { key, daddr, dport: m.dport, proto, conn: a.conn, needAck, hop, pkts: 0, bytes: 0 };
      this.flows.set(id, e);
      this.counters.installed++;
    } else {
      e.conn = a.conn;
      e.needAck = needAck;
      e.hop = hop;
    }
    e.pkts = 0;
    e.bytes = 0;
    this.counters.flows = this.flows.size;
  }

  /**
   * A kernel event for an IPv6 flow (before the engine decides it): an ACK means the kernel
   * cleared need_ack itself; a FIN or RST that it removed the flow, whose last counters are
   * `pkts`, `bytes` (handed to the engine now, before the event moves the state).
   */
  reported(saddr: ArrayLike<number>, sport: number, dport: number, tcpFlags: number, pkts: number, bytes: number): void {
    this.counters.events++;
    const id = idOf(saddr, sport);
    const e = this.flows.get(id);
    if (!e || e.dport !== dport) return;
    if (tcpFlags & (TCP_FLAG.FIN | TCP_FLAG.RST)) {
      this.handOver(e, pkts, bytes);
      this.forget(id);
    } else if (tcpFlags & TCP_FLAG.ACK) e.needAck = false;
  }

  /** Hands every flow's new counts to the engine; forgets flows whose connection is gone. */
  sweep(): void {
    for (const [id, e] of this.flows) this.sweepOne(id, e);
  }

  /** The periodic sweep, `max` flows from where the last stopped (fastpath.ts sweepSome). */
  sweepSome(max: number): void {
    for (let n = 0; n < max; n++) {
      this.cursor ??= this.flows.entries();
      const r = this.cursor.next();
      if (r.done) {
        this.cursor = null;
        break;
      }
      this.sweepOne(r.value[0], r.value[1]);
    }
  }

  /** Removes every flow (a rule change: the engine must see the next packet of each). */
  clear(): void {
    for (const [id, e] of this.flows) this.remove(id, e);
  }

  private sweepOne(id: string, e: Installed6): void {
    if (!this.map.get(e.key, this.scratch)) {
      // Evicted by the kernel's LRU (or cleared from outside): its counts since the last sweep went with it.
      this.forget(id, false);
      this.counters.evicted++;
      return;
    }
    if (!this.harvest(e)) this.remove(id, e);
  }

  private remove(id: string, e: Installed6): void {
    if (this.map.take(e.key, this.scratch)) this.harvest(e);
    this.forget(id);
  }

  private forget(id: string, removed = true): void {
    this.flows.delete(id);
    if (removed) this.counters.removed++;
    this.counters.flows = this.flows.size;
  }

  /** Hands the counters of the entry just read into `scratch` to the engine. */
  private harvest(e: Installed6): boolean {
    const d = this.scratchView;
    return this.handOver(e, Number(d.getBigUint64(V.PKTS, true)), Number(d.getBigUint64(V.BYTES, true)));
  }

  /** Hands the kernel's counts beyond those handed already; false when the connection is gone. */
  private handOver(e: Installed6, pkts: number, bytes: number): boolean {
    const dp = pkts - e.pkts, db = bytes - e.bytes;
    e.pkts = pkts;
    e.bytes = bytes;
    if (dp > 0) this.counters.forwarded += dp;
    return this.count(e.conn, Math.max(0, dp), Math.max(0, db), false);
  }
}
