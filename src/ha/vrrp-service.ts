/**
 * Runs every vrrp_instance of a keepalived configuration with the real transport and side
 * effects; used by `tsvs vrrp` and by the daemon when it is given a keepalived.conf.
 * vrrp_sync_group: when one member leaves MASTER for BACKUP/FAULT, the others follow (keepalived).
 */
import { interfaceAddrs } from '../os/ifaddr.ts';
import type { VrrpConfig, VrrpInstanceConfig } from '../config/desired.ts';
import { VrrpInstance, vrrpFamily, type VrrpLog, type VrrpErrorCounters } from './vrrp-instance.ts';
import { openRawVrrpTransport } from './vrrp-transport.ts';
import { linkLocalIpv6, openRawVrrpTransport6 } from './vrrp-transport6.ts';
import { netlinkAddresses, addrSpec, packetGarp, runnerNotify } from './vrrp-net.ts';
import { netlinkRoutes, watchDeletions, type DeletionWatch, type Deleted, type RouteTable } from '../os/rtnetlink.ts';
import { isAddress, isRoute, isRule } from '../os/rtnl-codec.ts';
import { ifIndex } from '../os/libc.ts';
import type { VrrpState } from './vrrp-machine.ts';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { ScriptState, implicitInterfaces, parseTrackFileValue, trackFileStatus, trackOutcome } from './vrrp-track.ts';
import { realScriptRunner, splitCommand, type ScriptRunner } from '../health/io.ts';
import { alertText, canAlert, localName, sendSmtpAlert, type SmtpAlertSettings, type SmtpMessage, type SmtpOutcome } from '../health/smtp-alert.ts';
import type { GlobalConfig } from '../config/desired.ts';
import { createVmac, removeVmac, type VmacLinks } from './vrrp-vmac.ts';
import { VmacFirewall } from './vrrp-firewall.ts';
import { isLinkLocal6, nftAcceptFirewall } from './accept-firewall.ts';

/** E-mail alerts of VRRP transitions (keepalived's smtp_alert): where to, and whether FAULT is said. */
export interface VrrpMail {
  readonly settings: SmtpAlertSettings;
  readonly noEmailFaults: boolean;
  /** Sends one message (default: sendSmtpAlert). */
  readonly send?: (s: SmtpAlertSettings, m: SmtpMessage) => Promise<SmtpOutcome>;
}

/** global_defs' e-mail settings as keepalived uses them (router_id defaults to the host name). */
export function mailSettings(g: GlobalConfig): VrrpMail {
  return {
    settings: {
      to: g.notification_email, ...(g.notification_email_from ? { from: g.notification_email_from } : {}),
      ...(g.smtp_server ? { server: g.smtp_server } : {}), ...(g.smtp_port ? { port: g.smtp_port } : {}),
      ...(g.smtp_helo_name ? { helo: g.smtp_helo_name } : {}), routerId: g.router_id ?? localName(),
      ...(g.smtp_connect_timeout !== undefined ? { timeout: g.smtp_connect_timeout } : {}),
    },
    noEmailFaults: g.no_email_faults ?? false,
  };
}

/**
 * keepalived's vrrp_smtp_notifier and vrrp_sync_smtp_notifier: one message per new state of an
 * instance (or of a sync group, once all its members are in it) that has smtp_alert, none for the
 * state last mailed, none for FAULT with no_email_faults.
 */
