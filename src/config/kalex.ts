/**
 * keepalived.conf lexical layer: lines -> tokens -> a tree of statements.
 *
 * - Comments: a token starting with `#` or `!` ends the line.
 * - `{` and `}` are tokens of their own even when glued to a word (`{10.0.0.1}`).
 * - Double-quoted strings (`\"` and `\\` escapes) are one token.
 * - `include GLOB` (relative to the including file's directory) is expanded in place.
 * - `$NAME=value` defines; `$NAME` / `${NAME}` are substituted in later lines.
 * - `@ID line` / `@^ID line` keep the line only when the config id is (is not) ID.
 * - A statement is a keyword and its arguments on one line, optionally followed by a `{ ... }`
 *   block (the `{` may open the next line). After `{` or `}` the rest of the line goes on.
 */
import { posix } from 'node:path';
import type { Diagnostic } from './desired.ts';
import { hasGlob, type ConfigSource } from './source.ts';

export interface Tok {
  readonly text: string;
  readonly quoted: boolean;
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** Sequence number of the physical line (statements never span lines). */
  readonly lineId: number;
}

export interface Stmt {
  readonly name: Tok;
  readonly args: readonly Tok[];
  /** null = no block. */
  readonly block: readonly Stmt[] | null;
  /** The `{` token when there is a block. */
  readonly open?: Tok;
}

export interface LexOptions {
  /** Value for `@ID` conditionals (keepalived -i); default '' (only `@^X` lines are kept). */
  readonly configId?: string;
  /** Include nesting limit. */
  readonly maxIncludeDepth?: number;
  /** Safety bound on tokens (fuzzed input). */
  readonly maxTokens?: number;
}

export interface LexResult {
  readonly toks: readonly Tok[];
  readonly files: readonly string[];
}

/** Tokenizes one line (after define substitution). */
function tokenizeLine(text: string, file: string, line: number, lineId: number, colBase: number, diags: Diagnostic[]): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') { i++; continue; }
    if (c === '#' || c === '!') break;
    if (c === '{' || c === '}') { out.push({ text: c, quoted: false, file, line, col: colBase + i + 1, lineId }); i++; continue; }
    if (c === '"') {
      const start = i;
      let s = '';
      i++;
      let closed = false;
      while (i < n) {
        const d = text[i]!;
        if (d === '\\' && i + 1 < n && (text[i + 1] === '"' || text[i + 1] === '\\')) { s += text[i + 1]; i += 2; continue; }
        if (d === '"') { closed = true; i++; break; }
        s += d;
        i++;
      }
      if (!closed) {
        diags.push({ severity: 'error', file, line, col: colBase + start + 1, message: 'unterminated quoted string: expected a closing \'"\'' });
      }
      out.push({ text: s, quoted: true, file, line, col: colBase + start + 1, lineId });
      continue;
    }
    const start = i;
    while (i < n) {
      const d = text[i]!;
      if (d === ' ' || d === '\t' || d === '\r' || d === '{' || d === '}' || d === '"' || d === '\f' || d === '\v') break;
      i++;
    }
    out.push({ text: text.slice(start, i), quoted: false, file, line, col: colBase + start + 1, lineId });
  }
  return out;
}

