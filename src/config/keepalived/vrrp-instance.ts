/**
 * `vrrp_instance NAME { ... }` read as keepalived 2.2.7's vrrp_parser.c reads it: each keyword's
 * handler, with keepalived's words when it refuses a value (and the value it keeps then). What
 * keepalived checks once everything is read (vrrp_complete_init) is in ./vrrp-complete.ts.
 */
import { canonicalIp, isMulticast, parseIp } from '../../core/addr.ts';
import { IFNAME_MAX, pos, type KaState, type Stmt, type Table } from './context.ts';
import { kaBool, kaDecimal, kaInt, kaUnsigned } from './numbers.ts';
import { parseRoutes } from './routes.ts';
import { sayNotSet } from './static.ts';
import type { InstanceDraft } from './drafts.ts';
import { isLinkLocalMulticast6 } from './mcast.ts';
import { addrBlock, ignoredVrrp, notifyHandlers, trackInterfaces, trackScripts } from './vrrp-common.ts';



export function parseInstance(st: KaState, s: Stmt): void {
  const { c, vrrpDrafts } = st;
  if (s.args.length !== 1) { c.warn(s.name, 'vrrp_instance must have a name'); return; }
  const name = s.args[0]!;
  if (vrrpDrafts.some((o) => o.name === name.text)) { c.warn(name, `vrrp instance ${name.text} already defined`); return; }
  const i: InstanceDraft = {
    name: name.text, at: pos(name), wantState: null, vrid: 0, basePriority: 0, advertInt: null,
    version: 0, family: null, nopreempt: false, preemptDelay: 0, authType: null, authPass: '',
    strictMode: null, unicastConfigured: false, saddrFromConfig: false,
    vip: [], evip: [], vroutes: [], vrules: [], unicastPeer: [], trackInterface: [], trackScript: [], trackFile: [],
    notify: {}, notifyUsers: {}, useVmac: false,
  };
  vrrpDrafts.push(i);
  const tag = `(${i.name})`;
  const family = (f: 4 | 6): boolean => {
    if (i.family === null) { i.family = f; return true; }
    return i.family === f;
  };
  const srcip = (x: Stmt, what: 'unicast_src_ip' | 'mcast_src_ip'): void => {
    const t = c.arg(x, 0, 'an address');
    if (!t) return;
    const ip = parseIp(t.text);
    if (!ip) { c.warn(t, `Configuration error: VRRP instance[${i.name}] malformed src address[${t.text}]. Skipping...`); return; }
    if (!family(ip.af)) { c.warn(t, `Configuration error: VRRP instance[${i.name}] and src address[${t.text}] MUST be of the same family !!! Skipping...`); return; }
    i.saddrFromConfig = true;
    if (what === 'unicast_src_ip') i.unicastSrc = canonicalIp(t.text)!;
    else i.mcastSrc = canonicalIp(t.text)!;
  };
  const notImplemented = (x: Stmt): void => c.warn(x.name, `'${x.name.text}' is accepted but not implemented by the tsvs VRRP engine; ignored`);
  const table: Table = {
    state: { run: (x) => {
      const t = c.arg(x, 0, 'MASTER|BACKUP');
      if (!t) return;
      if (t.text === 'MASTER') i.wantState = 'MASTER';
      else if (t.text === 'BACKUP') {
        if (i.wantState === 'MASTER') c.warn(t, `${tag} state previously set as MASTER - ignoring BACKUP`);
        else i.wantState = 'BACKUP';
      } else { c.warn(t, `${tag} unknown state '${t.text}', defaulting to BACKUP`); i.wantState = 'BACKUP'; }
    } },
    interface: { run: (x) => {
      const t = c.arg(x, 0, 'an interface name');
      if (!t) return;
      if (t.text.length > IFNAME_MAX) { c.warn(t, `Interface name '${t.text}' too long - ignoring`); return; }
      const host = st.interfaces?.get(t.text);
      if (st.interfaces && !host) {
        c.err(t, `WARNING - interface ${t.text} for vrrp_instance ${i.name} doesn't exist`);
        return;
      }
      if (host?.loopback) { c.err(t, `${tag} cannot use a loopback interface (${t.text}) for vrrp - ignoring`); delete i.interface; return; }
      i.interface = t.text;
      i.interfaceTok = t;
    } },
    virtual_router_id: { run: (x) => {
      const t = c.arg(x, 0, 'a virtual router id');
      if (!t) return;
      const v = kaUnsigned(c, t, 1, 255);
      if (v === null) { c.warn(t, `${tag}: VRID '${t.text}' not valid - must be between 1 & 255`); return; }
      i.vrid = v;
    } },
    priority: { run: (x) => {
      const t = c.arg(x, 0, 'a priority');
      if (!t) return;
      const v = kaUnsigned(c, t, 1, 255);
      if (v === null) { c.warn(t, `${tag} Priority not valid! must be between 1 & 255. Using default 100`); i.basePriority = 100; }
      else i.basePriority = v;
    } },
    advert_int: { run: (x) => {
      const t = c.arg(x, 0, 'seconds');
      if (!t) return;
      const v = kaDecimal(c, t, 0.01, 255);
      if (v === null || v <= 0) c.warn(t, `${tag} Advert interval (${t.text}) not valid! Must be > 0 - ignoring`);
      else i.advertInt = v;
    } },
    version: { run: (x) => {
      const t = c.arg(x, 0, 'a VRRP version');
      if (!t) return;
      const v = kaInt(c, t, 2, 3);
      if (v === null) { c.warn(t, `${tag}: Version must be either 2 or 3`); return; }
      if ((i.version && i.version !== v) || (v === 2 && i.family === 6)) {
        c.warn(t, `${tag} vrrp_version ${v} conflicts with configured or deduced version ${i.version || 3}; ignoring.`);
        return;
      }
      i.version = v as 2 | 3;
    } },
    nopreempt: { run: () => { i.nopreempt = true; } },
    preempt: { run: () => { i.nopreempt = false; } },
    preempt_delay: { run: (x) => {
      const t = c.arg(x, 0, 'seconds');
      if (!t) return;
      const v = kaDecimal(c, t, 0, 1000);
      if (v === null) { c.warn(t, `${tag} Preempt_delay not valid! must be between 0-1000`); i.preemptDelay = 0; }
      else i.preemptDelay = v;
    } },
    authentication: { run: (x) => {
      c.dispatch(x.body, {
        auth_type: { run: (y) => {
          const t = c.arg(y, 0, 'PASS|AH');
          if (!t) return;
          if (t.text === 'AH' || t.text === 'PASS') i.authType = t.text;
          else c.warn(t, `${tag} unknown authentication type '${t.text}'`);
        } },
        auth_pass: { run: (y) => {
          const t = c.arg(y, 0, 'a password');
          if (!t) return;
          if (Buffer.byteLength(t.text) > 8) c.warn(t, 'Truncating auth_pass to 8 characters');
          i.authPass = Buffer.from(t.text).subarray(0, 8).toString();
        } },
      }, 'authentication');
    } },
    virtual_ipaddress: { run: (x) => {
      for (const a of addrBlock(c, st, x)) {
        const f = a.addr.includes(':') ? 6 : 4;
        if (!family(f)) { c.warn(a.at, `${tag}: address family must match VRRP instance [${a.text}] - ignoring`); continue; }
        i.vip.push(a.addr_);
      }
    } },
    virtual_ipaddress_excluded: { run: (x) => { for (const a of addrBlock(c, st, x)) i.evip.push(a.addr_); } },
    virtual_routes: { run: (x) => { const got = parseRoutes(c, st, x, 'route'); sayNotSet(c, got, 'virtual_routes'); i.vroutes.push(...got); } },
    virtual_rules: { run: (x) => { const got = parseRoutes(c, st, x, 'rule'); sayNotSet(c, got, 'virtual_rules'); i.vrules.push(...got); } },
    unicast_src_ip: { run: (x) => { i.unicastConfigured = true; srcip(x, 'unicast_src_ip'); } },
    mcast_src_ip: { run: (x) => srcip(x, 'mcast_src_ip') },
    unicast_peer: { run: (x) => {
      i.unicastConfigured = true;
      for (const l of x.block ?? []) {
        const ip = parseIp(l.name.text);
        if (!ip) { c.warn(l.name, `Configuration error: VRRP instance[${i.name}] malformed unicast peer address[${l.name.text}]. Skipping...`); continue; }
        if (!family(ip.af)) { c.warn(l.name, `Configuration error: VRRP instance[${i.name}] and unicast peer address[${l.name.text}] MUST be of the same family !!! Skipping...`); continue; }
        const ttl = { min: 0, max: 255 };
        for (let k = 0; k < l.args.length; k += 2) {
          const opt = l.args[k]!;
          const val = l.args[k + 1];
          if (!val) { c.warn(opt, `${tag} ${opt.text} is missing a value`); break; }
          const v = kaUnsigned(c, val, 0, 255);
          if (v === null) continue;
          if (opt.text !== 'min_ttl' && opt.text !== 'max_ttl') { c.warn(opt, `${tag} unknown unicast_peer option ${opt.text}`); break; }
          ttl[opt.text === 'min_ttl' ? 'min' : 'max'] = v;
        }
        if (ttl.min > ttl.max) c.warn(l.name, `${tag} min_ttl ${ttl.min} > max_ttl ${ttl.max} - all packets will be discarded`);
        const peer = canonicalIp(l.name.text)!;
        i.unicastPeer.push(peer);
        if (ttl.min !== 0 || ttl.max !== 255) (i.unicastPeerTtl ??= {})[peer] = ttl;
      }
    } },
    track_interface: { run: (x) => trackInterfaces(c, st, i.name, x, i.trackInterface) },
    track_script: { run: (x) => trackScripts(c, st, i.name, x, i.trackScript) },
    track_file: { run: (x) => {
      // vrrp_alloc_track_file: NAME [weight N [reverse|noreverse]], the file's own weight by default.
      for (const l of x.block ?? []) {
        const n = l.name.text;
        const tf = st.vrrp.trackFiles.find((f) => f.name === n);
        if (!tf) { c.warn(l.name, `${tag} track file ${n} not found, ignoring...`); continue; }
        if (i.trackFile.some((t) => t.name === n)) { c.warn(l.name, `${tag} duplicate track_file ${n} - ignoring`); continue; }
        let weight = tf.weight, reverse = tf.reverse;
        const [w, v, r] = l.args;
        if (w) {
          if (w.text !== 'weight') { c.warn(w, `${tag} unknown track file option ${w.text} - ignoring`); continue; }
          if (!v) { c.warn(w, `${tag} weight without value specified for track file ${n} - ignoring`); continue; }
          const k = kaInt(c, v, -254, 254);
          if (k === null) c.warn(v, `${tag} weight for track file ${n} must be in [-254..254] inclusive. Ignoring...`);
          else weight = k;
          if (r) {
            if (r.text === 'reverse') reverse = true;
            else if (r.text === 'noreverse') reverse = false;
            else { c.warn(r, `${tag} unknown track file ${n} weight option ${r.text} - ignoring`); continue; }
          }
        }
        i.trackFile.push({ name: n, weight, reverse, at: l.name });
      }
    } },
    ...notifyHandlers(c, i.notify, i.notifyUsers, tag),
    garp_master_delay: { run: (x) => {
      const t = c.arg(x, 0, 'seconds');
      if (!t) return;
      const v = kaUnsigned(c, t, 0, 86400);
      if (v === null) c.warn(t, `${tag} garp_master_delay '${t.text}' invalid - ignoring`);
      else i.garpMasterDelay = v;
    } },
    smtp_alert: { run: (x) => {
      const t = x.args[0];
      const v = t ? kaBool(t.text) : true;
      if (v === null) c.warn(t!, `${tag} invalid smtp_alert parameter ${t!.text}`);
      else i.smtpAlert = v;
    } },
    strict_mode: { run: (x) => {
      const t = x.args[0];
      const v = t ? kaBool(t.text) : true;
      if (v === null) c.warn(t!, `${tag} invalid strict_mode ${t!.text} specified`);
      else i.strictMode = v;
    } },
    use_vmac: { run: (x) => {
      i.useVmac = true;
      // Up to two words: an interface name and/or a MAC address (a name cannot hold ':').
      for (const t of x.args.slice(0, 2)) {
        if (t.text.includes(':')) {
          if (i.vmacMac) { c.warn(t, 'VMAC interface address already specified'); continue; }
          if (/[^0-9A-Fa-f:]/.test(t.text)) { c.warn(t, `VMAC invalid MAC address ${t.text}`); continue; }
          const parts = t.text.replace(/:$/, '').split(':');
          const bytes = parts.map((p) => (/^[0-9A-Fa-f]{1,2}$/.test(p) ? parseInt(p, 16) : NaN));
          if ((bytes.length !== 6 && bytes.length !== 5) || bytes.some(Number.isNaN)) c.warn(t, `VMAC invalid MAC address ${t.text} - ignored`);
          else if (bytes[0]! & 1) c.warn(t, `VMAC MAC address is multicast ${t.text} - ignoring`);
          else if (bytes[0] === 0 && bytes[1] === 0 && bytes[2] === 0x5e && bytes[3] === 0 && (bytes[4] === 1 || bytes[4] === 2)) c.warn(t, `VMAC MAC address not allowed to be RFC5798 address (${t.text}) - ignoring`);
          else i.vmacMac = bytes;
        } else {
          if (i.vmacName) { c.warn(t, 'VMAC interface name already specified'); continue; }
          if (t.text.length > IFNAME_MAX || /[/\s]/.test(t.text) || t.text === '.' || t.text === '..') { c.warn(t, `VMAC interface name '${t.text}' too long or invalid characters - ignoring`); continue; }
          const other = st.vrrpDrafts.find((o) => o !== i && o.vmacName === t.text);
          if (other) { c.warn(t, `${tag} VRRP instance ${other.name} is already using ${t.text} - ignoring name`); continue; }
          i.vmacName = t.text;
        }
      }
    } },
    // vrrp_parser.c vrrp_mcast_dstip_handler: the family is taken from the address even when it
    // then turns out not to be (link-local) multicast.
    mcast_dst_ip: { run: (x) => {
      const t = c.arg(x, 0, 'a multicast address');
      if (!t) return;
      const ip = parseIp(t.text);
      if (!ip) { c.warn(t, `${tag} malformed mcast dest address ${t.text}. Skipping...`); return; }
      if (!family(ip.af)) { c.warn(t, `${tag} mcast dest address ${t.text} MUST match VRRP instance family. Skipping...`); delete i.mcastDst; return; }
      if (ip.af === 4 ? !isMulticast(ip) : !isLinkLocalMulticast6(ip)) {
        c.warn(t, `${tag} mcast_dst_ip ${t.text} not${ip.af === 6 ? ' link-local' : ''} multicast. Skipping...`);
        delete i.mcastDst;
        return;
      }
      i.mcastDst = { addr: canonicalIp(t.text)!, at: t };
    } },
    vmac_xmit_base: { run: () => { i.vmacXmitBase = true; } },
    check_unicast_src: { run: () => { i.checkUnicastSrc = true; } },
    accept: { run: () => { i.accept = true; } },
    no_accept: { run: () => { i.accept = false; } },
    dont_track_primary: { run: () => { i.dontTrackPrimary = true; } },
    lvs_sync_daemon_interface: { run: (x) => {
      const t = c.arg(x, 0, 'an interface name');
      if (t) i.lvsSyncDaemonInterface = t.text;
      c.warn(x.name, `${tag} vrrp_instance lvs_sync_daemon_interface is deprecated - please use global lvs_sync_daemon`);
    } },
    ...ignoredVrrp(c, ['garp_master_refresh', 'garp_master_repeat', 'garp_master_refresh_repeat', 'garp_lower_prio_delay', 'garp_lower_prio_repeat',
      'native_ipv6', 'debug', 'skip_check_adv_addr', 'track_process',
      'track_bfd', 'unicast_ttl', 'old_unicast_checksum', 'kernel_rx_buf_size', 'notify_master_rx_lower_pri',
      'lower_prio_no_advert', 'higher_prio_send_advert', 'promote_secondaries', 'linkbeat_use_polling',
      'use_vmac_addr', 'use_ipvlan', 'unicast_fault_no_peer', 'vrf', 'track_src_ip', 'notify_deleted', 'notify_priority_changes',
      'down_timer_adverts', 'garp_extra_if', 'vmac_garp_intvl']),
  };
  c.dispatch(s.body, table, 'vrrp_instance');
}

export type { InstanceDraft };
