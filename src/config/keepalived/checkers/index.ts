/**
 * The checker keyword registry: checker keyword (TCP_CHECK, HTTP_GET, ...) -> its keyword table
 * (one file per checker beside this one), and the real_server keywords that open a checker.
 */
import type { CheckerDef } from '../../../health/types.ts';
import type { Stmt } from '../../kalex.ts';
import type { Ctx, Table } from '../context.ts';
import { commonTable, type CheckerDraft, type CheckerKeywords, type Inherit } from './common.ts';
import { dnsKeywords } from './dns.ts';
import { httpKeywords } from './http.ts';
import { miscKeywords } from './misc.ts';
import { pingKeywords } from './ping.ts';
import { smtpKeywords } from './smtp.ts';
import { tcpKeywords } from './tcp.ts';
import { udpKeywords } from './udp.ts';

export type { Inherit } from './common.ts';

const ALL: readonly CheckerKeywords[] = [tcpKeywords, httpKeywords, miscKeywords, smtpKeywords, dnsKeywords, udpKeywords, pingKeywords];

/** keepalived checker keyword -> its keywords. */
export const CHECKER_KEYWORDS: ReadonlyMap<string, CheckerKeywords> = new Map(ALL.flatMap((k) => k.kinds.map((kind) => [kind, k] as const)));

/** keepalived checkers tsvs has no checker for. */
const UNSUPPORTED = ['FILE_CHECK', 'BFD_CHECK'];

/** One checker block; null when it cannot be built (its errors are reported). */
export function parseChecker(c: Ctx, s: Stmt, inh: Inherit): CheckerDef | null {
  const kind = s.name.text.toUpperCase();
  const spec = CHECKER_KEYWORDS.get(kind);
  if (!spec) return null;
  const o: CheckerDraft = {};
  if (inh.retry !== undefined) o['retry'] = inh.retry;
  if (inh.delay_before_retry !== undefined) o['delay_before_retry'] = inh.delay_before_retry;
  if (inh.warmup !== undefined) o['warmup'] = inh.warmup;
  if (inh.connect_timeout !== undefined) o['connect_timeout'] = inh.connect_timeout;
  const before = c.errorCount();
  if (!spec.read(c, s, kind, o, commonTable(c, o))) return null;
  if (c.errorCount() > before) return null;
  return { type: kind, ...o } as CheckerDef;
}

/** The checker keywords of a real_server block; `inh` gives the options in force when one is read. */
export function checkerTable(c: Ctx, onChecker: (d: CheckerDef) => void, inh: () => Inherit): Table {
  const t: Table = {};
  for (const k of CHECKER_KEYWORDS.keys()) {
    t[k] = { block: 'optional', run: (s) => { const d = parseChecker(c, s, inh()); if (d) onChecker(d); } };
  }
  for (const k of UNSUPPORTED) {
    t[k] = { block: 'optional', run: (s) => c.warn(s.name, `${k} is not supported by the tsvs health checkers; ignored (the real server is not checked by it)`) };
  }
  return t;
}
