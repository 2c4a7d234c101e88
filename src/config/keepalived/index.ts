/**
 * keepalived.conf reader: the load-balancing part (global_defs, virtual_server_group,
 * virtual_server, real_server, every checker) into the desired state, and the VRRP part
 * (vrrp_instance, vrrp_sync_group, vrrp_script, vrrp_track_file, static_*) parsed and validated
 * into plain data for the HA layer. One module per block kind beside this one; each checker's
 * keywords in checkers/, one file per checker.
 *
 * Pure: files come through a ConfigSource. Errors carry file:line:col and what was expected;
 * unknown or unsupported keywords are warnings with file:line, never silently dropped. A config
 * with any error yields `state: null`.
 */
import {
  deepFreeze, emptyVrrp, sortDiagnostics,
  type Diagnostic, type GlobalConfig, type LoadResult, type VrrpConfig, type VrrpInstanceConfig,
} from '../desired.ts';
import { lexKeepalived, type LexOptions } from '../kalex.ts';
import type { ConfigSource } from '../source.ts';
import { Ctx, MAX_DIAGS, type HostInterface, type KaState, type Stmt, type Table, type VrrpDraft } from './context.ts';
import { RULE_START_PRIORITY } from './routes.ts';
import { completeVrrp } from './vrrp-complete.ts';
import { globalDefsTable } from './global-defs.ts';
import { parseStaticAddresses, parseStaticRoutes, parseStaticRules } from './static.ts';
import { parseGroup } from './virtual-server-group.ts';
import { parseVirtualServer } from './virtual-server.ts';
import { parseInstance } from './vrrp-instance.ts';
import { parseScript } from './vrrp-script.ts';
import { parseSyncGroup } from './vrrp-sync-group.ts';
import { parseTrackFile } from './vrrp-track-file.ts';
import { parseTrackGroup } from './track-group.ts';

export interface KeepalivedOptions extends LexOptions {
  /** The host's interfaces, which keepalived checks the file against; absent = not checked. */
  readonly interfaces?: ReadonlyMap<string, HostInterface>;
}

function topTable(st: KaState): Table {
  const { c } = st;
  const block = (run: (st: KaState, s: Stmt) => void) => ({ run: (s: Stmt) => run(st, s) });
  return {
    global_defs: { run: (s) => c.dispatch(s.body, globalDefsTable(st), 'global_defs') },
    virtual_server_group: block(parseGroup),
    virtual_server: block(parseVirtualServer),
    vrrp_instance: block(parseInstance),
    vrrp_sync_group: block(parseSyncGroup),
    vrrp_script: block(parseScript),
    vrrp_track_file: block(parseTrackFile),
    track_file: block(parseTrackFile),
    static_ipaddress: block(parseStaticAddresses),
    static_routes: block(parseStaticRoutes),
    static_rules: block(parseStaticRules),
    track_group: block(parseTrackGroup),
  };
}

/** What is left to check once every block is read: the instance lvs_sync_daemon names. */
function crossCheck(st: KaState, path: string): void {
  const { c, vrrp, global } = st;
  if (global.lvs_sync_daemon && !vrrp.instances.some((i) => i.name === global.lvs_sync_daemon!.instance)) {
    c.diags.push({ severity: 'warning', file: path, line: 0, col: 0, message: `lvs_sync_daemon names vrrp_instance '${global.lvs_sync_daemon.instance}' which is not defined` });
  }
}

/** Parses keepalived.conf text files starting at `path`. */
export function parseKeepalived(path: string, src: ConfigSource, opts: KeepalivedOptions = {}): LoadResult {
  const diags: Diagnostic[] = [];
  const lex = lexKeepalived(path, src, diags, opts);
  const c = new Ctx(lex.lines);
  c.diags.push(...diags);
  const st: KaState = {
    c,
    global: { notification_email: [], lvs_flush: false, options: {} },
    vrrp: emptyVrrp() as VrrpDraft,
    groups: new Map(),
    services: [],
    svcSeen: new Map(),
    deferred: [],
    interfaces: opts.interfaces ?? null,
    vrrpDrafts: [],
    vrrpGlobal: { strict: false, version: 2 },
    syncTrackingWeight: new Set(),
    rulePriority: { v4: RULE_START_PRIORITY, v6: RULE_START_PRIORITY },
  };

  c.trackFile = (name) => st.vrrp.trackFiles.find((f) => f.name === name);
  c.dispatch(c.top(), topTable(st), 'the top level');
  // keepalived resolves virtual_server_group names and completes VRRP once every block is read.
  if (!c.stopped) {
    for (const f of st.deferred) f();
    completeVrrp(st);
  }
  crossCheck(st, path);
  if (!lex.lines.length && lex.files.length) c.note({ file: path, line: 1, col: 0 }, 'the configuration is empty');

  const hasErrors = c.diags.some((d) => d.severity === 'error');
  if (c.diags.length >= MAX_DIAGS) c.diags.push({ severity: hasErrors ? 'error' : 'warning', file: path, line: 0, col: 0, message: `too many problems; stopped reporting after ${MAX_DIAGS}` });
  const g: GlobalConfig = st.global;
  const state = deepFreeze({ format: 'keepalived' as const, files: lex.files, global: g, services: st.services, vrrp: st.vrrp as VrrpConfig });
  return {
    state: hasErrors ? null : state,
    // keepalived -t stopped at a missing parameter checks nothing more; otherwise its script check runs.
    ...(hasErrors && !c.stopped ? { partial: { state, vrrpInstancesRead: st.vrrpDrafts.length } } : {}),
    diagnostics: sortDiagnostics(c.diags, lex.files),
  };
}