function vrrpMailer(cfg: VrrpConfig, mail: VrrpMail | null, log: VrrpLog): (name: string, to: VrrpState, stateOf: (n: string) => VrrpState | undefined) => void {
  if (!mail || !canAlert(mail.settings)) return () => {};
  const send = mail.send ?? sendSmtpAlert;
  const routerId = mail.settings.routerId ?? localName();
  const last = new Map<string, VrrpState>();
  const post = (key: string, to: VrrpState, m: SmtpMessage | null) => {
    // STOP: keepalived 2.2.7 queues its "Stopping" alert as the VRRP process shuts down and exits
    // before the SMTP dialogue (the server sees a connection and no HELO): no mail is delivered.
    if (to === 'STOP') return;
    if (!m || last.get(key) === to || (mail.noEmailFaults && to === 'FAULT')) return;
    last.set(key, to);
    void send(mail.settings, m).then((o) => {
      if (o.ok) log.info({ subject: m.subject }, 'SMTP alert successfully sent.');
      else log.warn({ subject: m.subject, err: o.error }, 'SMTP alert not sent');
    });
  };
  const alerting = new Set(cfg.instances.filter((i) => i.smtp_alert).map((i) => i.name));
  const groups = cfg.syncGroups.filter((g) => g.smtp_alert);
  return (name, to, stateOf) => {
    if (alerting.has(name)) post(`i:${name}`, to, alertText.vrrp(routerId, name, to));
    for (const g of groups) {
      if (!g.group.includes(name)) continue;
      if (g.group.every((m) => stateOf(m) === undefined || stateOf(m) === to)) post(`g:${g.name}`, to, alertText.group(routerId, g.name, to));
    }
  };
}

/** The first IPv4 address of an interface that is not one of the instance's virtual addresses. */
export function primaryIpv4(dev: string, exclude: readonly string[]): string | null {
  return interfaceAddrs(dev, 4).find((a) => !exclude.includes(a.local))?.local ?? null;
}

export interface VrrpStatus {
  readonly name: string;
  readonly state: VrrpState;
  readonly priority: number;
  readonly vrid: number;
  readonly interface: string;
  readonly rx: number;
  readonly tx: number;
  readonly dropped: number;
  /** Virtual addresses (for keepalived_vrrp_state's ip_address label). */
  readonly vips: readonly string[];
  /** Transitions into / out of MASTER (keepalived's become_master / release_master). */
  readonly becameMaster: number;
  readonly releasedMaster: number;
  /** Per-cause counts (keepalived.stats); optional so older snapshots/fixtures still fit. */
  readonly errors?: Readonly<VrrpErrorCounters>;
  /** Configured priority (`priority` above is the effective one, after tracking) and VRRP version. */
  readonly basePriority?: number;
  readonly version?: 2 | 3;
  /** The virtual addresses as configured (prefix, device, scope, label: keepalived.data's lines). */
  readonly addresses?: readonly { readonly addr: string; readonly prefix: number; readonly dev?: string; readonly scope?: string; readonly label?: string }[];
}

export interface VrrpService {
  status(): VrrpStatus[];
  /** A reload: static entries no longer configured are removed, new ones set (keepalived's clear_diff_static_*). */
  reloadStatic(next: StaticEntries): void;
  /**
   * A reload's vrrp_instances: an instance kept by name takes the new file's virtual addresses,
   * routes and rules (as MASTER: what left is removed, what came is set, what stayed untouched).
   * Any other change (an instance added or removed, its router id, priority, interface...) is
   * logged as applying only when the daemon restarts; the list of those is returned.
   */
  reloadInstances(next: readonly VrrpInstanceConfig[]): string[];
  stop(): Promise<void>;
}

export type StaticEntries = Pick<VrrpConfig, 'static_ipaddress' | 'static_routes' | 'static_rules'>;

/**
 * `runner` runs vrrp_script checks and notify scripts (as keepalived: as their user, refused when
 * unsafe; see health/script-security.ts); default: as the daemon's user with no policy.
 */
