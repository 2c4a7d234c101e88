/**
 * The subset of popt (1.16+) option scanning that ipvsadm 1.31 relies on, reproduced so that the
 * same command lines are accepted, rejected and reported the same way:
 *  - `--long` and `--long=value` (exact long names only; single-dash long names are not matched
 *    and fall back to short-option clusters), `--` ends options, a lone `-` is an argument;
 *  - short clusters (`-Ln`), an argument-taking short option takes the rest of the cluster
 *    (`-w5`, with one leading `=` skipped: `-w=5`) or else the next word, even one that starts
 *    with `-`; optional arguments (`-p`) take the next word only if it does not start with `-`;
 *  - non-option words anywhere are collected as leftovers (popt permutes);
 *  - poptBadOption() is the argv word the scanner last consumed.
 */

export type ArgKind = 'none' | 'string' | 'optional';

export interface OptDef {
  readonly long: string;
  readonly short?: string;
  readonly arg: ArgKind;
  /** Value handed back to the caller (ipvsadm's `val`). */
  readonly tag: string;
}

export type PoptEvent =
  | { readonly type: 'opt'; readonly tag: string; readonly arg: string | null }
  | { readonly type: 'end' }
  | { readonly type: 'error'; readonly code: 'BADOPT' | 'NOARG' };

export const POPT_STRERROR = { BADOPT: 'unknown option', NOARG: 'missing argument' } as const;

export class Popt {
  private next = 0;
  private nextCharArg: string | null = null;
  private restLeftover = false;
  private readonly leftovers: string[] = [];
  private leftoverPos = 0;

  constructor(private readonly argv: readonly string[], private readonly table: readonly OptDef[]) {}

  private findLong(name: string): OptDef | undefined {
    return this.table.find((o) => o.long === name);
  }

  private findShort(ch: string | undefined): OptDef | undefined {
    if (ch === undefined || ch === '') return undefined;
    return this.table.find((o) => o.short === ch);
  }

  getNextOpt(): PoptEvent {
    for (;;) {
      let opt: OptDef | undefined;
      let longArg: string | null = null;
      if (this.nextCharArg === null) {
        if (this.next >= this.argv.length) return { type: 'end' };
        const orig = this.argv[this.next++]!;
        if (this.restLeftover || orig[0] !== '-' || orig === '-') {
          this.leftovers.push(orig);
          continue;
        }
        if (orig === '--') {
          this.restLeftover = true;
          continue;
        }
        let s = orig.slice(1);
        let singleDash = true;
        if (s[0] === '-') {
          singleDash = false;
          s = s.slice(1);
        }
        const eq = s.indexOf('=');
        const name = eq >= 0 ? s.slice(0, eq) : s;
        if (eq >= 0) longArg = s.slice(eq + 1);
        if (!singleDash) {
          opt = this.findLong(name);
          if (!opt) return { type: 'error', code: 'BADOPT' };
        } else {
          // No ipvsadm option is POPT_ARGFLAG_ONEDASH: a single dash starts a short cluster.
          this.nextCharArg = orig.slice(1);
          longArg = null;
        }
      }
      if (this.nextCharArg !== null) {
        const nca = this.nextCharArg;
        this.nextCharArg = null;
        opt = this.findShort(nca[0]);
        if (!opt) return { type: 'error', code: 'BADOPT' };
        const rest = nca.slice(1);
        if (rest !== '') this.nextCharArg = rest[0] === '=' ? rest.slice(1) : rest;
      }
      if (!opt) return { type: 'error', code: 'BADOPT' };
      let arg: string | null = null;
      if (opt.arg !== 'none') {
        if (longArg !== null) {
          arg = longArg;
        } else if (this.nextCharArg !== null) {
          arg = this.nextCharArg;
          this.nextCharArg = null;
        } else if (this.next >= this.argv.length) {
          if (opt.arg !== 'optional') return { type: 'error', code: 'NOARG' };
          arg = null;
        } else if (opt.arg === 'optional' && this.argv[this.next]![0] === '-') {
          arg = null;
        } else {
          arg = this.argv[this.next++]!;
        }
      }
      return { type: 'opt', tag: opt.tag, arg };
    }
  }

  /** poptBadOption(ctx, POPT_BADOPTION_NOALIAS). */
  badOption(): string {
    return this.argv[Math.max(0, this.next - 1)] ?? '';
  }

  /** poptGetArg: the next leftover (non-option) word, in order. Only valid after 'end'. */
  getArg(): string | null {
    if (this.leftoverPos < this.leftovers.length) return this.leftovers[this.leftoverPos++]!;
    return null;
  }
}
