/**
 * static_ipaddress / static_routes / static_rules, virtual_ipaddress_excluded, virtual_routes,
 * virtual_rules and track_file at run time, beside Debian's keepalived 2.2.7 given the same file
 * in namespaces: what `ip addr`, `ip route` and `ip rule` show under tsvs is what they show under
 * keepalived, the virtual ones follow the MASTER both ways, and the static ones go when the
 * daemon stops.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, keepalivedPair, isRoot, hasAddr, nsExec, waitFor, keepalivedSkip } from '../helpers/netns.ts';
import { startDaemon } from '../daemon/helpers.ts';

const skip = keepalivedSkip();
if (skip) console.log(`# skipping VRRP routes tests: ${skip}`);
const VIP = '10.97.0.100';

function conf(dev: string, prio: number): string {
  return `static_ipaddress {
  10.97.1.1/24 dev ${dev} label ${dev}:st
}
static_routes {
  10.97.50.0/24 via 10.97.0.254 dev ${dev}
  blackhole 10.97.51.0/24 table 100 no_track
}
static_rules {
  from 10.97.1.0/24 table 100 priority 200
}
vrrp_instance VI_1 {
  state BACKUP
  interface ${dev}
  virtual_router_id 57
  priority ${prio}
  advert_int 1
  virtual_ipaddress {
    ${VIP}/24
  }
  virtual_ipaddress_excluded {
    10.97.2.1/24 dev ${dev}
  }
  virtual_routes {
    10.97.60.0/24 via 10.97.0.254 dev ${dev} metric 5
    default via 10.97.0.254 dev ${dev} table 200
    unreachable 10.97.61.0/24 no_track
    10.97.63.0/24 dev ${dev} scope link src 10.97.0.100
    10.97.65.0/24 via 10.97.0.253 or 10.97.0.252 no_track
    10.97.66.0/24 dev ${dev} nexthop via 10.97.0.251 dev ${dev} weight 3 nexthop via 10.97.0.250 dev ${dev}
  }
  virtual_rules {
    from 10.97.0.100 table 200 priority 300
    to 10.97.62.0/24 fwmark 7 lookup 200 priority 301
    from 10.97.64.0/24 prohibit priority 302 no_track
  }
}
`;
}

/** What keepalived sets, read back with iproute2, device names made one. */
function seen(ns: string, dev: string): { statics: string[]; virtuals: string[] } {
  const norm = (s: string) => s.split('\n').map((l) => l.replaceAll(dev, 'DEV').trimEnd()).filter((l) => /10\.97\.(1|2|5\d|6\d)\.|table 200|^(20\d|30\d):/.test(l));
  const lines = [
    ...norm(nsExec(ns, ['ip', '-4', 'addr', 'show', 'dev', dev])).map((l) => `addr ${l.trim()}`),
    ...norm(nsExec(ns, ['ip', '-o', '-4', 'route', 'show', 'table', 'all'])).map((l) => `route ${l}`),
    ...norm(nsExec(ns, ['ip', '-4', 'rule'])).map((l) => `rule ${l}`),
  ].filter((l) => !/ proto kernel /.test(l) || /10\.97\.(1|2)\./.test(l));
  const isStatic = (l: string) => /10\.97\.(1\.|5\d\.)|^rule 200:/.test(l);
  return { statics: lines.filter(isStatic).sort(), virtuals: lines.filter((l) => !isStatic(l)).sort() };
}