export function startVrrp(cfg: VrrpConfig, log: VrrpLog, onState?: (name: string, from: VrrpState, to: VrrpState) => void, runner: ScriptRunner = realScriptRunner, routes: RouteTable = netlinkRoutes(), mail: VrrpMail | null = null): VrrpService {
  const addresses = netlinkAddresses(routes);
  const mailer = vrrpMailer(cfg, mail, log);
  // keepalived's static entries: set before any instance runs, removed when the VRRP side stops.
  setStatic(cfg, routes, 'add', log);
  initTrackFiles(cfg, log);
  const instances: VrrpInstance[] = [];
  const byName = new Map<string, VrrpInstance>();
  const groupOf = new Map<string, string[]>();
  for (const g of cfg.syncGroups) for (const m of g.group) groupOf.set(m, g.group.filter((x) => x !== m));
  const now = () => performance.now() / 1000;
  const masterCounts = new Map<string, { became: number; released: number }>();
  const links: VmacLinks = 'addMacvlan' in routes ? (routes as unknown as VmacLinks) : netlinkRoutes();
  const vmacs: string[] = [];
  const firewall = new VmacFirewall((msg) => log.warn({}, msg));
  const configured = new Map(cfg.instances.map((i) => [i.name, i] as const));
  // no_accept (or vrrp_strict's default): keepalived's nftables drop rules while MASTER.
  const acceptFirewall = cfg.instances.some((i) => i.accept === false && i.priority !== 255) ? nftAcceptFirewall() : undefined;
  const sources: SourceWatch[] = [];
  for (const ic0 of cfg.instances) {
    const dev = ic0.interface ?? 'eth0';
    // use_vmac: the instance's addresses and gratuitous ARPs go on its macvlan, and its adverts
    // too unless vmac_xmit_base; they still carry the base interface's address.
    let ic = ic0;
    let txDev = dev;
    // IPv6 virtual addresses: VRRPv3 over IPv6, sourced from the link-local address (RFC 5798 §5.1.1.1).
    const af = vrrpFamily(ic0);
    const src = ic0.unicast_src_ip ?? ic0.mcast_src_ip ?? (af === 6 ? linkLocalIpv6(dev) : primaryIpv4(dev, ic0.virtual_ipaddress.map((v) => v.addr)));
    if (!src) throw new Error(`vrrp_instance ${ic0.name}: interface ${dev} has no ${af === 6 ? 'usable IPv6 link-local' : 'IPv4'} address`);
    const vm = ic0.vmac;
    if (vm && createVmac({ name: vm.name, base: dev, mac: vm.mac, instance: ic0.name, family: af, ...(vm.xmit_base ? {} : { source: src }) }, links, log)) {
      vmacs.push(vm.name);
      firewall.add({ family: af, vmac: vm.name, base: dev });
      ic = { ...ic0, interface: vm.name };
      if (!vm.xmit_base) txDev = vm.name;
    }
    const open = af === 6 ? openRawVrrpTransport6 : openRawVrrpTransport;
    const inst: VrrpInstance = new VrrpInstance(ic as VrrpInstanceConfig, {
      openTransport: (onPacket) => open({ ifname: txDev, srcIp: src, unicastPeers: ic.unicast_peer, ...(ic.mcast_dst_ip !== undefined ? { group: ic.mcast_dst_ip } : {}), onPacket, ...(ic.authentication?.auth_type === 'AH' && af === 4 && ic.version === 2 ? { ah: true } : {}) }),
      addresses,
      routes,
      ...(acceptFirewall ? { firewall: acceptFirewall } : {}),
      garp: packetGarp,
      notify: runnerNotify(runner),
      log,
      now,
      onState: (name, from, to) => {
        const mc = masterCounts.get(name) ?? { became: 0, released: 0 };
        if (to === 'MASTER' && from !== 'MASTER') mc.became++;
        if (from === 'MASTER' && to !== 'MASTER') mc.released++;
        masterCounts.set(name, mc);
        onState?.(name, from, to);
        mailer(name, to, (n) => byName.get(n)?.state);
        // Sync group: a member that falls out of MASTER pulls the others with it.
        if (from === 'MASTER' && (to === 'BACKUP' || to === 'FAULT')) {
          for (const other of groupOf.get(name) ?? []) {
            const o = byName.get(other);
            if (o && o.state === 'MASTER') o.forceBackup(`sync group member ${name} left MASTER`);
          }
        }
      },
    }, src);
    instances.push(inst);
    byName.set(ic.name, inst);
    if (ic0.unicast_src_ip === undefined && ic0.mcast_src_ip === undefined) sources.push({ inst, dev, af, vips: ic0.virtual_ipaddress.map((v) => v.addr) });
  }
  // Tracking first: an instance with a fault at start (its interface down, a script init_fail)
  // enters FAULT from INIT, never BACKUP first (keepalived's initialise_tracking_priorities
  // runs before vrrp_init_state).
  const timers = startTracking(cfg, byName, log, runner);
  for (const i of instances) i.start();
  let current: StaticEntries = cfg;
  const sourceWatch = watchSources(sources);
  const watch = watchEntries(() => current, instances, routes, log, watchDeletions, sourceWatch.deleted);
  timers.push(reinstateOnLinkUp(() => current, routes, log));
  return {
    status: () =>
      instances.map((i) => ({
        name: i.cfg.name, state: i.state, priority: i.machine.priority, vrid: i.cfg.virtual_router_id,
        interface: i.cfg.interface ?? 'eth0', rx: i.counters.rx, tx: i.counters.tx, dropped: i.counters.dropped,
        vips: i.cfg.virtual_ipaddress.map((v) => v.addr),
        becameMaster: masterCounts.get(i.cfg.name)?.became ?? 0, releasedMaster: masterCounts.get(i.cfg.name)?.released ?? 0,
        errors: { ...i.errors }, basePriority: i.cfg.priority, version: i.cfg.version,
        addresses: i.cfg.virtual_ipaddress.map((v) => ({ addr: v.addr, prefix: v.prefix, ...(v.dev ? { dev: v.dev } : {}), ...(v.scope ? { scope: v.scope } : {}), ...(v.label ? { label: v.label } : {}) })),
      })),
    reloadStatic: (next) => {
      // Kept: in both files (compared as set); gone: only in the old one; added: only in the new one.
      const diff = <T>(a: readonly T[], b: readonly T[], key: (x: T) => string): T[] => {
        const keep = new Set(b.map(key));
        return a.filter((x) => !keep.has(key(x)));
      };
      const addrKey = (a: VrrpConfig['static_ipaddress'][number]) => JSON.stringify(addrSpec(a, STATIC_DEFAULT_IF));
      const gone: StaticEntries = {
        static_ipaddress: diff(current.static_ipaddress, next.static_ipaddress, addrKey),
        static_routes: diff(current.static_routes, next.static_routes, (r) => JSON.stringify(r)),
        static_rules: diff(current.static_rules, next.static_rules, (r) => JSON.stringify(r)),
      };
      const added: StaticEntries = {
        static_ipaddress: diff(next.static_ipaddress, current.static_ipaddress, addrKey),
        static_routes: diff(next.static_routes, current.static_routes, (r) => JSON.stringify(r)),
        static_rules: diff(next.static_rules, current.static_rules, (r) => JSON.stringify(r)),
      };
      current = next;
      setStatic(gone, routes, 'del', log);
      setStatic(added, routes, 'add', log);
    },
    reloadInstances: (next) => {
      const later: string[] = [];
      const nextByName = new Map(next.map((i) => [i.name, i] as const));
      const entries = ['virtual_ipaddress', 'virtual_ipaddress_excluded', 'virtual_routes', 'virtual_rules', 'at'] as const;
      const rest = (c: VrrpInstanceConfig) => JSON.stringify({ ...c, ...Object.fromEntries(entries.map((k) => [k, null])) });
      for (const i of instances) {
        const n = nextByName.get(i.cfg.name);
        if (!n) { later.push(`vrrp_instance ${i.cfg.name} removed`); continue; }
        // As the file wrote it (use_vmac runs it on the macvlan), with the entries in force.
        const was = configured.get(n.name)!;
        if (rest(n) !== rest(was)) later.push(`vrrp_instance ${n.name} changed (other than its virtual addresses, routes and rules)`);
        configured.set(n.name, { ...was, ...Object.fromEntries(entries.map((k) => [k, n[k]])) });
        const changes = i.updateEntries(n);
        if (changes.length > 0) log.info({ instance: n.name, state: i.state, changes }, 'reload: virtual addresses, routes and rules updated');
      }
      for (const n of next) if (!byName.has(n.name)) later.push(`vrrp_instance ${n.name} added`);
      for (const w of later) log.warn({ change: w }, 'reload: this VRRP change applies when the daemon restarts');
      return later;
    },
    stop: async () => {
      for (const t of timers) clearInterval(t);
      sourceWatch.close();
      // Not watching any more before our own removals (they would be restored).
      watch?.close();
      await Promise.all(instances.map((i) => i.stop()));
      for (const v of vmacs) {
        firewall.remove(v);
        removeVmac(v, links, log);
      }
      acceptFirewall?.close();
      setStatic(current, routes, 'del', log);
    },
  };
}

