/**
 * The IPVS connection sync daemons (ipvsadm --start-daemon master|backup) over UDP multicast:
 * the master drains the engine's changed entries every `flushMs` and multicasts them in sync
 * protocol v1 messages; the backup joins the group and imports what it receives, so after a
 * VRRP takeover established connections keep their real servers.
 */
import dgram from 'node:dgram';
import { ipFromBytes, ipToBytes } from '../core/addr.ts';
import { interfaceAddrs } from '../os/ifaddr.ts';
import type { Engine, SyncRecord } from '../core/engine.ts';
import type { SyncDaemonSpec } from '../core/types.ts';
import { decodeSyncMessage, encodeSyncMessages, SYNC_GROUP, SYNC_PORT, type SyncConn } from './sync-codec.ts';

export function toSyncConn(r: SyncRecord): SyncConn {
  return {
    af: r.af, protocol: r.protocol, flags: r.flags, state: r.state, cport: r.cport, vport: r.vport, dport: r.dport,
    fwmark: r.fwmark, timeout: r.timeout, caddr: ipToBytes(r.caddr), vaddr: ipToBytes(r.vaddr), daddr: ipToBytes(r.daddr),
  };
}

export function fromSyncConn(c: SyncConn): SyncRecord {
  return {
    af: c.af, protocol: c.protocol, flags: c.flags, state: c.state, cport: c.cport, vport: c.vport, dport: c.dport,
    fwmark: c.fwmark, timeout: c.timeout, caddr: ipFromBytes(c.caddr, c.af), vaddr: ipFromBytes(c.vaddr, c.af), daddr: ipFromBytes(c.daddr, c.af),
  };
}

/** The multicast interface's address (the kernel answers ENODEV when there is none). */
export function interfaceIpv4(ifname: string): string | null {
  return interfaceAddrs(ifname, 4)[0]?.local ?? null;
}

export interface SyncDaemonCounters {
  sent: number;
  sentConns: number;
  received: number;
  imported: number;
  rejected: number;
  /** Entries queued again by the periodic full refresh (master). */
  refreshed: number;
}

export interface SyncDaemonHandle {
  readonly spec: SyncDaemonSpec;
  readonly counters: SyncDaemonCounters;
  close(): Promise<void>;
}

/** Starts one sync daemon for a spec the engine accepted. Throws when the interface is unknown. */
export async function startSyncDaemon(engine: Engine, spec: SyncDaemonSpec, opts: {
  flushMs?: number;
  /** Start a full-table refresh pass every refreshMs (default 1000; 0 = never). */
  refreshMs?: number;
  /** At most this many entries re-queued per flush by a refresh pass (default 2000). */
  refreshPerTick?: number;
  onError?: (e: Error) => void;
} = {}): Promise<SyncDaemonHandle> {
  const local = interfaceIpv4(spec.mcastIfn);
  if (!local) throw new Error(`no IPv4 address on multicast interface ${spec.mcastIfn}`);
  const group = spec.group || SYNC_GROUP;
  const port = spec.port || SYNC_PORT;
  const counters: SyncDaemonCounters = { sent: 0, sentConns: 0, received: 0, imported: 0, rejected: 0, refreshed: 0 };
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  sock.on('error', (e) => opts.onError?.(e));
  if (spec.state === 'master') {
    await new Promise<void>((res) => sock.bind(0, local, () => res()));
    sock.setMulticastInterface(local);
    sock.setMulticastTTL(spec.ttl || 1);
    sock.setMulticastLoopback(false);
    // Full refresh: a pass over the whole table starts every refreshMs and proceeds at most
    // refreshPerTick entries per flush, so a backup that (re)started learns long-lived
    // connections too (the kernel resends on sync_threshold/sync_refresh_period instead).
    const refreshMs = opts.refreshMs ?? 1000;
    const perTick = opts.refreshPerTick ?? 2000;
    let passRunning = false;
    let lastPass = -Infinity;
    const timer = setInterval(() => {
      if (refreshMs > 0 && (passRunning || Date.now() - lastPass >= refreshMs)) {
        if (!passRunning) lastPass = Date.now();
        const r = engine.queueSyncRefresh(perTick);
        passRunning = !r.wrapped;
        counters.refreshed += r.queued;
      }
      const recs = engine.drainSync();
      if (recs.length === 0) return;
      for (const m of encodeSyncMessages(spec.syncid, recs.map(toSyncConn), spec.maxlen || undefined)) {
        sock.send(m, port, group);
        counters.sent++;
      }
      counters.sentConns += recs.length;
    }, opts.flushMs ?? 100);
    return {
      spec, counters,
      close: async () => {
        clearInterval(timer);
        await new Promise<void>((res) => sock.close(() => res()));
      },
    };
  }
  await new Promise<void>((res) => sock.bind(port, () => res()));
  sock.addMembership(group, local);
  sock.on('message', (msg) => {
    counters.received++;
    const d = decodeSyncMessage(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), spec.syncid);
    if ('error' in d) {
      counters.rejected++;
      return;
    }
    for (const c of d.conns) {
      if (engine.importSync(fromSyncConn(c))) counters.imported++;
      else counters.rejected++;
    }
  });
  return {
    spec, counters,
    close: async () => {
      await new Promise<void>((res) => sock.close(() => res()));
    },
  };
}
