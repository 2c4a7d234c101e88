/**
 * `tsvs simulate --rules RULES --trace TRACE [--summary] [--seed N]`: replays a JSON-lines trace
 * through the engine with no network (see src/sim/simulate.ts and the README).
 */
import { readFileSync } from 'node:fs';
import { SimError, simulate } from '../../sim/simulate.ts';
import { loadRunIpvsadm } from '../../sim/ipvsadm.ts';

export const summary = 'replay a packet trace through the virtual-server engine (no network)';

const USAGE = `usage: tsvs simulate --rules RULES --trace TRACE [--summary] [--seed N]

  --rules FILE   ipvsadm -S / -R lines (-A, -a, --set ...), plus "sysctl NAME=VALUE" lines
  --trace FILE   JSON lines, "t" in seconds, non-decreasing:
                   {"t":0.5,"proto":"tcp","src":"172.16.5.77:40001","dst":"10.0.0.1:80","flags":"S","dir":"in","bytes":60,"mark":0}
                   {"t":12,"cmd":"-e -t 10.0.0.1:80 -r 192.168.10.2:80 -m -w 0"}
                   {"t":30,"list":"-L -n --stats"}
                   {"t":31,"list":"-S -n"}        (the rules as ipvsadm -S prints them)
  --summary      add a final line with each destination's share of new connections
  --seed N       fix the random choices (twos) for a reproducible run
Output: one JSON line per trace line. Bad input: an error naming the line, exit 2.
`;

export async function run(argv: string[]): Promise<number> {
  let rules: string | undefined, trace: string | undefined, seed: number | undefined, sum = false;
  const fail = (msg: string): number => {
    process.stderr.write(`tsvs simulate: ${msg}\n${USAGE}`);
    return 2;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const inline = a.startsWith('--') && eq > 0 ? a.slice(eq + 1) : undefined;
    const value = (): string | undefined => inline ?? argv[++i];
    switch (name) {
      case '--rules': rules = value(); if (rules === undefined) return fail('--rules needs a file'); break;
      case '--trace': trace = value(); if (trace === undefined) return fail('--trace needs a file'); break;
      case '--summary': sum = true; break;
      case '--seed': {
        const v = value();
        if (v === undefined || !/^\d+$/.test(v) || Number(v) > 0xffffffff) return fail('--seed needs an integer 0..4294967295');
        seed = Number(v);
        break;
      }
      case '-h': case '--help': process.stdout.write(USAGE); return 0;
      default: return fail(`unknown option '${a}'`);
    }
  }
  if (rules === undefined) return fail('--rules is required');
  if (trace === undefined) return fail('--trace is required');
  let rulesText: string, traceText: string;
  try {
    rulesText = readFileSync(rules, 'utf8');
  } catch (e) {
    process.stderr.write(`tsvs simulate: cannot read rules file ${rules}: ${(e as Error).message}\n`);
    return 2;
  }
  try {
    traceText = readFileSync(trace, 'utf8');
  } catch (e) {
    process.stderr.write(`tsvs simulate: cannot read trace file ${trace}: ${(e as Error).message}\n`);
    return 2;
  }
  const runIpvsadm = await loadRunIpvsadm();
  const chunks: string[] = [];
  const flush = (): void => {
    if (chunks.length) process.stdout.write(chunks.join(''));
    chunks.length = 0;
  };
  try {
    await simulate({
      rules: rulesText, trace: traceText, summary: sum, ...(seed !== undefined ? { seed } : {}), runIpvsadm,
      emit: (l) => {
        chunks.push(l + '\n');
        if (chunks.length >= 512) flush();
      },
    });
  } catch (e) {
    flush();
    if (e instanceof SimError) {
      process.stderr.write(`tsvs simulate: ${e.file === 'rules' ? rules : trace}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  flush();
  return 0;
}
