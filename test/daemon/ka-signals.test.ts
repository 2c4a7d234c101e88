/**
 * keepalived's operator signals on a real `tsvs daemon --keepalived FILE` process: SIGUSR1 writes
 * keepalived.data + keepalived_check.data, SIGUSR2 keepalived.stats, into --dump-dir (keepalived's
 * /tmp by default); the daemon keeps running. As root, the VRRP part runs in namespaces against
 * Debian's keepalived 2.2.7, signalled the same way, and the two files are compared line by line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { closeServer, freePort, nameServer, sleep, startDaemon, tmpDir, tsvsadm } from './helpers.ts';
import { Lab, isRoot, nsExec, keepalivedSkip } from '../helpers/netns.ts';
import { daemonOptions, type OptionEnv } from '../../src/daemon/options.ts';

async function fileAppears(path: string, ms: number): Promise<string> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (existsSync(path)) return readFileSync(path, 'utf8');
    await sleep(50);
  }
  throw new Error(`${path} was not written within ${ms} ms`);
}

async function until(f: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await f()) return true;
    await sleep(100);
  }
  return f();
}

test('SIGUSR1 writes keepalived_check.data with each real server\'s weight and health, SIGUSR2 keepalived.stats; the daemon keeps serving', { timeout: 60_000 }, async () => {
  const a = await nameServer('rs1');
  const deadPort = await freePort();
  const vport = await freePort();
  const dir = tmpDir();
  const dumps = join(dir, 'dumps');
  mkdirSync(dumps);
  const conf = join(dir, 'keepalived.conf');
  writeFileSync(conf, `virtual_server 127.0.0.1 ${vport} {\n  delay_loop 0.3\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n  quorum 2\n${[[a.port, 3], [deadPort, 2]]
    .map(([p, w]) => `  real_server 127.0.0.1 ${p} {\n    weight ${w}\n    TCP_CHECK {\n      connect_timeout 1\n      retry 1\n      delay_before_retry 0.1\n    }\n  }\n`).join('')}}\n`);
  const d = await startDaemon(['--keepalived', conf, '--no-state', '--workers', '0', '--dump-dir', dumps], dir);
  try {
    // the dead server has failed its check once the table holds only the live one
    assert.ok(await until(async () => {
      const l = (await tsvsadm(d.socket, ['-L', '-n'])).stdout;
      return l.includes(`:${a.port} `) && !l.includes(`:${deadPort} `);
    }, 8000), 'health checks settled');
    process.kill(d.proc.pid!, 'SIGUSR1');
    const check = await fileAppears(join(dumps, 'keepalived_check.data'), 5000);
    const lines = check.split('\n');
    const rs = (port: number) => lines.indexOf(`   RIP = 127.0.0.1, RPORT = ${port}, WEIGHT = ${port === a.port ? 3 : 2} EFF WEIGHT = ${port === a.port ? 3 : 2}`);
    assert.equal(lines[0], '------< LVS Topology >------', check);
    assert.ok(lines.includes(` VS VIP = 127.0.0.1, VPORT = ${vport}`), check);
    assert.ok(lines.includes('   quorum = 2, hysteresis = 0'), check);
    assert.ok(lines.includes('   quorum_state_up = 1'), check);
    assert.ok(rs(a.port) > 0 && lines[rs(a.port) + 3] === '   alive = 1', check);
    assert.ok(rs(deadPort) > 0 && lines[rs(deadPort) + 3] === '   alive = 0' && lines[rs(deadPort) + 4] === '   num failed checkers = 1', check);
    assert.equal(await fileAppears(join(dumps, 'keepalived.data'), 1000), '', 'no vrrp_instance: no VRRP Topology');
    process.kill(d.proc.pid!, 'SIGUSR2');
    assert.equal(await fileAppears(join(dumps, 'keepalived.stats'), 5000), '');
    await sleep(200);
    assert.equal(d.proc.exitCode, null, 'the daemon is still running');
    assert.equal((await tsvsadm(d.socket, ['-L', '-n'])).code, 0);
    assert.match(d.logs(), /keepalived data dump written/);
  } finally {
    await d.stop();
    await closeServer(a.server);
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--dump-dir defaults to keepalived's /tmp, is resolved against the working directory; an empty one is refused", () => {
  const env: OptionEnv = { cpus: 2, root: false, cwd: '/srv', defaultSocket: () => '/run/tsvs/tsvs.sock', defaultState: (s) => `${s}.state` };
  const opts = (o: Record<string, string>) => daemonOptions(new Map(Object.entries(o).map(([k, v]) => [k, [v]])), { noState: true }, env);
  assert.equal(opts({ keepalived: 'k.conf' }).dumpDir, '/tmp');
  assert.equal(opts({ keepalived: 'k.conf', 'dump-dir': 'dumps' }).dumpDir, '/srv/dumps');
  assert.throws(() => opts({ keepalived: 'k.conf', 'dump-dir': '' }), /dump-dir|directory/);
});

/**
 * "label = value" / "label: value" -> label (values differ between the two routers, labels must
 * not); an address line loses its address, device and " set" (only the master has it set).
 */
