/**
 * keepalived's script checks at load (check_check_script_security and
 * check_vrrp_script_security in keepalived 2.2.7): who runs each script, which scripts may not
 * run (and are removed, as keepalived removes them), and the "SECURITY VIOLATION" that makes
 * `keepalived -t` fail when scripts run without enable_script_security. Pure: the file system
 * and user database come in as a ScriptHost.
 */
import {
  buildScriptPolicy, checkScriptSecure, mayRun, SC, scriptUserOf, type ScriptHost, type ScriptPolicy,
} from '../health/script-security.ts';
import { splitCommand } from '../health/split-command.ts';
import type { CheckerDef } from '../health/types.ts';
import {
  deepFreeze, type DesiredState, type Diagnostic, type NotifyKeyword, type RealServerConfig, type SourcePos,
  type VirtualServiceConfig, type VrrpInstanceConfig, type VrrpSyncGroupConfig,
} from './desired.ts';

export interface ScriptPolicyResult {
  readonly state: DesiredState;
  readonly policy: ScriptPolicy;
  readonly diagnostics: readonly Diagnostic[];
}

type Kind = 'misc' | 'notify' | 'track';

/** Applies keepalived's script rules to a keepalived.conf's desired state. */
export function applyScriptPolicy(state: DesiredState, host: ScriptHost, opts: { readonly vrrpRead?: boolean } = {}): ScriptPolicyResult {
  const diags: Diagnostic[] = [];
  const file = state.files[0] ?? '';
  const at0: SourcePos = { file, line: 0, col: 0 };
  const say = (at: SourcePos, severity: 'error' | 'warning', message: string, security = false) =>
    diags.push({ severity, file: at.file, line: at.line, col: at.col, message, ...(security ? { security: true as const } : {}) });

  // Every user a script names, and whether any script needs the default user.
  const named: string[] = [];
  let needsDefault = false;
  const note = (u: string | undefined) => { if (u === undefined) needsDefault = true; else named.push(u); };
  const hasChecks = state.services.length > 0;
  // keepalived checks the VRRP side when any vrrp_instance was read (a file with errors may have
  // read some that are not complete: opts.vrrpRead).
  const hasVrrp = opts.vrrpRead ?? state.vrrp.instances.length > 0;
  if (hasChecks) {
    for (const v of state.services) {
      if (v.quorum_up) note(v.script_users?.quorum_up);
      if (v.quorum_down) note(v.script_users?.quorum_down);
      for (const r of v.reals) {
        if (r.notify_up) note(r.script_users?.notify_up);
        if (r.notify_down) note(r.script_users?.notify_down);
        for (const ck of r.checkers) if (ck.type === 'MISC_CHECK') note(ck.user);
      }
    }
  }
  if (hasVrrp) {
    for (const s of state.vrrp.scripts) note(s.user);
    for (const o of [...state.vrrp.instances, ...state.vrrp.syncGroups]) {
      for (const [k, cmd] of Object.entries(o.notify)) if (cmd) note(o.notify_users?.[k as NotifyKeyword]);
    }
  }
  const security = state.global.enable_script_security === true;
  const { policy, problems } = buildScriptPolicy(
    { security, ...(state.global.script_user !== undefined ? { scriptUser: state.global.script_user } : {}), namedUsers: named, needsDefault },
    host,
  );
  for (const p of problems) {
    // A user named beside one script is reported where that script is (below); the global ones here.
    if (p.user === 'script_user' || p.user === 'keepalived_script') say(at0, 'error', p.message);
  }

  /**
   * One script: may it run, and as whom? Returns the SC flags (0 when it never got that far) and
   * whether to keep it. Messages are keepalived's.
   */
  const judge = (kind: Kind, label: string, cmd: string, user: string | undefined, at: SourcePos): { flags: number; keep: boolean } => {
    const as = scriptUserOf(policy, user);
    if (!as) {
      if (user !== undefined) {
        const why = problems.find((p) => p.user === user.trim())?.message ?? `Script user '${user}' does not exist`;
        if (kind === 'notify') say(at, 'warning', `${why}; Invalid user/group for ${label} script ${cmd} - ignoring`);
        else say(at, 'error', `${why}; ${kind === 'misc' ? `Failed to set uid/gid for misc checker script ${cmd} - removing` : `Unable to set uid/gid for script ${cmd}`}`);
      } else if (kind === 'notify') say(at, 'warning', `Failed to set default user for ${label} script ${cmd} - ignoring`);
      else say(at, 'error', kind === 'misc' ? `Unable to set default user for misc script ${cmd} - removing` : `Unable to set default user for vrrp script ${label} - removing`);
      return { flags: 0, keep: false };
    }
    const argv0 = splitCommand(cmd)[0] ?? '';
    const v = checkScriptSecure(argv0, as, security, host);
    for (const m of v.messages) say(at, 'warning', m);
    const keep = kind === 'notify'
      ? (v.flags & (SC.INHIBIT | SC.NOTFOUND)) === 0 && (v.flags & SC.EXECUTABLE) !== 0
      : mayRun(v);
    if (!keep) {
      if (kind === 'misc') {
        if (v.flags & SC.INHIBIT) say(at, 'warning', `Disabling misc script ${cmd} due to insecure`);
        else if (v.flags & SC.NOTFOUND) say(at, 'warning', `Disabling misc script ${cmd} since not found/accessible`);
      } else if (kind === 'track') {
        if (v.flags & SC.INHIBIT) say(at, 'error', `Disabling track script ${label} due to insecure`);
        else if (v.flags & SC.NOTFOUND) say(at, 'error', `Disabling track script ${label} since not found/accessible`);
      }
    }
    return { flags: v.flags, keep };
  };

  /**
   * The notify-style scripts `keys` of `o` (each run as `users[k]`) judged; a copy of `o` without
   * the ones that may not run. Their flags go to `flags`.
   */
  const keepNotifies = <T extends object>(o: T, keys: readonly string[], users: Readonly<Partial<Record<string, string>>> | undefined, at: SourcePos, flags: (f: number) => void): T => {
    const out = { ...o } as Record<string, unknown>;
    for (const k of keys) {
      const cmd = out[k];
      if (typeof cmd !== 'string' || cmd === '') continue;
      const j = judge('notify', k, cmd, users?.[k], at);
      flags(j.flags);
      if (!j.keep) delete out[k];
    }
    return out as T;
  };
  /** keepalived -t's complaint when scripts run without enable_script_security. */
  const violation = (flags: number, what: string): void => {
    if (!security && (flags & SC.ISSCRIPT)) {
      say(at0, 'warning', `SECURITY VIOLATION - ${what} are being executed but script_security not enabled.${flags & SC.INSECURE ? ' There are insecure scripts.' : ''}`, true);
    }
  };

  // ---- the checker side: MISC_CHECK, notify_up/down, quorum_up/down ----
  let checkFlags = 0;
  const addCheck = (f: number) => { checkFlags |= f; };
  const services = !hasChecks ? state.services : state.services.map((v): VirtualServiceConfig => {
    const reals = v.reals.map((r): RealServerConfig => {
      const checkers = r.checkers.filter((ck: CheckerDef) => {
        if (ck.type !== 'MISC_CHECK') return true;
        const j = judge('misc', 'misc', ck.misc_path, ck.user, r.at);
        addCheck(j.flags);
        return j.keep;
      });
      return keepNotifies({ ...r, checkers }, ['notify_up', 'notify_down'], r.script_users, r.at, addCheck);
    });
    return keepNotifies({ ...v, reals }, ['quorum_up', 'quorum_down'], v.script_users, v.at, addCheck);
  });
  if (hasChecks) violation(checkFlags, 'check scripts');

  // ---- the VRRP side: vrrp_script, notify* of instances and sync groups ----
  let vrrpFlags = 0;
  const addVrrp = (f: number) => { vrrpFlags |= f; };
  let vrrp = state.vrrp;
  if (hasVrrp) {
    const removed = new Set<string>();
    const scripts = state.vrrp.scripts.filter((s) => {
      const j = judge('track', s.name, s.script, s.user, s.at);
      addVrrp(j.flags);
      if (!j.keep) removed.add(s.name);
      return j.keep;
    });
    const notifies = <T extends VrrpInstanceConfig | VrrpSyncGroupConfig>(o: T): T =>
      ({ ...o, notify: keepNotifies(o.notify, Object.keys(o.notify), o.notify_users, o.at, addVrrp), track_script: o.track_script.filter((t) => !removed.has(t.name)) });
    vrrp = { ...state.vrrp, scripts, instances: state.vrrp.instances.map(notifies), syncGroups: state.vrrp.syncGroups.map(notifies) };
    violation(vrrpFlags, 'scripts');
  }

  return { state: deepFreeze({ ...state, services, vrrp, scripts: policy }), policy, diagnostics: diags };
}
