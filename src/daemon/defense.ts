/**
 * The flood defences' clock (ip_vs_ctl.c defense_work_handler): once a second the engine's
 * update_defense_level runs with the memory available, in pages, taken as the smaller of the
 * system's (MemAvailable, as the kernel counts free memory) and what is left of the connection
 * table at ENTRY_BYTES per entry (what one connection costs the daemon at its peak, measured
 * under a SYN flood in packet mode with the kernel fast path: 491 bytes of RSS per entry, see
 * docs/PACKET-FORWARDER.md). So `amemthresh` (1024 pages = 4 MiB) turns the automatic defences on when
 * the table is within 8,192 entries of --conn-max, or the machine is short.
 *
 * Also here: memory given back. When the table or the fast path's flows have shrunk by
 * RELEASE_BYTES since the last collection (a flood's entries expired), one full garbage
 * collection frees the old arrays at once, and malloc and V8's young generation give their pages
 * back (src/os/gc.ts says why each step is needed).
 */
import { readFileSync } from 'node:fs';
import type { Engine } from '../core/engine.ts';
import { releaseMemory, trimYoungGeneration } from '../os/gc.ts';

export const ENTRY_BYTES = 512;
/**
 * Shrinks adding up to this much (bytes of arrays) are followed by a full collection, at most one
 * every RELEASE_EVERY_S seconds (a table shrinks in several halvings as a flood's entries expire).
 */
export const RELEASE_BYTES = 1 << 20;
const RELEASE_EVERY_S = 5;
/** How often the young generation is offered a trim (src/os/gc.ts trimYoungGeneration). */
const YOUNG_TRIM_EVERY_S = 10;
const PAGE = 4096;
const PERIOD_MS = 1000;

function memAvailablePages(): number {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    return m ? Math.floor((Number(m[1]) * 1024) / PAGE) : Number.MAX_SAFE_INTEGER;
  } catch {
    return Number.MAX_SAFE_INTEGER;
  }
}

/** Available pages as the defence sees them. */
export function availablePages(connMax: number, entries: number): number {
  const table = Math.floor((Math.max(0, connMax - entries) * ENTRY_BYTES) / PAGE);
  return Math.min(table, memAvailablePages());
}

/**
 * Starts the once-a-second defence; returns its stop. `heldBytes`: what the table's arrays and
 * the forwarder's (the fast path's flows) hold now.
 */
export function startDefense(engine: Engine, connMax: number, heldBytes: () => number = () => engine.tableMemory().bytes, onRelease?: (freedBytes: number) => void): () => void {
  let peak = heldBytes();
  let quiet = 0;
  let ticks = 0;
  const t = setInterval(() => {
    if (++ticks % YOUNG_TRIM_EVERY_S === 0) trimYoungGeneration();
    engine.defense(availablePages(connMax, engine.sizes().entries));
    const held = heldBytes();
    if (quiet > 0) quiet--;
    if (peak - held >= RELEASE_BYTES && quiet === 0) {
      releaseMemory();
      onRelease?.(peak - held);
      peak = held;
      quiet = RELEASE_EVERY_S;
    } else if (held > peak) peak = held;
  }, PERIOD_MS);
  t.unref();
  return () => clearInterval(t);
}
