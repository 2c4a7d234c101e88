/**
 * The worker-level packet forwarder: reads frames from AF_PACKET RX rings, asks a decide callback
 * (the engine, or a test's own) what to do with each packet of interest, rewrites in ring memory,
 * and sends in batches: DR frames on AF_PACKET, NAT and TUN packets on a raw IP socket (the kernel
 * routes and ARPs those). Runs in a worker thread (see worker.ts); does not allocate per packet on
 * the fast path except the decide metadata.
 */
import type { Ip } from '../../core/addr.ts';
import { PacketSocket, TxBatch, openRawIpSocket } from './ring.ts';
import { sys, C, check, sockaddrLl, errno } from './sys.ts';
import {
  newParsed, parseFrame, rewriteDst, rewriteSrc, rewriteMacs, encapIpip, icmpFragNeeded,
  type ParsedFrame,
} from './frame.ts';

/** What the decide callback sees: the shape of the engine's PacketIn (IPv4 here). */
export interface PacketMeta {
  dir: 'in' | 'out';
  af: 4 | 6;
  protocol: 'tcp' | 'udp' | 'sctp';
  saddr: Ip;
  sport: number;
  daddr: Ip;
  dport: number;
  tcpFlags: number;
  /** IP total length. */
  bytes: number;
  /** Firewall mark (AF_PACKET cannot see netfilter marks: always 0 on this path). */
  mark: number;
}

/** What to do with one packet. Addresses are host-order IPv4 u32. */
export type Action =
  | { readonly kind: 'pass' }
  | { readonly kind: 'drop' }
  | { readonly kind: 'route'; readonly rip: number }
  | { readonly kind: 'masq-in'; readonly rip: number; readonly rport: number }
  | { readonly kind: 'masq-out'; readonly vip: number; readonly vport: number }
  | { readonly kind: 'tunnel'; readonly rip: number };

export const PASS: Action = { kind: 'pass' };
export const DROP: Action = { kind: 'drop' };

/** Decides a batch: fills `out[i]` for `metas[i]`. */
export type DecideBatch = (metas: readonly PacketMeta[], out: Action[]) => void;

/** How to reach a real server (resolved in the main thread from the routing and neighbour tables). */
export interface NextHop {
  readonly ifindex: number;
  /** Destination MAC (the real server's for DR). */
  readonly mac: Uint8Array;
  /** Our MAC on ifindex. */
  readonly srcMac: Uint8Array;
  /** Our address toward the real server (TUN outer source). */
  readonly src: number;
  readonly mtu: number;
}

export interface ForwarderStats {
  rx: number;
  considered: number;
  route: number;
  masqIn: number;
  masqOut: number;
  tunnel: number;
  dropped: number;
  passed: number;
  noRoute: number;
  malformed: number;
  fragNeeded: number;
  txErrors: number;
}

export function emptyStats(): ForwarderStats {
  return { rx: 0, considered: 0, route: 0, masqIn: 0, masqOut: 0, tunnel: 0, dropped: 0, passed: 0, noRoute: 0, malformed: 0, fragNeeded: 0, txErrors: 0 };
}

export interface PacketForwarderOptions {
  /** Interfaces to capture on (the director's client-facing one, and for NAT the real-server side). */
  readonly ifaces: readonly string[];
  /** Fanout group base: socket on ifaces[i] joins group base+i (shared by every worker). */
  readonly fanoutGroup?: number;
  readonly decide: DecideBatch;
  /** Addresses whose inbound packets are offered to decide (the VIPs). */
  readonly inAddrs: Iterable<number>;
  /** Source addresses whose packets are offered as replies (NAT real servers). */
  readonly outAddrs: Iterable<number>;
  readonly nextHops?: Map<number, NextHop>;
  /** Called (at most once per address until set) when a real server has no next hop yet. */
  readonly onMissingHop?: (rip: number) => void;
  readonly blockTimeoutMs?: number;
}

interface Pending {
  sock: number;
  p: ParsedFrame;
  len: number;
}

function ipOf(v: number): Ip {
  return { af: 4, words: [v] };
}

