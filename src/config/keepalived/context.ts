/**
 * What every keepalived.conf block parser shares: the diagnostics sink with its argument
 * readers (`Ctx`), the keyword-table shape and its dispatcher, and the state being built.
 * One block kind per module beside this one; ./index.ts wires them to the top level.
 */
import { canonicalIp, parseIp } from '../../core/addr.ts';
import type { Af } from '../../core/types.ts';
import type { DaemonOptionSetting, Diagnostic, GlobalConfig, KaClass, SourcePos, TrackFileConfig, VirtualServiceConfig, VrrpConfig } from '../desired.ts';
import { endCol, quotedEscaped, type Line, type Tok } from '../kalex.ts';
import type { InstanceDraft } from './drafts.ts';
import { kwTable } from './keywords.ts';

export const MAX_DIAGS = 500;

/** One keyword's statement: its words, and its block when keepalived reads one after it. */
export interface Stmt {
  readonly name: Tok;
  readonly args: readonly Tok[];
  /** The line's text as keepalived has it (script keywords re-read it with quotes and escapes). */
  readonly text: string;
  /** A `values` keyword's block: its lines (keepalived's alloc_value_block). */
  readonly block: readonly Stmt[] | null;
  /** A keyword with keywords of its own: its block, read by `Ctx.dispatch` with the caller's table. */
  readonly body: Body | null;
}

/** A block of keywords not read yet: the lines after its keyword, up to the `}` that closes it. */
export class Body {
  consumed = false;
  constructor(
    /** Keyword names from the top level to this block (its place in KEEPALIVED_KEYWORDS). */
    readonly path: readonly string[],
  ) {}
}

/** What tsvs does with one keyword of a block. Which block it reads comes from KEEPALIVED_KEYWORDS. */
export type Handler = { run: (s: Stmt) => void };
/** A block's keywords that tsvs implements (keepalived's keyword vector for one level). */
export type Table = Record<string, Handler>;

type Where = { file: string; line: number; col: number };

/** The lines of the files being read, one at a time (keepalived's read_line). */
class LineStream {
  private i = 0;
  constructor(private readonly lines: readonly Line[]) {}
  next(): Line | null {
    return this.i < this.lines.length ? this.lines[this.i++]! : null;
  }
}

function stmtOf(l: Line): Stmt {
  return { name: l.toks[0]!, args: l.toks.slice(1), text: l.text, block: null, body: null };
}

/** keepalived's words for a missing word (lib/parser.c null_strvec); i counts from the word after the keyword. */
function missing(s: Stmt, i: number): string {
  const prev = i === 0 ? s.name.text : s.args[i - 1]?.text;
  return prev !== undefined
    ? `*** Configuration line starting \`${s.name.text}\` is missing a parameter after keyword \`${prev}\` at word position ${i + 2}`
    : `*** Configuration line starting \`${s.name.text}\` is missing a parameter at word position ${i + 2}`;
}

