// The BIRD adapter (src/ha/announce/bird.ts): its configuration is one BIRD itself accepts, its
// reading of BIRD's control socket, and (root) the real thing: a BirdAnnouncer in one namespace
// announcing to a router BIRD in another (src/lab/bgp-router.ts), whose kernel table must follow:
// announce, withdraw, BIRD killed and restarted by the adapter, a clean stop.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BirdAnnouncer, parseBirdReply, parseProtocols, renderBirdConfig, type BgpSettings } from '../../src/ha/announce/bird.ts';
import { renderRouterConfig, routeNextHops, startRouterBird, type RouterHandle } from '../../src/lab/bgp-router.ts';
import { Lab, isRoot, waitFor } from '../helpers/netns.ts';

const haveBird = spawnSync('bird', ['--version']).status === 0;
const settings = (o: Partial<BgpSettings> = {}): BgpSettings => ({ localAs: 65001, peers: ['192.168.77.254'], peerAs: 65000, routerId: '192.168.77.1', holdSeconds: 3, ...o });

describe('BIRD configuration', { skip: haveBird ? false : 'bird (Debian bird2) is not installed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-bird-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const parses = (text: string): { ok: boolean; out: string } => {
    const f = join(dir, 'c.conf');
    writeFileSync(f, text);
    const r = spawnSync('bird', ['-p', '-c', f], { encoding: 'utf8' });
    return { ok: r.status === 0, out: r.stderr + r.stdout };
  };
  // [what, settings, prefixes]
  const rows: [string, BgpSettings, string[]][] = [
    ['nothing announced', settings(), []],
    ['IPv4 and IPv6 prefixes, IPv4 and IPv6 neighbours', settings({ peers: ['192.168.77.254', 'fd00:77::fe', '192.168.77.253'] }), ['10.0.0.100/32', '10.0.1.0/24', 'fd00:100::100/128']],
    ['a 4-byte AS, a long hold', settings({ localAs: 4200000001, peerAs: 4200000000, holdSeconds: 240 }), ['10.0.0.100/32']],
  ];
  for (const [what, s, p] of rows) {
    it(`BIRD accepts the director's configuration: ${what}`, () => {
      const text = renderBirdConfig(s, p);
      const r = parses(text);
      assert.ok(r.ok, `${r.out}\n${text}`);
      for (const x of p) assert.ok(text.includes(`route ${x} blackhole;`), x);
      assert.equal((text.match(/protocol bgp tsvs_peer\d+ \{/g) ?? []).length, s.peers.length);
      assert.ok(/graceful restart off;/.test(text), 'a router must not keep a dead director\'s routes as stale');
    });
  }

  it('the lab router\'s configuration parses too', () => {
    const r = parses(renderRouterConfig({ routerId: '192.168.77.254', localAs: 65000, holdSeconds: 3, peers: [{ name: 'dir1', address: '192.168.77.1', as: 65001 }, { name: 'dir6', address: 'fd00:77::1', as: 65001 }] }));
    assert.ok(r.ok, r.out);
  });
});

describe('BIRD control socket replies', () => {
  it('replies end at a line whose code is followed by a space; continuation lines keep the code', () => {
    const text = '0001 BIRD 2.0.12 ready.\n2002-Name       Proto      Table      State  Since         Info\n1002-device1    Device     ---        up     2026-12-07 05:59:49  \n     tsvs_peer1 BGP        ---        up     2026-12-07 05:59:50  Established   \n     tsvs_peer2 BGP        ---        start  2026-12-07 05:59:51  Active        Socket: Connection refused\n0000 \n0002-Reading configuration from /x\n0003 Reconfigured\n8002 /x:3:1 syntax error\n1007-Table master4:\n';
    const { replies, rest } = parseBirdReply(text);
    assert.deepEqual(replies.map((r) => [r.ok, r.lines.length, r.lines[r.lines.length - 1]!.code]), [[true, 1, 1], [true, 5, 0], [true, 2, 3], [false, 1, 8002]]);
    assert.equal(rest, '1007-Table master4:\n', 'an unfinished reply stays in the buffer');
    assert.deepEqual(parseProtocols(replies[1]!, ['10.1.1.1', 'fd00::1']), [
      { name: 'tsvs_peer1', address: '10.1.1.1', state: 'up', since: '2026-12-07 05:59:50', bgpState: 'Established', info: '' },
      { name: 'tsvs_peer2', address: 'fd00::1', state: 'start', since: '2026-12-07 05:59:51', bgpState: 'Active', info: 'Socket: Connection refused' },
    ]);
  });

  it('a reply cut anywhere reads the same once complete', () => {
    const text = '0002-Reading configuration from /x\n0003 Reconfigured\n';
    for (let cut = 0; cut <= text.length; cut++) {
      const a = parseBirdReply(text.slice(0, cut));
      const b = parseBirdReply(a.rest + text.slice(cut));
      assert.equal(a.replies.length + b.replies.length, 1, `cut at ${cut}`);
      assert.deepEqual([...a.replies, ...b.replies][0]!.lines.map((l) => l.code), [2, 3]);
    }
  });
});