/** keepalived's default interface (DFLT_INT), for a static address written without `dev`. */
const STATIC_DEFAULT_IF = 'eth0';

/** static_ipaddress, static_routes, static_rules: added in that order, removed in the reverse (vrrp_daemon.c). */
function setStatic(cfg: StaticEntries, rt: RouteTable, op: 'add' | 'del', log: VrrpLog): void {
  const steps: [string, () => void][] = [
    ...cfg.static_ipaddress.map((a): [string, () => void] => [`address ${a.addr}/${a.prefix}`, () => rt.address(op, addrSpec(a, STATIC_DEFAULT_IF))]),
    ...cfg.static_routes.map((r): [string, () => void] => [`route ${r.dst ?? 'default'}`, () => rt.route(op, r)]),
    ...cfg.static_rules.map((r): [string, () => void] => [`rule ${r.priority}`, () => rt.rule(op, r)]),
  ];
  if (op === 'del') steps.reverse();
  for (const [what, f] of steps) {
    try { f(); } catch (e) { log.warn({ err: (e as Error).message }, `static ${what}: cannot ${op === 'add' ? 'set' : 'remove'} it`); }
  }
}

/** An instance whose source address is taken from its interface (keepalived: saddr not from config). */
interface SourceWatch {
  readonly inst: VrrpInstance;
  readonly dev: string;
  readonly af: 4 | 6;
  /** Its virtual addresses (not a source: primaryIpv4 passes them over). */
  readonly vips: readonly string[];
}

