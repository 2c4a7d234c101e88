/**
 * Connections a killed daemon left in the kernel fast path (tc): os/bpf.ts copies its program's
 * flows into the new program's map before replacing the filter, so the kernel goes on carrying
 * them; here the new daemon binds each to a connection of its engine again once its rules and next
 * hops are back (the kernel IPVS keeps its table across a keepalived restart; this is ours doing
 * the same). A flow not bound within ADOPT_MS (its service or real server is gone, or its next hop
 * never resolves) is removed from the kernel: nothing is carried that the engine does not know.
 * IPv6 flows (`flows6`, DR and NAT) likewise.
 */
import { FLOW_NAT, FLOW_VAL as V, KEY6_BYTES, NADDR6, VAL6_BYTES, type FlowMap } from '../../os/flow-map.ts';
import type { AdoptedFlow } from '../../os/bpf.ts';
import type { NextHop } from '../../os/neigh.ts';
import { parseIp } from '../../core/addr.ts';

/** How long left flows wait for their connection to be bound (rules restored, next hops resolved). */
export const ADOPT_MS = 10_000;

/** A left flow as a connection: client, virtual service, real server (host-order numbers). */
export interface LeftConn {
  readonly saddr: number;
  readonly daddr: number;
  readonly sport: number;
  readonly dport: number;
  /** 6 or 17. */
  readonly proto: number;
  readonly rip: number;
  readonly rport: number;
  /** The handshake's ACK was seen (the program no longer reports it). */
  readonly established: boolean;
  /** An IPv6 flow (`flows6`): its addresses as words (host order); the numbers above are then 0. */
  readonly v6?: { readonly saddr: number[]; readonly daddr: number[]; readonly rip: number[] };
}

/**
 * Binds one connection in the engine (creates its entry, decides its next packet, installs its
 * flow again); false while that cannot be done yet (no such service or real server).
 */
export type BindLeft = (c: LeftConn) => boolean;

export interface AdoptCounters {
  /** Flows taken over from the previous program and bound to the engine's connections. */
  adopted: number;
  /** Left flows removed: not bound within ADOPT_MS, or ended before they were. */
  adoptDropped: number;
}

export class LeftFlows {
  readonly counters: AdoptCounters = { adopted: 0, adoptDropped: 0 };
  private pending: AdoptedFlow[];
  private readonly until: number;
  private readonly val = new Uint8Array(VAL6_BYTES);

  /** IPv6 flows (keys of KEY6_BYTES) are read in `map6`, their DR real servers found in `hops6` (by address text). */
  constructor(flows: AdoptedFlow[], private readonly map: FlowMap, private readonly hops: ReadonlyMap<number, NextHop>, private readonly bind: BindLeft, now = performance.now(),
    private readonly map6?: FlowMap, private readonly hops6?: ReadonlyMap<string, NextHop>) {
    // A NAT connection's replies' entry is installed again with its connection.
    this.pending = flows.filter((f) => f.val[V.NAT] !== FLOW_NAT.SRC);
    this.until = now + ADOPT_MS;
  }

  get waiting(): number {
    return this.pending.length;
  }

  /** Tries every waiting flow (call on a timer); the last call after ADOPT_MS removes what is left. */
  step(now = performance.now()): void {
    if (this.pending.length === 0) return;
    const rest: AdoptedFlow[] = [];
    for (const f of this.pending) {
      // Ended meanwhile (the program removed it on FIN/RST, or the LRU evicted it): nothing to bind.
      if (!this.mapOf(f).get(f.key, this.val)) {
        this.counters.adoptDropped++;
        continue;
      }
      const c = this.conn(f);
      if (c && this.bind(c)) this.counters.adopted++;
      else rest.push(f);
    }
    this.pending = rest;
    if (now >= this.until) {
      for (const f of this.pending) {
        this.mapOf(f).take(f.key, this.val);
        this.counters.adoptDropped++;
      }
      this.pending = [];
    }
  }

  private mapOf(f: AdoptedFlow): FlowMap {
    return f.key.length === KEY6_BYTES && this.map6 ? this.map6 : this.map;
  }

  /** The connection an IPv6 flow carries (struct flow_key6, struct flow_val6), as conn(). */
  private conn6(f: AdoptedFlow): LeftConn | undefined {
    const k = new DataView(f.key.buffer, f.key.byteOffset, f.key.byteLength);
    const v = new DataView(f.val.buffer, f.val.byteOffset, f.val.byteLength);
    const w = (d: DataView, o: number): number[] => [0, 1, 2, 3].map((i) => d.getUint32(o + 4 * i, false) >>> 0);
    const dport = k.getUint16(34, false);
    const nat = f.val[V.NAT]!;
    let rip: number[] | undefined;
    let rport = dport;
    if (nat === FLOW_NAT.NONE) {
      const ifindex = v.getUint32(V.IFINDEX, true);
      for (const [text, h] of this.hops6 ?? []) {
        if (h.ifindex === ifindex && h.mac.every((b, i) => b === f.val[V.DMAC + i])) {
          rip = parseIp(text)?.words.slice();
          break;
        }
      }
      if (rip === undefined) return undefined;
    } else if (nat === FLOW_NAT.DST && f.val.length >= VAL6_BYTES) {
      rip = w(v, NADDR6);
      rport = v.getUint16(V.NPORT, false);
    } else return undefined;
    return {
      saddr: 0, daddr: 0, rip: 0, sport: k.getUint16(32, false), dport, proto: k.getUint32(36, true), rport,
      established: f.val[V.NEED_ACK] === 0, v6: { saddr: w(k, 0), daddr: w(k, 16), rip },
    };
  }

  /** The connection a flow carries; undefined while a DR flow's real server (by MAC) has no next hop. */
  private conn(f: AdoptedFlow): LeftConn | undefined {
    if (f.key.length === KEY6_BYTES) return this.conn6(f);
    const k = new DataView(f.key.buffer, f.key.byteOffset, f.key.byteLength);
    const v = new DataView(f.val.buffer, f.val.byteOffset, f.val.byteLength);
    const dport = k.getUint16(10, false);
    const nat = f.val[V.NAT]!;
    let rip: number | undefined;
    let rport = dport;
    if (nat === FLOW_NAT.NONE) {
      const ifindex = v.getUint32(V.IFINDEX, true);
      for (const [ip, h] of this.hops) {
        if (h.ifindex === ifindex && h.mac.every((b, i) => b === f.val[V.DMAC + i])) {
          rip = ip;
          break;
        }
      }
      if (rip === undefined) return undefined;
    } else {
      rip = v.getUint32(V.NADDR, false) >>> 0;
      if (nat === FLOW_NAT.DST) rport = v.getUint16(V.NPORT, false);
    }
    return {
      saddr: k.getUint32(0, false) >>> 0, daddr: k.getUint32(4, false) >>> 0, sport: k.getUint16(8, false), dport,
      proto: k.getUint32(12, true), rip, rport, established: f.val[V.NEED_ACK] === 0,
    };
  }
}
