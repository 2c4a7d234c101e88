/**
 * kill -9 of the daemon while the kernel fast path carries an IPv6 NAT download (IPv6 NAT lab,
 * root, tc, rules saved in a state file): the restarted daemon copies the killed program's `flows6`
 * (both entries of each NAT connection) into its own before replacing the filter, and binds each
 * to an engine entry again once its rules are back (src/forwarders/packet/adopt.ts). The download
 * crossing the kill completes, and the engine steps its close (TIME_WAIT in -L -c) as for a
 * connection it had seen from the start. Figures printed: the flows adopted, the download's stall.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { labNs, LAB, labAdm, labDaemonStatus, labKillDirector, labStartDirector } from '../../src/lab/topology.ts';
import { shTry } from '../../src/lab/netns.ts';
import { downloadOutcome, figures, labSuite } from './helpers.ts';

const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root (network namespaces, AF_PACKET, tc, BPF)';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const download = fileURLToPath(new URL('./fixtures/slow-download.mjs', import.meta.url));
const prefix = `tsvs-k6${process.pid % 10000}`;
const VS6 = `[${LAB.vip6}]:80`;

describe('daemon kill -9 and restart while the kernel carries an IPv6 NAT download (state file)', { skip, timeout: 120_000 }, () => {
  labSuite(prefix, 'nat', { ipv6: true, commands: [], fastPath: 'tc', daemonArgs: ['--state', `/run/tsvs/lab-${prefix}-state`] });
  const adm = async (...argv: string[]): Promise<string> => {
    const r = await labAdm(prefix, argv);
    assert.equal(r.code, 0, `tsvsadm ${argv.join(' ')}: ${r.err}`);
    return r.out;
  };
  const fastPath6 = async (): Promise<Record<string, number>> => {
    const fp = ((await labDaemonStatus(prefix))?.['listeners'] as { fastPath?: Record<string, unknown> } | undefined)?.fastPath;
    assert.ok(fp?.['ipv6'], `the kernel fast path's IPv6 table: ${JSON.stringify(fp)}`);
    return { ...(fp['ipv6'] as Record<string, number>), adopted: Number(fp['adopted'] ?? 0), adoptDropped: Number(fp['adoptDropped'] ?? 0) };
  };

  it('the new daemon adopts the IPv6 NAT flows the kernel carried: the download crossing the kill completes and its close is stepped by the engine', async () => {
    const ns = labNs(prefix);
    await adm('-A', '-t', VS6, '-s', 'rr');
    for (const r of LAB.rs6) await adm('-a', '-t', VS6, '-r', `[${r}]:80`, '-m');
    // Warm up: next hops toward the real servers and the client (NAT replies' entries wait for it).
    for (let i = 0; i < 2; i++) {
      const r = shTry(['ip', 'netns', 'exec', ns.client, 'curl', '-6', '-g', '-s', '-m', '5', `http://[${LAB.vip6}]/`]);
      assert.equal(r.status, 0, r.err);
    }
    await sleep(300);
    // 10 MiB at 2 MB/s: about 5 s, bounded at 15 s.
    const dl = spawn('ip', ['netns', 'exec', ns.client, process.execPath, download, LAB.vip6, '80', '/big', '2000000', '15000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let dlOut = '';
    dl.stdout!.on('data', (b: Buffer) => (dlOut += b.toString()));
    const dlExit = new Promise<void>((r) => dl.on('exit', () => r()));
    for (const t0 = Date.now(); !/^at \d+ [1-9]/m.test(dlOut) && dl.exitCode === null && Date.now() - t0 < 5000;) await sleep(20);
    await sleep(1000);
    const carried = await fastPath6();
    assert.equal(carried['flows'], 1, 'the download is carried by the kernel before the kill');
    const killedAt = Date.now();
    await labKillDirector(prefix, 'dir', 'SIGKILL');
    await labStartDirector(prefix, 'dir');
    const startedAfter = Date.now() - killedAt;
    await dlExit;
    // Bounded wait for the sweep that sees the close's reports (every 100 ms).
    let fp = await fastPath6();
    for (const t0 = Date.now(); fp['flows'] !== 0 && Date.now() - t0 < 3000; fp = await fastPath6()) await sleep(100);
    const conns = await adm('-L', '-n', '-c');
    const got = downloadOutcome(dlOut);
    const rows = conns.split('\n').filter((l) => l.includes(`[${LAB.client6}]:`) && l.includes(`[${LAB.vip6}]:80`));
    figures('daemon kill -9 and restart, IPv6 NAT download', {
      daemonStartedAfterMs: startedAfter, flowsAdopted: fp['adopted']!, leftFlowsDropped: fp['adoptDropped']!, downloadEnd: got.end,
      downloadBytes: got.bytes, downloadWorstStallMs: got.worstStallMs, flowsLeft: fp['flows']!, events: fp['events']!, eventsOut: fp['eventsOut']!,
      state: rows.map((l) => l.split(/\s+/)[2]).join(','),
    });
    assert.equal(got.end, 'done', `the download crossing the restart completes: ${dlOut.slice(-200)}`);
    assert.ok(got.bytes > 10 * 1024 * 1024, `all 10 MiB arrived (${got.bytes} bytes with the headers)`);
    assert.equal(fp['adopted'], 1, 'the new daemon bound the IPv6 NAT connection the kernel carried (its replies\' entry with it)');
    assert.equal(fp['adoptDropped'], 0);
    // The new engine knows only the adopted connection: its close went through the kernel (the
    // replies' entry the killed daemon left taken over with it) and the engine stepped it.
    assert.equal(rows.length, 1, conns);
    assert.match(rows[0]!, /^TCP\s+\S+\s+TIME_WAIT\s/, conns);
    assert.ok(fp['eventsOut']! >= 1, 'the real server\'s FIN reported as a reply');
    assert.equal(fp['flows'], 0, 'the last ACK ended both entries');
  });
});
