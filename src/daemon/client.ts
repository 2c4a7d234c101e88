/**
 * The ipvsadm client of the control API (what `tsvsadm` and `tsvs lab` run): sends argv (and
 * stdin for -R/--restore) to the daemon and hands back what the daemon's ipvsadm printed and its
 * exit code. With no daemon it fails the way ipvsadm fails on a kernel without IPVS (exit 2),
 * after a line naming the socket path it tried.
 */
import { callDaemon, DaemonUnreachable, type Response } from './protocol.ts';

const INIT_HINT = 'Are you sure that IP Virtual Server is built in the kernel or as module?';

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
