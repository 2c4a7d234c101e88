/**
 * keepalived.conf lines and words exactly as keepalived 2.2.7's parser (lib/parser.c read_line,
 * decomment, replace_param, alloc_strvec) builds them, before any keyword is looked at:
 *
 * - A line loses its end-of-line characters, its leading blanks, its comment (a `#` or `!`
 *   anywhere outside double quotes; `\#` and `\!` are a literal `#` and `!`) and its trailing
 *   blanks. Empty lines are skipped.
 * - `@ID rest` / `@^ID rest` keep `rest` only when the config id is (is not) ID.
 * - `$NAME=value` defines NAME (no blank before `=`; a value ending in `\` continues on the next
 *   lines). `$NAME` (followed by a blank, `,`, `)` or the end of the line) and `${NAME}` are
 *   replaced, again and again, before the line is read; a multi-line value gives several lines.
 *   Built in: `$_PWD`, `$_INSTANCE`, `$_RANDOM`, `$_HASH` (#), `$_BANG` (!). A name nobody
 *   defined is left as written.
 * - `~SEQ(VAR, [START,] END[, STEP]) text` repeats text once per value of $VAR.
 * - `include GLOB` (the rest of the line; relative to the including file's directory) reads
 *   the matching files in place; no match is not an error unless `include_check` says so.
 * - The first `{` or `}` outside quotes splits a line: what is before it is one line, the brace
 *   another, and the rest is read as the next line. So every brace ends up alone on its line and
 *   `authentication { auth_type PASS auth_pass s3cret }` is the three lines `authentication`,
 *   `{`, `auth_type PASS auth_pass s3cret` and then `}`.
 * - Words are separated by blanks; `"..."` is one word (no escapes) and also ends the word
 *   before it.
 *
 * Which lines open a block is the keyword tables' business (./keepalived/context.ts).
 */
import { posix } from 'node:path';
import type { Diagnostic, KaClass } from './desired.ts';
import { hasGlob, type ConfigSource } from './source.ts';

export interface Tok {
  readonly text: string;
  readonly quoted: boolean;
  readonly file: string;
  readonly line: number;
  /** 1-based column in the physical line; 0 when the word came from a substitution. */
  readonly col: number;
}

/** One line as keepalived reads it: its words (at least one), and its text (handlers that re-read it). */
export interface Line {
  readonly toks: readonly Tok[];
  readonly file: string;
  readonly line: number;
  readonly text: string;
}

export interface LexOptions {
  /** Value for `@ID` conditionals (keepalived -i; keepalived's default is the host name). */
  readonly configId?: string;
  /** Include nesting limit (keepalived has none; a loop would never end). */
  readonly maxIncludeDepth?: number;
  /** Safety bound on lines (fuzzed input). */
  readonly maxLines?: number;
}

export interface LexResult {
  readonly lines: readonly Line[];
  readonly files: readonly string[];
}

/** keepalived's MAXBUF: a line never grows past this by substitution. */
const MAXBUF = 1024;
/** Lexical problems reported at most (a file of stray braces says so once per brace otherwise). */
const MAX_LEX_DIAGS = 500;
const WHITE = ' \t\f\n\r\v';

/** `include_check` flags (keepalived's include_t). */
const INC = { R: 1, M: 2, W: 4, B: 8 } as const;
/** include, includer, includea, includew, includem, includeb: what their failures are. */
const INCLUDE_TYPE: Record<string, number> = { '': 0, r: INC.R, a: INC.R | INC.M | INC.B | INC.W, w: INC.R | INC.M | INC.W, m: INC.R | INC.M, b: INC.R | INC.B };

interface Def {
  name: string;
  value: string;
  multiline: boolean;
  /** Built-in value computed at each use. */
  fn?: (params: string | null) => string;
  maxParams: number;
}

/**
 * decomment(): leading blanks and the comment removed, `\#`/`\!` unescaped outside quotes,
 * trailing blanks removed; a trailing `\` is kept (it continues a multi-line definition).
 */
