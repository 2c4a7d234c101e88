/**
 * What keepalived 2.2.7 checks once the whole file is read (vrrp.c vrrp_complete_init,
 * chk_min_cfg, vrrp_sync_set_group, vrrp_complete_instance, check_vrid_conflicts), in its order
 * and words, with the same outcome: the instances the HA layer runs are the ones keepalived
 * would run, configured as keepalived would configure them (e.g. a one-line authentication block
 * that never sets a password means no authentication, as for keepalived, so a tsvs director and a
 * keepalived director given the same file agree on a master). What tsvs's VRRP does not do is
 * said at its line.
 */
import type { VrrpInstanceConfig, VrrpTrack, VrrpTrackFile } from '../desired.ts';
import { IFNAME_MAX, type Ctx, type KaState } from './context.ts';
import type { InstanceDraft } from './vrrp-instance.ts';

const PRIO_OWNER = 255;
const PRIO_DFL = 100;
/** keepalived's DEFAULT_MTU, for the VIPs that fit in an advert when the interface is not known. */
const DEFAULT_MTU = 1500;

/** chk_min_cfg for every instance; false: keepalived's VRRP does not start (nothing else is checked). */
function minimalConfig(c: Ctx, drafts: readonly InstanceDraft[]): boolean {
  for (const d of drafts) {
    if (d.vrid === 0) { c.err(d.at, `(${d.name}) the virtual router id must be set`); return false; }
    if (!d.interface && d.unicastPeer.length === 0) { c.err(d.at, `(${d.name}) Unknown interface!`); return false; }
  }
  return true;
}

/** vrrp_sync_set_group: members that exist and are in no other group. */
function syncGroups(st: KaState): Map<string, { name: string; trackingWeight: boolean }> {
  const { c, vrrp, vrrpDrafts } = st;
  const memberOf = new Map<string, { name: string; trackingWeight: boolean }>();
  const kept: typeof vrrp.syncGroups = [];
  for (const g of vrrp.syncGroups) {
    if (g.group.length === 0) { c.warn(g.at, `Sync group ${g.name} has no virtual router(s). removing`); continue; }
    const members: string[] = [];
    for (const m of g.group) {
      if (!vrrpDrafts.some((d) => d.name === m)) { c.warn(g.at, `Virtual router ${m} specified in sync group ${g.name} doesn't exist - ignoring`); continue; }
      if (memberOf.has(m)) { c.warn(g.at, `Virtual router ${m} cannot exist in more than one sync group; ignoring ${g.name}`); continue; }
      memberOf.set(m, { name: g.name, trackingWeight: st.syncTrackingWeight.has(g.name) });
      members.push(m);
    }
    if (!members.length) { c.warn(g.at, `Sync group ${g.name}, no matching virtual router found in group declaration - removing`); continue; }
    if (members.length === 1) c.warn(g.at, `Sync group ${g.name} has only 1 virtual router(s) - this probably isn't what you want`);
    kept.push({ ...g, group: members });
  }
  vrrp.syncGroups.splice(0, vrrp.syncGroups.length, ...kept);
  return memberOf;
}

