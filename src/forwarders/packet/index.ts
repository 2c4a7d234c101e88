/**
 * `startPacketForwarder(engine, options)`: what `tsvs daemon --forwarder packet` calls.
 * Worker threads do the packet I/O (see host.ts / worker.ts); every packet of interest is decided
 * in the main thread by the one engine (batched over a SharedArrayBuffer channel), mapped to an
 * action from the destination's forwarding method (masq / route / tunnel), rewritten and sent by
 * the worker. The returned PacketForwarderHandle implements the data plane's Forwarder
 * (src/dataplane/forwarder.ts). Installs `table inet tsvs` on start (replacing any left by a crash) and removes
 * it on close.
 */
import type { IpvsCommand, ServiceKey, ServiceSnapshot } from '../../core/types.ts';
import type { Forwarder, ForwarderEngine, ListenerFailure } from '../../dataplane/forwarder.ts';
import type { Engine, PacketIn } from '../../core/engine.ts';
import type { LeftConn } from './adopt.ts';
import { svcKey6 } from './fastpath6.ts';
import { TCP_S } from '../../core/proto.ts';
import { newVerdict } from '../../core/engine.ts';
import type { ForwarderStats } from './forwarder.ts';
import { verdictToAction, type Action } from './decision.ts';
import { key6, type PacketMeta } from './classify.ts';
import { parseIp } from '../../core/addr.ts';
import { startWorkers, type WorkersHandle } from './host.ts';
import { installNft, removeNft, type NftRules } from '../../os/nft.ts';
import { ipv4FromString } from '../../core/addr4.ts';
import type { FastPathCounters } from './fastpath.ts';
import type { RtDest } from '../../core/scheduler.ts';

import { FastPathError, type FastPathKind } from '../../os/bpf.ts';
import { DEFAULT_QUEUE, removeMarkRules, syncMarkRules } from '../../os/nfqueue.ts';
import { PACKET_DEFAULTS, type PacketOptions } from '../../dataplane/options.ts';

/** The part of the engine the packet forwarder uses (src/dataplane/forwarder.ts). */
export type PacketEngine = Pick<ForwarderEngine, 'setTime' | 'processPacket' | 'countForwarded' | 'scheduleAhead' | 'services'> & Pick<Engine, 'importSync'>;

/**
 * The packet forwarder's options (src/dataplane/options.ts PacketOptions: ifaces, workers,
 * fastPath, fastPathAhead, flowCache; absent ones take PACKET_DEFAULTS) and what the daemon adds.
 * `workers` 0: the rings are read in the main thread, on its event loop, and every packet is
 * decided right there by the engine (docs/PACKET-FORWARDER.md, "Threads", with the figures that
 * made it the default). `fastPath`: the kernel fast path (bpf.ts, fastpath.ts) on the capture
 * interfaces for the packets of direct-routing connections the engine already decided, on tc
 * ingress or XDP; main-thread path only.
 */
export interface PacketForwarderOptions extends Partial<PacketOptions> {
  /** Monotonic seconds clock fed to engine.setTime before each batch (default performance.now()/1000). */
  readonly now?: () => number;
  /** NFQUEUE number for firewall-mark services (default 7157); null: no fwmark support. */
  readonly nfqueue?: number | null;
  readonly log?: { info(o: unknown, m?: string): void; warn(o: unknown, m?: string): void };
}

import { execFileSync } from 'node:child_process';

export function defaultIfaces(): string[] {
  const j = JSON.parse(execFileSync('ip', ['-j', '-4', 'addr', 'show'], { encoding: 'utf8' })) as { ifname: string; operstate?: string }[];
  return j.map((x) => x.ifname).filter((n) => n !== 'lo');
}

interface Plan {
  inAddrs: number[];
  outAddrs: number[];
  rips: number[];
  /** IPv6: VIPs and NAT real servers as key6 strings, DR/TUN real servers as text. */
  v6: { inAddrs: string[]; outAddrs: string[]; rips: string[]; svcs: string[] };
  nft: NftRules;
  marks: number[];
}

const k6 = (text: string): string => key6(parseIp(text)!.words);

