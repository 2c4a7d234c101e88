import { parseArgs } from 'node:util';
import { diagnose, renderFindings, detectRoleWhy, type Mode, type Role } from '../../lab/doctor.ts';
import { canonicalIp } from '../../core/addr.ts';

export const summary = 'check a director or real server against the LVS troubleshooting list';

const HELP = `usage: tsvs doctor --vip VIP [--port 80] [--mode dr|tun|nat] [--role realserver|director]
                   [--director DIP] [--json]

Checks (real server): VIP on lo as /32, arp_ignore/arp_announce, rp_filter and decapsulation for
TUN, the service listening on the VIP (not only its own address), the default route via the
director for NAT, firewall drops, tunnel MTU. (director): VIP present, the daemon's nftables
table, firewall drops. The role, unless --role is given: director where a tsvs daemon listens or
its nftables table is in this network namespace, or the VIP is on an interface other than lo;
else real server. Exit status 1 when something is wrong.
`;

export async function run(argv: string[]): Promise<number> {
  const { values: a } = parseArgs({
    args: argv,
    options: {
      vip: { type: 'string' }, port: { type: 'string', default: '80' }, mode: { type: 'string', default: 'dr' },
      role: { type: 'string' }, director: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (a.help) { process.stdout.write(HELP); return 0; }
  const vip = a.vip ? canonicalIp(a.vip) : null;
  if (!vip || !['dr', 'tun', 'nat'].includes(a.mode!) || (a.role && !['realserver', 'director'].includes(a.role))) {
    process.stderr.write(HELP);
    return 2;
  }
  const opts = { vip, port: Number(a.port), mode: a.mode as Mode, role: a.role as Role | undefined, director: a.director };
  const { role, why } = detectRoleWhy(opts);
  const f = diagnose({ ...opts, role });
  if (a.json) process.stdout.write(JSON.stringify({ role, why, findings: f }, null, 2) + '\n');
  else process.stdout.write(`role: ${role} (${why})\n` + renderFindings(f));
  return f.every((x) => x.ok) ? 0 : 1;
}
