/**
 * A full garbage collection on demand, without starting node with --expose-gc: the flag is set
 * at run time and the `gc` function taken from a fresh context (which gets it).
 *
 * Why: the connection table and the fast path's flows hold their entries in typed arrays; when
 * a flood's entries have expired they reallocate smaller, but the old arrays' memory (malloc'd
 * outside V8's heap) is only freed once V8 collects their wrappers, and an idle daemon allocates
 * too little for V8 to do that on its own: RSS stayed ~30 MB up after a 70,000-SYN flood.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gcFn: (() => void) | null | undefined;

/** Runs a full collection; false when the runtime does not allow it. */
export function collectGarbage(): boolean {
  if (gcFn === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      const f = runInNewContext('gc') as unknown;
      gcFn = typeof f === 'function' ? (f as () => void) : null;
    } catch {
      gcFn = null;
    }
  }
  if (!gcFn) return false;
  gcFn();
  return true;
}