function plan(svcs: readonly ServiceSnapshot[]): Plan {
  const inAddrs = new Set<number>(), outAddrs = new Set<number>(), rips = new Set<number>(), marks = new Set<number>();
  const in6 = new Set<string>(), out6 = new Set<string>(), rips6 = new Set<string>(), svcs6 = new Set<string>();
  const nft: { vips: NftRules['vips'][number][]; masq: NftRules['masq'][number][] } = { vips: [], masq: [] };
  for (const s of svcs) {
    const v6 = s.af === 6;
    // IPv6 SCTP services are refused (refusal() below).
    if (v6 && s.protocol === 'sctp') continue;
    const proto: 'tcp' | 'udp' | null = s.protocol === 'sctp' ? null : s.protocol;
    if (s.fwmark > 0) marks.add(s.fwmark >>> 0);
    else {
      if (!proto) continue;
      if (v6) {
        in6.add(k6(s.addr));
        svcs6.add(svcKey6(proto, k6(s.addr), s.port));
      }
      else inAddrs.add(ipv4FromString(s.addr));
      nft.vips.push({ protocol: proto, addr: s.addr, port: s.port });
    }
    for (const d of s.dests) {
      if (d.af !== s.af) {
        // A mixed-family tunnel real server (the engine allows no other): its next hop.
        if (d.fwd === 'tunnel') {
          if (d.af === 6) rips6.add(d.addr);
          else rips.add(ipv4FromString(d.addr));
        }
        continue;
      }
      if (d.fwd === 'masq') {
        if (v6) {
          out6.add(k6(d.addr));
          rips6.add(d.addr); // next hop: the kernel fast path carries IPv6 NAT too
        } else {
          outAddrs.add(ipv4FromString(d.addr));
          rips.add(ipv4FromString(d.addr)); // next hop: the kernel fast path carries NAT too
        }
        for (const pr of proto ? [proto] : (['tcp', 'udp'] as const)) nft.masq.push({ protocol: pr, addr: d.addr, port: d.port || s.port });
      } else if (d.fwd !== 'local') {
        if (v6) rips6.add(d.addr);
        else rips.add(ipv4FromString(d.addr));
      }
    }
  }
  return { inAddrs: [...inAddrs], outAddrs: [...outAddrs], rips: [...rips], v6: { inAddrs: [...in6], outAddrs: [...out6], rips: [...rips6], svcs: [...svcs6] }, nft, marks: [...marks] };
}

/** The engine's verdict as the forwarder's action (decision.ts; tests import it from here too). */
export { verdictToAction };

/** Starts the packet forwarder on `engine` (see the top of this file). */
export function startPacketForwarder(engine: PacketEngine, options: PacketForwarderOptions = {}): Promise<PacketForwarderHandle> {
  return PacketForwarderHandle.start(engine, options);
}

/** The running packet forwarder, as the daemon drives it. */
export class PacketForwarderHandle implements Forwarder {
  private constructor(
    private readonly engine: PacketEngine,
    private readonly options: PacketOptions,
    private readonly log: PacketForwarderOptions['log'],
    private readonly h: WorkersHandle,
    private readonly ifaces: readonly string[],
    private readonly inline: boolean,
    private readonly queue: number | null,
    private readonly marks: Set<number>,
    private readonly kind: FastPathKind | null,
    private readonly fastPathError: string | undefined,
  ) {}

  static async start(engine: PacketEngine, options: PacketForwarderOptions): Promise<PacketForwarderHandle> {
    const D = PACKET_DEFAULTS;
    const o: PacketOptions = {
      ifaces: options.ifaces ?? D.ifaces, workers: options.workers ?? D.workers, fastPath: options.fastPath ?? D.fastPath,
      fastPathAhead: options.fastPathAhead ?? D.fastPathAhead, flowCache: options.flowCache ?? D.flowCache,
      fastPathStaleMs: options.fastPathStaleMs ?? D.fastPathStaleMs, fastPathOrphanMs: options.fastPathOrphanMs ?? D.fastPathOrphanMs,
    };
    const ifaces = o.ifaces.length > 0 ? o.ifaces : defaultIfaces();
    const now = options.now ?? (() => performance.now() / 1000);
    const queue = options.nfqueue === undefined ? DEFAULT_QUEUE : options.nfqueue;
    const p = plan(engine.services());
    const inline = o.workers === 0;
    if ((o.fastPath === 'tc' || o.fastPath === 'xdp') && !inline) throw new Error('the kernel fast path works with the default packet path (no ring workers)');
    removeNft(); // whatever a crashed run left
    installNft(p.nft);
    const marks = new Set<number>();
    if (queue !== null) {
      removeMarkRules();
      for (const e of syncMarkRules(p.marks, queue, marks)) options.log?.warn(e, 'cannot queue firewall mark');
    }
    const verdict = newVerdict();
    const decide = (m: PacketMeta, a: Action): void => {
      verdictToAction(m, engine.processPacket(m as PacketIn, verdict), a);
    };
    let h: WorkersHandle;
    // 'auto' is tc, or nothing when it cannot load (no clang, no libbpf, a kernel without it).
    let kind: FastPathKind | null = o.fastPath === 'auto' ? (inline ? 'tc' : null) : o.fastPath === 'none' ? null : o.fastPath;
    let fastPathError: string | undefined;
    const start = (): Promise<WorkersHandle> => startWorkers({
        ifaces, workers: o.workers, inline, flowCache: o.flowCache, inAddrs: p.inAddrs, outAddrs: p.outAddrs, rips: p.rips, decide,
        v6: p.v6,
        onBatch: () => engine.setTime(now()),
        ...(kind && inline ? {
          fastPath: {
            kind,
            bounds: { staleMs: o.fastPathStaleMs, orphanMs: o.fastPathOrphanMs },
            count: (c: number, n: number, b: number, out: boolean) => engine.countForwarded(c, n, b, out),
            // A killed daemon's connections the kernel still carries: entries again (as a sync backup's).
            adopt: (c: LeftConn) => engine.importSync({
              af: c.v6 ? 6 : 4, protocol: c.proto, flags: 0, state: c.proto === 6 ? (c.established ? TCP_S.ESTABLISHED : TCP_S.SYN_RECV) : 0,
              ...(c.v6
                ? { caddr: { af: 6, words: c.v6.saddr }, vaddr: { af: 6, words: c.v6.daddr }, daddr: { af: 6, words: c.v6.rip } }
                : { caddr: { af: 4, words: [c.saddr] }, vaddr: { af: 4, words: [c.daddr] }, daddr: { af: 4, words: [c.rip] } }),
              cport: c.sport, vport: c.dport, dport: c.rport, fwmark: 0, timeout: 0,
            }),
            ...(o.fastPathAhead ? {
              ahead: engine,
              decideAhead: (m: PacketMeta, a: Action, dest: RtDest | undefined) => {
                verdictToAction(m, engine.processPacket(m as PacketIn, verdict, dest), a);
              },
            } : {}),
          },
        } : {}),
        nfqueue: queue ?? undefined,
        log: (msg) => options.log?.warn({ forwarder: 'packet' }, msg),
      });
    try {
      try {
        h = await start();
      } catch (e) {
        if (o.fastPath !== 'auto' || !(e instanceof FastPathError)) throw e;
        fastPathError = e.message;
        options.log?.warn({ err: e.message }, 'kernel fast path unavailable; forwarding every packet in user space');
        kind = null;
        h = await start();
      }
    } catch (e) {
      removeNft();
      if (queue !== null) removeMarkRules();
      throw e;
    }
    return new PacketForwarderHandle(engine, o, options.log, h, ifaces, inline, queue, marks, kind, fastPathError);
  }

