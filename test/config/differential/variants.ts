/**
 * Generated variants for the differential corpus: each transform rewrites a configuration the way
 * people (and scraped tutorials) write it, so keepalived's and ldirectord's lexers are compared
 * with ours on one-line blocks, glued braces, comments, odd whitespace, includes, conditionals,
 * variables, unknown and misspelt keywords and truncations. Pure text in, text out; a transform
 * returns null where it does not apply (nothing to change), so no variant repeats its base.
 */

/** One generated file set: the main file and (for include variants) files beside it, by relative path. */
export interface Generated {
  readonly main: string;
  readonly extra?: Readonly<Record<string, string>>;
}

export type Transform = (text: string) => Generated | null;

/** The text of a line before its comment (keepalived: `#` or `!` outside double quotes). */
export function codeOf(line: string): string {
  let q = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') q = !q;
    else if (!q && (c === '#' || c === '!')) return line.slice(0, i);
  }
  return line;
}

const lines = (t: string): string[] => t.replace(/\r\n/g, '\n').split('\n');
const indentOf = (l: string): string => /^\s*/.exec(l)![0];
const changed = (before: string, after: string): Generated | null => (after === before ? null : { main: after });

/** Top-level blocks as [first line, last line] (0-based, inclusive), found by brace depth. */
function topBlocks(ls: readonly string[]): [number, number][] {
  const out: [number, number][] = [];
  let depth = 0;
  let start = -1;
  for (let i = 0; i < ls.length; i++) {
    const code = codeOf(ls[i]!);
    for (const c of code) {
      if (c === '{') {
        if (depth === 0) start = i;
        depth++;
      } else if (c === '}' && depth > 0) {
        depth--;
        if (depth === 0 && start >= 0) {
          out.push([start, i]);
          start = -1;
        }
      }
    }
  }
  return out;
}

