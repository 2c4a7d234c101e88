/** /metrics with --bgp bird (docs/SCALE-OUT.md): the announcement, the sessions and BIRD, from a hand-built snapshot. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderMetrics } from '../../src/observe/metrics.ts';
import { parsePromText } from '../../src/observe/prom.ts';
import { snapshot } from './fixtures.ts';

const render = (s: Parameters<typeof renderMetrics>[0]) => parsePromText(renderMetrics(s, { version: '1' }));

test('BGP families: one gauge per prefix and per neighbour, drain, BIRD up and its starts', () => {
  const m = render(snapshot({
    bgp: {
      draining: true, birdRunning: true, birdStarts: 2,
      prefixes: [{ prefix: '10.0.0.100/32', announced: false }, { prefix: 'fd00:100::100/128', announced: true }],
      peers: [{ address: '192.168.10.254', established: true }, { address: 'fd00:10::fe', established: false }],
    },
  }));
  const v = (name: string, l: Record<string, string> = {}) => m.samples.filter((s) => s.name === name && Object.entries(l).every(([k, x]) => s.labels[k] === x)).map((s) => s.value);
  assert.deepEqual(v('tsvs_bgp_prefix_announced', { prefix: '10.0.0.100/32' }), [0]);
  assert.deepEqual(v('tsvs_bgp_prefix_announced', { prefix: 'fd00:100::100/128' }), [1]);
  assert.deepEqual(v('tsvs_bgp_session_established', { peer: '192.168.10.254' }), [1]);
  assert.deepEqual(v('tsvs_bgp_session_established', { peer: 'fd00:10::fe' }), [0]);
  assert.deepEqual([v('tsvs_bgp_draining'), v('tsvs_bgp_daemon_up'), v('tsvs_bgp_daemon_starts_total')], [[1], [1], [2]]);
  assert.equal(m.types.get('tsvs_bgp_daemon_starts_total'), 'counter');
});

test('no BGP families without --bgp', () => {
  for (const s of [snapshot(), snapshot({ bgp: null })]) assert.ok(!render(s).samples.some((x) => x.name.startsWith('tsvs_bgp_')));
});
