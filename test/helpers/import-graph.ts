/**
 * The import graph of a source tree and the layering rules checked on it (test/architecture.test.ts
 * holds the layer table; docs/ARCHITECTURE.md draws it). Pure functions over file texts, so the
 * rules can be run on a synthetic tree as well as on src/.
 *
 * An import is any module a file names by a literal: `import ... from`, `import '...'`,
 * `export ... from`, `import('...')` (also in `typeof import('...')`), and
 * `new URL('...', import.meta.url)` (workers, spawned agents and scripts are dependencies too).
 * Type-only imports count: a type is a dependency of the layer that names it.
 */
import { posix } from 'node:path';
import { builtinModules } from 'node:module';

export interface Import {
  /** As written. */
  readonly spec: string;
  /** A file of the tree ('src/core/addr.ts'), `node:NAME` for a Node module, or the package name. */
  readonly target: string;
  readonly kind: 'file' | 'node' | 'package';
  readonly line: number;
}

export interface FileInfo {
  readonly imports: readonly Import[];
  /** Relative imports that name no file of the tree. */
  readonly unresolved: readonly Import[];
  /** Lines of `import(<expression>)`: modules loaded by a name computed at run time. */
  readonly dynamicByExpression: readonly number[];
  /** Lines that reach into Node internals (process.binding, internalBinding, `_handle`). */
  readonly nodeInternals: readonly number[];
}

/**
 * The text with comments and template-literal contents blanked (newlines kept, so offsets keep
 * their line numbers); quoted strings and regular-expression literals are kept but skipped over,
 * so quotes inside them do not derail the scan.
 */
export function codeOnly(src: string): string {
  const out = src.split('');
  const blank = (from: number, to: number): void => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  const braces: number[] = []; // per open `${`: the brace depth where it closes
  let depth = 0;
  let prev = ''; // last significant character of code
  let i = 0;
  const n = src.length;
  const template = (): void => {
    // at the character after ` or after the } that ends a ${...}
    const start = i;
    while (i < n) {
      const c = src[i]!;
      if (c === '\\') { i += 2; continue; }
      if (c === '`') { blank(start, i); i++; prev = '`'; return; }
      if (c === '$' && src[i + 1] === '{') { blank(start, i); i += 2; braces.push(depth); depth++; prev = '{'; return; }
      i++;
    }
    blank(start, n);
  };
  while (i < n) {
    const c = src[i]!;
    if (c === '/' && src[i + 1] === '/') {
      const e = src.indexOf('\n', i);
      const end = e < 0 ? n : e;
      blank(i, end);
      i = end;
      continue;
    }
    if (c === '/' && src[i + 1] === '*') {
      const e = src.indexOf('*/', i + 2);
      const end = e < 0 ? n : e + 2;
      blank(i, end);
      i = end;
      continue;
    }
    if (c === '\'' || c === '"') {
      i++;
      while (i < n && src[i] !== c && src[i] !== '\n') i += src[i] === '\\' ? 2 : 1;
      i++;
      prev = c;
      continue;
    }
    if (c === '`') {
      i++;
      template();
      continue;
    }
    if (c === '/' && (prev === '' || '(,=:[!&|?{};+-*%<>~^'.includes(prev) || /\b(return|typeof|case|in|of)$/.test(src.slice(Math.max(0, i - 8), i).trimEnd()))) {
      // a regular-expression literal
      let cls = false;
      i++;
      while (i < n && src[i] !== '\n') {
        const d = src[i]!;
        if (d === '\\') { i += 2; continue; }
        if (d === '[') cls = true;
        else if (d === ']') cls = false;
        else if (d === '/' && !cls) break;
        i++;
      }
      i++;
      prev = ')';
      continue;
    }
    if (c === '{') depth++;
    if (c === '}') {
      depth--;
      if (braces.length > 0 && braces[braces.length - 1] === depth) {
        braces.pop();
        i++;
        template();
        continue;
      }
    }
    if (!/\s/.test(c)) prev = /[A-Za-z0-9_$]/.test(c) ? 'a' : c;
    i++;
  }
  return out.join('');
}

const NODE_BUILTINS = new Set(builtinModules);

