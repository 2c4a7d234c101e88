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

/** Appends to one string (V8 ropes: cheaper than an array of pieces joined at the end). */
export class PromText {
  private out = '';

  /** Starts a family. HELP and TYPE lines are written even when no sample follows (client_golang omits them; harmless). */
  family(name: string, type: MetricType, help: string): this {
    this.out += '# HELP ' + name + ' ' + escapeHelp(help) + '\n# TYPE ' + name + ' ' + type + '\n';
    return this;
  }

  /** One sample; `lbl` is a rendered label set from labels(). */
  sample(name: string, lbl: string, value: number): this {
    this.out += name + lbl + ' ' + (Number.isFinite(value) ? String(value) : formatValue(value)) + '\n';
    return this;
  }

  /** Text produced elsewhere (e.g. the process metrics of prom-client), appended as it is. */
  raw(text: string): this {
    if (text) this.out += text.endsWith('\n') ? text : text + '\n';
    return this;
  }

  toString(): string {
    return this.out;
  }

  /** The text so far, and start afresh. */
  take(): string {
    const t = this.out;
    this.out = '';
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
