/**
 * Keeps the running sync daemons equal to what the engine says is configured
 * (`tsvsadm --start-daemon/--stop-daemon` change the engine's list; this starts and stops the
 * UDP transports to match), and ties them to VRRP like keepalived's `lvs_sync_daemon IF INSTANCE`:
 * the instance's MASTER state runs the master daemon, any other state the backup daemon.
 */
import type { Engine } from '../core/engine.ts';
import type { IpvsCommand, SyncDaemonSpec } from '../core/types.ts';
import { interfaceIpv4, startSyncDaemon, type SyncDaemonHandle } from './sync-daemon.ts';

export interface SyncLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

const keyOf = (d: SyncDaemonSpec) => `${d.state}/${d.mcastIfn}/${d.syncid}/${d.group}/${d.port}/${d.ttl}/${d.maxlen}`;

export class SyncReconciler {
  private running = new Map<string, { spec: SyncDaemonSpec; handle: Promise<SyncDaemonHandle | null> }>();

  /**
   * `refreshMs`: the master's full-refresh period (tsvs daemon --sync-refresh; 0 turns it off);
   * `flushMs`: how long changes are batched before they are sent.
   */
  constructor(private readonly engine: Engine, private readonly log: SyncLog, private readonly opts: { readonly refreshMs: number; readonly flushMs?: number }) {}

  /** The kernel answers ENODEV when the multicast interface does not exist. */
  refusal(cmd: IpvsCommand): 'ENODEV' | null {
    if (cmd.kind === 'start-daemon' && !interfaceIpv4(cmd.daemon.mcastIfn)) return 'ENODEV';
    return null;
  }

  async reconcile(): Promise<void> {
    const want = new Map(this.engine.daemons().map((d) => [keyOf(d), d] as const));
    for (const [k, r] of this.running) {
      if (want.has(k)) continue;
      this.running.delete(k);
      const h = await r.handle;
      await h?.close();
      this.log.info({ state: r.spec.state, syncid: r.spec.syncid }, 'sync daemon stopped');
    }
    for (const [k, spec] of want) {
      if (this.running.has(k)) continue;
      const handle = startSyncDaemon(this.engine, spec, { flushMs: this.opts.flushMs ?? 100, refreshMs: this.opts.refreshMs, onError: (e) => this.log.warn({ err: String(e) }, 'sync daemon socket error') })
        .then((h) => {
          this.log.info({ state: spec.state, mcastIfn: spec.mcastIfn, syncid: spec.syncid }, 'sync daemon started');
          return h;
        })
        .catch((e: unknown) => {
          this.log.warn({ state: spec.state, err: String(e) }, 'sync daemon failed to start');
          return null;
        });
      this.running.set(k, { spec, handle });
      await handle;
    }
  }

  /**
   * keepalived `lvs_sync_daemon IF INSTANCE [id N]`: follow a VRRP instance's state. Issues the
   * same engine commands tsvsadm would, then reconciles.
   */
  async followVrrp(state: string, ifname: string, syncid: number): Promise<void> {
    const role: 'master' | 'backup' = state === 'MASTER' ? 'master' : 'backup';
    const other = role === 'master' ? 'backup' : 'master';
    if (this.engine.daemons().some((d) => d.state === other)) this.engine.apply({ kind: 'stop-daemon', state: other, syncid });
    if (!this.engine.daemons().some((d) => d.state === role)) {
      this.engine.apply({ kind: 'start-daemon', daemon: { state: role, mcastIfn: ifname, syncid, maxlen: 0, group: '', port: 0, ttl: 0 } });
    }
    await this.reconcile();
  }

  async status(): Promise<{ state: string; mcastIfn: string; syncid: number; counters: object | null }[]> {
    const out = [];
    for (const r of this.running.values()) {
      const h = await r.handle;
      out.push({ state: r.spec.state, mcastIfn: r.spec.mcastIfn, syncid: r.spec.syncid, counters: h ? { ...h.counters } : null });
    }
    return out;
  }

  async close(): Promise<void> {
    for (const r of this.running.values()) await (await r.handle)?.close();
    this.running.clear();
  }
}