const PATTERNS: readonly RegExp[] = [
  /\bimport\s+(?:type\s+)?[\w$*{}\s,]*?\bfrom\s*(['"])([^'"\n]+)\1/g,
  /\bimport\s*(['"])([^'"\n]+)\1/g,
  /\bexport\s+(?:type\s+)?(?:\*(?:\s+as\s+[\w$]+)?|\{[^}]*\})\s*from\s*(['"])([^'"\n]+)\1/g,
  /\bimport\s*\(\s*(['"])([^'"\n]+)\1\s*\)/g,
  /\bnew\s+URL\(\s*(['"])([^'"\n]+)\1\s*,\s*import\.meta\.url\s*\)/g,
];

/** process.binding (also through a cast), internalBinding, libuv handles behind net objects. */
const INTERNALS = /\bprocess\b.*\bbinding\b|\binternalBinding\b|\b_handle\b/;

/** The imports of one file (`file` is its path in the tree, `exists` answers for tree paths). */
export function scanFile(file: string, src: string, exists: (path: string) => boolean): FileInfo {
  const code = codeOnly(src);
  const lineAt = (off: number): number => code.slice(0, off).split('\n').length;
  const imports: Import[] = [];
  const unresolved: Import[] = [];
  const seen = new Set<number>();
  for (const re of PATTERNS) {
    for (const m of code.matchAll(re)) {
      const at = m.index! + m[0].lastIndexOf(m[2]!);
      if (seen.has(at)) continue; // `import '...'` inside `import ... from '...'` is the same name
      seen.add(at);
      const spec = m[2]!;
      const line = lineAt(m.index!);
      if (spec.startsWith('./') || spec.startsWith('../')) {
        const target = posix.normalize(posix.join(posix.dirname(file), spec));
        const imp: Import = { spec, target, kind: 'file', line };
        (exists(target) ? imports : unresolved).push(imp);
      } else if (spec.startsWith('node:') || NODE_BUILTINS.has(spec.split('/')[0]!)) {
        imports.push({ spec, target: spec.startsWith('node:') ? spec : `node:${spec}`, kind: 'node', line });
      } else {
        const parts = spec.split('/');
        imports.push({ spec, target: spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!, kind: 'package', line });
      }
    }
  }
  const dynamicByExpression: number[] = [];
  for (const m of code.matchAll(/\bimport\s*\(\s*(?!['"]\S[^'"\n]*['"]\s*\))/g)) dynamicByExpression.push(lineAt(m.index!));
  const nodeInternals: number[] = [];
  code.split('\n').forEach((l, k) => { if (INTERNALS.test(l)) nodeInternals.push(k + 1); });
  imports.sort((a, b) => a.line - b.line);
  return { imports, unresolved, dynamicByExpression, nodeInternals };
}

/** The layer table: per folder of src/, what it may import and whether it may do I/O. */
export interface Layer {
  /** Folders of src/ whose files this folder's files may import (its own always). */
  readonly may: readonly string[];
  /** false: no Node I/O module and no package (a pure layer). */
  readonly io: boolean;
  /** May load koffi and reach into Node internals (the OS layer alone). */
  readonly native?: boolean;
}

export interface Rules {
  readonly layers: Readonly<Record<string, Layer>>;
  /** Node modules that do I/O (pure layers may import none of them). */
  readonly nodeIo: ReadonlySet<string>;
  /** Packages that load native code (only `native` layers may import them). */
  readonly nativePackages: ReadonlySet<string>;
  /** file -> why it may load a module by a computed name. */
  readonly dynamicImports: Readonly<Record<string, string>>;
  /** file -> why it may reach into Node internals outside the OS layer (to be removed). */
  readonly internalsExceptions: Readonly<Record<string, string>>;
  /** A circle of files (sorted, joined by ' ') -> why it is still there (to be removed). */
  readonly knownFileCycles: Readonly<Record<string, string>>;
}

export interface Violation {
  readonly rule: 'folder' | 'layer' | 'pure' | 'native' | 'internals' | 'dynamic' | 'unresolved' | 'folder-cycle' | 'file-cycle' | 'stale-exception';
  readonly file: string;
  readonly text: string;
}

/** 'src/forwarders/packet/x.ts' -> 'forwarders'; files directly in src/ belong to '.'. */
export function folderOf(file: string): string {
  const p = file.split('/');
  return p.length > 2 ? p[1]! : '.';
}

/** Strongly connected components with more than one node (Tarjan). */
export function cycles(nodes: Iterable<string>, edges: (n: string) => Iterable<string>): string[][] {
  let index = 0;
  const idx = new Map<string, number>(), low = new Map<string, number>(), on = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index); low.set(v, index); index++;
    stack.push(v); on.add(v);
    for (const w of edges(v)) {
      if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const c: string[] = [];
      let w: string;
      do { w = stack.pop()!; on.delete(w); c.push(w); } while (w !== v);
      if (c.length > 1) out.push(c.sort());
    }
  };
  for (const v of nodes) if (!idx.has(v)) visit(v);
  return out;
}

/** Every break of `rules` in the tree (`files`: path under src/ -> its scan). */
export function checkLayers(files: ReadonlyMap<string, FileInfo>, rules: Rules): Violation[] {
  const v: Violation[] = [];
  const folderEdges = new Map<string, Set<string>>();
  for (const [file, info] of files) {
    const from = folderOf(file);
    const layer = rules.layers[from];
    if (!layer) {
      v.push({ rule: 'folder', file, text: `${file}: folder src/${from} is in no layer of the table` });
      continue;
    }
    for (const u of info.unresolved) v.push({ rule: 'unresolved', file, text: `${file}:${u.line}: '${u.spec}' names no file` });
    for (const imp of info.imports) {
      const where = `${file}:${imp.line}`;
      if (imp.kind === 'file') {
        // Files outside src/ (package.json, bin/, bpf/*.c) are read or run, not layered.
        if (!imp.target.startsWith('src/')) continue;
        const to = folderOf(imp.target);
        if (to === from) continue;
        if (!folderEdges.has(from)) folderEdges.set(from, new Set());
        folderEdges.get(from)!.add(to);
        if (!layer.may.includes(to)) v.push({ rule: 'layer', file, text: `${where}: src/${from} may not import src/${to} (${imp.target})` });
      } else if (imp.kind === 'node') {
        if (!layer.io && rules.nodeIo.has(imp.target)) v.push({ rule: 'pure', file, text: `${where}: src/${from} is pure and may not import ${imp.target}` });
      } else if (rules.nativePackages.has(imp.target)) {
        if (!layer.native) v.push({ rule: 'native', file, text: `${where}: only the OS layer loads native code (${imp.target})` });
      } else if (!layer.io) {
        v.push({ rule: 'pure', file, text: `${where}: src/${from} is pure and may not import the package ${imp.target}` });
      }
    }
    for (const line of info.nodeInternals) {
      if (!layer.native && !rules.internalsExceptions[file]) v.push({ rule: 'internals', file, text: `${file}:${line}: only the OS layer reaches into Node internals` });
    }
    for (const line of info.dynamicByExpression) {
      if (!rules.dynamicImports[file]) v.push({ rule: 'dynamic', file, text: `${file}:${line}: a module loaded by a computed name escapes these rules (list it, with why, or name it literally)` });
    }
  }
  for (const [file, why] of Object.entries(rules.internalsExceptions)) {
    const info = files.get(file);
    if (!info || info.nodeInternals.length === 0) v.push({ rule: 'stale-exception', file, text: `${file}: no longer reaches into Node internals; remove its exception (${why})` });
  }
  for (const [file, why] of Object.entries(rules.dynamicImports)) {
    const info = files.get(file);
    if (!info || info.dynamicByExpression.length === 0) v.push({ rule: 'stale-exception', file, text: `${file}: loads no module by a computed name any more; remove its entry (${why})` });
  }
  for (const c of cycles(folderEdges.keys(), (f) => folderEdges.get(f) ?? [])) {
    v.push({ rule: 'folder-cycle', file: `src/${c[0]}`, text: `folders import each other in a circle: ${c.map((f) => `src/${f}`).join(', ')}` });
  }
  const fileEdges = (f: string): string[] => (files.get(f)?.imports ?? []).filter((i) => i.kind === 'file' && files.has(i.target)).map((i) => i.target);
  const found = new Set<string>();
  for (const c of cycles(files.keys(), fileEdges)) {
    found.add(c.join(' '));
    if (!rules.knownFileCycles[c.join(' ')]) v.push({ rule: 'file-cycle', file: c[0]!, text: `files import each other in a circle: ${c.join(', ')}` });
  }
  for (const [c, why] of Object.entries(rules.knownFileCycles)) {
    if (!found.has(c)) v.push({ rule: 'stale-exception', file: c.split(' ')[0]!, text: `${c}: no longer a circle; remove its entry (${why})` });
  }
  return v;
}
