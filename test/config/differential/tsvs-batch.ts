/**
 * `tsvs config-test` on many files in one process (a process per file would take minutes):
 *   node --import tsx test/config/differential/tsvs-batch.ts < [[file, reader], ...]
 * runs the CLI's own `run` on each, with its output captured, and prints one JSON array of
 * { exit, stderr }. A process of its own, so capturing stdout cannot swallow anyone else's.
 */
import { run as configTest } from '../../../src/cli/commands/config-test.ts';
import { CONFIG_ID } from './oracles.ts';

const chunks: Buffer[] = [];
for await (const c of process.stdin) chunks.push(c as Buffer);
const jobs = JSON.parse(Buffer.concat(chunks).toString('utf8')) as [string, string][];
const realOut = process.stdout.write.bind(process.stdout);
const realErr = process.stderr.write.bind(process.stderr);
const results: { exit: number; stderr: string }[] = [];
for (const [file, reader] of jobs) {
  let err = '';
  process.stdout.write = (() => true) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => { err += String(s); return true; }) as typeof process.stderr.write;
  let exit: number;
  try {
    exit = await configTest(['--type', reader, '--config-id', CONFIG_ID, file]);
  } catch (e) {
    exit = 70; // a crash of config-test: shows as a disagreement, with the error as its message
    err += `${file}:1: error: config-test threw ${(e as Error).stack ?? String(e)}\n`;
  } finally {
    process.stdout.write = realOut;
    process.stderr.write = realErr;
  }
  results.push({ exit, stderr: err });
}
realOut(JSON.stringify(results) + '\n');
