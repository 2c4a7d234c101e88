/**
 * The kernel fast path's IPv6 table (user-space side): IPv6 connections in the program's `flows6`
 * map (bpf/tsvs_fastpath.c, fast_step6), kept in step with the engine's decisions as FastPathTable
 * (fastpath.ts) does for IPv4: after the engine decides a packet of a DR or NAT connection,
 * `offer` installs its flow (DR: SYN_RECV with "report the first ACK", ESTABLISHED, UDP; NAT:
 * established, two entries: the client's direction, destination rewritten to the real server, and
 * the replies', source rewritten to the virtual service, sent toward the client's next hop,
 * `clientHop`) or removes it when the engine says it left those states or went elsewhere. The
 * kernel then forwards the flow's packets itself; the sweeps hand their counts to the engine
 * (a NAT reply's as OutPkts), and the packets that change state come back as events (`reported`,
 * then the engine decides them and they are offered again): a FIN or RST of DR, the handshake's
 * ACK, and a NAT connection's close as IPv4's: its FINs recorded in both entries, decided when
 * user space next reads them (a sweep, a listing, a removal) or from the report of the last ACK
 * or a RST, which ends both (END, with the other entry's last counters and the FINs).
 * New connections to a service with decisions ahead (fastpath-ahead.ts, IPv6 rings in `svcs6`)
 * are taken by the kernel and reported (`adoptTaken`), as IPv4's.
 */
import type { NextHop } from '../../os/neigh.ts';
import { FAST, type Action } from './decision.ts';
import type { PacketMeta } from './classify.ts';
import { key6 } from './classify.ts';
import { TCP_FLAG } from '../../core/proto.ts';
import { FLOW_EV, FLOW_NAT, FLOW_VAL as V, KEY6_BYTES, NADDR6, VAL6_BYTES, writeFlowKey6, writeHopValue, type FlowEnd, type FlowMap } from '../../os/flow-map.ts';
import { ACTION_CODE, FWD_CODE } from '../../core/types.ts';
import { endFins, FIN_DECIDED, finsInOrder, keepFin, newFins, noFins, noteFin, type CountForwarded } from './fastpath.ts';

/** A NAT connection's other half: the real server, the virtual service, and the replies' entry. */
interface Nat6 {
  readonly rip: Uint32Array;
  readonly rport: number;
  readonly vip: Uint32Array;
  readonly vport: number;
  /** The replies' key (real server -> client). */
  readonly outKey: Uint8Array;
  /** The replies' entry is in the kernel. */
  out: boolean;
  outPkts: number;
  outBytes: number;
}

interface Installed6 {
  readonly key: Uint8Array;
  readonly saddr: Uint32Array;
  readonly daddr: string;
  readonly dport: number;
  readonly proto: number;
  conn: number;
  needAck: boolean;
  hop: NextHop;
  /** Counters already handed to the engine. */
  pkts: number;
  bytes: number;
  nat: Nat6 | null;
  /** The recorded FINs the engine has decided (fastpath.ts FIN_DECIDED). */
  fins: number;
  /** A sweep found it gone from the kernel once (its END report may still come: fastpath.ts SF.MISSING). */
  missing: boolean;
}

/** What the IPv6 table did (status: fastPath.ipv6). */
export interface FastPathCounters6 {
  flows: number;
  installed: number;
  removed: number;
  full: number;
  evicted: number;
  events: number;
  /** Reports read from the kernel (fastpath.ts). */
  reports: number;
  forwarded: number;
  /** Of `events` and `forwarded`: NAT replies (the engine's OutPkts). */
  eventsOut: number;
  forwardedOut: number;
}

/** The next hop toward an IPv6 client (NAT replies), or undefined while unknown (the caller starts resolving it). */
export type ClientHop6 = (client: ArrayLike<number>) => NextHop | undefined;

const PROTO_NUM: Record<string, number> = { tcp: 6, udp: 17 };

/** A virtual service as `FastPathTable6.services` holds it: protocol, VIP (key6), port (0: every port). */
export function svcKey6(protocol: string, vip: string, port: number): string {
  return `${protocol}/${vip}/${port}`;
}