export class Ctx {
  readonly diags: Diagnostic[] = [];
  /** keepalived -t stops at the first missing parameter (exit 2): nothing after it is read. */
  stopped = false;
  /** The track_file blocks read so far, by name (FILE_CHECK looks its track_file up as it reads it). */
  trackFile: (name: string) => TrackFileConfig | undefined = () => undefined;
  private readonly stream: LineStream;
  constructor(lines: readonly Line[]) {
    this.stream = new LineStream(lines);
  }
  err(t: Where, message: string, ka?: KaClass): void {
    if (ka === 'param') this.stopped = true;
    if (this.diags.length < MAX_DIAGS) this.diags.push({ severity: 'error', file: t.file, line: t.line, col: t.col, message, ...(ka ? { ka } : {}) });
  }
  warn(t: Where, message: string, ka?: KaClass): void {
    if (ka === 'param') this.stopped = true;
    if (this.diags.length < MAX_DIAGS) this.diags.push({ severity: 'warning', file: t.file, line: t.line, col: t.col, message, ...(ka ? { ka } : {}) });
  }
  /** What keepalived does silently and tsvs does too: said, without failing config-test. */
  note(t: Where, message: string): void {
    this.warn(t, message, 'none');
  }
  /** Number of errors reported so far (a block parser compares before and after). */
  errorCount(): number {
    return this.diags.filter((d) => d.severity === 'error').length;
  }
  /** Position just after the statement (where a missing argument was expected). */
  after(s: Stmt): Where {
    const last = s.args.length ? s.args[s.args.length - 1]! : s.name;
    return { file: last.file, line: last.line, col: endCol(last) + 1 };
  }
  /**
   * The i-th word after the keyword. keepalived's handlers mostly read it without looking:
   * a missing one stops keepalived -t at once ("missing a parameter", exit 2).
   */
  arg(s: Stmt, i: number, what: string): Tok | null {
    const t = s.args[i];
    if (!t) { this.err(this.after(s), `${missing(s, i)} (expected ${what})`, 'param'); return null; }
    return t;
  }
  extra(s: Stmt, n: number): void {
    if (s.args.length > n) this.note(s.args[n]!, `unexpected argument '${s.args[n]!.text}' to '${s.name.text}'; ignored`);
  }
  num(s: Stmt, i: number, what: string, min: number, max: number, integer = true): number | null {
    const t = this.arg(s, i, what);
    if (!t) return null;
    const ok = integer ? /^[+-]?\d+$/.test(t.text) : /^[+-]?(\d+\.?\d*|\.\d+)$/.test(t.text);
    const v = Number(t.text);
    if (!ok || !Number.isFinite(v) || v < min || v > max) {
      this.err(t, `expected ${what} (${integer ? 'an integer' : 'a number'} ${min}..${max}), got '${t.text}'`);
      return null;
    }
    return v;
  }
  ip(s: Stmt, i: number, what: string): { addr: string; af: Af } | null {
    const t = this.arg(s, i, what);
    if (!t) return null;
    const ip = parseIp(t.text);
    if (!ip) { this.err(t, `expected ${what} (an IPv4 or IPv6 address), got '${t.text}'`); return null; }
    return { addr: canonicalIp(t.text)!, af: ip.af };
  }
  /**
   * A script keyword's words as keepalived re-reads its line (quotes, escapes): the script is
   * the word after the keyword (quote it to give it arguments), then USER [GROUP] for notify
   * scripts. Words keepalived ignores are said in a note.
   */
  scriptWords(s: Stmt, what: string, maxWords: number): string[] | null {
    const w = quotedEscaped(s.text);
    if (w && !Array.isArray(w)) { this.warn(s.name, `String '${s.text}': missing terminating ${w.missing}`); return null; }
    if (!w) return null;
    if (w.length < 2) { this.err(this.after(s), `${missing(s, 0)} (expected ${what})`, 'param'); return null; }
    if (w.length > maxWords + 1) this.note(s.args[maxWords] ?? s.name, `'${w.slice(maxWords + 1).join(' ')}' after ${s.name.text} is ignored (keepalived reads the ${maxWords === 1 ? 'script only: quote the command to give it arguments' : 'script, user and group only'})`);
    return w.slice(1, maxWords + 1);
  }
  /** A notify-style script, `KEYWORD SCRIPT [USER [GROUP]]` as keepalived reads it. */
  script(s: Stmt, what: string): { cmd: string; user?: string } | null {
    const w = this.scriptWords(s, what, 3);
    if (!w) return null;
    const user = w.slice(1, 3).join(' ');
    return user ? { cmd: w[0]!, user } : { cmd: w[0]! };
  }
  /** `user USER [GROUP]` (MISC_CHECK, vrrp_script): who runs the script, as written. */
  user(s: Stmt): string | null {
    const t = this.arg(s, 0, 'a user name');
    this.extra(s, 2);
    return t ? s.args.slice(0, 2).map((a) => a.text).join(' ') : null;
  }
  /** script / misc_path: the command (its first word as keepalived re-reads the line). */
  command(s: Stmt, what: string): string | null {
    const w = this.scriptWords(s, what, 1);
    return w ? w[0]! : null;
  }
  bool(s: Stmt, i: number): boolean {
    const t = s.args[i];
    if (!t) return true;
    const v = t.text.toLowerCase();
    if (['on', 'true', 'yes', '1'].includes(v)) return true;
    if (['off', 'false', 'no', '0'].includes(v)) return false;
    this.err(t, `expected on|off|true|false|yes|no, got '${t.text}'`);
    return true;
  }
  /** The top-level block (the whole file). */
  top(): Body {
    return new Body([]);
  }
  /**
   * Reads a block as keepalived's process_stream does: `{` first (else "Missing '{'"), each line
   * a keyword of this level, up to its `}`; a stray `{` is ignored, a word keepalived does not
   * know is "Unknown keyword" (its `{ }` then belongs to this level, as in keepalived).
   * Keywords keepalived knows and `table` lacks are said to be not implemented.
   */
  dispatch(body: Body | null, table: Table, where: string, quiet = false): void {
    if (!body || body.consumed) return;
    body.consumed = true;
    const ka = kwTable(body.path) ?? {};
    const nested = body.path.length > 0;
    let needBob = nested;
    for (let l = this.stream.next(); l && !this.stopped; l = this.stream.next()) {
      const first = l.toks[0]!;
      const str = first.text;
      if (needBob) {
        needBob = false;
        if (str === '{') continue;
        this.warn(first, "Missing '{' at beginning of configuration block");
      } else if (str === '{') {
        this.warn(first, "Unexpected '{' - ignoring");
        continue;
      }
      if (str === '}' && nested) return;
      const kind = ka[str];
      if (kind === undefined) {
        // keepalived's words, as it says them; the line is ignored.
        this.warn(first, `Unknown keyword '${str}'`);
        const k = Object.keys(ka).find((x) => x.toLowerCase() === str.toLowerCase());
        if (k) this.note(first, `'${str}' is not '${k}' (${where}): keepalived's keywords are case-sensitive`);
        continue;
      }
      const s: Stmt = {
        ...stmtOf(l),
        ...(kind === 'values' ? { block: this.values() } : {}),
        ...(typeof kind === 'object' ? { body: new Body([...body.path, str]) } : {}),
      };
      const h = table[str];
      if (h) h.run(s);
      else if (!quiet) this.warn(first, `'${str}' in ${where} is accepted but not implemented by tsvs; ignored${s.body ? ' with its block' : ''}`);
      // A block nobody read is still read through, so its inner unknown keywords are reported.
      if (s.body && !s.body.consumed) this.dispatch(s.body, {}, str, true);
    }
  }
  /** A `values` keyword's block (keepalived's alloc_value_block): lines up to a `}` alone. */
  private values(): Stmt[] {
    const out: Stmt[] = [];
    let needBob = true;
    for (let l = this.stream.next(); l; l = this.stream.next()) {
      let toks = l.toks;
      if (needBob) {
        needBob = false;
        if (toks[0]!.text === '{') {
          if (toks.length === 1) continue;
          toks = toks.slice(1);
        } else this.warn(toks[0]!, "'{' missing from beginning of block", 'log');
      }
      let eob = false;
      if (toks[toks.length - 1]!.text === '}') {
        if (toks.length === 1) break;
        eob = true;
        toks = toks.slice(0, -1);
      }
      out.push(stmtOf({ toks, file: l.file, line: l.line, text: l.text }));
      if (eob) break;
    }
    return out;
  }
}

