/**
 * Identities that carry a checker's state over a reload: its key (service, real server, index)
 * and its definition's fingerprint (config/diff.ts healthCarry and the health manager agree on both).
 */
import type { CheckerDef } from './types.ts';

/** Stable identity of one checker of one real server of one service. */
export function checkerKey(serviceKey: string, realKey: string, index: number): string {
  return `${serviceKey} ${realKey} #${index}`;
}

function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stable((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

/** A checker definition's fingerprint: equal fingerprints = same probe, state may carry over. */
export function checkerFingerprint(def: CheckerDef): string {
  return stable(def);
}
