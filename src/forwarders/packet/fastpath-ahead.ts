/**
 * Decisions ahead in the kernel fast path (bpf/tsvs_fastpath.c `svcs`, `ahead`): for every
 * service the policy of src/dataplane/ahead.ts admits (kernelEligible: rr/wrr without
 * persistence or thresholds, every destination direct routing -- or NAT, on tc -- with a next hop
 * on an interface carrying the program), a ring of the engine's next choices, so
 * that a new connection's SYN is forwarded by the kernel too. The kernel reports each one taken
 * (EV_TAKEN with the token) and the engine then creates the connection bound to that destination
 * (processPacket(..., ahead)). Rings live in the mmap'd array map, written here directly: slot
 * `tail` is filled only while fewer than AHEAD_SLOTS wait, then `tail` moves on; the program moves
 * `head` by compare-and-exchange, and so does drop() (a rule change touching the service).
 */
import type { RtDest } from '../../core/scheduler.ts';
import type { ServiceSnapshot } from '../../core/types.ts';
import type { ForwarderEngine } from '../../dataplane/forwarder.ts';
import { AheadRings, kernelEligible, type AheadStore } from '../../dataplane/ahead.ts';
import type { NextHop } from '../../os/neigh.ts';
import { ipv4FromString } from '../../core/addr4.ts';
import { formatIp, parseIp } from '../../core/addr.ts';
import { DestTokens } from '../dest-tokens.ts';
import { AHEAD_RING_BYTES, AHEAD_RINGS, AHEAD_SLOT_BYTES, AHEAD_SLOTS } from '../../os/bpf.ts';
import { FLOW_NAT } from '../../os/flow-map.ts';

export interface AheadKernel {
  readonly aheadMem: ArrayBuffer;
  setAheadService(vip: number, vport: number, proto: number, ring: number | null): void;
  /** IPv6 services (`svcs6`): the same rings. */
  setAheadService6?(vip: ArrayLike<number>, vport: number, proto: number, ring: number | null): void;
}

export type AheadEngine = Pick<ForwarderEngine, 'scheduleAhead' | 'services'>;

const SLOT_OFF = 16, SLOT_BYTES = AHEAD_SLOT_BYTES;
/** struct ahead_slot offsets (bpf/tsvs_fastpath.c). */
const SLOT = { DMAC: 0, SMAC: 6, IFINDEX: 12, MTU: 16, NAT: 18, TOKEN: 20, NADDR: 24, NPORT: 28, TSRC: 32, NADDR6: 40 } as const;
/** The engine's destination record carries its tunnel (core/engine.ts Dest; RtDest does not name it). */
type TunnelDest = RtDest & { readonly tunType?: string; readonly tunCsum?: string };
const PROTO: Record<string, number> = { tcp: 6, udp: 17 };

/** A service's ring: its index in the map, and the service as the program looks it up. */
interface Ring {
  readonly idx: number;
  readonly vip: number;
  readonly vport: number;
  readonly proto: number;
  /** An IPv6 service's address (`svcs6`), else null. */
  readonly vip6: readonly number[] | null;
}

/**
 * The kernel's rings, driven by the decisions-ahead policy (src/dataplane/ahead.ts: which
 * services, when a ring's waiting decisions are dropped, when and how far it is refilled).
 */
export class KernelAhead implements AheadStore<Ring> {
  readonly capacity = AHEAD_SLOTS;
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private readonly free: number[] = Array.from({ length: AHEAD_RINGS }, (_, i) => AHEAD_RINGS - 1 - i);
  private readonly tokens = new DestTokens<RtDest>();
  private readonly rings: AheadRings<Ring>;
  /** Decisions handed to the kernel, and taken by it. */
  readonly counters = { published: 0, taken: 0 };

  /**
   * `tc`: the program can take NAT and tunnel decisions (XDP cannot rewrite addresses or
   * encapsulate), so services of such destinations get rings too.
   */
  /** `hops6`: IPv6 real servers' next hops by address text: IPv6 services get rings too (`svcs6`). */
  constructor(private readonly kernel: AheadKernel, private readonly engine: AheadEngine, private readonly hops: Map<number, NextHop>, private readonly ifindexes: ReadonlySet<number>, tc = false,
    private readonly hops6?: ReadonlyMap<string, NextHop>) {
    this.words = new Int32Array(kernel.aheadMem);
    this.bytes = new Uint8Array(kernel.aheadMem);
    this.view = new DataView(kernel.aheadMem);
    const ipv6 = hops6 !== undefined && kernel.setAheadService6 !== undefined;
    this.rings = new AheadRings(this, engine, (s: ServiceSnapshot) => kernelEligible(s, (addr) => this.hopOfText(addr) !== undefined, tc, ipv6));
  }

  /** The next hop of a real server given as text (either family). */
  private hopOfText(addr: string): NextHop | undefined {
    if (!addr.includes(':')) return this.hopOf(ipv4FromString(addr));
    const hop = this.hops6?.get(addr);
    return hop && this.ifindexes.has(hop.ifindex) ? hop : undefined;
  }

