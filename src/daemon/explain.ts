/**
 * The control API's `explain` op (tsvs explain): validation of the request and the answer from
 * the engine's dry run (Engine.explain, src/core/explain.ts). Changes nothing in the daemon.
 */
import { ControlError } from '../core/errors.ts';
import type { Engine } from '../core/engine.ts';
import type { Explanation } from '../core/explain.ts';
import type { ServiceKey } from '../core/types.ts';

export interface ExplainRequest {
  service: ServiceKey;
  /** Client address (numeric). */
  client: string;
  /** Client port: with it, the client's existing connection entry is looked up too. */
  cport?: number;
}

/** A message for a malformed explain request (EBADREQ), or null. */
export function explainRequestError(o: Record<string, unknown>): string | null {
  const k = o['service'] as Record<string, unknown> | undefined;
  if (typeof k !== 'object' || k === null || (k['af'] !== 4 && k['af'] !== 6) || typeof k['fwmark'] !== 'number' || !['tcp', 'udp', 'sctp'].includes(k['protocol'] as string) || typeof k['addr'] !== 'string' || typeof k['port'] !== 'number') {
    return 'explain needs service: {af: 4|6, fwmark: number, protocol: tcp|udp|sctp, addr: string, port: number}';
  }
  if (typeof o['client'] !== 'string') return 'explain needs client: string (the client address)';
  const p = o['cport'];
  if (p !== undefined && (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > 65535)) return 'explain: cport must be 0..65535';
  return null;
}

/** Engine.explain with its refusals as ControlErrors (ESRCH no such service, EINVAL bad client). */
export function explain(engine: Pick<Engine, 'explain'>, r: ExplainRequest): Explanation {
  const x = engine.explain(r.service, r.client, r.cport ?? null);
  if (x === null) throw new ControlError('ESRCH', 'no such virtual service');
  if (x === 'EINVAL') throw new ControlError('EINVAL', `client ${JSON.stringify(r.client)} is not a numeric address of the service's family`);
  return x;
}
