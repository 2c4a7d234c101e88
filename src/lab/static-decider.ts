/**
 * A minimal decide function of our own (no engine): one virtual service, round robin per new
 * flow, a flow table keyed by client address:port. Proves the packet I/O in tests and runs the
 * lab when the daemon is not available. Loaded inside each worker through createDecider(config).
 */
import type { Action, DecideBatch, PacketMeta } from '../forwarders/packet/forwarder.ts';
import { DROP, PASS } from '../forwarders/packet/forwarder.ts';
import { ipv4FromString } from '../forwarders/packet/frame.ts';

export interface StaticConfig {
  readonly mode: 'dr' | 'nat' | 'tun';
  readonly vip: string;
  readonly vport: number;
  readonly protocol: 'tcp' | 'udp';
  readonly rs: readonly { readonly addr: string; readonly port: number }[];
}

export function staticDecide(cfg: StaticConfig): (m: PacketMeta) => Action {
  const vip = ipv4FromString(cfg.vip);
  const rs = cfg.rs.map((r) => ({ addr: ipv4FromString(r.addr), port: r.port || cfg.vport }));
  const flows = new Map<string, number>();
  let next = 0;
  return (m) => {
    if (m.protocol !== cfg.protocol) return PASS;
    if (m.dir === 'in') {
      if (m.daddr.words[0] !== vip || m.dport !== cfg.vport) return PASS;
      const key = `${m.saddr.words[0]}:${m.sport}`;
      let i = flows.get(key);
      if (i === undefined) {
        if (m.protocol === 'tcp' && (m.tcpFlags & 0x02) === 0) return DROP; // no SYN, no flow
        i = next++ % rs.length;
        flows.set(key, i);
      }
      if (m.protocol === 'tcp' && (m.tcpFlags & 0x04) !== 0) flows.delete(key);
      const r = rs[i]!;
      if (cfg.mode === 'dr') return { kind: 'route', rip: r.addr };
      if (cfg.mode === 'tun') return { kind: 'tunnel', rip: r.addr };
      return { kind: 'masq-in', rip: r.addr, rport: r.port };
    }
    if (cfg.mode !== 'nat') return PASS;
    const i = flows.get(`${m.daddr.words[0]}:${m.dport}`);
    if (i === undefined) return DROP;
    const r = rs[i]!;
    if (r.addr !== m.saddr.words[0] || r.port !== m.sport) return DROP;
    return { kind: 'masq-out', vip, vport: cfg.vport };
  };
}

export function createDecider(config: unknown): DecideBatch {
  const d = staticDecide(config as StaticConfig);
  return (metas, out) => {
    for (let i = 0; i < metas.length; i++) out[i] = d(metas[i]!);
  };
}
