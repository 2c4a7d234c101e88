/**
 * The process's descriptor limit (RLIMIT_NOFILE). The daemon raises its soft limit to the hard
 * one at start (Node does the same when it starts, but the daemon must not depend on it, and it
 * reports both), and the proxy sizes its connection budget from the soft limit.
 */
import { sys, check } from './libc.ts';

const RLIMIT_NOFILE = 7;
/** RLIM_INFINITY (all ones): reported as the largest safe integer. */
const INFINITY = 0xffffffffffffffffn;

export interface NofileLimit {
  readonly soft: number;
  readonly hard: number;
}

function asNumber(v: bigint): number {
  return v === INFINITY || v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

export function getNofile(): NofileLimit {
  const b = Buffer.alloc(16);
  check('getrlimit(RLIMIT_NOFILE)', sys.getrlimit(RLIMIT_NOFILE, b));
  return { soft: asNumber(b.readBigUInt64LE(0)), hard: asNumber(b.readBigUInt64LE(8)) };
}

/** Raises the soft limit to the hard limit; returns the limits before and after. */
export function raiseNofile(): { before: NofileLimit; after: NofileLimit } {
  const b = Buffer.alloc(16);
  check('getrlimit(RLIMIT_NOFILE)', sys.getrlimit(RLIMIT_NOFILE, b));
  const before = { soft: asNumber(b.readBigUInt64LE(0)), hard: asNumber(b.readBigUInt64LE(8)) };
  if (b.readBigUInt64LE(0) !== b.readBigUInt64LE(8)) {
    b.writeBigUInt64LE(b.readBigUInt64LE(8), 0);
    check('setrlimit(RLIMIT_NOFILE)', sys.setrlimit(RLIMIT_NOFILE, b));
  }
  return { before, after: getNofile() };
}
