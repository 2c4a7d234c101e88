/**
 * Runs every vrrp_instance of a keepalived configuration with the real transport and side
 * effects; used by `tsvs vrrp` and by the daemon when it is given a keepalived.conf.
 * vrrp_sync_group: when one member leaves MASTER for BACKUP/FAULT, the others follow (keepalived).
 */
import { execFileSync } from 'node:child_process';
import type { VrrpConfig, VrrpInstanceConfig } from '../config/desired.ts';
import { VrrpInstance, type VrrpLog } from './vrrp-instance.ts';
import { openRawVrrpTransport } from './vrrp-transport.ts';
import { iprouteAddresses, packetGarp, shellNotify } from './vrrp-net.ts';
import type { VrrpState } from './vrrp-machine.ts';

/** The first IPv4 address of an interface that is not one of the instance's virtual addresses. */
export function primaryIpv4(dev: string, exclude: readonly string[]): string | null {
  try {
    const out = JSON.parse(execFileSync('ip', ['-j', '-4', 'addr', 'show', 'dev', dev], { encoding: 'utf8' })) as {
      addr_info?: { local: string }[];
    }[];
    for (const l of out) for (const a of l.addr_info ?? []) if (!exclude.includes(a.local)) return a.local;
  } catch {
    return null;
  }
  return null;
}

export interface VrrpStatus {
  readonly name: string;
  readonly state: VrrpState;
  readonly priority: number;
  readonly vrid: number;
  readonly interface: string;
  readonly rx: number;
  readonly tx: number;
  readonly dropped: number;
}

export interface VrrpService {
  status(): VrrpStatus[];
  stop(): Promise<void>;
}

export function startVrrp(cfg: VrrpConfig, log: VrrpLog, onState?: (name: string, from: VrrpState, to: VrrpState) => void): VrrpService {
  const instances: VrrpInstance[] = [];
  const byName = new Map<string, VrrpInstance>();
  const groupOf = new Map<string, string[]>();
  for (const g of cfg.syncGroups) for (const m of g.group) groupOf.set(m, g.group.filter((x) => x !== m));
  const now = () => performance.now() / 1000;
  for (const ic of cfg.instances) {
    const dev = ic.interface ?? 'eth0';
    const src = ic.unicast_src_ip ?? ic.mcast_src_ip ?? primaryIpv4(dev, ic.virtual_ipaddress.map((v) => v.addr));
    if (!src) throw new Error(`vrrp_instance ${ic.name}: interface ${dev} has no IPv4 address`);
    const inst: VrrpInstance = new VrrpInstance(ic as VrrpInstanceConfig, {
      openTransport: (onPacket) => openRawVrrpTransport({ ifname: dev, srcIp: src, unicastPeers: ic.unicast_peer, onPacket }),
      addresses: iprouteAddresses,
      garp: packetGarp,
      notify: shellNotify,
      log,
      now,
      onState: (name, from, to) => {
        onState?.(name, from, to);
        // Sync group: a member that falls out of MASTER pulls the others with it.
        if (from === 'MASTER' && (to === 'BACKUP' || to === 'FAULT')) {
          for (const other of groupOf.get(name) ?? []) {
            const o = byName.get(other);
            if (o && o.state === 'MASTER') o.forceBackup(`sync group member ${name} left MASTER`);
          }
        }
      },
    }, src);
    instances.push(inst);
    byName.set(ic.name, inst);
  }
  for (const i of instances) i.start();
  return {
    status: () =>
      instances.map((i) => ({
        name: i.cfg.name, state: i.state, priority: i.machine.priority, vrid: i.cfg.virtual_router_id,
        interface: i.cfg.interface ?? 'eth0', rx: i.counters.rx, tx: i.counters.tx, dropped: i.counters.dropped,
      })),
    stop: async () => {
      await Promise.all(instances.map((i) => i.stop()));
    },
  };
}
