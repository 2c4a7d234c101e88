/**
 * One running vrrp_instance: the pure VrrpMachine wired to a transport and to the side effects
 * (addresses, gratuitous ARP, notify scripts). Time is a monotonic clock in seconds.
 */
import type { VrrpAddress, VrrpInstanceConfig } from '../config/desired.ts';
import { formatIp, ipFromBytes, ipToBytes, parseIp, type Ip } from '../core/addr.ts';
import { decodeAdvert, encodeAdvert } from './vrrp-codec.ts';
import { VrrpMachine, type VrrpAction, type VrrpState } from './vrrp-machine.ts';
import type { ReceivedPacket, VrrpTransport } from './vrrp-transport.ts';
import type { AddressManager, GarpSender, NotifyRunner } from './vrrp-net.ts';
import type { Deleted, RouteTable } from '../os/rtnetlink.ts';
import { isAddress, isRoute, isRule, type IfIndexOf } from '../os/rtnl-codec.ts';
import { addrSpec } from './vrrp-net.ts';
import type { AcceptFirewall } from './accept-firewall.ts';
import { AH_SEQ_MAX, ahKey, checkAhPacket, encodeAhPacket, IPPROTO_AH } from './vrrp-ah.ts';

export interface VrrpLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface VrrpInstanceDeps {
  /** Opens the transport; `onPacket` must be called for every received VRRP packet. */
  openTransport(onPacket: (p: ReceivedPacket) => void): VrrpTransport;
  readonly addresses: AddressManager;
  /** virtual_routes / virtual_rules (keepalived sets them after the addresses, removes them before). */
  readonly routes: RouteTable;
  /**
   * keepalived's accept-mode firewall (./accept-firewall.ts): a MASTER that is not the address
   * owner and has no accept mode refuses traffic to and from its virtual addresses.
   */
  readonly firewall?: AcceptFirewall;
  readonly garp: GarpSender;
  readonly notify: NotifyRunner;
  readonly log: VrrpLog;
  /** Monotonic seconds. */
  now(): number;
  /** Called after every state change (sync groups, the daemon's status, sync daemon role). */
  onState?(name: string, from: VrrpState, to: VrrpState): void;
}

export const GARP_MASTER_REPEAT = 5;

/** 6 when the instance's virtual addresses are all IPv6 (it then runs VRRPv3 over IPv6), else 4. */
export function vrrpFamily(cfg: Pick<VrrpInstanceConfig, 'virtual_ipaddress'>): 4 | 6 {
  const v = cfg.virtual_ipaddress;
  return v.length > 0 && v.every((a) => a.addr.includes(':')) ? 6 : 4;
}

export const GARP_MASTER_DELAY = 5;

/** keepalived's vrrp_stats error counters (what tsvs checks; it does not compare address lists). */
export interface VrrpErrorCounters {
  length: number;
  ttl: number;
  invalidType: number;
  advertInterval: number;
  invalidAuthType: number;
  authTypeMismatch: number;
  authFailure: number;
  priZeroRcvd: number;
  priZeroSent: number;
}

export const NO_VRRP_ERRORS: Readonly<VrrpErrorCounters> = Object.freeze({
  length: 0, ttl: 0, invalidType: 0, advertInterval: 0, invalidAuthType: 0, authTypeMismatch: 0, authFailure: 0, priZeroRcvd: 0, priZeroSent: 0,
});

export class VrrpInstance {
  readonly machine: VrrpMachine;
  private transport: VrrpTransport | null = null;
  private timer: NodeJS.Timeout | null = null;
  private queue: Promise<void> = Promise.resolve();
  readonly counters = { rx: 0, tx: 0, dropped: 0 };
  /** keepalived's per-cause receive/send statistics (vrrp_print_stats; SIGUSR2's keepalived.stats). */
  readonly errors: VrrpErrorCounters = { ...NO_VRRP_ERRORS };
  private readonly dev: string;
  private readonly primary: Uint8Array;
  /** Address family of the adverts: 6 when every virtual address is IPv6 (keepalived: v3 only). */
  readonly af: 4 | 6;
  /** auth_type AH: the key, keepalived's one sequence counter (sent and received), IP ids. */
  private readonly ahKey: Buffer | null;
  private ahSeq = 0;
  private ahCycled = false;
  private ipId = 0;

  /** The configuration in force: a reload may change its addresses, routes and rules (updateEntries). */
  cfg: VrrpInstanceConfig;

