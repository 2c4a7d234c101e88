import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, rmSync } from 'node:fs';
import { sh, nsSh, shTry, spawnInNs, killPid, waitFor, alive } from '../../src/lab/netns.ts';
import { labUp, labDown, curlFromClient, labNs, LAB } from '../../src/lab/topology.ts';
import { nftTablePresent } from '../../src/os/nft.ts';

const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root (network namespaces, AF_PACKET)';

for (const version of [2, 3] as const) test(`AF_PACKET: frames sent with sendto and sendmmsg come back intact through the TPACKET_V${version} RX ring; ${version === 2 ? 'a frame is readable as soon as it was sent' : 'a frame waits for its block to retire'}`, { skip, timeout: 30_000 }, () => {
  const ns = `tsvs-ring${process.pid}v${version}`;
  sh(['ip', 'netns', 'add', ns]);
  try {
    nsSh(ns, ['ip', 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb']);
    nsSh(ns, ['ip', 'link', 'set', 'va', 'up']);
    nsSh(ns, ['ip', 'link', 'set', 'vb', 'up']);
    const r = shTry(['ip', 'netns', 'exec', ns, process.execPath, '--import', 'tsx', 'test/packet-io/fixtures/ring-probe.ts', '2000', String(version)]);
    assert.equal(r.status, 0, r.err);
    const res = JSON.parse(r.out) as { immediate: boolean; soon: boolean; got: number; intact: number; sent: number; batchSent: number; batchErrors: number };
    if (version === 2) assert.equal(res.soon, true, 'a V2 frame is handed over at once');
    else assert.equal(res.immediate, false, 'a V3 block is handed over only when it retires');
    assert.equal(res.batchErrors, 0);
    assert.equal(res.batchSent, 1000);
    assert.equal(res.got, 2000);
    assert.equal(res.intact, 2000);
  } finally {
    shTry(['ip', 'netns', 'del', ns]);
  }
});

const sentCounter = { nat: 'masqIn', dr: 'route', tun: 'tunnel' } as const;

/** The fixture's JSON lines (the 'ready' line aside). */
function fixtureLines(log: string): Record<string, unknown>[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

for (const mode of ['nat', 'dr'] as const) {
  test(`startPacketForwarder (${mode}) over a bare Engine: two fanout workers, most packets forwarded from the workers' decision caches, the engine's counters equal the forwarded packets even when -Z comes while the engine is behind the workers, nft table installed then removed`, { skip, timeout: 90_000 }, async () => {
    const prefix = `tsvs-e${process.pid}${mode}`;
    const log = `/run/tsvs/${prefix}-engine.log`;
    rmSync(log, { force: true });
    let pid = 0;
    try {
      await labUp(mode, { prefix, director: 'none' });
      pid = spawnInNs(labNs(prefix).dir, [process.execPath, '--import', 'tsx', 'test/packet-io/fixtures/engine-director.ts', mode, LAB.vip, ...LAB.rs], log);
      assert.ok(await waitFor(() => existsSync(log) && readFileSync(log, 'utf8').includes('ready'), 20_000, 100), existsSync(log) ? readFileSync(log, 'utf8') : 'no log');
      assert.ok(nftTablePresent(labNs(prefix).dir));
      const warm = curlFromClient(prefix, 6);
      assert.deepEqual([...warm].sort(), ['test1', 'test1', 'test1', 'test2', 'test2', 'test2'], warm.join(','));
      // The engine is busy while the client's closing packets go out from the workers' caches,
      // then -Z: they were forwarded before the zero, so the engine must count them before it.
      process.kill(pid, 'SIGUSR2');
      assert.ok(await waitFor(() => fixtureLines(log).some((l) => 'zeroed' in l), 10_000, 50), 'zeroed');
      const zeroed = fixtureLines(log).find((l) => 'zeroed' in l)!['zeroed'] as Record<string, number>;
      const bodies = curlFromClient(prefix, 5);
      assert.equal(bodies.filter((b) => b === 'test1' || b === 'test2').length, 5, bodies.join(','));
      await killPid(pid, 5000);
      const counters = fixtureLines(log).pop() as Record<string, number> & { listing: string };
      const sent = counters[sentCounter[mode]]! - zeroed[sentCounter[mode]]!;
      assert.ok(sent >= 5 * 4, `forwarded ${sent} packets for 5 requests`);
      // Most packets take the fast path (decision cached in the worker, engine told afterwards)...
      assert.ok(counters.cached! > 11 * 3, `cached ${counters.cached}`);
      assert.equal(counters.divergent, 0);
      // ...and the engine still counted every one of them, exactly.
      const svc = /TCP\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)/.exec(counters.listing)!;
      const out = mode === 'nat' ? counters.masqOut! - zeroed['masqOut']! : 0;
      assert.deepEqual({ conns: +svc[1]!, inpkts: +svc[2]!, outpkts: +svc[3]! }, { conns: 5, inpkts: sent, outpkts: out }, `${counters.listing}\nzeroed ${JSON.stringify(zeroed)}\nend ${JSON.stringify({ ...counters, listing: undefined })}`);
      assert.equal(nftTablePresent(labNs(prefix).dir), false, 'table removed on exit');
    } finally {
      if (pid && alive(pid)) await killPid(pid);
      await labDown(prefix);
      rmSync(log, { force: true });
    }
  });
}
