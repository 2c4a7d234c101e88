/**
 * kill -9 of the daemon while the kernel fast path carries a NAT download, IPv4 and IPv6 (the NAT
 * lab, root, tc, rules saved in a state file): the restarted daemon copies the killed program's
 * `flows` / `flows6` (both entries of each NAT connection) into its own before replacing the
 * filter, and binds each to an engine entry again once its rules are back
 * (src/forwarders/packet/adopt.ts), the replies' entry taken over as it is while the client's next
 * hop resolves again. The download crossing the kill completes with no long stall, and the engine
 * steps its close (TIME_WAIT in -L -c) as for a connection it had seen from the start. Figures
 * printed per family: the flows adopted, the download's worst stall.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { labNs, LAB, labAdm, labDaemonStatus, labKillDirector, labStartDirector } from '../../src/lab/topology.ts';
import { shTry } from '../../src/lab/netns.ts';
import { downloadOutcome, figures, labSuite, slowDownload } from './helpers.ts';

const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root (network namespaces, AF_PACKET, tc, BPF)';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The longest the download may go without a byte: the kernel carries it while no daemon runs, so
 * only a lost reply (a retransmission timeout, 1 s and more once doubled) makes a stall this long.
 */
const STALL_MS = 1000;

const FAMILIES = [
  {
    name: 'IPv4', ipv6: false, vip: LAB.vip, vs: `${LAB.vip}:80`, rss: LAB.rs.map((r) => `${r}:80`), client: LAB.client, curl: [] as string[],
    /** The family's counters in status fastPath (IPv4's are its top level). */
    table: (fp: Record<string, unknown>): Record<string, unknown> => fp,
  },
  {
    name: 'IPv6', ipv6: true, vip: LAB.vip6, vs: `[${LAB.vip6}]:80`, rss: LAB.rs6.map((r) => `[${r}]:80`), client: `[${LAB.client6}]`, curl: ['-6', '-g'],
    table: (fp: Record<string, unknown>): Record<string, unknown> => fp['ipv6'] as Record<string, unknown>,
  },
] as const;

for (const f of FAMILIES) {
  // (tsvs-kn: not a prefix of fast-path.test.ts's tsvs-k<pid> labs.)
  const prefix = `tsvs-kn${f.ipv6 ? 6 : 4}${process.pid % 10000}`;
  describe(`daemon kill -9 and restart while the kernel carries an ${f.name} NAT download (state file)`, { skip, timeout: 120_000 }, () => {
    labSuite(prefix, 'nat', { ipv6: f.ipv6, commands: [], fastPath: 'tc', daemonArgs: ['--state', `/run/tsvs/lab-${prefix}-state`] });
    const adm = async (...argv: string[]): Promise<string> => {
      const r = await labAdm(prefix, argv);
      assert.equal(r.code, 0, `tsvsadm ${argv.join(' ')}: ${r.err}`);
      return r.out;
    };
    const fastPath = async (): Promise<Record<string, number>> => {
      const fp = ((await labDaemonStatus(prefix))?.['listeners'] as { fastPath?: Record<string, unknown> } | undefined)?.fastPath;
      const t = fp ? f.table(fp) : undefined;
      assert.ok(fp && t, `the kernel fast path's ${f.name} table: ${JSON.stringify(fp)}`);
      return { ...(t as Record<string, number>), adopted: Number(fp['adopted'] ?? 0), adoptDropped: Number(fp['adoptDropped'] ?? 0) };
    };

    it(`the new daemon adopts the ${f.name} NAT flows the kernel carried: the download crossing the kill completes without a stall of ${STALL_MS} ms and its close is stepped by the engine`, async () => {
      const ns = labNs(prefix);
      await adm('-A', '-t', f.vs, '-s', 'rr');
      for (const r of f.rss) await adm('-a', '-t', f.vs, '-r', r, '-m');
      // Warm up: next hops toward the real servers and the client (NAT replies' entries wait for it).
      for (let i = 0; i < 2; i++) {
        const r = shTry(['ip', 'netns', 'exec', ns.client, 'curl', ...f.curl, '-s', '-m', '5', `http://${f.ipv6 ? `[${f.vip}]` : f.vip}/`]);
        assert.equal(r.status, 0, r.err);
      }
      await sleep(300);
      // 10 MiB at 2 MB/s: about 5 s, bounded at 15 s.
      const dl = spawn('ip', ['netns', 'exec', ns.client, process.execPath, slowDownload, f.vip, '80', '/big', '2000000', '15000'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let dlOut = '';
      dl.stdout!.on('data', (b: Buffer) => (dlOut += b.toString()));
      const dlExit = new Promise<void>((r) => dl.on('exit', () => r()));
      for (const t0 = Date.now(); !/^at \d+ [1-9]/m.test(dlOut) && dl.exitCode === null && Date.now() - t0 < 5000;) await sleep(20);
      // Bounded wait until the kernel carries the download (installed at its first packets once established).
      let carried = await fastPath();
      for (const t0 = Date.now(); carried['flows'] !== 1 && Date.now() - t0 < 3000; carried = await fastPath()) await sleep(100);
      assert.equal(carried['flows'], 1, 'the download is carried by the kernel before the kill');
      await sleep(500);
      const killedAt = Date.now();
      await labKillDirector(prefix, 'dir', 'SIGKILL');
      await labStartDirector(prefix, 'dir');
      const startedAfter = Date.now() - killedAt;
      await dlExit;
      // Bounded wait for the sweep that sees the close's reports (every 100 ms).
      let fp = await fastPath();
      for (const t0 = Date.now(); fp['flows'] !== 0 && Date.now() - t0 < 3000; fp = await fastPath()) await sleep(100);
      const conns = await adm('-L', '-n', '-c');
      const got = downloadOutcome(dlOut);
      const rows = conns.split('\n').filter((l) => l.includes(`${f.client}:`) && l.includes(f.vs));
      figures(`daemon kill -9 and restart, ${f.name} NAT download`, {
        daemonStartedAfterMs: startedAfter, flowsAdopted: fp['adopted']!, leftFlowsDropped: fp['adoptDropped']!, downloadEnd: got.end,
        downloadBytes: got.bytes, downloadWorstStallMs: got.worstStallMs, flowsLeft: fp['flows']!, events: fp['events']!, eventsOut: fp['eventsOut']!,
        state: rows.map((l) => l.split(/\s+/)[2]).join(','),
      });
      assert.equal(got.end, 'done', `the download crossing the restart completes: ${dlOut.slice(-200)}`);
      assert.ok(got.bytes > 10 * 1024 * 1024, `all 10 MiB arrived (${got.bytes} bytes with the headers)`);
      assert.ok(got.worstStallMs < STALL_MS, `the download stalled ${got.worstStallMs} ms (the daemon was back ${startedAfter} ms after the kill)`);
      assert.equal(fp['adopted'], 1, `the new daemon bound the ${f.name} NAT connection the kernel carried (its replies' entry with it)`);
      assert.equal(fp['adoptDropped'], 0);
      // The new engine knows only the adopted connection: its close went through the kernel (the
      // replies' entry the killed daemon left taken over with it) and the engine stepped it.
      assert.equal(rows.length, 1, conns);
      assert.match(rows[0]!, /^TCP\s+\S+\s+TIME_WAIT\s/, conns);
      assert.ok(fp['eventsOut']! >= 1, 'the real server\'s FIN reported as a reply');
      assert.equal(fp['flows'], 0, 'the last ACK ended both entries');
    });
  });
}
