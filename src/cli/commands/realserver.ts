import { parseArgs } from 'node:util';
import { realserverUp, realserverDown, type RsMode } from '../../lab/realserver.ts';
import { canonicalIp } from '../../core/addr.ts';

export const summary = 'set up / undo a real server for DR or TUN: VIP on lo, ARP sysctls, IPIP agent (root)';

const HELP = `usage: tsvs realserver up|down --vip VIP [--mode dr|tun]

up:   VIP on lo as /32, a host route, arp_ignore=1 and arp_announce=2 (all, lo);
      --mode tun also sets rp_filter=0 and starts the user-space IPIP decapsulation agent
      (device tsvstun0), for kernels without an ipip device.
down: stops the agent, removes the address and route, restores the previous sysctl values.
Run it inside a namespace with: ip netns exec NS tsvs realserver up --vip VIP
`;

export async function run(argv: string[]): Promise<number> {
  const { values: a, positionals: p } = parseArgs({
    args: argv, allowPositionals: true,
    options: { vip: { type: 'string' }, mode: { type: 'string', default: 'dr' }, help: { type: 'boolean', short: 'h' } },
  });
  if (a.help) { process.stdout.write(HELP); return 0; }
  const verb = p[0];
  const vip = a.vip ? canonicalIp(a.vip) : null;
  if ((verb !== 'up' && verb !== 'down') || !vip || vip.includes(':') || (a.mode !== 'dr' && a.mode !== 'tun')) {
    process.stderr.write(HELP);
    return 2;
  }
  if (process.getuid?.() !== 0) { process.stderr.write('tsvs realserver: needs root\n'); return 1; }
  try {
    const lines = verb === 'up' ? (await realserverUp(vip, a.mode as RsMode)).actions : await realserverDown(vip);
    for (const l of lines) process.stdout.write(l + '\n');
    return 0;
  } catch (e) {
    process.stderr.write(`tsvs realserver: ${(e as Error).message}\n`);
    return 1;
  }
}
