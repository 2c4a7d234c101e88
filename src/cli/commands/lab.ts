import { parseArgs } from 'node:util';
import { labUp, labDown, curlFromClient, readLabState, LAB, labNs } from '../../lab/topology.ts';

export const summary = 'build/remove the seeds\' NAT/DR/TUN topologies in network namespaces (root)';

const HELP = `usage: tsvs lab up nat|dr|tun [--prefix tsvs-lab] [--no-director] [--requests N]
       tsvs lab down [--prefix tsvs-lab]
       tsvs lab status [--prefix tsvs-lab]

up: client (${LAB.client}) -> router -> director (VIP ${LAB.vip}:${LAB.port}) -> real servers
${LAB.rs.join(', ')} answering test1/test2; the director runs the packet forwarder; then curls
the VIP from the client namespace N times (default 6) to show the alternation.
down: stops every process the lab started (by PID) and deletes its namespaces.
`;

export async function run(argv: string[]): Promise<number> {
  const { values: a, positionals: p } = parseArgs({
    args: argv, allowPositionals: true,
    options: { prefix: { type: 'string', default: 'tsvs-lab' }, 'no-director': { type: 'boolean' }, requests: { type: 'string', default: '6' }, help: { type: 'boolean', short: 'h' } },
  });
  if (a.help || p.length === 0) { process.stdout.write(HELP); return a.help ? 0 : 2; }
  if (process.getuid?.() !== 0) { process.stderr.write('tsvs lab: needs root (network namespaces)\n'); return 1; }
  const prefix = a.prefix!;
  if (!prefix.startsWith('tsvs')) { process.stderr.write('tsvs lab: --prefix must start with "tsvs"\n'); return 2; }
  const [verb, mode] = p;
  if (verb === 'up') {
    if (mode !== 'nat' && mode !== 'dr' && mode !== 'tun') { process.stderr.write(HELP); return 2; }
    try {
      await labUp(mode, { prefix, director: a['no-director'] ? 'none' : 'daemon', log: (s) => process.stdout.write(s + '\n') });
    } catch (e) {
      process.stderr.write(`tsvs lab: ${(e as Error).message}\n`);
      return 1;
    }
    const n = Number(a.requests);
    if (!a['no-director'] && n > 0) {
      process.stdout.write(`\n$ ip netns exec ${labNs(prefix).client} curl -s http://${LAB.vip}/   (x${n})\n`);
      for (const body of curlFromClient(prefix, n)) process.stdout.write(body + '\n');
    }
    process.stdout.write(`\nremove with: tsvs lab down${prefix === 'tsvs-lab' ? '' : ` --prefix ${prefix}`}\n`);
    return 0;
  }
  if (verb === 'down') {
    const r = await labDown(prefix);
    process.stdout.write(`stopped ${r.pids.length} process(es), deleted ${r.namespaces.length} namespace(s)${r.namespaces.length ? `: ${r.namespaces.join(' ')}` : ''}\n`);
    return 0;
  }
  if (verb === 'status') {
    const st = readLabState(prefix);
    process.stdout.write(st ? JSON.stringify(st, null, 2) + '\n' : 'no lab\n');
    return st ? 0 : 1;
  }
  process.stderr.write(HELP);
  return 2;
}
