/**
 * tsvsadm end to end against a live `tsvs daemon` process. The oracle for output is the same
 * ipvsadm code run in-process on a mirror engine given the same commands: what travels through
 * the control socket must come out byte for byte the same.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../../src/core/engine.ts';
import { runIpvsadm } from '../../src/ipvsadm/index.ts';
import { createNodeResolver } from '../../src/ipvsadm/resolver-node.ts';
import { callDaemon } from '../../src/daemon/protocol.ts';
import { startDaemon, tmpDir, tsvsadm, sleep, type DaemonProc } from './helpers.ts';

let d: DaemonProc;
const mirror = new Engine();
const resolver = createNodeResolver();

async function both(argv: string[], stdin?: string) {
  const live = await tsvsadm(d.socket, argv, stdin);
  const local = await runIpvsadm(argv, mirror, stdin !== undefined ? { stdin, resolver } : { resolver });
  return { live, local };
}

before(async () => {
  d = await startDaemon(['--forwarder', 'none', '--workers', '0', '--log-level', 'info']);
});
after(async () => {
  await d?.stop();
});

const SETUP: string[][] = [
  ['-A', '-t', '10.1.0.1:80', '-s', 'wrr'],
  ['-a', '-t', '10.1.0.1:80', '-r', '192.168.1.1:8080', '-m', '-w', '3', '-x', '100', '-y', '10'],
  ['-a', '-t', '10.1.0.1:80', '-r', '192.168.1.2:8080', '-g', '-w', '2'],
  ['-A', '-u', '10.1.0.2:53', '-s', 'rr', '-p', '120', '-M', '255.255.255.0'],
  ['-a', '-u', '10.1.0.2:53', '-r', '192.168.1.3', '-i'],
  ['-A', '-f', '7', '-s', 'sh', '-b', 'sh-port'],
  ['-a', '-f', '7', '-r', '192.168.1.4', '-w', '0'],
  ['-A', '-t', '[2001:db8::1]:443', '-s', 'mh', '-b', 'mh-fallback'],
  ['-a', '-t', '[2001:db8::1]:443', '-r', '[2001:db8::10]:8443', '-m'],
  ['--set', '100', '20', '30'],
];

test('commands through tsvsadm change the daemon as they change an in-process engine (exit codes and output equal)', async () => {
  for (const argv of SETUP) {
    const { live, local } = await both(argv);
    assert.deepEqual({ out: live.stdout, err: live.stderr, code: live.code }, { out: local.stdout, err: local.stderr, code: local.code }, argv.join(' '));
    assert.equal(live.code, 0, `${argv.join(' ')}: ${live.stderr}`);
  }
});

const LISTINGS: string[][] = [
  ['-L', '-n'], ['-l', '-n'], ['-L'], ['-L', '-n', '--stats'], ['-L', '-n', '--rate'], ['-L', '-n', '--thresholds'],
  ['-L', '-n', '--persistent-conn'], ['-L', '-n', '--exact', '--stats'], ['-L', '-n', '--nosort'], ['-L', '-n', '--sort'],
  ['-L', '-n', '-t', '10.1.0.1:80'], ['-L', '-n', '-f', '7'], ['-L', '-n', '-u', '10.1.0.2:53', '--stats'],
  ['-L', '-n', '--timeout'], ['-L', '--daemon'], ['-L', '-n', '-c'], ['-S', '-n'], ['-S'], ['-L', '-n', '--tun-info'],
  ['-h'], ['-v'],
];

test('every listing kind prints exactly what ipvsadm prints', async () => {
  for (const argv of LISTINGS) {
    const { live, local } = await both(argv);
    assert.equal(live.stdout, local.stdout, `stdout of ${argv.join(' ')}`);
    assert.equal(live.stderr, local.stderr, `stderr of ${argv.join(' ')}`);
    assert.equal(live.code, local.code, `exit code of ${argv.join(' ')}`);
  }
  const l = await tsvsadm(d.socket, ['-L', '-n']);
  assert.match(l.stdout, /^IP Virtual Server version 1\.2\.1 \(size=4096\)\n/);
  assert.match(l.stdout, /TCP  10\.1\.0\.1:80 wrr\n  -> 192\.168\.1\.1:8080 +Masq +3 /);
});

const ERRORS: [string[], number, RegExp][] = [
  [['-A', '-t', '10.1.0.1:80'], 255, /^Service already exists\n$/],
  [['-D', '-t', '10.9.9.9:80'], 255, /^No such service\n$/],
  [['-E', '-t', '10.9.9.9:80'], 255, /^No such service\n$/],
  [['-a', '-t', '10.9.9.9:80', '-r', '1.2.3.4'], 255, /^Service not defined\n$/],
  [['-a', '-t', '10.1.0.1:80', '-r', '192.168.1.1:8080', '-m'], 255, /^Destination already exists\n$/],
  [['-d', '-t', '10.1.0.1:80', '-r', '192.168.9.9'], 255, /^No such destination\n$/],
  [['-e', '-t', '10.1.0.1:80', '-r', '192.168.9.9'], 255, /^No such destination\n$/],
  [['-A', '-t', '10.1.0.9:80', '-s', 'nosuch'], 255, /^Scheduler or persistence engine not found\n$/],
  [['-L', '-n', '-t', '10.9.9.9:80'], 1, /^No such service\n$/],
  [['-A', '-t', '10.1.0.9'], 2, /Zero port specified for non-persistent service/],
  [['-A', '-t', '10.1.0.9:80', '-w', '1'], 2, /Illegal 'weight' option with the 'add-service' command/],
  [['-a', '-t', '10.1.0.1:80', '-r', '1.2.3.4', '-w', 'x'], 2, /illegal weight specified/],
  [['-Q'], 255, /Try `ipvsadm -h' or 'ipvsadm --help' for more information\./],
  [['-A', '-t', '10.1.0.9:80', '--frobnicate'], 255, /--frobnicate: unknown option/],
  [['--set', '1', '2'], 2, /--set option requires 3 timeout values/],
];

test('every error: the same text and exit code as ipvsadm, and the daemon stays up', async () => {
  for (const [argv, code, re] of ERRORS) {
    const { live, local } = await both(argv);
    assert.equal(live.code, code, `${argv.join(' ')}: ${live.stderr}`);
    assert.match(live.stderr, re, argv.join(' '));
    assert.equal(live.stderr, local.stderr, argv.join(' '));
    assert.equal(live.stdout, local.stdout, argv.join(' '));
  }
  const ping = await callDaemon(d.socket, { v: 1, id: 'p', op: 'ping' });
  assert.equal(ping.ok, true);
});

test('the control protocol answers malformed, unversioned and unknown requests with error codes', async () => {
  const { connect } = await import('node:net');
  const answers = await new Promise<string[]>((resolve) => {
    const s = connect(d.socket);
    let buf = '';
    s.on('data', (c) => {
      buf += c.toString();
      const lines = buf.split('\n').filter((x) => x);
      if (lines.length >= 4) { s.end(); resolve(lines); }
    });
    s.write('not json\n{"v":2,"id":1,"op":"ping"}\n{"v":1,"id":2,"op":"explode"}\n{"v":1,"id":3,"op":"ipvsadm","argv":"-L"}\n');
  });
  const codes = answers.map((l) => (JSON.parse(l) as { error: { code: string } }).error.code);
  assert.deepEqual(codes, ['EBADREQ', 'EVERSION', 'EUNKNOWNOP', 'EBADREQ']);
  const st = await callDaemon(d.socket, { v: 1, id: 9, op: 'status' });
  assert.equal(st.ok, true);
  assert.equal((st as unknown as { services: number }).services, 4);
});

function bigRules(nsvc: number, ndest: number): string {
  const lines: string[] = [];
  const fw = ['-g', '-m', '-i'];
  for (let i = 0; i < nsvc; i++) {
    const vip = `10.${100 + (i >> 8)}.${i & 255}.1:${1000 + (i % 50)}`;
    lines.push(`-A -t ${vip} -s ${['wrr', 'rr', 'wlc', 'lc', 'sh'][i % 5]}${i % 7 === 0 ? ' -p 300' : ''}`);
    for (let j = 0; j < ndest; j++) lines.push(`-a -t ${vip} -r 172.${16 + (j % 8)}.${i & 255}.${j + 1}:${8000 + j} ${fw[(i + j) % 3]} -w ${1 + ((i * j) % 9)}`);
  }
  return lines.join('\n') + '\n';
}

test('-S / -R round trip of 1,000 services with 10 destinations each; the state file follows', async () => {
  const rules = bigRules(1000, 10);
  assert.equal((await tsvsadm(d.socket, ['-C'])).code, 0);
  const r = await tsvsadm(d.socket, ['-R'], rules);
  assert.equal(r.code, 0, r.stderr);
  const saved = await tsvsadm(d.socket, ['-S', '-n']);
  assert.equal(saved.code, 0);
  assert.equal(saved.stdout.split('\n').filter((l) => l.startsWith('-A')).length, 1000);
  assert.equal(saved.stdout.split('\n').filter((l) => l.startsWith('-a')).length, 10000);
  // The saved text restores to the same rules.
  assert.equal((await tsvsadm(d.socket, ['-C'])).code, 0);
  assert.equal((await tsvsadm(d.socket, ['-L', '-n'])).stdout.split('\n').length, 4);
  assert.equal((await tsvsadm(d.socket, ['-R'], saved.stdout)).code, 0);
  const again = await tsvsadm(d.socket, ['-S', '-n']);
  assert.equal(again.stdout, saved.stdout);
  // The same text through an in-process engine gives the same listing.
  const m = new Engine();
  await runIpvsadm(['-R'], m, { stdin: rules });
  assert.equal(again.stdout, (await runIpvsadm(['-S', '-n'], m)).stdout);
  await sleep(300);
  assert.equal(readFileSync(join(d.dir, 'rules'), 'utf8'), again.stdout, 'state file holds the running rules');
});

test('a restarted daemon restores the rules saved by the previous one', async () => {
  const before = await tsvsadm(d.socket, ['-S', '-n']);
  assert.equal(await d.stop(), 0, 'SIGTERM exits 0');
  assert.match(d.logs(), /"msg":"stopped"/);
  d = await startDaemon(['--forwarder', 'none', '--workers', '0'], d.dir);
  const after = await tsvsadm(d.socket, ['-S', '-n']);
  assert.equal(after.stdout, before.stdout);
  assert.match(d.logs(), /rules restored from state file/);
});

test('SIGHUP reloads --rules; a bad file is refused whole and the running rules stay', async () => {
  const dir = tmpDir();
  const file = join(dir, 'rules.conf');
  writeFileSync(file, '-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m\n');
  const h = await startDaemon(['--forwarder', 'none', '--workers', '0', '--rules', file, '--no-state'], dir);
  try {
    assert.match((await tsvsadm(h.socket, ['-S', '-n'])).stdout, /-a -t 10\.0\.0\.1:80 -r 10\.0\.1\.1:80 -m -w 1/);
    writeFileSync(file, '-A -t 10.0.0.1:80 -s wlc\n-a -t 10.0.0.1:80 -r 10.0.1.2:80 -m -w 5\n-A -u 10.0.0.2:53\n');
    h.proc.kill('SIGHUP');
    await sleep(500);
    const s1 = (await tsvsadm(h.socket, ['-S', '-n'])).stdout;
    assert.equal(s1, '-A -t 10.0.0.1:80 -s wlc\n-a -t 10.0.0.1:80 -r 10.0.1.2:80 -m -w 5\n-A -u 10.0.0.2:53 -s wlc\n');
    writeFileSync(file, '-A -t 10.0.0.3:80 -s rr\n-a -t 10.0.0.9:80 -r 10.0.1.2:80 -m\n');
    h.proc.kill('SIGHUP');
    await sleep(500);
    assert.equal((await tsvsadm(h.socket, ['-S', '-n'])).stdout, s1, 'bad file changed nothing');
    assert.match(h.logs(), /reload refused: rules file is invalid; running rules unchanged/);
    const r = await callDaemon(h.socket, { v: 1, id: 1, op: 'reload' });
    assert.equal(r.ok, false);
    assert.equal((r as { error: { code: string } }).error.code, 'ERELOAD');
  } finally {
    await h.stop();
  }
});

test('a malformed --rules file stops the daemon from starting, with the reason', async () => {
  const dir = tmpDir();
  const file = join(dir, 'bad.rules');
  writeFileSync(file, '-A -t 10.0.0.1:80 -s rr\nthis is not ipvsadm\n');
  await assert.rejects(startDaemon(['--forwarder', 'none', '--workers', '0', '--rules', file], dir), /refusing to start: .*bad\.rules/);
});

test('the daemon refuses a socket already served, and a socket directory owned by someone else', async () => {
  await assert.rejects(startDaemon(['--forwarder', 'none', '--workers', '0', '--no-state'], d.dir), /already served by a running tsvs daemon/);
  if (process.getuid?.() === 0) {
    const dir = tmpDir();
    const sub = join(dir, 'other');
    mkdirSync(sub, { mode: 0o700 });
    chownSync(sub, 65534, 65534);
    await assert.rejects(startDaemon(['--forwarder', 'none', '--workers', '0', '--no-state', '--socket', join(sub, 'tsvs.sock')], dir), /owned by uid 65534, not by us/);
  }
});
