/**
 * The shipped packages install and work away from the checkout: `npm pack` + `npm install -g`
 * into a temporary prefix, and the Debian packages unpacked (dpkg -x) into a temporary root.
 * Every command runs from a fresh directory (not the checkout), so nothing can lean on the
 * checkout's node_modules (tsx included) or on relative paths.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { buildPackages, have, run, runOk, startDaemon, tmpDir, type Packages } from './helpers.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const root = process.getuid?.() === 0;
const missing = ['npm', 'dpkg-deb', 'dpkg'].filter((c) => !have(c));
const skip = missing.length ? `needs ${missing.join(', ')}` : false;

let pkgs: Packages;
let prefix: string; // npm install -g --prefix
let debRoot: string; // dpkg -x
let elsewhere: string; // the working directory of every command run
const cleanup: string[] = [];

before(() => {
  if (skip) return;
  pkgs = buildPackages();
  prefix = tmpDir('tsvs-npm-prefix-');
  debRoot = tmpDir('tsvs-deb-root-');
  elsewhere = tmpDir('tsvs-elsewhere-');
  cleanup.push(pkgs.dir, prefix, debRoot, elsewhere);
  // --offline: the tarball bundles its dependencies, so installing it needs no registry.
  runOk('npm', ['install', '-g', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', '--loglevel=error', pkgs.tgz], { cwd: elsewhere, timeoutMs: 120000 });
  runOk('dpkg', ['-x', pkgs.deb, debRoot], { cwd: elsewhere });
  runOk('dpkg', ['-x', pkgs.ipvsadmDeb, debRoot], { cwd: elsewhere });
});

after(() => {
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
});

/** One HTTP real server answering its name, and a free port for the VIP. */
async function backend(name: string): Promise<{ server: Server; port: number; vport: number }> {
  const server = createServer((_q, s) => s.end(`${name}\n`));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const vport = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  return { server, port: (server.address() as AddressInfo).port, vport };
}

function httpBody(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const q = get({ host: '127.0.0.1', port, path: '/', timeout: 5000 }, (res) => {
      let b = '';
      res.on('data', (d: Buffer) => (b += d.toString()));
      res.on('end', () => resolve(b));
    });
    q.on('timeout', () => q.destroy(new Error('timeout')));
    q.on('error', reject);
  });
}

/**
 * The checks both installs must pass: every subcommand's help loads (its whole module graph),
 * simulate runs, and a daemon started from the installed copy serves a VIP administered by the
 * installed tsvsadm (workers and all).
 */
