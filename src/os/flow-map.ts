/**
 * The kernel fast path's flow map (bpf/tsvs_fastpath.c `flows`) as user space sees it: its key
 * and value layouts, the narrow `FlowMap` interface (os/bpf.ts gives the BPF hash map behind it),
 * and `MemoryFlowMap`, a fake doing the program's part in memory, for tests without a kernel.
 */
import { TCP_FLAG } from '../core/proto.ts';

/** struct flow_key / struct flow_val sizes; struct flow_key6 / struct flow_val6 (IPv6, map `flows6`). */
export const KEY_BYTES = 16;
export const KEY6_BYTES = 40;
export const VAL_BYTES = 64;
/** struct flow_val6: struct flow_val, then the IPv6 address NAT writes (NADDR6, network order). */
export const VAL6_BYTES = 80;
export const NADDR6 = 64;
/** struct flow_val offsets (bpf/tsvs_fastpath.c); NADDR / NPORT / TSRC in network order. */
export const FLOW_VAL = { DMAC: 0, SMAC: 6, IFINDEX: 12, MTU: 16, NEED_ACK: 18, NAT: 19, NADDR: 20, NPORT: 24, FIN: 26, FIN_FLAGS: 27, TSRC: 28, PKTS: 32, BYTES: 40, LAST_NS: 48, ACK_LEN: 56, FIN_LEN: 60 } as const;
/**
 * struct flow_val `need_ack`: WANTED (installed in SYN_RECV: the program records the first ACK),
 * SEEN (recorded, its IP length in ACK_LEN, not counted in the entry: user space has the engine
 * decide it when it next reads the entry, or from the next report's `token`, ackInToken).
 */
export const FLOW_ACK = { WANTED: 1, SEEN: 2 } as const;
/** A report's recorded-first-ACK length (bpf/tsvs_fastpath.c ACK_IN_TOKEN), 0 when none. */
export function ackInToken(token: number): number {
  return token >>> 16;
}
/**
 * struct flow_val `fin` (NAT): this direction sent a FIN (recorded: its flags in FIN_FLAGS, its IP
 * length in FIN_LEN, not counted in the entry), the other did; FIRST: this direction's came first.
 */
export const FLOW_FIN = { SELF: 1, PEER: 2, FIRST: 4 } as const;
/**
 * struct flow_event `kind`: a state event (STATE; a FIN or RST of DR or a tunnel ended its entry
 * and carries its counters), a new connection taken ahead (TAKEN, TAKEN_NAT, TAKEN_TUN), and a NAT
 * connection's close carried in the kernel: a FIN that was also the first ACK, reported with both
 * entries kept (CLOSING; other FINs are recorded, FLOW_FIN); the last ACK or a RST ending both
 * (END, struct flow_end / flow_end6: the other entry's counters and both FINs, FlowEvent `end`).
 */
export const FLOW_EV = { STATE: 0, TAKEN: 1, TAKEN_NAT: 2, TAKEN_TUN: 3, CLOSING: 4, END: 5 } as const;
/**
 * What an IPv4 NAT END report (struct flow_end) adds to its packet: the other direction's entry's
 * last counters, and the FINs the two entries recorded (`fin`: the reporting entry's FLOW_FIN
 * bits; each FIN's TCP flags and IP length, 0 when none).
 */
export interface FlowEnd {
  peerPkts: number;
  peerBytes: number;
  fin: number;
  finFlags: number;
  finLen: number;
  peerFinFlags: number;
  peerFinLen: number;
}
/**
 * struct flow_val `nat`: DR (none), NAT's two directions, or a tunnel (IPv4 in IPv4: IPIP, GRE
 * without checksum; NADDR the outer destination, TSRC the outer source).
 */
export const FLOW_NAT = { NONE: 0, DST: 1, SRC: 2, TUN_IPIP: 3, TUN_GRE: 4 } as const;
/** Bytes a tunnel entry adds to each packet (the program's MTU check). */
export function flowOverhead(nat: number): number {
  return nat === FLOW_NAT.TUN_GRE ? 24 : nat === FLOW_NAT.TUN_IPIP ? 20 : 0;
}

