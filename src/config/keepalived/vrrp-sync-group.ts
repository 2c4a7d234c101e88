/** `vrrp_sync_group NAME { group { ... } notify... track_script { ... } }`. */
import type { SourcePos, VrrpTrack } from '../desired.ts';
import { pos, type KaState, type Stmt } from './context.ts';
import { ignoredVrrp, notifyHandlers, trackBlock, type Notify } from './vrrp-common.ts';

export function parseSyncGroup(st: KaState, s: Stmt): void {
  const { c, vrrp } = st;
  const name = c.arg(s, 0, 'a sync group name');
  if (!name) return;
  const g: { name: string; group: string[]; notify: Notify; notify_users?: Notify; smtp_alert: boolean; track_script: VrrpTrack[]; at: SourcePos } =
    { name: name.text, group: [], notify: {}, smtp_alert: false, track_script: [], at: pos(name) };
  const users: Notify = {};
  c.dispatch(s.body, {
    group: { run: (x) => { for (const l of x.block ?? []) g.group.push(l.name.text, ...l.args.map((t) => t.text)); } },
    ...notifyHandlers(c, g.notify, users),
    smtp_alert: { run: () => { g.smtp_alert = true; } },
    track_script: { run: (x) => trackBlock(c, x, g.track_script) },
    ...ignoredVrrp(c, ['global_tracking', 'sync_group_tracking_weight', 'track_interface', 'track_file', 'track_process', 'track_bfd']),
  }, 'vrrp_sync_group');
  if (Object.keys(users).length) g.notify_users = users;
  vrrp.syncGroups.push(g);
}
