/**
 * `static_ipaddress`, `static_routes`, `static_rules`: addresses, routes and rules keepalived sets
 * once at start, read and checked as keepalived reads them. tsvs does not set them: each block
 * says so at its line (config-test fails, as the issue asks of anything tsvs does not do).
 */
import { RULE_START_PRIORITY, parseRoutes } from './routes.ts';
import { addrBlock } from './vrrp-common.ts';
import type { KaState, Stmt } from './context.ts';

export function parseStaticAddresses(st: KaState, s: Stmt): void {
  const got = addrBlock(st.c, st, s, true);
  for (const a of got) st.vrrp.static_ipaddress.push(a.addr_);
  if (got.length) st.c.warn(s.name, `static_ipaddress is accepted but not implemented by tsvs (${got.length} address(es) not set); ignored`);
}

export function parseStaticRoutes(st: KaState, s: Stmt): void {
  const got = parseRoutes(st.c, st, s, 'route');
  st.vrrp.static_routes.push(...got.map((r) => r.text));
  if (got.length) st.c.warn(s.name, `static_routes is accepted but not implemented by tsvs (${got.length} route(s) not set); ignored`);
}

export function parseStaticRules(st: KaState, s: Stmt): void {
  const got = parseRoutes(st.c, st, s, 'rule');
  st.vrrp.static_rules.push(...got.map((r) => r.text));
  if (got.length) st.c.warn(s.name, `static_rules is accepted but not implemented by tsvs (${got.length} rule(s) not set); ignored`);
}

export { RULE_START_PRIORITY };
