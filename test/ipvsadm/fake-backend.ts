/**
 * A small in-memory IpvsBackend for the ipvsadm tests: kernel-like errno answers, services in
 * insertion order (standing in for hash order), destinations newest first.
 */
import type {
  ConnSnapshot, DestSnapshot, DestSpec, Errno, IpvsBackend, IpvsCommand, IpvsInfo, ServiceKey,
  ServiceSnapshot, ServiceSpec, SyncDaemonSpec, Timeouts,
} from '../../src/core/types.ts';

const ZERO_STATS = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 };
const ZERO_RATES = { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };
const SCHEDULERS = new Set(['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos']);

export function keyOf(k: ServiceKey): string {
  return `${k.af}|${k.fwmark}|${k.fwmark ? 'tcp' : k.protocol}|${k.fwmark ? '' : k.addr}|${k.fwmark ? 0 : k.port}`;
}

export function destSnap(d: DestSpec, extra: Partial<DestSnapshot> = {}): DestSnapshot {
  return {
    ...d, activeConns: 0, inactConns: 0, persistConns: 0, overloaded: false,
    stats: ZERO_STATS, rates: ZERO_RATES, ...extra,
  };
}

export function svcSnap(s: ServiceSpec, dests: DestSnapshot[] = [], extra: Partial<ServiceSnapshot> = {}): ServiceSnapshot {
  return { ...s, stats: ZERO_STATS, rates: ZERO_RATES, dests, ...extra };
}

export class FakeBackend implements IpvsBackend {
  readonly svcs = new Map<string, ServiceSnapshot>();
  conns: ConnSnapshot[] = [];
  tmo: Timeouts = { tcp: 900, tcpfin: 120, udp: 300 };
  daemonList: SyncDaemonSpec[] = [];
  readonly applied: IpvsCommand[] = [];
  /** Force the next apply() to answer this errno. */
  forceErrno: Errno | null = null;

  info(): IpvsInfo {
    return { version: '1.2.1', connTableSize: 4096 };
  }

  apply(cmd: IpvsCommand): Errno | null {
    this.applied.push(cmd);
    if (this.forceErrno) {
      const e = this.forceErrno;
      this.forceErrno = null;
      return e;
    }
    switch (cmd.kind) {
      case 'add-service': {
        const k = keyOf(cmd.svc);
        if (this.svcs.has(k)) return 'EEXIST';
        if (!SCHEDULERS.has(cmd.svc.scheduler) || (cmd.svc.pe && cmd.svc.pe !== 'sip')) return 'ENOENT';
        this.svcs.set(k, svcSnap(cmd.svc));
        return null;
      }
      case 'edit-service': {
        const k = keyOf(cmd.svc);
        const old = this.svcs.get(k);
        if (!old) return 'ESRCH';
        if (!SCHEDULERS.has(cmd.svc.scheduler)) return 'ENOENT';
        this.svcs.set(k, { ...old, ...cmd.svc, dests: old.dests });
        return null;
      }
      case 'delete-service':
        return this.svcs.delete(keyOf(cmd.key)) ? null : 'ESRCH';
      case 'flush':
        this.svcs.clear();
        return null;
      case 'add-dest':
      case 'edit-dest': {
        const k = keyOf(cmd.key);
        const s = this.svcs.get(k);
        if (!s) return 'ESRCH';
        if (cmd.dest.lThreshold > cmd.dest.uThreshold && cmd.dest.uThreshold !== 0) return 'ERANGE';
        const i = s.dests.findIndex((d) => d.addr === cmd.dest.addr && d.port === cmd.dest.port);
        if (cmd.kind === 'add-dest') {
          if (i >= 0) return 'EEXIST';
          this.svcs.set(k, { ...s, dests: [destSnap(cmd.dest), ...s.dests] });
        } else {
          if (i < 0) return 'ENOENT';
          const dests = s.dests.slice();
          dests[i] = { ...dests[i]!, ...cmd.dest };
          this.svcs.set(k, { ...s, dests });
        }
        return null;
      }
      case 'delete-dest': {
        const k = keyOf(cmd.key);
        const s = this.svcs.get(k);
        if (!s) return 'ESRCH';
        const i = s.dests.findIndex((d) => d.addr === cmd.addr && d.port === cmd.port);
        if (i < 0) return 'ENOENT';
        this.svcs.set(k, { ...s, dests: s.dests.filter((_, j) => j !== i) });
        return null;
      }
      case 'zero':
        if (cmd.key && !this.svcs.has(keyOf(cmd.key))) return 'ESRCH';
        return null;
      case 'set-timeouts':
        this.tmo = {
          tcp: cmd.tcp || this.tmo.tcp, tcpfin: cmd.tcpfin || this.tmo.tcpfin, udp: cmd.udp || this.tmo.udp,
        };
        return null;
      case 'start-daemon':
        if (this.daemonList.some((d) => d.state === cmd.daemon.state)) return 'EEXIST';
        if (cmd.daemon.mcastIfn !== 'eth0' && cmd.daemon.mcastIfn !== 'lo') return 'ENODEV';
        this.daemonList.push({
          ...cmd.daemon,
          maxlen: cmd.daemon.maxlen || (cmd.daemon.state === 'master' ? 1472 : 0),
          group: cmd.daemon.group || '224.0.0.81',
          port: cmd.daemon.port || 8848,
          ttl: cmd.daemon.ttl || 1,
        });
        return null;
      case 'stop-daemon': {
        const i = this.daemonList.findIndex((d) => d.state === cmd.state);
        if (i < 0) return 'ESRCH';
        this.daemonList.splice(i, 1);
        return null;
      }
    }
  }

  services(): readonly ServiceSnapshot[] {
    return [...this.svcs.values()];
  }
  service(key: ServiceKey): ServiceSnapshot | null {
    return this.svcs.get(keyOf(key)) ?? null;
  }
  connections(): readonly ConnSnapshot[] {
    return this.conns;
  }
  timeouts(): Timeouts {
    return this.tmo;
  }
  daemons(): readonly SyncDaemonSpec[] {
    return this.daemonList;
  }
}
