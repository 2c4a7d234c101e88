/**
 * kill -9 of the daemon under load and a restart (DR lab, root, the kernel fast path, rules saved
 * in a state file): a load of new connections runs from the client namespace and a download
 * crosses the kill. The restarted daemon restores the rules saved (one edited at run time, so not
 * the seed's) byte for byte in `-S -n`, replaces its tc filter and nftables table (one of each
 * afterwards, no duplicates), and the VIP serves again within 5 s of the kill; requests fail only
 * in that gap; the download crossing the restart completes (the new daemon adopts the flows the
 * kernel carries). Figures printed: failed requests, time to serve again, the download's stall.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { labNs, LAB, labAdm, labDaemonStatus, labKillDirector, labStartDirector, readLabState } from '../../src/lab/topology.ts';
import { shTry } from '../../src/lab/netns.ts';
import { downloadOutcome, figures, httpLoad, labSuite, longestGap } from './helpers.ts';

const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root (network namespaces, AF_PACKET, tc, BPF)';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const download = fileURLToPath(new URL('./fixtures/slow-download.mjs', import.meta.url));
const prefix = `tsvs-kr${process.pid % 10000}`;
const VS = `${LAB.vip}:${LAB.port}`;

describe('daemon kill -9 and restart under load (DR lab, kernel fast path, state file)', { skip, timeout: 120_000 }, () => {
  labSuite(prefix, 'dr', { fastPath: 'tc', daemonArgs: ['--state', `/run/tsvs/lab-${prefix}-state`] });

  it('rules restored byte for byte, one tc filter and one nftables table, the VIP serves again within 5 s, failures only in that gap, a download crossing the restart completes', async () => {
    const ns = labNs(prefix);
    const dirNs = readLabState(prefix)!.directors[0]!.ns;
    // A change made at run time: only the state file knows it.
    assert.equal((await labAdm(prefix, ['-e', '-t', VS, '-r', `${LAB.rs[0]}:${LAB.port}`, '-g', '-w', '3'])).code, 0);
    const rules0 = (await labAdm(prefix, ['-S', '-n'])).out;
    assert.match(rules0, /-r 192\.168\.10\.11:80 -g -w 3/);

    // 10 MiB at 1 MB/s: about 10.5 s, bounded at 16 s.
    const dl = spawn('ip', ['netns', 'exec', ns.client, process.execPath, download, LAB.vip, '80', '/big', '1000000', '16000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let dlOut = '';
    dl.stdout!.on('data', (b: Buffer) => (dlOut += b.toString()));
    const dlExit = new Promise<void>((r) => dl.on('exit', () => r()));
    while (!dlOut.includes('start') && dl.exitCode === null) await sleep(20);
    const t0 = Date.now();
    const load = httpLoad(['ip', 'netns', 'exec', ns.client], LAB.vip, LAB.port, 10_000, 4, 2000);
    await sleep(2000);
    const killedAt = Date.now();
    const dlAtKill = Number([...dlOut.matchAll(/^at \d+ (\d+)$/gm)].at(-1)?.[1] ?? 0);
    await labKillDirector(prefix, 'dir', 'SIGKILL');
    await labStartDirector(prefix, 'dir');
    const answersAt = Date.now();
    const reqs = await load;
    await dlExit;
    const fp = ((await labDaemonStatus(prefix))?.['listeners'] as { fastPath: Record<string, number> }).fastPath;
    const loadEnd = Math.max(...reqs.map((r) => r.t));
    const failed = reqs.filter((r) => !r.ok);
    const lastFail = failed.length ? Math.max(...failed.map((r) => r.t)) : killedAt;
    // The first answer after the last failure: the VIP serves again.
    const servingAgain = reqs.find((r) => r.ok && r.t > lastFail)?.t ?? null;
    const rules1 = (await labAdm(prefix, ['-S', '-n'])).out;
    const filters = shTry(['ip', 'netns', 'exec', dirNs, 'tc', 'filter', 'show', 'dev', 'eth0', 'ingress']).out.split('\n').filter((l) => / handle .* tsvs_tc/.test(l));
    const tables = shTry(['ip', 'netns', 'exec', dirNs, 'nft', 'list', 'tables']).out.split('\n').filter((l) => /tsvs/.test(l));
    const got = downloadOutcome(dlOut);
    console.log(shTry(['ip', 'netns', 'exec', dirNs, 'tc', 'filter', 'show', 'dev', 'eth0', 'ingress']).out, dlOut.split('\n').filter((l, i, a) => i % 10 === 0 || i > a.length - 5).join(' | '));
    figures('daemon kill -9 and restart', {
      requests: reqs.length, failed: failed.length, daemonAnswersAfterMs: answersAt - killedAt, lastFailAfterKillMs: lastFail - killedAt,
      worstGapMs: longestGap(reqs, t0 + 500, loadEnd), tcFilters: filters.length, nftTables: tables.length,
      downloadEnd: got.end, downloadBytes: got.bytes, downloadBytesAtKill: dlAtKill, downloadWorstStallMs: got.worstStallMs,
      rulesIdentical: rules1 === rules0 ? 'yes' : 'no', flowsAdopted: fp['adopted'] ?? 0, leftFlowsDropped: fp['adoptDropped'] ?? 0, servingAgainAfterMs: servingAgain ? servingAgain - killedAt : -1,
    });
    assert.equal(rules1, rules0, 'the rules saved are restored byte for byte');
    assert.equal(filters.length, 1, `one tc filter on eth0:\n${filters.join('\n')}`);
    assert.equal(tables.length, 1, `one nftables table:\n${tables.join('\n')}`);
    assert.ok(longestGap(reqs, t0 + 500, loadEnd) < 5000, `the VIP did not answer for ${longestGap(reqs, t0 + 500, loadEnd)} ms`);
    const late = failed.filter((r) => r.t < killedAt || r.t > answersAt + 2500);
    assert.deepEqual(late.map((r) => `${r.t - killedAt} ms: ${r.what}`), [], 'failures only between the kill and the restart (plus one request timeout)');
    assert.ok((fp['adopted'] ?? 0) >= 1, 'the new daemon adopted the flows the kernel carried');
    assert.equal(got.end, 'done', `the download crossing the restart completes: ${dlOut.slice(-200)}`);
    assert.ok(got.bytes > 10 * 1024 * 1024, `all 10 MiB arrived (${got.bytes} bytes with the headers)`);
  });
});
