/**
 * A real server dies under load, with health checks (keepalived.conf TCP_CHECK, delay_loop 1,
 * retry 1 after 0.2 s), in both forwarders: the proxy on loopback (root not needed) and the packet
 * forwarder in the DR lab with the kernel fast path (root). A load of new connections runs all
 * along (4 clients, a GET each, from another process; in the lab from the client namespace).
 * The dead server's process is killed (SIGKILL in the lab: its kernel resets new connections).
 * What must hold: the other server answers all along (no second without an answer); requests fail
 * only between the death and the checker's removal (the issue measured 1.0-1.2 s to leave
 * `-L -n`), none after it (no decision taken ahead in the kernel for the dead server survives its
 * removal); the server is back in the table within 3 s of coming back and answers again. Figures
 * printed: requests, failed, time to removal and to return.
 *
 * The lab's director runs with expire_nodest_conn on, as LVS sites with health checks set it.
 * With the kernel's default (off), a SYN that reuses the tuple of a connection the dead server
 * refused (its entry waits in SYN_RECV: in DR the director never sees the server's RST) is
 * dropped once that server is deleted, until the entry expires, as ip_vs_in drops it; the
 * client sends it again after its 1 s RTO. The client's kernel picks source ports about 9 apart
 * (here 4,000 connections a second wrap its range in under a second), so such reuse is certain
 * and CI once saw all four clients waiting at once ("a second without an answer: 1015 ms").
 * test/core/engine-state.test.ts holds the default's drop; this case is about detection.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labNs, LAB, labAdm, readLabState } from '../../src/lab/topology.ts';
import { spawnInNs, killPid } from '../../src/lab/netns.ts';
import { closeServer, freePort, nameServer, sleep, startDaemon, tmpDir, tsvsadm, type DaemonProc } from '../daemon/helpers.ts';
import { figures, httpLoad, labSuite, longestGap, type LoadRequest } from './helpers.ts';

const root = process.getuid?.() === 0;
const LOAD_MS = 10_000;
const KILL_AT_MS = 2_000;
const DEAD_FOR_MS = 3_000;

/** A virtual server with checked real servers (kind: NAT for the proxy, DR in the lab). */
function checkedConf(vip: string, vport: number, kind: 'NAT' | 'DR', reals: readonly { ip: string; port: number }[]): string {
  return `global_defs {\n  router_id tsvs_reliability\n}\nvirtual_server ${vip} ${vport} {\n  delay_loop 1\n  lb_algo rr\n  lb_kind ${kind}\n  protocol TCP\n${reals
    .map((r) => `  real_server ${r.ip} ${r.port} {\n    weight 1\n    TCP_CHECK {\n      connect_timeout 1\n      retry 1\n      delay_before_retry 0.2\n    }\n  }\n`)
    .join('')}}\n`;
}

/** One forwarder's set-up: the load, the listing, and the dead server's death and return. */
interface Rig {
  /** The dead server's address as `-L -n` shows it, and the names both servers answer. */
  readonly dead: string;
  readonly deadName: string;
  readonly liveName: string;
  load(ms: number): Promise<LoadRequest[]>;
  listing(): Promise<string>;
  kill(): Promise<void>;
  revive(): Promise<void>;
}

/** Polls `-L -n` until `pred` holds; the epoch ms it first did, or null after `ms`. */
async function when(rig: Rig, pred: (l: string) => boolean, ms: number): Promise<number | null> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred(await rig.listing())) return Date.now();
    await sleep(50);
  }
  return null;
}

