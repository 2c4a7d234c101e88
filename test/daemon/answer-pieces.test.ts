// A long control-socket answer written in pieces (src/daemon/answer-pieces.ts): the pieces put
// together are the line JSON.stringify makes of the whole answer, whatever the text holds and
// wherever a piece ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerPieces, escapedPieces } from '../../src/daemon/answer-pieces.ts';

function joined(answer: Record<string, unknown>, min: number, chars: number): string | null {
  const p = answerPieces(answer, min);
  if (!p) return null;
  return p.head + [...escapedPieces(p, chars)].join('') + p.tail;
}

test('pieces put together are JSON.stringify of the whole answer plus a newline', () => {
  const listing = 'TCP  10.0.0.1:80 rr\n  -> "quoted" \\ back\ttab \u0001 é 😀 end\n'.repeat(7);
  const rows: [string, Record<string, unknown>, number][] = [
    ['the listing at the top level', { v: 1, id: 3, ok: true, stdout: listing, stderr: '', code: 0 }, 1],
    ['the listing one level down', { v: 1, id: 'x', ok: true, result: { stdout: listing, stderr: 'w', code: 0 } }, 1],
    ['a piece ending inside a surrogate pair (odd piece sizes)', { v: 1, id: 1, ok: true, stdout: listing }, 7],
    ['one-character pieces', { v: 1, id: 1, ok: true, stdout: listing }, 1],
    ['pieces as long as the text', { v: 1, id: 1, ok: true, stdout: listing }, listing.length],
    ['the longest of two long strings is the one cut', { v: 1, id: 1, ok: true, stdout: listing, stderr: listing.slice(0, 40) }, 13],
  ];
  for (const [what, answer, chars] of rows) {
    const line = joined(answer, 10, chars);
    assert.equal(line, JSON.stringify(answer) + '\n', what);
    assert.deepEqual(JSON.parse(line!), answer, what);
  }
});

test('a short answer, or one whose long strings are only in arrays, is written in one go', () => {
  assert.equal(answerPieces({ v: 1, id: 1, ok: true, stdout: 'short' }, 10), null);
  assert.equal(answerPieces({ v: 1, id: 1, ok: true, lines: ['x'.repeat(100)] }, 10), null);
});
