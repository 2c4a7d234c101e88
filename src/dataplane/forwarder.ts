/**
 * The contract between the daemon, the engine and a forwarder (proxy or packet): what the daemon
 * calls on a forwarder (`Forwarder`, which both forwarders implement), and the part of the engine
 * a forwarder may call (`ForwarderEngine`, which src/core/engine.ts `Engine` satisfies as it is).
 * Types only: no I/O.
 */
import type { PacketIn, Verdict } from '../core/engine.ts';
import type { RtDest } from '../core/scheduler.ts';
import type { IpvsCommand, ServiceKey, ServiceSnapshot, Timeouts } from '../core/types.ts';

/** A virtual service a forwarder could not take on (e.g. its listening socket failed: EADDRINUSE). */
export interface ListenerFailure {
  readonly protocol: string;
  readonly addr: string;
  readonly port: number;
  readonly error?: string;
}

export interface Forwarder {
  /**
   * Why this forwarder cannot carry out `cmd` (null: it can). The daemon asks right before every
   * engine.apply; a refused command is answered EINVAL with the reason on stderr.
   */
  refusal(cmd: IpvsCommand): string | null;
  /**
   * Makes the engine count, now, every packet the forwarder already forwarded on its own (decision
   * caches, the kernel fast path); the daemon calls it before listings and -Z. Optional: a
   * forwarder that reports every packet as it goes has nothing to settle.
   */
  settle?(): void;
  /** A VRRP transition: forget every flow decided in the previous role (the kernel fast path's). */
  resetKernelCache?(): void;
  /** After every rule change: follow the engine's services (listeners, capture filters, rings). */
  sync(services: readonly ServiceKey[]): Promise<readonly ListenerFailure[]>;
  /** What `tsvs status` shows as listeners (JSON-able). */
  status(): unknown;
  /**
   * The proxy's refused new connections by stable reason (docs/ERRORS.md "Proxy forwarder
   * refusals"), for tsvs_forwarder_drops_total. Optional: the packet forwarder counts its drops
   * in status().
   */
  drops?(): Readonly<Record<string, number>>;
  close(): Promise<void>;
}

/**
 * The engine as a forwarder sees it: the data path (processPacket, with the clock), decisions
 * ahead (scheduleAhead; src/dataplane/ahead.ts), packets a kernel fast path forwarded on the
 * engine's behalf (countForwarded), and the rules (services, timeouts). Nothing that changes rules.
 */
export interface ForwarderEngine {
  setTime(now: number): void;
  /**
   * One packet through the virtual server. `out`: a verdict object to reuse (none allocated);
   * `ahead`: a destination scheduleAhead() chose for this packet's new connection.
   */
  processPacket(p: PacketIn, out?: Verdict, ahead?: RtDest): Verdict;
  /** The service's next scheduling choice, made now for a later connection (null: not eligible). */
  scheduleAhead(key: ServiceKey): RtDest | null;
  /** Accounts packets of connection `handle` a kernel fast path forwarded (`out`: NAT replies); false: it is gone. */
  countForwarded(handle: number, pkts: number, bytes: number, out?: boolean): boolean;
  services(): readonly ServiceSnapshot[];
  timeouts(): Timeouts;
}
