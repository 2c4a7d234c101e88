import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import { defaultSocketPath, defaultStatePath } from '../../daemon/paths.ts';
import { ConfigFileError, OPTION_SPECS, daemonOptions, keepalivedOptionLayer, layerOptions, optionsHelp, parseConfigFile } from '../../daemon/options.ts';
import { OptionError } from '../../dataplane/options.ts';

export const summary = 'run the load balancer in the foreground (control socket for tsvsadm)';

const HELP = `usage: tsvs daemon [--config FILE] [options]

Runs in the foreground until SIGTERM/SIGINT; SIGHUP reloads --rules (or --keepalived/--ldirectord).

  --config FILE           read options from FILE: one "KEY = VALUE" per line, KEY any option
                          below that takes a value (without --), # comments; relative paths
                          are from FILE's directory; flags given here win over the file
  --no-state              keep no state file
${optionsHelp()}
  -h, --help              this text
`;

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        'no-state': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        ...Object.fromEntries(OPTION_SPECS.map((s) => [s.key, { type: 'string' as const, ...(s.multiple ? { multiple: true as const } : {}) }])),
      },
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | string[] | boolean | undefined>;
  } catch (e) {
    process.stderr.write(`tsvs daemon: ${(e as Error).message}\n${HELP}`);
    return 2;
  }
  if (parsed['help']) {
    process.stdout.write(HELP);
    return 0;
  }
  const bad = (m: string): number => {
    process.stderr.write(`tsvs daemon: ${m}\n`);
    return 2;
  };
  let file: Map<string, string[]> | null = null;
  const config = parsed['config'] as string | undefined;
  if (config !== undefined) {
    const path = resolve(config);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      return bad(`cannot read --config ${config}: ${(e as Error).message}`);
    }
    try {
      file = parseConfigFile(text, config, dirname(path));
    } catch (e) {
      if (e instanceof ConfigFileError) return bad(e.message);
      throw e;
    }
  }
  const cli = new Map<string, readonly string[]>();
  for (const s of OPTION_SPECS) {
    const v = parsed[s.key];
    if (typeof v === 'string') cli.set(s.key, [v]);
    else if (Array.isArray(v)) cli.set(s.key, v);
  }
  // keepalived.conf's global_defs tsvs_bgp_*, tsvs_sloppy_tcp...: the lowest layer of options.
  let keepalived: Map<string, string[]> | null = null;
  const kaPath = cli.get('keepalived')?.[0] ?? file?.get('keepalived')?.[0];
  if (kaPath !== undefined) {
    const r = await keepalivedOptions(resolve(kaPath));
    if ('errors' in r) return bad(`${r.errors.join('\n')}`);
    keepalived = r.raw;
  }
  let opts;
  try {
    opts = daemonOptions(layerOptions(keepalived, file, cli), { noState: parsed['no-state'] === true }, {
      cpus: availableParallelism(),
      root: process.getuid?.() === 0,
      cwd: process.cwd(),
      defaultSocket: () => defaultSocketPath(),
      defaultState: (socket) => defaultStatePath(socket),
    });
  } catch (e) {
    if (e instanceof OptionError) return bad(config !== undefined && e.key !== null && !cli.has(e.key) && file?.has(e.key) ? `${config}: ${e.message}` : e.message);
    throw e;
  }
  const { runDaemon } = await import('../../daemon/daemon.ts');
  const { loadDeps } = await import('../../daemon/deps.ts');
  const code = await runDaemon(opts, await loadDeps());
  // Exit now: do not wait for sockets of aborted relays to finish closing, or for loader threads.
  process.exit(code);
}

/**
 * The daemon options keepalived.conf sets (global_defs tsvs_...), checked; a file the reader
 * refuses gives none here (the daemon's start then refuses it with every problem).
 */
async function keepalivedOptions(path: string): Promise<{ raw: Map<string, string[]> } | { errors: string[] }> {
  const { loadConfig } = await import('../../config/load.ts');
  const { formatDiagnostic } = await import('../../config/desired.ts');
  const r = loadConfig(path, { format: 'keepalived' });
  if (!r.state) return { raw: new Map() };
  const layer = keepalivedOptionLayer(r.state.global.daemonOptions ?? []);
  if (layer.diagnostics.length > 0) return { errors: layer.diagnostics.map(formatDiagnostic) };
  return { raw: layer.raw };
}
