/**
 * keepalived 2.2.7 -t's script_user bug, and the running keepalived 2.2.7 daemon as the oracle for
 * the files it hits.
 *
 * The bug: keepalived 2.2.7 -t kills itself (SIGTERM, no message) whenever a script runs as a user
 * other than root (`script_user nobody`, or a script's own `user`). check_script_secure
 * (lib/notify.c) checks the script as that user, then, to see whether its parent died meanwhile,
 * compares getppid() with main_pid, which -t never sets, and sends itself SIGTERM. Fixed upstream
 * in 2.2.8 (commit aae8e910, "config_check: Don't kill process when checking validity of
 * scripts": that check is skipped under -t). The running 2.2.7 daemon reads such a file and runs
 * the script as that user: -t's death says nothing about the file. (tsvs config-test accepts such
 * files, as the daemon and the fixed -t do: refusing the setup keepalived recommends,
 * enable_script_security with an unprivileged script_user, would stop `config-test && reload`.)
 *
 * So for a file on which -t died of SIGTERM and which names a script user other than root (both,
 * nothing wider: scriptUserBugHits), the daemon is asked instead:
 *   keepalived -n -l -D -G -i lb1 -f FILE -p P -r R -c C -b B
 * (no fork, log to the console in detail, not to syslog, pid files in a temporary directory), in a
 * fresh network namespace holding the corpus's interfaces, with its working directory owned by the
 * script user. It stands in for -t only when it proves it read and runs the file: it is still
 * running once its script has written `script-uid` in that directory (the corpus's script-user
 * files' scripts do: `id -u > script-uid`) holding the script user's uid. Then its outcome is
 * exit 0 with its lines about the file (config problems are logged as -t prints them; its other
 * lines are the daemon at work). When it reports problems, or cannot prove it ran, -t's death
 * stands (a refusal, compared as such) and `via` says why.
 * Only the main file is searched for script users: a script_user in an included file leaves -t's
 * death standing, which shows as a disagreement (never as a wrongly read file).
 * The daemon is stopped by its PID: SIGTERM, a bounded wait, then SIGKILL; the same for its VRRP
 * and checker children by their pid files if they outlive it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addNamespace, CONFIG_ID, delNamespace, KEEPALIVED, KILLED, keepalivedMessages, type Message, type Outcome } from './oracles.ts';
import { KEEPALIVED_KINDS } from './problems.ts';
import { codeOf } from './variants.ts';

/** The file the corpus's script-user scripts write their uid to, in their working directory. */
export const SCRIPT_UID_FILE = 'script-uid';

export interface ScriptUser {
  readonly user: string;
  readonly group?: string;
}

/** The script users a keepalived.conf names: global `script_user USER [GROUP]` and scripts' `user USER [GROUP]`. */
export function scriptUsersOf(text: string): ScriptUser[] {
  // Comments and quoted strings (a script's command line) aside.
  const code = text.replace(/\r\n/g, '\n').split('\n').map(codeOf).join('\n').replace(/"[^"\n]*"/g, '""');
  return [...code.matchAll(/(?:^|[\s{}])(?:script_user|user)[ \t]+([^\s{}"]+)(?:[ \t]+([^\s{}"]+))?/g)]
    .map((m) => (m[2] ? { user: m[1]!, group: m[2] } : { user: m[1]! }));
}

const idOf = (argv: string[]): number | undefined => {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 10_000 });
  const n = r.status === 0 ? Number(r.stdout.trim().split(':')[2] ?? r.stdout.trim()) : NaN;
  return Number.isInteger(n) ? n : undefined;
};

/** A script user's uid and gid as keepalived resolves them (the user's own group unless one is named). */
export function resolveScriptUser(u: ScriptUser): { uid: number; gid: number } | undefined {
  const uid = idOf(['id', '-u', u.user]);
  const gid = u.group === undefined ? idOf(['id', '-g', u.user]) : idOf(['getent', 'group', u.group]);
  return uid === undefined || gid === undefined ? undefined : { uid, gid };
}

/**
 * Whether -t's outcome is its script_user bug: killed by SIGTERM, and the file names a script user
 * that resolves to a uid or gid other than root's (only then does check_script_secure switch user
 * and reach the faulty check). Returns that user, or undefined.
 */