/** vrrp_complete_instance: null when keepalived gives up on the instance (and on VRRP). */
function completeInstance(st: KaState, d: InstanceDraft, sync: { name: string; trackingWeight: boolean } | undefined): VrrpInstanceConfig | null {
  const { c } = st;
  const tag = `(${d.name})`;
  const strict = d.strictMode ?? st.vrrpGlobal.strict;
  const family = d.family ?? 4;
  let version = d.version;
  if (family === 6) {
    if (version === 2 && strict) { c.warn(d.at, `${tag} cannot use IPv6 with VRRP version 2; setting version 3`); version = 3; }
    else if (!version) version = 3;
  }
  if (!version) version = st.vrrpGlobal.version;
  if (d.vip.length === 0) {
    if (version === 3 || strict) { c.err(d.at, `${tag} No VIP specified; at least one is required`); return null; }
    c.warn(d.at, `${tag} No VIP specified; at least one is sensible`);
  }

  let priority = d.basePriority || (d.wantState === 'MASTER' ? PRIO_OWNER : PRIO_DFL);
  let state: 'MASTER' | 'BACKUP' = d.wantState ?? (priority === PRIO_OWNER ? 'MASTER' : 'BACKUP');
  if (d.wantState && strict && (state === 'MASTER') !== (priority === PRIO_OWNER)) {
    c.warn(d.at, `${tag} State MASTER must match being address owner`);
    state = priority === PRIO_OWNER ? 'MASTER' : 'BACKUP';
  }

  let auth = d.authType;
  if (auth) {
    if (strict) { c.warn(d.at, `${tag} Strict mode does not support authentication. Ignoring.`); auth = null; }
    else if (version === 3) { c.warn(d.at, `${tag} VRRP version 3 does not support authentication. Ignoring.`); auth = null; }
    else if (!d.authPass) { c.warn(d.at, `${tag} Authentication specified but no password given. Ignoring`); auth = null; }
    else if (family === 6 && auth === 'AH') { c.warn(d.at, `${tag} Cannot use AH authentication with IPv6. ignoring`); auth = null; }
    else if (auth === 'AH' && state === 'MASTER' && priority !== PRIO_OWNER) {
      c.warn(d.at, `${tag} Initial state master is incompatible with AH authentication - clearing`);
      state = 'BACKUP';
    }
  }
  const unicast = d.unicastPeer.length > 0;
  const host = d.interface !== undefined ? st.interfaces?.get(d.interface) : undefined;
  // (keepalived 2.2.7 checks unicast peers against strict mode before it marks the instance
  // unicast, so that check never fires: not repeated here.)
  if (!d.interface && !d.saddrFromConfig) { c.err(d.at, `${tag}: Unicast instances must have unicast_src_ip or interface`); return null; }
  if (d.unicastConfigured && !unicast) c.warn(d.at, `${tag} A unicast keyword has been specified without any unicast peers. Defaulting to multicast. This usage is deprecated - please update your configuration.`);
  if (host && !host.multicast && !unicast) c.err(d.at, `${tag} interface ${d.interface} does not support multicast, specify unicast peers - disabling`);
  if (family === 6 && !unicast && d.vip.length && !/^fe[89ab]/i.test(d.vip[0]!.addr) && strict) c.warn(d.at, `${tag} the first IPv6 VIP address must be link local`);

  // The VIPs that fit in an advert; the rest are excluded VIPs (not advertised).
  const vip = [...d.vip];
  const evip = [...d.evip];
  const hdr = family === 4 ? 14 + 20 + 8 + (version === 2 ? 8 + (auth === 'AH' ? 24 : 0) : 0) : 14 + 40 + 8;
  const maxAddr = Math.min(255, Math.floor((DEFAULT_MTU - hdr) / (family === 4 ? 4 : 16)));
  if (vip.length > maxAddr) {
    c.warn(d.at, `${tag} Number of VIPs (${vip.length}) exceeds maximum/space available in packet (max ${maxAddr} addresses) - excess moved to eVIPs`);
    evip.push(...vip.splice(maxAddr));
  }

  let nopreempt = d.nopreempt;
  let preemptDelay = d.preemptDelay;
  if (priority === PRIO_OWNER && nopreempt) { c.warn(d.at, `${tag} nopreempt is incompatible with priority ${PRIO_OWNER}. resetting nopreempt`); nopreempt = false; }
  if (state === 'MASTER') {
    if (nopreempt) { c.warn(d.at, `${tag} Warning - nopreempt will not work with initial state MASTER - clearing`); nopreempt = false; }
    if (preemptDelay) { c.warn(d.at, `${tag} Warning - preempt delay will not work with initial state MASTER - clearing`); preemptDelay = 0; }
  }
  if (preemptDelay) {
    if (strict) { c.warn(d.at, `${tag} preempt_delay is incompatible with strict mode - resetting`); preemptDelay = 0; }
    if (nopreempt) { c.warn(d.at, `${tag} preempt_delay is incompatible with nopreempt mode - resetting`); preemptDelay = 0; }
  }
  let accept = d.accept ?? (priority === PRIO_OWNER ? true : !strict);
  if (accept && priority !== PRIO_OWNER && strict && version === 2) {
    c.warn(d.at, `${tag} warning - accept mode for VRRP version 2 does not comply with RFC3768 - resetting`);
    accept = false;
  }

  // The advert interval: whole seconds for VRRPv2, centiseconds for v3.
  let advert = d.advertInt ?? 1;
  if (version === 2) {
    if (advert >= 256) { c.warn(d.at, `${tag} VRRPv2 advertisement interval ${advert.toFixed(2)}s is out of range. Must be less than 256s. Setting to 255s`); advert = 255; }
    else if (!Number.isInteger(advert)) { c.warn(d.at, `${tag} VRRPv2 advertisement interval ${advert.toFixed(6)}s must be an integer. rounding`); advert = Math.max(1, Math.round(advert)); }
  } else if (advert >= 40.96) { c.warn(d.at, `${tag} VRRPv3 advertisement interval ${advert.toFixed(2)}s is out of range. Must be less than 40.96s. Setting to 40.95s`); advert = 40.95; }
  else if (Math.round(advert * 1e6) % 10_000) { c.warn(d.at, `${tag} VRRPv3 advertisement interval ${advert.toFixed(6)}s must be in units of 10ms - rounding`); advert = Math.max(0.01, Math.round(advert * 100) / 100); }

  // Tracking own interface; weights in a sync group or as address owner.
  let trackIf: VrrpTrack[] = [];
  for (const t of d.trackInterface) {
    if (t.name === d.interface) { c.warn(t.at, `${tag} Ignoring track_interface ${t.name} since own interface`); continue; }
    trackIf.push({ name: t.name, ...(t.weight !== undefined ? { weight: t.weight } : {}), ...(t.reverse ? { reverse: true } : {}) });
  }
  let trackFile: VrrpTrackFile[] = d.trackFile.map((t) => ({ name: t.name, weight: t.weight, reverse: t.reverse }));
  let trackScript: VrrpTrack[] = d.trackScript.map((t) => ({ name: t.name, ...(t.weight !== undefined ? { weight: t.weight } : {}), ...(t.reverse ? { reverse: true } : {}) }));
  const syncNoWeight = sync !== undefined && !sync.trackingWeight;
  if (syncNoWeight || priority === PRIO_OWNER) {
    trackIf = trackIf.flatMap((t) => {
      if (!t.weight) return [t];
      c.warn(d.at, `${tag} ignoring ${t.name} tracked interface ${syncNoWeight ? 'weight ' : ''}due to ${syncNoWeight ? 'SYNC group' : 'address owner'}`);
      return syncNoWeight ? [{ name: t.name, ...(t.reverse ? { reverse: true } : {}) }] : [];
    });
    trackScript = trackScript.filter((t) => {
      if (!t.weight) return true;
      c.warn(d.at, `${tag} ignoring tracked script ${t.name} with weights due to ${syncNoWeight ? 'SYNC group' : 'address_owner'}`);
      return false;
    });
    // Files: the default weight (1) becomes unweighted, an explicit weight drops the file.
    trackFile = trackFile.flatMap((t) => {
      if (t.weight === 1) {
        c.warn(d.at, `${tag} ignoring weight from tracked file ${t.name} due to ${syncNoWeight ? 'SYNC group' : 'address_owner'}. specify weight 0`);
        return [{ ...t, weight: 0 }];
      }
      if (t.weight) {
        c.warn(d.at, `${tag} ignoring tracked file ${t.name} with weight ${t.weight} due to ${syncNoWeight ? 'SYNC group' : 'address_owner'}`);
        return [];
      }
      return [t];
    });
  }

  // use_vmac: the macvlan's name (keepalived's create_vmac_name: vrrp.VRID, then vrrp1.VRID, ...) and MAC.
  let vmac: VrrpInstanceConfig['vmac'];
  if (d.useVmac && d.interface) {
    if (!d.vmacName) {
      const taken = new Set(st.vrrpDrafts.flatMap((o) => (o.vmacName ? [o.vmacName] : [])));
      for (let n = 0; ; n++) {
        const name = `vrrp${n === 0 ? '' : n}.${d.vrid}`.slice(0, IFNAME_MAX);
        if (!taken.has(name)) { d.vmacName = name; break; }
      }
    }
    let xmitBase = d.vmacXmitBase ?? false;
    if (strict && xmitBase) { c.warn(d.at, `${tag} xmit_base is incompatible with strict mode - resetting`); xmitBase = false; }
    // RFC 5798 §7.3: 00-00-5E-00-01-{VRID} for IPv4, 00-00-5E-00-02-{VRID} for IPv6.
    const mac = d.vmacMac ? (d.vmacMac.length === 5 ? [...d.vmacMac, d.vrid] : d.vmacMac) : [0, 0, 0x5e, 0, family === 6 ? 2 : 1, d.vrid];
    vmac = { name: d.vmacName!, mac: mac.map((b) => b.toString(16).padStart(2, '0')).join(':'), xmit_base: xmitBase };
  }

  // vrrp.c vrrp_complete_instance: unicast peers win over a multicast destination; otherwise the
  // instance's mcast_dst_ip, else the global default of its family (vrrp_mcast_group4/6).
  let mcastDst: string | undefined;
  if (unicast) {
    if (d.mcastDst) c.warn(d.mcastDst.at, `${tag} multicast destination specified with unicast - ignoring`);
  } else mcastDst = d.mcastDst?.addr ?? (family === 6 ? st.vrrpGlobal.mcastGroup6 : st.vrrpGlobal.mcastGroup4);

  // What tsvs's VRRP does not do, said where it is written.

  return {
    name: d.name, state, ...(d.interface !== undefined ? { interface: d.interface } : {}),
    virtual_router_id: d.vrid, priority, advert_int: advert, version, nopreempt, preempt_delay: preemptDelay,
    ...(auth ? { authentication: { auth_type: auth, auth_pass: d.authPass } } : {}),
    virtual_ipaddress: vip, virtual_ipaddress_excluded: evip, virtual_routes: d.vroutes.flatMap((r) => (r.route ? [r.route] : [])), virtual_rules: d.vrules.flatMap((r) => (r.rule ? [r.rule] : [])),
    track_file: trackFile,
    ...(d.unicastSrc !== undefined ? { unicast_src_ip: d.unicastSrc } : {}),
    unicast_peer: d.unicastPeer,
    ...(unicast && (d.checkUnicastSrc || st.vrrpGlobal.checkUnicastSrc) ? { check_unicast_src: true } : {}),
    ...(unicast && d.unicastPeerTtl ? { unicast_peer_ttl: d.unicastPeerTtl } : {}),
    ...(d.mcastSrc !== undefined ? { mcast_src_ip: d.mcastSrc } : {}),
    ...(mcastDst !== undefined ? { mcast_dst_ip: mcastDst } : {}),
    track_interface: trackIf, track_script: trackScript,
    notify: d.notify,
    ...(Object.keys(d.notifyUsers).length ? { notify_users: d.notifyUsers } : {}),
    ...(d.garpMasterDelay !== undefined ? { garp_master_delay: d.garpMasterDelay } : {}),
    smtp_alert: d.smtpAlert ?? st.global.smtp_alert_vrrp ?? st.global.smtp_alert ?? false, use_vmac: d.useVmac, ...(vmac ? { vmac } : {}), accept,
    ...(d.lvsSyncDaemonInterface !== undefined ? { lvs_sync_daemon_interface: d.lvsSyncDaemonInterface } : {}),
    ...(d.dontTrackPrimary ? { dont_track_primary: true } : {}),
    ...(st.vrrpGlobal.nftIfindex ? { nftables_ifindex: true } : {}),
    at: d.at,
  };
}