export class PacketForwarder {
  readonly stats: ForwarderStats = emptyStats();
  private readonly socks: PacketSocket[] = [];
  private readonly rawFd: number;
  private readonly rawTx: TxBatch;
  private readonly llTx: TxBatch;
  private readonly pfds: Buffer;
  private inAddrs: Set<number>;
  private outAddrs: Set<number>;
  nextHops: Map<number, NextHop>;
  private readonly missing = new Set<number>();
  private readonly decide: DecideBatch;
  private readonly pending: Pending[] = [];
  private readonly pool: ParsedFrame[] = [];
  private readonly metas: PacketMeta[] = [];
  private readonly actions: Action[] = [];
  private readonly nameIn = Buffer.alloc(16);
  private readonly scratch = newParsed();

  constructor(private readonly opts: PacketForwarderOptions) {
    this.decide = opts.decide;
    this.inAddrs = new Set(opts.inAddrs);
    this.outAddrs = new Set(opts.outAddrs);
    this.nextHops = opts.nextHops ?? new Map();
    try {
      opts.ifaces.forEach((ifname, i) => {
        this.socks.push(new PacketSocket({
          ifname,
          fanoutGroup: opts.fanoutGroup === undefined ? undefined : opts.fanoutGroup + i,
          blockTimeoutMs: opts.blockTimeoutMs ?? 1,
        }));
      });
      this.rawFd = openRawIpSocket();
    } catch (e) {
      for (const s of this.socks) s.close();
      throw e;
    }
    this.rawTx = new TxBatch(this.rawFd);
    this.llTx = new TxBatch(this.socks[0]!.fd);
    this.pfds = Buffer.alloc(8 * this.socks.length);
    this.socks.forEach((s, i) => {
      this.pfds.writeInt32LE(s.fd, i * 8);
      this.pfds.writeInt16LE(C.POLLIN, i * 8 + 4);
    });
    this.nameIn.writeUInt16LE(C.AF_INET, 0);
  }

  setAddrs(inAddrs: Iterable<number>, outAddrs: Iterable<number>): void {
    this.inAddrs = new Set(inAddrs);
    this.outAddrs = new Set(outAddrs);
  }

  setNextHop(rip: number, hop: NextHop): void {
    this.nextHops.set(rip, hop);
    this.missing.delete(rip);
  }

  /** Polls every socket up to timeoutMs, then processes all ready blocks. Returns frames seen. */
  pollOnce(timeoutMs: number): number {
    let total = 0;
    for (const s of this.socks) total += this.drain(s);
    if (total > 0) return total;
    for (let i = 0; i < this.socks.length; i++) this.pfds.writeInt16LE(0, i * 8 + 6);
    const r = sys.poll(this.pfds, this.socks.length, timeoutMs) as number;
    if (r < 0 && errno() !== C.EINTR) check('poll', r);
    for (const s of this.socks) total += this.drain(s);
    return total;
  }

  private drain(s: PacketSocket): number {
    let n = 0;
    let k: number;
    const si = this.socks.indexOf(s);
    do {
      k = s.readBlock((f) => this.onFrame(si, f.buf, f.mac, f.len, f.headroom), () => this.flushDecisions());
      n += k;
    } while (k > 0);
    return n;
  }

  private onFrame(si: number, buf: Uint8Array, mac: number, len: number, headroom: number): void {
    this.stats.rx++;
    const sp = this.scratch;
    if (!parseFrame(buf, mac, len, sp)) {
      // Not IPv4 or malformed: the kernel deals with it (it has its own copy).
      return;
    }
    let dir: 'in' | 'out';
    if (this.inAddrs.has(sp.daddr)) dir = 'in';
    else if (this.outAddrs.has(sp.saddr)) dir = 'out';
    else return;
    if (sp.l4 < 0 || (sp.proto !== 6 && sp.proto !== 17)) {
      this.stats.malformed++;
      return;
    }
    this.stats.considered++;
    const idx = this.pending.length;
    let p = this.pool[idx];
    if (!p) {
      p = newParsed();
      this.pool.push(p);
    }
    Object.assign(p, sp);
    (p as ParsedFrame & { headroom?: number }).headroom = headroom;
    this.pending.push({ sock: si, p, len });
    this.metas.push({
      dir,
      af: 4,
      protocol: sp.proto === 6 ? 'tcp' : 'udp',
      saddr: ipOf(sp.saddr),
      sport: sp.sport,
      daddr: ipOf(sp.daddr),
      dport: sp.dport,
      tcpFlags: sp.tcpFlags,
      bytes: sp.totLen,
      mark: 0,
    });
  }

