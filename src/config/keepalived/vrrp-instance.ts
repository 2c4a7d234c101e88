/** `vrrp_instance NAME { ... }`. */
import { canonicalIp, parseIp } from '../../core/addr.ts';
import type { SourcePos, VrrpAddress, VrrpTrack } from '../desired.ts';
import type { Tok } from '../kalex.ts';
import { lines, pos, type KaState, type Stmt } from './context.ts';
import { addrBlock, ignoredVrrp, notifyHandlers, trackBlock, type Notify } from './vrrp-common.ts';

export function parseInstance(st: KaState, s: Stmt): void {
  const { c, global, vrrp } = st;
  const name = c.arg(s, 0, 'an instance name');
  if (!name) return;
  const i: {
    name: string; state: 'MASTER' | 'BACKUP'; interface?: string; virtual_router_id: number; priority: number; advert_int: number; version: 2 | 3;
    nopreempt: boolean; preempt_delay: number; authentication?: { auth_type: 'PASS' | 'AH'; auth_pass: string };
    virtual_ipaddress: VrrpAddress[]; virtual_ipaddress_excluded: VrrpAddress[]; virtual_routes: string[]; unicast_src_ip?: string;
    unicast_peer: string[]; mcast_src_ip?: string; track_interface: VrrpTrack[]; track_script: VrrpTrack[]; notify: Notify; notify_users?: Notify;
    garp_master_delay?: number; smtp_alert: boolean; use_vmac: boolean; accept?: boolean; lvs_sync_daemon_interface?: string; at: SourcePos;
  } = {
    name: name.text, state: 'BACKUP', virtual_router_id: 0, priority: 100, advert_int: 1,
    // global_defs vrrp_version is every instance's default (keepalived); `version` in the instance overrides it.
    version: global.options['vrrp_version'] === '3' ? 3 : 2, nopreempt: false, preempt_delay: 0,
    virtual_ipaddress: [], virtual_ipaddress_excluded: [], virtual_routes: [], unicast_peer: [], track_interface: [], track_script: [],
    notify: {}, smtp_alert: false, use_vmac: false, at: pos(name),
  };
  let vridTok: Tok | null = null;
  let stateGiven = false, prioGiven = false;
  c.dispatch(s.body, {
    state: { run: (x) => {
      const t = c.arg(x, 0, 'MASTER|BACKUP');
      if (!t) return;
      const v = t.text.toUpperCase();
      if (v !== 'MASTER' && v !== 'BACKUP') { c.err(t, `expected MASTER|BACKUP, got '${t.text}'`); return; }
      if (v !== t.text) c.warn(t, `'${t.text}' accepted as '${v}'`);
      i.state = v; stateGiven = true;
    } },
    interface: { run: (x) => { const t = c.arg(x, 0, 'an interface name'); if (t) i.interface = t.text; c.extra(x, 1); } },
    virtual_router_id: { run: (x) => { vridTok = x.args[0] ?? null; const v = c.num(x, 0, 'a virtual router id', 1, 255); if (v !== null) i.virtual_router_id = v; c.extra(x, 1); } },
    priority: { run: (x) => { const v = c.num(x, 0, 'a priority', 1, 255); if (v !== null) { i.priority = v; prioGiven = true; } c.extra(x, 1); } },
    advert_int: { run: (x) => { const v = c.num(x, 0, 'seconds', 0.01, 255, false); if (v !== null) i.advert_int = v; c.extra(x, 1); } },
    version: { run: (x) => { const v = c.num(x, 0, 'a VRRP version', 2, 3); if (v !== null) i.version = v as 2 | 3; } },
    nopreempt: { run: () => { i.nopreempt = true; } },
    preempt: { run: () => { i.nopreempt = false; } },
    preempt_delay: { run: (x) => { const v = c.num(x, 0, 'seconds', 0, 1000, false); if (v !== null) i.preempt_delay = v; } },
    authentication: { run: (x) => {
      let type: 'PASS' | 'AH' | undefined, pass = '';
      c.dispatch(x.body, {
        auth_type: { run: (y) => { const t = c.arg(y, 0, 'PASS|AH'); if (t && (t.text.toUpperCase() === 'PASS' || t.text.toUpperCase() === 'AH')) type = t.text.toUpperCase() as 'PASS' | 'AH'; else if (t) c.err(t, `expected PASS|AH, got '${t.text}'`); } },
        auth_pass: { run: (y) => { const t = c.arg(y, 0, 'a password'); if (t) { pass = t.text; if (pass.length > 8) c.warn(t, 'auth_pass is longer than 8 characters; VRRP uses the first 8'); } } },
      }, 'authentication');
      if (type) i.authentication = { auth_type: type, auth_pass: pass.slice(0, 8) };
      else c.err(c.after(x), "authentication needs 'auth_type PASS|AH'");
    } },
    virtual_ipaddress: { run: (x) => addrBlock(c, x, i.virtual_ipaddress) },
    virtual_ipaddress_excluded: { run: (x) => addrBlock(c, x, i.virtual_ipaddress_excluded) },
    virtual_routes: { run: (x) => { i.virtual_routes.push(...lines(x.block)); } },
    virtual_rules: { run: (x) => { i.virtual_routes.push(...lines(x.block).map((l) => `rule ${l}`)); } },
    unicast_src_ip: { run: (x) => { const a = c.ip(x, 0, 'an address'); if (a) i.unicast_src_ip = a.addr; } },
    unicast_peer: { run: (x) => { for (const l of x.block ?? []) { const a = parseIp(l.name.text); if (!a) c.err(l.name, `expected a peer address, got '${l.name.text}'`); else i.unicast_peer.push(canonicalIp(l.name.text)!); } } },
    mcast_src_ip: { run: (x) => { const a = c.ip(x, 0, 'an address'); if (a) i.mcast_src_ip = a.addr; } },
    track_interface: { run: (x) => trackBlock(c, x, i.track_interface) },
    track_script: { run: (x) => trackBlock(c, x, i.track_script) },
    ...notifyHandlers(c, i.notify, i.notify_users ??= {}),
    garp_master_delay: { run: (x) => { const v = c.num(x, 0, 'seconds', 0, 3600, false); if (v !== null) i.garp_master_delay = v; } },
    smtp_alert: { run: () => { i.smtp_alert = true; } },
    use_vmac: { run: () => { i.use_vmac = true; } },
    accept: { run: () => { i.accept = true; } },
    no_accept: { run: () => { i.accept = false; } },
    lvs_sync_daemon_interface: { run: (x) => { const t = c.arg(x, 0, 'an interface name'); if (t) i.lvs_sync_daemon_interface = t.text; } },
    ...ignoredVrrp(c, ['garp_master_refresh', 'garp_master_repeat', 'garp_master_refresh_repeat', 'garp_lower_prio_delay', 'garp_lower_prio_repeat',
      'dont_track_primary', 'vmac_xmit_base', 'native_ipv6', 'debug', 'strict_mode', 'skip_check_adv_addr', 'track_file', 'track_process',
      'track_bfd', 'check_unicast_src', 'unicast_ttl', 'old_unicast_checksum', 'kernel_rx_buf_size', 'notify_master_rx_lower_pri',
      'lower_prio_no_advert', 'higher_prio_send_advert', 'mcast_dst_ip', 'promote_secondaries', 'linkbeat_use_polling', 'send_arp']),
  }, 'vrrp_instance');
  if (!s.body) return;
  if (i.virtual_router_id === 0 && vridTok === null) c.err(c.after(s), `vrrp_instance ${name.text}: expected 'virtual_router_id N' (1..255)`);
  if (!i.interface && !i.unicast_peer.length) c.warn(name, `vrrp_instance ${name.text} has no 'interface'; the default interface will be used`);
  if (!i.virtual_ipaddress.length) c.warn(name, `vrrp_instance ${name.text} has no virtual_ipaddress`);
  if (stateGiven && i.state === 'MASTER' && !prioGiven) i.priority = 100;
  if (i.authentication && i.version === 3) c.warn(name, 'VRRPv3 has no authentication; authentication block ignored');
  const fam = new Set(i.virtual_ipaddress.map((a) => (a.addr.includes(':') ? 6 : 4)));
  if (fam.size > 1) c.warn(name, `vrrp_instance ${name.text} mixes IPv4 and IPv6 virtual addresses; keepalived moves the other family to virtual_ipaddress_excluded`);
  if (vrrp.instances.some((o) => o.name === name.text)) { c.err(name, `vrrp_instance ${name.text} is defined twice`); return; }
  if (i.notify_users && Object.keys(i.notify_users).length === 0) delete i.notify_users;
  vrrp.instances.push(i);
}
