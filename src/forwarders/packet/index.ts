/**
 * `startPacketForwarder(engine, options)`: what `tsvs daemon --forwarder packet` calls.
 * Worker threads do the packet I/O (see host.ts / worker.ts); every packet of interest is decided
 * in the main thread by the one engine (batched over a SharedArrayBuffer channel), mapped to an
 * action from the destination's forwarding method (masq / route / tunnel), rewritten and sent by
 * the worker. The returned object matches the daemon's Forwarder interface (refusal, sync,
 * status, close). Installs `table inet tsvs` on start (replacing any left by a crash) and removes
 * it on close.
 */
import type { IpvsCommand, ServiceKey, ServiceSnapshot, FwdMethod } from '../../core/types.ts';
import { formatIp } from '../../core/addr.ts';
import type { Action, ForwarderStats, PacketMeta } from './forwarder.ts';
import { DROP, PASS } from './forwarder.ts';
import { startWorkers, type WorkersHandle } from './host.ts';
import { installNft, removeNft, type NftRules } from './nft.ts';
import { ipv4FromString } from './frame.ts';

/** The part of the engine the packet forwarder uses (src/core/engine.ts). */
export interface PacketEngine {
  setTime?(now: number): void;
  processPacket(p: PacketMeta): { action: string; dest?: { addr: string; port: number; fwd?: FwdMethod } | null };
  services(): readonly ServiceSnapshot[];
}

export interface PacketForwarderOptions {
  /** Interfaces to capture on (default: every interface with an IPv4 address except lo). */
  readonly ifaces?: readonly string[];
  readonly workers?: number;
  /** Seconds clock fed to the engine before each packet (default performance.now()/1000). */
  readonly now?: () => number;
  readonly log?: { info(o: unknown, m?: string): void; warn(o: unknown, m?: string): void };
}

export interface PacketForwarderHandle {
  refusal(cmd: IpvsCommand): string | null;
  sync(services: readonly ServiceKey[]): Promise<{ protocol: string; addr: string; port: number; error?: string }[]>;
  status(): { forwarder: 'packet'; ifaces: readonly string[]; workers: number; counters: ForwarderStats };
  close(): Promise<void>;
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
  nft: NftRules;
  /** "proto vip:vport rip:rport" -> method */
  methods: Map<string, FwdMethod>;
}

function plan(svcs: readonly ServiceSnapshot[]): Plan {
  const inAddrs = new Set<number>(), outAddrs = new Set<number>(), rips = new Set<number>();
  const nft: { vips: NftRules['vips'][number][]; masq: NftRules['masq'][number][] } = { vips: [], masq: [] };
  const methods = new Map<string, FwdMethod>();
  for (const s of svcs) {
    if (s.af !== 4 || s.fwmark > 0 || s.protocol === 'sctp') continue;
    inAddrs.add(ipv4FromString(s.addr));
    nft.vips.push({ protocol: s.protocol, addr: s.addr, port: s.port });
    for (const d of s.dests) {
      if (d.af !== 4) continue;
      const rip = ipv4FromString(d.addr);
      methods.set(`${s.protocol} ${s.addr}:${s.port} ${d.addr}:${d.port}`, d.fwd);
      if (d.fwd === 'masq') {
        outAddrs.add(rip);
        nft.masq.push({ protocol: s.protocol, addr: d.addr, port: d.port || s.port });
      } else rips.add(rip);
    }
  }
  return { inAddrs: [...inAddrs], outAddrs: [...outAddrs], rips: [...rips], nft, methods };
}

export async function startPacketForwarder(engine: PacketEngine, options: PacketForwarderOptions = {}): Promise<PacketForwarderHandle> {
  const ifaces = options.ifaces ?? defaultIfaces();
  const now = options.now ?? (() => performance.now() / 1000);
  let p = plan(engine.services());
  removeNft(); // whatever a crashed run left
  installNft(p.nft);
  /** NAT replies: "rip:rport>cip:cport" -> [vip, vport]. */
  const nat = new Map<string, [number, number]>();
  const decide = (m: PacketMeta): Action => {
    engine.setTime?.(now());
    const v = engine.processPacket(m);
    if (v.action !== 'forward' || !v.dest) return v.action === 'pass' || v.action === 'local' ? PASS : DROP;
    if (m.dir === 'out') {
      const k = `${m.saddr.words[0]}:${m.sport}>${m.daddr.words[0]}:${m.dport}`;
      const back = nat.get(k);
      if (!back) return DROP;
      if ((m.tcpFlags & 0x05) !== 0 && m.protocol === 'tcp') { /* FIN/RST: keep for the last ACKs; expiry below */ }
      return { kind: 'masq-out', vip: back[0], vport: back[1] };
    }
    const vaddr = formatIp(m.daddr);
    const fwd = v.dest.fwd ?? p.methods.get(`${m.protocol} ${vaddr}:${m.dport} ${v.dest.addr}:${v.dest.port}`)
      ?? p.methods.get(`${m.protocol} ${vaddr}:0 ${v.dest.addr}:${v.dest.port}`);
    const rip = ipv4FromString(v.dest.addr);
    const rport = v.dest.port || m.dport;
    switch (fwd) {
      case 'route': return { kind: 'route', rip };
      case 'tunnel': return { kind: 'tunnel', rip };
      case 'masq':
        if (nat.size > 1_000_000) nat.clear();
        nat.set(`${rip}:${rport}>${m.saddr.words[0]}:${m.sport}`, [m.daddr.words[0]!, m.dport]);
        return { kind: 'masq-in', rip, rport };
      default: return PASS;
    }
  };
  const h: WorkersHandle = await startWorkers({
    ifaces, workers: options.workers, inAddrs: p.inAddrs, outAddrs: p.outAddrs, rips: p.rips, decide,
    log: (msg) => options.log?.warn({ forwarder: 'packet' }, msg),
  });
  return {
    refusal(cmd) {
      if ((cmd.kind === 'add-service' || cmd.kind === 'edit-service') && cmd.svc.fwmark > 0) return 'firewall-mark services are not supported by the packet forwarder yet (AF_PACKET does not see netfilter marks)';
      if ((cmd.kind === 'add-service' || cmd.kind === 'edit-service') && cmd.svc.af === 6) return 'IPv6 services are not supported by the packet forwarder yet';
      return null;
    },
    async sync(_keys) {
      p = plan(engine.services());
      installNft(p.nft);
      h.setAddrs(p.inAddrs, p.outAddrs, p.rips);
      return p.nft.vips.map((v) => ({ protocol: v.protocol, addr: v.addr, port: v.port }));
    },
    status() {
      return { forwarder: 'packet', ifaces, workers: options.workers ?? 0, counters: h.stats() };
    },
    async close() {
      await h.stop();
      removeNft();
    },
  };
}
