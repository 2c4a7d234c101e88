/**
 * `virtual_server IP PORT | fwmark N | group NAME { ... }`: the service's keywords, keepalived's
 * validate_check_config() corrections, then one service per member with its real servers.
 */
import { parseIp, prefixToMask4 } from '../../core/addr.ts';
import { SVC_F, type Af, type FwdMethod, type Protocol, type ServiceSpec } from '../../core/types.ts';
import { serviceKeyString } from '../../core/service-key.ts';
import { DEFAULTS, type RealServerConfig, type SorryServerConfig, type SourcePos } from '../desired.ts';
import type { Tok } from '../kalex.ts';
import type { Inherit } from './checkers/index.ts';
import { pos, sameFor, setUser, type Ctx, type KaState, type Stmt } from './context.ts';
import { kaBool, kaDecimal, kaUnsigned } from './numbers.ts';
import { parseMethod, type LvsMethod } from './lvs-method.ts';
import { parseRealServer, placeReal, type RealDraft } from './real-server.ts';

const PROTOCOLS: Record<string, Protocol> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };
/** keepalived's lvs_schedulers (check_parser.c), matched exactly. */
const SCHEDULERS = new Set(['rr', 'wrr', 'lc', 'wlc', 'lblc', 'sh', 'mh', 'dh', 'fo', 'ovf', 'lblcr', 'sed', 'nq', 'twos']);
const SCHED_FLAGS: Record<string, number> = {
  'sh-fallback': SVC_F.SCHED1, 'mh-fallback': SVC_F.SCHED1, 'flag-1': SVC_F.SCHED1,
  'sh-port': SVC_F.SCHED2, 'mh-port': SVC_F.SCHED2, 'flag-2': SVC_F.SCHED2, 'flag-3': SVC_F.SCHED3,
};

type Member = { af: Af; fwmark: number; addr: string; port: number };

function isContiguous(mask: number): boolean {
  const inv = (~mask) >>> 0;
  return ((inv + 1) & inv) === 0;
}

/**
 * The members a virtual_server line names (one, or its group's, looked up once the whole file is
 * read); null when unusable (reported).
 */
function readHead(st: KaState, s: Stmt): { head: Tok; members: () => Member[] | null; groupName?: string } | null {
  const { c, groups } = st;
  const head = c.arg(s, 0, "an address, 'fwmark N' or 'group NAME'");
  if (!head) return null;
  if (head.text === 'fwmark') {
    const v = c.num(s, 1, 'a firewall mark', 1, 0xffffffff);
    c.extra(s, 2);
    if (v === null) return null;
    return { head, members: () => [{ af: 4, fwmark: v, addr: '0.0.0.0', port: 0 }] };
  }
  if (head.text === 'group') {
    const g = c.arg(s, 1, 'a virtual_server_group name');
    c.extra(s, 2);
    if (!g) return null;
    const members = (): Member[] | null => {
      const grp = groups.get(g.text);
      // keepalived drops such a virtual server without a word on stderr.
      if (!grp) { c.note(g, `virtual_server_group '${g.text}' is not defined: virtual server ignored`); return null; }
      return grp.members.map((m) => ({ af: m.af, fwmark: m.fwmark, addr: m.addr, port: m.port }));
    };
    return { head, groupName: g.text, members };
  }
  const ip = c.ip(s, 0, "an address, 'fwmark N' or 'group NAME'");
  if (!ip) return null;
  // keepalived: the port may be left out (port 0, for persistent services).
  const port = s.args[1] ? c.num(s, 1, 'a port number', 0, 65535) : 0;
  c.extra(s, 2);
  if (port === null) return null;
  return { head, members: () => [{ af: ip.af, fwmark: 0, addr: ip.addr, port }] };
}