  constructor(cfg: VrrpInstanceConfig, private readonly deps: VrrpInstanceDeps, primaryIp: string) {
    this.cfg = cfg;
    this.dev = cfg.interface ?? 'eth0';
    this.af = vrrpFamily(cfg);
    const p = parseIp(primaryIp.split('%')[0]!);
    if (p === null || p.af !== this.af) throw new Error(`vrrp_instance ${cfg.name}: no IPv${this.af} source address`);
    this.primary = ipToBytes(p);
    this.ahKey = this.af === 4 && cfg.version === 2 && cfg.authentication?.auth_type === 'AH' ? ahKey(cfg.authentication.auth_pass) : null;
    this.machine = new VrrpMachine({
      vrid: cfg.virtual_router_id,
      priority: cfg.priority,
      version: cfg.version,
      advertInterval: cfg.advert_int,
      preempt: !cfg.nopreempt,
      preemptDelay: cfg.preempt_delay,
      primaryIp: this.primary,
      garpRepeat: GARP_MASTER_REPEAT,
      garpDelay: cfg.garp_master_delay ?? GARP_MASTER_DELAY,
      initialState: cfg.state,
    });
  }

  get state(): VrrpState {
    return this.machine.state;
  }

  start(): void {
    this.transport = this.deps.openTransport((p) => this.onPacket(p));
    this.apply(this.machine.start(this.deps.now()));
    // A backup must not hold the virtual addresses: a previous run killed with -9 left them on the
    // interface (keepalived removes them at start too).
    if (this.machine.state !== 'MASTER') this.enqueue(() => this.release());
    this.schedule();
  }

  /** Resigns (priority 0 advert when master), removes addresses, closes the socket. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.apply(this.machine.stop(this.deps.now()));
    await this.queue;
    this.transport?.close();
    this.transport = null;
  }

  private faults = new Set<string>();
  private sourceGone = false;

  /**
   * keepalived's netlink reflector (keepalived_netlink.c, address deleted / assigned): an instance
   * whose source address was taken from its interface (no unicast_src_ip / mcast_src_ip) is in
   * FAULT while that interface has no address of its family (IPv6: no link-local one), whatever
   * dont_track_primary says; one assigned again brings it back (BACKUP).
   */
  setSourcePresent(present: boolean, dev: string): void {
    if (present !== this.sourceGone) return;
    this.sourceGone = !present;
    this.deps.log.info({ instance: this.cfg.name, interface: dev }, present ? 'an address is assigned again on the instance\'s interface' : 'the instance\'s interface has lost its address');
    this.apply(this.machine.setFault(this.deps.now(), `no address on ${dev}`, !present));
    this.schedule();
  }

  /** track_script / track_interface outcome: fault sources and the priority delta (vrrp-track.ts). */
  setTracking(faults: readonly string[], delta: number): void {
    const now = this.deps.now();
    const next = new Set(faults);
    for (const f of next) if (!this.faults.has(f)) this.apply(this.machine.setFault(now, f, true));
    for (const f of this.faults) if (!next.has(f)) this.apply(this.machine.setFault(now, f, false));
    this.faults = next;
    const before = this.machine.priority;
    this.machine.setPriorityDelta(delta);
    if (this.machine.priority !== before) this.deps.log.info({ instance: this.cfg.name, priority: this.machine.priority }, 'effective priority changed by tracking');
    this.schedule();
  }

  /**
   * keepalived's netlink reflector: a MASTER whose tracked virtual address, route or rule was
   * deleted (by anyone) goes back to BACKUP (set_vrrp_backup); `no_track` entries are let go.
   */
  entryDeleted(d: Deleted, ifindex: IfIndexOf): void {
    if (this.state !== 'MASTER') return;
    let what: string | null = null;
    if (d.kind === 'address') {
      const a = [...this.cfg.virtual_ipaddress, ...this.cfg.virtual_ipaddress_excluded].find((v) => !v.extra.includes('no_track') && isAddress(d, addrSpec(v, this.dev), ifindex));
      if (a) what = `virtual address ${a.addr}`;
    } else if (d.kind === 'route') {
      const r = this.cfg.virtual_routes.find((x) => !x.noTrack && isRoute(d, x));
      if (r) what = `virtual route ${r.dst ?? 'default'}${r.dst ? `/${r.dstLen}` : ''}`;
    } else {
      const r = this.cfg.virtual_rules.find((x) => !x.noTrack && isRule(d, x));
      if (r) what = `virtual rule ${r.priority}`;
    }
    if (what) this.forceBackup(`${what} deleted`);
  }

