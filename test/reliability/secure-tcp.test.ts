/**
 * secure_tcp in the DR lab under a SYN flood (root, hping3, the kernel fast path): the daemon runs
 * `--secure-tcp 1 --drop-entry 1` with a small table (`--conn-max 16384 --amemthresh 1280`: memory
 * counts as short past 6,144 entries, 512 bytes an entry). 7,000 SYNs from random sources make
 * SYN_RECV entries (the normal table) until the defence switches secure_tcp to 2; then the
 * kernel's tcp_states_dos takes over, where a direct-routing (INPUT-ONLY) SYN leads to SYNACK: a
 * second burst's 1,000 entries are SYNACK; connections opened before and during the flood are ESTABLISHED
 * and keep flowing (in DR the handshake ACK still moves SYNACK to ESTABLISHED, as in the kernel).
 * drop_entry expires the half-open entries; below the threshold secure_tcp goes back to 1 and a
 * second burst's entries are SYN_RECV again. Figures printed: when each switch happened, the
 * entries by state, what drop_entry removed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { labNs, LAB, labAdm, labDaemonStatus } from '../../src/lab/topology.ts';
import { figures, floodSkip, labSuite, slowDownload } from './helpers.ts';

const skip = floodSkip;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const download = slowDownload;
const prefix = `tsvs-st${process.pid % 10000}`;
const SYNS = 7_000;
/** Forged sources of the second and third bursts (198.18.0.0/15, the benchmarking range: the lab routes nothing there). */
const ONE_SOURCE = ['198.18.0.2', '198.18.0.3'] as const;

interface Defense { secureTcp: number; dropEntry: number; availPages: number; entriesDropped: number }

