/**
 * The relay workers' event stream to the primary (cluster.ts), in binary: one Float64Array of
 * words per batch, its ArrayBuffer transferred (thread mode: no copy, no structured clone of
 * strings) or copied over IPC (process mode). Addresses travel as their 32-bit
 * words, so neither side builds or parses address text per connection.
 *
 * Events (words):
 *   OPEN       id af c0 c1 c2 c3 cport v0 v1 v2 v3 vport bytes        (asks for a decision)
 *   OPEN_AHEAD id af c0 c1 c2 c3 cport v0 v1 v2 v3 vport bytes token  (took a decision ahead)
 *   PKT        id dir(0 in, 1 out) flags bytes pkts
 *   CLOSED     id
 * IPv4 addresses use word 0 only (words 1-3 are 0). Float64 holds every word and byte count
 * exactly (counts are integers below 2^53).
 */
import { parseIp, type Ip } from '../../core/addr.ts';
import type { Flow } from './flow.ts';

/** Event codes of the worker -> primary stream. */
export const EV = { OPEN: 1, PKT: 2, CLOSED: 3, OPEN_AHEAD: 4 } as const;

/** Words of each event, by code (index = code). */
export const EV_WORDS = [0, 14, 6, 2, 15] as const;

const MIN_WORDS = 1024;

/** Address words of canonical address text, cached (clients and VIPs repeat). */
const wordsCache = new Map<string, readonly number[]>();
function addrWords(addr: string): readonly number[] {
  let w = wordsCache.get(addr);
  if (w === undefined) {
    const ip = parseIp(addr);
    w = ip ? Array.from({ length: 4 }, (_, i) => (ip.words[i] ?? 0) >>> 0) : [0, 0, 0, 0];
    if (wordsCache.size >= 4096) wordsCache.clear();
    wordsCache.set(addr, w);
  }
  return w;
}

/** Builds one batch at a time (worker side). */
export class EventWriter {
  private a = new Float64Array(MIN_WORDS);
  private n = 0;

  get length(): number {
    return this.n;
  }

  private room(k: number): Float64Array {
    if (this.n + k > this.a.length) {
      const b = new Float64Array(Math.max(this.a.length * 2, this.n + k));
      b.set(this.a.subarray(0, this.n));
      this.a = b;
    }
    return this.a;
  }

  /** OPEN of flow `id` (token undefined), or OPEN_AHEAD on the decision ahead `token`. */
  open(id: number, f: Flow, bytes: number, token?: number): void {
    const a = this.room(EV_WORDS[EV.OPEN_AHEAD]);
    let i = this.n;
    a[i++] = token === undefined ? EV.OPEN : EV.OPEN_AHEAD;
    a[i++] = id;
    a[i++] = f.af;
    const c = addrWords(f.caddr);
    a[i++] = c[0]!; a[i++] = c[1]!; a[i++] = c[2]!; a[i++] = c[3]!;
    a[i++] = f.cport;
    const v = addrWords(f.vaddr);
    a[i++] = v[0]!; a[i++] = v[1]!; a[i++] = v[2]!; a[i++] = v[3]!;
    a[i++] = f.vport;
    a[i++] = bytes;
    if (token !== undefined) a[i++] = token;
    this.n = i;
  }

  pkt(id: number, dir: 0 | 1, flags: number, bytes: number, pkts: number): void {
    const a = this.room(EV_WORDS[EV.PKT]);
    let i = this.n;
    a[i++] = EV.PKT;
    a[i++] = id;
    a[i++] = dir;
    a[i++] = flags;
    a[i++] = bytes;
    a[i++] = pkts;
    this.n = i;
  }

  closed(id: number): void {
    const a = this.room(EV_WORDS[EV.CLOSED]);
    a[this.n++] = EV.CLOSED;
    a[this.n++] = id;
  }

  /**
   * Hands the batch over: its buffer (to transfer) and the number of words written. The writer
   * starts a new buffer, sized for a batch like this one.
   */
  take(): { buf: ArrayBuffer; n: number } {
    const out = { buf: this.a.buffer as ArrayBuffer, n: this.n };
    this.a = new Float64Array(Math.max(MIN_WORDS, this.n));
    this.n = 0;
    return out;
  }
}

/** IPv4 addresses by word, IPv6 by their words' text: shared immutable Ip values (primary side). */
const v4Ips = new Map<number, Ip>();
const v6Ips = new Map<string, Ip>();
/** The Ip of an event's address words at a[i..i+3]. */
export function eventIp(a: Float64Array, i: number, af: 4 | 6): Ip {
  if (af === 4) {
    const w = a[i]! >>> 0;
    let ip = v4Ips.get(w);
    if (ip === undefined) {
      ip = { af: 4, words: [w] };
      if (v4Ips.size >= 65536) v4Ips.clear();
      v4Ips.set(w, ip);
    }
    return ip;
  }
  const words = [a[i]! >>> 0, a[i + 1]! >>> 0, a[i + 2]! >>> 0, a[i + 3]! >>> 0];
  const k = words.join(',');
  let ip = v6Ips.get(k);
  if (ip === undefined) {
    ip = { af: 6, words };
    if (v6Ips.size >= 4096) v6Ips.clear();
    v6Ips.set(k, ip);
  }
  return ip;
}

/** The words of a batch as received (an ArrayBuffer, transferred between threads, copied over IPC). */
export function batchWords(buf: ArrayBuffer, n: number): Float64Array {
  return new Float64Array(buf, 0, Math.min(n, buf.byteLength >> 3));
}