export function decomment(str: string): { text: string; unterminated: boolean } {
  let s = str.replace(/^[ \t]+/, '');
  let quote = false, cont = false;
  let skip = -1;
  let p = 0;
  for (;;) {
    let q = -1;
    for (let i = p; i < s.length; i++) { const ch = s[i]!; if (ch === '!' || ch === '#' || ch === '"' || ch === '\\') { q = i; break; } }
    if (q < 0) break;
    p = q;
    const ch = s[p]!;
    if (ch === '"') { if (skip < 0) quote = !quote; p++; continue; }
    if (ch === '\\') {
      if (p + 1 < s.length) {
        if (!quote && (s[p + 1] === '#' || s[p + 1] === '!')) { s = s.slice(0, p) + s.slice(p + 1); p++; }
        else p += 2;
        continue;
      }
      s = s.slice(0, p);
      cont = true;
      break;
    }
    if (!quote && skip < 0) skip = p;
    p++;
  }
  if (skip >= 0) s = s.slice(0, skip);
  s = s.replace(/[ \t]+$/, '');
  if (cont) s += '\\';
  return { text: s, unterminated: quote };
}

/**
 * alloc_strvec_quoted_escaped(): the words of a line as keepalived re-reads it for scripts
 * (script, misc_path, notify*): "double" and 'single' quotes group (and may start mid-word),
 * backslash escapes (\n, \t, \xHH, \NNN octal, \cX, any other character as itself).
 * `{ missing }` when a quote is not closed (keepalived: "missing terminating").
 */