  /** vrrp_sync_group: another member left MASTER, so this one steps down too. */
  forceBackup(reason: string): void {
    this.apply(this.machine.forceBackup(this.deps.now(), reason));
    this.schedule();
  }

  /** Waits until queued side effects (address changes) are done. */
  settled(): Promise<void> {
    return this.queue;
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    const next = this.machine.nextDeadline();
    if (!Number.isFinite(next)) return;
    const ms = Math.max(1, (next - this.deps.now()) * 1000);
    this.timer = setTimeout(() => {
      this.apply(this.machine.tick(this.deps.now()));
      this.schedule();
    }, ms);
  }

  private onPacket(p: ReceivedPacket): void {
    let msg = p.msg;
    let ahSeq: number | null = null;
    if (this.af === 4 && p.proto !== undefined && (p.proto === IPPROTO_AH) !== (this.ahKey !== null)) {
      this.counters.dropped++;
      this.errors.authTypeMismatch++;
      this.deps.log.warn({ instance: this.cfg.name }, p.proto === IPPROTO_AH ? 'Received AH header but auth type not AH' : 'No AH header but auth type is AH');
      return;
    }
    if (this.ahKey && p.ip) {
      const a = checkAhPacket(p.ip, this.ahKey, this.cfg.unicast_peer.length > 0);
      if (!a.ok && a.error === 'other-protocol') return; // an AH for another protocol: not ours
      if (!a.ok && a.error === 'truncated') { this.counters.dropped++; this.errors.length++; return; }
      // The ICV is checked after the VRRP header's own checks (keepalived's order), below.
      msg = p.ip.subarray((p.ip[0]! & 0x0f) * 4 + 24);
      ahSeq = a.ok ? a.seq : -1;
      if (!a.ok) this.ahError = a.error;
    }
    // keepalived checks the TTL (255) of multicast adverts only: unicast ones may cross routers.
    const unicast = this.cfg.unicast_peer.length > 0;
    const d = decodeAdvert(msg, this.af, p.src, p.dst, unicast ? 255 : p.ttl);
    if ('error' in d) {
      this.counters.dropped++;
      if (d.error === 'bad-ttl') this.errors.ttl++;
      else if (d.error === 'truncated') this.errors.length++;
      else if (d.error === 'bad-type') this.errors.invalidType++;
      this.deps.log.warn({ instance: this.cfg.name, reason: d.error }, 'VRRP packet dropped');
      return;
    }
    if (d.vrid !== this.cfg.virtual_router_id) return;
    this.counters.rx++;
    if (d.priority === 0) this.errors.priZeroRcvd++;
    const why = this.rejectReason(d.version, d.interval, d.authType, d.password, ahSeq);
    if (why) {
      this.counters.dropped++;
      this.deps.log.warn({ instance: this.cfg.name, reason: why }, 'VRRP advert dropped');
      return;
    }
    if (unicast && this.cfg.check_unicast_src) {
      const from = formatIp(ipFromBytes(p.src, this.af));
      const ttl = this.cfg.unicast_peer_ttl?.[from] ?? { min: 0, max: 255 };
      if (!this.cfg.unicast_peer.includes(from)) {
        this.counters.dropped++;
        this.deps.log.warn({ instance: this.cfg.name, src: from }, `(${this.cfg.name}) unicast source address ${from} not a unicast peer`);
        return;
      }
      if (p.ttl < ttl.min || p.ttl > ttl.max) {
        this.counters.dropped++;
        this.errors.ttl++;
        this.deps.log.warn({ instance: this.cfg.name, src: from, ttl: p.ttl }, `(${this.cfg.name}) TTL/HL ${p.ttl} not in range ${ttl.min} - ${ttl.max}`);
        return;
      }
    }
    // keepalived: a MASTER hearing a lower priority AH advert takes its sequence number + 1.
    if (ahSeq !== null && this.state === 'MASTER' && d.priority !== 0 &&
      (d.priority < this.machine.priority || (d.priority === this.machine.priority && Buffer.compare(Buffer.from(p.src), Buffer.from(this.primary)) < 0))) {
      this.ahSeq = ahSeq + 1;
      this.ahCycled = false;
    }
    const interval = d.version === 3 ? d.interval / 100 : d.interval;
    this.apply(this.machine.receive(this.deps.now(), { priority: d.priority, interval, srcIp: p.src }));
    this.schedule();
  }

