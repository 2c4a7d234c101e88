/**
 * `tsvs <subcommand> ...`: a thin dispatcher. Each subcommand lives in ./commands/<name>.ts and
 * exports `run(argv: string[]): Promise<number>` (the exit code) and `summary: string`.
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TsvsError, UsageError } from '../core/errors.ts';

const self = fileURLToPath(import.meta.url);
const commandsDir = join(dirname(self), 'commands');
/** '.js' when compiled (dist/), '.ts' when the sources run under tsx (tests). */
const ext = extname(self);

interface SubcommandModule {
  run(argv: string[]): Promise<number>;
  summary?: string;
}

function available(): string[] {
  return readdirSync(commandsDir)
    .filter((f) => f.endsWith(ext))
    .map((f) => f.slice(0, -ext.length))
    .sort();
}

async function usage(out: (s: string) => void): Promise<void> {
  out('usage: tsvs <command> [options]\n\ncommands:\n');
  for (const name of available()) {
    const mod = (await import(join(commandsDir, `${name}${ext}`))) as SubcommandModule;
    out(`  ${name.padEnd(14)}${mod.summary ?? ''}\n`);
  }
  out('\nRun `tsvs <command> --help` for the options of one command. The ipvsadm-compatible admin tool is `tsvsadm`.\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    await usage((s) => process.stdout.write(s));
    return name === undefined ? 2 : 0;
  }
  if (!/^[a-z][a-z0-9-]*$/.test(name) || !existsSync(join(commandsDir, `${name}${ext}`))) {
    process.stderr.write(`tsvs: unknown command '${name}'\n`);
    await usage((s) => process.stderr.write(s));
    return 2;
  }
  const mod = (await import(join(commandsDir, `${name}${ext}`))) as SubcommandModule;
  try {
    return await mod.run(rest);
  } catch (e) {
    // The boundary of every subcommand: an error with a stable code is reported by its message
    // (bad input: exit 2, as ipvsadm; anything else refused: 1). Others are bugs: let them show.
    if (!(e instanceof TsvsError)) throw e;
    process.stderr.write(`tsvs ${name}: ${e.message}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
}