async function installedCommandsWork(tsvs: string, tsvsadm: string): Promise<void> {
  assert.equal(runOk(tsvs, ['version'], { cwd: elsewhere }), `tsvs ${VERSION}\n`);
  const help = run(tsvs, ['--help'], { cwd: elsewhere });
  assert.equal(help.code, 0, help.stderr);
  const commands = [...help.stdout.matchAll(/^ {2}([a-z][a-z0-9-]*) {2,}/gm)].map((m) => m[1]!);
  for (const c of ['daemon', 'realserver', 'simulate', 'status', 'reload', 'config-test', 'doctor', 'lab', 'vrrp']) assert.ok(commands.includes(c), `tsvs --help lists ${c}: ${help.stdout}`);
  for (const c of commands) {
    const r = run(tsvs, [c, '--help'], { cwd: elsewhere });
    assert.equal(r.code, 0, `tsvs ${c} --help: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, c === 'version' ? /^tsvs / : /^usage: tsvs /, `tsvs ${c} --help`);
  }

  writeFileSync(join(elsewhere, 'rules'), '-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 192.168.10.1:80 -m\n');
  writeFileSync(join(elsewhere, 'trace'), '{"t":0,"proto":"tcp","src":"172.16.5.77:40001","dst":"10.0.0.1:80","flags":"S"}\n{"t":1,"list":"-L -n"}\n');
  const sim = runOk(tsvs, ['simulate', '--rules', 'rules', '--trace', 'trace'], { cwd: elsewhere });
  assert.match(sim, /192\.168\.10\.1:80/);
  assert.match(sim, /TCP  10\.0\.0\.1:80 rr/);

  const rs = await backend('rs1');
  const d = await startDaemon(tsvs, elsewhere, ['--workers', '1']);
  try {
    const env = { TSVS_SOCKET: d.socket };
    runOk(tsvsadm, ['-A', '-t', `127.0.0.1:${rs.vport}`, '-s', 'wrr'], { cwd: elsewhere, env });
    runOk(tsvsadm, ['-R'], { cwd: elsewhere, env, input: `-a -t 127.0.0.1:${rs.vport} -r 127.0.0.1:${rs.port} -m -w 2\n` });
    const list = runOk(tsvsadm, ['-L', '-n'], { cwd: elsewhere, env });
    assert.match(list, new RegExp(`TCP  127\\.0\\.0\\.1:${rs.vport} wrr\\n  -> 127\\.0\\.0\\.1:${rs.port} +Masq +2 `));
    assert.equal(await httpBody(rs.vport), 'rs1\n', 'a request to the VIP reaches the real server through the installed daemon');
    const bad = run(tsvsadm, ['-a', '-t', `127.0.0.1:${rs.vport}`, '-r', '127.0.0.1:1', '-w', 'x'], { cwd: elsewhere, env });
    assert.equal(bad.code, 2, 'ipvsadm exit code for a bad weight');
    assert.equal(bad.stderr, 'illegal weight specified\n');
  } finally {
    await d.stop();
    await new Promise<void>((r) => rs.server.close(() => r()));
  }
}

describe('npm pack + npm install -g', { skip }, () => {
  test('installs tsvs and tsvsadm commands and man pages into the prefix, with no TypeScript loader', () => {
    assert.equal(readlinkSync(join(prefix, 'bin/tsvs')), '../lib/node_modules/tsvs/bin/tsvs.mjs');
    assert.equal(readlinkSync(join(prefix, 'bin/tsvsadm')), '../lib/node_modules/tsvs/bin/tsvsadm.mjs');
    for (const m of ['tsvs.8', 'tsvsadm.8']) assert.ok(existsSync(join(prefix, 'share/man/man8', m)), m);
    const pkg = join(prefix, 'lib/node_modules/tsvs');
    assert.ok(existsSync(join(pkg, 'dist/cli/tsvs.js')), 'the compiled CLI ships');
    assert.ok(!existsSync(join(pkg, 'src')), 'no TypeScript sources ship');
    for (const dev of ['tsx', 'typescript', 'esbuild']) assert.ok(!existsSync(join(pkg, 'node_modules', dev)), `${dev} is not installed`);
  });

  test('the installed commands work from another directory: every subcommand, simulate, a daemon serving a VIP set by tsvsadm', { timeout: 60_000 }, async () => {
    await installedCommandsWork(join(prefix, 'bin/tsvs'), join(prefix, 'bin/tsvsadm'));
  });

  test('tsvs realserver up --mode tun starts its decapsulation agent from the installed copy (down stops it)', { skip: root ? false : 'needs root (network namespace)', timeout: 60_000 }, () => {
    const ns = `tsvs-pkg${process.pid}`;
    execFileSync('ip', ['netns', 'add', ns]);
    const tsvs = join(prefix, 'bin/tsvs');
    try {
      const up = run('ip', ['netns', 'exec', ns, tsvs, 'realserver', 'up', '--vip', '10.9.8.7', '--mode', 'tun'], { cwd: elsewhere });
      assert.equal(up.code, 0, up.stdout + up.stderr);
      const pid = Number(/decapsulation agent .*pid (\d+)/.exec(up.stdout)?.[1]);
      assert.ok(pid > 0, `agent pid in: ${up.stdout}`);
      assert.ok(existsSync(`/proc/${pid}`), 'the agent runs');
      assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), new RegExp(`${prefix}/lib/node_modules/tsvs/dist/`), 'the agent is the installed compiled module');
      assert.equal(run('ip', ['netns', 'exec', ns, 'ip', 'link', 'show', 'tsvstun0'], { cwd: elsewhere }).code, 0);
      runOk('ip', ['netns', 'exec', ns, tsvs, 'realserver', 'down', '--vip', '10.9.8.7'], { cwd: elsewhere });
      assert.ok(!existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] === 'Z', 'down stops the agent');
    } finally {
      run('ip', ['netns', 'exec', ns, tsvs, 'realserver', 'down', '--vip', '10.9.8.7'], { cwd: elsewhere });
      run('ip', ['netns', 'del', ns], { cwd: elsewhere });
    }
  });
});

describe('Debian packages (dpkg-deb)', { skip }, () => {
  test('tsvs ships /usr/sbin/tsvs, /usr/sbin/tsvsadm, the systemd unit, /etc/tsvs/rules and man pages', () => {
    const fields = runOk('dpkg-deb', ['-f', pkgs.deb, 'Package', 'Version', 'Depends'], { cwd: elsewhere });
    assert.equal(fields, `Package: tsvs\nVersion: ${VERSION}-1\nDepends: nodejs (>= 20)\n`);
    assert.equal(runOk('dpkg-deb', ['-f', pkgs.ipvsadmDeb, 'Depends', 'Conflicts'], { cwd: elsewhere }), `Depends: tsvs (= ${VERSION}-1)\nConflicts: ipvsadm\n`);
    assert.equal(readlinkSync(join(debRoot, 'usr/sbin/tsvs')), '../lib/tsvs/bin/tsvs.mjs');
    assert.equal(readlinkSync(join(debRoot, 'usr/sbin/tsvsadm')), '../lib/tsvs/bin/tsvsadm.mjs');
    const unit = readFileSync(join(debRoot, 'lib/systemd/system/tsvs.service'), 'utf8');
    assert.match(unit, /^ExecStart=\/usr\/sbin\/tsvs daemon .*--rules \/etc\/tsvs\/rules$/m);
    assert.equal(readFileSync(join(debRoot, 'etc/tsvs/rules'), 'utf8'), '');
    assert.equal(execFileSync('sh', ['-c', `dpkg-deb --ctrl-tarfile '${pkgs.deb}' | tar -xO ./conffiles`], { encoding: 'utf8' }), '/etc/tsvs/rules\n');
    for (const [m, th] of [['tsvs', 'TSVS'], ['tsvsadm', 'TSVSADM']] as const) {
      const page = gunzipSync(readFileSync(join(debRoot, `usr/share/man/man8/${m}.8.gz`))).toString();
      assert.match(page, new RegExp(`^\\.TH ${th} 8 `), `${m}(8)`);
    }
    assert.equal(readlinkSync(join(debRoot, 'usr/share/man/man8/ipvsadm.8.gz')), 'tsvsadm.8.gz');
  });

  test('the unpacked commands work from another directory: every subcommand, simulate, a daemon serving a VIP set by tsvsadm', { timeout: 60_000 }, async () => {
    await installedCommandsWork(join(debRoot, 'usr/sbin/tsvs'), join(debRoot, 'usr/sbin/tsvsadm'));
  });

  test('tsvs-ipvsadm: ipvsadm, ipvsadm-restore and ipvsadm-save run tsvsadm against the daemon', { timeout: 60_000 }, async () => {
    const sbin = join(debRoot, 'usr/sbin');
    const d = await startDaemon(join(sbin, 'tsvs'), elsewhere, ['--forwarder', 'none']);
    try {
      const env = { TSVS_SOCKET: d.socket };
      const rules = '-A -t 10.0.0.1:80 -s wrr\n-a -t 10.0.0.1:80 -r 192.168.10.1:80 -m -w 3\n';
      runOk(join(sbin, 'ipvsadm-restore'), [], { cwd: elsewhere, env, input: rules });
      runOk(join(sbin, 'ipvsadm'), ['-a', '-t', '10.0.0.1:80', '-r', '192.168.10.2:80', '-g'], { cwd: elsewhere, env });
      assert.equal(runOk(join(sbin, 'ipvsadm-save'), ['-n'], { cwd: elsewhere, env }), `${rules}-a -t 10.0.0.1:80 -r 192.168.10.2:80 -g -w 1\n`);
      assert.match(runOk(join(sbin, 'ipvsadm'), ['-L', '-n'], { cwd: elsewhere, env }), /^IP Virtual Server version 1\.2\.1/);
      const r = run(join(sbin, 'ipvsadm'), ['-D', '-t', '10.0.0.9:80'], { cwd: elsewhere, env });
      assert.deepEqual([r.code, r.stderr], [255, 'No such service\n'], 'ipvsadm\'s message and exit code');
    } finally {
      await d.stop();
    }
  });
});
