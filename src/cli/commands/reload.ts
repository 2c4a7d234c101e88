/** `tsvs reload`: asks the running daemon to reload its rules or configuration file (like SIGHUP). */
import { callDaemon, DaemonUnreachable } from '../../daemon/protocol.ts';
import { defaultSocketPath } from '../../daemon/paths.ts';

export const summary = 'reload the daemon\'s --rules / keepalived / ldirectord file (refused whole if invalid)';

export async function run(argv: string[]): Promise<number> {
  let socket = process.env['TSVS_SOCKET'] ?? defaultSocketPath();
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--socket') socket = argv[++i] ?? socket;
    else if (argv[i] === '-h' || argv[i] === '--help') {
      process.stdout.write('usage: tsvs reload [--socket PATH]\n');
      return 0;
    } else {
      process.stderr.write(`tsvs reload: unexpected argument '${argv[i]}'\n`);
      return 2;
    }
  }
  try {
    const r = await callDaemon(socket, { v: 1, id: 1, op: 'reload' });
    if (r.ok) {
      process.stdout.write(`reloaded: ${Number(r['commands'] ?? 0)} change(s) applied\n`);
      return 0;
    }
    process.stderr.write(`tsvs reload: refused (${r.error.code}): ${r.error.message}\n`);
    return 1;
  } catch (e) {
    if (e instanceof DaemonUnreachable) {
      process.stderr.write(`tsvs reload: no tsvs daemon at ${socket}\n`);
      return 1;
    }
    throw e;
  }
}
