/**
 * Director failover end to end, in the lab's namespaces (`tsvs lab up dr --ha`): two directors,
 * each the real `tsvs daemon --forwarder packet --keepalived <conf>` (VRRP + lvs_sync_daemon),
 * real servers answering the client directly (DR). The master is killed with SIGKILL (a crash:
 * no resignation, its VIP stays on its interface) while traffic flows through the VIP.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  labUp, labDown, labNs, LAB, labKillDirector, labStartDirector, labVipHolders, labRouterVipOwner, labDaemonStatus,
  labForwarderStatus, curlFromClient, readLabState, drForwarded, type DirectorName,
} from '../../src/lab/topology.ts';
import { listNetns, alive, shTry } from '../../src/lab/netns.ts';
import { runIn, pattern, waitAsync } from '../helpers/lab-traffic.ts';

const root = process.getuid?.() === 0;
const haveKeepalived = existsSync('/usr/sbin/keepalived');
const haveWrk = existsSync('/usr/bin/wrk');
const skip = !root ? 'needs root (network namespaces, AF_PACKET, raw VRRP sockets)' : false;
if (skip) console.log(`# skipping director failover tests: ${skip}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface WrkResult { requests: number; connect: number; read: number; write: number; timeout: number; non2xx: number }

function parseWrk(out: string): WrkResult {
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? 0);
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requests: num(/(\d+) requests in/),
    connect: Number(se?.[1] ?? 0), read: Number(se?.[2] ?? 0), write: Number(se?.[3] ?? 0), timeout: Number(se?.[4] ?? 0),
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
  };
}
const failures = (w: WrkResult) => w.connect + w.read + w.write + w.timeout + w.non2xx;

async function vrrpState(prefix: string, d: DirectorName): Promise<string | null> {
  const st = await labDaemonStatus(prefix, d);
  return ((st?.['vrrp'] as { state: string }[] | undefined) ?? [])[0]?.state ?? null;
}

/** The backup owns the VIP: it alone holds it among live directors and the router's ARP points at it. */
const owns = (prefix: string, d: DirectorName) => () => labRouterVipOwner(prefix) === d && labVipHolders(prefix).includes(d);

