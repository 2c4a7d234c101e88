/**
 * The flood defences' clock (ip_vs_ctl.c defense_work_handler): once a second the engine's
 * update_defense_level runs with the memory available, in pages, taken as the smaller of the
 * system's (MemAvailable, as the kernel counts free memory) and what is left of the connection
 * table at ENTRY_BYTES per entry (what one connection costs the daemon, measured under a SYN
 * flood in packet mode: about 1 KB). So `amemthresh` (1024 pages = 4 MiB) turns the automatic
 * defences on when the table is within 4,096 entries of --conn-max, or the machine is short.
 */
import { readFileSync } from 'node:fs';
import type { Engine } from '../core/engine.ts';

export const ENTRY_BYTES = 1024;
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

/** Starts the once-a-second defence; returns its stop. */
export function startDefense(engine: Engine, connMax: number): () => void {
  const t = setInterval(() => engine.defense(availablePages(connMax, engine.sizes().entries)), PERIOD_MS);
  t.unref();
  return () => clearInterval(t);
}
