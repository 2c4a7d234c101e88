/**
 * Where the control socket and the state file live by default. Shared by the daemon and tsvsadm.
 *
 * Socket: $TSVS_SOCKET, else /run/tsvs/tsvs.sock as root, else $XDG_RUNTIME_DIR/tsvs/tsvs.sock,
 * else ./.tsvs/tsvs.sock. State: /var/lib/tsvs/rules as root, else next to the socket.
 */
import { join, resolve } from 'node:path';

export interface PathEnv {
  readonly uid: number;
  readonly env: Record<string, string | undefined>;
  readonly cwd: string;
}

export function currentPathEnv(): PathEnv {
  return { uid: process.getuid ? process.getuid() : 0, env: process.env, cwd: process.cwd() };
}

export function defaultSocketPath(pe: PathEnv = currentPathEnv()): string {
  const fromEnv = pe.env['TSVS_SOCKET'];
  if (fromEnv) return resolve(pe.cwd, fromEnv);
  if (pe.uid === 0) return '/run/tsvs/tsvs.sock';
  const xdg = pe.env['XDG_RUNTIME_DIR'];
  if (xdg) return join(xdg, 'tsvs', 'tsvs.sock');
  return join(pe.cwd, '.tsvs', 'tsvs.sock');
}

export function defaultStatePath(socketPath: string, pe: PathEnv = currentPathEnv()): string {
  if (pe.env['TSVS_STATE']) return resolve(pe.cwd, pe.env['TSVS_STATE']!);
  if (pe.uid === 0 && socketPath === '/run/tsvs/tsvs.sock') return '/var/lib/tsvs/rules';
  return join(socketPath.replace(/\/[^/]*$/, ''), 'rules');
}
