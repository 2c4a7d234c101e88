/**
 * The differential harness by hand (root):
 *   node --import tsx test/config/differential/run.ts [--out FILE] [--json FILE]
 *       [--suggest FILE] [--keep] [--only SUBSTRING]
 * prints the per-file agreement table, then the summary and what the expected-disagreements table
 * says of this run. --out also writes all of it to FILE; --json every row (both programs' exit
 * codes and messages) to FILE; --suggest draft entries (suggest.ts) for the unlisted and changed
 * files to FILE; --keep leaves the corpus directory (its path is printed) to rerun one file by
 * hand; --only limits the table to ids containing SUBSTRING.
 */
import { writeFileSync } from 'node:fs';
import { renderSummary, renderTable } from './compare.ts';
import { checkExpected } from './expected.ts';
import { cannotRun, runDifferential } from './harness.ts';
import { suggest } from './suggest.ts';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const why = cannotRun();
if (why) {
  process.stderr.write(`differential: ${why}\n`);
  process.exit(2);
}
const { rows, work } = await runDifferential({ keep: args.includes('--keep') });
const only = opt('--only');
const shown = only ? rows.filter((r) => r.id.includes(only)) : rows;
const c = checkExpected(rows);
const report = [
  renderTable(shown),
  renderSummary(rows),
  `expected-disagreements table: ${c.unlisted.length} unlisted, ${c.changed.length} changed, ${c.unused.length} unused entries`,
  ...c.unlisted.map((r) => `  unlisted: ${r.id} (${r.aspect})`),
  ...c.changed.map(({ row, listed, entry }) => `  changed: ${row.id} is ${row.aspect}, listed as ${listed} (${entry.reason.slice(0, 60)}...)`),
  ...c.unused.map(({ pattern, entry }) => `  unused pattern: ${pattern} (${entry.reason.slice(0, 60)}...)`),
  args.includes('--keep') ? `corpus kept in ${work}` : '',
].join('\n') + '\n';
process.stdout.write(report);
const out = opt('--out');
if (out) writeFileSync(out, report);
const draft = opt('--suggest');
if (draft) writeFileSync(draft, suggest([...c.unlisted, ...c.changed.map((x) => x.row)]));
const json = opt('--json');
if (json) writeFileSync(json, JSON.stringify(rows, null, 1) + '\n');
