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

export const EXPECTED_DISAGREEMENTS: readonly Expected[] = [
  {
    reason: "keepalived 2.2.7 -t kills itself (SIGTERM, no message) whenever a script runs as a user other than root (script_user nobody): check_script_secure (lib/notify.c) checks the script as that user, then, to see whether its parent died meanwhile, compares getppid() with main_pid, which -t never sets, and sends itself SIGTERM. The running daemon reads the file and runs the script as nobody. tsvs accepts it as the daemon does: refusing the recommended setup (enable_script_security with an unprivileged script_user) would stop `config-test && reload` for everyone who follows keepalived's advice.",
    files: {
      'tsvs-accepts': [
        'ka/semantic/script-security.conf',
      ],
    },
  },
  {
    reason: "tsvs refuses a virtual_server_group address range over 4096 addresses (expansion is bounded); keepalived accepts it.",
    files: {
      'tsvs-rejects': [
        'ka/from-tests/config-fuzz-group-ranges.conf',
      ],
    },
  },
  {
    reason: "tsvs refuses a virtual server defined twice (its real servers would be merged silently); keepalived accepts it and fails later in IPVS.",
    files: {
      'tsvs-rejects': [
        'ka/semantic/duplicate-virtual-server.conf',
      ],
    },
  },
  {
    reason: "FILE_CHECK: tsvs has no file checker and says so; keepalived reports the track_file it names as not found.",
    files: {
      'problems': [
        'ka/from-tests/readers-warning-unsupported-file-check.conf',
      ],
    },
  },
  {
    reason: "UDP_CHECK payload on a one-line block: keepalived reads the hex string with the rest of the line and refuses it (\"Invalid hex string\"); tsvs reads the first word. The file also uses keywords tsvs does not implement (said).",
    files: {
      'problems': [
        'ka/gen/oneline-blocks/project/ka-dr-vrrp.conf',
      ],
    },
  },
  {
    reason: "The whole file on one line, read in 1023-byte pieces: keepalived still counts a script as executed and reports the SECURITY VIOLATION (exit 6); in tsvs's reading of the pieces no script survives (exit 5).",
    files: {
      'exit': [
        'ka/gen/oneline-file/samples/keepalived.conf.vrrp.localcheck',
        'ka/gen/oneline-file/project/ka-dr-vrrp.conf',
      ],
    },
  },
  {
    reason: "real=192.168.6.2::5060 (the sample's SIP service): ldirectord reads HOST::PORT, tsvs refuses it.",
    files: {
      'tsvs-rejects': [
        'ld/samples/sections/section-18-192.168.6.240:5060.cf',
      ],
    },
  },
  {
    reason: "ldirectord stops at its first error (quiescent, line 4); tsvs goes on and reports every Unknown command after it too.",
    files: {
      'problems': [
        'ld/gen/whitespace/project/seed-004-ldirectord.cf',
        'ld/gen/crlf/project/seed-004-ldirectord.cf',
      ],
    },
  },
  {
    reason: "ldirectord checktype = N (negotiate every Nth check, connect otherwise): tsvs says at its line that it negotiates every time; ldirectord reads it silently.",
    files: {
      'problems': [
        'ld/lexical/checktype-number.cf',
      ],
    },
  },
];

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
