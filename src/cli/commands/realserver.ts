import { parseArgs } from 'node:util';
import { realserverUp, realserverDown, tunOptionsError, type RsMode } from '../../lab/realserver.ts';
import { parseTunTypes } from '../../lab/ipip-agent.ts';
import { canonicalIp } from '../../core/addr.ts';

export const summary = 'set up / undo a real server for DR or TUN: VIP on lo, ARP sysctls, tunnel agent (root)';

const HELP = `usage: tsvs realserver up|down --vip VIP [--mode dr|tun] [--tun-type ipip|gue|gre[,...]] [--tun-port N]

up:   VIP on lo as /32, a host route, arp_ignore=1 and arp_announce=2 (all, lo); an IPv6
      VIP goes on lo as /128 (nodad), with no sysctl (IPv6 has no ARP to quiet);
      --mode tun also sets rp_filter=0 and starts the user-space decapsulation agent
      (device tsvstun0), for kernels without tunnel devices. --tun-type says which
      encapsulations it accepts, as the director's destinations use them (ipvsadm -i
      --tun-type): ipip (default), gre, gue (needs --tun-port, the destination's
      --tun-port); several with commas or repeated options.
down: stops the agent, removes the address and route, restores the previous sysctl values.
Run it inside a namespace with: ip netns exec NS tsvs realserver up --vip VIP
`;

export async function run(argv: string[]): Promise<number> {
  const { values: a, positionals: p } = parseArgs({
    args: argv, allowPositionals: true,
    options: {
      vip: { type: 'string' }, mode: { type: 'string', default: 'dr' }, help: { type: 'boolean', short: 'h' },
      'tun-type': { type: 'string', multiple: true }, 'tun-port': { type: 'string' },
    },
  });
  if (a.help) { process.stdout.write(HELP); return 0; }
  const verb = p[0];
  const vip = a.vip ? canonicalIp(a.vip) : null;
  if ((verb !== 'up' && verb !== 'down') || !vip || (a.mode !== 'dr' && a.mode !== 'tun')) {
    process.stderr.write(HELP);
    return 2;
  }
  let tunTypes;
  try {
    tunTypes = parseTunTypes(a['tun-type'] ?? []);
  } catch (e) {
    process.stderr.write(`tsvs realserver: ${(e as Error).message}\n`);
    return 2;
  }
  const tp = a['tun-port'];
  const tunPort = tp === undefined ? undefined : /^\d+$/.test(tp) ? Number(tp) : NaN;
  const tunOpts = { tunTypes, tunPort };
  const bad = verb === 'up' ? tunOptionsError(a.mode as RsMode, tunOpts) : null;
  if (bad) { process.stderr.write(`tsvs realserver: ${bad}\n`); return 2; }
  if (process.getuid?.() !== 0) { process.stderr.write('tsvs realserver: needs root\n'); return 1; }
  try {
    const lines = verb === 'up' ? (await realserverUp(vip, a.mode as RsMode, undefined, tunOpts)).actions : await realserverDown(vip);
    for (const l of lines) process.stdout.write(l + '\n');
    return 0;
  } catch (e) {
    process.stderr.write(`tsvs realserver: ${(e as Error).message}\n`);
    return 1;
  }
}