/** Two instances on one interface and family with one VRID (check_vrid_conflicts, multicast). */
function vridConflicts(c: Ctx, list: readonly VrrpInstanceConfig[]): boolean {
  let bad = false;
  for (let a = 0; a < list.length; a++) {
    for (let b = a + 1; b < list.length; b++) {
      const x = list[a]!, y = list[b]!;
      const fam = (i: VrrpInstanceConfig) => (i.virtual_ipaddress[0]?.addr.includes(':') ? 6 : 4);
      if (x.virtual_router_id !== y.virtual_router_id || fam(x) !== fam(y)) continue;
      if (x.unicast_peer.length || y.unicast_peer.length) {
        if (x.unicast_peer.some((p) => y.unicast_peer.includes(p)) && x.interface === y.interface) {
          c.err(y.at, `(${y.name}) duplicate VRID conflict with ${x.name} VRID ${y.virtual_router_id}`);
          bad = true;
        }
        continue;
      }
      if (x.interface !== y.interface) continue;
      c.err(y.at, `${y.name} and ${x.name} both use VRID ${y.virtual_router_id} with IPv${fam(y)} on interface ${y.interface}`);
      bad = true;
    }
  }
  return bad;
}

/** vrrp_complete_init: the instances keepalived would run, into st.vrrp.instances. */
export function completeVrrp(st: KaState): void {
  const { c, vrrpDrafts, vrrp } = st;
  // A sync group's smtp_alert not written takes global_defs' (keepalived's vrrp.c, after reading).
  for (const g of vrrp.syncGroups as { smtp_alert?: boolean }[]) g.smtp_alert ??= st.global.smtp_alert_vrrp ?? st.global.smtp_alert ?? false;
  if (!vrrpDrafts.length) return;
  if (!minimalConfig(c, vrrpDrafts)) return;
  const memberOf = syncGroups(st);
  const done: VrrpInstanceConfig[] = [];
  for (const d of vrrpDrafts) {
    const i = completeInstance(st, d, memberOf.get(d.name));
    if (!i) return;
    done.push(i);
  }
  if (vridConflicts(c, done)) return;
  vrrp.instances.push(...done);
}