describe('two tsvs directors (DR): kill -9 of the master under load', { skip, timeout: 150_000 }, () => {
  const prefix = `tsvs-h${process.pid % 10000}`;
  const ns = labNs(prefix);
  let pids: number[] = [];
  before(async () => {
    const st = await labUp('dr', { prefix, ha: { advertInt: 1 } });
    pids = st.pids;
    // A small receive window on the client: a rate-limited download then ACKs steadily through
    // the director until its last byte (a large buffer would let the server finish early).
    shTry(['ip', 'netns', 'exec', ns.client, 'sysctl', '-q', '-w', 'net.ipv4.tcp_rmem=4096 131072 262144']);
  });
  after(async () => {
    const st = readLabState(prefix);
    const r = await labDown(prefix);
    if (root) {
      assert.equal(r.namespaces.length, 6);
      assert.deepEqual(listNetns().filter((n) => n.startsWith(prefix)), []);
      for (const p of [...pids, ...(st?.directors ?? []).map((d) => d.pid)]) assert.equal(alive(p), false, `pid ${p} stopped`);
    }
  });

  it('(a) wrk through the VIP: the backup takes over; keep-alive connections see no error, new connections fail only during the gap', { skip: haveWrk ? false : 'wrk not installed' }, async () => {
    assert.deepEqual(labVipHolders(prefix), ['dir1']);
    const url = `http://${LAB.vip}/`;
    // Established connections (keep-alive) and a new connection per request, side by side.
    const keep = runIn(ns.client, ['wrk', '-t1', '-c2', '-d9s', '--timeout', '8s', url]);
    const fresh = runIn(ns.client, ['wrk', '-t1', '-c4', '-d9s', '--timeout', '3s', '-H', 'Connection: close', url]);
    await sleep(2000);
    const before2 = drForwarded((await labForwarderStatus(prefix, 'dir2'))!);
    await labKillDirector(prefix, 'dir1', 'SIGKILL');
    const took = await waitAsync(owns(prefix, 'dir2'), 8000, 10);
    const [k, f] = [await keep.done, await fresh.done];
    assert.equal(k.code, 0, k.err);
    assert.equal(f.code, 0, f.err);
    const wk = parseWrk(k.out.toString());
    const wf = parseWrk(f.out.toString());
    const forwardedByBackup = drForwarded((await labForwarderStatus(prefix, 'dir2'))!) - before2;
    console.log(`# VIP moved to dir2 ${took.toFixed(0)} ms after kill -9 (advert_int 1 s: master down 3 x 1 + skew 0.61 s)`);
    console.log(`# keep-alive wrk: ${wk.requests} requests, ${failures(wk)} failed ${JSON.stringify(wk)}`);
    console.log(`# new-connection wrk: ${wf.requests} requests, ${failures(wf)} failed ${JSON.stringify(wf)}; dir2 forwarded ${forwardedByBackup} packets`);
    assert.ok(took > 0 && took < 3 * 1000 + 1000 + 1500, `takeover in ${took.toFixed(0)} ms`);
    assert.ok(forwardedByBackup > 1000, `the backup forwarded the load after the takeover (${forwardedByBackup} packets)`);
    // Synced keep-alive connections survive: no reset, no request lost.
    assert.equal(failures(wk), 0, `keep-alive errors: ${k.out.toString()}`);
    assert.ok(wk.requests > 100);
    // New connections: only those in flight around the gap may fail: at most the 4 connections'
    // attempts over a ~4 s gap (each wrk connection retries at once after a failure).
    assert.ok(wf.requests > 100, f.out.toString());
    assert.ok(failures(wf) <= 4 * 4, `failed new connections: ${failures(wf)}\n${f.out.toString()}`);
    // The connections were known to the backup before the crash (sync), so -L -c on dir2 lists them.
    const st2 = await labDaemonStatus(prefix, 'dir2');
    assert.equal(await vrrpState(prefix, 'dir2'), 'MASTER');
    assert.ok(((st2?.['syncDaemons'] as { state: string }[]) ?? []).some((s) => s.state === 'master'), 'dir2 now runs the master sync daemon');
  });

  it('(c) a returning master re-learns the table before it preempts: a download established via dir2 survives dir1 taking the VIP back', async () => {
    if (labVipHolders(prefix).join() !== 'dir2' || alive(readLabState(prefix)!.directors[0]!.pid)) {
      // (a) was skipped: make dir2 the master first.
      await labKillDirector(prefix, 'dir1', 'SIGKILL');
      assert.ok((await waitAsync(owns(prefix, 'dir2'), 8000, 20)) >= 0);
    }
    const MiB = 40;
    const dl = runIn(ns.client, ['curl', '-s', '--limit-rate', '2M', '-m', '60', `http://${LAB.vip}/stream/${MiB}`]);
    await sleep(800);
    const t0 = performance.now();
    await labStartDirector(prefix, 'dir1');
    // dir1 (150) holds preemption for the learning window, then takes the VIP from dir2 (100).
    const back = await waitAsync(owns(prefix, 'dir1'), 15000, 20);
    assert.ok(back >= 0, 'dir1 took the VIP back');
    const learned = ((await labDaemonStatus(prefix, 'dir1'))?.['syncDaemons'] as { state: string }[]) ?? [];
    console.log(`# dir1 back as master ${((performance.now() - t0) / 1000).toFixed(1)} s after its restart`);
    assert.equal(await vrrpState(prefix, 'dir1'), 'MASTER');
    assert.ok(learned.some((s) => s.state === 'master'));
    const before1 = drForwarded((await labForwarderStatus(prefix, 'dir1'))!);
    const r = await dl.done;
    const after1 = drForwarded((await labForwarderStatus(prefix, 'dir1'))!);
    assert.equal(r.code, 0, `curl exit ${r.code}: ${r.err}`);
    assert.equal(r.out.length, MiB << 20);
    assert.equal(createHash('sha256').update(r.out).digest('hex'), createHash('sha256').update(pattern(MiB << 20)).digest('hex'));
    assert.ok(after1 - before1 > 50, `dir1 forwarded the rest of the download's ACKs (${after1 - before1})`);
    assert.equal(await vrrpState(prefix, 'dir2'), 'BACKUP');
  });

  it('(b) kill -9 of the master during a 50 MiB download: the download completes intact through the backup', async () => {
    assert.equal(labRouterVipOwner(prefix), 'dir1');
    const MiB = 50;
    const dl = runIn(ns.client, ['curl', '-s', '--limit-rate', '6M', '-m', '60', `http://${LAB.vip}/stream/${MiB}`]);
    await sleep(1500);
    await labKillDirector(prefix, 'dir1', 'SIGKILL');
    assert.ok((await waitAsync(owns(prefix, 'dir2'), 8000, 10)) >= 0, 'dir2 took over');
    const r = await dl.done;
    assert.equal(r.code, 0, `curl exit ${r.code} (the connection was reset or stalled): ${r.err}`);
    assert.equal(r.out.length, MiB << 20);
    assert.equal(createHash('sha256').update(r.out).digest('hex'), createHash('sha256').update(pattern(MiB << 20)).digest('hex'));
    // New connections go through dir2 too.
    assert.ok(curlFromClient(prefix, 2).every((b) => b === 'test1' || b === 'test2'));
  });
});

