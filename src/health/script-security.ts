/**
 * Who runs a keepalived script, and whether it may run at all: keepalived 2.2.7's rules
 * (lib/notify.c), with the file system and the user database behind a narrow interface
 * (ScriptHost; the real one is src/os/script-host.ts, tests use a fake or the real one).
 *
 * - Identity: a script's own user (`notify_up SCRIPT USER [GROUP]`, `user USER [GROUP]` in
 *   MISC_CHECK and vrrp_script), else global_defs `script_user USER [GROUP]`, else the user
 *   `keepalived_script` if it exists, else the daemon's own user. With enable_script_security and
 *   neither script_user nor keepalived_script, scripts have no user and are not run.
 * - Protection: a script that would run with uid 0 or gid 0 (or is set-uid/set-gid root) needs
 *   every part of its path, and the file it resolves to, owned by root and not writable by a
 *   non-root group or by others (directories with the sticky bit excepted). With
 *   enable_script_security an unsafe script is disabled; without it, it runs, and the
 *   configuration test fails with keepalived's "SECURITY VIOLATION".
 */

/** The resolved identity a script runs with. */
export interface ScriptUser {
  readonly uid: number;
  readonly gid: number;
  /** As written (or `keepalived_script` / the daemon's own user): for messages. */
  readonly name: string;
}

/** What the configuration says about running scripts, resolved once at load. */
export interface ScriptPolicy {
  /** global_defs enable_script_security. */
  readonly security: boolean;
  /** Identity of scripts that name no user; null = none could be set (those scripts never run). */
  readonly defaultUser: ScriptUser | null;
  /** Identities of the users scripts name ("user" or "user group" as written). */
  readonly users: Readonly<Record<string, ScriptUser>>;
}

export type { FileInfo, ScriptHost } from '../os/script-host.ts';
import type { FileInfo, ScriptHost } from '../os/script-host.ts';

/** keepalived's SC_* flags (lib/notify.h). */
export const SC = {
  ISSCRIPT: 0x01,
  INHIBIT: 0x02,
  NOTFOUND: 0x04,
  EXECUTABLE: 0x08,
  SYSTEM: 0x10,
  INSECURE: 0x20,
} as const;

const S_IFMT = 0o170000, S_IFDIR = 0o040000, S_IFREG = 0o100000, S_IFLNK = 0o120000;
const S_ISUID = 0o4000, S_ISGID = 0o2000, S_ISVTX = 0o1000;
const S_IXUSR = 0o100, S_IXGRP = 0o010, S_IXOTH = 0o001, S_IWGRP = 0o020, S_IWOTH = 0o002;
const isDir = (m: number) => (m & S_IFMT) === S_IFDIR;
const isReg = (m: number) => (m & S_IFMT) === S_IFREG;
const isLnk = (m: number) => (m & S_IFMT) === S_IFLNK;

/** The user keepalived runs scripts as when the configuration names none. */
export const DEFAULT_SCRIPT_USER = 'keepalived_script';

/** Resolves "user [group]" as keepalived's set_uid_gid does; a message when it cannot. */
export function resolveUser(written: string, host: ScriptHost): ScriptUser | { error: string } {
  const [name, group] = written.trim().split(/\s+/);
  const u = name ? host.user(name) : null;
  if (!u) return { error: `Script user '${name ?? ''}' does not exist` };
  if (group === undefined) return { uid: u.uid, gid: u.gid, name: written.trim() };
  const gid = host.group(group);
  if (gid === null) return { error: `Script group '${group}' does not exist` };
  return { uid: u.uid, gid, name: written.trim() };
}

export interface PolicyProblem {
  /** Which written user (or 'script_user' / DEFAULT_SCRIPT_USER) it concerns. */
  readonly user: string;
  readonly message: string;
  /** keepalived reports it as a configuration error (keepalived -t fails). */
  readonly configError: boolean;
}

/**
 * Builds the policy from global_defs and every user a script names. keepalived resolves the
 * default user only when a script needs it; `needsDefault` says whether any script does.
 */
export function buildScriptPolicy(
  o: { security: boolean; scriptUser?: string; namedUsers: readonly string[]; needsDefault: boolean },
  host: ScriptHost,
): { policy: ScriptPolicy; problems: PolicyProblem[] } {
  const problems: PolicyProblem[] = [];
  const self = host.self();
  let defaultUser: ScriptUser | null = { ...self, name: `uid ${self.uid}` };
  if (o.scriptUser !== undefined) {
    const r = resolveUser(o.scriptUser, host);
    if ('error' in r) {
      problems.push({ user: 'script_user', message: `${r.error}; Error setting global script uid/gid`, configError: true });
      defaultUser = null;
    } else defaultUser = r;
  } else if (o.needsDefault) {
    const u = host.user(DEFAULT_SCRIPT_USER);
    if (u) defaultUser = { uid: u.uid, gid: u.gid, name: DEFAULT_SCRIPT_USER };
    else if (o.security) {
      problems.push({ user: DEFAULT_SCRIPT_USER, message: `Unable to set default user ${DEFAULT_SCRIPT_USER} for script`, configError: true });
      defaultUser = null;
    }
  }
  const users: Record<string, ScriptUser> = {};
  for (const w of new Set(o.namedUsers.map((x) => x.trim()))) {
    const r = resolveUser(w, host);
    if ('error' in r) problems.push({ user: w, message: r.error, configError: true });
    else users[w] = r;
  }
  return { policy: { security: o.security, defaultUser, users }, problems };
}

/** The identity a script with this written user (or none) runs as; null = it may not run. */
export function scriptUserOf(policy: ScriptPolicy, written: string | undefined): ScriptUser | null {
  if (written === undefined) return policy.defaultUser;
  return policy.users[written.trim()] ?? null;
}

