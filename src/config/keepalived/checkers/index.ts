/**
 * The checker keyword registry: checker keyword (TCP_CHECK, HTTP_GET, ...) -> its keyword table
 * (one file per checker beside this one), and the real_server keywords that open a checker.
 */
import type { CheckerDef } from '../../../health/types.ts';
import type { Ctx, Table, Stmt } from '../context.ts';
import { commonTable, type CheckerDraft, type CheckerKeywords, type Inherit } from './common.ts';
import { dnsKeywords } from './dns.ts';
import { fileKeywords } from './file.ts';
import { httpKeywords } from './http.ts';
import { miscKeywords } from './misc.ts';
import { pingKeywords } from './ping.ts';
import { smtpKeywords } from './smtp.ts';
import { tcpKeywords } from './tcp.ts';
import { udpKeywords } from './udp.ts';

export type { Inherit } from './common.ts';

const ALL: readonly CheckerKeywords[] = [tcpKeywords, httpKeywords, miscKeywords, smtpKeywords, dnsKeywords, udpKeywords, pingKeywords, fileKeywords];

/** keepalived checker keyword -> its keywords. */
export const CHECKER_KEYWORDS: ReadonlyMap<string, CheckerKeywords> = new Map(ALL.flatMap((k) => k.kinds.map((kind) => [kind, k] as const)));

/** keepalived checkers tsvs has no checker for. */
const UNSUPPORTED = ['BFD_CHECK'];

/** A checker as written: its kind and its own options (inherited ones are added by `buildChecker`). */
export interface CheckerRead { readonly kind: string; readonly own: CheckerDraft }

/** One checker block: the checkers it makes (none when it cannot be built; its errors are reported). */
export function readChecker(c: Ctx, s: Stmt): CheckerRead[] {
  const kind = s.name.text;
  const spec = CHECKER_KEYWORDS.get(kind);
  if (!spec) return [];
  const own: CheckerDraft = {};
  const before = c.errorCount();
  const r = spec.read(c, s, kind, own, commonTable(c, own));
  if (r === false || c.errorCount() > before) return [];
  return (r === true ? [own] : r).map((o) => ({ kind, own: o }));
}

/** The checker with what it inherits from its real_server and virtual_server (its own options win). */
export function buildChecker(r: CheckerRead, inh: Inherit): CheckerDef {
  const o: CheckerDraft = {};
  for (const k of ['retry', 'delay_before_retry', 'warmup', 'connect_timeout'] as const) if (inh[k] !== undefined) o[k] = inh[k];
  return { type: r.kind, ...o, ...r.own } as CheckerDef;
}

/** The checker keywords of a real_server block. */
export function checkerTable(c: Ctx, onChecker: (d: CheckerRead) => void): Table {
  const t: Table = {};
  for (const k of CHECKER_KEYWORDS.keys()) {
    t[k] = { run: (s) => { for (const d of readChecker(c, s)) onChecker(d); } };
  }
  for (const k of UNSUPPORTED) {
    t[k] = { run: (s) => c.warn(s.name, `${k} is not supported by the tsvs health checkers; ignored (the real server is not checked by it)`) };
  }
  return t;
}