test('static and virtual addresses, routes and rules: tsvs sets what keepalived 2.2.7 sets; the virtual ones follow the MASTER both ways; the static ones go at stop', { skip, timeout: 90_000 }, async () => {
  await keepalivedPair('rts', '10.97.0', async ({ lab, dir, a, b, da, db }) => {
    writeFileSync(join(dir, 'ka.conf'), conf(da, 100));
    writeFileSync(join(dir, 'tsvs.conf'), conf(db, 150));
    lab.spawnIn(a, 'keepalived', ['-n', '-l', '-P', '-f', join(dir, 'ka.conf'), '-p', join(dir, 'ka.pid'), '-r', join(dir, 'vrrp.pid')]);
    const daemon = () => startDaemon(['--keepalived', join(dir, 'tsvs.conf'), '--no-state', '--workers', '0', '--forwarder', 'none'], dir, {}, ['ip', 'netns', 'exec', b]);
    let d = await daemon();
    try {
      assert.ok((await waitFor(() => hasAddr(b, db, VIP) && !hasAddr(a, da, VIP), 15_000)) >= 0, 'tsvs (150) is master');
      await waitFor(() => seen(b, db).virtuals.length >= 11, 3000);
      const tsMaster = seen(b, db);
      const kaBackup = seen(a, da);
      // Both daemons set the static entries, the same way.
      assert.ok(tsMaster.statics.length >= 4, JSON.stringify(tsMaster.statics));
      assert.deepEqual(tsMaster.statics, kaBackup.statics, 'static entries as keepalived sets them');
      assert.deepEqual(kaBackup.virtuals, [], 'keepalived (backup) holds no virtual entry');
      assert.ok(tsMaster.virtuals.some((l) => /^route default via 10\.97\.0\.254 dev DEV table 200 proto keepalived/.test(l)), JSON.stringify(tsMaster.virtuals));
      assert.ok(tsMaster.virtuals.some((l) => /^route 10\.97\.66\.0\/24 proto keepalived \\\tnexthop via 10\.97\.0\.251 dev DEV weight 3/.test(l)), JSON.stringify(tsMaster.virtuals));
      assert.ok(tsMaster.virtuals.some((l) => /^rule 301:\s+from all to 10\.97\.62\.0\/24 fwmark 0x7 lookup 200 proto keepalived/.test(l)), JSON.stringify(tsMaster.virtuals));

      // tsvs stops: it resigns, removes its virtual and static entries; keepalived takes the master role and sets the same virtual entries tsvs had.
      await d.stop();
      assert.ok((await waitFor(() => hasAddr(a, da, VIP), 8_000)) >= 0, 'keepalived took over');
      await waitFor(() => seen(a, da).virtuals.length >= tsMaster.virtuals.length, 3000);
      const kaMaster = seen(a, da);
      console.log(`# under keepalived as master and under tsvs as master alike:\n#   ${[...tsMaster.statics, ...tsMaster.virtuals].join('\n#   ')}`);
      assert.deepEqual(kaMaster.virtuals, tsMaster.virtuals, 'virtual entries: tsvs as master set what keepalived as master sets');
      assert.deepEqual(seen(b, db), { statics: [], virtuals: [] }, 'tsvs removed every entry when it stopped');

      // tsvs returns and preempts: the virtual entries move back, the static ones are set again.
      d = await daemon();
      assert.ok((await waitFor(() => hasAddr(b, db, VIP) && !hasAddr(a, da, VIP), 15_000)) >= 0, 'tsvs preempted');
      assert.ok((await waitFor(() => seen(a, da).virtuals.length === 0 && seen(b, db).virtuals.length === tsMaster.virtuals.length, 5_000)) >= 0,
        `virtual entries moved back: keepalived ${JSON.stringify(seen(a, da).virtuals)}, tsvs ${JSON.stringify(seen(b, db).virtuals)}`);
      assert.deepEqual(seen(b, db), tsMaster);
    } finally {
      await d.stop();
    }
  });
});

test('track_file: the file\'s value times its weight moves tsvs above or below keepalived; with weight 0 a non-zero value is FAULT', { skip, timeout: 90_000 }, async () => {
  await keepalivedPair('tfl', '10.97.0', async ({ lab, dir, a, b, da, db }) => {
    const prio = join(dir, 'prio'), down = join(dir, 'down');
    writeFileSync(join(dir, 'ka.conf'), `vrrp_instance VI_1 {\n  state BACKUP\n  interface ${da}\n  virtual_router_id 58\n  priority 150\n  advert_int 1\n  virtual_ipaddress {\n    ${VIP}/24\n  }\n}\n`);
    writeFileSync(join(dir, 'tsvs.conf'), `track_file prio {\n  file ${prio}\n  weight 2\n  init_file 40\n}\ntrack_file down {\n  file ${down}\n  weight 0\n}\nvrrp_instance VI_1 {\n  state BACKUP\n  interface ${db}\n  virtual_router_id 58\n  priority 100\n  advert_int 1\n  track_file {\n    prio\n    down\n  }\n  virtual_ipaddress {\n    ${VIP}/24\n  }\n}\n`);
    lab.spawnIn(a, 'keepalived', ['-n', '-l', '-P', '-f', join(dir, 'ka.conf'), '-p', join(dir, 'ka.pid'), '-r', join(dir, 'vrrp.pid')]);
    lab.spawnIn(b, process.execPath, ['bin/tsvs.mjs', 'vrrp', '--keepalived', join(dir, 'tsvs.conf')]);
    // init_file wrote 40: 100 + 2 x 40 = 180 > 150; the absent `down` file reads 0 (no fault).
    assert.ok((await waitFor(() => hasAddr(b, db, VIP) && !hasAddr(a, da, VIP), 15_000)) >= 0, 'tsvs (100 + 80) is master');
    writeFileSync(prio, '10\n');
    assert.ok((await waitFor(() => hasAddr(a, da, VIP) && !hasAddr(b, db, VIP), 8_000)) >= 0, 'file 10: tsvs at 120 < 150, keepalived preempts');
    writeFileSync(prio, '0x20\n');
    assert.ok((await waitFor(() => hasAddr(b, db, VIP) && !hasAddr(a, da, VIP), 8_000)) >= 0, 'file 0x20 (strtol base 0): tsvs at 164 preempts');
    writeFileSync(down, '1\n');
    assert.ok((await waitFor(() => hasAddr(a, da, VIP) && !hasAddr(b, db, VIP), 8_000)) >= 0, 'weight 0 file non-zero: tsvs FAULT');
    writeFileSync(down, '0\n');
    assert.ok((await waitFor(() => hasAddr(b, db, VIP) && !hasAddr(a, da, VIP), 10_000)) >= 0, 'weight 0 file back to 0: out of FAULT, preempts');
  });
});

