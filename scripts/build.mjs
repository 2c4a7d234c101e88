#!/usr/bin/env node
// `npm run build`: compiles src/ (TypeScript) into dist/ (plain JavaScript, the same tree), which
// is what the commands, the daemon, its threads and its agents run. Idempotent: does nothing when
// dist/ was built from exactly the files src/ holds now (names, sizes, modification times).
// A type error fails the build and leaves the previous dist/ in place.
// Usage: node scripts/build.mjs [--force] [--quiet]
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src');
const DIST = join(ROOT, 'dist');
const STAMP = '.build-stamp';
const args = new Set(process.argv.slice(2));
for (const a of args) {
  if (a !== '--force' && a !== '--quiet') {
    process.stderr.write(`build: unknown option ${a}\nusage: node scripts/build.mjs [--force] [--quiet]\n`);
    process.exit(2);
  }
}
const say = (s) => { if (!args.has('--quiet')) process.stdout.write(s); };

function walk(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile()) out.push(p);
  }
  return out;
}

const sources = walk(SRC).sort();
const inputs = [...sources, join(ROOT, 'tsconfig.json'), join(ROOT, 'tsconfig.build.json'), fileURLToPath(import.meta.url)];
const fingerprint = createHash('sha256');
fingerprint.update(process.version);
for (const f of inputs) {
  const st = statSync(f);
  fingerprint.update(`${relative(ROOT, f)}\0${st.size}\0${st.mtimeMs}\n`);
}
const digest = fingerprint.digest('hex');
const stampPath = join(DIST, STAMP);
if (!args.has('--force') && existsSync(stampPath) && readFileSync(stampPath, 'utf8').trim() === digest) {
  say('build: dist/ is up to date\n');
  process.exit(0);
}

// Build beside dist/ and swap, so a failed or concurrent build never leaves a half-written tree.
const tmp = join(ROOT, `.dist-${process.pid}`);
rmSync(tmp, { recursive: true, force: true });
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
const t0 = Date.now();
const r = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', tmp], { cwd: ROOT, stdio: 'inherit' });
if (r.status !== 0) {
  rmSync(tmp, { recursive: true, force: true });
  process.stderr.write(`build: tsc failed (exit ${r.status ?? r.signal}); dist/ left as it was\n`);
  process.exit(1);
}
// Everything in src/ that is not TypeScript ships as it is: plain JavaScript modules (e.g. the
// lab's real server) and assets read at run time (the dashboard's page, script and style).
for (const f of sources) {
  if (f.endsWith('.ts')) continue;
  const to = join(tmp, relative(SRC, f));
  mkdirSync(dirname(to), { recursive: true });
  cpSync(f, to);
}
writeFileSync(join(tmp, STAMP), `${digest}\n`);
const old = join(ROOT, `.dist-old-${process.pid}`);
if (existsSync(DIST)) renameSync(DIST, old);
renameSync(tmp, DIST);
rmSync(old, { recursive: true, force: true });
say(`build: compiled ${sources.filter((f) => f.endsWith('.ts')).length} modules into dist/ in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
