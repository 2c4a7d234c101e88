/**
 * `tsvs announce [status|drain|resume] [--json] [--socket PATH]`: the BGP announcement of a
 * daemon started with `--bgp bird` (docs/SCALE-OUT.md). drain withdraws every prefix while the
 * director keeps forwarding (the routers move its flows to the other directors, which continue
 * them: mh + --sloppy-tcp on); resume announces again. A thin client of the control API.
 */
import { callDaemon, DaemonUnreachable } from '../../daemon/protocol.ts';
import { defaultSocketPath } from '../../daemon/paths.ts';
import { UsageError } from '../../core/errors.ts';

export const summary = 'BGP announcement of a --bgp daemon: status, drain (withdraw, keep forwarding), resume';

const USAGE = `usage: tsvs announce [status|drain|resume] [--json] [--socket PATH]

status (default): the prefixes, whether each is announced and why, BIRD and its BGP sessions
drain:  withdraw every prefix; the director keeps forwarding what still reaches it
resume: announce again (each prefix once its services are up)
`;

interface PrefixRow { prefix: string; announced: boolean; reason: string }
interface PeerRow { name: string; address: string; state: string; bgpState: string; since: string; info: string }

/** The announcement as lines (also used by `tsvs status`). */
export function renderBgp(b: Record<string, unknown>): string[] {
  const out: string[] = [];
  const bird = b['bird'] as { running: boolean; pid: number | null; starts: number; error: string | null } | null;
  out.push(`BGP (${String(b['daemon'])}): AS ${String(b['localAs'])} -> AS ${String(b['peerAs'])}, router id ${String(b['routerId'])}, hold ${String(b['holdSeconds'])} s${b['draining'] ? ', DRAINING' : ''}; BIRD ${bird?.running ? `pid ${bird.pid}` : 'not running'}${bird?.error ? ` (${bird.error})` : ''}`);
  for (const p of (b['prefixes'] as PrefixRow[] | undefined) ?? []) out.push(`  ${p.prefix.padEnd(24)} ${p.announced ? 'announced' : 'withdrawn'.padEnd(9)}  ${p.reason}`);
  for (const p of (b['peers'] as PeerRow[] | undefined) ?? []) out.push(`  peer ${p.address.padEnd(20)} ${p.bgpState || p.state}${p.info ? ` (${p.info})` : ''} since ${p.since}`);
  return out;
}

export async function run(argv: string[]): Promise<number> {
  let json = false;
  let action: 'status' | 'drain' | 'resume' = 'status';
  let socket = process.env['TSVS_SOCKET'] ?? defaultSocketPath();
  let verb = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') json = true;
    else if (a === '--socket') {
      const v = argv[++i];
      if (v === undefined) throw new UsageError('--socket needs a path');
      socket = v;
    } else if (a === '-h' || a === '--help') { process.stdout.write(USAGE); return 0; }
    else if (!verb && (a === 'status' || a === 'drain' || a === 'resume')) { action = a; verb = true; }
    else { process.stderr.write(`tsvs announce: unexpected '${a}'\n${USAGE}`); return 2; }
  }
  let r;
  try {
    r = await callDaemon(socket, { v: 1, id: 1, op: 'announce', action }, 10_000);
  } catch (e) {
    if (e instanceof DaemonUnreachable) {
      process.stderr.write(`tsvs announce: cannot reach the daemon at ${socket}\n`);
      return 1;
    }
    throw e;
  }
  if (!r.ok) {
    process.stderr.write(`tsvs announce: ${r.error.code}: ${r.error.message}\n`);
    return 1;
  }
  const b = r['bgp'] as Record<string, unknown>;
  process.stdout.write(json ? JSON.stringify(b, null, 2) + '\n' : renderBgp(b).join('\n') + '\n');
  return 0;
}
