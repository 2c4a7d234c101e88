/**
 * Route options set through RTA_METRICS (mtu and lock, advmss, window, cwnd, ssthresh,
 * reordering, initcwnd, initrwnd, hoplimit, quickack, fastopen_no_cookie, features ecn) beside
 * Debian's keepalived 2.2.7 given the same static_routes and virtual_routes in namespaces: `ip
 * route` reads the same under tsvs as under keepalived.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keepalivedPair, isRoot, nsExec, waitFor, keepalivedSkip } from '../helpers/netns.ts';

const skip = keepalivedSkip();
if (skip) console.log(`# skipping VRRP route options tests: ${skip}`);

const ROUTES = [
  '10.90.50.0/24 dev DEV mtu lock 1400 advmss 1300',
  '10.90.51.0/24 dev DEV window 65535 cwnd lock 10 ssthresh 20 reordering 5',
  '10.90.52.0/24 dev DEV initcwnd 15 initrwnd 25 hoplimit 32',
  '10.90.53.0/24 dev DEV quickack 1 fastopen_no_cookie 1 features ecn metric 9',
];
const conf = (dev: string) => `static_routes {
${ROUTES.slice(0, 2).map((r) => `  ${r.replace('DEV', dev)}`).join('\n')}
}
vrrp_instance VI_1 {
  state MASTER
  interface ${dev}
  virtual_router_id 64
  priority 150
  advert_int 1
  unicast_peer {
    10.90.0.9
  }
  virtual_ipaddress {
    10.90.0.100/24
  }
  virtual_routes {
${ROUTES.slice(2).map((r) => `    ${r.replace('DEV', dev)}`).join('\n')}
  }
}
`;

const routes = (ns: string, dev: string) => nsExec(ns, ['ip', '-4', 'route']).trim().split('\n').filter((l) => !l.includes('proto kernel')).map((l) => l.replaceAll(dev, 'IF').trim()).sort();

test('route metrics (mtu lock, advmss, window, cwnd, ssthresh, reordering, initcwnd, initrwnd, hoplimit, quickack, fastopen_no_cookie, features ecn) are set as keepalived sets them', { skip, timeout: 60_000 }, async () => {
  await keepalivedPair('rto', '10.90.0', async ({ lab, dir, a, b, da, db }) => {
    writeFileSync(join(dir, 'ka.conf'), conf(da));
    writeFileSync(join(dir, 'tsvs.conf'), conf(db));
    lab.spawnIn(a, 'keepalived', ['-n', '-l', '-P', '-f', join(dir, 'ka.conf'), '-p', join(dir, 'ka.pid'), '-r', join(dir, 'vrrp.pid')]);
    lab.spawnIn(b, process.execPath, ['bin/tsvs.mjs', 'vrrp', '--keepalived', join(dir, 'tsvs.conf')]);
    const ok = (await waitFor(() => routes(a, da).length === 4 && routes(b, db).length === 4, 15_000, 50)) >= 0;
    assert.ok(ok, `all four routes set:\n keepalived: ${routes(a, da).join('\n  ')}\n tsvs: ${routes(b, db).join('\n  ')}`);
    console.log(`# keepalived: ${JSON.stringify(routes(a, da))}`);
    assert.deepEqual(routes(b, db), routes(a, da));
    assert.match(routes(b, db).join('\n'), /mtu lock 1400 advmss 1300/);
  });
});
