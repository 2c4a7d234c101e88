import { readFileSync } from 'node:fs';

export const summary = 'print the tsvs version';

export async function run(_argv: string[]): Promise<number> {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  process.stdout.write(`tsvs ${pkg.version}\n`);
  return 0;
}