  /** What checkAhPacket found wrong with the last AH packet (reported after the header checks). */
  private ahError: string | null = null;

  /**
   * keepalived's receive checks: version, authentication (PASS password; AH: ICV, SPI, then the
   * sequence number must be above the instance's counter, which it then takes), v2 interval.
   * `ahSeq`: the AH's sequence number, -1 for an AH that failed its check, null without an AH.
   */
  private rejectReason(version: number, interval: number, authType: number, password: string, ahSeq: number | null = null): string | null {
    if (version !== this.cfg.version) return `version ${version}, expected ${this.cfg.version}`;
    if (version === 2) {
      const want = this.cfg.authentication?.auth_type === 'PASS' ? 1 : this.ahKey ? 2 : 0;
      const wantPass = want === 1;
      if (authType > 2) { this.errors.invalidAuthType++; return `auth type ${authType}`; }
      if (want !== authType) { this.errors.authTypeMismatch++; return `received a ${authType} auth, expecting ${want}`; }
      if (want === 2) {
        if (ahSeq === null || ahSeq < 0) {
          this.errors.authFailure++;
          const e = this.ahError;
          this.ahError = null;
          return e === 'bad-spi' ? 'IPSEC AH : invalid IPSEC SPI value' : 'IPSEC-AH : invalid IPSEC HMAC-MD5 value. Due to fields mutation or bad password !';
        }
        if (ahSeq <= this.ahSeq) { this.errors.authFailure++; return `IPSEC-AH : sequence number ${ahSeq} already processed. Packet dropped. Local(${this.ahSeq})`; }
        this.ahSeq = ahSeq;
        if (this.state === 'BACKUP') this.ahCycled = false;
      }
      if (wantPass && password !== this.cfg.authentication!.auth_pass.slice(0, 8)) { this.errors.authFailure++; return 'password mismatch'; }
      if (interval !== Math.round(this.cfg.advert_int)) { this.errors.advertInterval++; return `advert interval ${interval}s, expected ${this.cfg.advert_int}s`; }
    }
    return null;
  }

  private apply(actions: VrrpAction[]): void {
    for (const a of actions) {
      switch (a.kind) {
        case 'send-advert':
          this.sendAdvert(a.priority);
          break;
        case 'add-vips':
          this.enqueue(() => this.take());
          break;
        case 'del-vips':
          this.enqueue(() => this.release());
          break;
        case 'garp':
          this.enqueue(async () => {
            for (const v of this.cfg.virtual_ipaddress) this.deps.garp.send(v.dev ?? this.dev, v.addr, a.count);
          });
          break;
        case 'state':
          // keepalived: becoming MASTER with a cycled AH counter restarts it.
          if (a.to === 'MASTER' && this.ahCycled) { this.ahCycled = false; this.ahSeq = 0; }
          this.deps.log.info({ instance: this.cfg.name, from: a.from, to: a.to, reason: a.reason }, `VRRP_Instance(${this.cfg.name}) Entering ${a.to} STATE`);
          this.runNotify(a.to);
          this.deps.onState?.(this.cfg.name, a.from, a.to);
          break;
      }
    }
  }

  /**
   * Becoming MASTER (keepalived's vrrp_state_become_master): the virtual and excluded addresses,
   * then virtual_routes, then virtual_rules. Each one that fails is logged and the rest still set.
   */
  private async take(): Promise<void> {
    // keepalived's vrrp_handle_accept_mode comes before the addresses (no packet slips through).
    this.setFirewall(true);
    for (const v of [...this.cfg.virtual_ipaddress, ...this.cfg.virtual_ipaddress_excluded]) {
      await this.step(`add address ${v.addr}/${v.prefix}`, () => this.deps.addresses.add(v, this.dev));
    }
    for (const r of this.cfg.virtual_routes) await this.step(`add route ${r.dst ?? 'default'}`, () => this.deps.routes.route('add', r));
    for (const r of this.cfg.virtual_rules) await this.step(`add rule ${r.priority}`, () => this.deps.routes.rule('add', r));
  }