/** Lines that open a block inside another block (depth >= 1 before the line), first one only. */
function firstInnerOpener(ls: readonly string[]): number {
  let depth = 0;
  for (let i = 0; i < ls.length; i++) {
    const code = codeOf(ls[i]!);
    if (depth >= 1 && /\{\s*$/.test(code) && !code.includes('}')) return i;
    for (const c of code) depth += c === '{' ? 1 : c === '}' ? (depth > 0 ? -1 : 0) : 0;
  }
  return -1;
}

/** Innermost blocks written over several lines (`head {`, keyword lines, `}`) put on one line. */
const onelineInner: Transform = (text) => {
  const ls = lines(text);
  const out: string[] = [];
  for (let i = 0; i < ls.length; i++) {
    const open = codeOf(ls[i]!);
    if (/^\s*\S.*\{\s*$/.test(open) && !open.slice(0, -1).includes('{') && !open.includes('}')) {
      const items: string[] = [];
      let j = i + 1;
      for (; j < ls.length; j++) {
        const c = codeOf(ls[j]!).trim();
        if (c.includes('{')) break;
        if (c === '}') break;
        if (c.includes('}')) { j = -1; break; }
        if (c) items.push(c);
      }
      if (j > 0 && j < ls.length && codeOf(ls[j]!).trim() === '}' && items.length > 0) {
        out.push(`${open.trimEnd()} ${items.join(' ')} }`);
        i = j;
        continue;
      }
    }
    out.push(ls[i]!);
  }
  return changed(text, out.join('\n'));
};

/** The whole file on one line, comments dropped (what scraped pages do to a file). */
const onelineFile: Transform = (text) => {
  const code = lines(text).map((l) => codeOf(l).trim()).filter((l) => l);
  return code.length > 1 ? { main: code.join(' ') + '\n' } : null;
};

/** `word {` written `word{`. */
const gluedOpen: Transform = (text) => changed(text, lines(text).map((l) => {
  const c = codeOf(l);
  return /\S\s+\{\s*$/.test(c) ? c.replace(/\s+\{\s*$/, '{') + l.slice(c.length) : l;
}).join('\n'));

/** A line holding only `}` joined to the line before it: `weight 1}`. */
const gluedClose: Transform = (text) => {
  const ls = lines(text);
  const out: string[] = [];
  for (const l of ls) {
    const prev = out.length - 1;
    if (codeOf(l).trim() === '}' && prev >= 0 && codeOf(out[prev]!).trim() !== '' && codeOf(out[prev]!) === out[prev]) {
      out[prev] = out[prev]!.trimEnd() + '}';
      continue;
    }
    out.push(l);
  }
  return changed(text, out.join('\n'));
};

/** Trailing `#` and `!` comments on every line, comment lines (one holding braces) before blocks. */
const comments: Transform = (text) => {
  const ls = lines(text);
  const out: string[] = ['# added: a comment line', '! added: a bang comment line', '#', '!'];
  let n = 0;
  for (const l of ls) {
    const c = codeOf(l);
    if (/\{\s*$/.test(c)) out.push(`${indentOf(l)}# a comment holding braces: } {`);
    if (c.trim() && c === l) out.push(`${l} ${n++ % 2 ? '!' : '#'} trailing comment ${n}`);
    else out.push(l);
  }
  return { main: out.join('\n') };
};

/** Tabs, runs of spaces, trailing blanks and blank (and whitespace-only) lines. */
const whitespace: Transform = (text) => {
  const ls = lines(text);
  const out: string[] = ['', ' \t ', ''];
  ls.forEach((l, i) => {
    const c = codeOf(l);
    if (!c.trim() || c !== l || l.includes('"')) { out.push(l); return; }
    const ind = indentOf(l).replace(/ {2}/g, '\t');
    const body = l.trim().split(/\s+/).join(i % 2 ? '\t' : '   ');
    out.push(`${ind}${body}${i % 3 ? ' \t' : ''}`);
    if (i % 4 === 0) out.push(i % 8 ? '' : '\t  ');
  });
  return { main: out.join('\n') };
};

const crlf: Transform = (text) => ({ main: lines(text).join('\r\n') });

/** An unknown keyword at the top level. */
const unknownTop: Transform = (text) => ({ main: `frobnicate_widget 42\n${text}` });

/** An unknown keyword as the first line of the first block that sits inside another block. */
const unknownInBlock: Transform = (text) => {
  const ls = lines(text);
  const i = firstInnerOpener(ls);
  if (i < 0) return null;
  ls.splice(i + 1, 0, `${indentOf(ls[i]!)}    frobnicate_widget 42`);
  return { main: ls.join('\n') };
};

/** The first keyword inside a nested block (`lb_algo`, `priority`, ...), re-spelled by `f`. */
function misspell(f: (kw: string) => string): Transform {
  return (text) => {
    const ls = lines(text);
    let depth = 0;
    for (let i = 0; i < ls.length; i++) {
      const code = codeOf(ls[i]!);
      const m = /^(\s*)([a-z][a-z_]{3,})(\s|$)/.exec(code);
      if (depth >= 1 && m && !code.includes('{') && !code.includes('}')) {
        const kw = f(m[2]!);
        if (kw !== m[2]) {
          ls[i] = m[1] + kw + ls[i]!.slice(m[1]!.length + m[2]!.length);
          return { main: ls.join('\n') };
        }
      }
      for (const c of code) depth += c === '{' ? 1 : c === '}' ? (depth > 0 ? -1 : 0) : 0;
    }
    return null;
  };
}
const capitalised = misspell((k) => k[0]!.toUpperCase() + k.slice(1));
const swapped = misspell((k) => { const i = Math.floor(k.length / 2); return k.slice(0, i - 1) + k[i] + k[i - 1] + k.slice(i + 1); });

/** The first half of the lines (usually leaves a block open). */
const truncatedHalf: Transform = (text) => {
  const ls = lines(text);
  return ls.length >= 4 ? { main: ls.slice(0, Math.ceil(ls.length / 2)).join('\n') } : null;
};

/** Cut in the middle of the last word of the first half, no newline at the end. */
const truncatedMidWord: Transform = (text) => {
  const half = text.slice(0, Math.floor(text.length / 2));
  const m = /[A-Za-z0-9_.]{4,}\s*$/.exec(half);
  return m ? { main: half.slice(0, m.index + 2) } : null;
};

/** Each top-level block in a file of its own under parts/, read back with `include parts/*.conf`. */
const includeGlob: Transform = (text) => {
  const ls = lines(text);
  const blocks = topBlocks(ls);
  if (blocks.length < 2) return null;
  const extra: Record<string, string> = {};
  const keep: string[] = [];
  let next = 0;
  blocks.forEach(([a, b], k) => {
    keep.push(...ls.slice(next, a));
    extra[`parts/${String(k + 1).padStart(2, '0')}.conf`] = ls.slice(a, b + 1).join('\n') + '\n';
    next = b + 1;
  });
  keep.push(...ls.slice(next), 'include parts/*.conf');
  return { main: keep.join('\n') + '\n', extra };
};

/**
 * `@lb1` on every line of the first top-level block (read: the corpus runs with config id lb1),
 * plus lines for other ids that must be skipped (`@lb2 ...`, `@^lb1 ...`) and one that applies
 * to every id but ours' opposite (`@^lb2`).
 */
const conditionals: Transform = (text) => {
  const ls = lines(text);
  const blocks = topBlocks(ls);
  if (!blocks.length) return null;
  const [a, b] = blocks[0]!;
  for (let i = a; i <= b; i++) ls[i] = `@lb1 ${ls[i]}`;
  ls.splice(b + 1, 0, '@lb2 frobnicate_widget 42', '@^lb1 frobnicate_widget 43', '@^lb2 ! a comment for every id but lb2');
  return { main: ls.join('\n') };
};

/** The first IPv4 address made a `$ADDR` definition, used as `${ADDR}` and `$ADDR` by turns. */
const variables: Transform = (text) => {
  const ls = lines(text);
  let addr: string | undefined;
  for (const l of ls) {
    const m = /(?:^|\s)(\d{1,3}(?:\.\d{1,3}){3})(?=[\s/]|$)/.exec(codeOf(l));
    if (m) { addr = m[1]; break; }
  }
  if (!addr) return null;
  let n = 0;
  const esc = addr.replace(/\./g, '\\.');
  const re = new RegExp(`(^|\\s)${esc}(?=[\\s/]|$)`, 'g');
  const out = ls.map((l) => {
    const c = codeOf(l);
    return c.replace(re, (_m, pre: string) => `${pre}${n++ % 2 ? '$ADDR' : '${ADDR}'}`) + l.slice(c.length);
  });
  return { main: [`$ADDR=${addr}`, ...out].join('\n') };
};

/** keepalived.conf transforms, by name (the name is part of each generated file's id). */
export const KEEPALIVED_TRANSFORMS: Readonly<Record<string, Transform>> = {
  'oneline-blocks': onelineInner,
  'oneline-file': onelineFile,
  'glued-open-brace': gluedOpen,
  'glued-close-brace': gluedClose,
  comments,
  whitespace,
  crlf,
  'unknown-keyword-top': unknownTop,
  'unknown-keyword-block': unknownInBlock,
  'misspelt-capitalised': capitalised,
  'misspelt-swapped': swapped,
  'truncated-half': truncatedHalf,
  'truncated-mid-word': truncatedMidWord,
  'include-glob': includeGlob,
  conditionals,
  variables,
};

// ---- ldirectord.cf ----

const ldLines = (t: string) => lines(t);

/** Comment lines (indented and not) between the lines, and a `#` after each value. */
const ldComments: Transform = (text) => {
  const out: string[] = ['# added: a comment line'];
  ldLines(text).forEach((l, i) => {
    out.push(l);
    if (l.trim() && !l.trim().startsWith('#')) out.push(i % 2 ? '\t# an indented comment' : '# a comment');
  });
  return { main: out.join('\n') };
};

/** `key = value` with spaces, indentation with spaces, trailing blanks, blank lines. */
const ldWhitespace: Transform = (text) => changed(text, ldLines(text).map((l, i) => {
  if (!l.trim() || l.trim().startsWith('#')) return l;
  const ind = /^\s+/.test(l) ? (i % 2 ? '    ' : ' \t') : '';
  return `${ind}${l.trim().replace(/\s*=\s*/, i % 3 ? ' = ' : '=  ')}${i % 2 ? '  ' : ''}`;
}).join('\n') + '\n\n   \n');

/** Every line unindented (scraped tutorials lose the tabs). */
const ldUnindented: Transform = (text) => changed(text, ldLines(text).map((l) => l.trimStart()).join('\n'));

const ldUnknownTop: Transform = (text) => ({ main: `frobnicate=42\n${text}` });

const ldUnknownVirtual: Transform = (text) => {
  const ls = ldLines(text);
  const i = ls.findIndex((l) => /^virtual6?\s*=/.test(l));
  if (i < 0) return null;
  ls.splice(i + 1, 0, '\tfrobnicate=42');
  return { main: ls.join('\n') };
};

const ldCapitalised: Transform = (text) => {
  const ls = ldLines(text);
  const i = ls.findIndex((l) => /^\s+[a-z]+\s*=/.test(l) && !/^\s+real6?\s*=/.test(l));
  if (i < 0) return null;
  ls[i] = ls[i]!.replace(/^(\s+)([a-z])/, (_m, s: string, c: string) => s + c.toUpperCase());
  return { main: ls.join('\n') };
};

/** ldirectord.cf transforms, by name. */
export const LDIRECTORD_TRANSFORMS: Readonly<Record<string, Transform>> = {
  comments: ldComments,
  whitespace: ldWhitespace,
  crlf,
  unindented: ldUnindented,
  'unknown-keyword-top': ldUnknownTop,
  'unknown-keyword-virtual': ldUnknownVirtual,
  'misspelt-capitalised': ldCapitalised,
  'truncated-half': truncatedHalf,
};

/**
 * The sample ldirectord.cf ships most services commented out (`#virtual=...` and `#\t...`
 * lines): one variant per such section with that section turned on.
 */
export function ldirectordSections(text: string): { name: string; text: string }[] {
  const ls = ldLines(text);
  const out: { name: string; text: string }[] = [];
  for (let i = 0; i < ls.length; i++) {
    const m = /^#\s*(virtual6?)\s*=\s*(\S+)/.exec(ls[i]!);
    if (!m) continue;
    const copy = [...ls];
    copy[i] = ls[i]!.replace(/^#\s*/, '');
    for (let j = i + 1; j < ls.length && /^#\t/.test(ls[j]!); j++) copy[j] = ls[j]!.slice(1);
    out.push({ name: `section-${String(out.length + 1).padStart(2, '0')}-${m[2]!.replace(/[^\w.:-]/g, '_')}`, text: copy.join('\n') });
  }
  return out;
}
