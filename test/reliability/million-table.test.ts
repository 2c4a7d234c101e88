/**
 * A table of 1,000,000 connections in a running daemon (root: two namespaces joined by a veth).
 * The daemon is a connection-sync backup (`--start-daemon backup`) and a sender in the other
 * namespace plays the master: 1,000,000 ESTABLISHED connections of one service, in sync
 * messages, with a 20 s timeout each. Measured: resident memory per entry, how long
 * `tsvsadm -L -c -n` takes to list them all (and the control socket's worst ping meanwhile: the
 * answer is one JSON line of about 80 MB, written in pieces),
 * and their expiry: every entry gone within 15 s of its timeout, the daemon's worst ping while
 * a million timers fire, and the memory given back. Figures printed.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { sh, shTry } from '../../src/lab/netns.ts';
import { startDaemon, tmpDir, tsvsadm, REPO, type DaemonProc } from '../daemon/helpers.ts';
import { daemonStatus, figures, pingMs, rssMb } from './helpers.ts';

const root = process.getuid?.() === 0;
const N = 1_000_000;
const TIMEOUT_S = 20;
const nsA = `tsvs-1m${process.pid % 10000}-a`, nsB = `tsvs-1m${process.pid % 10000}-b`;
const sender = new URL('./fixtures/sync-send.ts', import.meta.url).pathname;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Pings the control socket every 100 ms until `stop`; resolves the worst round trip (ms). */
function pinger(socket: string): { stop: () => Promise<number> } {
  let worst = 0, going = true;
  const loop = (async () => {
    while (going) {
      worst = Math.max(worst, await pingMs(socket, 30_000));
      await sleep(100);
    }
  })();
  return { stop: async () => { going = false; await loop; return worst; } };
}

const entries = async (d: DaemonProc): Promise<number> => ((await daemonStatus(d.socket))['table'] as { entries: number }).entries;