  private hop(rip: number): NextHop | undefined {
    const h = this.nextHops.get(rip);
    if (!h && !this.missing.has(rip)) {
      this.missing.add(rip);
      this.opts.onMissingHop?.(rip);
    }
    return h;
  }

  private flushDecisions(): void {
    const n = this.pending.length;
    if (n > 0) {
      this.actions.length = n;
      try {
        this.decide(this.metas, this.actions);
      } catch {
        this.actions.fill(DROP);
      }
      for (let i = 0; i < n; i++) this.apply(this.pending[i]!, this.actions[i] ?? DROP);
      this.pending.length = 0;
      this.metas.length = 0;
    }
    const e0 = this.rawTx.errors + this.llTx.errors;
    this.rawTx.flush();
    this.llTx.flush();
    this.stats.txErrors += this.rawTx.errors + this.llTx.errors - e0;
  }

  private queueRaw(s: PacketSocket, p: ParsedFrame, off: number, len: number, dst: number): void {
    this.nameIn.writeUInt32BE(dst >>> 0, 4);
    this.rawTx.addRef(s.ringAddress + BigInt(off), len, this.nameIn);
  }

  private apply(pe: Pending, a: Action): void {
    const { p } = pe;
    const s = this.socks[pe.sock]!;
    switch (a.kind) {
      case 'pass':
        this.stats.passed++;
        return;
      case 'drop':
        this.stats.dropped++;
        return;
      case 'route': {
        const h = this.hop(a.rip);
        if (!h) { this.stats.noRoute++; return; }
        rewriteMacs(p, h.mac, h.srcMac);
        this.llTx.addRef(s.ringAddress + BigInt(p.mac), 14 + p.totLen, sockaddrLl(h.ifindex, C.ETH_P_IP, h.mac));
        this.stats.route++;
        return;
      }
      case 'masq-in':
        rewriteDst(p, a.rip, a.rport);
        this.queueRaw(s, p, p.ip, p.totLen, a.rip);
        this.stats.masqIn++;
        return;
      case 'masq-out':
        rewriteSrc(p, a.vip, a.vport);
        this.queueRaw(s, p, p.ip, p.totLen, p.daddr);
        this.stats.masqOut++;
        return;
      case 'tunnel': {
        const h = this.hop(a.rip);
        if (!h) { this.stats.noRoute++; return; }
        const df = (p.buf[p.ip + 6]! & 0x40) !== 0;
        if (p.totLen + 20 > h.mtu) {
          if (df) {
            const icmp = icmpFragNeeded(p, p.daddr, h.mtu - 20);
            this.nameIn.writeUInt32BE(p.saddr >>> 0, 4);
            this.rawTx.addCopy(icmp, this.nameIn);
            this.stats.fragNeeded++;
          } else this.stats.dropped++;
          return;
        }
        const headroom = (p as ParsedFrame & { headroom?: number }).headroom ?? 0;
        if (headroom >= 6) {
          const o = encapIpip(p, h.src, a.rip);
          this.queueRaw(s, p, o, p.totLen + 20, a.rip);
        } else {
          // Not enough room in the ring: build the packet in the copy arena.
          const tmp = new Uint8Array(p.totLen + 20);
          tmp.set(p.buf.subarray(p.ip, p.ip + p.totLen), 20);
          const q: ParsedFrame = { ...p, buf: tmp, ip: 20, mac: 6 };
          encapIpip(q, h.src, a.rip);
          this.nameIn.writeUInt32BE(a.rip >>> 0, 4);
          this.rawTx.addCopy(tmp, this.nameIn);
        }
        this.stats.tunnel++;
        return;
      }
    }
  }

  close(): void {
    this.rawTx.close();
    this.llTx.close();
    sys.close(this.rawFd);
    for (const s of this.socks) s.close();
  }
}