export interface FlowMap {
  /** Creates or replaces an entry; false when the map is full (the flow stays in user space). */
  put(key: Uint8Array, val: Uint8Array): boolean;
  /** Reads an entry into `val`; false if absent. */
  get(key: Uint8Array, val: Uint8Array): boolean;
  /** Removes an entry, reading it into `val` first; false if absent. */
  take(key: Uint8Array, val: Uint8Array): boolean;
}

/**
 * Starts a flow value in `v` (`dv` its view) for a next hop: zeroed, then the MACs, the interface
 * and the MTU the program forwards with; the caller adds NAT and the ACK state.
 */
export function writeHopValue(v: Uint8Array, dv: DataView, hop: { readonly mac: Uint8Array; readonly srcMac: Uint8Array; readonly ifindex: number; readonly mtu: number }): void {
  v.fill(0);
  v.set(hop.mac, FLOW_VAL.DMAC);
  v.set(hop.srcMac, FLOW_VAL.SMAC);
  dv.setUint32(FLOW_VAL.IFINDEX, hop.ifindex, true);
  dv.setUint16(FLOW_VAL.MTU, Math.min(hop.mtu || 1500, 0xffff), true);
}

export function writeFlowKey(k: Uint8Array, saddr: number, daddr: number, sport: number, dport: number, proto: number): void {
  const d = new DataView(k.buffer, k.byteOffset, KEY_BYTES);
  d.setUint32(0, saddr >>> 0, false);
  d.setUint32(4, daddr >>> 0, false);
  d.setUint16(8, sport, false);
  d.setUint16(10, dport, false);
  d.setUint32(12, proto, true);
}

/** struct flow_key6: addresses as 4 words each (network order on the wire, like the packet). */
export function writeFlowKey6(k: Uint8Array, saddr: ArrayLike<number>, daddr: ArrayLike<number>, sport: number, dport: number, proto: number): void {
  const d = new DataView(k.buffer, k.byteOffset, KEY6_BYTES);
  for (let i = 0; i < 4; i++) {
    d.setUint32(4 * i, saddr[i]! >>> 0, false);
    d.setUint32(16 + 4 * i, daddr[i]! >>> 0, false);
  }
  d.setUint16(32, sport, false);
  d.setUint16(34, dport, false);
  d.setUint32(36, proto, true);
}

/**
 * A FlowMap in memory, with `forward()` doing the program's part (bpf/tsvs_fastpath.c) on a
 * decoded packet: tests drive the table through it without a kernel.
 */