/** The table's key of a client side: its address (key6) and port. */
const idOf = (w: ArrayLike<number>, port: number): string => `${key6(w)}/${port}`;
const same6 = (a: ArrayLike<number>, b: ArrayLike<number>): boolean =>
  a[0]! >>> 0 === b[0]! >>> 0 && a[1]! >>> 0 === b[1]! >>> 0 && a[2]! >>> 0 === b[2]! >>> 0 && a[3]! >>> 0 === b[3]! >>> 0;
const words = (w: ArrayLike<number>): Uint32Array => Uint32Array.from([w[0]!, w[1]!, w[2]!, w[3]!]);

export class FastPathTable6 {
  private readonly flows = new Map<string, Installed6>();
  private readonly val = new Uint8Array(VAL6_BYTES);
  private readonly valView = new DataView(this.val.buffer);
  private readonly scratch = new Uint8Array(VAL6_BYTES);
  private readonly scratchView = new DataView(this.scratch.buffer);
  private cursor: MapIterator<[string, Installed6]> | null = null;
  readonly counters: FastPathCounters6 = { flows: 0, installed: 0, removed: 0, full: 0, evicted: 0, events: 0, reports: 0, forwarded: 0, eventsOut: 0, forwardedOut: 0 };
  /** The FINs the entries just read recorded (fastpath.ts RecordedFins). */
  private readonly fins = newFins();
  /**
   * Decides a NAT FIN the kernel recorded (host.ts: the engine, as its sender's packet, `out`: the
   * real server's; then offer() unless `offer` is false); set by the owner.
   */
  decideRecorded: ((saddr: ArrayLike<number>, daddr: ArrayLike<number>, sport: number, dport: number, proto: number, flags: number, len: number, out: boolean, offer: boolean) => void) | null = null;

  /**
   * `ifindexes`: where the program is attached; a next hop elsewhere keeps its flows in user space.
   * `clientHop`: next hops toward clients, for NAT replies (without it NAT stays in user space: XDP).
   */
  constructor(private readonly map: FlowMap, private readonly count: CountForwarded, private readonly ifindexes: ReadonlySet<number>, private readonly clientHop?: ClientHop6) {}

  get size(): number {
    return this.flows.size;
  }

  /**
   * The IPv6 virtual services (svcKey6) whose connections the kernel may carry; null: any. A
   * firewall-mark service's are not among them: its packets reach the engine marked, through
   * NFQUEUE (after tc), and the rings see them too when its VIP serves another service.
   */
  services: ReadonlySet<string> | null = null;

  private serves(m: PacketMeta): boolean {
    const s = this.services;
    if (!s) return true;
    const vip = key6(m.daddr.words);
    return s.has(svcKey6(m.protocol, vip, m.dport)) || s.has(svcKey6(m.protocol, vip, 0));
  }