describe('a table of 1,000,000 connections (sync backup): memory, listing, expiry', { skip: root ? false : 'needs root (network namespaces)', timeout: 180_000 }, () => {
  let d: DaemonProc | null = null;
  before(() => {
    sh(['ip', 'netns', 'add', nsA]);
    sh(['ip', 'netns', 'add', nsB]);
    sh(['ip', '-n', nsA, 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb', 'netns', nsB]);
    for (const [ns, dev, addr] of [[nsA, 'va', '10.9.0.1/24'], [nsB, 'vb', '10.9.0.2/24']] as const) {
      sh(['ip', '-n', ns, 'addr', 'add', addr, 'dev', dev]);
      sh(['ip', '-n', ns, 'link', 'set', dev, 'up']);
      sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    }
  });
  after(async () => {
    await d?.stop('SIGKILL');
    shTry(['ip', 'netns', 'del', nsA]);
    shTry(['ip', 'netns', 'del', nsB]);
  });

  it(`${N} synced entries: under 200 bytes of RSS each, listed whole, gone within 15 s of their timeout with the control socket answering`, async () => {
    const dir = tmpDir('tsvs-rel-1m-');
    writeFileSync(join(dir, 'rules'), '-A -t 10.9.0.1:8080 -s rr\n-a -t 10.9.0.1:8080 -r 10.9.0.50:80 -m -w 1\n');
    d = await startDaemon(['--no-state', '--rules', join(dir, 'rules'), '--workers', '0'], dir, {}, ['ip', 'netns', 'exec', nsA]);
    const pid = d.proc.pid!;
    const r = await tsvsadm(d.socket, ['--start-daemon', 'backup', '--mcast-interface', 'va', '--syncid', '7']);
    assert.equal(r.code, 0, r.stderr);
    await sleep(300);
    const rss0 = rssMb(pid);

    // The master's messages (sent again while some were lost: a backup takes what arrives).
    const t0 = performance.now();
    let n = 0, passes = 0;
    while (n < N && passes < 6) {
      passes++;
      const s = spawnSync('ip', ['netns', 'exec', nsB, process.execPath, '--import', 'tsx', sender, '10.9.0.2', '7', String(N), '10.9.0.1', '8080', '10.9.0.50', '80', String(TIMEOUT_S)], { encoding: 'utf8', cwd: REPO, timeout: 60_000 });
      assert.equal(s.status, 0, s.stderr);
      // Until the backup has taken what arrived (the count still for 250 ms; bounded at 5 s).
      n = await entries(d);
      for (let prev = -1, t1 = performance.now(); n !== prev && performance.now() - t1 < 5000;) {
        prev = n;
        await sleep(250);
        n = await entries(d);
      }
    }
    const importedAt = performance.now();
    const importS = (importedAt - t0) / 1000;
    assert.equal(n, N, `the table holds every connection synced (${passes} passes)`);
    const rss1 = rssMb(pid);
    const st = await daemonStatus(d.socket);
    const tableBytes = (st['table'] as { tableBytes: number }).tableBytes;

    // The listing, counted line by line as it streams. An entry a dropped sync message did not
    // refresh in the last pass may expire meanwhile (its timer runs from an earlier pass): the
    // listing holds every entry left when it ends, at least, and at most those there before.
    const entriesBeforeList = await entries(d);
    const ping1 = pinger(d.socket);
    const tl = performance.now();
    const lines = await new Promise<number>((resolve) => {
      const p = spawn(process.execPath, [join(REPO, 'bin/tsvsadm.mjs'), '-L', '-c', '-n'], { env: { ...process.env, TSVS_SOCKET: d!.socket }, stdio: ['ignore', 'pipe', 'inherit'] });
      let c = 0;
      p.stdout!.on('data', (b: Buffer) => { for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) c++; });
      p.on('exit', () => resolve(c));
    });
    const listS = (performance.now() - tl) / 1000;
    const listPing = await ping1.stop();
    const entriesAfterList = await entries(d);

    // Expiry: every entry's timer fires TIMEOUT_S after its import.
    const ping2 = pinger(d.socket);
    await sleep(Math.max(0, t0 + TIMEOUT_S * 1000 - performance.now()));
    let left = N;
    while (left > 0 && performance.now() - importedAt < (TIMEOUT_S + 15) * 1000) {
      await sleep(250);
      left = await entries(d);
    }
    const goneAfterTimeoutS = (performance.now() - importedAt) / 1000 - TIMEOUT_S;
    const expiryPing = await ping2.stop();
    await sleep(6000);
    const rss2 = rssMb(pid);
    figures('1M-entry table', {
      entries: N, importS, syncPasses: passes, rssBeforeMb: rss0, rssFullMb: rss1, rssBytesPerEntry: ((rss1 - rss0) * 1048576) / N, tableBytesPerEntry: tableBytes / N,
      listLines: lines, entriesAfterList, listS, listWorstPingMs: listPing, entriesLeft: left, emptyAfterTimeoutS: goneAfterTimeoutS, expiryWorstPingMs: expiryPing, rssAfterExpiryMb: rss2,
    });
    assert.ok(lines - 2 >= entriesAfterList && lines - 2 <= entriesBeforeList, `the listing has its two header lines and every connection (${lines - 2} listed, ${entriesBeforeList} before, ${entriesAfterList} after)`);
    assert.ok(((rss1 - rss0) * 1048576) / N < 200, `${Math.round(((rss1 - rss0) * 1048576) / N)} bytes of RSS per entry`);
    assert.ok(listS < 30, `the listing took ${listS} s`);
    // Rendered in parts and written in pieces (answer-pieces.ts): 840 ms measured (1.35-1.6 s when
    // the ~80 MB line was stringified and written in one turn); what remains is not the write
    // (not yet measured apart). Held at 1.5 s.
    assert.ok(listPing < 1500, `a ping waited ${listPing} ms during the listing`);
    assert.equal(left, 0, 'every entry expired');
    assert.ok(expiryPing < 1000, `a ping waited ${expiryPing} ms while the entries expired`);
  });
});
