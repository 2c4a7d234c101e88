/**
 * The file system and user database as keepalived's script checks see them (ScriptHost, used by
 * src/health/script-security.ts; src/health/fakes.ts has a fake), and the real one: stat/lstat/
 * realpath on the file system, users and groups from the system's database (getent, so NSS
 * sources count; /etc/passwd and /etc/group when getent is missing), and running a script as a
 * given user.
 */
import { spawn, execFileSync } from 'node:child_process';
import { lstatSync, openSync, readFileSync, readSync, closeSync, realpathSync, statSync, type Stats } from 'node:fs';

export interface FileInfo {
  readonly uid: number;
  readonly gid: number;
  /** st_mode: type and permission bits. */
  readonly mode: number;
  readonly dev: number;
  readonly ino: number;
}

/** The file system and user database, as keepalived's checks see them. */
export interface ScriptHost {
  /** lstat(2); null when it fails (the errno text in `why`). */
  lstat(path: string): FileInfo | null;
  /** stat(2) (follows links); null when it fails. */
  stat(path: string): FileInfo | null;
  /** realpath(3); null when it fails. */
  realpath(path: string): string | null;
  /** getpwnam: uid and primary gid; null when there is no such user. */
  user(name: string): { uid: number; gid: number } | null;
  /** getgrnam: gid; null when there is no such group. */
  group(name: string): number | null;
  /** The daemon's own uid and gid. */
  self(): { uid: number; gid: number };
  /** The PATH used to find bare command names. */
  path(): string;
}

const info = (s: Stats): FileInfo => ({ uid: s.uid, gid: s.gid, mode: s.mode, dev: s.dev, ino: s.ino });

/** One entry of getent's passwd or group database, split on ':'; null when absent. */
function getent(db: 'passwd' | 'group', name: string): string[] | null {
  try {
    const line = execFileSync('getent', [db, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0] ?? '';
    return line ? line.split(':') : null;
  } catch (e) {
    // Exit 2 = no such entry; anything else (no getent): read the file.
    if ((e as { status?: number }).status === 2) return null;
    try {
      const file = readFileSync(`/etc/${db}`, 'utf8');
      for (const l of file.split('\n')) { const f = l.split(':'); if (f[0] === name) return f; }
    } catch { /* unreadable */ }
    return null;
  }
}

export const realScriptHost: ScriptHost = {
  lstat(p) { try { return info(lstatSync(p)); } catch { return null; } },
  stat(p) { try { return info(statSync(p)); } catch { return null; } },
  realpath(p) { try { return realpathSync(p); } catch { return null; } },
  user(name) {
    const f = getent('passwd', name);
    if (!f || f.length < 4) return null;
    const uid = Number(f[2]), gid = Number(f[3]);
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : null;
  },
  group(name) {
    const f = getent('group', name);
    if (!f || f.length < 3) return null;
    const gid = Number(f[2]);
    return Number.isInteger(gid) ? gid : null;
  },
  self: () => ({ uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }),
  path: () => process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
};

/** First bytes of a file: keepalived runs files without "#!" or an ELF header through the shell. */
export function hasExecHeader(path: string): boolean {
  try {
    const fd = openSync(path, 'r');
    try {
      const b = Buffer.alloc(4);
      const n = readSync(fd, b, 0, 4, 0);
      return (n >= 2 && b[0] === 0x23 && b[1] === 0x21) || (n === 4 && b.readUInt32BE(0) === 0x7f454c46);
    } finally { closeSync(fd); }
  } catch { return true; }
}

export interface SpawnedScript {
  readonly code: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  /** Set when the program could not be started (ENOENT, EACCES, EPERM...). */
  readonly spawnError?: string;
}

/**
 * Runs argv in its own process group, as uid/gid when they differ from ours (libuv drops the
 * supplementary groups when it changes them), SIGKILLing the group at the timeout (0 = none).
 * `shell`: run `/bin/sh -c` with the words quoted, as keepalived's system() does for files with
 * no "#!" line.
 */
export function spawnScript(argv: readonly string[], o: { timeoutMs: number; uid?: number; gid?: number; shell?: boolean }): Promise<SpawnedScript> {
  return new Promise((resolve) => {
    if (argv.length === 0) { resolve({ code: null, signal: null, timedOut: false, spawnError: 'empty command' }); return; }
    const self = realScriptHost.self();
    const ids = {
      ...(o.uid !== undefined && o.uid !== self.uid ? { uid: o.uid } : {}),
      ...(o.gid !== undefined && o.gid !== self.gid ? { gid: o.gid } : {}),
    };
    const [file, args] = o.shell
      ? ['/bin/sh', ['-c', argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ')]]
      : [argv[0]!, argv.slice(1)];
    let timedOut = false, settled = false;
    let child;
    try {
      child = spawn(file, args, { stdio: 'ignore', detached: true, ...ids });
    } catch (e) {
      resolve({ code: null, signal: null, timedOut: false, spawnError: (e as NodeJS.ErrnoException).code ?? String(e) });
      return;
    }
    const timer = o.timeoutMs > 0
      ? setTimeout(() => {
          timedOut = true;
          try { if (child.pid) process.kill(-child.pid, 'SIGKILL'); } catch { try { child.kill('SIGKILL'); } catch { /* gone */ } }
        }, o.timeoutMs)
      : null;
    const finish = (r: SpawnedScript) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      resolve(r);
    };
    child.on('error', (e: NodeJS.ErrnoException) => finish({ code: null, signal: null, timedOut: false, spawnError: e.code ?? e.message }));
    child.on('exit', (code, signal) => finish({ code, signal, timedOut }));
  });
}