/** Can the instance still send from `dev`: an IPv4 address not a VIP, or a usable link-local IPv6 one? */
const hasSource = (s: SourceWatch): boolean => (s.af === 6 ? linkLocalIpv6(s.dev) !== null : primaryIpv4(s.dev, s.vips) !== null);

/** How often an instance that lost its interface's address looks for one again. */
const SOURCE_POLL_MS = 1000;

/**
 * Instances losing and regaining their interface's address (VrrpInstance.setSourcePresent): told
 * by the kernel's address deletions on that interface (`deleted`, fed by watchEntries); while one
 * has none, the interface is read once a second until an address is back.
 */
function watchSources(list: readonly SourceWatch[]): { deleted: (d: Deleted) => void; close: () => void } {
  const lost = new Set<SourceWatch>();
  let poll: NodeJS.Timeout | null = null;
  const check = () => {
    for (const s of lost) if (hasSource(s)) { lost.delete(s); s.inst.setSourcePresent(true, s.dev); }
    if (lost.size === 0 && poll) { clearInterval(poll); poll = null; }
  };
  return {
    deleted: (d) => {
      if (d.kind !== 'address') return;
      const af = d.addr.includes(':') ? 6 : 4;
      for (const s of list) {
        if (lost.has(s) || s.af !== af || (af === 6 && !isLinkLocal6(d.addr)) || ifIndex(s.dev) !== d.ifindex || hasSource(s)) continue;
        lost.add(s);
        s.inst.setSourcePresent(false, s.dev);
      }
      if (lost.size > 0 && !poll) poll = setInterval(check, SOURCE_POLL_MS);
    },
    close: () => { if (poll) clearInterval(poll); poll = null; lost.clear(); },
  };
}

/**
 * keepalived's netlink reflector: a deleted static address, route or rule that is tracked is set
 * again ("Restoring deleted static ..."); a MASTER's deleted virtual one sends it back to BACKUP.
 * null when the kernel cannot be watched (said).
 */
