import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseKeepalived } from '../../src/config/keepalived.ts';
import { parseLdirectord } from '../../src/config/ldirectord.ts';
import { memorySource } from '../../src/config/source.ts';
import type { LoadResult } from '../../src/config/desired.ts';

const FX = join(import.meta.dirname, 'fixtures');
const fixtures = readdirSync(FX).filter((f) => /\.(conf|cf)$/.test(f)).map((f) => ({ name: f, text: readFileSync(join(FX, f), 'utf8'), ld: f.endsWith('.cf') }));

/** Deterministic PRNG (mulberry32) so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOKENS = ['{', '}', '"', '#', '!', '\n', ' ', 'virtual_server', 'real_server', 'include *.conf', '@x ', '$A=', '${A}', '=', 'virtual=', '\treal=', '->', ':', '[', ']', '-', 'fwmark', 'group', '0', '65536', '-1', '1e9', '::', '10.0.0.1', 'HTTP_GET', 'url', 'status_code 200-', 'lb_kind', 'TUN', 'vrrp_instance'];

function mutate(text: string, r: () => number): string {
  const n = 1 + Math.floor(r() * 6);
  let s = text;
  for (let i = 0; i < n; i++) {
    const at = Math.floor(r() * (s.length + 1));
    const op = Math.floor(r() * 4);
    if (op === 0) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(r() * 20));
    else if (op === 1) s = s.slice(0, at) + TOKENS[Math.floor(r() * TOKENS.length)] + s.slice(at);
    else if (op === 2) s = s.slice(0, at);
    else { const b = Math.floor(r() * s.length); s = s.slice(0, at) + s.slice(b, b + 30) + s.slice(at); }
  }
  return s;
}

function checkClean(r: LoadResult, what: string): void {
  assert.ok(Array.isArray(r.diagnostics), what);
  for (const d of r.diagnostics) {
    assert.ok(d.severity === 'error' || d.severity === 'warning', what);
    assert.ok(Number.isInteger(d.line) && d.line >= 0 && Number.isInteger(d.col) && d.col >= 0, `${what}: bad position ${JSON.stringify(d)}`);
    assert.ok(typeof d.message === 'string' && d.message.length > 0 && !/undefined|NaN|\[object/.test(d.message), `${what}: message ${d.message}`);
  }
  const hasErr = r.diagnostics.some((d) => d.severity === 'error');
  assert.equal(r.state === null, hasErr, `${what}: state is null exactly when there are errors`);
}

function parseAs(ld: boolean, text: string, extra: Record<string, string> = {}): LoadResult {
  const src = memorySource({ '/etc/x/main.conf': text, ...extra });
  return ld ? parseLdirectord('/etc/x/main.conf', src) : parseKeepalived('/etc/x/main.conf', src);
}

test('mutated fixtures (2000 per reader, seeded) give clean diagnostics, never a throw', () => {
  const r = rng(20240501);
  const t0 = Date.now();
  let refused = 0;
  for (let i = 0; i < 4000; i++) {
    const f = fixtures[Math.floor(r() * fixtures.length)]!;
    const ld = i % 2 === 0 ? f.ld : !f.ld;
    const text = mutate(f.text, r);
    let res: LoadResult;
    try { res = parseAs(ld, text, { '/etc/x/a.conf': mutate(f.text, r) }); } catch (e) { assert.fail(`iteration ${i} (${f.name}) threw: ${(e as Error).stack}\n--- input ---\n${text}`); }
    checkClean(res, `iteration ${i} (${f.name})`);
    if (!res.state) refused++;
  }
  assert.ok(refused > 100, 'the mutations do produce errors');
  assert.ok(Date.now() - t0 < 60_000);
});

test('every truncation of every fixture gives clean diagnostics', () => {
  for (const f of fixtures) {
    for (let n = 0; n <= f.text.length; n += 7) {
      const res = parseAs(f.ld, f.text.slice(0, n));
      checkClean(res, `${f.name} cut at ${n}`);
    }
  }
});

test('random bytes give clean diagnostics for both readers', () => {
  const r = rng(7);
  for (let i = 0; i < 500; i++) {
    const len = Math.floor(r() * 2000);
    const buf = Buffer.alloc(len);
    for (let j = 0; j < len; j++) buf[j] = Math.floor(r() * 256);
    const text = buf.toString('latin1');
    checkClean(parseAs(false, text), `ka bytes ${i}`);
    checkClean(parseAs(true, text), `ld bytes ${i}`);
  }
});

test('pathological inputs finish quickly: deep nesting, huge ranges, long lines, self-including globs', () => {
  const cases = [
    '{'.repeat(100_000),
    '}'.repeat(50_000),
    'virtual_server '.repeat(20_000),
    'virtual_server_group G {\n 10.0.0.0-255 80\n 2001:db8::0-ffff 80\n}\nvirtual_server group G {\n protocol TCP\n real_server 10.1.1.1 80 {\n }\n}\n',
    '"'.repeat(100_000),
    'include *\n',
    '$A=${A}${A}\n$B=$A$A\n' + 'x ${B}\n'.repeat(100),
  ];
  for (const c of cases) {
    const t0 = Date.now();
    const res = parseAs(false, c, { '/etc/x/b.conf': 'include main.conf\n' });
    checkClean(res, c.slice(0, 30));
    assert.ok(Date.now() - t0 < 5000, `too slow on ${c.slice(0, 30)}`);
  }
  const t0 = Date.now();
  checkClean(parseAs(true, 'virtual=10.0.0.1:80\n\treal=10.0.0.0->10.255.255.255:80 gate\n' + '\treal=1.2.3.4:80 gate 1 "' + 'x'.repeat(200_000) + '\n'), 'ld huge');
  assert.ok(Date.now() - t0 < 5000);
});