  /**
   * A reload that changes the instance's virtual addresses, routes or rules (keepalived's
   * clear_diff_vrrp and the new MASTER's set): the configuration takes `next`'s; as MASTER, what
   * left is removed (rules, routes, then addresses), what came is set (addresses, routes, rules)
   * and the new addresses announced by gratuitous ARP; what stayed is not touched. Returns what
   * changed, as "+addr"/"-addr" words, for the log.
   */
  updateEntries(next: Pick<VrrpInstanceConfig, 'virtual_ipaddress' | 'virtual_ipaddress_excluded' | 'virtual_routes' | 'virtual_rules'>): string[] {
    const old = this.cfg;
    const dev = this.dev;
    const aKey = (v: VrrpInstanceConfig['virtual_ipaddress'][number]) => JSON.stringify(addrSpec(v, dev));
    const jKey = (x: unknown) => JSON.stringify(x);
    const minus = <T>(a: readonly T[], b: readonly T[], key: (x: T) => string): T[] => { const k = new Set(b.map(key)); return a.filter((x) => !k.has(key(x))); };
    const oldAddrs = [...old.virtual_ipaddress, ...old.virtual_ipaddress_excluded], newAddrs = [...next.virtual_ipaddress, ...next.virtual_ipaddress_excluded];
    const goneA = minus(oldAddrs, newAddrs, aKey), cameA = minus(newAddrs, oldAddrs, aKey);
    const goneR = minus(old.virtual_routes, next.virtual_routes, jKey), cameR = minus(next.virtual_routes, old.virtual_routes, jKey);
    const goneU = minus(old.virtual_rules, next.virtual_rules, jKey), cameU = minus(next.virtual_rules, old.virtual_rules, jKey);
    this.cfg = { ...old, virtual_ipaddress: next.virtual_ipaddress, virtual_ipaddress_excluded: next.virtual_ipaddress_excluded, virtual_routes: next.virtual_routes, virtual_rules: next.virtual_rules };
    const changes = [
      ...goneA.map((v) => `-${v.addr}/${v.prefix}`), ...cameA.map((v) => `+${v.addr}/${v.prefix}`),
      ...goneR.map((r) => `-route ${r.dst ?? 'default'}`), ...cameR.map((r) => `+route ${r.dst ?? 'default'}`),
      ...goneU.map((r) => `-rule ${r.priority}`), ...cameU.map((r) => `+rule ${r.priority}`),
    ];
    if (changes.length === 0 || this.machine.state !== 'MASTER') return changes;
    this.enqueue(async () => {
      for (const r of goneU) await this.step(`delete rule ${r.priority}`, () => this.deps.routes.rule('del', r));
      for (const r of goneR) await this.step(`delete route ${r.dst ?? 'default'}`, () => this.deps.routes.route('del', r));
      for (const v of goneA) await this.step(`delete address ${v.addr}/${v.prefix}`, () => this.deps.addresses.del(v, dev));
      this.setFirewall(true);
      for (const v of cameA) await this.step(`add address ${v.addr}/${v.prefix}`, () => this.deps.addresses.add(v, dev));
      for (const r of cameR) await this.step(`add route ${r.dst ?? 'default'}`, () => this.deps.routes.route('add', r));
      for (const r of cameU) await this.step(`add rule ${r.priority}`, () => this.deps.routes.rule('add', r));
      const announced = new Set(minus(next.virtual_ipaddress, old.virtual_ipaddress, aKey).map(aKey));
      for (const v of next.virtual_ipaddress) if (announced.has(aKey(v))) this.deps.garp.send(v.dev ?? dev, v.addr, GARP_MASTER_REPEAT);
    });
    return changes;
  }

  /** Leaving MASTER (vrrp_restore_interface): rules, then routes, then the addresses. */
  private async release(): Promise<void> {
    for (const r of this.cfg.virtual_rules) await this.step(`delete rule ${r.priority}`, () => this.deps.routes.rule('del', r));
    for (const r of this.cfg.virtual_routes) await this.step(`delete route ${r.dst ?? 'default'}`, () => this.deps.routes.route('del', r));
    for (const v of [...this.cfg.virtual_ipaddress, ...this.cfg.virtual_ipaddress_excluded]) {
      await this.step(`delete address ${v.addr}/${v.prefix}`, () => this.deps.addresses.del(v, this.dev));
    }
    this.setFirewall(false);
  }

