/**
 * `tsvsadm`: ipvsadm 1.31's command line as a thin client of the tsvs daemon's control API.
 * Sends argv (and stdin for -R/--restore) to the daemon, prints what the daemon's ipvsadm
 * printed, and exits with its exit code. With no daemon it fails the way ipvsadm fails on a
 * kernel without IPVS (exit 2), after a line naming the socket path it tried.
 */
import { callDaemon, DaemonUnreachable, type Response } from '../daemon/protocol.ts';
import { defaultSocketPath } from '../daemon/paths.ts';

const INIT_HINT = 'Are you sure that IP Virtual Server is built in the kernel or as module?';

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

export function wantsStdin(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') break;
    if (a === '-R' || a === '--restore' || (a.length > 1 && /^--res(t(o(re?)?)?)?$/.test(a))) return true;
    // Bundled short options such as -Rn are not accepted by ipvsadm's -R, but pass stdin anyway.
    if (/^-[A-Za-z]*R[A-Za-z]*$/.test(a) && !a.startsWith('--')) return true;
  }
  return false;
}

export interface ClientIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  stdin: () => Promise<string>;
}

export async function runClient(argv: string[], socketPath: string, io: ClientIo): Promise<number> {
  const stdin = wantsStdin(argv) ? await io.stdin() : undefined;
  let res: Response;
  try {
    res = await callDaemon(socketPath, { v: 1, id: 1, op: 'ipvsadm', argv, ...(stdin !== undefined ? { stdin } : {}) });
  } catch (e) {
    if (e instanceof DaemonUnreachable) {
      if (e.errno === 'EACCES' || e.errno === 'EPERM') {
        io.stderr(`tsvsadm: permission denied on the tsvs daemon socket ${socketPath}\n`);
        io.stderr(`Can't initialize ipvs: Permission denied (you must be root)\n${INIT_HINT}\n`);
        return 2;
      }
      if (e.errno === 'ENOENT' || e.errno === 'ECONNREFUSED' || e.errno === 'ENOTSOCK') {
        io.stderr(`tsvsadm: no tsvs daemon at ${socketPath} (start one with: tsvs daemon)\n`);
      } else {
        io.stderr(`tsvsadm: cannot talk to the tsvs daemon at ${socketPath}: ${e.errno} ${e.message}\n`);
      }
      io.stderr(`Can't initialize ipvs: Protocol not available\n${INIT_HINT}\n`);
      return 2;
    }
    throw e;
  }
  if (!res.ok) {
    io.stderr(`tsvsadm: the daemon refused the request: ${res.error.code}: ${res.error.message}\n`);
    return 1;
  }
  const r = res as unknown as { stdout?: string; stderr?: string; code?: number };
  if (r.stdout) io.stdout(r.stdout);
  if (r.stderr) io.stderr(r.stderr);
  return typeof r.code === 'number' ? r.code : 1;
}

function writeAll(stream: NodeJS.WriteStream, s: string): Promise<void> {
  return new Promise((resolve) => {
    if (stream.write(s)) resolve();
    else stream.once('drain', () => resolve());
  });
}

export async function main(argv: string[]): Promise<number> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runClient(argv, defaultSocketPath(), {
    stdout: (s) => out.push(s),
    stderr: (s) => err.push(s),
    stdin: readStdin,
  });
  await writeAll(process.stdout, out.join(''));
  await writeAll(process.stderr, err.join(''));
  return code;
}
