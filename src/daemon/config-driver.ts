/**
 * `tsvs daemon --keepalived FILE | --ldirectord FILE`: the configuration file is the source of
 * truth. Start: load, plan (config/diff planReload), apply, start health checking
 * (health/manager) and VRRP (ha/vrrp-service), tie the sync daemon to VRRP (lvs_sync_daemon).
 * Reload (SIGHUP / `tsvs reload`): a config with errors is refused whole and nothing changes;
 * otherwise only the difference is applied and health state carries over.
 */
import type { IpvsBackend, IpvsCommand, Timeouts } from '../core/types.ts';
import { loadConfig } from '../config/load.ts';
import { formatDiagnostic, toHealthServices, type ConfigFormat, type DesiredState } from '../config/desired.ts';
import { withDaemonOptionChecks } from './options.ts';
import { planReload } from '../config/diff.ts';
import { HealthManager } from '../health/manager.ts';
import { applyHealthOps } from '../health/apply.ts';
import { createScriptRunner, type ScriptRunner } from '../health/io.ts';
import type { HealthAlert, HealthOp, HealthStatus } from '../health/types.ts';
import { alertText, canAlert, localName, sendSmtpAlert } from '../health/smtp-alert.ts';
import { mailSettings, startVrrp, type VrrpService, type VrrpStatus } from '../ha/vrrp-service.ts';
import type { Logger } from './log.ts';
import { ConfigError } from '../core/errors.ts';

export interface ConfigDriverHost {
  readonly log: Logger;
  /** Runs fn with the daemon's guarded backend, serialized with control requests; saves and re-syncs listeners if anything changed. */
  withBackend(fn: (b: IpvsBackend) => void): Promise<void>;
  /** withBackend for health checkers' changes (a running drain holds its server at weight 0: src/daemon/drain.ts); withBackend when absent. */
  withHealthBackend?(fn: (b: IpvsBackend) => void): Promise<void>;
  services: IpvsBackend['services'];
  timeouts(): Timeouts;
  /** A VRRP instance changed state (the daemon ties the sync daemon to it). */
  onVrrpState?(instance: string, to: string): void;
}

export interface ReloadOutcome {
  readonly ok: boolean;
  readonly commands?: number;
  readonly error?: string;
  readonly diagnostics: readonly string[];
}

/**
 * A master that comes back must re-learn the connection table before it preempts (keepalived
 * #1966): the instance that `lvs_sync_daemon` follows gets preempt_delay of at least
 * SYNC_LEARNING_WINDOW seconds, during which it stays backup and its backup sync daemon receives
 * the current master's periodic full refresh (src/ha/sync-daemon.ts, a pass every second).
 */
export const SYNC_LEARNING_WINDOW = 2;

export function withSyncLearningWindow(
  vrrp: DesiredState['vrrp'],
  binding: { instance: string } | null,
  log?: (o: object, m: string) => void,
): DesiredState['vrrp'] {
  if (!binding) return vrrp;
  return {
    ...vrrp,
    instances: vrrp.instances.map((i) => {
      if (i.name !== binding.instance || i.nopreempt || i.preempt_delay >= SYNC_LEARNING_WINDOW) return i;
      log?.({ instance: i.name, preempt_delay: SYNC_LEARNING_WINDOW }, 'lvs_sync_daemon: holding preemption while the connection table is learned');
      return { ...i, preempt_delay: SYNC_LEARNING_WINDOW };
    }),
  };
}

function daemonOptionValues(s: DesiredState | null): [string, string[]][] {
  return (s?.global.daemonOptions ?? []).map((o) => [o.key, o.values.map((v) => v.text)]);
}

export class ConfigDriver {
  private state: DesiredState | null = null;
  private health: HealthManager | null = null;
  private vrrp: VrrpService | null = null;
  private lastReload: { at: string; ok: boolean; error?: string } | null = null;
  /** Runs scripts under the loaded file's keepalived script policy (none for ldirectord: as the daemon's user). */
  private scriptRunner: ScriptRunner = createScriptRunner(null);
  /** Runs every script under the current policy (a reload may change script_user or security). */
  private readonly scripts: ScriptRunner = { run: (argv, ms, user) => this.scriptRunner.run(argv, ms, user) };

