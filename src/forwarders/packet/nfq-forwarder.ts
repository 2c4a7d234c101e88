/**
 * The NFQUEUE worker's forwarder (firewall-mark services, see src/os/nfqueue.ts): the packets
 * queued with their marks are decided by the engine and forwarded like the ring path's.
 */
import { sys, C, check } from '../../os/libc.ts';
import { NfQueue, NF_ACCEPT, NF_DROP } from '../../os/nfqueue.ts';
import { openRawIpSocket } from '../../os/packet-ring.ts';
import { Egress, emptyStats, type ForwarderStats, type NextHop } from './forwarder.ts';
import { newAction, type Action, type DecideBatch } from './decision.ts';
import { classify, key6, newMeta, NO_ADDRS6, type Addrs6, type PacketMeta } from './classify.ts';
import { ACTION_CODE } from '../../core/types.ts';
import { createFrameMeta, parseFrame, FrameKind, type FrameMeta } from '../../codec/frame.ts';

const ANY = { has: (_v: number) => true };
const ANY6 = { has: (_k: string) => true, size: 1 };

/** Same job as PacketForwarder, for packets taken from the NFQUEUE (with their marks). */
export class NfqForwarder {
  readonly stats: ForwarderStats = emptyStats();
  readonly egress: Egress;
  private readonly q: NfQueue;
  private readonly rawFd: number;
  private readonly llFd: number;
  private outAddrs: Set<number>;
  /** IPv6: anything queued is 'in' unless it comes from a NAT real server (`out6`). */
  private a6: Addrs6;
  private readonly ids: number[] = [];
  private readonly frames: Uint8Array[] = [];
  private readonly fmetas: FrameMeta[] = [];
  private readonly metaPool: PacketMeta[] = [];
  private readonly metas: PacketMeta[] = [];
  private readonly actions: Action[] = [];
  private readonly accept: boolean[] = [];

  constructor(queue: number, private readonly decide: DecideBatch, outAddrs: Iterable<number>, nextHops: Map<number, NextHop>, onMissingHop?: (rip: number | string) => void, addrs6: Addrs6 = NO_ADDRS6) {
    this.q = new NfQueue(queue);
    this.rawFd = openRawIpSocket();
    this.llFd = check('socket(AF_PACKET)', sys.socket(C.AF_PACKET, C.SOCK_RAW | C.SOCK_CLOEXEC, 0));
    this.egress = new Egress(this.rawFd, this.llFd, this.stats, nextHops, onMissingHop);
    this.outAddrs = new Set(outAddrs);
    this.a6 = { inAddrs: ANY6, outAddrs: addrs6.outAddrs };
  }

  get drops() {
    return this.egress.drops;
  }

  setAddrs(_in: Iterable<number>, outAddrs: Iterable<number>, addrs6?: Addrs6): void {
    this.outAddrs = new Set(outAddrs);
    if (addrs6) this.a6 = { inAddrs: ANY6, outAddrs: addrs6.outAddrs };
  }

  setNextHop(rip: number | string, hop: NextHop): void {
    this.egress.setNextHop(rip, hop);
  }

  pollOnce(timeoutMs: number): number {
    let n = 0;
    const got = this.q.receive(timeoutMs, (id, mark, payload) => {
      this.stats.rx++;
      this.stats.queued++;
      const i = n;
      if (!this.frames[i]) {
        this.frames.push(new Uint8Array(65536 + 128));
        this.fmetas.push(createFrameMeta());
        this.metaPool.push(newMeta());
        this.actions.push(newAction());
      }
      // A dummy Ethernet header before the IP packet, 64 bytes of headroom for IPIP.
      const f = this.frames[i]!;
      f.fill(0, 64, 76);
      // The queue carries the IP packet only: its version says the EtherType.
      const v6 = payload.length > 0 && payload[0]! >> 4 === 6;
      f[76] = v6 ? 0x86 : 0x08;
      f[77] = v6 ? 0xdd : 0x00;
      f.set(payload.subarray(0, 65536), 78);
      const m = parseFrame(f, 64, 14 + payload.length, this.fmetas[i]!);
      const meta = this.metaPool[i]!;
      this.ids[i] = id;
      if (m.reason !== 0 || m.kind !== FrameKind.IP || !classify(m, ANY, this.outAddrs, meta, this.a6)) {
        if (m.reason !== 0) { this.stats.malformed++; this.egress.drops.count(m.reason); }
        this.accept[i] = m.reason === 0; // not ours: the kernel carries on; malformed: dropped
        this.metas[i] = meta;
        this.actions[i]!.kind = m.reason === 0 ? ACTION_CODE.pass : ACTION_CODE.drop;
        meta.mark = -1; // not to be decided
      } else {
        // classify() says 'in' for anything queued unless it comes from a NAT real server.
        if (m.af === 4 ? this.outAddrs.has(m.src[0]!) && m.protocol !== 1 : this.a6.outAddrs.has(key6(m.src)) && m.protocol !== 58) meta.dir = 'out';
        meta.mark = mark;
        this.stats.considered++;
        this.metas[i] = meta;
      }
      n++;
    });
    if (got === 0) return 0;
    // Decide only the packets of interest (mark -1 = already settled).
    const ask: PacketMeta[] = [], idx: number[] = [], acts: Action[] = [];
    for (let i = 0; i < n; i++) if (this.metas[i]!.mark !== -1) { ask.push(this.metas[i]!); idx.push(i); acts.push(this.actions[i]!); }
    if (ask.length) {
      try {
        this.decide(ask, acts);
      } catch {
        for (const a of acts) a.kind = ACTION_CODE.drop;
      }
      for (const i of idx) this.accept[i] = this.actions[i]!.kind === ACTION_CODE.pass;
    }
    for (const i of idx) this.egress.apply(this.frames[i]!, this.fmetas[i]!, this.actions[i]!, null, 0n, 64);
    this.egress.flush();
    for (let i = 0; i < n; i++) this.q.verdict(this.ids[i]!, this.accept[i] ? NF_ACCEPT : NF_DROP);
    this.metas.length = 0;
    return n;
  }

  close(): void {
    this.q.close();
    this.egress.close();
    sys.close(this.rawFd);
    sys.close(this.llFd);
  }
}
