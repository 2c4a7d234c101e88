/**
 * tsvsadm is a thin client of the control socket: what node loads to run it is the compiled
 * client and its two helpers (protocol, paths), never the engine, the logger (pino), the FFI
 * (koffi) or a TypeScript loader. Checked on the real process with a module hook that reports
 * every module loaded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const HOOK = fileURLToPath(new URL('./fixtures/record-imports.mjs', import.meta.url));

function loadedBy(bin: string, argv: string[]): string[] {
  const r = spawnSync(process.execPath, ['--import', HOOK, join(REPO, 'bin', bin), ...argv], {
    cwd: '/', encoding: 'utf8', timeout: 20000, env: { ...process.env, TSVS_SOCKET: '/nonexistent/tsvs.sock' },
  });
  return [...r.stderr.matchAll(/^loaded (\S+)$/gm)].map((m) => m[1]!).filter((u) => !u.startsWith('node:') && !u.includes('/test/packaging/fixtures/'));
}

/** What a thin command must never load: the engine, forwarders, OS bindings, ipvsadm's parser, the daemon itself, pino, koffi, tsx. */
const HEAVY = /pino|koffi|tsx|\/core\/(?!errors\.js$)|\/forwarders\/|\/dataplane\/|\/os\/|\/ipvsadm\/|\/health\/checkers\/|daemon\/(daemon|control-server|deps)\.js$/;

function assertThin(mods: string[], most: number): void {
  assert.ok(mods.length > 0, 'the hook saw the modules');
  assert.ok(mods.length <= most, `at most ${most} modules, got ${mods.length}: ${mods.join(' ')}`);
  for (const u of mods) {
    assert.ok(u.startsWith(`file://${REPO}bin/`) || u.startsWith(`file://${REPO}dist/`), `only shipped, compiled modules: ${u}`);
    assert.doesNotMatch(u, HEAVY, u);
  }
}

test('tsvsadm -L -n loads only a few compiled modules (client, protocol, paths, error classes): no engine, ipvsadm parser, pino, koffi or tsx', () => {
  const mods = loadedBy('tsvsadm.mjs', ['-L', '-n']);
  assertThin(mods, 8);
  assert.ok(mods.some((u) => u.endsWith('/dist/cli/tsvsadm.js')), 'the compiled client ran');
});

test('tsvs status loads no engine, forwarder, pino or koffi either', () => {
  assertThin(loadedBy('tsvs.mjs', ['status']), 10);
});