  constructor(readonly file: string, readonly format: ConfigFormat, private readonly host: ConfigDriverHost) {}

  private load(): { state: DesiredState | null; diagnostics: string[]; result: ReturnType<typeof loadConfig> } {
    const result = withDaemonOptionChecks(loadConfig(this.file, { format: this.format }));
    const diagnostics = result.diagnostics.map(formatDiagnostic);
    for (const d of result.diagnostics) {
      if (d.severity === 'error') this.host.log.error({ file: d.file, line: d.line, col: d.col }, d.message);
      else this.host.log.warn({ file: d.file, line: d.line, col: d.col }, d.message);
    }
    return { state: result.state, diagnostics, result };
  }

  private applyOps(ops: readonly HealthOp[]): void {
    if (ops.length === 0) return;
    void (this.host.withHealthBackend ?? this.host.withBackend).call(this.host, (b) => {
      for (const o of applyHealthOps(ops, b, this.scripts)) {
        if (o.errno) this.host.log.warn({ op: o.op.op, errno: o.errno }, 'health operation refused');
        else if (o.op.op !== 'exec') {
          const op = o.op;
          const dest = op.op === 'remove' ? `${op.addr}:${op.port}` : `${op.dest.addr}:${op.dest.port}`;
          this.host.log.info({ op: op.op, service: `${op.service.addr}:${op.service.port}`, dest, ...(op.op === 'set-weight' ? { weight: op.weight } : {}) }, 'health change applied');
        }
      }
    });
  }

  private async applyCommands(cmds: readonly IpvsCommand[]): Promise<number> {
    let failed = 0;
    await this.host.withBackend((b) => {
      for (const c of cmds) {
        const e = b.apply(c);
        if (e) {
          failed++;
          this.host.log.error({ cmd: c.kind, errno: e }, 'config: command refused');
        }
      }
    });
    return failed;
  }

  /** Throws (with every diagnostic) when the file has errors: the daemon refuses to start. */
  async start(): Promise<void> {
    const { state, diagnostics, result } = this.load();
    if (!state) throw new ConfigError('E_CONFIG', `${this.file} has errors:\n${diagnostics.join('\n')}`);
    const plan = planReload({ next: result, previous: null, running: this.host.services(), timeouts: this.host.timeouts() });
    if (!plan.ok) throw new ConfigError('E_CONFIG', `${this.file}: refused`);
    const failed = await this.applyCommands(plan.commands);
    if (failed > 0) this.host.log.warn({ failed }, 'some configured services could not be applied');
    this.state = state;
    this.scriptRunner = createScriptRunner(state.scripts ?? null);
    this.health = new HealthManager({
      services: toHealthServices(state),
      scripts: this.scripts,
      onOps: (ops) => this.applyOps(ops),
      onResult: (svc, dest, checker, r) => {
        if (!r.ok) this.host.log.debug({ service: svc, dest, checker, reason: r.reason }, 'check failed');
      },
      onAlert: (a) => this.mailAlert(a),
    });
    this.health.start();
    // keepalived runs its VRRP side for static addresses/routes/rules too (have_vrrp_config).
    const v = state.vrrp;
    if (v.instances.length > 0 || v.static_ipaddress.length > 0 || v.static_routes.length > 0 || v.static_rules.length > 0) {
      this.vrrp = startVrrp(
        withSyncLearningWindow(state.vrrp, this.syncBinding(), (o, m) => this.host.log.info(o, m)),
        { info: (o, m) => this.host.log.info(o, m), warn: (o, m) => this.host.log.warn(o, m) },
        (name, _from, to) => this.host.onVrrpState?.(name, to),
        this.scripts,
        undefined,
        mailSettings(state.global),
      );
    }
    this.host.log.info({ file: this.file, format: this.format, services: state.services.length, vrrp: state.vrrp.instances.length }, 'configuration loaded');
  }

