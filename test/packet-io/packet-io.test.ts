import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, rmSync } from 'node:fs';
import { sh, nsSh, shTry, spawnInNs, killPid, waitFor, alive } from '../../src/lab/netns.ts';
import { labUp, labDown, curlFromClient, labNs, LAB } from '../../src/lab/topology.ts';
import { nftTablePresent } from '../../src/forwarders/packet/nft.ts';

const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root (network namespaces, AF_PACKET)';

test('AF_PACKET: frames sent with sendto and sendmmsg come back intact through the TPACKET_V3 RX ring', { skip, timeout: 30_000 }, () => {
  const ns = `tsvs-ring${process.pid}`;
  sh(['ip', 'netns', 'add', ns]);
  try {
    nsSh(ns, ['ip', 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb']);
    nsSh(ns, ['ip', 'link', 'set', 'va', 'up']);
    nsSh(ns, ['ip', 'link', 'set', 'vb', 'up']);
    const r = shTry(['ip', 'netns', 'exec', ns, process.execPath, '--import', 'tsx', 'test/packet-io/fixtures/ring-probe.ts', '2000']);
    assert.equal(r.status, 0, r.err);
    const res = JSON.parse(r.out) as { got: number; intact: number; sent: number; batchSent: number; batchErrors: number };
    assert.equal(res.batchErrors, 0);
    assert.equal(res.batchSent, 1000);
    assert.equal(res.got, 2000);
    assert.equal(res.intact, 2000);
  } finally {
    shTry(['ip', 'netns', 'del', ns]);
  }
});

for (const mode of ['nat'] as const) {
  test(`startPacketForwarder (${mode}) over a bare Engine: two fanout workers, the engine's counters equal the forwarded packets (with TSVS_FLOW_CACHE=1 most from the workers' decision caches), nft table installed then removed`, { skip, timeout: 90_000 }, async () => {
    const prefix = `tsvs-e${process.pid}${mode}`;
    const log = `/run/tsvs/${prefix}-engine.log`;
    rmSync(log, { force: true });
    let pid = 0;
    try {
      await labUp(mode, { prefix, director: 'none' });
      pid = spawnInNs(labNs(prefix).dir, [process.execPath, '--import', 'tsx', 'test/packet-io/fixtures/engine-director.ts', mode, LAB.vip, ...LAB.rs], log);
      assert.ok(await waitFor(() => existsSync(log) && readFileSync(log, 'utf8').includes('ready'), 20_000, 100), existsSync(log) ? readFileSync(log, 'utf8') : 'no log');
      assert.ok(nftTablePresent(labNs(prefix).dir));
      const bodies = curlFromClient(prefix, 6);
      assert.deepEqual([...bodies].sort(), ['test1', 'test1', 'test1', 'test2', 'test2', 'test2'], bodies.join(','));
      await killPid(pid, 5000);
      const counters = JSON.parse(readFileSync(log, 'utf8').trim().split('\n').pop()!) as Record<string, number> & { listing: string };
      assert.ok(counters.masqIn! >= 6 * 4, `forwarded ${counters.masqIn} packets for 6 requests`);
      assert.ok(counters.masqOut! >= 6 * 4);
      // Most packets take the fast path (decision cached in the worker, engine told afterwards)...
      if (process.env['TSVS_FLOW_CACHE'] === '1') assert.ok(counters.cached! > 6 * 4, `cached ${counters.cached}`);
      else assert.equal(counters.cached, 0, 'fast path off by default');
      assert.equal(counters.divergent, 0);
      // ...and the engine still counted every one of them.
      const svc = /TCP\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)/.exec(counters.listing)!;
      assert.deepEqual([+svc[1]!, +svc[2]!, +svc[3]!], [6, counters.masqIn, counters.masqOut], counters.listing);
      assert.equal(nftTablePresent(labNs(prefix).dir), false, 'table removed on exit');
    } finally {
      if (pid && alive(pid)) await killPid(pid);
      await labDown(prefix);
      rmSync(log, { force: true });
    }
  });
}
