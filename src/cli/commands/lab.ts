import { parseArgs } from 'node:util';
import { labUp, labDown, curlFromClient, readLabState, LAB, labNs, labVipHolders, labAdm } from '../../lab/topology.ts';
import { shTry } from '../../lab/netns.ts';
import { UsageError } from '../../core/errors.ts';

export const summary = 'build/remove the seeds\' NAT/DR/TUN topologies in network namespaces (root)';

const HELP = `usage: tsvs lab up nat|dr|tun [--prefix tsvs-lab] [--no-director] [--requests N] [--ipv6]
                  [--fast-path tc|xdp] [--offloads default|off]
                  [--ha [--advert-int S] [--vrrp-version 2|3] [--peer tsvs|keepalived]]
                  [--directors N [--forwarder packet|proxy]]
       tsvs lab down [--prefix tsvs-lab]
       tsvs lab status [--prefix tsvs-lab]

up: client (${LAB.client}) -> router -> director (VIP ${LAB.vip}:${LAB.port}) -> real servers
${LAB.rs.join(', ')} answering test1/test2; the director runs \`tsvs daemon --forwarder packet\`
(control socket /run/tsvs/lab-<prefix>.sock); then curls the VIP from the client namespace N
times (default 6) to show the alternation.
--ipv6 (nat, dr): also addresses everything over IPv6 (VIP ${LAB.vip6}, real servers
${LAB.rs6.join(', ')}), adds the same service on [${LAB.vip6}]:${LAB.port} and curls it too.
--fast-path tc|xdp: the director(s) run \`tsvs daemon --fast-path tc|xdp\` (DR connections
forwarded in the kernel once the engine decided them; docs/PACKET-FORWARDER.md).
--offloads default|off: 'default' leaves every veth's checksum offload, TSO and GSO on (the
director reads them with virtio-net headers); 'off' turns them off with ethtool.
--ha: two directors, dir1 ${LAB.dip} (VRRP priority 150) and dir2 ${LAB.dip2} (100), each
\`tsvs daemon --forwarder packet --keepalived /run/tsvs/lab-<prefix>-dirN.conf\`: vrrp_instance
VI_1 holding the VIP (advert_int S, default 1; fractions use VRRPv3), the same virtual_server
blocks, lvs_sync_daemon eth0 VI_1 (connections synced). --peer keepalived runs Debian's keepalived
(VRRP only) on dir2. Sockets: /run/tsvs/lab-<prefix>-dir1.sock, -dir2.sock.
--directors N (dr, tun): N active directors dir1..dirN (192.168.10.1..N), each \`tsvs daemon
--forwarder packet --bgp bird --sloppy-tcp on\` with mh (mh-port) over both real servers,
announcing the VIP over BGP (AS 65001) to BIRD on the router (AS 65000), which installs an
ECMP route and hashes flows on L4 (fib_multipath_hash_policy=1). Sockets:
/run/tsvs/lab-<prefix>-dirK.sock; \`tsvs announce --socket ...\` shows or drains one
(docs/SCALE-OUT.md). --forwarder proxy (dr): the directors run \`--forwarder proxy\` instead
(TCP terminated on each director, -m rules): a flow the router moves to another director breaks.
down: stops every process the lab started (by PID) and deletes its namespaces.
`;

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, allowPositionals: true,
      options: {
        prefix: { type: 'string', default: 'tsvs-lab' }, 'no-director': { type: 'boolean' }, requests: { type: 'string', default: '6' },
        ha: { type: 'boolean' }, ipv6: { type: 'boolean' }, 'advert-int': { type: 'string' }, 'vrrp-version': { type: 'string' }, peer: { type: 'string' }, 'fast-path': { type: 'string' }, directors: { type: 'string' },
        offloads: { type: 'string' }, forwarder: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    process.stderr.write(`tsvs lab: ${(e as Error).message}\n${HELP}`);
    return 2;
  }
  const { values: a, positionals: p } = parsed;
  if (a.help || p.length === 0) { process.stdout.write(HELP); return a.help ? 0 : 2; }
  if (process.getuid?.() !== 0) { process.stderr.write('tsvs lab: needs root (network namespaces)\n'); return 1; }
  const prefix = a.prefix!;
  if (!prefix.startsWith('tsvs')) throw new UsageError('--prefix must start with "tsvs"');
  const [verb, mode] = p;
  if (verb === 'up') {
    if (mode !== 'nat' && mode !== 'dr' && mode !== 'tun') { process.stderr.write(HELP); return 2; }
    const advert = a['advert-int'] === undefined ? undefined : Number(a['advert-int']);
    if (advert !== undefined && !(advert >= 0.01 && advert <= 255)) throw new UsageError('--advert-int must be 0.01..255 seconds');
    const version = a['vrrp-version'] === undefined ? undefined : Number(a['vrrp-version']);
    if (version !== undefined && version !== 2 && version !== 3) throw new UsageError('--vrrp-version must be 2 or 3');
    if (a['fast-path'] !== undefined && a['fast-path'] !== 'tc' && a['fast-path'] !== 'xdp') throw new UsageError('--fast-path must be tc or xdp');
    if (a.offloads !== undefined && a.offloads !== 'default' && a.offloads !== 'off') throw new UsageError('--offloads must be default or off');
    if (a.peer !== undefined && a.peer !== 'tsvs' && a.peer !== 'keepalived') throw new UsageError('--peer must be tsvs or keepalived');
    if (!a.ha && (advert !== undefined || version !== undefined || a.peer !== undefined)) throw new UsageError('--advert-int/--vrrp-version/--peer need --ha');
    if (a.ipv6 && (mode === 'tun' || a.ha)) throw new UsageError('--ipv6 works with nat and dr, without --ha');
    const directors = a.directors === undefined ? undefined : /^[1-8]$/.test(a.directors) ? Number(a.directors) : NaN;
    if (directors !== undefined && Number.isNaN(directors)) throw new UsageError('--directors must be 1..8');
    if (directors !== undefined && (mode === 'nat' || a.ha || a.ipv6)) throw new UsageError('--directors works with dr and tun, without --ha or --ipv6 (NAT replies must come back through the director that has the connection)');
    if (a.forwarder !== undefined && a.forwarder !== 'packet' && a.forwarder !== 'proxy') throw new UsageError('--forwarder must be packet or proxy');
    if (a.forwarder === 'proxy' && (directors === undefined || mode !== 'dr' || a['fast-path'] !== undefined)) throw new UsageError('--forwarder proxy needs dr --directors N (without --fast-path)');
    try {
      await labUp(mode, {
        prefix, director: a['no-director'] ? 'none' : 'daemon', log: (s) => process.stdout.write(s + '\n'), ...(a.ipv6 ? { ipv6: true } : {}), ...(a['fast-path'] ? { fastPath: a['fast-path'] as 'tc' | 'xdp' } : {}), ...(directors ? { directors } : {}),
        ...(a.offloads ? { offloads: a.offloads as 'default' | 'off' } : {}), ...(a.forwarder ? { forwarder: a.forwarder as 'packet' | 'proxy' } : {}),
        ...(a.ha ? { ha: { ...(advert !== undefined ? { advertInt: advert } : {}), ...(version ? { version: version as 2 | 3 } : {}), ...(a.peer ? { peer: a.peer as 'tsvs' | 'keepalived' } : {}) } } : {}),
      });
    } catch (e) {
      process.stderr.write(`tsvs lab: ${(e as Error).message}\n`);
      return 1;
    }
    const n = Number(a.requests);
    if (!a['no-director'] && n > 0) {
      process.stdout.write(`\n$ ip netns exec ${labNs(prefix).client} curl -s http://${LAB.vip}/   (x${n})\n`);
      for (const body of curlFromClient(prefix, n)) process.stdout.write(body + '\n');
    }
    if (a.ipv6 && !a['no-director']) {
      const vs = `[${LAB.vip6}]:${LAB.port}`;
      const cmds = [['-A', '-t', vs, '-s', 'rr'], ...LAB.rs6.map((r) => ['-a', '-t', vs, '-r', `[${r}]:${LAB.port}`, mode === 'nat' ? '-m' : '-g'])];
      for (const c of cmds) {
        const r = await labAdm(prefix, c);
        process.stdout.write(`tsvsadm ${c.join(' ')}${r.code ? ` -> exit ${r.code}: ${r.err.trim()}` : ''}\n`);
        if (r.code !== 0) return 1;
      }
      process.stdout.write(`\n$ ip netns exec ${labNs(prefix).client} curl -6 -g -s http://[${LAB.vip6}]/   (x${n})\n`);
      for (let i = 0; i < n; i++) {
        const r = shTry(['ip', 'netns', 'exec', labNs(prefix).client, 'curl', '-6', '-g', '-s', '-m', '5', `http://[${LAB.vip6}]/`]);
        process.stdout.write((r.status === 0 ? r.out.trim() : `curl failed: ${r.err.trim()}`) + '\n');
      }
    }
    if (directors) {
      process.stdout.write(`\nrouter: ip netns exec ${labNs(prefix).router} ip route show ${LAB.vip}; birdc -s /run/tsvs/lab-${prefix}-router.ctl show protocols\nwatch one: tsvs announce --socket /run/tsvs/lab-${prefix}-dir1.sock (drain | resume)\n`);
    }
    if (a.ha) {
      const sock = (d: string) => `/run/tsvs/lab-${prefix}-${d}.sock`;
      process.stdout.write(`\nVIP held by: ${labVipHolders(prefix).join(', ')}\nwatch: tsvs status --socket ${sock('dir1')}; TSVS_SOCKET=${sock('dir2')} tsvsadm -L -n -c\n`);
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
