/**
 * keepalived's operator signals (keepalived 2.2.7 vrrp_print.c / check_print.c): SIGUSR1 writes
 * the VRRP data dump (TMP/keepalived.data) and the checker dump (TMP/keepalived_check.data),
 * SIGUSR2 the VRRP statistics (TMP/keepalived.stats); TMP is --dump-dir, keepalived's /tmp by
 * default. Section headers and line layout are keepalived's, for what tsvs has, so operators'
 * greps and scripts keep working.
 * The renderers are pure (status snapshot -> text); writeKaDump does the file part.
 */
import { writeFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { VrrpStatus } from '../ha/vrrp-service.ts';
import type { HealthStatus } from '../health/types.ts';
import { NO_VRRP_ERRORS } from '../ha/vrrp-instance.ts';

/** keepalived's KA_TMP_DIR. */
export const KA_DUMP_DIR_DEFAULT = '/tmp';
export const KA_DATA_FILE = 'keepalived.data';
export const KA_CHECK_DATA_FILE = 'keepalived_check.data';
export const KA_STATS_FILE = 'keepalived.stats';

/** keepalived's dump_vrrp for the fields tsvs's VRRP status carries. */
export function renderKaData(vrrp: readonly VrrpStatus[]): string {
  const out: string[] = [];
  if (vrrp.length > 0) out.push('------< VRRP Topology >------');
  for (const v of vrrp) {
    out.push(` VRRP Instance = ${v.name}`);
    if (v.version) out.push(`   VRRP Version = ${v.version}`);
    out.push(`   State = ${v.state === 'STOP' ? 'unknown' : v.state}`);
    out.push(`   Interface = ${v.interface}`);
    out.push(`   Virtual Router ID = ${v.vrid}`);
    out.push(`   Priority = ${v.basePriority ?? v.priority}`);
    out.push(`   Effective priority = ${v.priority}`);
    const addrs: NonNullable<VrrpStatus['addresses']> = v.addresses ?? v.vips.map((a) => ({ addr: a, prefix: -1 }));
    if (addrs.length > 0) {
      out.push(`   Virtual IP (${addrs.length}):`);
      // keepalived's format_ipaddress; it appends " set" to an address it has installed: a master's
      for (const a of addrs) {
        const text = kaAddr(a.prefix >= 0 ? `${a.addr}/${a.prefix}` : a.addr);
        out.push(`     ${text} dev ${a.dev ?? v.interface} scope ${a.scope ?? 'global'}${a.label ? ` label ${a.label}` : ''}${v.state === 'MASTER' ? ' set' : ''}`);
      }
    }
  }
  return out.length ? out.join('\n') + '\n' : '';
}

/** keepalived's ipaddresstos: the prefix only when it is not a host one. */
function kaAddr(a: string): string {
  const m = /^(.*)\/(\d+)$/.exec(a);
  if (!m) return a;
  const host = a.includes(':') ? '128' : '32';
  return m[2] === host ? m[1]! : a;
}

/** "ADDR:PORT" / "[ADDR6]:PORT" -> [addr, port]. */
function splitHostPort(s: string): [string, number] {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(s);
  return m ? [m[1]!, Number(m[2])] : [s, 0];
}

/**
 * keepalived's dump_check_data (LVS Topology: dump_vs / dump_rs, in their order) for tsvs's health
 * status. A virtual server is alive (in the table) while its quorum is up or its sorry server
 * serves; a real server's WEIGHT is its effective weight (keepalived's real_weight), alive its
 * health verdict.
 */
export function renderKaCheckData(health: HealthStatus | null): string {
  if (!health || health.services.length === 0) return '';
  const out: string[] = ['------< LVS Topology >------'];
  for (const s of health.services) {
    out.push(' ------< Virtual server >------');
    if (s.key.fwmark) out.push(` VS FWMARK = ${s.key.fwmark}`);
    else out.push(` VS VIP = ${s.key.addr}, VPORT = ${s.key.port}`);
    out.push(`   Address family = inet${s.key.af === 6 ? '6' : ''}`);
    out.push(`   protocol = ${s.key.fwmark ? 'none' : s.key.protocol.toUpperCase()}`);
    out.push(`   quorum = ${s.quorum}, hysteresis = ${s.hysteresis}`);
    out.push(`   alive = ${s.quorumUp || s.sorryActive ? 1 : 0}`);
    out.push(`   quorum_state_up = ${s.quorumUp ? 1 : 0}`);
    for (const d of s.dests) {
      if (d.sorry) continue;
      const [ip, port] = splitHostPort(d.dest);
      const eff = d.effectiveWeight;
      out.push('   ------< Real server >------');
      out.push(`   RIP = ${ip}, RPORT = ${port}, WEIGHT = ${Math.max(0, eff)} EFF WEIGHT = ${eff}`);
      out.push(`   initial weight = ${d.configuredWeight}`);
      out.push(`   effective weight = ${eff}`);
      out.push(`   alive = ${d.alive ? 1 : 0}`);
      out.push(`   num failed checkers = ${d.checkers.filter((c) => c.state === 'down').length}`);
    }
  }
  return out.join('\n') + '\n';
}

/**
 * keepalived's vrrp_print_stats. tsvs does not compare advert address lists (keepalived's
 * addr_list_err), so that line is always 0.
 */
export function renderKaStats(vrrp: readonly VrrpStatus[]): string {
  const out: string[] = [];
  for (const v of vrrp) {
    const e = v.errors ?? NO_VRRP_ERRORS;
    out.push(
      `VRRP Instance: ${v.name}`,
      '  Advertisements:',
      `    Received: ${v.rx}`,
      `    Sent: ${v.tx}`,
      `  Became master: ${v.becameMaster}`,
      `  Released master: ${v.releasedMaster}`,
      '  Packet Errors:',
      `    Length: ${e.length}`,
      `    TTL: ${e.ttl}`,
      `    Invalid Type: ${e.invalidType}`,
      `    Advertisement Interval: ${e.advertInterval}`,
      '    Address List: 0',
      '  Authentication Errors:',
      `    Invalid Type: ${e.invalidAuthType}`,
      `    Type Mismatch: ${e.authTypeMismatch}`,
      `    Failure: ${e.authFailure}`,
      '  Priority Zero:',
      `    Received: ${e.priZeroRcvd}`,
      `    Sent: ${e.priZeroSent}`,
    );
  }
  return out.length ? out.join('\n') + '\n' : '';
}

export interface KaDumpSources {
  readonly vrrp: () => readonly VrrpStatus[];
  /** Absent for `tsvs vrrp` (keepalived --vrrp has no checker process, so no keepalived_check.data). */
  readonly health?: () => HealthStatus | null;
}

/**
 * Writes the files a signal asks for into dir (whole: a temporary file renamed over the old one,
 * so a reader never sees half a dump). Returns the paths written.
 */
export function writeKaDump(signal: 'SIGUSR1' | 'SIGUSR2', dir: string, src: KaDumpSources): string[] {
  const files: [string, string][] = signal === 'SIGUSR2'
    ? [[KA_STATS_FILE, renderKaStats(src.vrrp())]]
    : [[KA_DATA_FILE, renderKaData(src.vrrp())], ...(src.health ? [[KA_CHECK_DATA_FILE, renderKaCheckData(src.health())] as [string, string]] : [])];
  return files.map(([name, text]) => {
    const path = join(dir, name);
    const tmp = `${path}.${process.pid}.tmp`;
    // /tmp is shared: never follow a planted link (keepalived's fopen_safe). 'wx' creates
    // exclusively; the rename replaces a link at `path` instead of writing through it.
    rmSync(tmp, { force: true });
    writeFileSync(tmp, text, { mode: 0o644, flag: 'wx' });
    renameSync(tmp, path);
    return path;
  });
}

/**
 * keepalived's SIGUSR1 / SIGUSR2. A file that cannot be written is logged and the daemon runs on
 * (keepalived: "Can't open ..."). Node's own SIGUSR1 use (starting the inspector) is replaced by
 * the listener, as keepalived operators expect.
 */
export function onKaDumpSignals(dir: string, src: KaDumpSources, log: { info(o: object, m: string): void; warn(o: object, m: string): void }): void {
  for (const signal of ['SIGUSR1', 'SIGUSR2'] as const) {
    process.on(signal, () => {
      try {
        log.info({ signal, files: writeKaDump(signal, dir, src) }, signal === 'SIGUSR1' ? 'keepalived data dump written' : 'keepalived statistics written');
      } catch (e) {
        log.warn({ signal, err: (e as Error).message }, 'cannot write the keepalived dump');
      }
    });
  }
}
