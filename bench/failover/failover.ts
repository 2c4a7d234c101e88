/**
 * bench/failover: time from the master director's death (kill -9) to the first probe answered
 * through the backup. A client sends a UDP probe to VIP:53 every PROBE_MS (default 5 ms); the gap
 * is the time from the kill to the arrival of the first answer to a probe sent after the kill.
 *   - tsvs: `tsvs lab up dr --ha` (two `tsvs daemon --forwarder packet --keepalived` directors,
 *     VRRP + lvs_sync_daemon); probes are forwarded (DR) to the real servers' UDP echo.
 *   - keepalived: the same lab with Debian keepalived on both directors (VRRP only, no kernel
 *     IPVS here): the VIP moves and a UDP echo on each director answers it.
 * The master alternates (nopreempt: a restarted director stays backup). A kill takes the
 * director's echo with it in the keepalived case (the whole director is dead); a killed tsvs
 * daemon leaves its nftables drop rule, so its VIP stays silent, as a dead box.
 * Env: RUNS (20), ADVERTS ("1,0.1"), PROBE_MS (5), IMPLS ("tsvs,keepalived").
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import {
  labUp, labDown, labNs, LAB, labKillDirector, labStartDirector, labRouterVipOwner, labDaemonStatus, readLabState, type DirectorName,
} from '../../src/lab/topology.ts';
import { spawnInNs, killPid, alive } from '../../src/lab/netns.ts';

const RUNS = Number(process.env['RUNS'] ?? 20);
const ADVERTS = (process.env['ADVERTS'] ?? '1,0.1').split(',').map(Number);
const PROBE_MS = Number(process.env['PROBE_MS'] ?? 5);
const IMPLS = (process.env['IMPLS'] ?? 'tsvs,keepalived').split(',') as ('tsvs' | 'keepalived')[];
const prefix = 'tsvs-bfo';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const probeJs = fileURLToPath(new URL('./probe.mjs', import.meta.url));
const echoJs = fileURLToPath(new URL('./echo.mjs', import.meta.url));

interface Reply { seq: number; sent: bigint; recv: bigint }

async function waitUntil(cond: () => boolean | Promise<boolean>, ms: number, step = 20): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await cond()) return true;
    await sleep(step);
  }
  return cond();
}

async function measure(impl: 'tsvs' | 'keepalived', advert: number): Promise<number[]> {
  const ns = labNs(prefix);
  await labUp('dr', { prefix, ha: { advertInt: advert, version: advert < 1 ? 3 : 2, dir1: impl, peer: impl, nopreempt: true } });
  const echo = new Map<DirectorName, number>();
  const startEcho = (d: DirectorName) => { if (impl === 'keepalived') echo.set(d, spawnInNs(ns[d as 'dir1' | 'dir2'], [process.execPath, echoJs, d, '53'])); };
  startEcho('dir1');
  startEcho('dir2');
  const replies: Reply[] = [];
  const probe = spawn('ip', ['netns', 'exec', ns.client, process.execPath, probeJs, LAB.vip, '53', String(PROBE_MS), '3600'], { stdio: ['ignore', 'pipe', 'inherit'] });
  createInterface({ input: probe.stdout! }).on('line', (l) => {
    const [s, a, b] = l.split(' ');
    replies.push({ seq: Number(s), sent: BigInt(a!), recv: BigInt(b!) });
  });
  const gaps: number[] = [];
  try {
    let master: DirectorName = 'dir1';
    const flowing = () => replies.length > 0 && process.hrtime.bigint() - replies[replies.length - 1]!.recv < 100_000_000n;
    if (!(await waitUntil(flowing, 10000))) throw new Error('probes are not answered through the VIP');
    for (let run = 0; run < RUNS; run++) {
      const backup: DirectorName = master === 'dir1' ? 'dir2' : 'dir1';
      if (labRouterVipOwner(prefix) !== master) throw new Error(`run ${run}: expected ${master} to own the VIP`);
      if (!(await waitUntil(flowing, 5000))) throw new Error(`run ${run}: probes not answered before the kill`);
      const from = replies.length;
      const killAt = process.hrtime.bigint();
      const e = echo.get(master);
      if (e) process.kill(e, 'SIGKILL');
      await labKillDirector(prefix, master, 'SIGKILL');
      const ok = await waitUntil(() => replies.slice(from).some((r) => r.sent > killAt), 15000, 5);
      if (!ok) throw new Error(`run ${run}: no probe answered within 15 s of the kill`);
      const first = replies.slice(from).find((r) => r.sent > killAt)!;
      const gapMs = Number(first.recv - killAt) / 1e6;
      gaps.push(gapMs);
      process.stdout.write(`  ${impl} advert ${advert}s run ${String(run + 1).padStart(2)}: ${master} killed, ${backup} answered after ${gapMs.toFixed(1)} ms\n`);
      // Bring the dead director back as the new backup (nopreempt), settled before the next kill.
      await labStartDirector(prefix, master);
      startEcho(master);
      if (impl === 'tsvs') {
        await waitUntil(async () => {
          const st = await labDaemonStatus(prefix, master);
          return ((st?.['vrrp'] as { state: string }[] | undefined) ?? [])[0]?.state === 'BACKUP';
        }, 10000, 50);
      }
      await sleep(3 * advert * 1000 + 1000);
      master = backup;
    }
  } finally {
    probe.kill('SIGTERM');
    for (const p of echo.values()) await killPid(p, 200);
    const st = readLabState(prefix);
    void st;
    await labDown(prefix);
  }
  return gaps;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

if (process.getuid?.() !== 0) {
  console.log('bench/failover: needs root (network namespaces); skipped');
  process.exit(0);
}
const impls = IMPLS.filter((i) => i !== 'keepalived' || existsSync('/usr/sbin/keepalived'));
const results: { impl: string; advert: number; gaps: number[] }[] = [];
for (const advert of ADVERTS) {
  for (const impl of impls) {
    process.stdout.write(`${impl}, advert_int ${advert} s (VRRPv${advert < 1 ? 3 : 2}), ${RUNS} runs, probe every ${PROBE_MS} ms\n`);
    results.push({ impl, advert, gaps: await measure(impl, advert) });
  }
}
console.log('\n| pair | advert_int | runs | median ms | worst ms | best ms | bound 3 x advert + skew |');
console.log('|---|---|---|---|---|---|---|');
for (const r of results) {
  const bound = 3 * r.advert + (r.advert < 1 ? (156 * r.advert) / 256 : 156 / 256);
  console.log(`| ${r.impl === 'tsvs' ? 'tsvs (forwarding, DR, synced)' : 'keepalived (VIP only, echo on director)'} | ${r.advert} s | ${r.gaps.length} | ${median(r.gaps).toFixed(0)} | ${Math.max(...r.gaps).toFixed(0)} | ${Math.min(...r.gaps).toFixed(0)} | ${(bound * 1000).toFixed(0)} |`);
}
for (const advert of ADVERTS) {
  const t = results.find((r) => r.impl === 'tsvs' && r.advert === advert);
  const k = results.find((r) => r.impl === 'keepalived' && r.advert === advert);
  if (t && k) console.log(`advert_int ${advert} s: tsvs / keepalived median ${(median(t.gaps) / median(k.gaps)).toFixed(2)}, worst ${(Math.max(...t.gaps) / Math.max(...k.gaps)).toFixed(2)}`);
}
void alive;