export function lexKeepalived(path: string, src: ConfigSource, diags: Diagnostic[], opts: LexOptions = {}): LexResult {
  const configId = opts.configId ?? '';
  const maxDepth = opts.maxIncludeDepth ?? 8;
  const maxTokens = opts.maxTokens ?? 1_000_000;
  const toks: Tok[] = [];
  const files: string[] = [];
  const defines = new Map<string, string>();
  let lineId = 0;
  let stopped = false;

  const substitute = (text: string, file: string, line: number): string => {
    if (!text.includes('$') || defines.size === 0) return text;
    return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([^\s{}"$]+)/g, (m, a: string | undefined, b: string | undefined, off: number) => {
      const name = (a ?? b)!;
      const v = defines.get(name);
      if (v === undefined) {
        diags.push({ severity: 'warning', file, line, col: off + 1, message: `undefined variable '$${name}' left as written` });
        return m;
      }
      return v;
    });
  };

  const readFile = (file: string, depth: number, stack: readonly string[], from: Tok | null): void => {
    const text = src.read(file);
    if (text === null) {
      if (from) diags.push({ severity: 'error', file: from.file, line: from.line, col: from.col, message: `cannot read included file '${file}'` });
      else diags.push({ severity: 'error', file, line: 0, col: 0, message: 'cannot read the configuration file' });
      return;
    }
    files.push(file);
    const lines = text.split('\n');
    for (let ln = 0; ln < lines.length && !stopped; ln++) {
      const lineNo = ln + 1;
      let raw = lines[ln]!;
      // $NAME=value define (keepalived: the line starts with '$', no blank before '=').
      const def = /^\s*\$([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(raw);
      if (def) {
        defines.set(def[1]!, substitute(def[2]!.trim(), file, lineNo));
        continue;
      }
      raw = substitute(raw, file, lineNo);
      let colBase = 0;
      const cond = /^(\s*)@(\^?)([^\s]*)/.exec(raw);
      if (cond) {
        const neg = cond[2] === '^';
        const id = cond[3]!;
        const match = id === configId;
        if (neg ? match : !match) continue;
        colBase = cond[0].length;
        raw = raw.slice(colBase);
      }
      lineId++;
      const lineToks = tokenizeLine(raw, file, lineNo, lineId, colBase, diags);
      if (lineToks.length >= 1 && lineToks[0]!.text === 'include' && !lineToks[0]!.quoted) {
        const inc = lineToks[0]!;
        if (lineToks.length < 2) {
          diags.push({ severity: 'error', file, line: lineNo, col: inc.col + inc.text.length, message: "expected a file name or glob after 'include'" });
          continue;
        }
        if (lineToks.length > 2) {
          const x = lineToks[2]!;
          diags.push({ severity: 'warning', file, line: lineNo, col: x.col, message: `unexpected argument '${x.text}' to 'include'; ignored` });
        }
        if (depth >= maxDepth) {
          diags.push({ severity: 'error', file, line: lineNo, col: inc.col, message: `include nested deeper than ${maxDepth} levels` });
          continue;
        }
        const pat = lineToks[1]!.text;
        const abs = posix.isAbsolute(pat) ? posix.normalize(pat) : posix.join(posix.dirname(file), pat);
        const matches = hasGlob(abs) ? src.glob(abs) : [abs];
        if (matches.length === 0) {
          diags.push({ severity: 'warning', file, line: lineNo, col: lineToks[1]!.col, message: `include '${pat}' matches no file` });
        }
        for (const m of matches) {
          if (stack.includes(m)) {
            diags.push({ severity: 'error', file, line: lineNo, col: lineToks[1]!.col, message: `include loop: '${m}' is already being read` });
            continue;
          }
          readFile(m, depth + 1, [...stack, m], lineToks[1]!);
        }
        continue;
      }
      for (const t of lineToks) toks.push(t);
      if (toks.length > maxTokens) {
        diags.push({ severity: 'error', file, line: lineNo, col: 0, message: `configuration too large (more than ${maxTokens} tokens)` });
        stopped = true;
      }
    }
  };
  readFile(path, 0, [path], null);
  return { toks, files };
}

function endCol(t: Tok): number {
  return t.col + t.text.length + (t.quoted ? 2 : 0);
}

/** Builds the statement tree; reports unbalanced braces. */
export function buildTree(toks: readonly Tok[], diags: Diagnostic[]): Stmt[] {
  let i = 0;
  const maxDepth = 64;
  const parseBlock = (opener: { name: Tok; open: Tok } | null, depth = 0): Stmt[] => {
    const out: Stmt[] = [];
    if (depth > maxDepth && opener) {
      diags.push({ severity: 'error', file: opener.open.file, line: opener.open.line, col: opener.open.col, message: `blocks nested deeper than ${maxDepth} levels` });
      i = toks.length;
      return out;
    }
    while (i < toks.length) {
      const t = toks[i]!;
      if (!t.quoted && t.text === '}') {
        if (opener) { i++; return out; }
        diags.push({ severity: 'error', file: t.file, line: t.line, col: t.col, message: "unexpected '}': no block is open" });
        i++;
        continue;
      }
      if (!t.quoted && t.text === '{') {
        diags.push({ severity: 'error', file: t.file, line: t.line, col: t.col, message: "unexpected '{': expected a keyword before it" });
        i++;
        // Skip the anonymous block so its content does not leak into this level.
        parseBlock({ name: t, open: t }, depth + 1);
        continue;
      }
      // A statement: keyword + args on the same physical line, up to a brace.
      const name = t;
      i++;
      const args: Tok[] = [];
      while (i < toks.length) {
        const a = toks[i]!;
        if (a.lineId !== name.lineId) break;
        if (!a.quoted && (a.text === '{' || a.text === '}')) break;
        args.push(a);
        i++;
      }
      const nx = toks[i];
      if (nx && !nx.quoted && nx.text === '{') {
        // `{` on the same line, or alone at the start of a following line.
        const prevLine = args.length ? args[args.length - 1]!.lineId : name.lineId;
        const firstOnItsLine = i === 0 || toks[i - 1]!.lineId !== nx.lineId;
        if (nx.lineId === prevLine || firstOnItsLine) {
          i++;
          const block = parseBlock({ name, open: nx }, depth + 1);
          out.push({ name, args, block, open: nx });
          continue;
        }
      }
      out.push({ name, args, block: null });
    }
    if (opener) {
      const last = toks[toks.length - 1];
      diags.push({
        severity: 'error',
        file: last ? last.file : opener.open.file,
        line: last ? last.line : opener.open.line,
        col: last ? endCol(last) : opener.open.col,
        message: `unexpected end of file: expected '}' to close '${opener.name.text}' opened at ${opener.open.file}:${opener.open.line}:${opener.open.col}`,
      });
    }
    return out;
  };
  return parseBlock(null);
}

export { endCol };
