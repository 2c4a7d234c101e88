/**
 * Interoperation with Debian's keepalived in network namespaces: a tsvs VRRP instance and a
 * keepalived instance on the same VRID elect one master and fail over both ways.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, isRoot, hasAddr, waitFor, sleep } from '../helpers/netns.ts';
import { existsSync } from 'node:fs';

const haveKeepalived = existsSync('/usr/sbin/keepalived');
const skip = !isRoot ? 'needs root (network namespaces, raw sockets)' : !haveKeepalived ? 'keepalived not installed (run scripts/setup.sh)' : false;
if (skip) console.log(`# skipping keepalived interop tests: ${skip}`);

const VIP = '10.99.0.100';

interface Variant {
  version: 2 | 3;
  advert: number;
  pass?: string;
  /** `authentication { auth_type PASS auth_pass X }` on one line, as the seeds pasted it: keepalived reads only its first keyword (no password, so no authentication), and tsvs must read it the same way or both become master. */
  oneLine?: boolean;
  /** Unicast peers instead of multicast: `unicast_src_ip` and `unicast_peer { the other }`. */
  unicast?: { self: string; peer: string };
}

function keepalivedConf(dev: string, prio: number, v: Variant, state: 'MASTER' | 'BACKUP', unicast?: { self: string; peer: string }): string {
  const auth = !v.pass ? '' : v.oneLine
    ? `  authentication { auth_type PASS auth_pass ${v.pass} }\n`
    : `  authentication {\n    auth_type PASS\n    auth_pass ${v.pass}\n  }\n`;
  const uni = unicast ? `  unicast_src_ip ${unicast.self}\n  unicast_peer {\n    ${unicast.peer}\n  }\n` : '';
  return `global_defs {\n  vrrp_version ${v.version}\n}\nvrrp_instance VI_1 {\n  state ${state}\n  interface ${dev}\n  virtual_router_id 51\n  priority ${prio}\n  advert_int ${v.advert}\n${auth}${uni}  virtual_ipaddress {\n    ${VIP}/24\n  }\n}\n`;
}

async function pair(v: Variant, tsvsPrio: number, kaPrio: number) {
  const lab = new Lab('vrrp');
  const a = lab.ns('ka');
  const b = lab.ns('tv');
  const [da, db] = lab.link(a, '10.99.0.1/24', b, '10.99.0.2/24');
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-ka-'));
  writeFileSync(join(dir, 'ka.conf'), keepalivedConf(da, kaPrio, v, 'BACKUP', v.unicast ? { self: '10.99.0.1', peer: '10.99.0.2' } : undefined));
  const startKeepalived = () =>
    lab.spawnIn(a, 'keepalived', ['-n', '-l', '-P', '-f', join(dir, 'ka.conf'), '-p', join(dir, 'ka.pid'), '-r', join(dir, 'vrrp.pid')]);
  // tsvs reads the same keepalived.conf syntax, unchanged.
  writeFileSync(join(dir, 'tsvs.conf'), keepalivedConf(db, tsvsPrio, v, 'BACKUP', v.unicast ? { self: '10.99.0.2', peer: '10.99.0.1' } : undefined));
  const startTsvs = () => lab.spawnIn(b, process.execPath, ['bin/tsvs.mjs', 'vrrp', '--keepalived', join(dir, 'tsvs.conf')]);
  /** A crash: SIGKILL keepalived's VRRP child first (the parent would make it resign), then the parent. */
  const crashKeepalived = (parent: { kill(s?: NodeJS.Signals | number): boolean }) => {
    const child = Number(readFileSync(join(dir, 'vrrp.pid'), 'utf8').trim());
    if (child > 0) process.kill(child, 'SIGKILL');
    parent.kill('SIGKILL');
  };
  return { lab, a, b, da, db, startKeepalived, startTsvs, crashKeepalived };
}

for (const v of [
  { version: 2, advert: 1, pass: '1111' },
  { version: 2, advert: 1 },
  { version: 3, advert: 1 },
  { version: 2, advert: 1, pass: '1111', oneLine: true },
  { version: 2, advert: 1, pass: '1111', unicast: { self: '', peer: '' } },
  { version: 3, advert: 1, unicast: { self: '', peer: '' } },
] satisfies Variant[]) {
  const label = `VRRPv${v.version}${v.pass ? (v.oneLine ? ' with a one-line authentication block (read as no authentication by both)' : ' with PASS authentication') : ''}${v.unicast ? ', unicast peers' : ''}`;
  test(`${label}: tsvs (priority 150) becomes master over keepalived (100), hands over on stop, preempts on return`, { skip, timeout: 60_000 }, async () => {
    const p = await pair(v, 150, 100);
    try {
      p.startKeepalived();
      await sleep(300);
      let tv = p.startTsvs();
      assert.ok((await waitFor(() => hasAddr(p.b, p.db, VIP), 10_000)) >= 0, 'tsvs took the VIP');
      assert.ok((await waitFor(() => !hasAddr(p.a, p.da, VIP), 5_000)) >= 0, 'keepalived is not holding the VIP');
      await sleep(1500);
      assert.ok(!hasAddr(p.a, p.da, VIP), 'keepalived stays backup while tsvs advertises');
      tv.kill('SIGTERM');
      const handover = await waitFor(() => hasAddr(p.a, p.da, VIP), 5_000);
      assert.ok(handover >= 0, 'keepalived took over after tsvs resigned');
      assert.ok(!hasAddr(p.b, p.db, VIP), 'tsvs removed the VIP when stopping');
      tv = p.startTsvs();
      assert.ok((await waitFor(() => hasAddr(p.b, p.db, VIP) && !hasAddr(p.a, p.da, VIP), 10_000)) >= 0, 'tsvs preempted on return');
    } finally {
      await p.lab.cleanup();
    }
  });
}

test('VRRPv3 at 0.1 s adverts: kill -9 of either master moves the VIP to the other in under 0.5 s', { skip, timeout: 60_000 }, async () => {
  const v: Variant = { version: 3, advert: 0.1 };
  const p = await pair(v, 150, 100);
  try {
    p.startKeepalived();
    const tv = p.startTsvs();
    assert.ok((await waitFor(() => hasAddr(p.b, p.db, VIP) && !hasAddr(p.a, p.da, VIP), 10_000)) >= 0);
    await sleep(500);
    tv.kill('SIGKILL');
    const toKeepalived = await waitFor(() => hasAddr(p.a, p.da, VIP), 3_000, 5);
    assert.ok(toKeepalived >= 0 && toKeepalived < 500, `keepalived took over in ${toKeepalived.toFixed(0)} ms`);
  } finally {
    await p.lab.cleanup();
  }
  const q = await pair(v, 100, 150);
  try {
    const ka = q.startKeepalived();
    q.startTsvs();
    assert.ok((await waitFor(() => hasAddr(q.a, q.da, VIP), 10_000)) >= 0, 'keepalived (150) is master');
    await sleep(1000);
    assert.ok(!hasAddr(q.b, q.db, VIP), 'tsvs (100) stays backup');
    q.crashKeepalived(ka);
    const toTsvs = await waitFor(() => hasAddr(q.b, q.db, VIP), 3_000, 5);
    assert.ok(toTsvs >= 0 && toTsvs < 500, `tsvs took over in ${toTsvs.toFixed(0)} ms`);
    console.log(`# failover at 0.1 s adverts: keepalived->tsvs ${toTsvs.toFixed(0)} ms`);
  } finally {
    await q.lab.cleanup();
  }
});
