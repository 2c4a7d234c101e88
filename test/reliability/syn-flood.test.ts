/**
 * A bounded SYN flood in the DR lab (root; hping3 from the lab's client namespace into the VIP,
 * random sources, 70,000 SYNs at most 30 s), the packet forwarder with the kernel fast path:
 * legitimate requests keep being answered, an established download keeps flowing (the kernel's
 * LRU flow map evicts the flood's flows, not the one carrying traffic), the daemon's event loop
 * does not stall, and 60 s after the flood (its entries expired) the connection table and the
 * fast path's flows are back to their empty sizes and resident memory within 10% of what it was
 * (the flood's half-open entries live 10 s under load, --syn-recv-under-load). Figures printed: legitimate answered, RSS before/peak/10 s/60 s
 * after, bytes per entry, table entries, flows evicted, the daemon's worst pause.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { labNs, LAB, curlFromClient, readLabState } from '../../src/lab/topology.ts';
import { callDaemon } from '../../src/daemon/protocol.ts';
import { figures, floodSkip, labSuite, rssMb, slowDownload } from './helpers.ts';

const skip = floodSkip;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const download = slowDownload;
const prefix = `tsvs-sf${process.pid % 10000}`;
const SYNS = 70_000;

describe('SYN flood into the DR lab (kernel fast path, LRU flow map)', { skip, timeout: 240_000 }, () => {
  labSuite(prefix, 'dr', { fastPath: 'tc' });

  it(`${SYNS} SYNs from random sources: >= 99% of legitimate requests answered, a download keeps flowing, the flood's flows are evicted, not the download's`, async () => {
    const ns = labNs(prefix);
    const dir = readLabState(prefix)!.directors[0]!;
    const status = async (): Promise<Record<string, unknown>> => (await callDaemon(dir.socket, { v: 1, id: 1, op: 'status' }, 10_000)) as unknown as Record<string, unknown>;
    assert.deepEqual(curlFromClient(prefix, 2).sort(), ['test1', 'test2']);
    await sleep(500);
    const rss0 = rssMb(dir.pid);
    const mem0 = (await status())['memory'] as { heapTotal: number; external: number; heapSpaces: Record<string, number> };
    const brkMb = (): number => Number(/\[heap\]\n(?:.*\n)*?Rss:\s+(\d+) kB/.exec(readFileSync(`/proc/${dir.pid}/smaps`, 'utf8'))?.[1] ?? 0) / 1024;
    const brk0 = brkMb();

    // A download at 1 MB/s through the kernel fast path, bounded at 25 s.
    const dl = spawn('ip', ['netns', 'exec', ns.client, process.execPath, download, LAB.vip, '80', '/big', '1000000', '25000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let dlOut = '';
    dl.stdout!.on('data', (b: Buffer) => (dlOut += b.toString()));
    const dlExit = new Promise<void>((r) => dl.on('exit', () => r()));
    while (!dlOut.includes('start')) await sleep(20);
    await sleep(1000);

    const t0 = performance.now();
    const flood = spawn('ip', ['netns', 'exec', ns.client, 'timeout', '30', 'hping3', '-q', '-S', '-p', '80', '--rand-source', '-i', 'u50', '-c', String(SYNS), LAB.vip], { stdio: ['ignore', 'ignore', 'pipe'] });
    let floodErr = '';
    flood.stderr!.on('data', (b: Buffer) => (floodErr += b.toString()));
    let flooding = true;
    const floodExit = new Promise<void>((r) => flood.on('exit', () => { flooding = false; r(); }));
    let tried = 0, ok = 0, peak = rss0;
    const floodStartMs = Number(/^at (\d+) /m.exec(dlOut.split('\n').filter((l) => l.startsWith('at ')).at(-1) ?? 'at 0 0')?.[1] ?? 0);
    while (flooding) {
      const r = spawnSync('ip', ['netns', 'exec', ns.client, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-m', '2', `http://${LAB.vip}/`], { encoding: 'utf8' });
      tried++;
      if (r.stdout === '200') ok++;
      peak = Math.max(peak, rssMb(dir.pid));
      await sleep(100);
    }
    await floodExit;
    const floodS = (performance.now() - t0) / 1000;
    const sent = Number(/(\d+) packets transmitted/.exec(floodErr)?.[1] ?? SYNS);
    const during = await status();
    const fp = (during['listeners'] as { fastPath: Record<string, number> }).fastPath;
    const table = during['table'] as { entries: number; tableFull: number };
    const loop = during['eventLoop'] as { maxMs: number };

    // The download over the flood: its longest pause (no growth) while the flood ran.
    dl.kill('SIGTERM');
    await dlExit;
    const pr = [...dlOut.matchAll(/^at (\d+) (\d+)$/gm)].map((m) => [Number(m[1]), Number(m[2])] as const);
    let worstStall = 0, lastGrowth = floodStartMs;
    for (let i = 1; i < pr.length; i++) {
      if (pr[i]![0] < floodStartMs) continue;
      if (pr[i]![1] > pr[i - 1]![1]) {
        worstStall = Math.max(worstStall, pr[i]![0] - lastGrowth);
        lastGrowth = pr[i]![0];
      }
    }
    // The flood's entries expire (SYN_RECV: 60 s after their SYN); the table and the fast
    // path's flows give their memory back. Resident memory 60 s (and 2 s of sweeps) after.
    const floodEnd = performance.now();
    await sleep(10_000);
    const rss10 = rssMb(dir.pid);
    await sleep(Math.max(0, floodEnd + 15_000 - performance.now()));
    const entries15 = ((await status())['table'] as { entries: number }).entries;
    await sleep(Math.max(0, floodEnd + 62_000 - performance.now()));
    const rss60 = rssMb(dir.pid);
    const later = await status();
    const laterTable = later['table'] as { entries: number; tableBytes: number };
    const laterFp = (later['listeners'] as { fastPath: Record<string, number> }).fastPath;
    const entries = Math.max(table.entries, 1);
    const mem = later['memory'] as { heapTotal: number; external: number; releases: number; heapSpaces: Record<string, number> };
    // The brk heap (malloc's main arena), MB.
    const heapMb = brkMb();
    figures('syn flood', {
      syns: sent, floodS, synPerS: sent / floodS, legitAnswered: ok, legitTried: tried, rssBeforeMb: rss0, rssPeakMb: peak, rssAfter10sMb: rss10, rssAfter60sMb: rss60,
      entries: table.entries, tableFull: table.tableFull, kernelFlows: fp['flows']!, installed: fp['installed']!, evicted: fp['evicted']!, aheadTaken: fp['aheadTaken'] ?? 0,
      // Resident memory per flood entry at the peak (engine table + fast path flow + V8 heap).
      peakBytesPerEntry: Math.round(((peak - rss0) * 1048576) / entries), tableBytesPerEntry: Math.round((table as unknown as { tableBytes: number }).tableBytes / entries), fastPathBytesPerFlow: Math.round((fp['tableBytes'] ?? 0) / Math.max(fp['flows']!, 1)),
      heapTotalBeforeMb: mem0.heapTotal / 1048576, heapTotalAfter60sMb: mem.heapTotal / 1048576, externalBeforeMb: mem0.external / 1048576, externalAfter60sMb: mem.external / 1048576,
      releases: mem.releases, brkHeapBeforeMb: brk0, brkHeapAfter60sMb: heapMb,
      newSpaceBeforeMb: (mem0.heapSpaces['new_space'] ?? 0) / 1048576, newSpaceAfter60sMb: (mem.heapSpaces['new_space'] ?? 0) / 1048576,
      oldSpaceBeforeMb: (mem0.heapSpaces['old_space'] ?? 0) / 1048576, oldSpaceAfter60sMb: (mem.heapSpaces['old_space'] ?? 0) / 1048576,
      entriesAfter15s: entries15, entriesAfter60s: laterTable.entries, tableBytesAfter60s: laterTable.tableBytes, fastPathBytesAfter60s: laterFp['tableBytes'] ?? 0,
      downloadWorstStallMs: worstStall, loopMaxMs: loop.maxMs,
    });
    assert.ok(ok / tried >= 0.99, `${ok} of ${tried} legitimate requests answered`);
    assert.ok(fp['flows']! <= 65_536, `${fp['flows']} flows in the kernel map`);
    assert.ok(worstStall < 1000, `the download stalled ${worstStall} ms during the flood`);
    assert.ok(loop.maxMs < 1000, `the daemon's event loop paused ${loop.maxMs} ms`);
    // The arrays are back to their empty sizes (table: 1,024 slots and the timer wheel; flows: 256).
    assert.ok(laterTable.tableBytes <= 1 << 20, `the table holds ${laterTable.tableBytes} bytes 60 s after`);
    assert.ok((laterFp['tableBytes'] ?? 0) <= 64 << 10, `the fast path's flows hold ${laterFp['tableBytes']} bytes 60 s after`);
    // The target: back within 10% 60 s after. The flood's half-open entries live 10 s
    // (--syn-recv-under-load), their arrays are freed, malloc trimmed, V8's young generation shrunk.
    assert.ok(rss60 <= rss0 * 1.10, `RSS ${rss0} MB before the flood, ${rss60} MB 60 s after`);
    // Under the flood a half-open entry lives 10 s, not 60: 15 s after, only the entries made
    // before the rate was reached (under 1,000 a second) and the legitimate ones are left.
    assert.ok(entries15 < 2000, `${entries15} entries 15 s after the flood`);
    // More flows installed than the map holds: the LRU made room (the download's flow stayed: no stall).
    if (fp['installed']! > 65_536) assert.ok(fp['evicted']! > 0, 'the LRU map evicted flows to make room');
  });
});
