/**
 * `tsvs drain -t|-u|-f SERVICE -r RIP[:PORT] [--timeout S] [--then delete|keep]`: drains a real
 * server gracefully through the running daemon (src/daemon/drain.ts) and shows the progress live
 * until its active connections reach 0 or the timeout. A thin client of the control API.
 */
import { parseArgs } from 'node:util';
import { callDaemon, DaemonUnreachable, type Request } from '../../daemon/protocol.ts';
import { defaultSocketPath } from '../../daemon/paths.ts';
import { parseIpvsadm, isFailure } from '../../ipvsadm/index.ts';
import { DRAIN_DEFAULTS } from '../../daemon/drain.ts';
import type { DrainObserved } from '../../observe/snapshot.ts';

export const summary = 'drain a real server: weight 0, wait for its connections to end, then delete or keep it';

const HELP = `usage: tsvs drain -t|-u|-f SERVICE -r RIP[:PORT] [options]

Sets the real server's weight to 0 and stops its persistence templates (no new connections),
waits until its ActiveConn reaches 0 or the timeout, then deletes it (or keeps it at weight 0),
showing the progress. SERVICE and RIP are written as for tsvsadm (numeric addresses).

  --timeout S          give up waiting after S seconds (default ${DRAIN_DEFAULTS.timeoutS})
  --then delete|keep   what to do at the end (default ${DRAIN_DEFAULTS.then})
  --no-wait            start the drain and return at once
  --cancel             stop a running drain of that real server and restore its weight
  --json               print the final drain record as JSON
  --socket PATH        the daemon's control socket

Exit status: 0 drained (or started with --no-wait, or cancelled with --cancel), 1 timed out
or failed, 2 usage.
`;

function fmtDrain(d: DrainObserved, now = Date.now()): string {
  const left = Math.max(0, Math.ceil((d.deadline - now) / 1000));
  const target = `${d.service} -> ${d.dest.addr.includes(':') ? `[${d.dest.addr}]` : d.dest.addr}:${d.dest.port}`;
  switch (d.state) {
    case 'draining': return `draining ${target}: ${d.activeConns} active, ${d.inactConns} inactive connections, ${left} s left`;
    case 'drained': return `drained ${target}: ${d.note && /left the table/.test(d.note) ? d.note : `no active connections; ${d.then === 'delete' ? 'deleted' : 'kept at weight 0'}${d.note ? ` (${d.note})` : ''}`}`;
    case 'timeout': return d.note && /left the table/.test(d.note) ? `timed out draining ${target}: ${d.note}` : `timed out draining ${target} with ${d.activeConns} active connections; ${d.then === 'delete' ? 'deleted' : 'kept at weight 0'}`;
    case 'cancelled': return d.note && /weight was set/.test(d.note) ? `drain of ${target} cancelled: ${d.note}` : `cancelled the drain of ${target}; weight ${d.weightBefore} restored`;
    case 'failed': return `drain of ${target} failed: ${d.error ?? 'unknown error'}`;
  }
}

