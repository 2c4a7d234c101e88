/**
 * `track_group NAME { group { VI_1 VI_2 } }` (keepalived 2.2.7's static track groups,
 * vrrp_parser.c / vrrp_static_track.c): a static address, route or rule written with
 * `track_group NAME` makes the group's vrrp_instances track its interface (weight 0: the
 * instances go to FAULT while it is down). A group must be defined before a line names it.
 */
import type { SourcePos, StaticTrackGroupConfig } from '../desired.ts';
import type { Tok } from '../kalex.ts';
import type { RouteLine } from './drafts.ts';
import { pos, type KaState, type Stmt } from './context.ts';

type Draft = { name: string; group: string[]; devs: string[]; at: SourcePos };

export function parseTrackGroup(st: KaState, s: Stmt): void {
  const { c, vrrp } = st;
  if (s.args.length !== 1) { c.warn(s.name, 'track_group must have a name - skipping'); return; }
  const name = s.args[0]!;
  if (vrrp.trackGroups.some((g) => g.name === name.text)) { c.warn(name, `track_group ${name.text} already defined`); return; }
  const g: Draft = { name: name.text, group: [], devs: [], at: pos(name) };
  let haveGroup = false;
  c.dispatch(s.body, {
    group: { run: (x) => {
      if (haveGroup) { c.warn(x.name, `Group list already specified for sync group ${g.name}`); return; }
      haveGroup = true;
      for (const l of x.block ?? []) g.group.push(l.name.text, ...l.args.map((t) => t.text));
      if (!g.group.length) c.warn(x.name, `Warning - track group ${g.name} has empty group block`);
    } },
  }, 'track_group');
  vrrp.trackGroups.push(g as StaticTrackGroupConfig);
}

/**
 * A static line's `track_group NAME`: the group (defined above it) tracks `dev`; keepalived's
 * words when it is not defined, and nothing tracked with no_track or without an interface.
 */
export function trackStatic(st: KaState, at: Tok, name: string, dev: string | undefined, noTrack: boolean): void {
  const g = st.vrrp.trackGroups.find((x) => x.name === name) as Draft | undefined;
  if (!g) { st.c.warn(at, `track_group ${name} not found`); return; }
  if (noTrack) { st.c.note(at, 'a static entry with both track_group and no_track is not tracked (keepalived logs it at start)'); return; }
  if (dev !== undefined && !g.devs.includes(dev)) g.devs.push(dev);
}

/** A static route or rule line: its `track_group` words taken out of what tsvs does not set, and applied. */
export function routeTrackGroups(st: KaState, l: RouteLine, noTrack: boolean): RouteLine {
  const words = l.text.split(/\s+/);
  const tg = l.notSet.filter((t) => t.text === 'track_group');
  if (!tg.length) return l;
  for (const t of tg) trackStatic(st, t, words[words.indexOf('track_group') + 1] ?? '', l.dev, noTrack);
  return { ...l, notSet: l.notSet.filter((t) => t.text !== 'track_group') };
}