/** persistence_granularity for one family: a netmask (IPv4) or prefix length. */
function netmaskFor(c: Ctx, af: Af, g: { text: string; tok: Tok } | null): number {
  if (!g) return af === 4 ? DEFAULTS.netmask4 : DEFAULTS.netmask6;
  if (af === 4) {
    const v4 = /^\d+$/.test(g.text) ? (Number(g.text) <= 32 ? prefixToMask4(Number(g.text)) : null) : parseIp(g.text);
    const mask = typeof v4 === 'number' ? v4 : v4 && v4.af === 4 ? v4.words[0]! : null;
    if (mask === null || !isContiguous(mask)) { c.err(g.tok, `expected an IPv4 netmask like 255.255.255.0 or a prefix length 0..32, got '${g.text}'`); return DEFAULTS.netmask4; }
    return mask;
  }
  const v = Number(g.text);
  if (!/^\d+$/.test(g.text) || v < 1 || v > 128) { c.err(g.tok, `expected an IPv6 prefix length 1..128, got '${g.text}'`); return DEFAULTS.netmask6; }
  return v;
}

export function parseVirtualServer(st: KaState, s: Stmt): void {
  const { c } = st;
  const h = readHead(st, s);
  if (!h) return;
  const { head, groupName } = h;

  let scheduler: string = DEFAULTS.keepalivedScheduler;
  let lbKind: LvsMethod = { fwd: DEFAULTS.keepalivedFwd, tunType: 'ipip', tunPort: 0, tunCsum: 'nocsum' };
  let protocol: Protocol = 'tcp';
  let protocolTok: Tok | null = null;
  let persistence = 0;
  let vsWeight: number = DEFAULTS.weight;
  let granularity: { text: string; tok: Tok } | null = null;
  let pe = '';
  let flags = 0;
  let delayLoop: number = DEFAULTS.delay_loop;
  let schedulerSet = false, lbKindSet = false;
  let explicitAf: Af | null = null;
  const opt = {
    alpha: false, omega: false, quorum: DEFAULTS.quorum as number, hysteresis: DEFAULTS.hysteresis as number,
    inhibit_on_failure: false, ha_suspend: false, sorry_server_inhibit: false,
  };
  let quorumUp: string | undefined, quorumDown: string | undefined, virtualhost: string | undefined;
  let smtpAlert: boolean | undefined;
  const vsUsers: Partial<Record<'quorum_up' | 'quorum_down', string>> = {};
  let sorry: { addr: string; af: Af; port: number; tok: Tok } | null = null;
  let sorryMethod: FwdMethod | null = null;
  const inh: Inherit = {};
  const drafts: RealDraft[] = [];

  /** read_timer: seconds (microsecond precision) at least `min`; null when keepalived refuses it. */
  const timer = (x: Stmt, min: number): number | null => {
    const t = c.arg(x, 0, 'seconds');
    return t ? kaDecimal(c, t, min, 4294967.295) : null;
  };
  const lbAlgo = (x: Stmt): void => {
    const t = c.arg(x, 0, 'a scheduler name');
    if (!t) return;
    if (!SCHEDULERS.has(t.text)) { c.warn(t, `Invalid lvs_scheduler '${t.text}' - ignoring`); return; }
    scheduler = t.text;
    schedulerSet = true;
  };
  /** lbflags_handler: sh-* only while the scheduler is sh, mh-* while it is mh (in file order). */
  const applyFlag = (t: Tok): void => {
    const f = t.text;
    if (f === 'hashed') return;
    if (f.startsWith('sh-') && scheduler !== 'sh' || f.startsWith('mh-') && scheduler !== 'mh' || (f.startsWith('sh-') || f.startsWith('mh-')) && !schedulerSet) {
      c.warn(t, `${f} only applies to sh scheduler - ignoring`);
      return;
    }
    flags |= SCHED_FLAGS[f]!;
  };


  c.dispatch(s.body, {
    delay_loop: { run: (x) => { const v = timer(x, 0.000001); if (v === null) c.warn(x.args[0] ?? x.name, `virtual server delay loop '${x.args[0]?.text ?? ''}' invalid - ignoring`); else delayLoop = v; } },
    lb_algo: { run: (x) => lbAlgo(x) },
    lvs_sched: { run: (x) => lbAlgo(x) },
    lb_kind: { run: (x) => { const m = parseMethod(c, x, 'virtual'); if (m) { lbKind = m; lbKindSet = true; } } },
    lvs_method: { run: (x) => { const m = parseMethod(c, x, 'virtual'); if (m) { lbKind = m; lbKindSet = true; } } },
    persistence_timeout: { run: (x) => {
      if (!x.args.length) { persistence = DEFAULTS.persistence_timeout; return; }
      const v = kaUnsigned(c, x.args[0]!, 1, 86400 * 31);
      if (v === null) c.warn(x.args[0]!, 'persistence_timeout invalid');
      else persistence = v;
    } },
    persistence_granularity: { run: (x) => {
      const t = c.arg(x, 0, 'a netmask or prefix length');
      if (!t) return;
      granularity = { text: t.text, tok: t };
      // keepalived makes the service persistent when it is not already.
      if (!persistence) persistence = DEFAULTS.persistence_timeout;
    } },
    persistence_engine: { run: (x) => { const t = c.arg(x, 0, 'a persistence engine name'); if (t) pe = t.text; c.extra(x, 1); } },
    protocol: { run: (x) => {
      const t = c.arg(x, 0, 'TCP|UDP|SCTP');
      if (!t) return;
      const p = PROTOCOLS[t.text.toUpperCase()];
      if (!p) c.warn(t, `Unknown protocol ${t.text} - ignoring`);
      else { protocol = p; protocolTok = t; }
    } },
    ha_suspend: { run: () => { opt.ha_suspend = true; } },
    weight: { run: (x) => { const v = c.num(x, 0, 'a default weight', 0, 65535); if (v !== null) vsWeight = v; c.extra(x, 1); } },
    virtualhost: { run: (x) => { const t = c.arg(x, 0, 'a host name'); if (t) virtualhost = t.text; c.extra(x, 1); } },
    alpha: { run: (x) => { opt.alpha = c.bool(x, 0); } },
    omega: { run: (x) => { opt.omega = c.bool(x, 0); } },
    quorum: { run: (x) => { const v = c.num(x, 0, 'a weight sum', 0, 0x7fffffff); if (v !== null) opt.quorum = v; c.extra(x, 1); } },
    hysteresis: { run: (x) => { const v = c.num(x, 0, 'a weight', 0, 0x7fffffff); if (v !== null) opt.hysteresis = v; c.extra(x, 1); } },
    quorum_up: { run: (x) => { const v = c.script(x, 'a script'); if (v) { quorumUp = v.cmd; setUser(vsUsers, 'quorum_up', v.user); } } },
    quorum_down: { run: (x) => { const v = c.script(x, 'a script'); if (v) { quorumDown = v.cmd; setUser(vsUsers, 'quorum_down', v.user); } } },
    inhibit_on_failure: { run: (x) => { opt.inhibit_on_failure = c.bool(x, 0); } },
    sorry_server: { run: (x) => {
      const a = c.ip(x, 0, 'the sorry server address');
      if (!a) return;
      const p = x.args[1] ? c.num(x, 1, 'a port', 0, 65535) : 0;
      if (p === null) return;
      sorry = { addr: a.addr, af: a.af, port: p, tok: x.args[0]! };
      c.extra(x, 2);
    } },
    sorry_server_inhibit: { run: (x) => { opt.sorry_server_inhibit = c.bool(x, 0); } },
    sorry_server_lvs_method: { run: (x) => { const m = parseMethod(c, x, 'sorry'); if (m) sorryMethod = m.fwd; } },
    ops: { run: () => { flags |= SVC_F.ONEPACKET; } },
    ip_family: { run: (x) => {
      const t = c.arg(x, 0, 'inet|inet6');
      if (t?.text === 'inet') explicitAf = 4;
      else if (t?.text === 'inet6') explicitAf = 6;
      else if (t) c.err(t, `expected inet|inet6, got '${t.text}'`);
    } },
    ...sameFor([...Object.keys(SCHED_FLAGS), 'hashed'], () => ({ run: (x: Stmt) => applyFlag(x.name) })),
    retry: { run: (x) => { const v = c.num(x, 0, 'a retry count', 0, 1_000_000); if (v !== null) inh.retry = v; } },
    delay_before_retry: { run: (x) => { const v = c.num(x, 0, 'seconds', 0, 86400, false); if (v !== null) inh.delay_before_retry = v; } },
    warmup: { run: (x) => { const v = c.num(x, 0, 'seconds', 0, 86400, false); if (v !== null) inh.warmup = v; } },
    connect_timeout: { run: (x) => { const v = c.num(x, 0, 'seconds', 0, 86400, false); if (v !== null) inh.connect_timeout = v; } },
    nat_mask: { run: (x) => c.warn(x.name, "'nat_mask' is obsolete (keepalived 1.x) and has no effect; ignored") },
    net_mask: { run: (x) => c.warn(x.name, "'net_mask' is obsolete and has no effect; ignored") },
    smtp_alert: { run: (x) => {
      const v = x.args[0] ? kaBool(x.args[0].text) : true;
      if (v === null) c.warn(x.args[0]!, `Invalid virtual_server smtp_alert parameter ${x.args[0]!.text}`);
      else smtpAlert = v;
    } },
    real_server: { run: (x) => { const d = parseRealServer(c, x); if (d) drafts.push(d); } },
  }, 'virtual_server');
  st.deferred.push(() => {
    const members = h.members();
    if (members) finish(members);
  });

  /**
   * keepalived's link_vsg_to_vs: the virtual server's family (ip_family, else its first real or
   * sorry server that is not tunnelled) against its group's addresses. A group with IPv4 and IPv6
   * addresses fits only a virtual server of no family; a one-family group one of its family.
   * keepalived drops one that does not fit with a log line only (-t says nothing and exits 0).
   */
  function groupFamilyFits(members: readonly Member[]): boolean {
    const has4 = members.some((m) => m.fwmark === 0 && m.af === 4), has6 = members.some((m) => m.fwmark === 0 && m.af === 6);
    const byMethod = (d: RealDraft) => (d.method ?? lbKind).fwd !== 'tunnel';
    const sorryAf = sorry && (sorryMethod ?? lbKind.fwd) !== 'tunnel' ? (sorry as { af: Af }).af : null;
    const af = explicitAf ?? drafts.find(byMethod)?.af ?? sorryAf;
    if (af === null || af === undefined) return true;
    if (has4 && has6) { c.note(s.name, `${groupName}: virtual server group with IPv4 & IPv6 doesn't match virtual server [${groupName}] (IPv${af}) - ignoring (as keepalived)`); return false; }
    if ((has4 && af === 6) || (has6 && af === 4)) { c.note(s.name, `${groupName}: address family doesn't match virtual server [${groupName}] (IPv${af}) - ignoring (as keepalived)`); return false; }
    return true;
  }

  function finish(members: Member[]): void {
    // keepalived's validate_check_config(), in its order and words, once per virtual_server.
    const byAddr = members.some((m) => m.fwmark === 0);
    const byMark = members.some((m) => m.fwmark > 0);
    const first = members[0];
    const proto = (): string => (protocolTok === null ? 'none' : protocol);
    const fmt = (): string => groupName !== undefined ? `[${groupName}]:${first && first.fwmark === 0 ? first.port : 0}`
      : first && first.fwmark > 0 ? `FWM ${first.fwmark}` : `[${first?.addr}]:${proto()}:${first?.port}`;
    const fmtRs = (d: RealDraft): string => `[${d.addr}]:${proto()}:${d.port ?? 0}`;
    if (groupName !== undefined && !groupFamilyFits(members)) return;
    if (drafts.length === 0) { c.warn(s.name, `Virtual server ${fmt()} has no real servers - ignoring`); return; }
    if (byMark && opt.ha_suspend) { c.warn(s.name, `Virtual server ${fmt()}: cannot use ha_suspend with fwmarks - clearing ha_suspend`); opt.ha_suspend = false; }
    if (byAddr) {
      if (protocolTok === null) { c.warn(s.name, `Virtual server ${fmt()}: no protocol set - defaulting to UDP`); protocol = 'udp'; }
      if ((flags & SVC_F.ONEPACKET) && (protocol as Protocol) !== 'udp') { c.warn(s.name, `Virtual server ${fmt()}: one packet scheduling requires UDP - resetting`); flags &= ~SVC_F.ONEPACKET; }
      if (persistence === 0 && members.some((m) => m.fwmark === 0 && m.port === 0)) {
        c.warn(s.name, `Virtual server ${fmt()}: zero port only valid for persistent services - setting`);
        persistence = DEFAULTS.persistence_timeout;
      }
    }
    if (!byAddr && byMark && protocolTok !== null) c.warn(s.name, `Warning: Virtual server ${fmt()}: protocol specified for fwmark - protocol will be ignored`);
    if (!schedulerSet) c.warn(s.name, `Virtual server ${fmt()}: no scheduler set, setting default '${DEFAULTS.keepalivedScheduler}'`);
    if (flags & (SVC_F.SCHED1 | SVC_F.SCHED2)) {
      // ipvsadm semantics: sh-*/mh-* flags only with their scheduler (keepalived passes them on silently).
      if (!['sh', 'mh'].includes(scheduler)) c.note(s.name, `scheduler flags set on a '${scheduler}' service have no effect`);
    }
    // Real servers: a duplicate of an earlier one is removed; one without a method takes the service's.
    const reals: RealDraft[] = [];
    let methodNoted = false;
    for (const d of drafts) {
      if (reals.some((o) => o.addr === d.addr && (o.port ?? 0) === (d.port ?? 0))) {
        c.warn(d.at, `VS ${fmt()}: real server ${fmtRs(d)} is duplicated - removing second rs`);
        continue;
      }
      if (!d.method && !lbKindSet && !methodNoted) { c.warn(s.name, `Virtual server ${fmt()}: no forwarding method set, setting default NAT`); methodNoted = true; }
      reals.push(d);
    }
    if (sorry && sorryMethod === null && !lbKindSet && !methodNoted) c.warn(s.name, `Virtual server ${fmt()}: no forwarding method set, setting default NAT`);
    const weightSum = reals.reduce((a, d) => a + (d.weight ?? vsWeight), 0);
    if (opt.quorum > weightSum) {
      c.warn(s.name, `Warning - quorum ${opt.quorum} for ${fmt()} exceeds total weight of real servers ${weightSum}, reducing quorum to ${weightSum}`);
      opt.quorum = weightSum;
    }
    if (opt.hysteresis >= opt.quorum) {
      const hy = Math.max(0, opt.quorum - 1);
      c.warn(s.name, `Virtual server ${fmt()}: hysteresis ${opt.hysteresis} >= quorum ${opt.quorum}; setting hysteresis to ${opt.quorum === 0 ? 4294967295 : hy}`);
      opt.hysteresis = hy;
    }
    // Ports: DR and TUN cannot change them; a fwmark service has none.
    for (const d of reals) {
      const m = d.method ?? lbKind;
      if (m.fwd === 'masq' || !d.port) continue;
      if (groupName !== undefined) {
        if (byMark) c.warn(d.at, `WARNING - fwmark virtual server ${fmt()}, real server ${fmtRs(d)} has port specified - port will be ignored`);
        for (const g of members) if (g.fwmark === 0 && g.port !== d.port) c.warn(d.at, `virtual server ${fmt()}:[${g.addr},${g.port}] and real server ${fmtRs(d)} ports don't match`);
      } else if (byMark) c.warn(d.at, `WARNING - fwmark virtual server ${fmt()}, real server ${fmtRs(d)} has port specified - clearing`);
      else if (first && d.port !== first.port) c.warn(d.at, `WARNING - virtual server ${fmt()} and real server ${fmtRs(d)} ports don't match - resetting`);
    }
    if (persistence > 0) flags |= SVC_F.PERSISTENT;

    const svcs: { spec: ServiceSpec; at: SourcePos; again?: true }[] = [];
    for (const m of members) {
      let af = m.af;
      if (m.fwmark > 0 && explicitAf !== null) af = explicitAf;
      if (m.fwmark === 0 && explicitAf !== null && explicitAf !== m.af) c.err(s.name, `ip_family ${explicitAf === 6 ? 'inet6' : 'inet'} does not match the address ${m.addr}`);
      const netmask = netmaskFor(c, af, granularity);
      const fwmark = m.fwmark;
      const spec: ServiceSpec = {
        af, fwmark,
        protocol: fwmark > 0 ? 'tcp' : protocol,
        addr: fwmark > 0 ? (af === 6 ? '::' : '0.0.0.0') : m.addr,
        port: fwmark > 0 ? 0 : m.port,
        scheduler, flags, timeout: persistence > 0 ? persistence : 0, netmask, pe,
      };
      const key = serviceKeyString(spec);
      if (st.svcSeen.has(key)) {
        // keepalived -t accepts it; its daemon's second IPVS add fails with EEXIST, which ipvs_talk
        // takes as success, and this block's real servers are added to the first one's service.
        const p = st.svcSeen.get(key)!;
        c.note(head, `virtual service ${key} is defined twice (first at ${p.file}:${p.line}): as keepalived does, its real servers join the first one's service, whose settings stay`);
        svcs.push({ spec, at: pos(s.name), again: true });
        continue;
      }
      st.svcSeen.set(key, pos(head));
      svcs.push({ spec, at: pos(s.name) });
    }

    if (groupName !== undefined && svcs.length > 256 && reals.some((d) => d.checkers.length > 0)) {
      c.note(s.name, `group ${groupName} makes ${svcs.length} services, each checking its real servers on its own (keepalived checks each real server once per virtual_server)`);
    }
    // Real servers (read once per virtual_server; shared by all group members).
    // keepalived's defaults (check_data.c): a virtual_server mails only when asked, a real_server unless told not to.
    const g = st.global;
    const dflt = { weight: vsWeight, inherit: inh, virtualhost, smtpAlert: g.smtp_alert_checker ?? g.smtp_alert ?? true, proto: proto() };
    for (const { spec, at, again } of svcs) {
      const placed: RealServerConfig[] = [];
      for (const d of reals) {
        const r = placeReal(c, d, dflt, spec, lbKind, opt.inhibit_on_failure);
        if (r) placed.push(r);
      }
      const first = again ? st.services.findIndex((v) => v.key === serviceKeyString(spec)) : -1;
      if (first >= 0) {
        // A real server the first block has already stays as it is there (keepalived's second
        // add of it fails with EEXIST, taken as success).
        const had = st.services[first]!;
        const more = placed.filter((r) => !had.reals.some((o) => o.key === r.key));
        st.services[first] = { ...had, reals: [...had.reals, ...more] };
        continue;
      }
      let sorryCfg: SorryServerConfig | undefined;
      if (sorry) {
        const so = sorry as { addr: string; af: Af; port: number; tok: Tok };
        if (so.af !== spec.af) c.err(so.tok, `sorry server ${so.addr} is IPv${so.af} but the service is IPv${spec.af}`);
        const fwd = sorryMethod ?? lbKind.fwd;
        let port = so.port;
        if (fwd !== 'masq') port = spec.fwmark > 0 ? 0 : spec.port;
        else if (port === 0 && spec.fwmark === 0) port = spec.port;
        if (fwd !== 'masq' && so.port !== 0 && so.port !== port) c.warn(so.tok, `WARNING - virtual server ${fmt()} and sorry server ports don't match - resetting`);
        sorryCfg = { addr: so.addr, port, fwd, weight: 1 };
      }
      if (placed.length === 0) continue;
      st.services.push({
        key: serviceKeyString(spec), spec,
        ...(groupName !== undefined ? { group: groupName } : {}),
        lb_kind: lbKind.fwd, delay_loop: delayLoop,
        alpha: opt.alpha, omega: opt.omega, quorum: opt.quorum, hysteresis: opt.hysteresis,
        ...(quorumUp !== undefined ? { quorum_up: quorumUp } : {}),
        ...(quorumDown !== undefined ? { quorum_down: quorumDown } : {}),
        ...(Object.keys(vsUsers).length ? { script_users: { ...vsUsers } } : {}),
        inhibit_on_failure: opt.inhibit_on_failure, ha_suspend: opt.ha_suspend,
        ...(virtualhost !== undefined ? { virtualhost } : {}),
        ...(sorryCfg ? { sorry_server: sorryCfg } : {}),
        sorry_server_inhibit: opt.sorry_server_inhibit,
        smtp_alert: smtpAlert ?? g.smtp_alert_checker ?? g.smtp_alert ?? false, ka_name: fmt(),
        extra: {}, reals: placed, at,
      });
    }
  }
}
