/**
 * keepalived's operator signals (keepalived 2.2.7 vrrp_print.c / check_print.c): SIGUSR1 writes
 * the VRRP data dump (TMP/keepalived.data) and the checker dump (TMP/keepalived_check.data),
 * SIGUSR2 the VRRP statistics (TMP/keepalived.stats); TMP is /tmp. Section headers and line
 * layout are keepalived's, for what tsvs has, so operators' greps and scripts keep working.
 * The renderers are pure (status snapshot -> text); writeKaDump does the file part.
 */
import { writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { VrrpStatus } from '../ha/vrrp-service.ts';
import type { HealthStatus } from '../health/types.ts';

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
    out.push(`   State = ${v.state === 'STOP' ? 'unknown' : v.state}`);
    out.push(`   Interface = ${v.interface}`);
    out.push(`   Virtual Router ID = ${v.vrid}`);
    out.push(`   Priority = ${v.priority}`);
    if (v.vips.length > 0) {
      out.push(`   Virtual IP (${v.vips.length}):`);
      for (const a of v.vips) out.push(`     ${kaAddr(a)} dev ${v.interface} scope global`);
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

/** keepalived's dump_check_data (LVS Topology: dump_vs / dump_rs) for tsvs's health status. */
export function renderKaCheckData(health: HealthStatus | null): string {
  if (!health || health.services.length === 0) return '';
  const out: string[] = ['------< LVS Topology >------'];
  for (const s of health.services) {
    out.push(' ------< Virtual server >------');
    if (s.key.fwmark) out.push(` VS FWMARK = ${s.key.fwmark}`);
    else out.push(` VS VIP = ${s.key.addr}, VPORT = ${s.key.port}`);
    out.push(`   protocol = ${s.key.fwmark ? 'NONE' : s.key.protocol.toUpperCase()}`);
    out.push(`   alive = ${s.quorumUp ? 1 : 0}`);
    out.push(`   quorum = ${s.quorum}, hysteresis = ${s.hysteresis}`);
    for (const d of s.dests) {
      if (d.sorry) continue;
      const [ip, port] = splitHostPort(d.dest);
      out.push('   ------< Real server >------');
      out.push(`   RIP = ${ip}, RPORT = ${port}, WEIGHT = ${d.weight ?? 0} EFF WEIGHT = ${d.effectiveWeight}`);
      out.push(`   initial weight = ${d.configuredWeight}`);
      out.push(`   effective weight = ${d.effectiveWeight}`);
      out.push(`   alive = ${d.alive ? 1 : 0}`);
      out.push(`   num failed checkers = ${d.checkers.filter((c) => c.state === 'down').length}`);
    }
  }
  return out.join('\n') + '\n';
}

/**
 * keepalived's vrrp_print_stats. tsvs counts the adverts it drops as one total, not per cause:
 * the per-cause lines are written as keepalived lays them out (0), and the total follows on a
 * last line of the block, so nothing counted is hidden.
 */
export function renderKaStats(vrrp: readonly VrrpStatus[]): string {
  const out: string[] = [];
  for (const v of vrrp) {
    out.push(
      `VRRP Instance: ${v.name}`,
      '  Advertisements:',
      `    Received: ${v.rx}`,
      `    Sent: ${v.tx}`,
      `  Became master: ${v.becameMaster}`,
      `  Released master: ${v.releasedMaster}`,
      '  Packet Errors:',
      '    Length: 0',
      '    TTL: 0',
      '    Invalid Type: 0',
      '    Advertisement Interval: 0',
      '    Address List: 0',
      '  Authentication Errors:',
      '    Invalid Type: 0',
      '    Type Mismatch: 0',
      '    Failure: 0',
      '  Priority Zero:',
      '    Received: 0',
      '    Sent: 0',
      `  Dropped (all causes): ${v.dropped}`,
    );
  }
  return out.length ? out.join('\n') + '\n' : '';
}

export interface KaDumpSources {
  readonly vrrp: () => readonly VrrpStatus[];
  readonly health: () => HealthStatus | null;
}

/**
 * Writes the files a signal asks for into dir (whole: a temporary file renamed over the old one,
 * so a reader never sees half a dump). Returns the paths written.
 */
export function writeKaDump(signal: 'SIGUSR1' | 'SIGUSR2', dir: string, src: KaDumpSources): string[] {
  const files: [string, string][] = signal === 'SIGUSR1'
    ? [[KA_DATA_FILE, renderKaData(src.vrrp())], [KA_CHECK_DATA_FILE, renderKaCheckData(src.health())]]
    : [[KA_STATS_FILE, renderKaStats(src.vrrp())]];
  return files.map(([name, text]) => {
    const path = join(dir, name);
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, text, { mode: 0o644 });
    renameSync(tmp, path);
    return path;
  });
}