/** keepalived's is_executable(): can this uid/gid execute a file with these bits? */
export function isExecutable(f: FileInfo, uid: number, gid: number): boolean {
  return (uid === 0 && (f.mode & (S_IXUSR | S_IXGRP | S_IXOTH)) !== 0) ||
    (uid === f.uid && (f.mode & S_IXUSR) !== 0) ||
    (uid !== f.uid && ((gid === f.gid && (f.mode & S_IXGRP) !== 0) || (gid !== f.gid && (f.mode & S_IXOTH) !== 0)));
}

export interface SecurityVerdict {
  /** SC flags, as keepalived's check_script_secure returns them. */
  readonly flags: number;
  /** The path it resolved to (bare names found in PATH). */
  readonly path: string;
  /** keepalived's log lines for this script, in order. */
  readonly messages: readonly string[];
}

/** keepalived's check_security(): every component of `file` root-owned and not writable by others. */
function checkPath(file: string, security: boolean, host: ScriptHost, messages: string[]): number {
  const parts: string[] = [];
  for (let i = 0; i < file.length; i++) if (file[i] === '/') parts.push(i === 0 ? '/' : file.slice(0, i));
  parts.push(file);
  for (let i = 0; i < parts.length; i++) {
    const last = i === parts.length - 1;
    const st = host.lstat(parts[i]!);
    if (!st) {
      messages.push(`check_script_secure could not find script '${file}' - disabling`);
      return SC.NOTFOUND;
    }
    if ((!last && !isDir(st.mode)) || (last && !isReg(st.mode) && !isLnk(st.mode))) {
      messages.push(`Wrong file type found in script path '${file}'.`);
      return SC.INHIBIT;
    }
    const writableByOthers = ((isDir(st.mode) && (st.mode & S_ISVTX) === 0) || isReg(st.mode)) &&
      ((st.gid !== 0 && (st.mode & S_IWGRP) !== 0) || (st.mode & S_IWOTH) !== 0);
    if (st.uid !== 0 || writableByOthers) {
      messages.push(`Unsafe permissions found for script '${file}'${security ? ' - disabling' : ''}.`);
      return SC.INSECURE | (security ? SC.INHIBIT : 0);
    }
  }
  return 0;
}

/** Finds a bare command name in PATH as the script's user would (execvp). */
function findInPath(name: string, user: ScriptUser, host: ScriptHost): string | null {
  for (const dir of host.path().split(':')) {
    const p = `${dir || '.'}/${name}`;
    const st = host.stat(p);
    if (st && isReg(st.mode) && isExecutable(st, user.uid, user.gid)) return p;
  }
  return null;
}

/**
 * keepalived's check_script_secure(): may `argv0`, run as `user`, run? SC.NOTFOUND or SC.INHIBIT,
 * or no SC.EXECUTABLE, means it must not. SC.ISSCRIPT marks a real script (which is what makes
 * keepalived -t demand enable_script_security).
 */
export function checkScriptSecure(argv0: string, user: ScriptUser, security: boolean, host: ScriptHost): SecurityVerdict {
  const messages: string[] = [];
  // "</path": keepalived's test that a file can be opened; nothing is executed.
  if (/^<[ \t]*\//.test(argv0)) return { flags: SC.SYSTEM, path: argv0, messages };
  let path = argv0;
  if (!argv0.includes('/')) {
    const found = findInPath(argv0, user, host);
    if (!found) {
      messages.push(`Cannot find script ${argv0} in path - disabling`);
      return { flags: SC.NOTFOUND, path, messages };
    }
    path = found;
  }
  // Like keepalived: resolve links and dot-dots in the directories (on merged-/usr systems /bin
  // is a link), keeping the file name as written when it names the same file (some programs
  // act on the name they are called by); check the file itself too when its name differs.
  const real = host.realpath(path);
  if (!real) {
    messages.push(`Script ${path} cannot be accessed - No such file or directory`);
    return { flags: SC.NOTFOUND, path, messages };
  }
  let checked = real;
  let realFile: string | null = null;
  const base = (p: string) => p.slice(p.lastIndexOf('/') + 1);
  if (base(real) !== base(path)) {
    const named = `${real.slice(0, real.lastIndexOf('/') + 1)}${base(path)}`;
    const a = host.stat(real), b = host.stat(named);
    if (a && b && a.dev === b.dev && a.ino === b.ino) { checked = named; realFile = real; }
  }
  const file = host.stat(realFile ?? checked);
  if (!file) {
    messages.push(`Unable to access script \`${path}\` - disabling`);
    return { flags: SC.NOTFOUND, path, messages };
  }
  let flags: number = SC.ISSCRIPT;
  let protect = false;
  if (isExecutable(file, user.uid, user.gid)) {
    flags |= SC.EXECUTABLE;
    protect = user.uid === 0 || user.gid === 0 ||
      (file.uid === 0 && (file.mode & S_IXUSR) !== 0 && (file.mode & S_ISUID) !== 0) ||
      (file.gid === 0 && (file.mode & S_IXGRP) !== 0 && (file.mode & S_ISGID) !== 0);
  } else {
    messages.push(`WARNING - script '${path}' is not executable for uid:gid ${user.uid}:${user.gid} - disabling.`);
  }
  if (!protect) return { flags, path: checked, messages };
  flags |= checkPath(checked, security, host, messages);
  if (realFile) flags |= checkPath(realFile, security, host, messages);
  return { flags, path: checked, messages };
}

/** Whether a verdict lets the script run (keepalived removes the ones that may not). */
export function mayRun(v: SecurityVerdict): boolean {
  return (v.flags & (SC.INHIBIT | SC.NOTFOUND)) === 0 && (v.flags & (SC.EXECUTABLE | SC.SYSTEM)) !== 0;
}