const skipLive = !isRoot ? 'needs root (network namespaces, BGP port 179)' : !haveBird ? 'bird (Debian bird2) is not installed' : false;
if (skipLive) console.log(`# skipping the live BIRD announcer test: ${skipLive}`);

describe('BirdAnnouncer against a router BIRD (namespaces)', { skip: skipLive }, () => {
  const lab = new Lab('bgpa');
  let dirNs = '', routerNs = '', router: RouterHandle | null = null, bird: BirdAnnouncer | null = null;
  const base = join(tmpdir(), `tsvs-bgpa-${process.pid}`);
  const logs: string[] = [];
  before(async () => {
    dirNs = lab.ns('d');
    routerNs = lab.ns('r');
    const [da, db] = lab.link(dirNs, '192.168.77.1/24', routerNs, '192.168.77.254/24');
    spawnSync('ip', ['-n', dirNs, '-6', 'addr', 'add', 'fd00:77::1/64', 'dev', da, 'nodad']);
    spawnSync('ip', ['-n', routerNs, '-6', 'addr', 'add', 'fd00:77::fe/64', 'dev', db, 'nodad']);
    router = await startRouterBird(routerNs, `${base}-router`, {
      routerId: '192.168.77.254', localAs: 65000, holdSeconds: 3,
      peers: [{ name: 'dir1', address: '192.168.77.1', as: 65001 }, { name: 'dir1v6', address: 'fd00:77::1', as: 65001 }],
    });
    bird = new BirdAnnouncer({
      settings: settings({ peers: ['192.168.77.254', 'fd00:77::fe'] }), base: `${base}-dir`, command: ['ip', 'netns', 'exec', dirNs, 'bird'],
      log: { info: (o) => logs.push(JSON.stringify(o)), warn: (o) => logs.push(JSON.stringify(o)), error: (o) => logs.push(JSON.stringify(o)) },
      write: (p, t) => writeFileSync(p, t),
    });
    await bird.start();
  });
  after(async () => {
    await bird?.stop(0);
    if (router) try { process.kill(router.pid, 'SIGKILL'); } catch { /* gone */ }
    await lab.cleanup();
    for (const f of ['-dir.conf', '-dir.ctl', '-router.conf', '-router.ctl', '-router.log']) rmSync(base + f, { force: true });
  });

  const hops = () => routeNextHops(routerNs, '10.0.0.100/32').join();
  const hops6 = () => routeNextHops(routerNs, 'fd00:100::100/128').join();

  it('the sessions (IPv4 and IPv6) come up and nothing is announced until asked', async () => {
    let st = await bird!.status();
    const up = () => st.peers.length === 2 && st.peers.every((p) => p.bgpState === 'Established');
    for (const t0 = Date.now(); Date.now() - t0 < 15000 && !up(); st = await bird!.status()) await new Promise((r) => setTimeout(r, 100));
    assert.ok(up(), `${JSON.stringify(st)}\n${logs.join('\n')}`);
    assert.deepEqual([st.running, st.peers.map((p) => p.address), st.announced], [true, ['192.168.77.254', 'fd00:77::fe'], []]);
    assert.deepEqual([hops(), hops6()], ['', '']);
  });

  it('set() announces and withdraws: the router\'s kernel route follows', async () => {
    await bird!.set(['10.0.0.100/32']);
    assert.ok(await waitFor(() => hops() === '192.168.77.1', 5000) >= 0, 'route installed');
    await bird!.set(['fd00:100::100/128', '10.0.0.100/32']);
    assert.ok(await waitFor(() => hops6() === 'fd00:77::1', 5000) >= 0, `IPv6 route installed through the IPv6 session: ${hops6()}`);
    assert.equal(hops(), '192.168.77.1');
    await bird!.set([]);
    assert.ok(await waitFor(() => hops() === '' && hops6() === '', 5000) >= 0, 'routes withdrawn');
    await bird!.set(['10.0.0.100/32']);
    assert.ok(await waitFor(() => hops() === '192.168.77.1', 5000) >= 0, 'route installed again');
  });

  it('BIRD killed: its session closes (the router withdraws at once), the adapter starts it again and the route comes back', async () => {
    const pid = (await bird!.status()).pid!;
    const st0 = await bird!.status();
    process.kill(pid, 'SIGKILL');
    const gone = await waitFor(() => hops() === '', 3000, 5);
    assert.ok(gone >= 0 && gone < 1000, `withdrawn in ${gone.toFixed(0)} ms`);
    assert.ok(await waitFor(() => hops() === '192.168.77.1', 15000, 50) >= 0, `announced again after the restart:\n${logs.slice(-10).join('\n')}`);
    const st = await bird!.status();
    assert.equal(st.starts, st0.starts + 1);
    assert.notEqual(st.pid, pid);
  });

  it('stop() withdraws, then stops BIRD', async () => {
    const pid = (await bird!.status()).pid!;
    await bird!.stop(0);
    assert.ok(await waitFor(() => hops() === '', 3000) >= 0);
    assert.throws(() => process.kill(pid, 0));
    assert.equal(existsSync(`${base}-dir.ctl`), false);
    bird = null;
  });
});
