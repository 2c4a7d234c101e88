/**
 * Decisions ahead in the kernel fast path (bpf/tsvs_fastpath.c `svcs`, `ahead`): for every
 * service whose next choice depends on neither the packet nor live counts (rr/wrr without
 * persistence or thresholds: Engine.scheduleAhead) and whose destinations are all direct routing
 * with a next hop on an interface carrying the program, a ring of the engine's next choices, so
 * that a new connection's SYN is forwarded by the kernel too. The kernel reports each one taken
 * (EV_TAKEN with the token) and the engine then creates the connection bound to that destination
 * (processPacket(..., ahead)). Rings live in the mmap'd array map, written here directly: slot
 * `tail` is filled only while fewer than AHEAD_SLOTS wait, then `tail` moves on; the program moves
 * `head` by compare-and-exchange, and so does drop() (a rule change touching the service).
 */
import type { RtDest } from '../../core/scheduler.ts';
import { SVC_F, type ServiceKey, type ServiceSnapshot } from '../../core/types.ts';
import { serviceKeyString } from '../../core/service-key.ts';
import type { NextHop } from './forwarder.ts';
import { ipv4FromString } from '../../core/addr4.ts';
import { DestTokens } from '../dest-tokens.ts';
import { AHEAD_RING_BYTES, AHEAD_RINGS, AHEAD_SLOTS } from '../../os/bpf.ts';

export interface AheadKernel {
  readonly aheadMem: ArrayBuffer;
  setAheadService(vip: number, vport: number, proto: number, ring: number | null): void;
}

export interface AheadEngine {
  scheduleAhead(key: ServiceKey): RtDest | null;
  services(): readonly ServiceSnapshot[];
}

const SLOT_OFF = 16, SLOT_BYTES = 24;
const PROTO: Record<string, number> = { tcp: 6, udp: 17 };

interface Ring {
  readonly idx: number;
  readonly key: ServiceKey;
  readonly vip: number;
  readonly vport: number;
  readonly proto: number;
  sig: string;
}

export class KernelAhead {
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private readonly rings = new Map<string, Ring>();
  private readonly free: number[] = Array.from({ length: AHEAD_RINGS }, (_, i) => AHEAD_RINGS - 1 - i);
  private readonly tokens = new DestTokens<RtDest>();
  /** Decisions handed to the kernel, and taken by it. */
  readonly counters = { published: 0, taken: 0 };

  constructor(private readonly kernel: AheadKernel, private readonly engine: AheadEngine, private readonly hops: Map<number, NextHop>, private readonly ifindexes: ReadonlySet<number>) {
    this.words = new Int32Array(kernel.aheadMem);
    this.bytes = new Uint8Array(kernel.aheadMem);
    this.view = new DataView(kernel.aheadMem);
  }

  /** The destination behind a token the kernel reported (undefined: unknown). */
  taken(token: number): RtDest | undefined {
    this.counters.taken++;
    return this.tokens.dest(token);
  }

  /**
   * After every rule change (and when next hops arrive): rings for the services that qualify,
   * none for the others; a service that changed drops what waits in its ring.
   */
  sync(): void {
    const seen = new Set<string>();
    for (const s of this.engine.services()) {
      const k = serviceKeyString(s);
      if (!this.qualifies(s)) continue;
      seen.add(k);
      const sig = JSON.stringify([s.scheduler, s.flags, s.dests.map((d) => [d.addr, d.port, d.weight, d.fwd])]);
      let r = this.rings.get(k);
      if (!r) {
        const idx = this.free.pop();
        if (idx === undefined) continue;
        r = { idx, key: { af: 4, fwmark: 0, protocol: s.protocol, addr: s.addr, port: s.port }, vip: ipv4FromString(s.addr), vport: s.port, proto: PROTO[s.protocol]!, sig };
        this.drop(r);
        this.rings.set(k, r);
        this.kernel.setAheadService(r.vip, r.vport, r.proto, idx);
      } else if (r.sig !== sig) {
        this.drop(r);
        r.sig = sig;
      }
    }
    for (const [k, r] of this.rings) {
      if (seen.has(k)) continue;
      this.kernel.setAheadService(r.vip, r.vport, r.proto, null);
      this.drop(r);
      this.rings.delete(k);
      this.free.push(r.idx);
    }
    this.refill();
  }

  /** Tops up every ring under half full with the engine's next choices. */
  refill(): void {
    for (const r of this.rings.values()) {
      const h = r.idx * (AHEAD_RING_BYTES / 4);
      if (((Atomics.load(this.words, h + 1) - Atomics.load(this.words, h)) | 0) >= AHEAD_SLOTS / 2) continue;
      while (((Atomics.load(this.words, h + 1) - Atomics.load(this.words, h)) | 0) < AHEAD_SLOTS) {
        const dest = this.engine.scheduleAhead(r.key);
        if (!dest) break;
        const hop = this.hops.get(dest.ip.words[0]! >>> 0);
        // Checked by qualifies(); a hop that went away meanwhile costs this one rr step.
        if (!hop || !this.ifindexes.has(hop.ifindex)) break;
        this.push(r, dest, hop);
      }
    }
  }

  get size(): number {
    return this.rings.size;
  }

  /** Every service loses its ring (stop). */
  clear(): void {
    for (const r of this.rings.values()) {
      this.kernel.setAheadService(r.vip, r.vport, r.proto, null);
      this.drop(r);
      this.free.push(r.idx);
    }
    this.rings.clear();
  }

  private qualifies(s: ServiceSnapshot): boolean {
    if (s.af !== 4 || s.fwmark !== 0 || (s.protocol !== 'tcp' && s.protocol !== 'udp')) return false;
    if (s.scheduler !== 'rr' && s.scheduler !== 'wrr') return false;
    if (s.flags & (SVC_F.PERSISTENT | SVC_F.ONEPACKET)) return false;
    if (s.dests.length === 0) return false;
    for (const d of s.dests) {
      if (d.fwd !== 'route' || d.af !== 4 || d.uThreshold !== 0 || d.lThreshold !== 0) return false;
      const hop = this.hops.get(ipv4FromString(d.addr));
      if (!hop || !this.ifindexes.has(hop.ifindex)) return false;
    }
    return true;
  }

  private push(r: Ring, dest: RtDest, hop: NextHop): void {
    const tok = this.tokens.token(dest);
    const base = r.idx * AHEAD_RING_BYTES, h = base / 4;
    const t = Atomics.load(this.words, h + 1);
    const o = base + SLOT_OFF + ((t >>> 0) % AHEAD_SLOTS) * SLOT_BYTES;
    this.bytes.set(hop.mac, o);
    this.bytes.set(hop.srcMac, o + 6);
    this.view.setUint32(o + 12, hop.ifindex, true);
    this.view.setUint16(o + 16, Math.min(hop.mtu || 1500, 0xffff), true);
    this.view.setUint16(o + 18, 0, true);
    this.view.setUint32(o + 20, tok, true);
    Atomics.store(this.words, h + 1, (t + 1) | 0);
    this.counters.published++;
  }

  /** Drops what waits in a ring (head moved to tail, racing the program's claims by CAS). */
  private drop(r: Ring): void {
    const h = r.idx * (AHEAD_RING_BYTES / 4);
    for (;;) {
      const head = Atomics.load(this.words, h), tail = Atomics.load(this.words, h + 1);
      if (Atomics.compareExchange(this.words, h, head, tail) === head) return;
    }
  }
}