export function scriptUserBugHits(fileText: string, t: Outcome): (ScriptUser & { uid: number; gid: number }) | undefined {
  if (t.exit !== KILLED || t.signal !== 'SIGTERM') return undefined;
  for (const u of scriptUsersOf(fileText)) {
    const ids = resolveScriptUser(u);
    if (ids && (ids.uid !== 0 || ids.gid !== 0)) return { ...u, ...ids };
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The daemon's lines without their time stamp ("Mon Dec  7 20:21:23 2026: "). */
const untimed = (l: string): string => l.replace(/^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}: /, '');

/** Lines that are about the file: with a config line number, or of a known problem kind. */
function fileMessages(lines: readonly string[]): Message[] {
  return keepalivedMessages(lines).filter((m) => m.line !== undefined || KEEPALIVED_KINDS.some(([re, kind]) => kind !== '' && re.test(m.text)));
}

let daemons = 0;

/** The running daemon reads `file` instead of -t (see the top of this file); `t` is -t's outcome. */
export async function readByDaemon(file: string, ifnames: readonly string[], user: { user: string; uid: number; gid: number }, t: Outcome): Promise<Outcome> {
  const ns = `tsvs-diffd-${process.pid}-${daemons++}`;
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-diffd-'));
  chmodSync(dir, 0o755);
  const cwd = join(dir, 'cwd');
  mkdirSync(cwd, { mode: 0o700 });
  chownSync(cwd, user.uid, user.gid);
  const pidFiles = { '-p': 'keepalived.pid', '-r': 'vrrp.pid', '-c': 'checkers.pid', '-b': 'bfd.pid' };
  addNamespace(ns, ifnames);
  let out = '';
  const c = spawn('ip', ['netns', 'exec', ns, KEEPALIVED, '-n', '-l', '-D', '-G', '-i', CONFIG_ID, '-f', file,
    ...Object.entries(pidFiles).flatMap(([o, n]) => [o, join(dir, n)])], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  c.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  c.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const closed = new Promise<void>((resolve) => c.on('close', () => resolve()));
  const running = () => c.exitCode === null && c.signalCode === null;
  const uidFile = join(cwd, SCRIPT_UID_FILE);
  const scriptUid = (): string | undefined => (existsSync(uidFile) ? readFileSync(uidFile, 'utf8') : undefined);
  try {
    // Bounded poll: the script runs once at start-up, then every `interval`.
    for (let waited = 0; waited < 15_000 && running() && !scriptUid()?.endsWith('\n'); waited += 100) await sleep(100);
    const wrote = scriptUid()?.trim();
    const ran = running();
    const pidFile = join(dir, pidFiles['-p']);
    const pidOk = existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() === String(c.pid);
    await stop(c.pid!, closed, running);
    for (const n of [pidFiles['-r'], pidFiles['-c'], pidFiles['-b']]) {
      // keepalived removes a child's pid file when the child stops; one left over is killed by its PID.
      const p = join(dir, n);
      const pid = existsSync(p) ? Number(readFileSync(p, 'utf8').trim()) : NaN;
      if (Number.isInteger(pid) && pid > 1 && isOurKeepalived(pid, file)) process.kill(pid, 'SIGKILL');
    }
    const messages = fileMessages(out.split('\n').map(untimed));
    const why = !ran ? `the daemon stopped by itself (exit ${c.exitCode ?? c.signalCode})`
      : !pidOk ? 'the daemon\'s pid file does not name the process started'
      : wrote === undefined ? `its script wrote no ${SCRIPT_UID_FILE} within 15 s`
      : wrote !== String(user.uid) ? `its script ran as uid ${wrote}, not ${user.user} (${user.uid})`
      : messages.length ? `the daemon reported ${messages.length} problem(s) with the file`
      : undefined;
    const said = new Set(t.messages.map((m) => m.text));
    if (why) return { ...t, messages: [...t.messages, ...messages.filter((m) => !said.has(m.text))], via: `keepalived -t died of its script_user bug; the daemon does not stand in: ${why}` };
    return { exit: 0, messages, via: `keepalived -t died of its script_user bug; the daemon read the file, started, and ran its script as ${user.user} (uid ${user.uid})` };
  } finally {
    if (running()) { process.kill(c.pid!, 'SIGKILL'); await closed; }
    delNamespace(ns);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether `pid` is still a keepalived reading `file` (a pid file's process, not a reused PID). */
function isOurKeepalived(pid: number, file: string): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv[0] === KEEPALIVED && argv.includes(file);
  } catch {
    return false;
  }
}

/** SIGTERM, up to 10 s for keepalived to stop its children and itself, then SIGKILL. */
async function stop(pid: number, closed: Promise<void>, running: () => boolean): Promise<void> {
  if (!running()) return;
  process.kill(pid, 'SIGTERM');
  const t = await Promise.race([closed.then(() => 'closed'), sleep(10_000).then(() => 'timeout')]);
  if (t === 'timeout' && running()) { process.kill(pid, 'SIGKILL'); await closed; }
}