export class MemoryFlowMap implements FlowMap {
  readonly entries = new Map<string, Uint8Array>();
  /** `keyBytes`: KEY_BYTES (`flows`) or KEY6_BYTES (`flows6`). */
  constructor(private readonly capacity = 65536, private readonly keyBytes = KEY_BYTES) {}
  private idOf(key: Uint8Array): string {
    return Buffer.from(key.buffer, key.byteOffset, this.keyBytes).toString('hex');
  }
  put(key: Uint8Array, val: Uint8Array): boolean {
    const id = this.idOf(key);
    if (!this.entries.has(id) && this.entries.size >= this.capacity) return false;
    this.entries.set(id, Uint8Array.from(val));
    return true;
  }
  get(key: Uint8Array, val: Uint8Array): boolean {
    const v = this.entries.get(this.idOf(key));
    if (!v) return false;
    val.set(v);
    return true;
  }
  take(key: Uint8Array, val: Uint8Array): boolean {
    const id = this.idOf(key);
    const ok = this.get(key, val);
    this.entries.delete(id);
    return ok;
  }
  /** The last event's counters (FIN/RST: the flow's, as the program reports them), else 0. */
  lastPkts = 0;
  lastBytes = 0;
  /** The last event's kind (FLOW_EV) and token; after an END, what struct flow_end adds, else null. */
  lastKind = 0;
  lastToken = 0;
  lastEnd: FlowEnd | null = null;
  /**
   * The program's verdict for one packet: 'pass' (user space sees it), 'event' (forwarded and
   * reported: `lastKind`, `lastToken`; a DR FIN or RST also removes the flow; a NAT RST or the last
   * ACK after both FINs removes both, `lastEnd`) or 'counted' (forwarded and counted in the entry;
   * a first ACK recorded there instead, FLOW_ACK.SEEN, and a NAT FIN, FLOW_FIN).
   */
  forward(saddr: number, daddr: number, sport: number, dport: number, proto: number, tcpFlags: number, bytes: number): 'pass' | 'event' | 'counted' {
    // A SYN (or one with FIN/RST) is the engine's; a SYN-ACK is carried only as a NAT reply.
    const synack = proto === 6 && (tcpFlags & TCP_FLAG.SYN) !== 0;
    if (synack && (tcpFlags & (TCP_FLAG.FIN | TCP_FLAG.RST) || !(tcpFlags & TCP_FLAG.ACK))) return 'pass';
    // None of SYN, FIN, RST, ACK: the engine's (it moves the connection to CLOSE).
    if (proto === 6 && !(tcpFlags & (TCP_FLAG.SYN | TCP_FLAG.FIN | TCP_FLAG.RST | TCP_FLAG.ACK))) return 'pass';
    const key = new Uint8Array(KEY_BYTES);
    writeFlowKey(key, saddr, daddr, sport, dport, proto);
    const v = this.entries.get(this.idOf(key));
    if (!v || (synack && v[FLOW_VAL.NAT] !== FLOW_NAT.SRC)) return 'pass';
    const d = new DataView(v.buffer);
    if (bytes + flowOverhead(v[FLOW_VAL.NAT]!) > d.getUint16(FLOW_VAL.MTU, true)) return 'pass';
    const firstAck = proto === 6 && v[FLOW_VAL.NEED_ACK] === FLOW_ACK.WANTED && (tcpFlags & TCP_FLAG.ACK) !== 0;
    this.lastPkts = this.lastBytes = 0;
    this.lastKind = FLOW_EV.STATE;
    this.lastToken = 0;
    this.lastEnd = null;
    const rst = (tcpFlags & TCP_FLAG.RST) !== 0;
    const two = proto === 6 && (v[FLOW_VAL.NAT] === FLOW_NAT.DST || v[FLOW_VAL.NAT] === FLOW_NAT.SRC);
    const ends = !two && (tcpFlags & (TCP_FLAG.FIN | TCP_FLAG.RST)) !== 0;
    const fin = two && !rst && (tcpFlags & TCP_FLAG.FIN) !== 0 && !(v[FLOW_VAL.FIN]! & FLOW_FIN.SELF);
    const closing = fin && firstAck;
    const both = FLOW_FIN.SELF | FLOW_FIN.PEER;
    const plainAck = (tcpFlags & (TCP_FLAG.SYN | TCP_FLAG.FIN | TCP_FLAG.RST | TCP_FLAG.ACK)) === TCP_FLAG.ACK;
    const last = two && (rst || (plainAck && (v[FLOW_VAL.FIN]! & both) === both));
    if (firstAck && !ends && !fin && !last) {
      // Recorded, not reported (FLOW_ACK.SEEN).
      d.setUint32(FLOW_VAL.ACK_LEN, bytes, true);
      v[FLOW_VAL.NEED_ACK] = FLOW_ACK.SEEN;
      return 'counted';
    }
    const peer = two ? this.peerKey(saddr, daddr, sport, dport, proto, v) : null;
    // A first ACK recorded and not yet decided rides on this report (this entry's, or the other direction's).
    const pv = peer && (fin || last) ? this.entries.get(this.idOf(peer.key)) : undefined;
    const pd = pv ? new DataView(pv.buffer) : null;
    const seen = (x: Uint8Array | undefined): number => (x && x[FLOW_VAL.NEED_ACK] === FLOW_ACK.SEEN ? new DataView(x.buffer).getUint32(FLOW_VAL.ACK_LEN, true) : 0);
    const pend = seen(v) || seen(pv);
    this.lastToken = pend << 16;
    const mark = (): void => {
      v[FLOW_VAL.FIN]! |= FLOW_FIN.SELF | (v[FLOW_VAL.FIN]! & FLOW_FIN.PEER ? 0 : FLOW_FIN.FIRST);
      if (pv) pv[FLOW_VAL.FIN]! |= FLOW_FIN.PEER;
    };
    if (last) {
      this.lastKind = FLOW_EV.END;
      if (pv) this.lastToken |= 1;
      this.lastPkts = Number(d.getBigUint64(FLOW_VAL.PKTS, true));
      this.lastBytes = Number(d.getBigUint64(FLOW_VAL.BYTES, true));
      this.lastEnd = {
        peerPkts: pd ? Number(pd.getBigUint64(FLOW_VAL.PKTS, true)) : 0, peerBytes: pd ? Number(pd.getBigUint64(FLOW_VAL.BYTES, true)) : 0,
        fin: v[FLOW_VAL.FIN]!, finFlags: v[FLOW_VAL.FIN_FLAGS]!, finLen: d.getUint16(FLOW_VAL.FIN_LEN, true),
        peerFinFlags: pv ? pv[FLOW_VAL.FIN_FLAGS]! : 0, peerFinLen: pd ? pd.getUint16(FLOW_VAL.FIN_LEN, true) : 0,
      };
      this.entries.delete(this.idOf(key));
      if (pv) this.entries.delete(this.idOf(peer!.key));
      return 'event';
    }
    if (fin && !closing) {
      v[FLOW_VAL.FIN_FLAGS] = tcpFlags;
      d.setUint16(FLOW_VAL.FIN_LEN, bytes, true);
      mark();
      return 'counted';
    }
    if (ends || firstAck || closing) {
      if (firstAck || v[FLOW_VAL.NEED_ACK] === FLOW_ACK.SEEN) v[FLOW_VAL.NEED_ACK] = 0;
      if (pv && pv[FLOW_VAL.NEED_ACK] === FLOW_ACK.SEEN) pv[FLOW_VAL.NEED_ACK] = 0;
      if (ends) {
        this.lastPkts = Number(d.getBigUint64(FLOW_VAL.PKTS, true));
        this.lastBytes = Number(d.getBigUint64(FLOW_VAL.BYTES, true));
        this.entries.delete(this.idOf(key));
      }
      if (closing) {
        this.lastKind = FLOW_EV.CLOSING;
        mark();
      }
      return 'event';
    }
    d.setBigUint64(FLOW_VAL.PKTS, d.getBigUint64(FLOW_VAL.PKTS, true) + 1n, true);
    d.setBigUint64(FLOW_VAL.BYTES, d.getBigUint64(FLOW_VAL.BYTES, true) + BigInt(bytes), true);
    return 'counted';
  }

  /** The other direction's key of a NAT entry (the program's peer_key). */
  private peerKey(saddr: number, daddr: number, sport: number, dport: number, proto: number, v: Uint8Array): { key: Uint8Array; tuple: { saddr: number; daddr: number; sport: number; dport: number } } {
    const d = new DataView(v.buffer);
    const naddr = d.getUint32(FLOW_VAL.NADDR, false), nport = d.getUint16(FLOW_VAL.NPORT, false);
    const tuple = v[FLOW_VAL.NAT] === FLOW_NAT.DST
      ? { saddr: naddr, daddr: saddr, sport: nport, dport: sport }
      : { saddr: daddr, daddr: naddr, sport: dport, dport: nport };
    const key = new Uint8Array(KEY_BYTES);
    writeFlowKey(key, tuple.saddr, tuple.daddr, tuple.sport, tuple.dport, proto);
    return { key, tuple };
  }
}
