/**
 * `static_ipaddress`, `static_routes`, `static_rules`: addresses, routes and rules keepalived sets
 * once when its VRRP side starts and removes when it stops, read and checked as keepalived reads
 * them. tsvs sets them the same way (ha/vrrp-service.ts, through rtnetlink); the words of a line
 * that tsvs does not set are said at the line (config-test fails, as the issue asks).
 */
import { RULE_START_PRIORITY, parseRoutes } from './routes.ts';
import { addrBlock } from './vrrp-common.ts';
import type { Ctx, KaState, Stmt } from './context.ts';
import type { RouteLine } from './drafts.ts';
import { routeTrackGroups, trackStatic } from './track-group.ts';

export function parseStaticAddresses(st: KaState, s: Stmt): void {
  for (const a of addrBlock(st.c, st, s, true)) {
    const x = a.addr_.extra;
    const i = x.indexOf('track_group');
    // keepalived's static address without dev is on its default interface (DFLT_INT, eth0).
    if (i >= 0) trackStatic(st, a.at, x[i + 1]!, a.addr_.dev ?? 'eth0', x.includes('no_track'));
    st.vrrp.static_ipaddress.push(a.addr_);
  }
}

/** Says at its line each word of a route or rule that tsvs reads and does not set. */
export function sayNotSet(c: Ctx, lines: readonly RouteLine[], what: string): void {
  for (const l of lines) {
    for (const t of l.notSet) c.warn(t, `${what} '${t.text}' is accepted but not implemented by tsvs (the ${what.includes('rule') ? 'rule' : 'route'} is set without it)`);
  }
}

export function parseStaticRoutes(st: KaState, s: Stmt): void {
  const got = parseRoutes(st.c, st, s, 'route').map((l) => routeTrackGroups(st, l, l.route?.noTrack === true));
  sayNotSet(st.c, got, 'static_routes');
  st.vrrp.static_routes.push(...got.flatMap((r) => (r.route ? [r.route] : [])));
}

export function parseStaticRules(st: KaState, s: Stmt): void {
  const got = parseRoutes(st.c, st, s, 'rule').map((l) => routeTrackGroups(st, l, l.rule?.noTrack === true));
  sayNotSet(st.c, got, 'static_rules');
  st.vrrp.static_rules.push(...got.flatMap((r) => (r.rule ? [r.rule] : [])));
}

export { RULE_START_PRIORITY };
