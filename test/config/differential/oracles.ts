/**
 * The real programs as oracles, and tsvs config-test beside them.
 *
 * keepalived 2.2.7: `keepalived -t -l -i lb1 -f FILE` inside a network namespace this harness
 * creates, holding a veth device for every interface name the corpus uses (keepalived -t checks
 * that named interfaces exist; there is no dummy driver on every kernel). With -t it logs to
 * syslog only, unless -l (--log-console): then to stdout. It exits with config_test_exit's codes
 * (keepalived/core/main.c, numbers from lib/scheduler.h):
 *   0 CHK_EXIT_OK, 4 CHK_EXIT_CONFIG (file not found, bad interface, fatal), 5 CHK_EXIT_CONFIG_TEST
 *   (any other logged config problem), 6 CHK_EXIT_CONFIG_TEST_SECURITY (script security).
 * keepalived parses the file once per process it would run (parent, VRRP, checker), so the same
 * message can come several times: they are deduplicated.
 *
 * ldirectord 4.12: `ldirectord -d FILE status` reads the whole configuration first; the first
 * error prints "Error [pid] reading file F at line N: MSG" and exits 2; a clean file goes on to
 * "ldirectord is stopped" and exits 3.
 *
 * tsvs: `tsvs config-test --type T --config-id lb1 FILE`, every file in one process through the
 * CLI's own `run` (tsvs-batch.ts; a process per file would take minutes), in keepalived's
 * namespace (config-test checks the interfaces too); differential.test.ts checks a few files
 * through the real command too.
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Reader } from './corpus.ts';

/** The config id both programs are given (keepalived -i, config-test --config-id). */
export const CONFIG_ID = 'lb1';

export interface Message {
  readonly line?: number;
  readonly text: string;
}

export interface Outcome {
  readonly exit: number;
  readonly messages: readonly Message[];
  /** The signal that ended the program when exit is KILLED (SIGSEGV, SIGABRT, SIGTERM...). */
  readonly signal?: string;
  /**
   * Set when the outcome is not keepalived -t's own: keepalived 2.2.7 -t died of its script_user
   * bug and the running daemon read the file instead (daemon-oracle.ts), or could not stand in.
   */
  readonly via?: string;
}

export const KEEPALIVED = '/usr/sbin/keepalived';
export const LDIRECTORD = '/usr/sbin/ldirectord';

function sh(argv: readonly string[]): { status: number; out: string; err: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status ?? -1, out: r.stdout ?? '', err: r.stderr ?? '' };
}

/** Exit status -1: killed by a signal (keepalived 2.2.7 -t crashes on some files). */
export const KILLED = -1;

/** Runs a program to its end (bounded: killed after 60 s), without blocking the event loop. */
function shAsync(argv: readonly string[], env?: NodeJS.ProcessEnv): Promise<{ status: number; out: string; signal?: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) });
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    c.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const timer = setTimeout(() => c.kill('SIGKILL'), 60_000);
    c.on('error', reject);
    c.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ status: code ?? KILLED, out, ...(signal ? { signal } : {}) });
    });
  });
}

/** Makes network namespace `ns` afresh, with lo and a veth device per interface name, all up. */
export function addNamespace(ns: string, ifnames: readonly string[]): void {
  sh(['ip', 'netns', 'del', ns]);
  const r = sh(['ip', 'netns', 'add', ns]);
  if (r.status !== 0) throw new Error(`ip netns add ${ns}: ${r.err}`);
  sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  ifnames.forEach((name, i) => {
    const add = sh(['ip', '-n', ns, 'link', 'add', name, 'type', 'veth', 'peer', 'name', `tsvsq${i}`]);
    if (add.status !== 0) throw new Error(`cannot create interface ${name} in ${ns}: ${add.err}`);
    sh(['ip', '-n', ns, 'link', 'set', name, 'up']);
  });
}

export function delNamespace(ns: string): void {
  sh(['ip', 'netns', 'del', ns]);
}

