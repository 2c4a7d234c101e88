/** `static_ipaddress`, `static_routes`, `static_rules`: addresses, routes and rules set once at start. */
import { lines, type KaState, type Stmt } from './context.ts';
import { addrBlock } from './vrrp-common.ts';

export function parseStaticAddresses(st: KaState, s: Stmt): void {
  addrBlock(st.c, s, st.vrrp.static_ipaddress);
}

export function parseStaticRoutes(st: KaState, s: Stmt): void {
  st.vrrp.static_routes.push(...lines(s.block));
}

export function parseStaticRules(st: KaState, s: Stmt): void {
  st.vrrp.static_rules.push(...lines(s.block));
}
