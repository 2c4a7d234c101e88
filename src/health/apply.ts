/**
 * Applying the manager's operations: table changes become ipvsadm-level commands on an
 * IpvsBackend (the engine, or the daemon's), scripts run through a ScriptRunner without waiting.
 */
import type { Errno, IpvsBackend, IpvsCommand } from '../core/types.ts';
import { splitCommand, type ScriptRunner } from './io.ts';
import type { HealthOp } from './types.ts';

/** The ipvsadm command for a table operation; null for 'exec'. */
export function opToCommand(op: HealthOp): IpvsCommand | null {
  switch (op.op) {
    case 'add': return { kind: 'add-dest', key: op.service, dest: op.dest };
    case 'set-weight': return { kind: 'edit-dest', key: op.service, dest: { ...op.dest, weight: op.weight } };
    case 'remove': return { kind: 'delete-dest', key: op.service, af: op.af, addr: op.addr, port: op.port };
    case 'exec': return null;
  }
}

export interface ApplyOutcome { readonly op: HealthOp; readonly errno: Errno | null }

/** Notify scripts get this long before they are killed. */
export const NOTIFY_TIMEOUT_MS = 30_000;

/**
 * Applies ops in order. An 'add' that finds the dest already there (EEXIST) is retried as an
 * edit; a 'remove' of a missing dest (ENOENT) counts as done. Scripts are started, not awaited.
 */
export function applyHealthOps(ops: readonly HealthOp[], backend: IpvsBackend, scripts?: ScriptRunner): ApplyOutcome[] {
  const out: ApplyOutcome[] = [];
  for (const op of ops) {
    if (op.op === 'exec') {
      if (scripts) void scripts.run(splitCommand(op.script), NOTIFY_TIMEOUT_MS, op.user);
      out.push({ op, errno: null });
      continue;
    }
    const cmd = opToCommand(op)!;
    let e = backend.apply(cmd);
    if (e === 'EEXIST' && cmd.kind === 'add-dest') e = backend.apply({ kind: 'edit-dest', key: cmd.key, dest: cmd.dest });
    if (e === 'ENOENT' && cmd.kind === 'delete-dest') e = null;
    out.push({ op, errno: e });
  }
  return out;
}