function watchEntries(statics: () => StaticEntries, instances: readonly VrrpInstance[], rt: RouteTable, log: VrrpLog, watch: (f: (d: Deleted) => void) => DeletionWatch, also: (d: Deleted) => void = () => {}): DeletionWatch | null {
  const tracked = () => {
    const cfg = statics();
    return {
      addrs: cfg.static_ipaddress.filter((a) => !a.extra.includes('no_track')).map((a) => addrSpec(a, STATIC_DEFAULT_IF)),
      routes: cfg.static_routes.filter((r) => !r.noTrack),
      rules: cfg.static_rules.filter((r) => !r.noTrack),
    };
  };
  const restore = (what: string, f: () => void) => {
    log.info({}, `Restoring deleted static ${what}`);
    try { f(); } catch (e) { log.warn({ err: (e as Error).message }, `static ${what}: cannot restore it`); }
  };
  try {
    return watch((d) => {
      for (const i of instances) i.entryDeleted(d, ifIndex);
      also(d);
      const t = tracked();
      const a = t.addrs.find((x) => isAddress(d, x, ifIndex));
      if (a) restore(`address ${a.addr}`, () => rt.address('add', a));
      const r = t.routes.find((x) => isRoute(d, x));
      if (r) restore(`route ${r.dst ?? 'default'}`, () => rt.route('add', r));
      const u = t.rules.find((x) => isRule(d, x));
      if (u) restore(`rule ${u.priority}`, () => rt.rule('add', u));
    });
  } catch (e) {
    log.warn({ err: (e as Error).message }, 'cannot watch the kernel for deleted addresses, routes and rules: they are not tracked');
    return null;
  }
}

/**
 * keepalived's interface_up (vrrp_if.c static_track_group_reinstate_config): when an interface
 * comes back up, the static addresses and routes on it that are tracked are set again (the
 * kernel took the routes away with the link; a restore tried while it was down failed).
 */
function reinstateOnLinkUp(statics: () => StaticEntries, rt: RouteTable, log: VrrpLog): NodeJS.Timeout {
  const state = new Map<string, boolean>();
  return setInterval(() => {
    const cfg = statics();
    const addrs = cfg.static_ipaddress.filter((a) => !a.extra.includes('no_track')).map((a) => addrSpec(a, STATIC_DEFAULT_IF));
    const routes = cfg.static_routes.filter((r) => !r.noTrack && r.dev);
    const devs = new Set([...addrs.map((a) => a.dev), ...routes.map((r) => r.dev!)]);
    for (const dev of devs) {
      const up = interfaceUp(dev), was = state.get(dev);
      state.set(dev, up);
      if (!up || was !== false) continue;
      const quiet = (what: string, f: () => void) => {
        try { f(); log.info({ dev }, `Restoring deleted static ${what}`); } catch (e) {
          if (!/exist/i.test((e as Error).message)) log.warn({ err: (e as Error).message, dev }, `static ${what}: cannot restore it`);
        }
      };
      for (const a of addrs) if (a.dev === dev) quiet(`address ${a.addr}`, () => rt.address('add', a));
      for (const r of routes) if (r.dev === dev) quiet(`route ${r.dst ?? 'default'}`, () => rt.route('add', r));
    }
  }, LINK_POLL_MS);
}

/** How often link states are read for static entries (keepalived is told by netlink). */
const LINK_POLL_MS = 500;

/** track_file init_file: the value written when the file is absent, or always with `overwrite` (a regular file only). */
function initTrackFiles(cfg: VrrpConfig, log: VrrpLog): void {
  for (const f of cfg.trackFiles) {
    if (!f.init) continue;
    if (existsSync(f.file)) {
      if (!f.init.overwrite) continue;
      if (!statSync(f.file).isFile()) { log.warn({ file: f.file }, `Cannot initialise track file ${f.name} - it is not a regular file`); continue; }
    }
    try { writeFileSync(f.file, `${f.init.value}\n`); } catch { log.warn({ file: f.file }, `Unable to initialise track file ${f.name}`); }
  }
}

/** A track file's value now (keepalived re-reads it when it changes); null: unreadable number, keep the last. */
function readTrackFile(path: string): number | null {
  let text: string | null = null;
  try { text = readFileSync(path, 'utf8'); } catch { /* missing: 0 */ }
  return parseTrackFileValue(text);
}

/** How often track files are read (keepalived is told by inotify; a read is cheap). */
const TRACK_FILE_POLL_MS = 250;

/** Link state as keepalived's track_interface sees it ('unknown' counts as up, e.g. lo). */
function interfaceUp(name: string): boolean {
  try {
    const st = readFileSync(`/sys/class/net/${name}/operstate`, 'utf8').trim();
    return st === 'up' || st === 'unknown';
  } catch {
    return false;
  }
}

