/** The checker registry: kind -> checker, and `runCheck` which never rejects. */
import type { AnyChecker, CheckContext } from '../checker.ts';
import type { CheckResult, CheckerDef, CheckerKind } from '../types.ts';
import { connectChecker } from './connect.ts';
import { dnsChecker } from './dns.ts';
import { externalChecker } from './external.ts';
import { fileChecker } from './file.ts';
import { httpChecker } from './http.ts';
import { miscChecker } from './misc.ts';
import { negotiateChecker } from './negotiate.ts';
import { pingChecker } from './ping.ts';
import { smtpChecker } from './smtp.ts';
import { staticChecker } from './static.ts';
import { tcpChecker } from './tcp.ts';
import { udpChecker } from './udp.ts';

const ALL: readonly AnyChecker[] = [
  tcpChecker, httpChecker, miscChecker, dnsChecker, smtpChecker, udpChecker, pingChecker,
  connectChecker, negotiateChecker, externalChecker, staticChecker, fileChecker,
];

export const CHECKERS: ReadonlyMap<CheckerKind, AnyChecker> = new Map(ALL.flatMap((c) => c.kinds.map((k: CheckerKind) => [k, c] as const)));

export function checkerFor(kind: CheckerKind): AnyChecker | undefined {
  return CHECKERS.get(kind);
}

/** Runs the checker for def.type. Resolves with a CheckResult even if the checker misbehaves. */
export async function runCheck(def: CheckerDef, ctx: CheckContext): Promise<CheckResult> {
  const c = CHECKERS.get(def.type);
  if (!c) return { ok: false, reason: `unsupported: ${String(def.type)}`, latencyMs: 0 };
  try {
    return await c.run(def, ctx);
  } catch (e) {
    return { ok: false, reason: `error: ${(e as Error)?.message ?? String(e)}`, latencyMs: 0 };
  }
}
