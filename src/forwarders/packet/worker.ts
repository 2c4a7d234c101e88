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

export interface WorkerInit {
  readonly id: number;
  readonly ifaces: readonly string[];
  readonly fanoutGroup: number;
  readonly inAddrs: readonly number[];
  readonly outAddrs: readonly number[];
  readonly nextHops: readonly (readonly [number, NextHop])[];
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

export type WorkerMsgIn =
  | { type: 'addrs'; inAddrs: number[]; outAddrs: number[] }
  | { type: 'hop'; rip: number; hop: NextHop }
  | { type: 'stop' };

export type WorkerMsgOut =
  | { type: 'ready'; id: number }
  | { type: 'missing'; id: number; rip: number }
  | { type: 'stats'; id: number; stats: ForwarderStats; drops: Record<string, number> }
  | { type: 'error'; id: number; message: string };

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
  // Workers forward IPv4 only (the channel's records): an IPv6 next hop is never asked for here.
  const onMissingHop = (rip: number | string) => { if (typeof rip === 'number') post({ type: 'missing', id: init.id, rip }); };
  try {
    fwd = init.nfqueue !== undefined ? new NfqForwarder(init.nfqueue, decide!, init.outAddrs, hops, onMissingHop) : new PacketForwarder({
      ifaces: init.ifaces,
      fanoutGroup: init.fanoutGroup,
      decide,
      channel,
      inAddrs: init.inAddrs,
      outAddrs: init.outAddrs,
      nextHops: hops,
      onMissingHop,
      flowCache: init.flowCache,
    });
  } catch (e) {
    post({ type: 'error', id: init.id, message: (e as Error).message });
    return;
  }
  let stopped = false;
  port.on('message', (m: WorkerMsgIn) => {
    if (m.type === 'stop') stopped = true;
    else if (m.type === 'addrs') fwd.setAddrs(m.inAddrs, m.outAddrs);
    else if (m.type === 'hop') fwd.setNextHop(m.rip, { ...m.hop, mac: new Uint8Array(m.hop.mac), srcMac: new Uint8Array(m.hop.srcMac) });
  });
  post({ type: 'ready', id: init.id });
  const every = init.statsIntervalMs ?? 100;
  let lastStats = 0;
  const loop = (): void => {
    if (stopped) {
      post({ type: 'stats', id: init.id, stats: { ...fwd.stats }, drops: fwd.drops.snapshot() });
      fwd.close();
      port.close();
      return;
    }
    const until = Date.now() + 20;
    try {
      do fwd.pollOnce(10);
      while (Date.now() < until);
    } catch (e) {
      post({ type: 'error', id: init.id, message: (e as Error).message });
    }
    const now = Date.now();
    if (now - lastStats >= every) {
      lastStats = now;
      post({ type: 'stats', id: init.id, stats: { ...fwd.stats }, drops: fwd.drops.snapshot() });
    }
    setImmediate(loop);
  };
  loop();
}

void main();
