import { readFileSync } from 'node:fs';
import { packageFile } from '../../os/entries.ts';

export const summary = 'print the tsvs version';

export async function run(_argv: string[]): Promise<number> {
  const pkg = JSON.parse(readFileSync(packageFile('package.json'), 'utf8')) as { version: string };
  process.stdout.write(`tsvs ${pkg.version}\n`);
  return 0;
}
