/**
 * Memory given back after a flood. A full garbage collection on demand, without starting node
 * with --expose-gc: the flag is set at run time and the `gc` function taken from a fresh context
 * (which gets it).
 *
 * Why each step (measured under a 70,000-SYN flood, test/reliability/syn-flood.test.ts):
 * - The connection table and the fast path's flows hold their entries in typed arrays; when a
 *   flood's entries have expired they reallocate smaller, but the old arrays' memory (malloc'd
 *   outside V8's heap) is only freed once V8 collects their wrappers, and an idle daemon
 *   allocates too little for V8 to do that on its own: RSS stayed ~30 MB up.
 * - Freed, those arrays leave whole free pages inside malloc's main arena (the brk heap grew
 *   3.5 -> 7.4 MB and stayed): malloc_trim(0) hands them back.
 * - The flood's allocation rate grows V8's young generation (new space 1 -> 16 MB) and V8 only
 *   shrinks it in a collection that sees a low but non-zero allocation rate over the last
 *   ~5 s; a full collection right after the flood does not (the window still holds the flood's
 *   allocations), and an idle daemon runs no further collection. So one young-generation
 *   collection follows SHRINK_AFTER_MS later, when the window holds only quiet time, and the
 *   daemon's clock calls trimYoungGeneration now and then: a young generation left large by any
 *   burst (start-up too: 7 MB) goes back to V8's minimum once the daemon is quiet. When it is
 *   busy V8 keeps the size (its own rule) and the call cost one early scavenge.
 */
import { setFlagsFromString, getHeapSpaceStatistics } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { sys } from './libc.ts';

type GcFn = (options?: { type: 'major' | 'minor' }) => void;
let gcFn: GcFn | null | undefined;
let shrinkTimer: NodeJS.Timeout | undefined;
/** Past V8's ~5 s allocation-throughput window (heap/gc-tracer.cc, kThroughputTimeFrameMs). */
export const SHRINK_AFTER_MS = 6000;

function gcFunction(): GcFn | null {
  if (gcFn === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      const f = runInNewContext('gc') as unknown;
      gcFn = typeof f === 'function' ? (f as GcFn) : null;
    } catch {
      gcFn = null;
    }
  }
  return gcFn;
}

/** Runs a full collection; false when the runtime does not allow it. */
function collectGarbage(): boolean {
  const gc = gcFunction();
  if (!gc) return false;
  gc();
  return true;
}

/**
 * Gives freed memory back to the system: a full collection, malloc's free pages trimmed, and
 * (once, SHRINK_AFTER_MS later) a young-generation collection that lets V8 shrink its new space.
 * Returns false when the runtime does not allow collections.
 */
export function releaseMemory(): boolean {
  if (!collectGarbage()) return false;
  sys.malloc_trim(0);
  if (shrinkTimer === undefined) {
    shrinkTimer = setTimeout(() => {
      shrinkTimer = undefined;
      gcFunction()?.({ type: 'minor' });
      sys.malloc_trim(0);
    }, SHRINK_AFTER_MS);
    shrinkTimer.unref();
  }
  return true;
}

/** Above this much resident new space, trimYoungGeneration runs a young-generation collection. */
export const YOUNG_TRIM_BYTES = 4 << 20;

/**
 * One young-generation collection when V8's new space holds more than YOUNG_TRIM_BYTES; V8 then
 * shrinks it if the last ~5 s allocated little. Returns whether a collection ran.
 */
export function trimYoungGeneration(): boolean {
  if ((heapSpaces()['new_space'] ?? 0) <= YOUNG_TRIM_BYTES) return false;
  const gc = gcFunction();
  if (!gc) return false;
  gc({ type: 'minor' });
  return true;
}

/** V8's heap spaces as resident bytes, by space name (new_space, old_space, ...). */
export function heapSpaces(): Record<string, number> {
  return Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, s.physical_space_size]));
}