  /** After the engine decided `m` (an IPv6 packet user space forwarded, or a kernel event); `hop`: the real server's next hop. */
  offer(m: PacketMeta, a: Action, hop: NextHop | undefined): void {
    if (m.af !== 6) return;
    if (m.dir !== 'in') {
      this.offerReply(m, a);
      return;
    }
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
    const nat = a.method === FWD_CODE.masq;
    if (a.fast === FAST.CLOSING) {
      // The kernel carries a NAT connection's close if it carried its first FIN: its entries stay.
      if (e && !(nat && a.kind === ACTION_CODE.forward && e.conn === a.conn && e.nat)) this.remove(id, e);
      return;
    }
    const ok = a.kind === ACTION_CODE.forward && a.conn >= 0 && a.fast !== FAST.NO && hop !== undefined && this.ifindexes.has(hop.ifindex) &&
      (a.method === FWD_CODE.route || (nat && a.fast === FAST.YES && this.clientHop !== undefined && a.rip6 !== null)) && this.serves(m);
    if (!ok) {
      if (e) this.remove(id, e);
      return;
    }
    const needAck = a.fast === FAST.NEED_ACK;
    if (e && e.conn === a.conn && e.needAck === needAck && e.hop === hop && (e.nat !== null) === nat) {
      if (e.nat && !e.nat.out) this.installReply(e);
      return;
    }
    if (e && (e.conn !== a.conn || (e.nat !== null) !== nat)) {
      // The engine made a new connection for this tuple (or another method): settle the old one's counts first.
      this.remove(id, e);
      e = undefined;
    }
    const key = e ? e.key : new Uint8Array(KEY6_BYTES);
    if (!e) writeFlowKey6(key, m.saddr.words, m.daddr.words, m.sport, m.dport, proto);
    const v = this.value(hop), dv = this.valView;
    v[V.NEED_ACK] = needAck ? 1 : 0;
    if (nat) {
      v[V.NAT] = FLOW_NAT.DST;
      for (let i = 0; i < 4; i++) dv.setUint32(NADDR6 + 4 * i, a.rip6!.words[i]! >>> 0, false);
      dv.setUint16(V.NPORT, a.rport, false);
    }
    // Replacing the value resets the kernel's counters: hand them over first. The FINs the kernel
    // saw stay (its close goes on; a killed daemon's entry taken over is replaced here too).
    if (this.map.get(key, this.scratch)) {
      if (e) this.harvest(e);
      keepFin(v, this.scratch);
    }
    if (!this.map.put(key, v)) {
      this.counters.full++;
      if (e) this.remove(id, e);
      return;
    }
    if (!e) {
      let n: Nat6 | null = null;
      if (nat) {
        const rip = words(a.rip6!.words), vip = words(a.vip6?.words ?? m.daddr.words);
        const outKey = new Uint8Array(KEY6_BYTES);
        writeFlowKey6(outKey, rip, m.saddr.words, a.rport, m.sport, proto);
        n = { rip, rport: a.rport, vip, vport: a.vport, outKey, out: false, outPkts: 0, outBytes: 0 };
      }
      e = { key, saddr: words(m.saddr.words), daddr, dport: m.dport, proto, conn: a.conn, needAck, hop, pkts: 0, bytes: 0, nat: n, fins: 0, missing: false };
      this.flows.set(id, e);
      this.counters.installed++;
    } else {
      e.conn = a.conn;
      e.needAck = needAck;
      e.hop = hop;
      e.missing = false;
    }
    e.pkts = 0;
    e.bytes = 0;
    this.counters.flows = this.flows.size;
    if (e.nat) this.installReply(e);
  }

  /** A new entry's value in `val`, sent to `hop` (the rest zero). */
  private value(hop: NextHop): Uint8Array {
    writeHopValue(this.val, this.valView, hop);
    return this.val;
  }

  /** NAT: the replies' entry (real server -> client, source rewritten), once the client's next hop is known. */
  private installReply(e: Installed6): void {
    const n = e.nat;
    if (!n || n.out) return;
    const hop = this.clientHop?.(e.saddr);
    if (!hop || !this.ifindexes.has(hop.ifindex)) {
      // A killed daemon's replies' entry the kernel still carries (adopt.ts): ours from now on,
      // counted from what it holds (its close's reports must be known as the replies').
      if (this.clientHop && this.map.get(n.outKey, this.scratch) && this.scratch[V.NAT] === FLOW_NAT.SRC) {
        n.out = true;
        n.outPkts = Number(this.scratchView.getBigUint64(V.PKTS, true));
        n.outBytes = Number(this.scratchView.getBigUint64(V.BYTES, true));
      }
      return;
    }
    const v = this.value(hop), dv = this.valView;
    if (this.map.get(n.outKey, this.scratch)) keepFin(v, this.scratch);
    v[V.NAT] = FLOW_NAT.SRC;
    for (let i = 0; i < 4; i++) dv.setUint32(NADDR6 + 4 * i, n.vip[i]!, false);
    dv.setUint16(V.NPORT, n.vport, false);
    if (!this.map.put(n.outKey, v)) {
      this.counters.full++;
      return;
    }
    n.out = true;
    n.outPkts = 0;
    n.outBytes = 0;
  }

  /** The engine decided a NAT reply: its connection keeps its entries while established, else both leave the kernel. */
  private offerReply(m: PacketMeta, a: Action): void {
    const id = idOf(m.daddr.words, m.dport);
    const e = this.flows.get(id);
    if (!e?.nat || !same6(e.nat.rip, m.saddr.words) || e.nat.rport !== m.sport) return;
    const same = a.kind === ACTION_CODE.forward && a.method === FWD_CODE.masq && a.conn === e.conn;
    if (same && a.fast === FAST.YES) this.installReply(e);
    else if (!(same && a.fast === FAST.CLOSING)) this.remove(id, e);
  }

