/** keepalived.conf `global_defs { ... }`: the keywords the load balancer uses, the rest kept as written. */
import { lines, type KaState, type Table } from './context.ts';
import { kaBool, kaDecimal, kaInt } from './numbers.ts';
import { tsvsDaemonKeywords } from './keywords.ts';
import type { Tok } from '../kalex.ts';
import { canonicalIp, isMulticast, parseIp } from '../../core/addr.ts';
import { isLinkLocalMulticast6 } from './mcast.ts';

/** tsvs's own global_defs keywords (src/daemon/observers.ts; keepalived itself calls them unknown): the HTTP listener, its tokens, the /proc files, slow start. */
const OWN_KEYWORDS = ['tsvs_http', 'tsvs_http_token', 'tsvs_procfs', 'tsvs_slow_start'];

/**
 * keepalived 2.2.7 global_defs keywords that tsvs reads and keeps as written but does not act on:
 * keepalived -t accepts them (so config-test's exit does not change), and config-test says at
 * file:line what keepalived would do that tsvs does not (issue 14: never silently ignored).
 */
const SINGLE_PROCESS = 'tsvs runs as one process, with no separate VRRP, checker or BFD child to tune';
const GLOBAL_NOT_ACTED_ON: Readonly<Record<string, string>> = {
  ...Object.fromEntries([
    'vrrp_garp_master_delay', 'vrrp_garp_master_repeat', 'vrrp_garp_master_refresh', 'vrrp_garp_master_refresh_repeat',
    'vrrp_garp_interval', 'vrrp_gna_interval', 'vrrp_min_garp', 'vrrp_lower_prio_no_advert', 'vrrp_higher_prio_send_advert',
    'vrrp_skip_check_adv_addr', 'vrrp_startup_delay', 'vrrp_rx_bufs_policy', 'default_interface',
    'max_auto_priority', 'min_auto_priority_delay', 'linkbeat_use_polling', 'vrrp_iptables', 'vrrp_ipsets', 'namespace_with_ipsets',
    'vrrp_netlink_monitor_rcv_bufs', 'lvs_netlink_monitor_rcv_bufs',
  ].map((k) => [k, 'the global default is not applied: instances and checkers keep their own settings and keepalived\'s built-in defaults'])),
  ...Object.fromEntries([
    'vrrp_priority', 'checker_priority', 'bfd_priority', 'vrrp_no_swap', 'checker_no_swap', 'vrrp_rlimit_rttime', 'checker_rlimit_rttime',
    'vrrp_rt_priority', 'checker_rt_priority', 'process_names', 'process_name', 'vrrp_process_name', 'checker_process_name',
  ].map((k) => [k, SINGLE_PROCESS])),
  ...Object.fromEntries(['notify_fifo', 'notify_fifo_script', 'vrrp_notify_fifo', 'vrrp_notify_fifo_script', 'lvs_notify_fifo', 'lvs_notify_fifo_script']
    .map((k) => [k, 'no notify FIFO is written: use notify scripts, or the HTTP API\'s events'])),
  ...Object.fromEntries(['enable_traps', 'snmp_socket', 'enable_snmp_vrrp', 'enable_snmp_checker', 'enable_snmp_rfc']
    .map((k) => [k, 'tsvs has no SNMP agent: use its Prometheus metrics (tsvs_http)'])),
  dynamic_interfaces: 'an address or instance on an interface that does not exist is dropped when read, not kept for when it appears',
  checker_log_all_failures: 'checkers log their failures as tsvs always does, not every failed attempt',
  enable_dbus: 'tsvs has no D-Bus interface: use its HTTP API',
  startup_script: 'the script is not run at start',
  shutdown_script: 'the script is not run at stop',
  instance: 'the instance name does not change tsvs\'s file names',
  net_namespace: 'tsvs runs in the network namespace it was started in',
  use_pid_dir: 'tsvs writes no pid files of its own',
  random_seed: 'tsvs does not seed a random generator from it',
  reload_check_config: 'a reload is checked anyway, and a bad file never replaces the running one',
  reload_time_file: 'no timed reload',
  data_use_instance: 'the data dump\'s name does not take the instance',
  tmp_config_directory: 'no temporary configuration copies are made',
};