  /**
   * Whether the packet forwarder cannot run `cmd` (null: it can). The daemon calls this right
   * before every engine.apply, so it also settles (below): a -Z or a rule change then comes after
   * every packet the workers already forwarded, as in the kernel.
   */
  refusal(cmd: IpvsCommand): string | null {
    this.h.settle();
    if ((cmd.kind === 'add-service' || cmd.kind === 'edit-service') && cmd.svc.fwmark > 0 && this.queue === null) return 'firewall-mark services need the NFQUEUE path (started without it)';
    if ((cmd.kind === 'add-service' || cmd.kind === 'edit-service') && cmd.svc.af === 6) {
      if (cmd.svc.protocol === 'sctp') return 'SCTP services are not supported by the packet forwarder';
    }
    return null;
  }

  async sync(_keys: readonly ServiceKey[]): Promise<ListenerFailure[]> {
    const p = plan(this.engine.services());
    const failed: ListenerFailure[] = [];
    try {
      installNft(p.nft);
    } catch (e) {
      const msg = ((e as { stderr?: Buffer }).stderr?.toString() || (e as Error).message).trim();
      this.log?.warn({ err: msg }, 'cannot install the nftables table');
      for (const v of p.nft.vips) failed.push({ ...v, error: `nftables: ${msg}` });
    }
    if (this.queue !== null) for (const e of syncMarkRules(p.marks, this.queue, this.marks)) this.log?.warn(e, 'cannot queue firewall mark');
    this.h.setAddrs(p.inAddrs, p.outAddrs, p.rips, p.v6);
    return failed;
  }

  /**
   * Makes the engine decide, now, every packet the workers forwarded from their decision caches
   * and have not handed over yet (they do within ~2 ms on their own). Call before reading or
   * zeroing counters (-L --stats, -Z) for exact figures.
   */
  settle(): void {
    this.h.settle();
  }

  /**
   * A VRRP transition: the kernel's flows were decided while this director held another role
   * (a backup's connection table is rewritten by the master's sync), so they all go; the engine
   * sees the next packet of each connection.
   */
  resetKernelCache(): void {
    this.h.resetFastPath();
  }

  status(): { forwarder: 'packet'; ifaces: readonly string[]; workers: number; counters: ForwarderStats; drops: Record<string, number>; fwmarks: number[]; fastPath: ({ kind: FastPathKind } & FastPathCounters) | null; fastPathError?: string } {
    // Exact kernel fast path counters: what it reported and counted so far reaches the engine.
    if (this.kind) this.h.settle();
    const fp = this.h.fastPath();
    return { forwarder: 'packet', ifaces: this.ifaces, workers: this.options.workers, counters: this.h.stats(), drops: this.h.drops(), fwmarks: [...this.marks], fastPath: fp && this.kind ? { kind: this.kind, ...fp } : null, ...(this.fastPathError ? { fastPathError: this.fastPathError } : {}) };
  }

  async close(): Promise<void> {
    await this.h.stop();
    removeNft();
    if (this.queue !== null) removeMarkRules();
  }
}