const label = (l: string): string => l.replace(/( = |: ).*$/, '$1').replace(/^( +)\S.*dev \S+(.*?)( set)?$/, '$1ADDR dev IF$2');

const skipNs = keepalivedSkip();
if (skipNs) console.log(`# skipping the keepalived side-by-side dump test: ${skipNs}`);

/** Two namespaces linked by a veth pair (keepalived's side a, tsvs's b) and a dump directory each; cleaned up after fn. */
async function withPair(tag: string, net: string, fn: (p: { lab: Lab; dir: string; kaDir: string; tsDir: string; a: string; b: string; da: string; db: string }) => Promise<void>): Promise<void> {
  const lab = new Lab(tag);
  const dir = tmpDir(`tsvs-${tag}-`);
  const kaDir = join(dir, 'ka'), tsDir = join(dir, 'ts');
  mkdirSync(kaDir);
  mkdirSync(tsDir);
  try {
    const a = lab.ns('ka');
    const b = lab.ns('tv');
    const [da, db] = lab.link(a, `${net}.1/24`, b, `${net}.2/24`);
    await fn({ lab, dir, kaDir, tsDir, a, b, da, db });
  } finally {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('side by side with keepalived 2.2.7: the same signals write the same files, in the same layout', { skip: skipNs, timeout: 60_000 }, async () => {
  await withPair('kad', '10.96.0', async ({ lab, dir, kaDir, tsDir, a, b, da, db }) => {
    const inst = (dev: string, prio: number) => `vrrp_instance VI_1 {\n  state BACKUP\n  interface ${dev}\n  virtual_router_id 52\n  priority ${prio}\n  advert_int 1\n  virtual_ipaddress {\n    10.96.0.100/24\n  }\n}\n`;
    writeFileSync(join(dir, 'ka.conf'), inst(da, 200));
    writeFileSync(join(dir, 'tsvs.conf'), inst(db, 100));
    // keepalived finds its dump directory in TMPDIR (keepalived's own rule); tsvs takes --dump-dir
    const ka = lab.spawnIn(a, 'keepalived', ['-n', '-l', '-P', '-f', join(dir, 'ka.conf'), '-p', join(dir, 'ka.pid'), '-r', join(dir, 'vrrp.pid')], { env: { ...process.env, TMPDIR: kaDir } });
    const d = await startDaemon(['--keepalived', join(dir, 'tsvs.conf'), '--no-state', '--workers', '0', '--forwarder', 'none', '--dump-dir', tsDir], dir, {}, ['ip', 'netns', 'exec', b]);
    try {
      assert.ok(await until(() => nsExec(a, ['ip', '-br', 'addr', 'show', 'dev', da]).includes(' 10.96.0.100/'), 15_000), 'keepalived (200) is master');
      await sleep(2500); // a few adverts reach tsvs
      for (const sig of ['SIGUSR1', 'SIGUSR2'] as const) {
        process.kill(ka.pid!, sig);
        process.kill(d.proc.pid!, sig);
      }
      const kaStats = await fileAppears(join(kaDir, 'keepalived.stats'), 5000);
      const tsStats = await fileAppears(join(tsDir, 'keepalived.stats'), 5000);
      assert.deepEqual(tsStats.split('\n').map(label), kaStats.split('\n').map(label), `layout differs:\n${tsStats}\n--- keepalived:\n${kaStats}`);
      assert.match(tsStats, /^ {2}Became master: 0$/m);
      const received = Number(/Advertisements:\n {4}Received: (\d+)/.exec(tsStats)?.[1]);
      assert.ok(received >= 1, `tsvs counted keepalived's adverts:\n${tsStats}`);
      assert.ok(Number(/Advertisements:\n {4}Received: \d+\n {4}Sent: (\d+)/.exec(kaStats)?.[1]) >= 1, kaStats);

      const kaData = await fileAppears(join(kaDir, 'keepalived.data'), 5000);
      const tsData = await fileAppears(join(tsDir, 'keepalived.data'), 5000);
      const theirs = kaData.split('\n').map(label);
      let at = 0;
      for (const l of tsData.trimEnd().split('\n').map(label)) {
        const i = theirs.indexOf(l, at);
        assert.ok(i >= 0, `tsvs line ${JSON.stringify(l)} is not (in order) in keepalived's keepalived.data:\n${kaData}`);
        at = i + 1;
      }
      assert.match(tsData, /^ {3}State = BACKUP$/m);
      assert.match(kaData, /^ {3}State = MASTER$/m);
      assert.match(tsData, /^ {3}Virtual Router ID = 52$/m);
      assert.ok(tsData.split('\n').includes(`     10.96.0.100/24 dev ${db} scope global`), tsData);
      assert.ok(kaData.split('\n').includes(`     10.96.0.100/24 dev ${da} scope global set`), kaData);
    } finally {
      await d.stop();
    }
  });
});

test('`tsvs vrrp` answers SIGUSR2 too, and counts an authentication type mismatch on the line keepalived 2.2.7 counts it', { skip: skipNs, timeout: 60_000 }, async () => {
  await withPair('kau', '10.94.0', async ({ lab, dir, kaDir, tsDir, a, b, da, db }) => {
    // keepalived authenticates (PASS), tsvs does not: each drops the other's adverts
    const inst = (dev: string, auth: string) => `vrrp_instance VI_1 {\n  state BACKUP\n  interface ${dev}\n  virtual_router_id 54\n  priority 100\n  advert_int 1\n${auth}  virtual_ipaddress {\n    10.94.0.100/24\n  }\n}\n`;
    writeFileSync(join(dir, 'ka.conf'), inst(da, '  authentication {\n    auth_type PASS\n    auth_pass secret\n  }\n'));
    writeFileSync(join(dir, 'tsvs.conf'), inst(db, ''));
    const ka = lab.spawnIn(a, 'keepalived', ['-n', '-l', '-P', '-f', join(dir, 'ka.conf'), '-p', join(dir, 'ka.pid'), '-r', join(dir, 'vrrp.pid')], { env: { ...process.env, TMPDIR: kaDir } });
    const ts = lab.spawnIn(b, process.execPath, ['bin/tsvs.mjs', 'vrrp', '--keepalived', join(dir, 'tsvs.conf'), '--dump-dir', tsDir]);
    // both end up master (neither accepts the other); then mismatching adverts flow both ways
    assert.ok(await until(() => nsExec(a, ['ip', '-br', 'addr', 'show', 'dev', da]).includes(' 10.94.0.100/') && nsExec(b, ['ip', '-br', 'addr', 'show', 'dev', db]).includes(' 10.94.0.100/'), 15_000), 'both master');
    await sleep(2500);
    process.kill(ka.pid!, 'SIGUSR2');
    process.kill(ts.pid!, 'SIGUSR2');
    const kaStats = await fileAppears(join(kaDir, 'keepalived.stats'), 5000);
    const tsStats = await fileAppears(join(tsDir, 'keepalived.stats'), 5000);
    const mismatch = (s: string) => Number(/Authentication Errors:\n {4}Invalid Type: \d+\n {4}Type Mismatch: (\d+)/.exec(s)?.[1]);
    assert.ok(mismatch(kaStats) >= 1, `keepalived counts the mismatch:\n${kaStats}`);
    assert.ok(mismatch(tsStats) >= 1, `tsvs counts it on the same line:\n${tsStats}`);
    assert.deepEqual(tsStats.split('\n').map(label), kaStats.split('\n').map(label));
    assert.ok(!existsSync(join(tsDir, 'keepalived_check.data')), 'tsvs vrrp has no checker: no keepalived_check.data');
  });
});