/** A slow download from the client (fixtures/slow-download.mjs): its bytes so far and its end. */
const downloads: ChildProcess[] = [];
function startDownload(rate: number, boundMs: number): { bytes: () => number; out: () => string; exited: Promise<void> } {
  const p = spawn('ip', ['netns', 'exec', labNs(prefix).client, process.execPath, download, LAB.vip, '80', '/big', String(rate), String(boundMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  downloads.push(p);
  let out = '';
  p.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  return {
    bytes: () => Number([...out.matchAll(/^at \d+ (\d+)$/gm)].at(-1)?.[1] ?? 0),
    out: () => out,
    exited: new Promise<void>((r) => p.on('exit', () => r())),
  };
}

/** The client's connections in `-L -c -n`: client port -> state. */
async function clientConns(): Promise<Map<number, string>> {
  const out = (await labAdm(prefix, ['-L', '-c', '-n'])).out;
  const m = new Map<number, string>();
  for (const l of out.split('\n')) {
    const f = l.trim().split(/\s+/);
    if (f[0] === 'TCP' && f[3]?.startsWith(`${LAB.client}:`)) m.set(Number(f[3].split(':')[1]), f[2]!);
  }
  return m;
}

/** The state of the one client connection not in `known`, once its download has bytes (handshake and data seen). */
async function newConnState(known: ReadonlySet<number>, dl: { bytes: () => number }): Promise<{ port: number; state: string } | null> {
  const end = Date.now() + 5000;
  while (Date.now() < end) {
    if (dl.bytes() > 100_000) {
      for (const [port, state] of await clientConns()) if (!known.has(port)) return { port, state };
    }
    await sleep(100);
  }
  return null;
}

/** The table's TCP entries by state (`-L -c -n`), of every client or of one (`from`). */
async function statesCount(from?: string): Promise<Record<string, number>> {
  const out = (await labAdm(prefix, ['-L', '-c', '-n'])).out;
  const n: Record<string, number> = {};
  for (const l of out.split('\n')) {
    const f = l.trim().split(/\s+/);
    if (f[0] === 'TCP' && (!from || f[3]?.startsWith(`${from}:`))) n[f[2]!] = (n[f[2]!] ?? 0) + 1;
  }
  return n;
}

/** SYNs from random sources, or from one forged source (`from`: its entries can be told apart); the answers go nowhere. */
function synBurst(count: number, from?: string): Promise<void> {
  const src = from ? ['-a', from] : ['--rand-source'];
  const p = spawn('ip', ['netns', 'exec', labNs(prefix).client, 'timeout', '20', 'hping3', '-q', '-S', '-p', '80', ...src, '-i', 'u50', '-c', String(count), LAB.vip], { stdio: 'ignore' });
  return new Promise<void>((r) => p.on('exit', () => r()));
}

async function defense(): Promise<{ d: Defense; entries: number }> {
  const st = await labDaemonStatus(prefix);
  const t = st?.['table'] as { entries: number; defense: Defense };
  return { d: t.defense, entries: t.entries };
}

describe('secure_tcp under a SYN flood (DR lab): the state table switches with the memory left and back', { skip, timeout: 120_000 }, () => {
  labSuite(prefix, 'dr', { fastPath: 'tc', daemonArgs: ['--secure-tcp', '1', '--drop-entry', '1', '--conn-max', '16384', '--amemthresh', '1280'] }, {
    before: () => { for (const p of downloads) if (p.exitCode === null) p.kill('SIGKILL'); },
  });

  it('secure_tcp 1 -> 2 in the flood (later entries SYNACK: the DoS table), connections before and during it ESTABLISHED and flowing -> 1 once drop_entry emptied the table (SYN_RECV again)', async () => {
    assert.equal((await defense()).d.secureTcp, 1);
    const a = startDownload(200_000, 60_000);
    const first = await newConnState(new Set(), a);
    assert.equal(first?.state, 'ESTABLISHED', `before the flood: ${JSON.stringify(first)}`);

    const t0 = Date.now();
    const flood = synBurst(SYNS);
    let on: number | null = null, peak = 0;
    while (Date.now() - t0 < 20_000) {
      const { d, entries } = await defense();
      peak = Math.max(peak, entries);
      if (d.secureTcp === 2) { on = Date.now(); break; }
      await sleep(100);
    }
    assert.ok(on, `secure_tcp switched to 2 (entries peaked at ${peak})`);
    // During: a new connection is served (SYNACK, then ESTABLISHED on its ACK).
    const b = startDownload(200_000, 4000);
    const during = await newConnState(new Set([first!.port]), b);
    const aBytesOn = a.bytes();
    await flood;
    const atOn = await statesCount();
    await synBurst(1000, ONE_SOURCE[0]);
    const inFlood = await statesCount(ONE_SOURCE[0]);

    // drop_entry (on while memory is short) expires half-open entries; below the threshold again,
    // secure_tcp goes back to 1.
    let off: number | null = null;
    while (Date.now() - t0 < 60_000) {
      const { d, entries } = await defense();
      peak = Math.max(peak, entries);
      if (d.secureTcp === 1) { off = Date.now(); break; }
      await sleep(200);
    }
    const back = await defense();
    await b.exited;
    await synBurst(100, ONE_SOURCE[1]);
    const afterBurst = await statesCount(ONE_SOURCE[1]);
    const aBytesOff = a.bytes();
    figures('secure_tcp under a SYN flood', {
      syns: SYNS, entriesPeak: peak, secureOnAfterMs: on - t0, secureOffAfterMs: off ? off - t0 : -1, entriesAtOff: back.entries,
      entriesDropped: back.d.entriesDropped, synRecvAtOn: atOn['SYN_RECV'] ?? 0, burstOn: JSON.stringify(inFlood).replace(/[{}"]/g, ''), burstAfter: JSON.stringify(afterBurst).replace(/[{}"]/g, ''),
      duringState: during?.state ?? 'none', olderDownloadBytesOn: aBytesOn, olderDownloadBytesOff: aBytesOff,
    });
    assert.ok((atOn['SYN_RECV'] ?? 0) > 5000, `the flood's entries before the switch are SYN_RECV: ${JSON.stringify(atOn)}`);
    assert.ok((inFlood['SYNACK'] ?? 0) >= 900 && !inFlood['SYN_RECV'], `in secure mode a burst's entries are SYNACK: ${JSON.stringify(inFlood)}`);
    assert.equal(during?.state, 'ESTABLISHED', `a connection during the flood: ${JSON.stringify(during)}`);
    assert.ok(off, 'secure_tcp went back to 1 once the table had room again');
    assert.ok(back.d.entriesDropped > 0, 'drop_entry expired flood entries');
    assert.ok((afterBurst['SYN_RECV'] ?? 0) >= 90 && !afterBurst['SYNACK'], `back on the normal table, a burst's entries are SYN_RECV: ${JSON.stringify(afterBurst)}`);
    assert.ok(aBytesOff > aBytesOn + 200_000, `the download opened before the flood kept flowing (${aBytesOn} -> ${aBytesOff} bytes)`);
  });
});
