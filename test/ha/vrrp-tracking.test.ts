/**
 * vrrp_script (track_script with weight) and track_interface at run time, against Debian's
 * keepalived as the peer, in namespaces: tracking moves the VIP both ways.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keepalivedPair, isRoot, hasAddr, nsExec, waitFor, sleep, keepalivedSkip } from '../helpers/netns.ts';

const skip = keepalivedSkip();
if (skip) console.log(`# skipping VRRP tracking tests: ${skip}`);
const VIP = '10.98.0.100';

test('track_script weight -60 lowers tsvs below keepalived while the script fails; track_interface down puts it in FAULT', { skip, timeout: 90_000 }, async () => {
  await keepalivedPair('trk', '10.98.0', async ({ lab, dir, a, b, da, db }) => {
    nsExec(b, ['ip', 'link', 'add', 'trk0', 'type', 'veth', 'peer', 'name', 'trk1']);
    nsExec(b, ['ip', 'link', 'set', 'trk1', 'up']);
    nsExec(b, ['ip', 'link', 'set', 'trk0', 'up']);
    const flag = join(dir, 'healthy');
    writeFileSync(flag, '');
    writeFileSync(join(dir, 'ka.conf'), `vrrp_instance VI_1 {\n  state BACKUP\n  interface ${da}\n  virtual_router_id 61\n  priority 100\n  advert_int 1\n  virtual_ipaddress {\n    ${VIP}/24\n  }\n}\n`);
    writeFileSync(join(dir, 'tsvs.conf'), `vrrp_script chk_flag {\n  script "/usr/bin/test -f ${flag}"\n  interval 0.5\n  weight -60\n  fall 1\n  rise 1\n}\nvrrp_instance VI_1 {\n  state BACKUP\n  interface ${db}\n  virtual_router_id 61\n  priority 150\n  advert_int 1\n  track_script {\n    chk_flag\n  }\n  track_interface {\n    trk0\n  }\n  virtual_ipaddress {\n    ${VIP}/24\n  }\n}\n`);
    lab.spawnIn(a, 'keepalived', ['-n', '-l', '-P', '-f', join(dir, 'ka.conf'), '-p', join(dir, 'ka.pid'), '-r', join(dir, 'vrrp.pid')]);
    lab.spawnIn(b, process.execPath, ['bin/tsvs.mjs', 'vrrp', '--keepalived', join(dir, 'tsvs.conf')]);
    assert.ok((await waitFor(() => hasAddr(b, db, VIP) && !hasAddr(a, da, VIP), 15_000)) >= 0, 'tsvs (150) is master');
    rmSync(flag);
    assert.ok((await waitFor(() => hasAddr(a, da, VIP) && !hasAddr(b, db, VIP), 8_000)) >= 0, 'failing script: tsvs at 90 < 100, keepalived preempts');
    writeFileSync(flag, '');
    assert.ok((await waitFor(() => hasAddr(b, db, VIP) && !hasAddr(a, da, VIP), 8_000)) >= 0, 'script healthy again: tsvs back at 150 preempts');
    nsExec(b, ['ip', 'link', 'set', 'trk0', 'down']);
    assert.ok((await waitFor(() => hasAddr(a, da, VIP) && !hasAddr(b, db, VIP), 8_000)) >= 0, 'tracked interface down: tsvs FAULT, keepalived master');
    await sleep(1500);
    assert.ok(!hasAddr(b, db, VIP), 'stays out while in FAULT');
    nsExec(b, ['ip', 'link', 'set', 'trk0', 'up']);
    assert.ok((await waitFor(() => hasAddr(b, db, VIP), 10_000)) >= 0, 'interface up: back to BACKUP, then preempts');
  });
});
