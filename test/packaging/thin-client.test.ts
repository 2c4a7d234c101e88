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

test('tsvsadm -L -n loads only the compiled client, its socket protocol and paths: no pino, koffi, engine or tsx', () => {
  const mods = loadedBy('tsvsadm.mjs', ['-L', '-n']).map((u) => u.replace(`file://${REPO}`, ''));
  assert.deepEqual(mods.sort(), ['bin/run-compiled.mjs', 'bin/tsvsadm.mjs', 'dist/cli/tsvsadm.js', 'dist/daemon/paths.js', 'dist/daemon/protocol.js']);
});

test('tsvs status loads no engine, forwarder, pino or koffi either', () => {
  const mods = loadedBy('tsvs.mjs', ['status']);
  assert.ok(mods.length > 0);
  for (const u of mods) {
    assert.ok(u.startsWith(`file://${REPO}bin/`) || u.startsWith(`file://${REPO}dist/`), `only shipped modules: ${u}`);
    assert.doesNotMatch(u, /pino|koffi|tsx|\/core\/|\/forwarders\/|daemon\/daemon\.js/, u);
  }
});
