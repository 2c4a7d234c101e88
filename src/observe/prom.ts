/**
 * Prometheus text exposition format 0.0.4 (what every Prometheus server and node_exporter's
 * own parser read): `# HELP`, `# TYPE`, then one `name{labels} value` line per sample, every
 * sample of a family together. Pure string building, tuned for tens of thousands of samples:
 * label sets are rendered once (`labels()`) and reused across families.
 */

export type MetricType = 'counter' | 'gauge' | 'untyped';

/** Label value escaping of the text format: backslash, double quote and line feed. */
export function escapeLabel(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** `{a="x",b="y"}` (names in the order given; '' for no labels). */
export function labels(pairs: readonly (readonly [string, string])[]): string {
  if (pairs.length === 0) return '';
  let s = '{';
  for (let i = 0; i < pairs.length; i++) {
    const [k, v] = pairs[i]!;
    s += (i > 0 ? ',' : '') + k + '="' + escapeLabel(v) + '"';
  }
  return s + '}';
}

/** A label set with more labels appended (`{a="x"}` + b=y → `{a="x",b="y"}`). */
export function moreLabels(base: string, pairs: readonly (readonly [string, string])[]): string {
  if (pairs.length === 0) return base;
  const extra = labels(pairs);
  return base === '' ? extra : base.slice(0, -1) + ',' + extra.slice(1);
}

/** Sample values as Go's parser accepts them: integers exactly, NaN and infinities by name. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/**
 * Writes the text straight into bytes: a 1,000 x 10 table is ~6 MB, and building it as one string
 * cost more than the render itself (flattening the rope, then encoding it again for the socket).
 * Strings are written as UTF-8 (label values may be anything); the hot paths take label sets
 * already encoded (`sampleBytes`, see MetricsLabelCache) and write integers digit by digit.
 */
export class PromText {
  private buf: Buffer;
  private off = 0;
  /** Where the text not yet taken starts. */
  private start = 0;

  constructor(initial = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  /** Grows by doubling; what was taken stays valid (it keeps the old buffer). */
  private room(n: number): void {
    if (this.off + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.off - this.start + n));
    this.buf.copy(next, 0, this.start, this.off);
    this.off -= this.start;
    this.start = 0;
    this.buf = next;
  }

  /**
   * Starts over at the beginning of the same buffer, for the next scrape: a fresh multi-megabyte
   * buffer a scrape costs its page faults and copies as it grows. Only once nothing still reads
   * the text taken before (the response finished).
   */
  reset(): this {
    this.off = 0;
    this.start = 0;
    return this;
  }

  /** A string, UTF-8. */
  text(s: string): this {
    this.room(s.length * 3);
    this.off += this.buf.write(s, this.off, 'utf8');
    return this;
  }

  /** Bytes encoded beforehand (a cached label set or name). */
  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.off);
    this.off += b.length;
    return this;
  }

  /** A sample value, as String() writes it (integers digit by digit in 32-bit arithmetic, no string made). */
  value(v: number): this {
    if (!Number.isSafeInteger(v)) return this.text(Number.isFinite(v) ? String(v) : formatValue(v));
    this.room(17);
    if (v < 0) {
      this.buf[this.off++] = 45; // '-'
      v = -v;
    }
    if (v < 1e9) return this.digits(v | 0, 0);
    // Above 2^31 the arithmetic would be on doubles: write it as two halves of nine digits.
    let hi = Math.floor(v / 1e9);
    let lo = v - hi * 1e9;
    if (lo < 0) {
      hi--;
      lo += 1e9;
    }
    return this.digits(hi, 0).digits(lo, 9);
  }

  /** 0 <= v < 1e9, at least `width` digits (zero-padded). */
  private digits(v: number, width: number): this {
    let len = 1;
    for (let t = v; t >= 10; t = (t / 10) | 0) len++;
    if (len < width) len = width;
    const b = this.buf;
    let at = this.off + len;
    this.off = at;
    for (let k = 0; k < len; k++) {
      const q = (v / 10) | 0;
      b[--at] = 48 + v - q * 10;
      v = q;
    }
    return this;
  }

  /** Starts a family. HELP and TYPE lines are written even when no sample follows (client_golang omits them; harmless). */
  family(name: string, type: MetricType, help: string): this {
    return this.text('# HELP ' + name + ' ' + escapeHelp(help) + '\n# TYPE ' + name + ' ' + type + '\n');
  }

  /** One sample; `lbl` is a rendered label set from labels(). */
  sample(name: string, lbl: string, value: number): this {
    this.text(name + lbl + ' ').value(value);
    this.room(1);
    this.buf[this.off++] = 10;
    return this;
  }

  /** One sample from encoded pieces: `name` ends where the label set starts, `lbl` ends with the space before the value. */
  sampleBytes(name: Uint8Array, lbl: Uint8Array, value: number): this {
    this.room(name.length + lbl.length);
    const b = this.buf;
    b.set(name, this.off);
    b.set(lbl, this.off + name.length);
    this.off += name.length + lbl.length;
    this.value(value);
    this.room(1);
    this.buf[this.off++] = 10;
    return this;
  }

  /** Text produced elsewhere (e.g. the process metrics of prom-client), appended as it is. */
  raw(text: string): this {
    if (text) this.text(text.endsWith('\n') ? text : text + '\n');
    return this;
  }

  toString(): string {
    return this.buf.toString('utf8', this.start, this.off);
  }

  /** The bytes written since the last take (a view: valid until reset()). */
  take(): Buffer {
    const t = this.buf.subarray(this.start, this.off);
    this.start = this.off;
    return t;
  }
}

/** A parsed sample (tests and the node_exporter comparison). */
export interface ParsedSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/**
 * Parses text-format samples (comments skipped). Enough of the grammar for what Prometheus
 * clients write: quoted label values with escapes, optional timestamps ignored.
 */
export function parsePromText(text: string): { samples: ParsedSample[]; types: Map<string, string>; helps: Map<string, string> } {
  const samples: ParsedSample[] = [];
  const types = new Map<string, string>();
  const helps = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (m) (m[1] === 'TYPE' ? types : helps).set(m[2]!, m[3]!);
      continue;
    }
    let i = 0;
    while (i < line.length && line[i] !== '{' && line[i] !== ' ') i++;
    const name = line.slice(0, i);
    const lbl: Record<string, string> = {};
    if (line[i] === '{') {
      i++;
      while (line[i] !== '}') {
        const eq = line.indexOf('=', i);
        const key = line.slice(i, eq).replace(/^,/, '');
        let j = eq + 2;
        let v = '';
        while (line[j] !== '"') {
          if (line[j] === '\\') {
            const c = line[j + 1];
            v += c === 'n' ? '\n' : c;
            j += 2;
          } else v += line[j++];
        }
        lbl[key] = v;
        i = j + 1;
        if (line[i] === ',') i++;
        if (i >= line.length) throw new Error(`unterminated label set: ${line}`);
      }
      i++;
    }
    const rest = line.slice(i).trim().split(/\s+/);
    const vs = rest[0] ?? '';
    const value = vs === '+Inf' ? Infinity : vs === '-Inf' ? -Infinity : Number(vs);
    samples.push({ name, labels: lbl, value });
  }
  return { samples, types, helps };
}
