/**
 * Decisions ahead: the one policy both forwarders follow (no I/O).
 *
 * For a service whose next scheduling choice depends on neither the packet nor live counts
 * (decidesAhead in src/core/scheduler.ts: rr/wrr, no persistence, one-packet scheduling or
 * thresholds), the engine's next choices are made before the connections arrive
 * (Engine.scheduleAhead) and queued in a ring in shared memory; whoever accepts a new connection
 * takes the next one and connects or forwards at once, and the engine later binds the connection
 * to it (processPacket(..., ahead)). Two kinds of ring follow this policy:
 * - the proxy's relay workers (src/forwarders/proxy/ahead-ring.ts, one SharedArrayBuffer per TCP
 *   service, taken by every relay thread);
 * - the kernel fast path (src/forwarders/packet/fastpath-ahead.ts, slots of a BPF array map, taken
 *   by the tc/XDP program for a new connection's first packet).
 *
 * The policy, in one place:
 * - eligibility: `proxyEligible` / `kernelEligible` (decidesAhead, and what each ring can carry);
 * - signature: `aheadSignature`, what the waiting decisions were made under; a rule change that
 *   alters it drops what waits (those rr/wrr steps are skipped, as choices never used);
 * - refill: `wantsRefill`, below half full; then filled up to capacity, until the engine has no
 *   destination or the ring takes no more (`AheadRings.refill`).
 */
import { decidesAhead, type RtDest } from '../core/scheduler.ts';
import { serviceKeyString } from '../core/service-key.ts';
import type { ServiceKey, ServiceSnapshot } from '../core/types.ts';
import type { ForwarderEngine } from './forwarder.ts';

/** A ring is refilled once fewer than half its slots wait (then up to all of them). */
export function wantsRefill(waiting: number, capacity: number): boolean {
  return waiting < capacity / 2;
}

/** The proxy's relay workers: TCP services (either family) the engine decides ahead. */
export function proxyEligible(s: ServiceSnapshot): boolean {
  return s.protocol === 'tcp' && decidesAhead(s.scheduler, s.fwmark, s.flags, s.dests);
}

/**
 * The kernel fast path: IPv4 TCP or UDP services the engine decides ahead whose destinations
 * (at least one) are all IPv4 direct routing -- or, when the program can rewrite addresses and
 * encapsulate (`tc`), NAT or a tunnel the program builds (kernelTunnel) -- with a next hop the
 * program can send to (`reachable`: known, on an interface carrying the program), since the
 * kernel forwards the connection's first packet itself.
 */
export function kernelEligible(s: ServiceSnapshot, reachable: (addr: string) => boolean, tc = false, ipv6 = false): boolean {
  // `ipv6`: IPv6 services too (every destination IPv6 DR, or NAT on tc: no IPv6 tunnel in the kernel).
  if ((s.af !== 4 && !(ipv6 && s.af === 6)) || (s.protocol !== 'tcp' && s.protocol !== 'udp')) return false;
  if (!decidesAhead(s.scheduler, s.fwmark, s.flags, s.dests) || s.dests.length === 0) return false;
  for (const d of s.dests) {
    const ok = d.fwd === 'route' || (tc && (d.fwd === 'masq' || (s.af === 4 && d.fwd === 'tunnel' && kernelTunnel(d.tunType, d.tunCsum))));
    if (!ok || d.af !== s.af || !reachable(d.addr)) return false;
  }
  return true;
}

/**
 * The encapsulations user space hands to the kernel fast path (tc, IPv4 in IPv4): IPIP. The
 * program also builds GRE without checksum (golden-tested), but GRE stays in user space for now:
 * the kernel path passes a partial inner checksum on as the socket buffer has it (as kernel IPVS
 * does), and the lab's GRE check (test/lab/tunnel-types.test.ts) wants every checksum on the wire
 * complete, as user space makes it.
 */
export function kernelTunnel(tunType: string | undefined, _tunCsum: string | undefined): boolean {
  return (tunType ?? 'ipip') === 'ipip';
}

