/**
 * Interfaces going down and up under the VRRP side, beside Debian's keepalived 2.2.7 given the
 * same file in namespaces (each MASTER of its own: unicast to an address nobody has):
 * - a static route written with `track_group TG` makes TG's instance track its interface: down =
 *   FAULT (the VIP goes), up = MASTER again; the kernel takes the static route with the link and
 *   it is set again when the link comes back (keepalived's interface_up);
 * - a virtual route with `dev` makes its instance track that interface the same way.
 * At each step `ip addr` and `ip route` read the same under tsvs as under keepalived.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keepalivedPair, isRoot, nsExec, waitFor, keepalivedSkip } from '../helpers/netns.ts';

const skip = keepalivedSkip();
if (skip) console.log(`# skipping VRRP link tracking tests: ${skip}`);
const VIP = '10.91.0.100';

const conf = (dev: string) => `track_group TG {
  group {
    VI_1
  }
}
static_routes {
  10.91.50.0/24 dev t0 track_group TG
}
vrrp_instance VI_1 {
  state MASTER
  interface ${dev}
  virtual_router_id 63
  priority 150
  advert_int 1
  unicast_peer {
    10.91.0.9
  }
  virtual_ipaddress {
    ${VIP}/24
  }
  virtual_routes {
    10.91.60.0/24 dev t1
  }
}
`;

/** Two veth pairs inside the namespace (t0/t0p, t1/t1p), up: interfaces to take down and bring back. */
function links(ns: string): void {
  for (const [n, a] of [['t0', '10.91.7.1/24'], ['t1', '10.91.8.1/24']] as const) {
    nsExec(ns, ['ip', 'link', 'add', n, 'type', 'veth', 'peer', 'name', `${n}p`]);
    nsExec(ns, ['ip', 'addr', 'add', a, 'dev', n]);
    nsExec(ns, ['ip', 'link', 'set', `${n}p`, 'up']);
    nsExec(ns, ['ip', 'link', 'set', n, 'up']);
  }
}

/** The VIP (is it there) and the routes the daemons set, device names made one. */
function view(ns: string, dev: string): string {
  const vip = nsExec(ns, ['ip', '-br', 'addr', 'show', 'dev', dev]).includes(` ${VIP}/`) ? 'VIP' : 'no VIP';
  const routes = nsExec(ns, ['ip', '-4', 'route']).trim().split('\n').filter((l) => !l.includes('proto kernel')).map((l) => l.replaceAll(dev, 'IF').trim()).sort();
  return [vip, ...routes].join(' | ');
}

test('track_group on a static route and a virtual route\'s dev: their interfaces going down put the instance in FAULT and back, the static route is set again, as keepalived does', { skip, timeout: 120_000 }, async () => {
  await keepalivedPair('lnk', '10.91.0', async ({ lab, dir, a, b, da, db }) => {
    links(a); links(b);
    writeFileSync(join(dir, 'ka.conf'), conf(da));
    writeFileSync(join(dir, 'tsvs.conf'), conf(db));
    lab.spawnIn(a, 'keepalived', ['-n', '-l', '-P', '-f', join(dir, 'ka.conf'), '-p', join(dir, 'ka.pid'), '-r', join(dir, 'vrrp.pid')]);
    lab.spawnIn(b, process.execPath, ['bin/tsvs.mjs', 'vrrp', '--keepalived', join(dir, 'tsvs.conf')]);
    const both = async (what: string, want: string) => {
      const ok = (await waitFor(() => view(a, da) === want && view(b, db) === want, 15_000, 50)) >= 0;
      assert.ok(ok, `${what}: want ${want}\n keepalived: ${view(a, da)}\n tsvs: ${view(b, db)}`);
    };
    const ALL = 'VIP | 10.91.50.0/24 dev t0 proto keepalived | 10.91.60.0/24 dev t1 proto keepalived';
    await both('both MASTER', ALL);
    const setLink = (n: string, s: 'up' | 'down') => { nsExec(a, ['ip', 'link', 'set', n, s]); nsExec(b, ['ip', 'link', 'set', n, s]); };
    setLink('t0', 'down');
    await both('the track_group\'s interface down: FAULT', 'no VIP');
    setLink('t0', 'up');
    await both('back up: the static route set again, MASTER again', ALL);
    setLink('t1', 'down');
    await both('the virtual route\'s interface down: FAULT', 'no VIP | 10.91.50.0/24 dev t0 proto keepalived');
    setLink('t1', 'up');
    await both('back up: MASTER with its virtual route', ALL);
  });
});
