/**
 * Route words with units or attributes of their own (rtt, rttvar, rto_min with keepalived's unit
 * conversions and bounds, congctl with lock, realms on a route and on a path, IPv6 pref and
 * expires, ttl-propagate, encap ip and ip6) beside Debian's keepalived 2.2.7 given the same
 * static_routes and virtual_routes in namespaces: `ip route` and `ip -6 route` read the same
 * under tsvs as under keepalived, and both remove the routes when they stop. (encap mpls is not
 * here: this kernel has no MPLS tunnels, and tsvs says so at the line.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { keepalivedPair, isRoot, nsExec, waitFor, keepalivedSkip } from '../helpers/netns.ts';

const skip = keepalivedSkip();
if (skip) console.log(`# skipping VRRP route words tests: ${skip}`);

const STATIC = [
  // 300ms is 2400 of rtt's 1/8000 s; rttvar's unit is 1/4000 s; a bare rto_min is in ms.
  '10.91.50.0/24 dev DEV rtt 300ms rttvar lock 1.5s rto_min 250 congctl lock reno realms 3/4',
  // Below keepalived's 200 ms floor and above its 120 s ceiling: set to the bound.
  '10.91.51.0/24 dev DEV rtt 100ms rttvar 130s congctl cubic',
  '10.91.52.0/24 dev DEV encap ip id 5 dst 10.91.9.9 ttl 9 tos 0x10 ttl-propagate enabled',
  'fd00:91:53::/64 dev DEV pref high expires 3000 rtt 2s',
];
const VIRTUAL = [
  '10.91.54.0/24 dev DEV encap ip6 id 7 dst fd00:91::9 hoplimit 3 tc 8 rto_min lock 0.3s',
  // A path's realms are set; a path's encap is read and, as keepalived 2.2.7 does, not sent.
  '10.91.55.0/24 dev DEV nexthop via 10.91.0.7 dev DEV realms 5 encap ip dst 10.91.9.8 nexthop via 10.91.0.8 dev DEV weight 2',
  'fd00:91:56::/64 dev DEV pref low ttl-propagate disabled',
];
const conf = (dev: string) => `static_routes {
${STATIC.map((r) => `  ${r.replaceAll('DEV', dev)}`).join('\n')}
}
vrrp_instance VI_1 {
  state MASTER
  interface ${dev}
  virtual_router_id 65
  priority 150
  advert_int 1
  unicast_peer {
    10.91.0.9
  }
  virtual_ipaddress {
    10.91.0.100/24
  }
  virtual_routes {
${VIRTUAL.map((r) => `    ${r.replaceAll('DEV', dev)}`).join('\n')}
  }
}
`;

/** The routes keepalived's protocol number marks, one line each (`-o`), the device named IF and the IPv6 expiry's countdown left out. */
const routes = (ns: string, dev: string) => ['-4', '-6'].flatMap((f) => nsExec(ns, ['ip', '-o', f, 'route']).trim().split('\n'))
  .filter((l) => l.includes('proto keepalived'))
  .map((l) => l.replaceAll(dev, 'IF').replace(/expires \d+sec/, 'expires Nsec').replace(/\s+/g, ' ').trim()).sort();
const WANT = STATIC.length + VIRTUAL.length;

const stop = async (p: ChildProcess) => {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await gone;
};

test('rtt, rttvar, rto_min (units, bounds, lock), congctl, realms, pref, expires, ttl-propagate and encap ip/ip6 are set as keepalived sets them and removed at stop', { skip, timeout: 60_000 }, async () => {
  await keepalivedPair('rtw', '10.91.0', async ({ lab, dir, a, b, da, db }) => {
    writeFileSync(join(dir, 'ka.conf'), conf(da));
    writeFileSync(join(dir, 'tsvs.conf'), conf(db));
    const ka = lab.spawnIn(a, 'keepalived', ['-n', '-l', '-P', '-f', join(dir, 'ka.conf'), '-p', join(dir, 'ka.pid'), '-r', join(dir, 'vrrp.pid')]);
    const tsvs = lab.spawnIn(b, process.execPath, ['bin/tsvs.mjs', 'vrrp', '--keepalived', join(dir, 'tsvs.conf')]);
    const ok = (await waitFor(() => routes(a, da).length === WANT && routes(b, db).length === WANT, 15_000, 50)) >= 0;
    assert.ok(ok, `all ${WANT} routes set:\n keepalived: ${routes(a, da).join('\n  ')}\n tsvs: ${routes(b, db).join('\n  ')}`);
    console.log(`# keepalived: ${JSON.stringify(routes(a, da))}`);
    assert.deepEqual(routes(b, db), routes(a, da));
    const all = routes(b, db).join('\n');
    for (const m of ['rtt 300ms rttvar lock 1.5s rto_min 250ms congctl lock reno', 'realms 3/4', 'rtt 200ms rttvar 120s congctl cubic',
      'encap ip id 5 src 0.0.0.0 dst 10.91.9.9 ttl 9 tos 16', 'encap ip6 id 7 src :: dst fd00:91::9 hoplimit 3 tc 8', 'rto_min lock 300ms',
      'realm 5', 'expires Nsec', 'pref high', 'pref low']) assert.ok(all.includes(m), `${m} in\n${all}`);
    await Promise.all([stop(ka), stop(tsvs)]);
    assert.deepEqual(routes(b, db), [], 'tsvs removed its routes at stop');
    assert.deepEqual(routes(a, da), [], 'keepalived removed its routes at stop');
  });
});
