/**
 * Director failover over IPv6, in the lab's namespaces (`labUp('dr', { ha, ipv6: true })`): two
 * directors, each the real `tsvs daemon --forwarder packet --keepalived <conf>` with an IPv6
 * virtual server (DR) beside the IPv4 ones and a second VRRP instance (VI_6, VRRPv3) holding the
 * address the router routes the IPv6 VIP through. The master's sync daemon sends the IPv6
 * connection entries (IPVS sync v1, IPv6 entries) over the same IPv4 multicast group; the master
 * is killed with SIGKILL during an IPv6 download, which continues through the backup.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import {
  labUp, labDown, labNs, LAB, labAdm, labKillDirector, labRouterVipOwner, labForwarderStatus, drForwarded, readLabState,
} from '../../src/lab/topology.ts';
import { listNetns, alive, shTry } from '../../src/lab/netns.ts';
import { runIn, pattern, waitAsync } from '../helpers/lab-traffic.ts';

const root = process.getuid?.() === 0;
const skip = !root ? 'needs root (network namespaces, AF_PACKET, raw VRRP sockets)' : false;

describe('two tsvs directors (DR) over IPv6: IPv6 connections synced to the backup, a download survives kill -9 of the master', { skip, timeout: 150_000 }, () => {
  const prefix = `tsvs-h6${process.pid % 10000}`;
  const ns = labNs(prefix);
  let pids: number[] = [];
  const curl6 = (path: string) => shTry(['ip', 'netns', 'exec', ns.client, 'curl', '-6', '-g', '-s', '-m', '2', `http://[${LAB.vip6}]${path}`]);
  before(async () => {
    const st = await labUp('dr', { prefix, ha: { advertInt: 1, version: 3 }, ipv6: true });
    pids = st.pids;
    // Small receive window: the rate-limited download ACKs through the director to its last byte.
    shTry(['ip', 'netns', 'exec', ns.client, 'sysctl', '-q', '-w', 'net.ipv4.tcp_rmem=4096 131072 262144']);
    // The router learns VI_6's address when it first routes to the IPv6 VIP (Linux takes no
    // unsolicited advertisement for an address it has no entry for): the request comes first.
    const up = await waitAsync(() => curl6('/').status === 0 && labRouterVipOwner(prefix, LAB.vrrp6) === 'dir1', 20000, 100);
    if (up < 0) {
      const log = existsSync(`/run/tsvs/lab-${prefix}-dir1.log`) ? readFileSync(`/run/tsvs/lab-${prefix}-dir1.log`, 'utf8').split('\n').filter((l) => /vrrp|VI_6|warn|error|"level":[45]/i.test(l)).slice(-15).join('\n') : '';
      assert.fail(`the IPv6 VIP did not answer through dir1 (VI_6 owner: ${labRouterVipOwner(prefix, LAB.vrrp6)}; router: ${shTry(['ip', '-n', ns.router, '-6', 'neigh']).out}; dir1: ${shTry(['ip', '-n', ns.dir1, '-6', '-br', 'addr']).out})\n${log}`);
    }
  });
  after(async () => {
    const st = readLabState(prefix);
    await labDown(prefix);
    assert.deepEqual(listNetns().filter((n) => n.startsWith(prefix)), []);
    for (const p of [...pids, ...(st?.directors ?? []).map((d) => d.pid)]) assert.equal(alive(p), false, `pid ${p} stopped`);
  });

  it('the backup lists the master\'s IPv6 connection (synced); after kill -9 of the master a 40 MiB IPv6 download completes intact through it', async () => {
    const MiB = 40;
    const dl = runIn(ns.client, ['curl', '-6', '-g', '-s', '--limit-rate', '5M', '-m', '60', `http://[${LAB.vip6}]/stream/${MiB}`]);
    // The connection reaches the backup's table through the sync daemon (flushed every 100 ms).
    const row = new RegExp(`TCP .* ESTABLISHED +\\[${LAB.client6}\\]:\\d+ +\\[${LAB.vip6}\\]:80 +\\[(${LAB.rs6.join('|')})\\]:80`);
    let conns = '';
    const synced = await waitAsync(async () => {
      const r = await labAdm(prefix, ['-L', '-n', '-c'], undefined, 'dir2');
      conns = r.out;
      return row.test(conns);
    }, 5000, 100);
    assert.ok(synced >= 0, `dir2 -L -n -c shows no synced IPv6 connection:\n${conns}`);
    // What dir2 forwards: in user space, and in its kernel fast path (IPv6 flows: fastPath.ipv6).
    const forwardedBy2 = async (): Promise<number> => {
      const st = (await labForwarderStatus(prefix, 'dir2'))!;
      const k6 = (st.fastPath as unknown as { ipv6?: Record<string, number> } | null | undefined)?.ipv6;
      return drForwarded(st) + (k6 ? k6['forwarded']! + k6['events']! : 0);
    };
    const before2 = await forwardedBy2();
    await labKillDirector(prefix, 'dir1', 'SIGKILL');
    const took = await waitAsync(() => labRouterVipOwner(prefix, LAB.vrrp6) === 'dir2', 8000, 10);
    console.log(`# VI_6 moved to dir2 ${took.toFixed(0)} ms after kill -9 of dir1`);
    assert.ok(took >= 0, 'dir2 took the IPv6 VRRP address (the router\'s neighbour entry points at it)');
    const r = await dl.done;
    assert.equal(r.code, 0, `curl exit ${r.code} (the connection was reset or stalled): ${r.err}`);
    assert.equal(r.out.length, MiB << 20);
    assert.equal(createHash('sha256').update(r.out).digest('hex'), createHash('sha256').update(pattern(MiB << 20)).digest('hex'));
    const forwarded = (await forwardedBy2()) - before2;
    assert.ok(forwarded > 50, `dir2 forwarded the rest of the download's packets (${forwarded})`);
    // New IPv6 connections go through dir2 and are balanced.
    const names = [curl6('/'), curl6('/')].map((x) => x.out.trim());
    assert.deepEqual(names.sort(), ['test1', 'test2']);
  });
});
