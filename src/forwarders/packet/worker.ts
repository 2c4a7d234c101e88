/**
 * Worker thread body: one PacketForwarder per worker, all workers in the same fanout groups.
 * workerData: WorkerInit. Messages in: WorkerMsgIn. Messages out: WorkerMsgOut.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { PacketForwarder, type NextHop, type ForwarderStats } from './forwarder.ts';
import type { DecideBatch } from './decision.ts';
import { NfqForwarder } from './nfq-forwarder.ts';
import { channelDecider, DecisionChannel } from './channel.ts';
import type { Addrs6 } from './classify.ts';

export interface WorkerInit {
  readonly id: number;
  readonly ifaces: readonly string[];
  readonly fanoutGroup: number;
  readonly inAddrs: readonly number[];
  readonly outAddrs: readonly number[];
  readonly nextHops: readonly (readonly [number, NextHop])[];
  /** IPv6: VIPs and NAT real servers (key6 strings, classify.ts), and real servers' next hops by address text. */
  readonly v6: V6Addrs;
  readonly nextHops6: readonly (readonly [string, NextHop])[];
  /** Either a SharedArrayBuffer channel to the main thread, or a module exporting createDecider(config). */
  readonly decider:
    | { readonly kind: 'channel'; readonly sab: SharedArrayBuffer }
    | { readonly kind: 'module'; readonly path: string; readonly config: unknown };
  readonly statsIntervalMs?: number;
  /** This worker reads NFQUEUE `nfqueue` instead of the rings. */
  readonly nfqueue?: number;
  /** The flowCache option (forwarder.ts PacketForwarderOptions). */
  readonly flowCache: boolean;
}

/** IPv6 addresses a worker forwards for (key6 strings). */
export interface V6Addrs { readonly inAddrs: readonly string[]; readonly outAddrs: readonly string[] }

const addrs6 = (v: V6Addrs): Addrs6 => ({ inAddrs: new Set(v.inAddrs), outAddrs: new Set(v.outAddrs) });

export type WorkerMsgIn =
  | { type: 'addrs'; inAddrs: number[]; outAddrs: number[]; v6: V6Addrs }
  /** rip: IPv4 as a number, IPv6 as its text. */
  | { type: 'hop'; rip: number | string; hop: NextHop }
  | { type: 'stop' };

export type WorkerMsgOut =
  | { type: 'ready'; id: number }
  | { type: 'missing'; id: number; rip: number | string }
  | { type: 'stats'; id: number; stats: ForwarderStats; drops: Record<string, number> }
  | { type: 'error'; id: number; message: string };

/** A worker's turn between two reads of its messages: BUSY_TURN_MS while packets come, IDLE_TURN_MS after IDLE_AFTER_TURNS empty turns. */
const BUSY_TURN_MS = 20;
const IDLE_TURN_MS = 100;
const IDLE_AFTER_TURNS = 5;

async function main(): Promise<void> {
  const init = workerData as WorkerInit;
  const port = parentPort!;
  const post = (m: WorkerMsgOut) => port.postMessage(m);
  let decide: DecideBatch | undefined;
  let channel: DecisionChannel | undefined;
  if (init.decider.kind === 'channel') {
    if (init.nfqueue !== undefined) decide = channelDecider(init.decider.sab);
    else channel = new DecisionChannel(init.decider.sab);
  } else {
    const mod = (await import(pathToFileURL(init.decider.path).href)) as { createDecider(c: unknown): DecideBatch };
    decide = mod.createDecider(init.decider.config);
  }
  let fwd: PacketForwarder | NfqForwarder;
  const hops = new Map(init.nextHops.map(([k, v]) => [k, v]));
  const onMissingHop = (rip: number | string) => { post({ type: 'missing', id: init.id, rip }); };
  try {
    fwd = init.nfqueue !== undefined ? new NfqForwarder(init.nfqueue, decide!, init.outAddrs, hops, onMissingHop, addrs6(init.v6)) : new PacketForwarder({
      ifaces: init.ifaces,
      fanoutGroup: init.fanoutGroup,
      decide,
      channel,
      inAddrs: init.inAddrs,
      outAddrs: init.outAddrs,
      nextHops: hops,
      onMissingHop,
      flowCache: init.flowCache,
      ipv6: addrs6(init.v6),
    });
    for (const [rip, hop] of init.nextHops6) fwd.setNextHop(rip, hop);
  } catch (e) {
    post({ type: 'error', id: init.id, message: (e as Error).message });
    return;
  }
  let stopped = false;
  port.on('message', (m: WorkerMsgIn) => {
    if (m.type === 'stop') stopped = true;
    else if (m.type === 'addrs') fwd.setAddrs(m.inAddrs, m.outAddrs, addrs6(m.v6));
    else if (m.type === 'hop') fwd.setNextHop(m.rip, { ...m.hop, mac: new Uint8Array(m.hop.mac), srcMac: new Uint8Array(m.hop.srcMac) });
  });
  post({ type: 'ready', id: init.id });
  const every = init.statsIntervalMs ?? 100;
  let lastStats = 0;
  let lastSum = -1;
  // Turns in a row that received nothing. An idle worker (the NFQUEUE one with no firewall-mark
  // service, a ring worker whose traffic the kernel fast path carries) polls in turns of
  // IDLE_TURN_MS, ending a turn at its first packet: 10 wake-ups a second instead of 50 (the
  // NFQUEUE worker's 20 ms turns were a third of an idle daemon's CPU), while a message (stop,
  // addresses, a next hop) still waits at most one such turn.
  let idleTurns = 0;
  const loop = (): void => {
    if (stopped) {
      post({ type: 'stats', id: init.id, stats: { ...fwd.stats }, drops: fwd.drops.snapshot() });
      fwd.close();
      port.close();
      return;
    }
    const idle = idleTurns >= IDLE_AFTER_TURNS;
    const turn = idle ? IDLE_TURN_MS : BUSY_TURN_MS;
    const until = Date.now() + turn;
    let got = 0;
    try {
      // Polls of up to a turn, until the turn is over (a packet ends a poll at once); an idle turn
      // ends at its first packet, so that messages sent meanwhile are read before the next ones.
      do got += fwd.pollOnce(turn);
      while (Date.now() < until && !(idle && got > 0));
    } catch (e) {
      post({ type: 'error', id: init.id, message: (e as Error).message });
    }
    idleTurns = got === 0 ? idleTurns + 1 : 0;
    const now = Date.now();
    if (now - lastStats >= every) {
      lastStats = now;
      // Only when a counter moved (they only grow): an idle worker (the NFQUEUE one, with no
      // firewall-mark service) posts nothing, and the main thread is not woken for it.
      let sum = fwd.drops.total();
      for (const k in fwd.stats) sum += fwd.stats[k as keyof ForwarderStats];
      if (sum !== lastSum) {
        lastSum = sum;
        post({ type: 'stats', id: init.id, stats: { ...fwd.stats }, drops: fwd.drops.snapshot() });
      }
    }
    setImmediate(loop);
  };
  loop();
}

void main();
