/**
 * no_accept / vrrp_strict at run time beside Debian's keepalived 2.2.7 (built with nftables) given
 * the same file in a namespace: a MASTER that is not the address owner drops traffic to its
 * virtual address (a TCP connection from the peer to it goes unanswered, one to the namespace's
 * own address is answered), through the same `table ip keepalived` keepalived writes, which goes when it stops.
 * Each runs alone in turn (vrrp_strict refuses unicast peers, and two masters would elect one).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { keepalivedPair, isRoot, hasAddr, waitFor, type Lab, keepalivedSkip } from '../helpers/netns.ts';

const skip = keepalivedSkip('network namespaces, raw sockets, nftables');
if (skip) console.log(`# skipping VRRP no_accept tests: ${skip}`);
const VIP = '10.93.0.100';

const conf = (dev: string, mode: string) => `global_defs {
${mode === 'strict' ? '  vrrp_strict\n' : ''}}
vrrp_instance VI_1 {
  state MASTER
  interface ${dev}
  virtual_router_id 62
  priority 100
  advert_int 1
${mode === 'no_accept' ? '  no_accept\n' : ''}  virtual_ipaddress {
    ${VIP}/24
  }
}
`;

const PORT = 7070;
/** A TCP connection from `ns` to addr:PORT within a second (bash's /dev/tcp; no ping needed). */
const reaches = (ns: string, addr: string) => spawnSync('ip', ['netns', 'exec', ns, 'timeout', '1', 'bash', '-c', `exec 3<>/dev/tcp/${addr}/${PORT}`], { stdio: 'ignore' }).status === 0;
const listen = (lab: Lab, ns: string) => lab.spawnIn(ns, process.execPath, ['-e', `require('net').createServer((s) => s.end()).listen(${PORT})`]);
const table = (ns: string) => {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'table', 'ip', 'keepalived'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.replace(/\s+/g, ' ').trim() : null;
};
const stop = async (p: ChildProcess) => {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await gone;
};

for (const mode of ['strict', 'no_accept']) {
  test(`${mode}: the MASTER drops traffic to its VIP through keepalived's nftables table, as keepalived does, and removes the table when it stops`, { skip, timeout: 90_000 }, async () => {
    await keepalivedPair(`nac${mode === 'strict' ? 's' : 'n'}`, '10.93.0', async ({ lab, dir, a, b, da, db }) => {
      const seen: Record<string, string | null> = {};
      const runs = [
        { who: 'keepalived', ns: a, dev: da, peer: b, own: '10.93.0.1', start: (f: string) => lab.spawnIn(a, 'keepalived', ['-n', '-l', '-P', '-f', f, '-p', join(dir, 'ka.pid'), '-r', join(dir, 'vrrp.pid')]) },
        { who: 'tsvs', ns: b, dev: db, peer: a, own: '10.93.0.2', start: (f: string) => lab.spawnIn(b, process.execPath, ['bin/tsvs.mjs', 'vrrp', '--keepalived', f]) },
      ];
      for (const r of runs) {
        const f = join(dir, `${r.who}.conf`);
        writeFileSync(f, conf(r.dev, mode));
        listen(lab, r.ns);
        const p = r.start(f);
        assert.ok((await waitFor(() => hasAddr(r.ns, r.dev, VIP) && table(r.ns)?.includes(VIP) === true, 15_000, 50)) >= 0, `${r.who} is MASTER with its drop rule: ${table(r.ns)}`);
        seen[r.who] = table(r.ns);
        assert.ok((await waitFor(() => reaches(r.peer, r.own), 5000, 100)) >= 0, `${r.who}: its own address still answers`);
        assert.ok(!reaches(r.peer, VIP), `${r.who}: the VIP does not answer`);
        await stop(p);
        assert.equal(table(r.ns), null, `${r.who} removed its table`);
        assert.ok(!hasAddr(r.ns, r.dev, VIP), `${r.who} removed the VIP`);
      }
      assert.equal(seen['tsvs'], seen['keepalived'], 'the same table');
    });
  });
}

test('without no_accept or vrrp_strict the VIP answers and no table is written (tsvs)', { skip, timeout: 60_000 }, async () => {
  await keepalivedPair('naca', '10.93.0', async ({ lab, dir, a, b, db }) => {
    const f = join(dir, 'tsvs.conf');
    writeFileSync(f, conf(db, 'accept'));
    listen(lab, b);
    lab.spawnIn(b, process.execPath, ['bin/tsvs.mjs', 'vrrp', '--keepalived', f]);
    assert.ok((await waitFor(() => hasAddr(b, db, VIP), 15_000, 50)) >= 0, 'tsvs is MASTER');
    assert.ok((await waitFor(() => reaches(a, VIP), 5000, 100)) >= 0, 'the VIP answers');
    assert.equal(table(b), null);
  });
});
