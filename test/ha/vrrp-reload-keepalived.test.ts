/**
 * A reload (SIGHUP) that moves a MASTER's virtual addresses and routes, beside Debian's keepalived
 * 2.2.7 given the same files in namespaces: what left is removed, what came is set, and the
 * address that stayed is never taken down (`ip monitor` watches it through the reload); the
 * addresses and routes after the reload are keepalived's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { keepalivedPair, isRoot, nsExec, waitFor, keepalivedSkip } from '../helpers/netns.ts';

const skip = keepalivedSkip();
if (skip) console.log(`# skipping VRRP reload tests: ${skip}`);

/** Both run as MASTER of their own: unicast to an address nobody has, so they never hear each other. */
function conf(dev: string, vips: string[], routes: string[]): string {
  return `vrrp_instance VI_1 {
  state MASTER
  interface ${dev}
  virtual_router_id 61
  priority 150
  advert_int 1
  unicast_peer {
    10.95.0.9
  }
  virtual_ipaddress {
${vips.map((v) => `    ${v}/24`).join('\n')}
  }
  virtual_routes {
${routes.map((r) => `    ${r} dev ${dev}`).join('\n')}
  }
}
`;
}

const FIRST = { vips: ['10.95.0.100', '10.95.0.101'], routes: ['10.95.10.0/24', '10.95.12.0/24 metric 7'] };
const NEXT = { vips: ['10.95.0.100', '10.95.0.102'], routes: ['10.95.11.0/24', '10.95.12.0/24 metric 7'] };

/** The device's addresses and the routes through it, the device's name made one. */
function view(ns: string, dev: string): string[] {
  const addrs = nsExec(ns, ['ip', '-o', '-4', 'addr', 'show', 'dev', dev]).trim().split('\n').map((l) => l.replace(/^\d+: \S+\s+/, '').replace(/\s+valid_lft.*$/, '').replaceAll(dev, 'IF'));
  const routes = nsExec(ns, ['ip', '-4', 'route', 'show', 'dev', dev]).trim().split('\n').map((l) => l.replaceAll(dev, 'IF').trim());
  // The namespace's own address and its subnet's kernel route are not the daemons'.
  return [...addrs, ...routes].filter((l) => !/^inet 10\.95\.0\.[12]\/24 /.test(l) && !l.includes('proto kernel')).sort();
}
const holds = (ns: string, dev: string, want: typeof FIRST, not: typeof FIRST) => () => {
  const v = view(ns, dev).join('\n');
  return want.vips.every((a) => v.includes(`inet ${a}/24`)) && want.routes.every((r) => v.includes(r.split(' ')[0]!))
    && not.vips.every((a) => want.vips.includes(a) || !v.includes(`inet ${a}/24`)) && not.routes.every((r) => want.routes.includes(r) || !v.includes(r.split(' ')[0]!));
};

/** `ip monitor address` in the namespace: every line it prints. */
function monitor(p: ChildProcess): () => string {
  let out = '';
  p.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  return () => out;
}

test('reload moving VIPs and virtual routes: tsvs removes what left and sets what came as keepalived does, never dropping the VIP that stayed', { skip, timeout: 120_000 }, async () => {
  await keepalivedPair('rld', '10.95.0', async ({ lab, dir, a, b, da, db }) => {
    const kaConf = join(dir, 'ka.conf'), tvConf = join(dir, 'tsvs.conf');
    writeFileSync(kaConf, conf(da, FIRST.vips, FIRST.routes));
    writeFileSync(tvConf, conf(db, FIRST.vips, FIRST.routes));
    const ka = lab.spawnIn(a, 'keepalived', ['-n', '-l', '-P', '-f', kaConf, '-p', join(dir, 'ka.pid'), '-r', join(dir, 'vrrp.pid')]);
    const tv = lab.spawnIn(b, process.execPath, ['bin/tsvs.mjs', 'daemon', '--keepalived', tvConf, '--socket', join(dir, 'tsvs.sock'), '--no-state', '--workers', '0', '--forwarder', 'none']);
    let tvLog = '';
    tv.stdout!.on('data', (d: Buffer) => { tvLog += d.toString(); });
    assert.ok((await waitFor(holds(a, da, FIRST, NEXT), 20_000, 50)) >= 0, `keepalived is MASTER with the first file's entries: ${view(a, da).join(' | ')}`);
    assert.ok((await waitFor(holds(b, db, FIRST, NEXT), 20_000, 50)) >= 0, `tsvs is MASTER with the first file's entries: ${view(b, db).join(' | ')}`);
    assert.deepEqual(view(b, db), view(a, da), 'before the reload');

    const mons = [lab.spawnIn(a, 'ip', ['-o', 'monitor', 'address']), lab.spawnIn(b, 'ip', ['-o', 'monitor', 'address'])].map(monitor);
    await new Promise((r) => setTimeout(r, 300)); // the monitors subscribed
    writeFileSync(kaConf, conf(da, NEXT.vips, NEXT.routes));
    writeFileSync(tvConf, conf(db, NEXT.vips, NEXT.routes));
    ka.kill('SIGHUP');
    tv.kill('SIGHUP');
    assert.ok((await waitFor(holds(a, da, NEXT, FIRST), 20_000, 50)) >= 0, `keepalived moved them: ${view(a, da).join(' | ')}`);
    assert.ok((await waitFor(holds(b, db, NEXT, FIRST), 20_000, 50)) >= 0, `tsvs moved them: ${view(b, db).join(' | ')}\n${tvLog.slice(-3000)}`);
    // Settle: keepalived re-adds addresses it keeps after its reload; compare once both are still.
    let last = '';
    await waitFor(() => { const v = JSON.stringify([view(a, da), view(b, db)]); const same = v === last; last = v; return same; }, 5000, 500);
    assert.deepEqual(view(b, db), view(a, da), 'after the reload: the same addresses and routes');
    const [kaMon, tvMon] = mons.map((m) => m());
    console.log(`# keepalived's address events: ${JSON.stringify(kaMon.trim().split('\n'))}\n# tsvs's address events: ${JSON.stringify(tvMon.trim().split('\n'))}`);
    for (const [who, out] of [['keepalived', kaMon], ['tsvs', tvMon]] as const) {
      assert.ok(!out.split('\n').some((l) => l.startsWith('Deleted') && l.includes('10.95.0.100/')), `${who} never took the VIP that stayed down:\n${out}`);
      assert.ok(out.split('\n').some((l) => l.startsWith('Deleted') && l.includes('10.95.0.101/')), `${who} removed the VIP that left:\n${out}`);
    }
  });
});
