// The layering of src/, checked on its imports (test/helpers/import-graph.ts reads them):
// each folder imports only the folders its row of LAYERS names; core, codec and dataplane are
// pure (no Node I/O module, no package); only the OS layer loads native code or reaches into Node
// internals; only the daemon wires forwarders; no folders and no files import each other in a
// circle. docs/ARCHITECTURE.md draws the same table, and a test below holds the two equal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { checkLayers, codeOnly, cycles, scanFile, type FileInfo, type Layer, type Rules, type Violation } from './helpers/import-graph.ts';

const ROOT = join(import.meta.dirname, '..');

/** Bottom to top: a folder may import only folders listed before it. */
const LAYERS: Record<string, Layer> = {
  core: { may: [], io: false },
  codec: { may: ['core'], io: false },
  dataplane: { may: ['core', 'codec'], io: false },
  os: { may: ['core'], io: true, native: true },
  ipvsadm: { may: ['core'], io: true },
  sim: { may: ['core', 'ipvsadm'], io: false },
  health: { may: ['core', 'os'], io: true },
  observe: { may: ['core', 'health'], io: false },
  config: { may: ['core', 'os', 'health'], io: true },
  ha: { may: ['core', 'codec', 'os', 'health', 'config'], io: true },
  forwarders: { may: ['core', 'codec', 'dataplane', 'os'], io: true },
  daemon: { may: ['core', 'codec', 'dataplane', 'os', 'ipvsadm', 'health', 'observe', 'config', 'ha', 'forwarders'], io: true },
  lab: { may: ['core', 'codec', 'os', 'daemon'], io: true },
  cli: { may: ['core', 'codec', 'dataplane', 'os', 'ipvsadm', 'sim', 'health', 'observe', 'config', 'ha', 'daemon', 'lab'], io: true },
};

const NODE_IO = new Set([
  'node:fs', 'node:fs/promises', 'node:net', 'node:dgram', 'node:child_process', 'node:worker_threads', 'node:cluster',
  'node:os', 'node:http', 'node:https', 'node:http2', 'node:tls', 'node:dns', 'node:dns/promises', 'node:readline',
  'node:process', 'node:inspector', 'node:v8', 'node:vm', 'node:tty', 'node:module', 'node:perf_hooks',
]);

const RULES: Rules = {
  layers: LAYERS,
  nodeIo: NODE_IO,
  nativePackages: new Set(['koffi']),
  dynamicImports: {
    'src/cli/tsvs.ts': 'subcommands load on demand from src/cli/commands/ (inside cli)',
    'src/forwarders/packet/worker.ts': 'a decider module the starter of the ring workers names by path (tests)',
  },
  internalsExceptions: {
  },
  knownFileCycles: {
  },
};

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|mts|mjs|js)$/.test(name)) out.push(relative(ROOT, p).split('\\').join('/'));
  }
  return out.sort();
}

function scanTree(texts: ReadonlyMap<string, string>): Map<string, FileInfo> {
  const files = new Map<string, FileInfo>();
  for (const [f, src] of texts) files.set(f, scanFile(f, src, (p) => texts.has(p) || existsSync(join(ROOT, p))));
  return files;
}

const show = (v: readonly Violation[]): string => v.map((x) => `  ${x.text}`).join('\n');

test('src/ keeps its layers: every import is allowed by the layer table, and nothing imports in a circle', () => {
  const texts = new Map(sourceFiles(join(ROOT, 'src')).map((f) => [f, readFileSync(join(ROOT, f), 'utf8')] as const));
  assert.ok(texts.size > 100, `read ${texts.size} files of src/`);
  const files = scanTree(texts);
  const v = checkLayers(files, RULES);
  assert.deepEqual(v, [], `layering breaks:\n${show(v)}`);
  // The walker saw the tree's real structure (not an empty graph that passes by accident).
  const edges = new Set([...files].flatMap(([f, i]) => i.imports.filter((x) => x.kind === 'file').map((x) => `${f.split('/')[1]}>${x.target.split('/')[1]}`)));
  for (const e of ['forwarders>os', 'ha>os', 'health>os', 'daemon>forwarders', 'codec>core', 'cli>daemon']) assert.ok(edges.has(e), `no ${e} import found`);
});