export function quotedEscaped(src: string): string[] | { missing: string } | null {
  const out: string[] = [];
  let i = 0;
  let quote: '"' | "'" | null = null;
  for (;;) {
    while (i < src.length && WHITE.includes(src[i]!)) i++;
    if (i >= src.length) break;
    let w = '';
    while (i < src.length) {
      const ch = src[i]!;
      if (ch === '\\') {
        i++;
        if (i >= src.length) return out.length ? out : null;
        const e = src[i]!;
        if (e === 'x' && /[0-9a-fA-F]/.test(src[i + 1] ?? '')) {
          let v = 0; i++;
          while (i < src.length && /[0-9a-fA-F]/.test(src[i]!)) { v = ((v << 4) | parseInt(src[i]!, 16)) & 0xff; i++; }
          w += String.fromCharCode(v);
        } else if (e === 'c' && i + 1 < src.length) { w += String.fromCharCode(src.charCodeAt(i + 1) & 0x1f); i += 2; }
        else if (e >= '0' && e <= '7') {
          let v = 0, n = 0;
          while (n < 3 && i < src.length && src[i]! >= '0' && src[i]! <= '7') { v = ((v << 3) + Number(src[i])) & 0xff; i++; n++; }
          w += String.fromCharCode(v);
        } else {
          const map: Record<string, string> = { a: '\x07', b: '\b', E: '\x1b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };
          w += map[e] ?? e;
          i++;
        }
        continue;
      }
      if (quote) { if (ch === quote) quote = null; else w += ch; i++; continue; }
      if (ch === '"' || ch === "'") { quote = ch; i++; continue; }
      if (WHITE.includes(ch)) break;
      w += ch;
      i++;
    }
    if (quote) return { missing: quote };
    out.push(w);
  }
  return out.length ? out : null;
}

/** alloc_strvec(): words; a quoted word runs to the next `"`. Null `unmatched` when all quotes close. */
export function splitWords(s: string): { words: { text: string; quoted: boolean; at: number }[]; unmatched: boolean } {
  const words: { text: string; quoted: boolean; at: number }[] = [];
  let i = 0;
  for (;;) {
    while (i < s.length && WHITE.includes(s[i]!)) i++;
    if (i >= s.length) break;
    if (s[i] === '"') {
      const j = s.indexOf('"', i + 1);
      if (j < 0) return { words, unmatched: true };
      words.push({ text: s.slice(i + 1, j), quoted: true, at: i });
      i = j + 1;
      continue;
    }
    const start = i;
    while (i < s.length && !WHITE.includes(s[i]!) && s[i] !== '"') i++;
    words.push({ text: s.slice(start, i), quoted: false, at: start });
  }
  return { words, unmatched: false };
}

/**
 * Where the line from `at` splits at its first brace outside quotes: the line is buf[at, end),
 * and the next one starts at `rest` (a brace first on the line is a line of its own). Null: no brace.
 */
function braceSplitAt(buf: string, at: number): { end: number; rest: number } | null {
  const c0 = buf[at];
  if (c0 === '{' || c0 === '}') {
    let r = at + 1;
    while (r < buf.length && (buf[r] === ' ' || buf[r] === '\t')) r++;
    return r < buf.length ? { end: at + 1, rest: r } : null;
  }
  let p = at;
  for (;;) {
    let q = -1;
    for (let i = p; i < buf.length; i++) { const ch = buf[i]!; if (ch === '{' || ch === '}' || ch === '"') { q = i; break; } }
    if (q < 0) return null;
    if (buf[q] !== '"') return { end: q, rest: q };
    const close = buf.indexOf('"', q + 1);
    if (close < 0) return null;
    p = close + 1;
  }
}

export function lexKeepalived(path: string, src: ConfigSource, diags: Diagnostic[], opts: LexOptions = {}): LexResult {
  const configId = opts.configId;
  const maxDepth = opts.maxIncludeDepth ?? 32;
  const maxLines = opts.maxLines ?? 1_000_000;
  const lines: Line[] = [];
  const files: string[] = [];
  let stopped = false;
  let includeCheck = 0;
  let depthCount = 0;
  let curFile = path;

  const say = (file: string, line: number, message: string, ka?: KaClass, severity: 'error' | 'warning' = 'warning') => {
    if (diags.length < MAX_LEX_DIAGS) diags.push({ severity, file, line, col: 0, message, ...(ka ? { ka } : {}) });
  };

  // ---- definitions ----
  const defs: Def[] = [];
  const std = (name: string, value: string, fn?: Def['fn'], maxParams = 0) => defs.push({ name, value, multiline: false, maxParams, ...(fn ? { fn } : {}) });
  std('_PWD', '', () => posix.dirname(curFile));
  std('_INSTANCE', '', () => configId ?? '');
  std('_RANDOM', '', (params) => {
    let min = 0, max = 32767;
    if (params) { const n = params.trim().split(/ +/).map(Number); min = n[0] ?? 0; if (n.length > 1) max = n[1]!; }
    return String(Math.floor(Math.random() * (max - min + 1)) + min);
  }, 2);
  std('_HASH', '#');
  std('_BANG', '!');

  const setDefinition = (name: string, value: string): void => {
    const d = defs.find((x) => x.name === name && !x.multiline);
    if (d) { d.value = value; delete d.fn; }
    else defs.push({ name, value, multiline: false, maxParams: 0 });
  };

  /** A reference at buf[i] (just after `$`): the definition, how many characters it spans, its parameters. */
  const findRef = (buf: string, i: number): { def: Def; len: number; params: string | null } | null => {
    let p = i;
    const braces = buf[p] === '{';
    if (braces) p++;
    const n0 = p;
    if (!/[A-Za-z_]/.test(buf[p] ?? '')) return null;
    while (p < buf.length && /[A-Za-z0-9_]/.test(buf[p]!)) p++;
    const name = buf.slice(n0, p);
    let params: string | null = null;
    if (braces) {
      let ps = -1, pe = -1;
      while (p < buf.length && (buf[p] === ' ' || /[0-9]/.test(buf[p]!))) { if (buf[p] !== ' ') { if (ps < 0) ps = p; pe = p; } p++; }
      if (ps >= 0 && pe + 1 !== p) return null;
      if (buf[p] !== '}') return null;
      if (ps >= 0) params = buf.slice(ps, pe + 1);
      p++;
    } else if (p < buf.length && !' \t,)'.includes(buf[p]!)) return null;
    const allowMultiline = p === buf.length;
    const def = defs.find((d) => d.name === name && (allowMultiline || !d.multiline));
    if (!def) return null;
    if (params !== null && !def.maxParams) return null;
    return { def, len: p - i + 1, params };
  };

  /** replace_param(): every reference replaced (rescanning what was put in). */
  const replaceParams = (buf: string): { text: string; found: boolean; more: string[] } => {
    let cur = 0, found = false;
    let more: string[] = [];
    let guard = 0;
    for (;;) {
      cur = buf.indexOf('$', cur);
      if (cur < 0 || cur + 1 >= buf.length) break;
      const r = findRef(buf, cur + 1);
      if (!r) { cur++; continue; }
      found = true;
      const value = r.def.fn ? r.def.fn(r.params) : r.def.value;
      let put = value;
      if (r.def.multiline) {
        const parts = value.split('\n');
        put = parts[0]!;
        more = [...parts.slice(1), ...more];
      }
      const next = buf.slice(0, cur) + put + buf.slice(cur + r.len);
      // keepalived gives up on a line that would outgrow its buffer ("would exceed maximum line length").
      if (next.length >= MAXBUF || ++guard > MAXBUF) return { text: buf, found: false, more: [] };
      buf = next;
      if (/^[ \t]*~/.test(value)) break;
    }
    return { text: buf, found, more };
  };

  /** check_definition(): `$NAME=value` (no blank before `=`). */
  const checkDefinition = (buf: string): Def | null => {
    const m = /^\$([A-Za-z_][A-Za-z0-9_]*)=/.exec(buf);
    if (!m) return null;
    let value = buf.slice(m[0].length).replace(/^[ \t]+/, '');
    let multiline = false;
    if (value.endsWith('\\')) {
      multiline = true;
      value = value.slice(0, -1).replace(/[ \t]+$/, '');
      value = value ? value + '\n' : '';
    }
    let d = defs.find((x) => x.name === m[1]);
    if (d) { d.value = value; d.multiline = multiline; delete d.fn; }
    else { d = { name: m[1]!, value, multiline, maxParams: 0 }; defs.push(d); }
    return d;
  };

  // ---- includes ----
  const includeFiles = (pattern: string, type: number, from: string, at: number, depth: number, stack: readonly string[]): void => {
    const check = includeCheck | type;
    const abs = posix.isAbsolute(pattern) ? posix.normalize(pattern) : posix.join(posix.dirname(from), pattern);
    const wild = hasGlob(abs);
    const matches = wild ? src.glob(abs) : src.read(abs) !== null ? [abs] : [];
    if (matches.length === 0) {
      // keepalived: "Config files missing" unless a wildcard matched nothing; an error only under include_check.
      if (!wild) say(from, at, `Config files missing '${pattern}'.`, check & INC.M ? 'noconfig' : 'log');
      else if (check & INC.W) say(from, at, `No config files matched '${pattern}'.`, 'noconfig');
      return;
    }
    if (depth >= maxDepth) { say(from, at, `include nested deeper than ${maxDepth} levels; not read`, 'config', 'error'); return; }
    for (const m of matches) {
      if (stack.includes(m)) { say(from, at, `include loop: '${m}' is already being read; not read again`, 'config', 'error'); continue; }
      readFile(m, depth + 1, [...stack, m]);
    }
  };

  // ---- one logical line ----
  const seqs: { var: string; values: string[]; text: string }[] = [];

  const emit = (buf: string, file: string, lineNo: number, raw: string): void => {
    if (stopped) return;
    const w = splitWords(buf);
    if (w.unmatched) say(file, lineNo, `Unmatched quote: '${buf}'`);
    if (!w.words.length) return;
    if (buf === '{') depthCount++;
    else if (buf === '}') {
      if (depthCount-- < 1) { say(file, lineNo, "Extra '}' found"); depthCount = 0; }
    }
    // Columns: where each word stands in the physical line (0 when a substitution made it).
    let from = 0;
    const toks = w.words.map((x) => {
      const at = raw.indexOf(x.quoted ? `"${x.text}"` : x.text, from);
      if (at >= 0) from = at + x.text.length;
      return { text: x.text, quoted: x.quoted, file, line: lineNo, col: at >= 0 ? at + 1 : 0 };
    });
    lines.push({ toks, file, line: lineNo, text: buf });
    if (lines.length > maxLines) {
      say(file, lineNo, `configuration too large (more than ${maxLines} lines); not read further`, 'config', 'error');
      stopped = true;
    }
  };

  const emitLine = (buf: string, file: string, lineNo: number, raw: string): void => {
    emit(buf, file, lineNo, raw);
    if (/^include_check([ \t]|$)/.test(buf)) setIncludeCheck(buf);
  };

  const processLine = (first: string, file: string, lineNo: number, raw: string, depth: number, stack: readonly string[]): void => {
    const queue: string[] = [first];
    while (queue.length && !stopped) {
      let buf = queue.shift()!;
      if (!buf) continue;
      let drop = false;
      for (let round = 0; ; round++) {
        if (buf[0] === '@') {
          const rev = buf[1] === '^';
          const ofs = rev ? 2 : 1;
          const m = /[ \t]/.exec(buf.slice(ofs));
          if (!m) { drop = true; break; }
          const id = buf.slice(ofs, ofs + m.index);
          const matches = configId !== undefined && id === configId;
          if (matches === rev) { drop = true; break; }
          buf = buf.slice(ofs + m.index).replace(/^[ \t]+/, '');
        }
        if (buf[0] === '$') {
          const d = checkDefinition(buf);
          if (d) { if (d.multiline) pendingDef = d; drop = true; break; }
        }
        if (buf.startsWith('~SEQ') || buf.startsWith('~LST')) {
          if (buf[1] === 'S') addSeq(buf, file, lineNo);
          else say(file, lineNo, `~LST is not supported by tsvs; line ignored`, 'config', 'error');
          drop = true;
          break;
        }
        if (buf[0] === '~') break;
        if (!buf.includes('$') || round > 100) break;
        const r = replaceParams(buf);
        if (!r.found) break;
        if (r.more.length) queue.unshift(...r.more);
        buf = decomment(r.text).text;
        if (!(buf[0] === '@' || buf.includes('$'))) break;
      }
      if (drop || !buf) continue;
      // include: "include" then a blank, or includer/includem/includew/includeb/includea.
      const inc = /^include([rmwba]?)[ \t]+(.*)$/.exec(buf);
      if (inc) {
        includeFiles(inc[2]!.replace(/^[ \t]+/, ''), INCLUDE_TYPE[inc[1]!]!, file, lineNo, depth, stack);
        continue;
      }
      // Each brace splits the line; what follows is read as the next line (and goes through the
      // steps above again when it could need them). One pass when it cannot: long brace runs stay linear.
      const plain = !buf.includes('$');
      let at = 0;
      for (;;) {
        const split = braceSplitAt(buf, at);
        if (!split) { emitLine(buf.slice(at).replace(/[ \t]+$/, ''), file, lineNo, raw); break; }
        emitLine(buf.slice(at, split.end).replace(/[ \t]+$/, ''), file, lineNo, raw);
        at = split.rest;
        if (at >= buf.length) break;
        const c0 = buf[at]!;
        if (!plain || c0 === '@' || c0 === '~' || buf.startsWith('include', at)) { queue.unshift(buf.slice(at).replace(/[ \t]+$/, '')); break; }
      }
    }
  };

  /** ~SEQ(VAR, [START,] END[, STEP]) TEXT: TEXT once per value, with $VAR set. */
  const addSeq = (buf: string, file: string, lineNo: number): void => {
    const m = /^~SEQ(x?)[ \t]*\([ \t]*([^ \t,)]+)[ \t]*,([^)]*)\)[ \t]*(.*)$/.exec(buf);
    if (!m) { say(file, lineNo, `Invalid ~SEQ definition '${buf}'`); return; }
    const nums = replaceParams(m[3]!).text.split(',').map((x) => x.trim());
    const ok = nums.every((x) => /^[+-]?(0x[0-9a-fA-F]+|\d+)$/.test(x)) && nums.length <= 3;
    if (!ok) { say(file, lineNo, `Invalid ~SEQ definition '${buf}'`); return; }
    const n = nums.map(Number);
    let start: number, end: number, step: number;
    if (n.length === 1) { end = n[0]!; step = end < 1 ? -1 : 1; start = end < 0 ? -1 : 1; }
    else if (n.length === 2) { start = n[0]!; end = n[1]!; step = start <= end ? 1 : -1; }
    else { start = n[0]!; step = n[1]!; end = n[2]!; if (!step || (start < end && step < 0) || (start > end && step > 0)) { say(file, lineNo, `Invalid ~SEQ values '${buf}'`); return; } }
    const hex = m[1] === 'x';
    if (hex && (start < 0 || end < 0)) { say(file, lineNo, `~SEQx is only valid for positive numbers '${buf}'`); return; }
    const values: string[] = [];
    for (let v = start; step > 0 ? v <= end : v >= end; v += step) { values.push(hex ? v.toString(16) : String(v)); if (values.length > 65536) break; }
    seqs.push({ var: m[2]!, values, text: m[4]! });
  };

  const setIncludeCheck = (buf: string): void => {
    const words = splitWords(buf).words.slice(1).map((w) => w.text);
    if (!words.length) { includeCheck = INC.R | INC.M | INC.W | INC.B; return; }
    const flag: Record<string, number> = { read: INC.R, match: INC.M, wildcard_match: INC.W, brace_match: INC.B };
    words.forEach((w, i) => {
      const sign = w[0] === '-' || w[0] === '+' ? w[0] : '';
      if (!sign && i === 0) includeCheck = 0;
      const f = flag[sign ? w.slice(1) : w];
      if (!f) return;
      if (!sign) includeCheck = INC.R | f;
      else if (sign === '+') includeCheck |= f;
      else includeCheck &= ~f;
    });
  };

  let pendingDef: Def | null = null;

  const readFile = (file: string, depth: number, stack: readonly string[]): void => {
    const text = src.read(file);
    if (text === null) return;
    files.push(file);
    const saved = curFile;
    curFile = file;
    const phys = text.split('\n');
    for (let ln = 0; ln < phys.length && !stopped; ln++) {
      const lineNo = ln + 1;
      for (const piece of fgetsPieces(phys[ln]!, ln < phys.length - 1)) readPiece(piece, file, lineNo, depth, stack);
    }
    curFile = saved;
  };

  /** One fgets() read: a line, or a piece of a line longer than keepalived's buffer. */
  const readPiece = (piece: string, file: string, lineNo: number, depth: number, stack: readonly string[]): void => {
    {
      const raw = piece.replace(/[\r\n]+$/, '');
      if (!raw) {
        if (pendingDef) { if (!pendingDef.value) pendingDef.multiline = false; pendingDef = null; }
        return;
      }
      const dc = decomment(raw);
      if (dc.unterminated) say(file, lineNo, `Unterminated quote '${raw.replace(/^[ \t]+/, '')}'`);
      let buf = dc.text;
      if (!buf) return;
      if (pendingDef) {
        // A multi-line definition goes on while its lines end in '\'.
        let more = false;
        if (buf.endsWith('\\')) { buf = buf.slice(0, -1).replace(/[ \t]+$/, '') + '\n'; more = true; }
        if (buf.length >= 2 || (buf.length && !more)) pendingDef.value += buf;
        if (!more) { if (!pendingDef.value) pendingDef.multiline = false; pendingDef = null; }
        return;
      }
      processLine(buf, file, lineNo, raw, depth, stack);
      while (seqs.length && !stopped) {
        const s = seqs.shift()!;
        for (const v of s.values) { setDefinition(s.var, v); processLine(s.text, file, lineNo, raw, depth, stack); }
      }
    }
  };

  if (src.read(path) === null) {
    diags.push({ severity: 'error', file: path, line: 0, col: 0, message: 'cannot read the configuration file', ka: 'fatal' });
    return { lines, files };
  }
  readFile(path, 0, [path]);
  if (depthCount > 0) say(path, 0, `There are ${depthCount} missing '}'s or extra '{'s`);
  return { lines, files };
}

/**
 * keepalived reads with fgets() into a 1024-byte buffer: a longer line comes in pieces of 1023
 * bytes, each read as a line of its own (a comment in one piece does not hide the next).
 */
function fgetsPieces(line: string, hadNewline: boolean): string[] {
  const whole = hadNewline ? line + '\n' : line;
  if (whole.length < MAXBUF && Buffer.byteLength(whole) < MAXBUF) return [whole];
  const bytes = Buffer.from(whole);
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i += MAXBUF - 1) out.push(bytes.subarray(i, i + MAXBUF - 1).toString('utf8'));
  return out;
}

export function endCol(t: Tok): number {
  return t.col + t.text.length + (t.quoted ? 2 : 0);
}