test('tracking (keepalived\'s netlink reflector): a deleted static route, rule or address is restored; a master whose virtual route is deleted goes to BACKUP and sets it again as MASTER; no_track entries are let go; a reload follows the file\'s static entries', { skip: isRoot ? false : 'needs root (network namespaces, raw sockets)', timeout: 60_000 }, async () => {
  const lab = new Lab('rtk');
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-rtk-'));
  try {
    const b = lab.ns('tv');
    const peer = lab.ns('pe');
    const [, db] = lab.link(peer, '10.97.0.1/24', b, '10.97.0.2/24');
    writeFileSync(join(dir, 'tsvs.conf'), conf(db, 150));
    const d = await startDaemon(['--keepalived', join(dir, 'tsvs.conf'), '--no-state', '--workers', '0', '--forwarder', 'none'], dir, {}, ['ip', 'netns', 'exec', b]);
    const routes = () => nsExec(b, ['ip', '-o', '-4', 'route', 'show', 'table', 'all']);
    const rules = () => nsExec(b, ['ip', '-4', 'rule']);
    try {
      assert.ok((await waitFor(() => hasAddr(b, db, VIP) && routes().includes('10.97.60.0/24'), 15_000)) >= 0, 'tsvs is master with its virtual routes');
      // static entries come back at once
      nsExec(b, ['ip', 'route', 'del', '10.97.50.0/24']);
      nsExec(b, ['ip', 'rule', 'del', 'priority', '200']);
      nsExec(b, ['ip', 'addr', 'del', '10.97.1.1/24', 'dev', db]);
      assert.ok((await waitFor(() => routes().includes('10.97.50.0/24 via 10.97.0.254') && /^200:/m.test(rules()) && hasAddr(b, db, '10.97.1.1'), 3000)) >= 0,
        `static route, rule and address restored:\n${routes()}\n${rules()}\n${d.logs().split('\n').filter((l) => /Restoring/.test(l)).join('\n')}`);
      // (the log is written asynchronously: wait for it)
      assert.ok((await waitFor(() => /Restoring deleted static route 10\.97\.50\.0/.test(d.logs()), 2000)) >= 0, 'said so in the log');
      // a no_track virtual route stays deleted and changes nothing
      nsExec(b, ['ip', 'route', 'del', 'unreachable', '10.97.61.0/24']);
      await new Promise((r) => setTimeout(r, 1500));
      assert.ok(!routes().includes('10.97.61.0/24'), 'the no_track route is not set again');
      assert.equal(d.logs().match(/Entering BACKUP STATE/g)?.length, 1, 'no transition but the initial BACKUP');
      // a tracked virtual route: back to BACKUP, then (no other router) MASTER again, which sets it again
      nsExec(b, ['ip', 'route', 'del', '10.97.60.0/24']);
      assert.ok((await waitFor(() => /virtual route 10\.97\.60\.0\/24 deleted/.test(d.logs()), 3000)) >= 0, `went to BACKUP for the deleted route:\n${d.logs().slice(-2000)}`);
      assert.ok((await waitFor(() => routes().includes('10.97.60.0/24 via 10.97.0.254') && routes().includes('10.97.61.0/24') && hasAddr(b, db, VIP), 10_000)) >= 0, `master again, every virtual route set:\n${routes()}`);
      // a reload: static entries follow the file (the rule is gone from it, a route is new)
      writeFileSync(join(dir, 'tsvs.conf'), conf(db, 150).replace('  from 10.97.1.0/24 table 100 priority 200\n', '').replace('static_routes {\n', 'static_routes {\n  10.97.52.0/24 via 10.97.0.254 dev ' + db + '\n'));
      process.kill(d.proc.pid!, 'SIGHUP');
      assert.ok((await waitFor(() => !/^200:/m.test(rules()) && routes().includes('10.97.52.0/24 via 10.97.0.254') && routes().includes('10.97.50.0/24'), 5000)) >= 0,
        `reload removed the static rule and set the new static route:\n${routes()}\n${rules()}`);
    } finally {
      await d.stop();
    }
    assert.ok(!routes().includes('proto keepalived'), `stop removes every entry:\n${routes()}`);
  } finally {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