  /** The destination behind a token the kernel reported (undefined: unknown). */
  taken(token: number): RtDest | undefined {
    this.counters.taken++;
    return this.tokens.dest(token);
  }

  /** After every rule change (and when next hops arrive): rings for the services that qualify. */
  sync(): void {
    this.rings.sync(this.engine.services());
  }

  /** Tops up the rings the program took from. */
  refill(): void {
    this.rings.refill();
  }

  get size(): number {
    return this.rings.size;
  }

  /** Every service loses its ring (stop). */
  clear(): void {
    this.rings.clear();
  }

  /** A next hop on an interface carrying the program. */
  private hopOf(rip: number): NextHop | undefined {
    const hop = this.hops.get(rip);
    return hop && this.ifindexes.has(hop.ifindex) ? hop : undefined;
  }

  // ---- AheadStore: the rings in the mmap'd array map ------------------------------------------

  open(key: { readonly protocol: string; readonly addr: string; readonly port: number }): Ring | null {
    const idx = this.free.pop();
    if (idx === undefined) return null;
    const v6 = key.addr.includes(':') ? parseIp(key.addr) : null;
    const r: Ring = { idx, vip: v6 ? 0 : ipv4FromString(key.addr), vport: key.port, proto: PROTO[key.protocol]!, vip6: v6 ? [...v6.words] : null };
    this.drop(r);
    this.setService(r, idx);
    return r;
  }

  private setService(r: Ring, idx: number | null): void {
    if (r.vip6) this.kernel.setAheadService6!(r.vip6, r.vport, r.proto, idx);
    else this.kernel.setAheadService(r.vip, r.vport, r.proto, idx);
  }

  close(r: Ring): void {
    this.setService(r, null);
    this.drop(r);
    this.free.push(r.idx);
  }

  waiting(r: Ring): number {
    const h = r.idx * (AHEAD_RING_BYTES / 4);
    return (Atomics.load(this.words, h + 1) - Atomics.load(this.words, h)) | 0;
  }

  /**
   * Publishes one decision with its next hop (NAT: and the real server's address and port, the
   * service's when the destination has none; a tunnel: its type, the real server as the outer
   * destination and the hop's source address as the outer source); false when the hop went away
   * (this rr step is lost).
   */
  push(r: Ring, dest: RtDest): boolean {
    const v6 = dest.ip.af === 6;
    const rip = v6 ? 0 : dest.ip.words[0]! >>> 0;
    const hop = v6 ? this.hopOfText(formatIp(dest.ip)) : this.hopOf(rip);
    if (!hop) return false;
    const tok = this.tokens.token(dest);
    const base = r.idx * AHEAD_RING_BYTES, h = base / 4;
    const t = Atomics.load(this.words, h + 1);
    const o = base + SLOT_OFF + ((t >>> 0) % AHEAD_SLOTS) * SLOT_BYTES;
    const nat = dest.fwd === 'masq';
    const tun = dest.fwd === 'tunnel' ? ((dest as TunnelDest).tunType === 'gre' ? FLOW_NAT.TUN_GRE : FLOW_NAT.TUN_IPIP) : 0;
    this.bytes.fill(0, o, o + SLOT_BYTES);
    this.bytes.set(hop.mac, o + SLOT.DMAC);
    this.bytes.set(hop.srcMac, o + SLOT.SMAC);
    this.view.setUint32(o + SLOT.IFINDEX, hop.ifindex, true);
    this.view.setUint16(o + SLOT.MTU, Math.min(hop.mtu || 1500, 0xffff), true);
    this.view.setUint8(o + SLOT.NAT, nat ? FLOW_NAT.DST : tun || FLOW_NAT.NONE);
    this.view.setUint32(o + SLOT.TOKEN, tok, true);
    if (nat) {
      if (v6) for (let i = 0; i < 4; i++) this.view.setUint32(o + SLOT.NADDR6 + 4 * i, dest.ip.words[i]! >>> 0, false);
      else this.view.setUint32(o + SLOT.NADDR, rip, false);
      this.view.setUint16(o + SLOT.NPORT, dest.port || r.vport, false);
    } else if (tun) {
      this.view.setUint32(o + SLOT.NADDR, rip, false);
      this.view.setUint32(o + SLOT.TSRC, hop.src >>> 0, false);
    }
    Atomics.store(this.words, h + 1, (t + 1) | 0);
    this.counters.published++;
    return true;
  }

  /** Drops what waits in a ring (head moved to tail, racing the program's claims by CAS). */
  drop(r: Ring): void {
    const h = r.idx * (AHEAD_RING_BYTES / 4);
    for (;;) {
      const head = Atomics.load(this.words, h), tail = Atomics.load(this.words, h + 1);
      if (Atomics.compareExchange(this.words, h, head, tail) === head) return;
    }
  }
}
