/**
 * The differential corpus: every file both programs read, laid out under one work directory so
 * includes resolve the same way for both. Sources (ids say where each file comes from):
 *   ka/samples/*        keepalived's own samples (fixtures/keepalived-corpus/samples, see ORIGIN.md)
 *   ka/project/*        the project's keepalived fixtures (test/config/fixtures, the seeds' configs)
 *   ka/from-tests/*     configs written inline in this project's tests, with concrete values
 *   ka/lab/*            the lab's generated HA keepalived.conf (src/lab/topology.ts)
 *   ka/lexical/*        hand-written: one lexical feature each (one-line blocks, braces, include...)
 *   ka/semantic/*       hand-written: keywords keepalived checks beyond syntax (issue 14)
 *   ka/gen/T/BASE       transform T (variants.ts) applied to a samples/project file
 * and the same for ldirectord (ld/...), whose sample's commented-out services each become a file.
 */
import { cpSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { haKeepalivedConf } from '../../../src/lab/topology.ts';
import { codeOf, KEEPALIVED_TRANSFORMS, LDIRECTORD_TRANSFORMS, ldirectordSections, type Generated } from './variants.ts';

export type Reader = 'keepalived' | 'ldirectord';

export interface CorpusFile {
  /** Stable name: the source and, for variants, the transform (used by the expected tables). */
  readonly id: string;
  readonly reader: Reader;
  /** The main file, absolute, inside the work directory. */
  readonly path: string;
}

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
export const KA_CORPUS = join(FIXTURES, 'keepalived-corpus');
export const LD_CORPUS = join(FIXTURES, 'ldirectord-corpus');

const isConfigName = (n: string, reader: Reader) => (reader === 'keepalived' ? /\.conf($|\.)|^keepalived\.conf/.test(n) : /\.cf$/.test(n));

/** Files directly in `dir` that are configurations (sorted), skipping notes. */
function configsIn(dir: string, reader: Reader): string[] {
  return readdirSync(dir).filter((n) => statSync(join(dir, n)).isFile() && isConfigName(n, reader) && !n.endsWith('.md')).sort();
}

export function buildCorpus(work: string): CorpusFile[] {
  const out: CorpusFile[] = [];
  const put = (id: string, reader: Reader, g: Generated, mainName?: string): void => {
    const base = join(work, id);
    const main = mainName ? join(base, mainName) : base;
    mkdirSync(dirname(main), { recursive: true });
    writeFileSync(main, g.main);
    for (const [rel, text] of Object.entries(g.extra ?? {})) {
      mkdirSync(dirname(join(dirname(main), rel)), { recursive: true });
      writeFileSync(join(dirname(main), rel), text);
    }
    out.push({ id, reader, path: main });
  };
  /** A directory with a main file and what it includes: copied whole, the main file named. */
  const putDir = (id: string, reader: Reader, srcDir: string, mainName: string): void => {
    cpSync(srcDir, join(work, id), { recursive: true });
    out.push({ id, reader, path: join(work, id, mainName) });
  };

  // ---- keepalived
  const kaBases: { id: string; text: string }[] = [];
  for (const n of configsIn(join(KA_CORPUS, 'samples'), 'keepalived')) {
    const text = readFileSync(join(KA_CORPUS, 'samples', n), 'utf8');
    put(`ka/samples/${n}`, 'keepalived', { main: text });
    kaBases.push({ id: `samples/${n}`, text });
  }
  for (const n of readdirSync(FIXTURES).filter((f) => f.endsWith('.conf')).sort()) {
    const text = readFileSync(join(FIXTURES, n), 'utf8');
    put(`ka/project/${n}`, 'keepalived', { main: text });
    if (!n.includes('oneline')) kaBases.push({ id: `project/${n}`, text });
  }
  putDir('ka/project/ka-include', 'keepalived', join(FIXTURES, 'ka-include'), 'keepalived.conf');
  for (const n of configsIn(join(KA_CORPUS, 'from-tests'), 'keepalived')) put(`ka/from-tests/${n}`, 'keepalived', { main: readFileSync(join(KA_CORPUS, 'from-tests', n), 'utf8') });
  for (const mode of ['nat', 'dr', 'tun'] as const) {
    for (const kind of ['tsvs', 'keepalived'] as const) {
      put(`ka/lab/ha-${mode}-${kind}.conf`, 'keepalived', { main: haKeepalivedConf(mode, { name: 'dir1', priority: 150, kind }, { advertInt: 1, version: 2, syncid: 1 }) });
    }
  }
  for (const sub of ['lexical', 'semantic']) {
    const dir = join(KA_CORPUS, sub);
    for (const n of readdirSync(dir).sort()) {
      const p = join(dir, n);
      if (statSync(p).isDirectory()) putDir(`ka/${sub}/${n}`, 'keepalived', p, 'keepalived.conf');
      else if (isConfigName(n, 'keepalived')) put(`ka/${sub}/${n}`, 'keepalived', { main: readFileSync(p, 'utf8') });
    }
  }
  for (const [tname, t] of Object.entries(KEEPALIVED_TRANSFORMS)) {
    for (const b of kaBases) {
      const g = t(b.text);
      // include variants write parts/ beside the main file: give each its own directory
      if (g) put(`ka/gen/${tname}/${b.id}`, 'keepalived', g, g.extra ? 'keepalived.conf' : undefined);
    }
  }

  // ---- ldirectord
  const ldBases: { id: string; text: string }[] = [];
  const sample = readFileSync(join(LD_CORPUS, 'samples', 'ldirectord.cf'), 'utf8');
  put('ld/samples/ldirectord.cf', 'ldirectord', { main: sample });
  ldBases.push({ id: 'samples/ldirectord.cf', text: sample });
  // The sections differ in services and checks, not in layout: no variants of them.
  for (const s of ldirectordSections(sample)) put(`ld/samples/sections/${s.name}.cf`, 'ldirectord', { main: s.text });
  for (const n of readdirSync(FIXTURES).filter((f) => f.endsWith('.cf')).sort()) {
    const text = readFileSync(join(FIXTURES, n), 'utf8');
    put(`ld/project/${n}`, 'ldirectord', { main: text });
    ldBases.push({ id: `project/${n}`, text });
  }
  for (const sub of ['from-tests', 'lexical']) {
    for (const n of configsIn(join(LD_CORPUS, sub), 'ldirectord')) put(`ld/${sub}/${n}`, 'ldirectord', { main: readFileSync(join(LD_CORPUS, sub, n), 'utf8') });
  }
  for (const [tname, t] of Object.entries(LDIRECTORD_TRANSFORMS)) {
    for (const b of ldBases) {
      const g = t(b.text);
      if (g) put(`ld/gen/${tname}/${b.id}`, 'ldirectord', g);
    }
  }
  return out;
}

/**
 * Interface names the keepalived files under `work` name (`interface X`, `dev X`,
 * track_interface items, lvs_sync_daemon X), comments aside: the namespace keepalived -t runs in
 * gets each of them, so only parsing differs between the programs, never the machine.
 */
export function interfaceNames(work: string): string[] {
  const names = new Set(['eth0', 'eth1', 'eth2', 'eth3']);
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) { walk(p); continue; }
      const t = readFileSync(p, 'utf8').split(/\r?\n/).map(codeOf).join('\n');
      for (const m of t.matchAll(/\b(?:interface|dev|lvs_sync_daemon(?:_interface)?)\s+([A-Za-z][\w.-]*)/g)) names.add(m[1]!);
      for (const m of t.matchAll(/track_interface\s*\{([^}]*)\}/g)) {
        for (const w of m[1]!.split('\n').map((l) => l.trim().split(/\s+/)[0])) if (w) names.add(w);
      }
    }
  };
  walk(join(work, 'ka'));
  return [...names].filter((n) => /^[A-Za-z0-9_.-]{1,15}$/.test(n) && n !== 'lo' && n !== '.' && n !== '..').sort();
}

/** The id of a file relative to the work directory, for messages. */
export const relId = (work: string, p: string): string => relative(work, p);