test('the layer table states the policy: pure core/codec/dataplane, only the daemon wires forwarders, ha and health use os, no circles', () => {
  for (const f of ['core', 'codec', 'dataplane']) {
    const l = LAYERS[f]!;
    assert.equal(l.io, false, `${f} is pure`);
    for (const banned of ['os', 'forwarders', 'daemon']) assert.ok(!l.may.includes(banned), `${f} may not import ${banned}`);
  }
  assert.deepEqual(Object.keys(LAYERS).filter((f) => LAYERS[f]!.may.includes('forwarders')), ['daemon']);
  assert.deepEqual(Object.keys(LAYERS).filter((f) => LAYERS[f]!.native), ['os']);
  for (const f of ['ha', 'health']) assert.ok(LAYERS[f]!.may.includes('os'), `${f} uses os`);
  // Listed bottom to top: every folder a row names stands above it, so the table has no circle.
  const order = Object.keys(LAYERS);
  for (const [f, l] of Object.entries(LAYERS)) for (const m of l.may) assert.ok(order.indexOf(m) < order.indexOf(f), `${f} may import ${m}, which stands above it`);
  assert.deepEqual(cycles(order, (f) => LAYERS[f]!.may), []);
});

test('docs/ARCHITECTURE.md draws the layer table the test enforces', () => {
  const doc = readFileSync(join(ROOT, 'docs/ARCHITECTURE.md'), 'utf8');
  const rows = new Map<string, { may: string[]; io: boolean; native: boolean }>();
  for (const line of doc.split('\n')) {
    const m = /^\|\s*`src\/([a-z]+)\/`\s*\|([^|]*)\|([^|]*)\|([^|]*)\|/.exec(line);
    if (!m) continue;
    const may = m[2]!.replace(/`/g, '').split(',').map((s) => s.trim()).filter((s) => s !== '' && s !== '—');
    rows.set(m[1]!, { may: may.sort(), io: /yes/.test(m[3]!), native: /yes/.test(m[4]!) });
  }
  assert.deepEqual([...rows.keys()], Object.keys(LAYERS), 'the same folders, bottom to top');
  for (const [f, l] of Object.entries(LAYERS)) {
    assert.deepEqual(rows.get(f), { may: [...l.may].sort(), io: l.io, native: l.native === true }, `row of src/${f}/`);
  }
});

// ---- the checker itself, on a synthetic tree: each rule catches its break ----------------

const BAD_TREE: Record<string, string> = {
  // core imports the OS layer and Node's file system
  'src/core/a.ts': "import { b } from '../os/b.ts';\nimport { readFileSync } from 'node:fs';\nexport const a = 1;",
  // quotes, comments and templates that name a module are not imports
  'src/core/quiet.ts': "// import x from '../os/b.ts'\n/* import('../daemon/d.ts') */\nconst t = `import y from '../os/b.ts' ${'x'}`;\nconst r = /['\"]/;\nexport { r, t };\nimport { a } from './a.ts';",
  'src/os/b.ts': "import koffi from 'koffi';\nexport const b = koffi;",
  // health reaches for a forwarder
  'src/health/h.ts': "import type {\n  F,\n} from '../forwarders/f.ts';\nexport type H = F;",
  // a forwarder loads native code and Node internals itself
  'src/forwarders/f.ts': "import koffi from 'koffi';\nexport type F = typeof koffi;\nexport const t = (process as any).binding('tcp_wrap');",
  'src/daemon/d.ts': "import { t } from '../forwarders/f.ts';\nexport const d = t;",
  // the cli wires a forwarder and loads a module by a computed name
  'src/cli/c.ts': "export { t } from '../forwarders/f.ts';\nconst name = './x.ts';\nawait import(name);",
  // a folder the table does not know
  'src/weird/w.ts': 'export {};',
  // two codec files in a circle
  'src/codec/x.ts': "import { y } from './y.ts';\nexport const x = y;",
  'src/codec/y.ts': "import type { x } from './x.ts';\nexport const y = 1 as typeof x;",
  // config and health in a circle (and health may not import config)
  'src/config/k.ts': "import '../health/t.ts';",
  'src/health/t.ts': "export const w = new URL('../config/k.ts', import.meta.url);",
  // a relative import naming no file
  'src/lab/l.ts': "import { z } from './missing.ts';",
};

test('the checker catches each kind of break in a synthetic tree, and only those', () => {
  const texts = new Map(Object.entries(BAD_TREE));
  const files = new Map<string, FileInfo>();
  for (const [f, src] of texts) files.set(f, scanFile(f, src, (p) => texts.has(p)));
  const rules: Rules = { ...RULES, dynamicImports: {}, internalsExceptions: { 'src/daemon/d.ts': 'no longer needed' }, knownFileCycles: { 'src/os/b.ts src/os/c.ts': 'gone' } };
  const got = checkLayers(files, rules).map((x) => `${x.rule} ${x.file}`).sort();
  assert.deepEqual(got, [
    'file-cycle src/codec/x.ts',
    'file-cycle src/config/k.ts',
    'folder src/weird/w.ts',
    'folder-cycle src/config',
    'internals src/forwarders/f.ts',
    'layer src/cli/c.ts',
    'layer src/core/a.ts',
    'layer src/health/h.ts',
    'layer src/health/t.ts',
    'native src/forwarders/f.ts',
    'pure src/core/a.ts',
    'dynamic src/cli/c.ts',
    'stale-exception src/daemon/d.ts',
    'stale-exception src/os/b.ts',
    'unresolved src/lab/l.ts',
  ].sort());
  // The same tree with the breaks mended passes.
  const mended = new Map(texts);
  mended.set('src/core/a.ts', 'export const a = 1;');
  mended.set('src/health/h.ts', "import { b } from '../os/b.ts';\nexport const h = b;");
  mended.set('src/forwarders/f.ts', "import { b } from '../os/b.ts';\nexport const t = b;");
  mended.set('src/cli/c.ts', "export { d } from '../daemon/d.ts';");
  mended.delete('src/weird/w.ts');
  mended.set('src/codec/y.ts', 'export const y = 1;');
  mended.set('src/health/t.ts', 'export const w = 1;');
  mended.set('src/lab/l.ts', "import { d } from '../daemon/d.ts';\nexport const l = d;");
  const files2 = new Map<string, FileInfo>();
  for (const [f, src] of mended) files2.set(f, scanFile(f, src, (p) => mended.has(p)));
  assert.deepEqual(checkLayers(files2, { ...RULES, dynamicImports: {}, internalsExceptions: {}, knownFileCycles: {} }), []);
  // A circle listed as known is not reported; the codec circle above is, as it is not listed.
  const known = checkLayers(files, { ...rules, knownFileCycles: { 'src/codec/x.ts src/codec/y.ts': 'listed' } }).map((x) => `${x.rule} ${x.file}`);
  assert.ok(!known.includes('file-cycle src/codec/x.ts') && known.includes('file-cycle src/config/k.ts'));
});

test('the import reader: every literal form is an import; comments, templates and computed names are not', () => {
  const src = [
    "import a from './a.ts';",
    "import type {",
    "  B,",
    "  C,",
    "} from '../b.ts';",
    "import './side.ts';",
    "export * from './star.ts';",
    "export { d as e } from './d.ts';",
    "type P = typeof import('./p.ts');",
    "const w = new URL('./worker.mjs', import.meta.url);",
    "const m = await import('node:fs');",
    "import koffi from 'koffi';",
    "import { x } from 'pino/file';",
    "// import no from './comment.ts';",
    "const s = `import no from './template.ts'`;",
    "const lazy = await import(join(dir, 'x.ts'));",
  ].join('\n');
  const info = scanFile('src/core/z.ts', src, () => true);
  assert.deepEqual(info.imports.map((i) => `${i.line} ${i.kind} ${i.target}`), [
    '1 file src/core/a.ts',
    '2 file src/b.ts',
    '6 file src/core/side.ts',
    '7 file src/core/star.ts',
    '8 file src/core/d.ts',
    '9 file src/core/p.ts',
    '10 file src/core/worker.mjs',
    '11 node node:fs',
    '12 package koffi',
    '13 package pino',
  ]);
  assert.deepEqual(info.dynamicByExpression, [16]);
  assert.equal(codeOnly("a // b\nc").split('\n').length, 2, 'line numbers survive');
});
