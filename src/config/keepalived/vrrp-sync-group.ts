/** `vrrp_sync_group NAME { group { ... } notify... track_script { ... } }`, read as keepalived reads it. */
import type { SourcePos, VrrpSyncGroupConfig, VrrpTrack } from '../desired.ts';
import { pos, type KaState, type Stmt } from './context.ts';
import { kaBool } from './numbers.ts';
import { ignoredVrrp, notifyHandlers, trackScripts, type Notify } from './vrrp-common.ts';

export function parseSyncGroup(st: KaState, s: Stmt): void {
  const { c, vrrp } = st;
  if (s.args.length !== 1) { c.warn(s.name, 'vrrp_sync_group must have a name - skipping'); return; }
  const name = s.args[0]!;
  if (vrrp.syncGroups.some((g) => g.name === name.text)) { c.warn(name, `vrrp sync group ${name.text} already defined`); return; }
  const g: { name: string; group: string[]; notify: Notify; notify_users?: Notify; smtp_alert?: boolean; track_script: VrrpTrack[]; at: SourcePos } =
    { name: name.text, group: [], notify: {}, track_script: [], at: pos(name) };
  const users: Notify = {};
  let haveGroup = false;
  const tracked: (VrrpTrack & { at: unknown })[] = [];
  c.dispatch(s.body, {
    group: { run: (x) => {
      if (haveGroup) { c.warn(x.name, `Group list already specified for sync group ${g.name}`); return; }
      haveGroup = true;
      for (const l of x.block ?? []) g.group.push(l.name.text, ...l.args.map((t) => t.text));
      if (!g.group.length) c.warn(x.name, `Warning - sync group ${g.name} has empty group block`);
    } },
    ...notifyHandlers(c, g.notify, users, `(${g.name})`),
    smtp_alert: { run: (x) => {
      const v = x.args[0] ? kaBool(x.args[0].text) : true;
      if (v === null) c.warn(x.args[0]!, `Invalid smtp_alert parameter ${x.args[0]!.text}`);
      else g.smtp_alert = v;
    } },
    track_script: { run: (x) => trackScripts(c, st, g.name, x, tracked as never) },
    sync_group_tracking_weight: { run: () => { st.syncTrackingWeight.add(g.name); } },
    ...ignoredVrrp(c, ['global_tracking', 'track_interface', 'track_file', 'track_process', 'track_bfd', 'notify_priority_changes']),
  }, 'vrrp_sync_group');
  g.track_script.push(...tracked.map(({ at: _at, ...t }) => t));
  if (Object.keys(users).length) g.notify_users = users;
  // smtp_alert not written is filled in by completeVrrp (it depends on global_defs, read in any order).
  vrrp.syncGroups.push(g as VrrpSyncGroupConfig);
}