export function globalDefsTable(st: KaState): Table {
  const { c, global } = st;
  const t: Table = {
    router_id: { run: (s) => { const a = c.arg(s, 0, 'a router id'); if (a) global.router_id = a.text; c.extra(s, 1); } },
    notification_email: { run: (s) => { global.notification_email.push(...lines(s.block)); } },
    notification_email_from: { run: (s) => { const a = c.arg(s, 0, 'an e-mail address'); if (a) global.notification_email_from = a.text; c.extra(s, 1); } },
    smtp_server: { run: (s) => { const a = c.ip(s, 0, 'the SMTP server address'); if (a) global.smtp_server = a.addr; if (s.args[1]) { const p = c.num(s, 1, 'the SMTP port', 1, 65535); if (p !== null) global.smtp_port = p; } c.extra(s, 2); } },
    smtp_helo_name: { run: (s) => { if (s.args[0]) global.smtp_helo_name = s.args[0].text; } },
    no_email_faults: { run: () => { global.no_email_faults = true; } },
    smtp_connect_timeout: { run: (s) => { const v = c.num(s, 0, 'seconds', 0, 86400, false); if (v !== null) global.smtp_connect_timeout = v; c.extra(s, 1); } },
    lvs_timeouts: {
      run: (s) => {
        const to = { tcp: 0, tcpfin: 0, udp: 0 };
        for (let i = 0; i < s.args.length; i += 2) {
          const k = s.args[i]!.text;
          if (k !== 'tcp' && k !== 'tcpfin' && k !== 'udp') { c.err(s.args[i]!, `expected tcp|tcpfin|udp, got '${k}'`); continue; }
          const v = c.num(s, i + 1, `seconds for ${k}`, 0, 86400 * 365);
          if (v !== null) to[k] = v;
        }
        global.lvs_timeouts = to;
      },
    },
    lvs_sync_daemon: {
      run: (s) => {
        const ifn = c.arg(s, 0, 'an interface name');
        const inst = c.arg(s, 1, 'a vrrp_instance name');
        let syncid = 0;
        for (let i = 2; i < s.args.length; i++) {
          if (s.args[i]!.text === 'id') { syncid = c.num(s, i + 1, 'a sync id', 0, 255) ?? 0; i++; }
          else if (['maxlen', 'port', 'ttl', 'group'].includes(s.args[i]!.text)) { i++; }
          else c.warn(s.args[i]!, `unknown lvs_sync_daemon option '${s.args[i]!.text}'; ignored`);
        }
        if (ifn && inst) global.lvs_sync_daemon = { interface: ifn.text, instance: inst.text, syncid };
      },
    },
    lvs_flush: { run: () => { global.lvs_flush = true; } },
    // Read by the line reader (kalex.ts), which applies it to the includes that follow.
    include_check: { run: () => {} },
    script_user: { run: (s) => { const a = c.arg(s, 0, 'a user name'); if (a) global.script_user = s.args.slice(0, 2).map((x) => x.text).join(' '); c.extra(s, 2); } },
    enable_script_security: { run: (s) => { global.enable_script_security = true; c.extra(s, 0); } },
    lvs_flush_onstop: { run: (s) => { global.options['lvs_flush_onstop'] = s.args.map((a) => a.text).join(' ') || 'true'; } },
    smtp_connection_timeout: { run: (s) => { c.warn(s.name, "'smtp_connection_timeout' is not a keepalived keyword (did you mean smtp_connect_timeout?); ignored"); } },
  };
  // A keyword kept as written in global.options.
  const keep = (s: Parameters<Table[string]['run']>[0]): void => { global.options[s.name.text] = s.args.map((a) => a.text).join(' '); };
  for (const k of OWN_KEYWORDS) t[k] = { run: keep };
  const notActedOn = (s: Parameters<Table[string]['run']>[0]): void => {
    keep(s);
    c.warn(s.name, `'${s.name.text}' is read but tsvs does not act on it: ${GLOBAL_NOT_ACTED_ON[s.name.text]}`, 'none');
  };
  for (const k of Object.keys(GLOBAL_NOT_ACTED_ON)) t[k] = { run: notActedOn };
  // The default VRRP multicast groups (global_parser.c vrrp_mcast_group4/6_handler, in its
  // words); an instance's mcast_dst_ip overrides them (vrrp-complete.ts).
  for (const af of [4, 6] as const) {
    const k = `vrrp_mcast_group${af}`;
    t[k] = { run: (s) => {
      const a = c.arg(s, 0, 'a multicast address');
      if (!a) return;
      const ip = parseIp(a.text);
      if (!ip) { c.warn(a, `Can't parse ${k} [${a.text}]. Skipping`); return; }
      if (ip.af !== af) { c.warn(a, `${k} [${a.text}] is not IPv${af}. Skipping`); return; }
      if (!isMulticast(ip)) { c.warn(a, `${k} [${a.text}] is not multicast. Skipping`); return; }
      if (af === 6 && !isLinkLocalMulticast6(ip)) c.warn(a, `${k} [${a.text}] should be link-local multicast.`);
      st.vrrpGlobal[af === 4 ? 'mcastGroup4' : 'mcastGroup6'] = canonicalIp(a.text)!;
      keep(s);
    } };
  }
  // tsvs daemon options (tsvs_bgp_as 65001): kept with their places; the daemon checks the values.
  for (const [k, n] of Object.entries(tsvsDaemonKeywords)) {
    t[k] = { run: (s) => {
      if (!c.arg(s, 0, n === 'many' ? 'one or more values' : 'a value')) return;
      if (n === 'one') c.extra(s, 1);
      const at = (x: Tok) => ({ file: x.file, line: x.line, col: x.col });
      const words = n === 'many' ? s.args : s.args.slice(0, 1);
      (global.daemonOptions ??= []).push({ keyword: k, key: k.slice('tsvs_'.length).replace(/_/g, '-'), values: words.map((w) => ({ text: w.text, at: at(w) })), at: at(s.name) });
    } };
  }
  // VRRP settings keepalived checks while reading (global_parser.c), kept as written too.
  t['vrrp_strict'] = { run: (s) => { st.vrrpGlobal.strict = true; keep(s); } };
  t['vrrp_check_unicast_src'] = { run: (s) => { st.vrrpGlobal.checkUnicastSrc = true; keep(s); } };
  // Link-local addresses refused by interface index even under dont_track_primary (ha/accept-firewall.ts).
  t['nftables_ifindex'] = { run: (s) => { st.vrrpGlobal.nftIfindex = true; keep(s); } };
  t['vrrp_version'] = { run: (s) => {
    const a = c.arg(s, 0, 'a VRRP version');
    if (!a) return;
    const v = kaInt(c, a, 2, 3);
    if (v === null) { c.warn(a, 'VRRP Error: Version must be either 2 or 3'); return; }
    st.vrrpGlobal.version = v as 2 | 3;
    keep(s);
  } };
  // The defaults of the vrrp_instance / sync group / virtual_server / real_server smtp_alert.
  for (const k of ['smtp_alert', 'smtp_alert_vrrp', 'smtp_alert_checker', 'no_checker_emails'] as const) {
    t[k] = { run: (s) => {
      const v = s.args[0] ? kaBool(s.args[0].text) : true;
      if (v === null) { c.warn(s.args[0]!, `Invalid value '${s.args[0]!.text}' for global ${k} specified`); return; }
      global[k] = v;
    } };
  }
  for (const k of ['vrrp_garp_interval', 'vrrp_gna_interval']) {
    t[k] = { run: (s) => {
      const a = c.arg(s, 0, 'seconds');
      if (!a) return;
      const v = kaDecimal(c, a, 0.000001, 4294.967295);
      if (v === null) { c.warn(a, `${k} '${a.text}' is invalid`); return; }
      if (v >= 1) c.warn(a, `The ${k} is very large - ${a.text} seconds`, 'log');
      notActedOn(s);
    } };
  }
  return t;
}
