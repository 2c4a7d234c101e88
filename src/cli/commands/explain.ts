/**
 * `tsvs explain -t|-u VIP:PORT | -f MARK [-6] CLIENT[:PORT]`: which real server a new connection
 * from CLIENT would get now and why, or the client's existing connection entry. A dry run in the
 * running daemon (control-API op `explain`, src/daemon/explain.ts): nothing changes. A thin client.
 */
import { parseArgs } from 'node:util';
import { callDaemon, DaemonUnreachable } from '../../daemon/protocol.ts';
import { defaultSocketPath } from '../../daemon/paths.ts';
import { parseIpvsadm, isFailure } from '../../ipvsadm/index.ts';
import { parseIp } from '../../core/addr.ts';
import type { Explanation } from '../../core/explain.ts';

export const summary = 'which real server a new connection from a client would get now, and why (changes nothing)';

const HELP = `usage: tsvs explain -t|-u VIP:PORT | -f MARK [-6] CLIENT[:PORT] [options]

Asks the running daemon where a new connection from CLIENT to the service would go now, and
why: the scheduler and its state, the client's persistence template if there is one, the real
servers skipped (weight 0, overloaded by their thresholds, draining). With a client port, the
client's existing connection entry is shown instead when there is one. Nothing changes: no
entry is created and no scheduler moves. Addresses are numeric; IPv6 as [ADDR]:PORT.

  -6                   the -f service is IPv6
  --json               print the explanation as JSON
  --socket PATH        the daemon's control socket

Exit status: 0 a real server was found (existing, template or scheduled), 1 none (no eligible
real server, port mismatch), no such service or no daemon, 2 usage.
`;

/** CLIENT[:PORT]: 10.1.2.3, 10.1.2.3:4000, 2001:db8::1, [2001:db8::1]:4000. */
export function parseClient(s: string): { addr: string; port: number | null } | null {
  let addr = s, port: string | null = null;
  const b = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (b) {
    addr = b[1]!;
    port = b[2] ?? null;
  } else if (s.split(':').length === 2) {
    [addr, port] = s.split(':') as [string, string];
  }
  if (!parseIp(addr)) return null;
  if (port === null) return { addr, port: null };
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) return null;
  return { addr, port: Number(port) };
}

const hp = (addr: string, port: number): string => (addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`);

export function formatExplanation(x: Explanation): string {
  const out: string[] = [];
  const who = x.client.port === null ? x.client.addr : hp(x.client.addr, x.client.port);
  out.push(`${x.service}  scheduler ${x.scheduler}${x.persistent ? `, persistent ${x.timeout} s (netmask ${x.netmask})` : ''}`);
  switch (x.outcome) {
    case 'existing': {
      const c = x.connection!;
      out.push(`${who} has a connection: ${c.protocol} ${c.state}, expires in ${c.expiresIn} s -> ${hp(c.daddr, c.dport)}`);
      break;
    }
    case 'template':
      out.push(`a new connection from ${who} -> ${hp(x.dest!.addr, x.dest!.port)}: persistence template ${x.template!.caddr} (expires in ${x.template!.expiresIn} s)`);
      break;
    case 'scheduled':
      out.push(`a new connection from ${who} -> ${hp(x.dest!.addr, x.dest!.port)}: chosen by ${x.scheduler}`);
      break;
    case 'no-dest':
      out.push(`a new connection from ${who} would be refused: ${x.scheduler} finds no eligible real server`);
      break;
    case 'port-mismatch':
      out.push(`a new connection from ${who} would be refused: the service takes only its own port`);
      break;
  }
  if (x.template && x.templateUnusable) out.push(`persistence template ${x.template.caddr} -> ${x.template.daddr} not used: ${x.templateUnusable}`);
  const st = Object.entries(x.schedulerState);
  if (st.length) out.push(`scheduler state: ${st.map(([k, v]) => `${k}=${v === null ? 'head' : String(v)}`).join(' ')}`);
  out.push('  real server              weight  thresholds  active  inactive  persist  skipped');
  for (const d of x.dests) {
    const chosen = x.dest && d.addr === x.dest.addr && d.port === x.dest.port ? '*' : ' ';
    out.push(`${chosen} ${hp(d.addr, d.port).padEnd(24)} ${String(d.weight).padStart(6)}  ${`${d.lThreshold}/${d.uThreshold}`.padStart(10)}  ${String(d.activeConns).padStart(6)}  ${String(d.inactConns).padStart(8)}  ${String(d.persistConns).padStart(7)}  ${d.skipped.join(',') || '-'}`);
  }
  for (const n of x.notes) out.push(`note: ${n}`);
  return out.join('\n') + '\n';
}

export async function run(argv: string[]): Promise<number> {
  let a, pos: string[];
  try {
    const r = parseArgs({
      args: argv,
      options: {
        'tcp-service': { type: 'string', short: 't' },
        'udp-service': { type: 'string', short: 'u' },
        'fwmark-service': { type: 'string', short: 'f' },
        ipv6: { type: 'boolean', short: '6' },
        json: { type: 'boolean' },
        socket: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: true,
    });
    a = r.values;
    pos = r.positionals;
  } catch (e) {
    process.stderr.write(`tsvs explain: ${(e as Error).message}\n${HELP}`);
    return 2;
  }
  if (a.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const bad = (m: string): number => {
    process.stderr.write(`tsvs explain: ${m}\n`);
    return 2;
  };
  const svcs = [['-t', a['tcp-service']], ['-u', a['udp-service']], ['-f', a['fwmark-service']]].filter(([, v]) => v !== undefined) as [string, string][];
  if (svcs.length !== 1) return bad('give exactly one service: -t|-u VIP:PORT or -f MARK');
  if (pos.length !== 1) return bad('give one client: CLIENT[:PORT]');
  const client = parseClient(pos[0]!);
  if (!client) return bad(`'${pos[0]}' is not a numeric CLIENT[:PORT]`);
  // The same parser as tsvsadm -D: addresses, ports, IPv6 brackets, -f with -6.
  const parsed = parseIpvsadm(['-D', svcs[0]![0], svcs[0]![1], ...(a.ipv6 ? ['-6'] : [])]);
  if (isFailure(parsed)) return bad(parsed.message);
  if (parsed.kind !== 'apply' || parsed.command.kind !== 'delete-service') return bad('cannot read the service');
  const key = parsed.command.key;
  const socket = a.socket ?? process.env['TSVS_SOCKET'] ?? defaultSocketPath();
  try {
    const r = await callDaemon(socket, { v: 1, id: 1, op: 'explain', service: key, client: client.addr, ...(client.port !== null ? { cport: client.port } : {}) }, 30_000);
    if (!r.ok) {
      process.stderr.write(`tsvs explain: ${r.error.code}: ${r.error.message}\n`);
      return 1;
    }
    const x = r['explain'] as Explanation;
    process.stdout.write(a.json ? JSON.stringify(x, null, 2) + '\n' : formatExplanation(x));
    return x.dest ? 0 : 1;
  } catch (e) {
    if (e instanceof DaemonUnreachable) {
      process.stderr.write(`tsvs explain: no tsvs daemon at ${socket}\n`);
      return 1;
    }
    throw e;
  }
}
