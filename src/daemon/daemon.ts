/**
 * `tsvs daemon`: the engine, the control API, rules persistence, signals and the proxy forwarder.
 *
 * Start-up order: state file (if it exists) else --rules (if given) else empty; then listeners;
 * then the control socket. Every successful change is saved atomically to the state file in
 * ipvsadm -S format. SIGHUP (or the `reload` op) re-reads --rules and makes the running rules
 * equal to it (a diff: unchanged services keep their connections); a bad file is refused whole.
 * SIGTERM/SIGINT stop cleanly.
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { IpvsBackend } from '../core/types.ts';
import { ControlServer } from './control-server.ts';
import { ConfigError, ControlError } from '../core/errors.ts';
import type { Request, IpvsadmResult } from './protocol.ts';
import { atomicWrite, readIfExists } from './state.ts';
import { diffRules, ruleOfSnapshot } from '../config/diff.ts';
import { createLogger, type Logger, type LogLevel } from './log.ts';
import { EnginePort } from '../forwarders/proxy/engine-port.ts';
import { ProxyForwarder } from '../forwarders/proxy/forwarder.ts';
import { ClusterForwarder } from '../forwarders/proxy/cluster.ts';
import { DescriptorLimits } from './limits.ts';
import { startDefense } from './defense.ts';
import { heapSpaces } from '../os/gc.ts';
import { startPacketForwarder } from '../forwarders/packet/index.ts';
import type { Engine, Sysctls } from '../core/engine.ts';
import type { Forwarder, ListenerFailure } from '../dataplane/forwarder.ts';
import { SyncReconciler } from '../ha/sync-reconciler.ts';
import { ConfigDriver } from './config-driver.ts';
import { onKaDumpSignals, type KaDumpSources } from './ka-dump.ts';
import type { DaemonOptions } from './options.ts';
import { AnnounceDriver } from './announce.ts';
import type { ObserveSources } from './observe.ts';
import { DrainManager, type DrainRequest } from './drain.ts';
import { explain } from './explain.ts';
import { SlowStart, slowStartSeconds } from './slow-start.ts';
import { observeOptions, reloadObservers, startObservers, type Observers, type ObserverOptions } from './observers.ts';

export interface DaemonDeps {
  createEngine(opts?: { connMax?: number; sysctl?: Partial<Sysctls> }): Engine;
  runIpvsadm(argv: string[], backend: IpvsBackend, io: { stdin?: string; between?: () => Promise<void> | undefined }): Promise<IpvsadmResult>;
}

export type { DaemonOptions };

const MUTATING = new Set(['add-service', 'edit-service', 'delete-service', 'flush', 'add-dest', 'edit-dest', 'delete-dest', 'set-timeouts', 'start-daemon', 'stop-daemon']);

export class Daemon {
  readonly log: Logger;
  readonly engine: Engine;
  private readonly startedAt = Date.now();
  private control: ControlServer | null = null;
  private forwarder: Forwarder | null = null;
  private tick: NodeJS.Timeout | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private stopping = false;
  private lastReload: { at: string; ok: boolean; error?: string } | null = null;
  private sync: SyncReconciler | null = null;
  private config: ConfigDriver | null = null;
  private announce: AnnounceDriver | null = null;
  private observers: Observers | null = null;
  /** Graceful drains (src/daemon/drain.ts), with or without --http. */
  readonly drainer: DrainManager;
  /** Weight ramps of real servers entering service (src/daemon/slow-start.ts); seconds 0 = off. */
  readonly slowStart: SlowStart;
  readonly now = (): number => performance.now() / 1000;
  /** Pauses of the main thread (which also forwards, in proxy --workers 0 and packet mode), since start. */
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });
  private lastYield = 0;
  private limits: DescriptorLimits | null = null;
  private stopDefense: (() => void) | null = null;
  /** Full collections after the connection table or the fast path's flows shrank (defense.ts). */
  private memoryReleases = 0;
  /** Between the lines of a long -R: every 10 ms of work, one turn of the event loop (packets, clients). */
  private readonly yieldLoop = (): Promise<void> | undefined => {
    const t = performance.now();
    if (t - this.lastYield < 10) return undefined;
    return new Promise((resolve) => setImmediate(() => {
      this.lastYield = performance.now();
      resolve();
    }));
  };

  constructor(readonly opts: DaemonOptions, private readonly deps: DaemonDeps) {
    this.log = createLogger(opts.logLevel);
    this.engine = deps.createEngine({ connMax: opts.connMax });
    this.engine.setTime(this.now());
    // --sloppy-tcp etc.: the IPVS sysctls the daemon's options set (names from the engine's own table).
    for (const [name, value] of Object.entries(opts.ipvs)) this.engine.setSysctl(name, value);
    this.drainer = new DrainManager({
      log: this.log,
      withBackend: (fn) => this.withBackend(fn),
      service: (k) => { this.forwarder?.settle?.(); return this.engine.service(k); },
      quiesce: (k, af, addr, port, on) => this.engine.setDestQuiesced(k, af, addr, port, on),
    });
    this.slowStart = new SlowStart(opts.slowStartS ?? 0, { log: this.log, withBackend: (fn) => this.withBackend(fn), service: (k) => this.engine.service(k) });
  }

  /** Runs fn alone: control requests, reloads and saves never interleave. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => {});
    return p;
  }

  /** A backend for one ipvsadm run: the engine, guarded by the forwarder's limits. `health`: a health checker's changes (a running drain holds its server at weight 0). */
  private guarded(target: Engine, refusals: string[], changed: { v: boolean }, health = false): IpvsBackend {
    const fwd = this.forwarder;
    return {
      info: () => target.info(),
      services: () => { fwd?.settle?.(); return target.services(); },
      service: (k) => { fwd?.settle?.(); return target.service(k); },
      connections: () => { fwd?.settle?.(); target.setTime(this.now()); return target.connections(); },
      servicesPage: (from, max) => { if (from === 0) fwd?.settle?.(); return target.servicesPage(from, max); },
      connectionsPage: (cursor, max) => { fwd?.settle?.(); target.setTime(this.now()); return target.connectionsPage(cursor, max); },
      timeouts: () => target.timeouts(),
      daemons: () => target.daemons(),
      apply: (cmd) => {
        const why = fwd?.refusal(cmd) ?? null;
        if (why) {
          refusals.push(why);
          return 'EINVAL';
        }
        // Only the live engine starts sync transports; an unknown interface is ENODEV, as the kernel.
        if (target === this.engine) {
          const e = this.sync?.refusal(cmd) ?? null;
          if (e) return e;
        }
        target.setTime(this.now());
        if (target === this.engine && health) cmd = this.drainer.hold(cmd);
        if (target === this.engine) cmd = this.slowStart.rewrite(cmd, target);
        const r = target.apply(cmd);
        if (r === null && MUTATING.has(cmd.kind)) changed.v = true;
        return r;
      },
    };
  }

  async runIpvsadm(argv: string[], stdin?: string): Promise<IpvsadmResult> {
    return this.serial(async () => {
      const refusals: string[] = [];
      const changed = { v: false };
      const res = await this.deps.runIpvsadm(argv, this.guarded(this.engine, refusals, changed), { ...(stdin !== undefined ? { stdin } : {}), between: this.yieldLoop });
      let stderr = res.stderr;
      for (const r of refusals) {
        stderr += `tsvs: ${r}\n`;
        this.log.warn({ argv, reason: r }, 'command refused by the forwarder');
      }
      if (changed.v) {
        this.log.info({ argv, code: res.code }, 'rules changed');
        this.save();
        await this.sync?.reconcile();
        const failed = await this.syncForwarder();
        for (const f of failed) stderr += `tsvs: warning: cannot listen on ${f.protocol.toUpperCase()} ${f.addr}:${f.port}: ${f.error}\n`;
      }
      return { stdout: res.stdout, stderr, code: res.code };
    });
  }

  /**
   * For the config driver, health checks, drains and the HTTP API: fn runs with the guarded
   * engine, serialized with control requests. Resolves with the forwarder's refusals.
   */
  withBackend(fn: (b: IpvsBackend) => void, origin: 'health' | 'other' = 'other'): Promise<{ refusals: string[] }> {
    return this.serial(async () => {
      const refusals: string[] = [];
      const changed = { v: false };
      fn(this.guarded(this.engine, refusals, changed, origin === 'health'));
      for (const r of refusals) this.log.warn({ reason: r }, 'rule refused by the forwarder');
      if (changed.v) {
        this.save();
        await this.sync?.reconcile();
        await this.syncForwarder();
      }
      return { refusals };
    });
  }

  private async syncForwarder(): Promise<readonly ListenerFailure[]> {
    // Every rule change passes here: the BGP announcement follows the table at once.
    this.announce?.poke();
    if (!this.forwarder) return [];
    const keys = (this.engine as unknown as Partial<Engine>).serviceKeys?.() ?? this.engine.services();
    this.limits?.listenersChanged(keys);
    return this.forwarder.sync(keys);
  }

  private save(): void {
    if (!this.opts.stateFile) return;
    // -S output is produced by the same ipvsadm code; it never fails on a healthy engine.
    void this.deps.runIpvsadm(['-S', '-n'], this.engine, {}).then((r) => {
      if (r.code !== 0) {
        this.log.error({ stderr: r.stderr }, 'cannot render rules for the state file');
        return;
      }
      try {
        atomicWrite(this.opts.stateFile!, r.stdout);
      } catch (e) {
        this.log.error({ err: (e as Error).message, file: this.opts.stateFile }, 'cannot save state file');
      }
    });
  }

  /**
   * Makes the running rules equal to `text` (ipvsadm -S/-R format). Validated on a scratch
   * engine first (syntax, kernel checks, forwarder limits); on any error nothing changes.
   */
  private async replaceRules(text: string, source: string, ramp = false): Promise<{ ok: true; commands: number } | { ok: false; error: string }> {
    const scratch = this.deps.createEngine();
    scratch.setTime(this.now());
    const refusals: string[] = [];
    const res = await this.deps.runIpvsadm(['-R'], this.guarded(scratch, refusals, { v: false }), { stdin: text, between: this.yieldLoop });
    if (res.code !== 0 || refusals.length > 0) {
      const error = [res.stderr.trim(), ...refusals].filter((x) => x).join('; ') || `exit code ${res.code}`;
      return { ok: false, error: `${source}: ${error}` };
    }
    // Same diff as a config reload; the scratch engine's dests are listed newest first, so add oldest first.
    const cmds = diffRules(this.engine.services(), scratch.services().map((x) => ruleOfSnapshot(x, true)));
    this.engine.setTime(this.now());
    for (const c of cmds) {
      // `ramp` (a reload, not the start): real servers it adds or raises from weight 0 ramp up like any other (--slow-start).
      const r = this.engine.apply(ramp ? this.slowStart.rewrite(c, this.engine) : c);
      if (r !== null) this.log.error({ cmd: c, errno: r }, 'reload: engine refused a diff command (state may be partial)');
    }
    return { ok: true, commands: cmds.length };
  }

  /** Reloads the rules (or the configuration file), then the observers' token file, listener and procfs directory. */
  async reload(): Promise<{ ok: boolean; commands?: number; error?: string }> {
    const r = await this.reloadRules();
    if (this.observers) await reloadObservers(this.observers, this.opts.observe, this.config?.observeSettings() ?? {}, this.opts.configFile ?? null, this.log);
    return r;
  }

  private reloadRules(): Promise<{ ok: boolean; commands?: number; error?: string }> {
    // keepalived/ldirectord mode: the driver validates the whole file, then applies the diff
    // through withBackend (which serializes), so it must not run inside serial() itself.
    if (this.config) {
      return this.config.reload().then((r) => {
        this.lastReload = { at: new Date().toISOString(), ok: r.ok, ...(r.error ? { error: r.error } : {}) };
        return r.ok ? { ok: true, commands: r.commands ?? 0 } : { ok: false, error: [r.error, ...r.diagnostics].join('\n') };
      });
    }
    return this.serial(async () => {
      const at = new Date().toISOString();
      if (!this.opts.rulesFile) {
        this.lastReload = { at, ok: false, error: 'no --rules file to reload' };
        this.log.warn({}, 'reload requested but the daemon has no --rules file');
        return { ok: false, error: 'the daemon was started without --rules: nothing to reload' };
      }
      let text: string;
      try {
        text = readFileSync(this.opts.rulesFile, 'utf8');
      } catch (e) {
        this.lastReload = { at, ok: false, error: (e as Error).message };
        this.log.error({ file: this.opts.rulesFile, err: (e as Error).message }, 'reload refused: cannot read rules file');
        return { ok: false, error: (e as Error).message };
      }
      const r = await this.replaceRules(text, this.opts.rulesFile, true);
      if (!r.ok) {
        this.lastReload = { at, ok: false, error: r.error };
        this.log.error({ file: this.opts.rulesFile, err: r.error }, 'reload refused: rules file is invalid; running rules unchanged');
        return { ok: false, error: r.error };
      }
      this.lastReload = { at, ok: true };
      this.log.info({ file: this.opts.rulesFile, commands: r.commands }, 'rules reloaded');
      if (r.commands > 0) {
        this.save();
        await this.syncForwarder();
      }
      return { ok: true, commands: r.commands };
    });
  }

  status(): Record<string, unknown> {
    // Counted, not snapshotted: a monitor asking every few seconds must not stall forwarding.
    const sizes = (this.engine as unknown as Partial<Engine>).sizes?.() ?? null;
    const services = sizes ? null : this.engine.services();
    return {
      pid: process.pid,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      socket: this.opts.socketPath,
      rulesFile: this.opts.rulesFile,
      stateFile: this.opts.stateFile,
      forwarder: this.opts.forwarder,
      workers: this.opts.proxy.workers,
      proxyProtocol: this.opts.proxy.proxyProtocol,
      ipvs: this.opts.ipvs,
      services: sizes ? sizes.services : services!.length,
      destinations: sizes ? sizes.destinations : services!.reduce((n, s) => n + s.dests.length, 0),
      connections: sizes ? sizes.entries : this.engine.connections().length,
      listeners: this.forwarder?.status() ?? [],
      lastReload: this.lastReload,
      drains: this.drainer.list(),
      slowStarts: this.slowStart.list(),
      table: (() => { const e = this.engine as unknown as Partial<Engine>; const c = e.counters?.(); return c ? { ...c, max: this.opts.connMax, defense: e.defenseStatus?.() ?? null } : null; })(),
      control: this.control ? { ...this.control.stats } : null,
      memory: { ...process.memoryUsage(), releases: this.memoryReleases, heapSpaces: heapSpaces() },
      limits: this.limits?.status() ?? null,
      eventLoop: {
        maxMs: Math.round(this.loopDelay.max / 1e4) / 100,
        p99Ms: Math.round(this.loopDelay.percentile(99) / 1e4) / 100,
        meanMs: Math.round(this.loopDelay.mean / 1e4) / 100,
      },
      ...(this.config ? this.config.status() : {}),
    };
  }

  /** What SIGUSR1/SIGUSR2 dump in keepalived mode (src/daemon/ka-dump.ts). */
  kaDumpSources(): KaDumpSources {
    return { vrrp: () => this.config?.vrrpStatus() ?? [], health: () => this.config?.healthStatus() ?? null };
  }

  /** What /metrics, --procfs, the HTTP API and the dashboard read (src/daemon/observe.ts). */
  observeSources(): ObserveSources {
    return {
      engine: this.engine as unknown as Engine, startedAt: this.startedAt, forwarderKind: this.opts.forwarder, now: this.now,
      settle: () => this.forwarder?.settle?.(),
      forwarderStatus: () => this.forwarder?.status() ?? null,
      forwarderDrops: () => this.forwarder?.drops?.() ?? {},
      health: () => this.config?.healthStatus() ?? null,
      vrrp: () => this.config?.vrrpStatus() ?? [],
      sync: async () => (await this.sync?.status()) ?? [],
      drains: () => this.drainer.list(),
      slowStarts: () => this.slowStart.list(),
      bgp: async () => (await this.announce?.observed()) ?? null,
    };
  }

  private async handle(req: Request): Promise<Record<string, unknown>> {
    switch (req.op) {
      case 'ping':
        return { pong: true, pid: process.pid };
      case 'status':
        return { ...this.status(), syncDaemons: (await this.sync?.status()) ?? [], ...(this.announce ? { bgp: await this.announce.status() } : {}) };
      case 'announce': {
        if (!this.announce) throw new ControlError('ENOBGP', 'this daemon announces nothing (start it with --bgp bird)');
        if (req.action !== 'status') this.announce.setDraining(req.action === 'drain');
        return { bgp: await this.announce.status() };
      }
      case 'reload': {
        const r = await this.reload();
        if (!r.ok) throw new ControlError('ERELOAD', r.error ?? 'reload failed');
        return { commands: r.commands ?? 0 };
      }
      case 'ipvsadm': {
        const r = await this.runIpvsadm(req.argv, req.stdin);
        return { stdout: r.stdout, stderr: r.stderr, code: r.code };
      }
      case 'drain':
      case 'drains':
      case 'drain-cancel':
        // A refused drain is a DrainError (a ControlError): the client gets its code.
        if (req.op === 'drains') return { drains: this.drainer.list() };
        if (req.op === 'drain-cancel') return { drain: await this.drainer.cancel(req.drain) };
        return { drain: await this.drainer.start({ key: req.service, addr: req.addr, port: req.port, ...(req.timeout !== undefined ? { timeoutS: req.timeout } : {}), ...(req.then ? { then: req.then } : {}) } satisfies DrainRequest) };
      case 'explain':
        // Connections the forwarder accepted but has not reported yet are accounted first.
        await this.forwarder?.settle?.();
        return { explain: explain(this.engine, { service: req.service, client: req.client, ...(req.cport !== undefined ? { cport: req.cport } : {}) }) };
    }
  }

  /** Loads rules, starts the forwarder and the control socket. Throws with a clear message on failure. */
  async start(): Promise<void> {
    const o = this.opts;
    this.limits = new DescriptorLimits(o.forwarder, o.proxy, this.log);
    const admission = this.limits.admission ?? undefined;
    if (o.forwarder === 'proxy') {
      if (o.proxy.workers > 0) {
        this.forwarder = new ClusterForwarder(this.engine, this.now, o.proxy, { log: this.log, logLevel: o.logLevel, ...(admission ? { admission } : {}) });
      } else {
        const port = new EnginePort(this.engine, this.now);
        this.forwarder = new ProxyForwarder(port, { ...o.proxy, timeouts: () => this.engine.timeouts(), log: this.log, ...(admission ? { admission } : {}) });
      }
    }
    if (o.forwarder === 'packet') {
      this.forwarder = await startPacketForwarder(this.engine, {
        ...o.packet,
        now: this.now,
        log: { info: (x, m) => this.log.info(x as object, m), warn: (x, m) => this.log.warn(x as object, m) },
      });
    }
    this.sync = new SyncReconciler(this.engine, { info: (x, m) => this.log.info(x, m), warn: (x, m) => this.log.warn(x, m) }, { refreshMs: o.syncRefreshMs });
    // Restore: the state file (saved after every change) wins; --rules seeds a fresh start. With a
    // keepalived/ldirectord file, that file is the source of truth and the state file is not read.
    const saved = o.stateFile && !o.configFile ? readIfExists(o.stateFile) : null;
    if (saved !== null) {
      const r = await this.replaceRules(saved, o.stateFile!);
      if (!r.ok) throw new ConfigError('E_RULES', `cannot restore the saved rules: ${r.error} (move the file away to start from --rules)`);
      this.log.info({ file: o.stateFile, commands: r.commands }, 'rules restored from state file');
    } else if (o.rulesFile) {
      let text: string;
      try {
        text = readFileSync(o.rulesFile, 'utf8');
      } catch (e) {
        throw new ConfigError('E_RULES', `cannot read --rules ${o.rulesFile}: ${(e as Error).message}`, { cause: e });
      }
      const r = await this.replaceRules(text, o.rulesFile);
      if (!r.ok) throw new ConfigError('E_RULES', `refusing to start: ${r.error}`);
      this.log.info({ file: o.rulesFile, commands: r.commands }, 'rules loaded');
      this.save();
    }
    const failed = await this.syncForwarder();
    for (const f of failed) this.log.warn(f, 'virtual service without listener');
    await this.sync.reconcile();
    if (o.configFile) {
      this.config = new ConfigDriver(o.configFile, o.configFormat ?? 'keepalived', {
        log: this.log,
        withBackend: async (fn) => { await this.withBackend(fn); },
        withHealthBackend: async (fn) => { await this.withBackend(fn, 'health'); },
        services: () => this.engine.services(),
        timeouts: () => this.engine.timeouts(),
        onVrrpState: (instance, to) => {
          // Flows the kernel carries were decided in the previous role: the engine decides again.
          this.forwarder?.resetKernelCache?.();
          const b = this.config?.syncBinding();
          if (b && b.instance === instance) void this.sync?.followVrrp(to, b.interface, b.syncid);
        },
      });
      await this.config.start();
      const b = this.config.syncBinding();
      // Learn the table as a backup before any VRRP instance can become master (keepalived #1966).
      if (b && this.engine.daemons().length === 0) await this.sync.followVrrp('BACKUP', b.interface, b.syncid);
    }
    if (o.bgp) {
      this.announce = new AnnounceDriver(o.bgp, {
        log: this.log,
        services: () => this.engine.services(),
        health: () => this.config?.healthStatus() ?? null,
        base: `${o.socketPath}.bird`,
        now: () => performance.now(),
      });
      await this.announce.start();
    }
    this.tick = setInterval(() => this.engine.setTime(this.now()), o.tickMs);
    this.loopDelay.enable();
    if (typeof (this.engine as unknown as Partial<Engine>).defense === 'function') {
      const fastPathBytes = (): number => {
        if (o.forwarder !== 'packet') return 0;
        const st = this.forwarder?.status() as { fastPath?: { tableBytes?: number } | null } | undefined;
        return st?.fastPath?.tableBytes ?? 0;
      };
      this.stopDefense = startDefense(this.engine, o.connMax, () => this.engine.tableMemory().bytes + fastPathBytes(),
        (freed) => { this.memoryReleases++; this.log.info({ freedBytes: freed }, 'connection memory given back (entries expired)'); });
    }
    this.control = new ControlServer(o.socketPath, (req) => this.handle(req), (e) => this.log.error({ err: e.message }, 'control socket error'));
    await this.control.listen();
    this.announce?.setReady();
    if (o.slowStartS === undefined) this.slowStart.seconds = slowStartSeconds(this.config?.observeSettings().slowStart, o.configFile ?? null);
    // Started even when none is asked for: a reload may add them.
    this.observers = await startObservers(this, observeOptions(o.observe, this.config?.observeSettings() ?? {}, o.configFile ?? null));
    this.log.info({ socket: o.socketPath, pid: process.pid, forwarder: o.forwarder, workers: o.proxy.workers, state: o.stateFile, rules: o.rulesFile }, 'tsvs daemon ready');
  }

  async stop(signal: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.log.info({ signal }, 'stopping');
    // Withdraw first, still forwarding for a moment: routers move the flows to other directors.
    await this.announce?.stop();
    if (this.tick) clearInterval(this.tick);
    this.drainer.stop();
    this.slowStart.stop();
    await this.observers?.close();
    this.loopDelay.disable();
    this.stopDefense?.();
    await this.control?.close();
    await this.config?.stop();
    await this.queue;
    await this.sync?.close();
    await this.forwarder?.close();
    this.log.info({}, 'stopped');
    setTimeout(() => this.log.warn({ active: process.getActiveResourcesInfo() }, 'still running 1 s after stop'), 1000).unref();
  }
}

/** Runs the daemon until SIGTERM/SIGINT. Returns the exit code. */
export async function runDaemon(opts: DaemonOptions, deps: DaemonDeps): Promise<number> {
  const d = new Daemon(opts, deps);
  try {
    await d.start();
  } catch (e) {
    d.log.fatal({ err: (e as Error).message }, 'cannot start');
    process.stderr.write(`tsvs daemon: ${(e as Error).message}\n`);
    await d.stop('start-failure').catch(() => {});
    return 1;
  }
  return new Promise((resolve) => {
    const stop = (sig: string): void => {
      void d.stop(sig).then(() => resolve(0));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      d.log.info({ signal: 'SIGHUP' }, 'reload requested');
      void d.reload();
    });
    if (opts.configFile && opts.configFormat === 'keepalived') onKaDumpSignals(opts.dumpDir, d.kaDumpSources(), d.log);
  });
}
