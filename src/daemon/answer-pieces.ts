/**
 * A long answer written in pieces (pure: no I/O). An answer is one JSON line; `tsvsadm -L -c -n`
 * of a million connections makes it an 80 MB line, and JSON.stringify of it in one go held the
 * daemon's thread (which forwards packets in packet mode) 1.4 s. So the answer's longest string
 * (the listing) is left out of the one stringify, and its text is escaped and written a piece at a
 * time: the bytes on the wire are the same line JSON.stringify would have made (escaping a string
 * piece by piece gives the escapes of the whole, as long as no surrogate pair is cut).
 */

/** Strings longer than this are written in pieces of this many characters. */
export const PIECE_CHARS = 1 << 20;

/** An answer split around its longest string: head + escaped pieces of `text` + tail is the line. */
export interface AnswerPieces {
  /** Up to and including the string's opening quote. */
  readonly head: string;
  readonly text: string;
  /** From the string's closing quote to the end of the line (newline included). */
  readonly tail: string;
}

const MARK = '\u0000tsvs:piece\u0000';
const MARK_JSON = JSON.stringify(MARK);

/** The path to the longest string in plain objects (arrays left alone), if it is over `min` characters. */
function longest(v: unknown, min: number): string[] | null {
  let best: string[] | null = null;
  let bestLen = min;
  const walk = (o: Record<string, unknown>, path: string[]): void => {
    for (const [k, x] of Object.entries(o)) {
      if (typeof x === 'string' && x.length > bestLen) { best = [...path, k]; bestLen = x.length; }
      else if (x !== null && typeof x === 'object' && !Array.isArray(x)) walk(x as Record<string, unknown>, [...path, k]);
    }
  };
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) walk(v as Record<string, unknown>, []);
  return best;
}

function replaced(o: Record<string, unknown>, path: readonly string[], value: string): Record<string, unknown> {
  const [k, ...rest] = path;
  return { ...o, [k!]: rest.length === 0 ? value : replaced(o[k!] as Record<string, unknown>, rest, value) };
}

function at(o: Record<string, unknown>, path: readonly string[]): string {
  let x: unknown = o;
  for (const k of path) x = (x as Record<string, unknown>)[k];
  return x as string;
}

/** The answer's line split for writing in pieces, or null when it is short enough for one write. */
export function answerPieces(answer: Record<string, unknown>, min = PIECE_CHARS): AnswerPieces | null {
  const path = longest(answer, min);
  if (!path) return null;
  const line = JSON.stringify(replaced(answer, path, MARK));
  const i = line.indexOf(MARK_JSON);
  return { head: line.slice(0, i + 1), text: at(answer, path), tail: line.slice(i + MARK_JSON.length - 1) + '\n' };
}

/**
 * The text's pieces, escaped as inside a JSON string (no quotes). A piece never ends between the
 * two halves of a surrogate pair, so the pieces are byte for byte the escape of the whole.
 */
export function* escapedPieces(p: AnswerPieces, chars = PIECE_CHARS): Generator<string> {
  const t = p.text;
  for (let from = 0; from < t.length;) {
    let to = Math.min(t.length, from + chars);
    const last = t.charCodeAt(to - 1);
    if (to < t.length && last >= 0xd800 && last <= 0xdbff) to++;
    yield JSON.stringify(t.slice(from, to)).slice(1, -1);
    from = to;
  }
}
