/**
 * Known disagreements between tsvs config-test and the real programs, one entry per cause with
 * its reason and its files listed by how they disagree (see Aspect in compare.ts). The
 * differential test fails when a file disagrees without an entry here, when a file listed here
 * disagrees in another way than listed (or agrees: the listing is then stale and must go), and
 * when a pattern matches no file. So this table is always the true list of what the parser work
 * (issue 14) has left to do.
 *
 * `files` holds ids (see corpus.ts) or patterns: `{a,b}` stands for a or b, `*` for any
 * characters but `/`, `**` for any characters. The first entry that matches a file is the one
 * that applies to it. `run.ts --suggest` drafts entries for a run's unlisted files.
 */
import type { Aspect, Row } from './compare.ts';

export type Disagreement = Exclude<Aspect, 'agree'>;

/** One cause of disagreement: why, and the files it explains, listed by how they disagree. */
export interface Expected {
  readonly reason: string;
  readonly files: Readonly<Partial<Record<Disagreement, readonly string[]>>>;
}

/**
 * Empty: tsvs agrees with the real programs on every file. (The last entry, keepalived 2.2.7 -t
 * killing itself on a non-root script_user, went when the running daemon became the oracle for
 * the files that bug hits: daemon-oracle.ts.)
 */
export const EXPECTED_DISAGREEMENTS: readonly Expected[] = [];

export function patternRe(p: string): RegExp {
  let re = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*' && p[i + 1] === '*') { re += '.*'; i++; }
    else if (c === '*') re += '[^/]*';
    else if (c === '{') re += '(?:';
    else if (c === '}') re += ')';
    else if (c === ',') re += '|';
    else re += c.replace(/[.+?^$()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export interface Check {
  /** Files that disagree with no entry. */
  readonly unlisted: readonly Row[];
  /** Files listed under another aspect than theirs (an agreeing file that is listed is here too). */
  readonly changed: readonly { row: Row; listed: Disagreement; entry: Expected }[];
  /** Patterns that match no file, with their entry. */
  readonly unused: readonly { pattern: string; entry: Expected }[];
}

export function checkExpected(rows: readonly Row[], table: readonly Expected[] = EXPECTED_DISAGREEMENTS): Check {
  const pats = table.flatMap((entry) => Object.entries(entry.files).flatMap(([aspect, ps]) =>
    (ps ?? []).map((pattern) => ({ entry, aspect: aspect as Disagreement, pattern, re: patternRe(pattern), used: false }))));
  const unlisted: Row[] = [];
  const changed: { row: Row; listed: Disagreement; entry: Expected }[] = [];
  for (const r of rows) {
    const p = pats.find((x) => x.re.test(r.id));
    if (p) {
      p.used = true;
      if (p.aspect !== r.aspect) changed.push({ row: r, listed: p.aspect, entry: p.entry });
    } else if (r.aspect !== 'agree') unlisted.push(r);
  }
  return { unlisted, changed, unused: pats.filter((x) => !x.used).map(({ pattern, entry }) => ({ pattern, entry })) };
}
