/**
 * One file's comparison: verdicts, exit codes (through TSVS_EXIT_FOR) and problems by kind; the
 * per-file agreement table and the summary.
 */
import type { CorpusFile, Reader } from './corpus.ts';
import { KILLED, type Outcome } from './oracles.ts';
import { KEEPALIVED_KINDS, LDIRECTORD_KINDS, TSVS_KINDS, kindsOf } from './problems.ts';

/**
 * The `tsvs config-test` exit code each peer exit code calls for. keepalived -t: 0 OK, 2 a
 * parameter missing (the parser exits at once), 4 fatal / bad file / bad interface, 5 other
 * config errors, 6 script security. ldirectord `status`: 3 read OK (and not running), 2 config
 * error. config-test follows keepalived -t's codes (issue 14); for ldirectord.cf it exits 0 when
 * clean or only warned, 1 on errors.
 */
export const TSVS_EXIT_FOR: Readonly<Record<Reader, Readonly<Record<number, number>>>> = {
  keepalived: { 0: 0, 2: 2, 4: 4, 5: 5, 6: 6 },
  ldirectord: { 3: 0, 2: 1 },
};

/** The peer's exit codes that mean "configuration accepted". */
const PEER_OK: Readonly<Record<Reader, number>> = { keepalived: 0, ldirectord: 3 };

/**
 * The peer died of a signal (keepalived 2.2.7 -t segfaults, aborts or SIGTERMs itself on a few
 * files). That is a refusal: `keepalived -t && systemctl reload keepalived` does not reload, and
 * the daemon parses the file the same way. So tsvs must refuse too, with one of keepalived -t's
 * refusal codes (there is no exit code to map a signal to), and say every problem the peer said
 * before it died. What tsvs says beyond that is not held against it: the peer died before it could
 * check the rest (its end-of-file validation, e.g. "no scheduler set", never runs).
 */
const CRASH_EXITS: Readonly<Record<Reader, readonly number[]>> = { keepalived: [2, 4, 5, 6], ldirectord: [1] };

export type Verdict = 'accept' | 'reject' | 'crash';

/**
 * How a file disagrees, worst first: tsvs accepts what the peer rejects or dies on (unsafe), tsvs
 * rejects what the peer accepts, both reject with other exit codes, or the verdicts agree and the
 * problems differ.
 */
export type Aspect = 'tsvs-accepts' | 'tsvs-rejects' | 'exit' | 'problems' | 'agree';

export interface Row {
  readonly id: string;
  readonly reader: Reader;
  readonly peer: Outcome;
  readonly tsvs: Outcome;
  readonly peerVerdict: Verdict;
  readonly tsvsVerdict: Verdict;
  /** Problem kinds only the peer reports, and only tsvs reports (each with a first line, if known). */
  readonly peerOnly: readonly string[];
  readonly tsvsOnly: readonly string[];
  readonly aspect: Aspect;
}

const at = (kind: string, ms: readonly { line?: number }[]): string => {
  const line = ms.find((m) => m.line !== undefined)?.line;
  return line === undefined ? kind : `${kind}@${line}`;
};

export function compare(f: CorpusFile, peer: Outcome, tsvs: Outcome): Row {
  const peerVerdict: Verdict = peer.exit === KILLED ? 'crash' : peer.exit === PEER_OK[f.reader] ? 'accept' : 'reject';
  const tsvsVerdict: Verdict = tsvs.exit === 0 ? 'accept' : 'reject';
  const pk = kindsOf(peer.messages, f.reader === 'keepalived' ? KEEPALIVED_KINDS : LDIRECTORD_KINDS);
  const tk = kindsOf(tsvs.messages, TSVS_KINDS);
  const peerOnly = [...pk].filter(([k]) => !tk.has(k)).map(([k, ms]) => at(k, ms)).sort();
  const tsvsOnly = [...tk].filter(([k]) => !pk.has(k)).map(([k, ms]) => at(k, ms)).sort();
  const crash = peerVerdict === 'crash';
  const aspect: Aspect = peerVerdict !== 'accept' && tsvsVerdict === 'accept' ? 'tsvs-accepts'
    : peerVerdict === 'accept' && tsvsVerdict === 'reject' ? 'tsvs-rejects'
    : crash ? (!CRASH_EXITS[f.reader].includes(tsvs.exit) ? 'exit' : peerOnly.length ? 'problems' : 'agree')
    : TSVS_EXIT_FOR[f.reader][peer.exit] !== tsvs.exit ? 'exit'
    : peerOnly.length || tsvsOnly.length ? 'problems'
    : 'agree';
  return { id: f.id, reader: f.reader, peer, tsvs, peerVerdict, tsvsVerdict, peerOnly, tsvsOnly, aspect };
}

const peerName = (r: Reader): string => (r === 'keepalived' ? 'keepalived' : 'ldirectord');

/** The per-file agreement table, one line per file (problems that differ at the end). */
export function renderTable(rows: readonly Row[]): string {
  const w = Math.max(4, ...rows.map((r) => r.id.length));
  const head = `${'file'.padEnd(w)}  ${'peer'.padEnd(17)}  ${'tsvs'.padEnd(9)}  ${'result'.padEnd(12)}  differing problems (peer only | tsvs only)`;
  const lines = rows.map((r) => {
    const diff = r.peerOnly.length || r.tsvsOnly.length ? `${r.peerOnly.join(' ') || '-'} | ${r.tsvsOnly.join(' ') || '-'}` : '';
    const peer = (r.peerVerdict === 'crash' ? `crash ${r.peer.signal ?? '?'}` : `${r.peerVerdict} ${r.peer.exit}`) + (r.peer.via ? ' (daemon)' : '');
    return `${r.id.padEnd(w)}  ${peer.padEnd(17)}  ${`${r.tsvsVerdict} ${r.tsvs.exit}`.padEnd(9)}  ${r.aspect.padEnd(12)}  ${diff}`.trimEnd();
  });
  return [head, ...lines].join('\n') + '\n';
}

/** "agree N of M" overall and per peer, then the count of each kind of disagreement. */
export function renderSummary(rows: readonly Row[]): string {
  const count = (p: (r: Row) => boolean) => rows.filter(p).length;
  const out = [`agree ${count((r) => r.aspect === 'agree')} of ${rows.length}`];
  for (const reader of ['keepalived', 'ldirectord'] as const) {
    const mine = rows.filter((r) => r.reader === reader);
    out.push(`  ${peerName(reader)}: agree ${mine.filter((r) => r.aspect === 'agree').length} of ${mine.length}; ` +
      `same verdict ${mine.filter((r) => (r.peerVerdict === 'crash' ? 'reject' : r.peerVerdict) === r.tsvsVerdict).length} of ${mine.length}`);
  }
  for (const a of ['tsvs-accepts', 'tsvs-rejects', 'exit', 'problems'] as const) out.push(`  ${a}: ${count((r) => r.aspect === a)}`);
  out.push(`  peer crashed (compared as refusals): ${count((r) => r.peerVerdict === 'crash')}, of which agree ${count((r) => r.peerVerdict === 'crash' && r.aspect === 'agree')}`);
  const daemon = rows.filter((r) => r.peer.via);
  out.push(`  keepalived -t died of its 2.2.7 script_user bug: ${daemon.length}, read by the running daemon instead: ${daemon.filter((r) => r.peerVerdict !== 'crash').length}`);
  return out.join('\n') + '\n';
}