  /**
   * keepalived's checker and quorum e-mail (smtp_alert): through global_defs' smtp_server to
   * notification_email, as the file in force says (a reload may change them); with
   * no_checker_emails only the checker transitions that change the server's state.
   */
  private mailAlert(a: HealthAlert): void {
    const g = this.state?.global;
    if (!g || (g.no_checker_emails && !a.serverChanged)) return;
    const mail = mailSettings(g);
    if (!canAlert(mail.settings)) return;
    const m = alertText.health(mail.settings.routerId ?? localName(), a);
    void sendSmtpAlert(mail.settings, m).then((o) => {
      if (o.ok) this.host.log.info({ subject: m.subject }, 'SMTP alert successfully sent.');
      else this.host.log.warn({ subject: m.subject, err: o.error }, 'SMTP alert not sent');
    });
  }

  /** The keepalived `lvs_sync_daemon IF INSTANCE [id N]` setting, if any. */
  syncBinding(): { interface: string; instance: string; syncid: number } | null {
    const g = this.state?.global.lvs_sync_daemon;
    if (g) return g;
    for (const i of this.state?.vrrp.instances ?? []) {
      if (i.lvs_sync_daemon_interface) return { interface: i.lvs_sync_daemon_interface, instance: i.name, syncid: 0 };
    }
    return null;
  }

  async reload(): Promise<ReloadOutcome> {
    const at = new Date().toISOString();
    const { state, diagnostics, result } = this.load();
    const health = this.health;
    const plan = planReload({
      next: result, previous: this.state, running: this.host.services(), timeouts: this.host.timeouts(),
      ...(health ? { health: health.view() } : {}),
    });
    if (!state || !plan.ok) {
      const error = `${this.file} has errors; running configuration unchanged`;
      this.lastReload = { at, ok: false, error };
      this.host.log.error({ file: this.file }, error);
      return { ok: false, error, diagnostics };
    }
    this.scriptRunner = createScriptRunner(state.scripts ?? null);
    await this.applyCommands(plan.commands);
    // BIRD and the engine's sysctls are set up at start from the file's tsvs_ daemon options.
    if (JSON.stringify(daemonOptionValues(this.state)) !== JSON.stringify(daemonOptionValues(state))) {
      this.host.log.warn({ file: this.file }, 'global_defs tsvs_bgp_*/tsvs_sloppy_* settings changed: they apply when the daemon restarts');
    }
    this.state = state;
    if (health) health.update(toHealthServices(state), plan.carry, { running: this.host.services() });
    // Static addresses, routes and rules follow the file (keepalived's clear_diff_static_*); a kept
    // instance's virtual ones too (clear_diff_vrrp), without touching what stayed; other VRRP
    // changes are logged as applying at restart.
    this.vrrp?.reloadStatic(state.vrrp);
    this.vrrp?.reloadInstances(state.vrrp.instances);
    this.lastReload = { at, ok: true };
    this.host.log.info({ file: this.file, commands: plan.commands.length }, 'configuration reloaded');
    return { ok: true, commands: plan.commands.length, diagnostics };
  }

  /** tsvs_http / tsvs_http_token / tsvs_procfs / tsvs_slow_start from the file's global settings (as written). */
  observeSettings(): { http?: string; httpToken?: string; procfs?: string; slowStart?: string } {
    const o = this.state?.global.options ?? {};
    return {
      ...(o['tsvs_http'] !== undefined ? { http: o['tsvs_http'] } : {}),
      ...(o['tsvs_http_token'] !== undefined ? { httpToken: o['tsvs_http_token'] } : {}),
      ...(o['tsvs_procfs'] !== undefined ? { procfs: o['tsvs_procfs'] } : {}),
      ...(o['tsvs_slow_start'] !== undefined ? { slowStart: o['tsvs_slow_start'] } : {}),
    };
  }

  healthStatus(): HealthStatus | null {
    return this.health?.status() ?? null;
  }

  vrrpStatus(): VrrpStatus[] {
    return this.vrrp?.status() ?? [];
  }

  status(): Record<string, unknown> {
    return {
      config: this.file,
      format: this.format,
      lastConfigReload: this.lastReload,
      health: this.health?.status() ?? null,
      vrrp: this.vrrp?.status() ?? [],
    };
  }

  async stop(): Promise<void> {
    // omega scripts (if any) go out through onOps like every other health operation
    this.health?.stop();
    await this.vrrp?.stop();
  }
}
