/**
 * What the readers need from the outside world, injected so they stay pure: reading a file and
 * expanding an include glob. `./load.ts` provides the real one (node:fs); tests use `memorySource`.
 */
import { posix } from 'node:path';

export interface ConfigSource {
  /** File text, or null if it cannot be read. */
  read(path: string): string | null;
  /** Absolute paths matching an absolute glob pattern (`*`, `?`, `[...]`), sorted. */
  glob(pattern: string): string[];
}

/** Glob matching for one path segment. */
export function segmentMatcher(seg: string): RegExp {
  let re = '^';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const j = seg.indexOf(']', i + 1);
      if (j < 0) { re += '\\['; continue; }
      let body = seg.slice(i + 1, j).replace(/\\/g, '\\\\');
      if (body.startsWith('!')) body = '^' + body.slice(1);
      re += `[${body}]`;
      i = j;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(re + '$');
}

export function hasGlob(p: string): boolean {
  return /[*?[]/.test(p);
}

/** An in-memory source for tests: absolute path -> text. */
export function memorySource(files: Record<string, string>): ConfigSource {
  const paths = Object.keys(files).map((p) => posix.normalize(p));
  const norm: Record<string, string> = {};
  for (const [p, t] of Object.entries(files)) norm[posix.normalize(p)] = t;
  return {
    read: (p) => norm[posix.normalize(p)] ?? null,
    glob: (pattern) => {
      const segs = posix.normalize(pattern).split('/');
      const res = segs.map((s) => (hasGlob(s) ? segmentMatcher(s) : null));
      return paths
        .filter((p) => {
          const ps = p.split('/');
          if (ps.length !== segs.length) return false;
          return ps.every((s, i) => (res[i] ? res[i]!.test(s) : s === segs[i]));
        })
        .sort();
    },
  };
}
