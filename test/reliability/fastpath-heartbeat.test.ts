/**
 * A daemon that dies does not leave the kernel fast path deciding alone (DR lab, root): with the
 * daemon killed by SIGKILL (its tc filter stays attached), a new connection is no longer sent to
 * the decisions made ahead once the heartbeat is older than --fast-path-stale (500 ms): it goes
 * to the director's own stack (where the nftables table left behind drops it), no real server
 * sees it. An established download
 * keeps flowing through the kernel for --fast-path-orphan (4 s here) after the last heartbeat,
 * then stops. Figures printed: how long the download continued after the kill.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { labUp, labDown, labNs, LAB, labAdm, labForwarderStatus, labKillDirector, curlFromClient } from '../../src/lab/topology.ts';
import { listNetns, alive } from '../../src/lab/netns.ts';
import { figures } from './helpers.ts';

const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root (network namespaces, AF_PACKET, tc, BPF)';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const download = fileURLToPath(new URL('./fixtures/slow-download.mjs', import.meta.url));
const prefix = `tsvs-hb${process.pid % 10000}`;
const ORPHAN_MS = 4000;

describe('kernel fast path without the daemon: no new decisions after the stale bound, known flows for the orphan bound', { skip, timeout: 120_000 }, () => {
  let pids: number[] = [];
  before(async () => {
    pids = (await labUp('dr', { prefix, fastPath: 'tc', daemonArgs: ['--fast-path-orphan', String(ORPHAN_MS)] })).pids;
  });
  after(async () => {
    await labDown(prefix);
    assert.deepEqual(listNetns().filter((n) => n.startsWith(prefix)), []);
    for (const p of pids) assert.equal(alive(p), false, `pid ${p} stopped`);
  });

  it('kill -9: after 500 ms a new connection is not forwarded (no real server answers); an established download continues about 4 s, then stops', async () => {
    const before = curlFromClient(prefix, 2);
    assert.ok(before.every((b) => b === 'test1' || b === 'test2'), before.join(','));
    // Decisions ahead are waiting in the kernel (rr DR service; once the real servers' next hops
    // are known): what a dead daemon must not hand out.
    let st = await labForwarderStatus(prefix);
    for (const t0 = Date.now(); !((st?.fastPath?.['aheadServices'] ?? 0) >= 1) && Date.now() - t0 < 3000; st = await labForwarderStatus(prefix)) await sleep(100);
    assert.ok(st?.fastPath, 'the fast path is on');
    assert.ok((st.fastPath['aheadServices'] ?? 0) >= 1, 'the service takes decisions ahead');
    const hb = (st.fastPath as unknown as { heartbeat?: { staleMs: number; orphanMs: number } }).heartbeat;
    assert.deepEqual(hb && { staleMs: hb.staleMs, orphanMs: hb.orphanMs }, { staleMs: 500, orphanMs: ORPHAN_MS });

    // A download at 500 KB/s (10 MiB would take 20 s), bounded at 9 s.
    const p = spawn('ip', ['netns', 'exec', labNs(prefix).client, process.execPath, download, LAB.vip, '80', '/big', '500000', '9000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<void>((r) => p.on('exit', () => r()));
    const progress = (): [number, number][] => [...out.matchAll(/^at (\d+) (\d+)$/gm)].map((m) => [Number(m[1]), Number(m[2])]);
    // (Bounded: it flows within 5 s of its start, as fast as a busy machine lets it.)
    for (const t0 = Date.now(); (progress().at(-1)?.[1] ?? 0) <= 300_000 && p.exitCode === null && Date.now() - t0 < 5000;) await sleep(50);
    assert.ok((progress().at(-1)?.[1] ?? 0) > 300_000, 'the download is flowing');
    const killedAt = progress().at(-1)![0];
    await labKillDirector(prefix, 'dir', 'SIGKILL');

    // New connections after the stale bound: the program takes none of the decisions waiting.
    await sleep(1000);
    // (The director's nftables table, left behind too, drops them: the client times out.)
    const after = curlFromClient(prefix, 2);
    assert.ok(after.every((b) => b.startsWith('(curl exit')), `no real server answered: ${after.join(',')}`);

    await exited;
    const ended = /^end (\S+) (\d+) (\d+)$/m.exec(out);
    assert.ok(ended, out.slice(-300));
    // The last time the byte count grew: when the kernel stopped carrying the flow.
    const pr = progress();
    let lastGrowth = killedAt;
    for (let i = 1; i < pr.length; i++) if (pr[i]![1] > pr[i - 1]![1]) lastGrowth = pr[i]![0];
    const continuedMs = lastGrowth - killedAt;
    const bytesAfterKill = pr.at(-1)![1] - (pr.find(([t]) => t >= killedAt)?.[1] ?? 0);
    figures('fast path after kill -9', { staleMs: 500, orphanMs: ORPHAN_MS, newConnectionsForwarded: after.filter((b) => !b.startsWith('(')).length, downloadContinuedMs: continuedMs, bytesAfterKill, end: ended[1]! });
    // Bytes already in flight (socket buffers, about 1 s at this rate) still arrive after the bound.
    assert.ok(continuedMs > ORPHAN_MS - 1000 && continuedMs < ORPHAN_MS + 2500, `the download continued ${continuedMs} ms after the kill`);
    assert.notEqual(ended[1], 'done', 'it did not complete: the kernel stopped carrying it');
  });
});
