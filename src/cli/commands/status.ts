/**
 * `tsvs status [--json] [--socket PATH]`: the daemon at a glance: every health checker with its
 * last result, reason and since when; VRRP instances; sync daemons. A thin client of the
 * control API's `status` op.
 */
import { callDaemon, DaemonUnreachable } from '../../daemon/protocol.ts';
import { defaultSocketPath } from '../../daemon/paths.ts';
import { renderStatusTable } from '../../health/render.ts';
import type { HealthStatus } from '../../health/types.ts';
import { renderBgp } from './announce.ts';
import type { DrainObserved } from '../../observe/snapshot.ts';

export const summary = 'show health checkers (state, last result, reason, since when), VRRP and sync (--json)';

const USAGE = 'usage: tsvs status [--json] [--socket PATH]\n';

interface VrrpRow { name: string; state: string; priority: number; vrid: number; interface: string; rx: number; tx: number; dropped: number }
interface SyncRow { state: string; mcastIfn: string; syncid: number; counters: Record<string, number> | null }

export async function run(argv: string[]): Promise<number> {
  let json = false;
  let socket = process.env['TSVS_SOCKET'] ?? defaultSocketPath();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') json = true;
    else if (a === '--socket') socket = argv[++i] ?? socket;
    else if (a === '-h' || a === '--help') { process.stdout.write(USAGE); return 0; }
    else { process.stderr.write(`tsvs status: unknown option '${a}'\n${USAGE}`); return 2; }
  }
  let r;
  try {
    r = await callDaemon(socket, { v: 1, id: 1, op: 'status' }, 10_000);
  } catch (e) {
    if (e instanceof DaemonUnreachable) {
      process.stderr.write(`tsvs status: cannot reach the daemon at ${socket}\n`);
      return 1;
    }
    throw e;
  }
  if (!r.ok) {
    process.stderr.write(`tsvs status: ${r.error.code}: ${r.error.message}\n`);
    return 1;
  }
  const { v: _v, id: _id, ok: _ok, ...st } = r;
  if (json) {
    process.stdout.write(JSON.stringify(st, null, 2) + '\n');
    return 0;
  }
  const out: string[] = [];
  out.push(`tsvs daemon pid ${String(st['pid'])}, up ${String(st['uptimeSeconds'])} s, forwarder ${String(st['forwarder'])}, ${String(st['services'])} services, ${String(st['destinations'])} real servers, ${String(st['connections'])} connections`);
  if (st['config']) out.push(`configuration: ${String(st['config'])} (${String(st['format'])})`);
  const pf = st['listeners'] as { forwarder?: string; fastPath?: Record<string, number | string> | null; fastPathError?: string } | undefined;
  if (pf && pf.forwarder === 'packet') {
    const fp = pf.fastPath;
    if (fp) out.push(`kernel fast path ${String(fp['kind'])}: ${String(fp['flows'])} flows, ${String(fp['forwarded'])} packets forwarded, ${String(fp['events'])} reported, ${String(fp['aheadTaken'] ?? 0)} connections taken ahead`);
    else out.push(`kernel fast path off${pf.fastPathError ? ` (${pf.fastPathError})` : ''}`);
  }
  const health = st['health'] as HealthStatus | null | undefined;
  if (health && health.services.length > 0) out.push('', renderStatusTable(health).trimEnd());
  else out.push('', 'no health checks (rules from tsvsadm/--rules are not checked; use --keepalived or --ldirectord)');
  const vrrp = (st['vrrp'] as VrrpRow[] | undefined) ?? [];
  if (vrrp.length > 0) {
    out.push('', 'VRRP INSTANCE        STATE    PRIO VRID INTERFACE     RX      TX      DROPPED');
    for (const v of vrrp) out.push(`${v.name.padEnd(20)} ${v.state.padEnd(8)} ${String(v.priority).padStart(4)} ${String(v.vrid).padStart(4)} ${v.interface.padEnd(12)} ${String(v.rx).padStart(7)} ${String(v.tx).padStart(7)} ${String(v.dropped).padStart(7)}`);
  }
  const drains = (st['drains'] as DrainObserved[] | undefined) ?? [];
  for (const d of drains) {
    const rip = d.dest.addr.includes(':') ? `[${d.dest.addr}]:${d.dest.port}` : `${d.dest.addr}:${d.dest.port}`;
    out.push(d.state === 'draining'
      ? `draining ${d.service} -> ${rip}: ${d.activeConns} active connections, ${Math.max(0, Math.ceil((d.deadline - Date.now()) / 1000))} s left, then ${d.then}`
      : `drain of ${d.service} -> ${rip}: ${d.state}${d.error ? ` (${d.error})` : ''}`);
  }
  const sync = (st['syncDaemons'] as SyncRow[] | undefined) ?? [];
  for (const s of sync) out.push(`sync daemon ${s.state} on ${s.mcastIfn} syncid ${s.syncid}: ${JSON.stringify(s.counters)}`);
  if (st['bgp']) out.push('', ...renderBgp(st['bgp'] as Record<string, unknown>));
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}