describe('tsvs director with a keepalived VRRP partner (DR lab, keepalived on dir2)', { skip: skip || (haveKeepalived ? false : 'keepalived not installed'), timeout: 90_000 }, () => {
  const prefix = `tsvs-k${process.pid % 10000}`;
  before(async () => {
    await labUp('dr', { prefix, ha: { advertInt: 1, peer: 'keepalived' } });
  });
  after(async () => {
    await labDown(prefix);
  });

  it('(d) kill -9 of the tsvs master: keepalived takes the VIP (gratuitous ARP moves it on the router); tsvs returns and preempts; the VIP forwards again', async () => {
    assert.deepEqual(labVipHolders(prefix), ['dir1']);
    assert.equal(labRouterVipOwner(prefix), 'dir1');
    assert.deepEqual(curlFromClient(prefix, 2).sort(), ['test1', 'test2']);
    await labKillDirector(prefix, 'dir1', 'SIGKILL');
    const took = await waitAsync(owns(prefix, 'dir2'), 8000, 10);
    console.log(`# keepalived took the VIP ${took.toFixed(0)} ms after kill -9 of the tsvs master`);
    assert.ok(took >= 0 && took < 5000, `keepalived took over in ${took.toFixed(0)} ms`);
    // keepalived cannot forward here (no kernel IPVS): the VIP is simply not served meanwhile.
    await labStartDirector(prefix, 'dir1');
    assert.ok(await vrrpState(prefix, 'dir1') !== 'MASTER', 'dir1 starts as backup');
    const back = await waitAsync(() => owns(prefix, 'dir1')() && !labVipHolders(prefix).includes('dir2'), 15000, 20);
    assert.ok(back >= 0, 'tsvs preempted keepalived and keepalived released the VIP');
    assert.equal(await vrrpState(prefix, 'dir1'), 'MASTER');
    assert.deepEqual(curlFromClient(prefix, 2).sort(), ['test1', 'test2']);
    // Clean stop: tsvs resigns (priority 0) and keepalived takes over at once (skew time only).
    await labKillDirector(prefix, 'dir1', 'SIGTERM');
    const handover = await waitAsync(owns(prefix, 'dir2'), 3000, 10);
    console.log(`# keepalived took over ${handover.toFixed(0)} ms after the tsvs master resigned`);
    assert.ok(handover >= 0 && handover < 1500, `handover after resignation in ${handover.toFixed(0)} ms`);
  });
});
