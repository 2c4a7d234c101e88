/**
 * `tsvs status [--json] [--socket PATH]`: every health checker, its last result, the reason and
 * since when. Asks the running daemon (control API op `status`, answering a HealthStatus).
 */
import { defaultSocketPath } from '../../daemon/paths.ts';
import { renderStatusJson, renderStatusTable } from '../../health/render.ts';
import type { HealthStatus } from '../../health/types.ts';

export const summary = 'show health checkers: state, last result, reason, since when (--json)';

const USAGE = 'usage: tsvs status [--json] [--socket PATH]\n';

/** The daemon client is injected by the daemon layer when it exists; until then we try the socket ourselves. */
export async function fetchStatus(socketPath: string): Promise<HealthStatus> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    let buf = '';
    s.setEncoding('utf8');
    s.on('connect', () => s.write(JSON.stringify({ op: 'status' }) + '\n'));
    s.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      s.end();
      try {
        const msg = JSON.parse(buf.slice(0, nl)) as { ok?: boolean; result?: HealthStatus; error?: { message?: string } } & Partial<HealthStatus>;
        if (msg.ok === false) reject(new Error(msg.error?.message ?? 'daemon error'));
        else resolve((msg.result ?? msg) as HealthStatus);
      } catch (e) { reject(e as Error); }
    });
    s.on('error', reject);
  });
}

export async function run(argv: string[]): Promise<number> {
  let json = false;
  let socket = defaultSocketPath();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') json = true;
    else if (a === '--socket' && i + 1 < argv.length) socket = argv[++i]!;
    else if (a === '-h' || a === '--help') { process.stdout.write(USAGE); return 0; }
    else { process.stderr.write(`tsvs status: unknown option '${a}'\n${USAGE}`); return 2; }
  }
  let st: HealthStatus;
  try {
    st = await fetchStatus(socket);
  } catch (e) {
    process.stderr.write(`tsvs status: cannot reach the daemon at ${socket}: ${(e as Error).message}\n`);
    return 1;
  }
  process.stdout.write(json ? renderStatusJson(st) : renderStatusTable(st));
  return 0;
}
