/**
 * What every keepalived.conf block parser shares: the diagnostics sink with its argument
 * readers (`Ctx`), the keyword-table shape and its dispatcher, and the state being built.
 * One block kind per module beside this one; ./index.ts wires them to the top level.
 */
import { canonicalIp, parseIp } from '../../core/addr.ts';
import type { Af } from '../../core/types.ts';
import type { Diagnostic, GlobalConfig, SourcePos, VirtualServiceConfig, VrrpConfig } from '../desired.ts';
import { endCol, type Stmt, type Tok } from '../kalex.ts';

export const MAX_DIAGS = 500;

/** One keyword: does it take a `{ ... }` block, and what it does with its statement. */
export type Handler = { block: boolean | 'optional'; run: (s: Stmt) => void };
/** A block's keywords (keepalived's keyword vector for one level). */
export type Table = Record<string, Handler>;

type Where = { file: string; line: number; col: number };

export class Ctx {
  readonly diags: Diagnostic[] = [];
  err(t: Where, message: string): void {
    if (this.diags.length < MAX_DIAGS) this.diags.push({ severity: 'error', file: t.file, line: t.line, col: t.col, message });
  }
  warn(t: Where, message: string): void {
    if (this.diags.length < MAX_DIAGS) this.diags.push({ severity: 'warning', file: t.file, line: t.line, col: t.col, message });
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
  arg(s: Stmt, i: number, what: string): Tok | null {
    const t = s.args[i];
    if (!t) { this.err(this.after(s), `expected ${what} after '${s.args.length ? s.args[s.args.length - 1]!.text : s.name.text}'`); return null; }
    return t;
  }
  extra(s: Stmt, n: number): void {
    if (s.args.length > n) this.warn(s.args[n]!, `unexpected argument '${s.args[n]!.text}' to '${s.name.text}'; ignored`);
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
   * A notify-style script, `KEYWORD SCRIPT [USER [GROUP]]` as keepalived reads it: the script is
   * one word (quoted when it has arguments); the next words name who runs it.
   */
  script(s: Stmt, what: string): { cmd: string; user?: string } | null {
    const t = this.arg(s, 0, what);
    if (!t) return null;
    this.extra(s, 3);
    const user = s.args.slice(1, 3).map((x) => x.text).join(' ');
    return user ? { cmd: t.text, user } : { cmd: t.text };
  }
  /** `user USER [GROUP]` (MISC_CHECK, vrrp_script): who runs the script, as written. */
  user(s: Stmt): string | null {
    const t = this.arg(s, 0, 'a user name');
    this.extra(s, 2);
    return t ? s.args.slice(0, 2).map((a) => a.text).join(' ') : null;
  }
  /** The rest of the line as one command string (quoted words re-quoted when needed). */
  command(s: Stmt, from: number, what: string): string | null {
    if (s.args.length <= from) { this.err(this.after(s), `expected ${what} after '${s.name.text}'`); return null; }
    const parts = s.args.slice(from);
    if (parts.length === 1) return parts[0]!.text;
    return parts.map((t) => (t.quoted && /[\s"]/.test(t.text) ? `"${t.text.replace(/(["\\])/g, '\\$1')}"` : t.text)).join(' ');
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
  /** Runs the handlers of a block; unknown keywords warn (with their block). */
  dispatch(stmts: readonly Stmt[] | null, table: Table, where: string): void {
    if (!stmts) return;
    for (const s of stmts) {
      let h = table[s.name.text];
      if (!h) {
        const lower = s.name.text.toLowerCase();
        const k = Object.keys(table).find((x) => x.toLowerCase() === lower);
        if (k) {
          this.warn(s.name, `keyword '${s.name.text}' is spelled '${k}' (keywords are case-sensitive in keepalived); accepted as '${k}'`);
          h = table[k];
        }
      }
      if (!h) {
        this.warn(s.name, `unknown keyword '${s.name.text}' in ${where}; ignored${s.block ? ' with its block' : ''}`);
        continue;
      }
      if (h.block === true && !s.block) { this.err(this.after(s), `expected '{' after '${[s.name, ...s.args].map((t) => t.text).join(' ')}'`); continue; }
      if (h.block === false && s.block) { this.warn(s.open!, `unexpected block after '${s.name.text}'; block ignored`); }
      h.run(s);
    }
  }
}

/** A table of keywords that all do the same thing. */
export function sameFor(names: readonly string[], h: (name: string) => Handler): Table {
  return Object.fromEntries(names.map((k) => [k, h(k)]));
}

export function pos(t: Tok): SourcePos {
  return { file: t.file, line: t.line, col: t.col };
}

/** A block's lines as written (one string per statement). */
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
export type GlobalDraft = Mutable<Omit<GlobalConfig, 'notification_email' | 'options'>> & {
  notification_email: string[];
  options: Record<string, string>;
};

/** The VRRP part as it is being read (every list appendable). */
export type VrrpDraft = { -readonly [K in keyof VrrpConfig]: VrrpConfig[K][number][] };

export interface GroupMember { af: Af; fwmark: number; addr: string; port: number; at: SourcePos }

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
}