export async function run(argv: string[]): Promise<number> {
  let a;
  try {
    a = parseArgs({
      args: argv,
      options: {
        'tcp-service': { type: 'string', short: 't' },
        'udp-service': { type: 'string', short: 'u' },
        'fwmark-service': { type: 'string', short: 'f' },
        'real-server': { type: 'string', short: 'r' },
        timeout: { type: 'string' },
        then: { type: 'string' },
        'no-wait': { type: 'boolean' },
        cancel: { type: 'boolean' },
        json: { type: 'boolean' },
        socket: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    process.stderr.write(`tsvs drain: ${(e as Error).message}\n${HELP}`);
    return 2;
  }
  if (a.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const bad = (m: string): number => {
    process.stderr.write(`tsvs drain: ${m}\n`);
    return 2;
  };
  const svcs = [['-t', a['tcp-service']], ['-u', a['udp-service']], ['-f', a['fwmark-service']]].filter(([, v]) => v !== undefined) as [string, string][];
  if (svcs.length !== 1) return bad('give exactly one service: -t|-u ADDR:PORT or -f MARK');
  if (a['real-server'] === undefined) return bad('give the real server: -r RIP[:PORT]');
  // The same parser as tsvsadm -e: addresses, ports, IPv6 brackets, the port default (the
  // service's). -m so that an explicit real server port is kept as written (ipvsadm replaces it
  // with the service port for -g/-i).
  const parsed = parseIpvsadm(['-e', svcs[0]![0], svcs[0]![1], '-r', a['real-server'], '-m']);
  if (isFailure(parsed)) return bad(parsed.message);
  if (parsed.kind !== 'apply' || parsed.command.kind !== 'edit-dest') return bad('cannot read the service and real server');
  const { key, dest } = parsed.command;
  let timeout: number | undefined;
  if (a.timeout !== undefined) {
    timeout = Number(a.timeout);
    if (!Number.isFinite(timeout) || timeout < 0 || timeout > DRAIN_DEFAULTS.maxTimeoutS) return bad(`--timeout must be seconds 0..${DRAIN_DEFAULTS.maxTimeoutS}, not '${a.timeout}'`);
  }
  if (a.then !== undefined && a.then !== 'delete' && a.then !== 'keep') return bad(`--then must be delete or keep, not '${a.then}'`);
  const socket = a.socket ?? process.env['TSVS_SOCKET'] ?? defaultSocketPath();
  let id = 1;
  type Body<R> = R extends unknown ? Omit<R, 'v' | 'id'> : never;
  const call = async (req: Body<Request>): Promise<Record<string, unknown>> => {
    const r = await callDaemon(socket, { v: 1, id: id++, ...req } as Request, 30_000);
    if (!r.ok) throw Object.assign(new Error(r.error.message), { code: r.error.code });
    return r;
  };
  try {
    let d: DrainObserved;
    if (a.cancel) {
      const list = (await call({ op: 'drains' }))['drains'] as DrainObserved[];
      const mine = list.find((x) => x.state === 'draining' && x.dest.addr === dest.addr && x.dest.port === dest.port && x.key.addr === key.addr && x.key.port === key.port && x.key.fwmark === key.fwmark && x.key.protocol === key.protocol);
      if (!mine) {
        process.stderr.write(`tsvs drain: no running drain of ${a['real-server']}\n`);
        return 1;
      }
      d = (await call({ op: 'drain-cancel', drain: mine.id }))['drain'] as DrainObserved;
    } else {
      d = (await call({ op: 'drain', service: key, addr: dest.addr, port: dest.port, ...(timeout !== undefined ? { timeout } : {}), ...(a.then ? { then: a.then as 'delete' | 'keep' } : {}) }))['drain'] as DrainObserved;
      const tty = process.stdout.isTTY === true && !a.json;
      let last = '';
      const show = (x: DrainObserved, final: boolean): void => {
        if (a.json && !final) return;
        const line = a.json ? JSON.stringify(x, null, 2) : fmtDrain(x);
        if (line === last && !final) return;
        if (tty && !final) process.stdout.write(`\r\x1b[K${line}`);
        else process.stdout.write((tty ? '\r\x1b[K' : '') + line + '\n');
        last = line;
      };
      while (d.state === 'draining' && !a['no-wait']) {
        show(d, false);
        await new Promise((r) => setTimeout(r, 500));
        const list = (await call({ op: 'drains' }))['drains'] as DrainObserved[];
        d = list.find((x) => x.id === d.id) ?? d;
      }
      show(d, true);
      return d.state === 'drained' || d.state === 'draining' ? 0 : 1;
    }
    process.stdout.write((a.json ? JSON.stringify(d, null, 2) : fmtDrain(d)) + '\n');
    return d.state === 'cancelled' ? 0 : 1;
  } catch (e) {
    if (e instanceof DaemonUnreachable) {
      process.stderr.write(`tsvs drain: no tsvs daemon at ${socket}\n`);
      return 1;
    }
    const code = (e as { code?: string }).code;
    process.stderr.write(`tsvs drain: ${code ? `${code}: ` : ''}${(e as Error).message}\n`);
    return 1;
  }
}