/** A table of keywords that all do the same thing. */
export function sameFor(names: readonly string[], h: (name: string) => Handler): Table {
  return Object.fromEntries(names.map((k) => [k, h(k)]));
}

export function pos(t: Tok): SourcePos {
  return { file: t.file, line: t.line, col: t.col };
}

/** A values block's lines as written (one string per line). */
export function lines(stmts: readonly Stmt[] | null): string[] {
  return (stmts ?? []).map((s) => [s.name, ...s.args].map((t) => t.text).join(' '));
}

/** Records who runs a script (`KEYWORD SCRIPT USER [GROUP]`); a later line without a user clears it. */
export function setUser<K extends string>(users: Partial<Record<K, string>>, k: K, user: string | undefined): void {
  if (user === undefined) delete users[k];
  else users[k] = user;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** global_defs as it is being read. */
export type GlobalDraft = Mutable<Omit<GlobalConfig, 'notification_email' | 'options' | 'daemonOptions'>> & {
  notification_email: string[];
  options: Record<string, string>;
  daemonOptions?: DaemonOptionSetting[];
};

/** The VRRP part as it is being read (every list appendable). */
export type VrrpDraft = { -readonly [K in keyof VrrpConfig]: VrrpConfig[K][number][] };

export interface GroupMember { af: Af; fwmark: number; addr: string; port: number; at: SourcePos }

/** An interface as the host has it (keepalived looks interfaces up while it reads the file). */
export interface HostInterface {
  readonly loopback: boolean;
  readonly multicast: boolean;
}

/** keepalived's IFNAMSIZ - 1: the longest interface name. */
export const IFNAME_MAX = 15;

/** Everything the block parsers of one file build together. */
export interface KaState {
  readonly c: Ctx;
  readonly global: GlobalDraft;
  readonly vrrp: VrrpDraft;
  /** virtual_server_group name -> members (read before any virtual_server). */
  readonly groups: Map<string, { members: GroupMember[]; at: Tok }>;
  readonly services: VirtualServiceConfig[];
  /** Service key -> where it was first defined (duplicates are errors). */
  readonly svcSeen: Map<string, SourcePos>;
  /** Work done once every block is read (in file order): what names a group. */
  readonly deferred: (() => void)[];
  /** The host's interfaces; null when not known (no interface is checked then). */
  readonly interfaces: ReadonlyMap<string, HostInterface> | null;
  /** vrrp_instance blocks as read, completed once the file is read (./vrrp-complete.ts). */
  readonly vrrpDrafts: InstanceDraft[];
  /** global_defs settings the VRRP instances take. */
  readonly vrrpGlobal: { strict: boolean; version: 2 | 3; checkUnicastSrc?: boolean; nftIfindex?: boolean; mcastGroup4?: string; mcastGroup6?: string };
  /** Sync groups with sync_group_tracking_weight. */
  readonly syncTrackingWeight: Set<string>;
  /** The preference keepalived gives the next IPv4 / IPv6 rule written without one. */
  readonly rulePriority: { v4: number; v6: number };
}