/**
 * What the decisions waiting in a service's ring were made under: the scheduler, its flags and
 * every destination as configured (address, port, weight, method, thresholds, tunnel). Counters
 * and rates are left out: traffic never drops what waits.
 */
export function aheadSignature(s: ServiceSnapshot): string {
  return JSON.stringify([s.scheduler, s.flags, s.dests.map((d) => [d.af, d.addr, d.port, d.weight, d.fwd, d.uThreshold, d.lThreshold, d.tunType, d.tunPort, d.tunCsum])]);
}

/** The rings of one kind, as the policy drives them. */
export interface AheadStore<R> {
  /** Slots per ring. */
  readonly capacity: number;
  /** A ring for a service that became eligible, empty; null when none is left (a bounded map). */
  open(key: ServiceKey): R | null;
  /** Decisions waiting in the ring. */
  waiting(ring: R): number;
  /**
   * Appends one decision for the service `key` (a destination port of 0 means the service's);
   * false when the ring cannot take it (full, no next hop): refill stops.
   */
  push(ring: R, dest: RtDest, key: ServiceKey): boolean;
  /** Drops every waiting decision (the service changed). */
  drop(ring: R): void;
  /** The service is gone or no longer eligible: the ring goes (after drop). */
  close(ring: R): void;
  /** Called before a ring is refilled (the proxy's ring clears its "refill asked" flag). */
  refilling?(ring: R): void;
}

interface Entry<R> {
  readonly ring: R;
  readonly key: ServiceKey;
  sig: string;
}

/**
 * The rings of the services that qualify, kept equal to the rules (sync after every change) and
 * topped up with the engine's next choices (refill whenever decisions were taken).
 */
export class AheadRings<R> {
  private readonly rings = new Map<string, Entry<R>>();

  constructor(
    private readonly store: AheadStore<R>,
    private readonly engine: Pick<ForwarderEngine, 'scheduleAhead'>,
    private readonly eligible: (s: ServiceSnapshot) => boolean,
  ) {}

  /**
   * After every rule change: a ring for each service that qualifies, none for the others; a
   * service whose signature changed drops what waits; then every ring is refilled.
   */
  sync(services: readonly ServiceSnapshot[]): void {
    const want = new Map<string, ServiceSnapshot>();
    for (const s of services) if (this.eligible(s)) want.set(serviceKeyString(s), s);
    // Rings go first: a bounded store then has their slots for the services that arrive.
    for (const [k, e] of this.rings) {
      if (want.has(k)) continue;
      this.store.drop(e.ring);
      this.store.close(e.ring);
      this.rings.delete(k);
    }
    for (const [k, s] of want) {
      const sig = aheadSignature(s);
      const e = this.rings.get(k);
      if (e) {
        if (e.sig !== sig) {
          this.store.drop(e.ring);
          e.sig = sig;
        }
        continue;
      }
      const key: ServiceKey = { af: s.af, fwmark: s.fwmark, protocol: s.protocol, addr: s.addr, port: s.port };
      const ring = this.store.open(key);
      if (ring !== null) this.rings.set(k, { ring, key, sig });
    }
    this.refill();
  }

  /** Tops up every ring under half full with the engine's next choices; returns how many were pushed. */
  refill(): number {
    const st = this.store;
    let n = 0;
    for (const e of this.rings.values()) {
      if (!wantsRefill(st.waiting(e.ring), st.capacity)) continue;
      st.refilling?.(e.ring);
      while (st.waiting(e.ring) < st.capacity) {
        const dest = this.engine.scheduleAhead(e.key);
        if (!dest || !st.push(e.ring, dest, e.key)) break;
        n++;
      }
    }
    return n;
  }

  /** Every ring goes (stop). */
  clear(): void {
    for (const e of this.rings.values()) {
      this.store.drop(e.ring);
      this.store.close(e.ring);
    }
    this.rings.clear();
  }

  get size(): number {
    return this.rings.size;
  }

  /** The rings by serviceKeyString (the proxy hands them to its relay workers). */
  *entries(): IterableIterator<[string, R]> {
    for (const [k, e] of this.rings) yield [k, e.ring];
  }
}
