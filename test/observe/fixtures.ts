/** Snapshots built by hand for the pure renderers' tests and benches. */
import type { DestSnapshot, ServiceSnapshot } from '../../src/core/types.ts';
import type { ObserveSnapshot } from '../../src/observe/snapshot.ts';

const ZERO_STATS = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 };
const ZERO_RATES = { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };

export function dest(addr: string, port: number, over: Partial<DestSnapshot> = {}): DestSnapshot {
  return {
    af: addr.includes(':') ? 6 : 4, addr, port, fwd: 'masq', weight: 1, uThreshold: 0, lThreshold: 0, tunType: 'ipip', tunPort: 0, tunCsum: 'nocsum',
    activeConns: 0, inactConns: 0, persistConns: 0, overloaded: false, stats: ZERO_STATS, rates: ZERO_RATES, ...over,
  };
}

export function service(over: Partial<ServiceSnapshot> & Pick<ServiceSnapshot, 'addr' | 'port'>): ServiceSnapshot {
  return {
    af: over.addr.includes(':') ? 6 : 4, fwmark: 0, protocol: 'tcp', scheduler: 'wlc', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '',
    stats: ZERO_STATS, rates: ZERO_RATES, dests: [], ...over,
  };
}

export function snapshot(over: Partial<ObserveSnapshot> = {}): ObserveSnapshot {
  return {
    at: 1_700_000_000_000, pid: 1, startedAt: 1_700_000_000_000, info: { version: '1.2.1', connTableSize: 4096 },
    timeouts: { tcp: 900, tcpfin: 120, udp: 300 }, services: [],
    total: { stats: ZERO_STATS, rates: ZERO_RATES }, connTable: { entries: 0, limit: 1 << 20, tableFull: 0 },
    health: null, vrrp: [], sync: [], forwarder: { kind: 'none', drops: {}, packets: {}, fastPath: null }, drains: [], slowStarts: [], ...over,
  };
}

/** `n` services of `m` real servers each, with traffic (the scrape cost bench's table). */
export function bigSnapshot(n: number, m: number): ObserveSnapshot {
  const services: ServiceSnapshot[] = [];
  for (let i = 0; i < n; i++) {
    const dests: DestSnapshot[] = [];
    for (let j = 0; j < m; j++) {
      dests.push(dest(`10.${(i >> 8) & 255}.${i & 255}.${j + 1}`, 8080, { weight: j + 1, activeConns: 100 + j, inactConns: j, stats: { conns: 1e6 + j, inpkts: 1e8, outpkts: 9e7, inbytes: 1e11, outbytes: 9e10 } }));
    }
    services.push(service({ addr: `192.168.${(i >> 8) & 255}.${i & 255}`, port: 80, dests, stats: { conns: 1e7, inpkts: 1e9, outpkts: 9e8, inbytes: 1e12, outbytes: 9e11 }, rates: { cps: 1000, inpps: 50000, outpps: 40000, inbps: 5e7, outbps: 4e7 } }));
  }
  return snapshot({ services });
}