  /** The entry whose key is this tuple: the client's direction, or a NAT connection's replies' (`out`). */
  private locate(saddr: ArrayLike<number>, daddr: ArrayLike<number>, sport: number, dport: number): { id: string; e: Installed6 | undefined; out: boolean } {
    const id = idOf(saddr, sport);
    const e = this.flows.get(id);
    if (e && e.daddr === key6(daddr) && e.dport === dport) return { id, e, out: false };
    const oid = idOf(daddr, dport);
    const o = this.flows.get(oid);
    if (o?.nat?.out && same6(o.nat.rip, saddr) && o.nat.rport === sport) return { id: oid, e: o, out: true };
    return { id, e: undefined, out: false };
  }

  /**
   * A kernel event for an IPv6 flow (before the engine decides it), with its kind (FLOW_EV): an
   * ACK means the kernel cleared need_ack itself; a FIN or RST of DR (STATE) that it removed the
   * entry, whose last counters are `pkts`, `bytes` (handed to the engine now, before the event
   * moves the state); a NAT close as fastpath.ts's (CLOSING: a FIN that was the first ACK too;
   * END: the FINs recorded decided first, both entries' counters). Says which way the packet went
   * (a NAT reply: 'out').
   */
  reported(saddr: ArrayLike<number>, daddr: ArrayLike<number>, sport: number, dport: number, tcpFlags: number, pkts: number, bytes: number, kind: number = FLOW_EV.STATE, token = 0, end: FlowEnd | null = null): 'in' | 'out' {
    this.counters.events++;
    this.counters.reports++;
    const { id, e, out } = this.locate(saddr, daddr, sport, dport);
    if (out) this.counters.eventsOut++;
    if (!e) return 'in';
    if (kind === FLOW_EV.CLOSING) {
      e.fins |= out ? FIN_DECIDED.OUT : FIN_DECIDED.IN;
      return out ? 'out' : 'in';
    }
    if (kind === FLOW_EV.END) {
      this.forget(id);
      if (end) {
        endFins(this.fins, end, out);
        this.decideFins(e, false);
      }
      this.handOver(e, pkts, bytes, out);
      // (token 1: the other entry was there, its counters follow.)
      if (end && token & 1 && (out || e.nat?.out)) this.handOver(e, end.peerPkts, end.peerBytes, !out);
      return out ? 'out' : 'in';
    }
    if (!out && tcpFlags & (TCP_FLAG.FIN | TCP_FLAG.RST)) {
      this.handOver(e, pkts, bytes, out);
      this.forget(id);
    } else if (tcpFlags & TCP_FLAG.ACK && !out) e.needAck = false;
    return out ? 'out' : 'in';
  }

  /** Has the engine decide the FINs just read (`fins`) that it has not, in the order they came. */
  private decideFins(e: Installed6, offer: boolean): void {
    const n = e.nat, f = this.fins, decide = this.decideRecorded;
    if (!n || !decide) return;
    for (let q = finsInOrder(f, e.fins); q !== 0; q >>= 2) {
      const out = (q & 3) === FIN_DECIDED.OUT;
      e.fins |= q & 3;
      this.counters.events++;
      const sport = (e.key[32]! << 8) | e.key[33]!; // the client's port in the key (network order)
      if (out) {
        this.counters.eventsOut++;
        decide(n.rip, e.saddr, n.rport, sport, e.proto, f.serverFlags, f.serverLen, true, offer);
      } else decide(e.saddr, n.vip, sport, e.dport, e.proto, f.clientFlags, f.clientLen, false, offer);
    }
  }

