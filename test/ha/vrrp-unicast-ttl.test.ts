/**
 * check_unicast_src with unicast_peer min_ttl/max_ttl, beside Debian's keepalived 2.2.7 in a
 * namespace pair: an advert whose TTL is outside the peer's range is dropped (both masters), one
 * inside it is heard (one master), on tsvs's side as on keepalived's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, isRoot, hasAddr, waitFor, sleep, keepalivedSkip } from '../helpers/netns.ts';

const skip = keepalivedSkip();
if (skip) console.log(`# skipping unicast TTL tests: ${skip}`);
const VIP = '10.92.0.100';

function conf(dev: string, prio: number, peer: string, ttl: string): string {
  return `vrrp_instance VI_1 {\n  state BACKUP\n  interface ${dev}\n  virtual_router_id 65\n  priority ${prio}\n  advert_int 1\n  check_unicast_src\n` +
    `  unicast_peer {\n    ${peer} ${ttl}\n  }\n  virtual_ipaddress {\n    ${VIP}/24\n  }\n}\n`;
}

for (const [ttl, heard] of [['min_ttl 255 max_ttl 255', true], ['min_ttl 1 max_ttl 254', false]] as const) {
  test(`check_unicast_src, unicast_peer ${ttl}: adverts (TTL 255) ${heard ? 'heard: one master' : 'dropped: both masters'} (tsvs beside keepalived given the same settings)`, { skip, timeout: 60_000 }, async () => {
    const lab = new Lab(`utl${heard ? 'a' : 'b'}`);
    const dir = mkdtempSync(join(tmpdir(), 'tsvs-utl-'));
    try {
      const a = lab.ns('ka');
      const b = lab.ns('tv');
      const [da, db] = lab.link(a, '10.92.0.1/24', b, '10.92.0.2/24');
      // Priorities: keepalived 150 (the master), tsvs 100; each checks the other's TTL.
      writeFileSync(join(dir, 'ka.conf'), conf(da, 150, '10.92.0.2', ttl));
      writeFileSync(join(dir, 'tsvs.conf'), conf(db, 100, '10.92.0.1', ttl));
      lab.spawnIn(a, 'keepalived', ['-n', '-l', '-D', '-f', join(dir, 'ka.conf'), '-p', join(dir, 'ka.pid'), '-r', join(dir, 'vrrp.pid')]);
      lab.spawnIn(b, process.execPath, ['bin/tsvs.mjs', 'vrrp', '--keepalived', join(dir, 'tsvs.conf')]);
      assert.ok((await waitFor(() => hasAddr(a, da, VIP), 15_000)) >= 0, 'keepalived (150) is master');
      await sleep(5000); // tsvs's master-down timer (3 x 1 s + skew) has long run out
      if (heard) assert.equal(hasAddr(b, db, VIP), false, 'tsvs heard keepalived and stays BACKUP');
      else assert.equal(hasAddr(b, db, VIP), true, 'tsvs dropped keepalived\'s adverts and took the VIP too');
      assert.equal(hasAddr(a, da, VIP), true, 'keepalived stays master (it drops tsvs\'s lower-priority adverts or ignores them)');
    } finally {
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