  /** Without accept mode (and not the address owner), a MASTER's addresses refuse traffic; the rules go with them. */
  private setFirewall(on: boolean): void {
    const fw = this.deps.firewall;
    if (!fw || this.cfg.accept !== false || this.cfg.priority === 255) return;
    try {
      // keepalived (nft_update_ipv6_address): under dont_track_primary, one on the instance's own
      // interface (the macvlan with use_vmac) or written no_track is matched by interface name.
      const byName = (v: VrrpAddress) => !!this.cfg.dont_track_primary && !this.cfg.nftables_ifindex && ((v.dev ?? this.dev) === this.dev || v.extra.includes('no_track'));
      if (on) fw.add(this.cfg.name, [...this.cfg.virtual_ipaddress, ...this.cfg.virtual_ipaddress_excluded].map((v) => ({ addr: v.addr, dev: v.dev ?? this.dev, ...(byName(v) ? { byName: true } : {}) })));
      else fw.del(this.cfg.name);
    } catch (e) {
      this.deps.log.warn({ instance: this.cfg.name, err: String((e as Error).message ?? e) }, `VRRP: cannot ${on ? 'set' : 'remove'} the no_accept firewall drop rule`);
    }
  }

  private async step(what: string, f: () => unknown): Promise<void> {
    try {
      await f();
    } catch (e) {
      this.deps.log.warn({ instance: this.cfg.name, err: String((e as Error).message ?? e) }, `VRRP: cannot ${what}`);
    }
  }

  private sendAdvert(priority: number): void {
    const t = this.transport;
    if (!t) return;
    const v2 = this.cfg.version === 2;
    const addrs = this.cfg.virtual_ipaddress
      .map((v) => parseIp(v.addr))
      .filter((v): v is Ip => v !== null && v.af === this.af)
      .map(ipToBytes);
    if (this.ahKey) this.advanceAh();
    t.dstIps.forEach((dst, i) => {
      const msg = encodeAdvert(
        {
          version: this.cfg.version,
          vrid: this.cfg.virtual_router_id,
          priority,
          interval: v2 ? Math.round(this.cfg.advert_int) : Math.round(this.cfg.advert_int * 100),
          af: this.af,
          addrs,
          authType: v2 && this.cfg.authentication?.auth_type === 'PASS' ? 1 : this.ahKey ? 2 : 0,
          password: this.ahKey ? '' : this.cfg.authentication?.auth_pass ?? '',
        },
        t.srcIp,
        dst,
      );
      t.send(this.ahKey ? this.ahPacket(msg, t.srcIp, dst) : msg, i);
      this.counters.tx++;
      if (priority === 0) this.errors.priZeroSent++;
    });
  }

  /** keepalived's IP id and AH sequence counters advance once per advert (every unicast peer gets the same). */
  private advanceAh(): void {
    this.ipId = (this.ipId + 1) & 0xffff || 1; // 0 would let the kernel choose it, and the ICV covers it
    if (this.ahSeq > AH_SEQ_MAX) this.ahCycled = true;
    else this.ahSeq++;
  }

  /** The whole IPv4 packet for auth_type AH. */
  private ahPacket(vrrp: Uint8Array, src: Uint8Array, dst: Uint8Array): Uint8Array {
    return encodeAhPacket({ src, dst, id: this.ipId, ttl: 255, seq: this.ahSeq, unicast: this.cfg.unicast_peer.length > 0, vrrp }, this.ahKey!);
  }

  private runNotify(to: VrrpState): void {
    const n = this.cfg.notify;
    const specific = to === 'MASTER' ? n.notify_master : to === 'BACKUP' ? n.notify_backup : to === 'FAULT' ? n.notify_fault : to === 'STOP' ? n.notify_stop : undefined;
    const key = to === 'MASTER' ? 'notify_master' : to === 'BACKUP' ? 'notify_backup' : to === 'FAULT' ? 'notify_fault' : 'notify_stop';
    const users = this.cfg.notify_users;
    if (specific) this.deps.notify.run(specific, [], users?.[key]);
    if (n.notify && to !== 'INIT') this.deps.notify.run(n.notify, ['INSTANCE', this.cfg.name, to, String(this.machine.priority)], users?.notify);
  }

  private enqueue(f: () => Promise<void>): void {
    this.queue = this.queue.then(f).catch((e: unknown) => {
      this.deps.log.warn({ instance: this.cfg.name, err: String(e) }, 'VRRP action failed');
    });
  }
}
