/**
 * Runs the whole corpus through keepalived / ldirectord and tsvs config-test. Needs root (the
 * namespace keepalived -t runs in) and both peers installed (scripts/setup.sh).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compare, type Row } from './compare.ts';
import { buildCorpus, interfaceNames, type CorpusFile } from './corpus.ts';
import { readByDaemon, scriptUserBugHits } from './daemon-oracle.ts';
import { KEEPALIVED, KeepalivedOracle, LDIRECTORD, runLdirectord, runTsvs, type Outcome } from './oracles.ts';

/** Why the harness cannot run here, or null. */
export function cannotRun(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (keepalived -t runs in a network namespace)';
  const missing = [KEEPALIVED, LDIRECTORD].filter((p) => !existsSync(p));
  return missing.length ? `not installed: ${missing.join(', ')} (scripts/setup.sh installs them)` : null;
}

/** Peer runs at once (they wait on process start-up more than on the CPU). */
const PEER_CONCURRENCY = 4;

export interface Result {
  readonly rows: readonly Row[];
  readonly work: string;
}

/** Builds the corpus in a fresh directory and compares every file; `keep` leaves the directory. */
export async function runDifferential(opts: { keep?: boolean } = {}): Promise<Result> {
  const work = mkdtempSync(join(tmpdir(), 'tsvs-difftest-'));
  const files = buildCorpus(work);
  const oracle = new KeepalivedOracle(interfaceNames(work));
  try {
    const peers: Outcome[] = new Array(files.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < files.length) {
        const i = next++;
        const f: CorpusFile = files[i]!;
        if (f.reader === 'ldirectord') { peers[i] = await runLdirectord(f.path); continue; }
        const t = await oracle.run(f.path);
        // keepalived 2.2.7 -t's script_user bug: the running daemon reads the file instead (daemon-oracle.ts).
        const hit = scriptUserBugHits(readFileSync(f.path, 'utf8'), t);
        peers[i] = hit ? await readByDaemon(f.path, oracle.ifnames, hit, t) : t;
      }
    };
    const [ours] = await Promise.all([runTsvs(files, oracle.ns), ...Array.from({ length: PEER_CONCURRENCY }, worker)]);
    return { rows: files.map((f, i) => compare(f, peers[i]!, ours[i]!)), work };
  } finally {
    oracle.close();
    if (!opts.keep) rmSync(work, { recursive: true, force: true });
  }
}
