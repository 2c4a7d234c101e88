/**
 * keepalived FILE_CHECK: reads the track_file's number (keepalived watches the file with
 * inotify; tsvs reads it every delay_loop) and applies track_file.c's rule (health/track-file.ts):
 * FAULT takes the real server down, anything else is added to its weight.
 */
import { open } from 'node:fs/promises';
import type { Checker } from '../checker.ts';
import { FILE_CHECK_FAULT, fileCheckStatus, parseTrackFileValue } from '../track-file.ts';
import type { FileCheckDef } from '../types.ts';
import { fail, ok } from './util.ts';

/** The file's first 127 bytes (keepalived's read), or null when it cannot be read (read as 0). */
async function head(path: string): Promise<string | null> {
  try {
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(127);
      const { bytesRead } = await fh.read(buf, 0, 127, 0);
      return buf.subarray(0, bytesRead).toString('latin1');
    } finally {
      await fh.close();
    }
  } catch {
    return null;
  }
}

/** The last value read per file, kept when a read is out of range (as keepalived keeps it). */
const lastValue = new Map<string, number>();

export const fileChecker: Checker<FileCheckDef> = {
  kinds: ['FILE_CHECK'],
  async run(def) {
    const t0 = performance.now();
    const v = parseTrackFileValue(await head(def.file));
    const value = v ?? lastValue.get(def.file) ?? 0;
    if (v !== null) lastValue.set(def.file, v);
    const status = fileCheckStatus(value, def.weight, def.reverse);
    if (status === FILE_CHECK_FAULT) return fail(t0, 'bad response', `track_file ${def.track_file} (${def.file}) reads ${value}`);
    return { ...ok(t0, { detail: `track_file ${def.track_file} reads ${value}` }), weightChange: status };
  },
};