  /**
   * The kernel created this flow itself, for a new connection sent to a decision ahead
   * (fastpath-ahead.ts) through `kernelHop` (NAT: to `kernelNat.rip`:`kernelNat.rport`, with the
   * replies' entry beside it); `a` is the engine's verdict on it. Recorded as installed when they
   * agree; otherwise the kernel's entries are removed and the verdict offered (fastpath.ts adoptTaken).
   */
  adoptTaken(m: PacketMeta, a: Action, hop: NextHop | undefined, kernelHop: NextHop | undefined, kernelNat?: { readonly rip: ArrayLike<number>; readonly rport: number }): void {
    this.counters.events++;
    this.counters.reports++;
    const id = idOf(m.saddr.words, m.sport);
    if (this.flows.has(id)) this.forget(id); // not in the kernel (it took the decision on a miss)
    const proto = PROTO_NUM[m.protocol] ?? 0;
    const nat = kernelNat !== undefined;
    const ok = a.kind === ACTION_CODE.forward && a.method === (nat ? FWD_CODE.masq : FWD_CODE.route) && a.conn >= 0 && a.fast !== FAST.NO &&
      hop !== undefined && hop === kernelHop && (!nat || (a.rip6 !== null && same6(a.rip6.words, kernelNat.rip) && a.rport === kernelNat.rport));
    const key = new Uint8Array(KEY6_BYTES);
    writeFlowKey6(key, m.saddr.words, m.daddr.words, m.sport, m.dport, proto);
    let outKey: Uint8Array | null = null;
    if (nat) {
      outKey = new Uint8Array(KEY6_BYTES);
      writeFlowKey6(outKey, kernelNat.rip, m.saddr.words, kernelNat.rport, m.sport, proto);
    }
    if (!ok) {
      this.map.take(key, this.scratch);
      if (outKey) this.map.take(outKey, this.scratch);
      this.offer(m, a, hop);
      return;
    }
    // (The kernel installed the replies' entry beside the client's: both counted from zero.)
    const n: Nat6 | null = outKey ? { rip: words(kernelNat!.rip), rport: kernelNat!.rport, vip: words(a.vip6?.words ?? m.daddr.words), vport: a.vport, outKey, out: true, outPkts: 0, outBytes: 0 } : null;
    this.flows.set(id, { key, saddr: words(m.saddr.words), daddr: key6(m.daddr.words), dport: m.dport, proto, conn: a.conn, needAck: a.fast === FAST.NEED_ACK, hop: hop!, pkts: 0, bytes: 0, nat: n, fins: 0, missing: false });
    this.counters.installed++;
    this.counters.flows = this.flows.size;
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
    noFins(this.fins);
    if (!this.map.get(e.key, this.scratch)) {
      // Ended by the kernel after the events were read (its report comes), or evicted by its LRU
      // (or cleared from outside): evicted at the second visit that finds it gone (fastpath.ts).
      if (!e.missing) {
        e.missing = true;
        return;
      }
      // Evicted: its counts since the last sweep went with it.
      if (e.nat?.out && this.map.take(e.nat.outKey, this.scratch)) this.harvest(e, true);
      this.forget(id, false);
      this.counters.evicted++;
      return;
    }
    e.missing = false;
    if (!this.harvest(e)) {
      this.remove(id, e);
      return;
    }
    if (e.nat?.out) {
      if (!this.map.get(e.nat.outKey, this.scratch)) e.nat.out = false;
      else if (!this.harvest(e, true)) {
        this.remove(id, e);
        return;
      }
    } else if (e.nat) this.installReply(e);
    this.decideFins(e, true);
  }

  /** Removes the flow's entries from the kernel: their counts handed over, the FINs they recorded decided. */
  private remove(id: string, e: Installed6): void {
    noFins(this.fins);
    const had = this.map.take(e.key, this.scratch);
    if (had) this.harvest(e);
    if (e.nat?.out && this.map.take(e.nat.outKey, this.scratch)) this.harvest(e, true);
    this.forget(id);
    if (had) this.decideFins(e, false);
  }

  private forget(id: string, removed = true): void {
    this.flows.delete(id);
    if (removed) this.counters.removed++;
    this.counters.flows = this.flows.size;
  }

  /** Hands the counters of the entry just read into `scratch` (the replies' with `out`) to the engine. */
  private harvest(e: Installed6, out = false): boolean {
    const d = this.scratchView;
    noteFin(this.fins, this.scratch, d, out);
    return this.handOver(e, Number(d.getBigUint64(V.PKTS, true)), Number(d.getBigUint64(V.BYTES, true)), out);
  }

  /** Hands the kernel's counts beyond those handed already; false when the connection is gone. */
  private handOver(e: Installed6, pkts: number, bytes: number, out = false): boolean {
    const dp = pkts - (out ? e.nat!.outPkts : e.pkts), db = bytes - (out ? e.nat!.outBytes : e.bytes);
    if (out) { e.nat!.outPkts = pkts; e.nat!.outBytes = bytes; } else { e.pkts = pkts; e.bytes = bytes; }
    if (dp > 0) {
      this.counters.forwarded += dp;
      if (out) this.counters.forwardedOut += dp;
    }
    return this.count(e.conn, Math.max(0, dp), Math.max(0, db), out);
  }
}