/**
 * Runs every vrrp_script an instance tracks (each on its own interval, rise/fall applied) and
 * polls tracked interfaces once a second; feeds the combined outcome to the instance.
 */
function startTracking(cfg: VrrpConfig, byName: Map<string, VrrpInstance>, log: VrrpLog, runner: ScriptRunner): NodeJS.Timeout[] {
  const timers: NodeJS.Timeout[] = [];
  const scripts = new Map(cfg.scripts.map((s) => [s.name, s] as const));
  const fileByName = new Map(cfg.trackFiles.map((f) => [f.name, f] as const));
  for (const ic of cfg.instances) {
    const inst = byName.get(ic.name);
    // Interfaces of its addresses, routes, rules and static track groups: tracked at weight 0.
    const explicit = new Set(ic.track_interface.map((t) => t.name));
    const implicit = implicitInterfaces(ic, cfg.trackGroups ?? []).filter((n) => !explicit.has(n));
    if (!inst || (ic.track_script.length === 0 && ic.track_interface.length === 0 && ic.track_file.length === 0 && implicit.length === 0)) continue;
    const tracked = ic.track_script.flatMap((t) => {
      const sc = scripts.get(t.name);
      if (!sc) {
        log.warn({ instance: ic.name, script: t.name }, 'track_script names an unknown vrrp_script; ignored');
        return [];
      }
      const weight = t.weight ?? sc.weight;
      return [{ sc, state: new ScriptState({ name: sc.name, weight, reverse: t.reverse ?? sc.reverse, rise: sc.rise, fall: sc.fall, initFail: sc.init_fail }), weight }];
    });
    const ifs = [...ic.track_interface.map((t) => ({ name: t.name, weight: t.weight ?? 0 })), ...implicit.map((name) => ({ name, weight: 0 }))]
      .map((t) => ({ ...t, up: interfaceUp(t.name) }));
    const files = ic.track_file.flatMap((t) => {
      const f = fileByName.get(t.name);
      return f ? [{ name: t.name, path: f.file, weight: t.weight, reverse: t.reverse, value: readTrackFile(f.file) ?? 0, bad: false }] : [];
    });
    const update = () => {
      const o = trackOutcome({
        scripts: tracked.map((t) => ({ ok: t.state.ok, weight: t.weight, name: t.sc.name })), interfaces: ifs,
        files: files.map((f) => ({ name: f.name, status: trackFileStatus(f.value, f.weight, f.reverse) })),
      });
      inst.setTracking(o.faults, o.delta);
    };
    update();
    for (const t of tracked) {
      let running = false;
      timers.push(setInterval(() => {
        if (running) return;
        running = true;
        void runner.run(splitCommand(t.sc.script), (t.sc.timeout ?? t.sc.interval) * 1000, t.sc.user).then((r) => {
          running = false;
          if (t.state.feed(r.code === 0)) {
            log.info({ instance: ic.name, script: t.sc.name, ok: t.state.ok }, 'vrrp_script state changed');
            update();
          }
        });
      }, Math.max(0.1, t.sc.interval) * 1000));
    }
    if (files.length > 0) {
      timers.push(setInterval(() => {
        let changed = false;
        for (const f of files) {
          const v = readTrackFile(f.path);
          if (v === null) {
            if (!f.bad) log.warn({ instance: ic.name, file: f.path }, `Invalid number read from ${f.path} - ignoring`);
            f.bad = true;
            continue;
          }
          f.bad = false;
          if (v !== f.value) { f.value = v; changed = true; log.info({ instance: ic.name, track_file: f.name, value: v }, 'tracked file changed'); }
        }
        if (changed) update();
      }, TRACK_FILE_POLL_MS));
    }
    if (ifs.length > 0) {
      timers.push(setInterval(() => {
        let changed = false;
        for (const i of ifs) {
          const up = interfaceUp(i.name);
          if (up !== i.up) { i.up = up; changed = true; log.info({ instance: ic.name, interface: i.name, up }, 'tracked interface changed'); }
        }
        if (changed) update();
      }, 1000));
    }
  }
  return timers;
}
