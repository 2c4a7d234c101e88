/** tsvsadm as a client: what it prints and returns when it cannot reach a daemon. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { chmodSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO, tmpDir, tsvsadm } from './helpers.ts';
import { defaultSocketPath } from '../../src/daemon/paths.ts';
import { wantsStdin } from '../../src/daemon/client.ts';

const INIT = "Can't initialize ipvs: Protocol not available\nAre you sure that IP Virtual Server is built in the kernel or as module?\n";

test('with no daemon, tsvsadm names the socket it tried and fails like ipvsadm without IPVS (exit 2)', async () => {
  const dir = tmpDir();
  for (const argv of [['-L', '-n'], ['-A', '-t', '127.0.0.1:80'], ['-v']]) {
    const sock = join(dir, 'nothing.sock');
    const r = await tsvsadm(sock, argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `tsvsadm: no tsvs daemon at ${sock} (start one with: tsvs daemon)\n${INIT}`);
  }
});

test('a stale socket file with nobody listening is reported the same way', async () => {
  const dir = tmpDir();
  const sock = join(dir, 'stale.sock');
  const s = createServer();
  await new Promise<void>((r) => s.listen(sock, () => r()));
  // Simulate a crashed daemon: keep the file, stop accepting.
  await new Promise<void>((r) => { (s as unknown as { _handle: { close(): void } })._handle.close(); r(); });
  const r = await tsvsadm(sock, ['-L', '-n']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no tsvs daemon at .*stale\.sock/);
});

test('a socket the user may not open gives ipvsadm\'s permission text and exit 2', { skip: process.getuid?.() !== 0 ? 'needs root to run the client as another user' : false }, async () => {
  const dir = tmpDir();
  chmodSync(dir, 0o755);
  const sock = join(dir, 'tsvs.sock');
  const s = createServer((c) => c.end());
  await new Promise<void>((r) => s.listen(sock, () => r()));
  chmodSync(sock, 0o600);
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const p = spawn(process.execPath, [join(REPO, 'bin/tsvsadm.mjs'), '-L', '-n'], { uid: 65534, gid: 65534, env: { ...process.env, TSVS_SOCKET: sock, HOME: '/tmp' }, cwd: '/tmp', stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (code) => resolve({ code, stderr }));
  });
  s.close();
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr, `tsvsadm: permission denied on the tsvs daemon socket ${sock}\nCan't initialize ipvs: Permission denied (you must be root)\nAre you sure that IP Virtual Server is built in the kernel or as module?\n`);
});

test('default socket path: $TSVS_SOCKET, then /run/tsvs as root, $XDG_RUNTIME_DIR, ./.tsvs', () => {
  const cases: [number, Record<string, string>, string][] = [
    [0, { TSVS_SOCKET: '/x/y.sock' }, '/x/y.sock'],
    [0, {}, '/run/tsvs/tsvs.sock'],
    [1000, { XDG_RUNTIME_DIR: '/run/user/1000' }, '/run/user/1000/tsvs/tsvs.sock'],
    [1000, {}, '/home/u/.tsvs/tsvs.sock'],
    [1000, { TSVS_SOCKET: 'rel.sock' }, '/home/u/rel.sock'],
  ];
  for (const [uid, env, want] of cases) assert.equal(defaultSocketPath({ uid, env, cwd: '/home/u' }), want);
});

test('stdin is sent only for -R / --restore', () => {
  const cases: [string[], boolean][] = [[['-R'], true], [['--restore'], true], [['-L', '-n'], false], [['-S'], false], [['-A', '-t', '1.2.3.4:80'], false]];
  for (const [argv, want] of cases) assert.equal(wantsStdin(argv), want, argv.join(' '));
});

