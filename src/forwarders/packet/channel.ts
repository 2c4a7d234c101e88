/**
 * Batch decide RPC between a worker (I/O) and the main thread (where the one engine lives), over
 * a SharedArrayBuffer: the worker writes a batch of packet records, flips the state word and
 * blocks in Atomics.wait; the main thread wakes through Atomics.waitAsync, decides every record
 * and writes one action record each. One round trip per ring block, not per packet.
 *
 * Layout (Int32Array): [0] state (0 idle, 1 request, 2 answer), [1] count, then `cap` request
 * records of 12 words, then `cap` answer records of 4 words.
 */
import type { Action, DecideBatch, PacketMeta } from './forwarder.ts';
import { K, newAction } from './forwarder.ts';

type WaitAsync = (a: Int32Array, i: number, v: number, t: number) => { async: boolean; value: unknown };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

const REQ = 12;
const ANS = 4;
const PROTO = ['tcp', 'udp', 'sctp'] as const;

export function createChannel(cap = 4096): SharedArrayBuffer {
  return new SharedArrayBuffer(4 * (2 + cap * (REQ + ANS)));
}

function capOf(sab: SharedArrayBuffer): number {
  return (sab.byteLength / 4 - 2) / (REQ + ANS);
}

/** Worker side: a DecideBatch that asks the main thread. A batch not answered in time is dropped. */
export function channelDecider(sab: SharedArrayBuffer, timeoutMs = 1000): DecideBatch {
  const w = new Int32Array(sab);
  const cap = capOf(sab);
  const ansBase = 2 + cap * REQ;
  return (metas, out) => {
    for (let start = 0; start < metas.length; start += cap) {
      const n = Math.min(cap, metas.length - start);
      for (let i = 0; i < n; i++) {
        const m = metas[start + i]!;
        const o = 2 + i * REQ;
        w[o] = (m.dir === 'in' ? 0 : 1) | (m.af << 8) | (PROTO.indexOf(m.protocol) << 16) | ((m.tcpFlags & 255) << 24);
        for (let k = 0; k < 4; k++) {
          w[o + 1 + k] = m.saddr.words[k] ?? 0;
          w[o + 5 + k] = m.daddr.words[k] ?? 0;
        }
        w[o + 9] = (m.sport << 16) | m.dport;
        w[o + 10] = m.bytes;
        w[o + 11] = m.mark;
      }
      w[1] = n;
      Atomics.store(w, 0, 1);
      Atomics.notify(w, 0);
      const r = Atomics.wait(w, 0, 1, timeoutMs);
      if (r === 'timed-out' && Atomics.compareExchange(w, 0, 1, 0) === 1) {
        for (let i = 0; i < n; i++) out[start + i]!.kind = K.DROP;
        continue;
      }
      for (let i = 0; i < n; i++) {
        const a = ansBase + i * ANS;
        const o = out[start + i]!;
        const h = w[a]!;
        o.kind = h & 15;
        o.method = (h >>> 4) & 15;
        o.dir = (h >>> 8) & 1 ? 'out' : 'in';
        o.rip = w[a + 1]! >>> 0;
        o.rport = (w[a + 2]! >>> 16) & 0xffff;
        o.vport = w[a + 2]! & 0xffff;
        o.vip = w[a + 3]! >>> 0;
      }
      Atomics.store(w, 0, 0);
    }
  };
}

/** Main side: serves one worker's channel with `decide` until `stop()`. */
export function serveChannel(sab: SharedArrayBuffer, decide: (m: PacketMeta, out: Action) => void, onBatch?: () => void): { stop(): void } {
  const w = new Int32Array(sab);
  const cap = capOf(sab);
  const ansBase = 2 + cap * REQ;
  let running = true;
  const a = newAction();
  const handle = (): void => {
    const n = w[1]!;
    onBatch?.();
    for (let i = 0; i < n; i++) {
      const o = 2 + i * REQ;
      const h = w[o]!;
      const af = ((h >>> 8) & 255) === 6 ? 6 : 4;
      const words = (base: number) => (af === 4 ? [w[base]! >>> 0] : [0, 1, 2, 3].map((k) => w[base + k]! >>> 0));
      const meta: PacketMeta = {
        dir: (h & 255) === 0 ? 'in' : 'out',
        af,
        protocol: PROTO[(h >>> 16) & 255] ?? 'tcp',
        saddr: { af, words: words(o + 1) },
        daddr: { af, words: words(o + 5) },
        sport: (w[o + 9]! >>> 16) & 0xffff,
        dport: w[o + 9]! & 0xffff,
        tcpFlags: (h >>> 24) & 255,
        bytes: w[o + 10]!,
        mark: w[o + 11]! >>> 0,
      };
      try {
        decide(meta, a);
      } catch {
        a.kind = K.DROP;
      }
      const r = ansBase + i * ANS;
      w[r] = a.kind | (a.method << 4) | ((a.dir === 'out' ? 1 : 0) << 8);
      w[r + 1] = a.rip | 0;
      w[r + 2] = ((a.rport & 0xffff) << 16) | (a.vport & 0xffff);
      w[r + 3] = a.vip | 0;
    }
    if (Atomics.compareExchange(w, 0, 1, 2) === 1) Atomics.notify(w, 0);
  };
  const loop = async (): Promise<void> => {
    while (running) {
      if (Atomics.load(w, 0) === 1) {
        handle();
        continue;
      }
      const r = waitAsync(w, 0, Atomics.load(w, 0), 200);
      if (r.async) await r.value;
    }
  };
  void loop();
  return { stop: () => { running = false; } };
}