async function deathAndReturn(rig: Rig, label: string): Promise<void> {
  assert.ok(await when(rig, (l) => l.includes(rig.dead), 10_000), `${rig.dead} is in the table (checked up)`);
  const t0 = Date.now();
  const load = rig.load(LOAD_MS);
  await sleep(KILL_AT_MS);
  const killedAt = Date.now();
  await rig.kill();
  const removedAt = await when(rig, (l) => !l.includes(rig.dead), 5000);
  assert.ok(removedAt, `the checker removed ${rig.dead} within 5 s`);
  await sleep(Math.max(0, killedAt + DEAD_FOR_MS - Date.now()));
  const revivedAt = Date.now();
  await rig.revive();
  const backAt = await when(rig, (l) => l.includes(rig.dead), 5000);
  assert.ok(backAt, `the checker put ${rig.dead} back within 5 s`);
  const reqs = await load;
  const loadEnd = Math.max(...reqs.map((r) => r.t));
  const failed = reqs.filter((r) => !r.ok);
  const lastFail = failed.length ? Math.max(...failed.map((r) => r.t)) : killedAt;
  const firstBack = reqs.find((r) => r.ok && r.t > backAt && r.what === rig.deadName)?.t ?? null;
  const window = reqs.filter((r) => r.t >= killedAt && r.t <= removedAt).length;
  figures(`real server death (${label})`, {
    requests: reqs.length, reqPerS: reqs.length / ((loadEnd - t0) / 1000), failed: failed.length, requestsInDetection: window,
    removedAfterMs: removedAt - killedAt, lastFailAfterKillMs: lastFail - killedAt, backAfterMs: backAt - revivedAt,
    answersAgainAfterMs: firstBack ? firstBack - backAt : -1, worstGapMs: longestGap(reqs, t0 + 500, loadEnd),
    reasons: [...new Set(failed.map((r) => r.what))].join(',') || 'none',
  });
  // Removed as the issue measured it (delay_loop 1 s, one retry after 0.2 s), with a margin for a busy machine.
  assert.ok(removedAt - killedAt < 3000, `removed ${removedAt - killedAt} ms after the death`);
  assert.ok(backAt - revivedAt < 3000, `back ${backAt - revivedAt} ms after it returned`);
  // Failures only between the death and the removal (a listing poll's slack after it).
  const late = failed.filter((r) => r.t < killedAt || r.t > removedAt + 300);
  assert.deepEqual(late.map((r) => `${r.t - killedAt} ms: ${r.what}`), [], 'no failure outside the detection window');
  // The other server answered all along.
  assert.ok(longestGap(reqs, t0 + 500, loadEnd) < 1000, `a second without an answer: ${longestGap(reqs, t0 + 500, loadEnd)} ms`);
  const strays = reqs.filter((r) => r.ok && r.t > removedAt && r.t < revivedAt && r.what !== rig.liveName);
  assert.deepEqual(strays.map((r) => `${r.t - killedAt} ms: ${r.what}`), [], 'only the live server answers while the other is out');
  assert.ok(firstBack !== null && firstBack - backAt < 1500, `the returned server answers again (${firstBack === null ? 'never' : `${firstBack - backAt} ms after`})`);
}

describe('real server death under load with health checks: proxy forwarder (loopback)', { timeout: 90_000 }, () => {
  let d: DaemonProc | null = null;
  const servers: Awaited<ReturnType<typeof nameServer>>[] = [];
  after(async () => {
    await d?.stop('SIGKILL');
    for (const s of servers) await closeServer(s.server);
  });

  it('the dead server leaves the table within 3 s, requests fail only until then, it answers again when it returns', async () => {
    servers.push(await nameServer('rs1'), await nameServer('rs2'));
    const deadPort = servers[1]!.port;
    const vport = await freePort();
    const dir = tmpDir('tsvs-rel-rs-');
    writeFileSync(join(dir, 'keepalived.conf'), checkedConf('127.0.0.1', vport, 'NAT', servers.map((s) => ({ ip: '127.0.0.1', port: s.port }))));
    d = await startDaemon(['--keepalived', join(dir, 'keepalived.conf'), '--no-state'], dir);
    const sock = d.socket;
    await deathAndReturn({
      dead: `127.0.0.1:${deadPort} `, deadName: 'rs2', liveName: 'rs1',
      load: (ms) => httpLoad([], '127.0.0.1', vport, ms, 4),
      listing: async () => (await tsvsadm(sock, ['-L', '-n'])).stdout,
      kill: async () => { await closeServer(servers[1]!.server); },
      revive: async () => { servers[1] = await nameServer('rs2', deadPort); },
    }, 'proxy');
  });
});

describe('real server death under load with health checks: packet forwarder, DR lab, kernel fast path', { skip: root ? false : 'needs root (network namespaces, AF_PACKET, tc, BPF)', timeout: 120_000 }, () => {
  const prefix = `tsvs-rd${process.pid % 10000}`;
  const conf = `/run/tsvs/lab-${prefix}-checked.conf`;
  const ours: number[] = [];
  if (root) {
    mkdirSync('/run/tsvs', { recursive: true });
    writeFileSync(conf, checkedConf(LAB.vip, LAB.port, 'DR', LAB.rs.map((ip) => ({ ip, port: LAB.port }))));
  }
  labSuite(prefix, 'dr', { fastPath: 'tc', commands: [], daemonArgs: ['--keepalived', conf, '--expire-nodest-conn', 'on'] }, {
    before: async () => { for (const p of ours) await killPid(p); },
    extraPids: () => ours,
  });

  it('the dead server leaves the table within 3 s, requests fail only until then (no decision ahead for it survives), it answers again when it returns', async () => {
    const ns = labNs(prefix);
    const rsServer = fileURLToPath(new URL('../../src/lab/rs-server.mjs', import.meta.url));
    // The first real server's HTTP server process (its command line names it test1).
    const victim = readLabState(prefix)!.pids.find((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes(LAB.names[0]));
    assert.ok(victim, 'the first real server runs');
    await deathAndReturn({
      dead: `${LAB.rs[0]}:${LAB.port} `, deadName: LAB.names[0], liveName: LAB.names[1],
      load: (ms) => httpLoad(['ip', 'netns', 'exec', ns.client], LAB.vip, LAB.port, ms, 4),
      listing: async () => (await labAdm(prefix, ['-L', '-n'])).out,
      kill: async () => { process.kill(victim, 'SIGKILL'); },
      revive: async () => { ours.push(spawnInNs(ns.rs[0]!, [process.execPath, rsServer, LAB.names[0]])); },
    }, 'packet DR, fast path');
  });
});