/**
 * keepalived's lines about a file, deduplicated (it parses the file once per process):
 * "(FILE: Line N) text" or "(Line N) text" (the first pass names no file) or a bare text.
 */
export function keepalivedMessages(lines: readonly string[]): Message[] {
  const seen = new Set<string>();
  const messages: Message[] = [];
  for (const raw of lines) {
    const l = raw.trimEnd();
    if (!l.trim()) continue;
    const m = /^\((?:.*?: )?Line (\d+)\) (.*)$/.exec(l);
    const text = (m ? m[2]! : l).trim();
    if (seen.has(text)) continue;
    seen.add(text);
    messages.push(m ? { line: Number(m[1]), text } : { text });
  }
  return messages;
}

/** A network namespace with a veth device per interface name; removed by close(). */
export class KeepalivedOracle {
  readonly ns = `tsvs-difftest-${process.pid}`;
  constructor(readonly ifnames: readonly string[]) {
    addNamespace(this.ns, ifnames);
  }

  async run(file: string): Promise<Outcome> {
    // Through `ip netns exec`, which execs keepalived: a signal that kills keepalived is the signal seen here.
    const r = await shAsync(['ip', 'netns', 'exec', this.ns, KEEPALIVED, '-t', '-l', '-i', CONFIG_ID, '-f', file]);
    return { exit: r.status, messages: keepalivedMessages(r.out.split('\n')), ...(r.signal ? { signal: r.signal } : {}) };
  }

  close(): void {
    delNamespace(this.ns);
  }
}

export async function runLdirectord(file: string): Promise<Outcome> {
  // PERLIO set: ldirectord re-executes itself to set it otherwise (twice the start-up time).
  const r = await shAsync([LDIRECTORD, '-d', file, 'status'], { ...process.env, PERLIO: 'perlio' });
  const messages: Message[] = [];
  for (const l of r.out.split('\n')) {
    const m = /^(?:Error|Warning) \[\d+\](?: reading file .* at line (\d+))?: (.*)$/.exec(l.trimEnd());
    if (m) messages.push(m[1] ? { line: Number(m[1]), text: m[2]!.trim() } : { text: m[2]!.trim() });
  }
  return { exit: r.status, messages };
}

const BATCH = fileURLToPath(new URL('./tsvs-batch.ts', import.meta.url));

/** `tsvs config-test` on every file (tsvs-batch.ts, one process): exit codes and diagnostics. */
export async function runTsvs(files: readonly { path: string; reader: Reader }[], netns?: string): Promise<Outcome[]> {
  // In keepalived's namespace when given: config-test checks the interfaces a file names, as keepalived -t does.
  const argv = [process.execPath, '--import', 'tsx', BATCH];
  const cmd = netns ? ['ip', 'netns', 'exec', netns, ...argv] : argv;
  const c = spawn(cmd[0]!, cmd.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], cwd: fileURLToPath(new URL('../../..', import.meta.url)) });
  let out = '', err = '';
  c.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  c.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
  c.stdin.end(JSON.stringify(files.map((f) => [f.path, f.reader])));
  const timer = setTimeout(() => c.kill('SIGKILL'), 300_000);
  const code = await new Promise<number | null>((resolve, reject) => { c.on('error', reject); c.on('close', resolve); });
  clearTimeout(timer);
  if (code !== 0) throw new Error(`tsvs-batch failed (${code}): ${err}`);
  const res = JSON.parse(out) as { exit: number; stderr: string }[];
  return res.map((x) => ({ exit: x.exit, messages: parseTsvsDiagnostics(x.stderr) }));
}

/** config-test's stderr: "FILE:LINE[:COL]: error|warning: message" lines (the summary line aside). */
export function parseTsvsDiagnostics(stderr: string): Message[] {
  const messages: Message[] = [];
  for (const l of stderr.split('\n')) {
    const m = /^.*?:(\d+)(?::\d+)?: (error|warning): (.*)$/.exec(l);
    if (m) messages.push({ line: Number(m[1]), text: `${m[2]}: ${m[3]}` });
  }
  return messages;
}
