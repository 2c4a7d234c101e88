/**
 * bench/packet/offloads.ts: what the veths' default offloads cost the packet forwarder (partial
 * checksums completed, GSO super-packets cut into segments in user space), measured against the
 * same lab with offloads turned off (ethtool), in one run, interleaved per round (medians).
 *   bash bench/packet/offloads.sh         (root; BENCH_SECONDS per wrk run, default 4; BENCH_ROUNDS, default 3)
 *
 * 1. Codec: ns per partial checksum completed (1448-byte TCP segment), ns per segment cut from a
 *    64 KiB super-packet (cut + parse), next to parse + NAT rewrite of one complete segment.
 * 2. Lab (namespaces tsvs-bench-off-*, removed at the end): NAT (the daemon's default) and DR with
 *    every packet in user space (--fast-path none), each with offloads default and off: wrk new
 *    connection per request (1 KiB, -c32) and keep-alive 1 MiB downloads (/stream/1, -c4);
 *    req/s and the director daemon's CPU (utime + stime) per request; the forwarder's offload
 *    counters. Bounded: every wrk run lasts BENCH_SECONDS.
 */
import { readFileSync } from 'node:fs';
import { buildFrame } from '../../src/codec/build.ts';
import { fold16, pseudoSum4, rd32, wr16 } from '../../src/codec/checksum.ts';
import { createFrameMeta, parseFrame } from '../../src/codec/frame.ts';
import { createForwardResult, forwardFrame, SCRATCH_BYTES, type ForwardDecision } from '../../src/codec/forward.ts';
import { createOffloadPlan, planOffload, writeGsoSegment, VNET_F, VNET_GSO, type VnetHdr } from '../../src/codec/offload.ts';
import { parseIp } from '../../src/core/addr.ts';
import { parseMac } from '../../src/codec/ethernet.ts';
import { labUp, labDown, labNs, LAB, labForwarderStatus, readLabState, type LabMode } from '../../src/lab/topology.ts';
import { shTry } from '../../src/lab/netns.ts';

const SECS = Number(process.env['BENCH_SECONDS'] ?? 4);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const prefix = 'tsvs-bench-off';
const ns = labNs(prefix);
const fmt = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '-');
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)]! : NaN; };

// ---- 1. codec -------------------------------------------------------------------------------
function nsPer(fn: () => void, ms = 300): number {
  const warm = performance.now() + 50;
  while (performance.now() < warm) for (let i = 0; i < 100; i++) fn();
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    let n = 0;
    const t0 = performance.now();
    let t = t0;
    while (t < t0 + ms / 3) { for (let i = 0; i < 200; i++) fn(); n += 200; t = performance.now(); }
    best = Math.min(best, ((t - t0) * 1e6) / n);
  }
  return best;
}

function codec(): { complete: number; segment: number; forward: number } {
  const eth = { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:fe' };
  const payload = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 255);
  const spec = (n: number) => ({ ip: { src: '172.16.0.2', dst: '10.0.0.100', ttl: 63, id: 1, df: true }, tcp: { sport: 40000, dport: 80, seq: 1, ack: 1, flags: 0x10, payload: payload(n) } });
  const partial = (f: Uint8Array) => {
    const m = parseFrame(f, 0, f.length, createFrameMeta());
    wr16(f, m.l4Off + 16, fold16(pseudoSum4(rd32(f, m.l3Off + 12), rd32(f, m.l3Off + 16), 6, m.l4Len)));
    return m;
  };
  const seg = buildFrame(eth, spec(1448));
  const m1 = partial(seg);
  const h: VnetHdr = { flags: VNET_F.NEEDS_CSUM, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: m1.l4Off, csumOffset: 16 };
  const plan = createOffloadPlan();
  const complete = nsPer(() => { planOffload(seg, m1, h, plan); });
  const big = buildFrame(eth, spec(45 * 1448));
  const mb = partial(big);
  const out = new Uint8Array(4096);
  const om = createFrameMeta();
  let i = 0;
  const segment = nsPer(() => { const n = writeGsoSegment(big, mb, 1448, i, out, 64); parseFrame(out, 64, n, om); i = (i + 1) % 45; });
  const d: ForwardDecision = { method: 'masq', dir: 'in', rip: parseIp('192.168.10.11')!, rport: 80, vip: parseIp('10.0.0.100')!, vport: 80, srcMac: parseMac('02:00:00:00:01:fe')!, dstMac: parseMac('02:00:00:00:01:11')!, tunnelSrc: null, mtu: 1500 };
  const res = createForwardResult();
  const scratch = new Uint8Array(SCRATCH_BYTES);
  const whole = buildFrame(eth, spec(1448));
  const copy = new Uint8Array(whole);
  const fm = createFrameMeta();
  const forward = nsPer(() => { copy.set(whole); parseFrame(copy, 0, copy.length, fm); forwardFrame(copy, 0, copy.length, fm, d, res, scratch); });
  return { complete, segment, forward };
}

// ---- 2. lab ---------------------------------------------------------------------------------
const TICK = 100;
function procCpu(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICK;
  } catch { return 0; }
}

interface Row { config: string; workload: string; rps: number[]; us: number[]; counters: string }
const WORKLOADS = [
  { name: 'new connection per request, 1 KiB', args: ['-t', '2', '-c', '32', '-H', 'Connection: close'], path: '/1k' },
  { name: 'keep-alive, 1 MiB', args: ['-t', '2', '-c', '4'], path: '/stream/1' },
] as const;
const CONFIGS: { mode: LabMode; args: string[]; label: string }[] = [
  { mode: 'nat', args: [], label: 'NAT' },
  { mode: 'dr', args: ['--fast-path', 'none'], label: 'DR (--fast-path none)' },
];

async function main(): Promise<void> {
  const c = codec();
  console.log('## Codec (ns, best of 3)');
  console.log(`partial checksum completed, 1448-byte TCP segment: ${fmt(c.complete, 0)} ns`);
  console.log(`one segment cut from a 64 KiB super-packet and parsed: ${fmt(c.segment, 0)} ns`);
  console.log(`peer: parse + NAT rewrite of one complete 1448-byte segment: ${fmt(c.forward, 0)} ns`);
  const rows = new Map<string, Row>();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const cfg of CONFIGS) {
        for (const offloads of ['off', 'default'] as const) {
          await labUp(cfg.mode, { prefix, daemonArgs: cfg.args, offloads });
          const pid = readLabState(prefix)!.directors[0]!.pid;
          for (const w of WORKLOADS) {
            const key = `${cfg.label} | offloads ${offloads} | ${w.name}`;
            const row = rows.get(key) ?? { config: `${cfg.label}, offloads ${offloads}`, workload: w.name, rps: [], us: [], counters: '' };
            rows.set(key, row);
            const c0 = procCpu(pid);
            const r = shTry(['ip', 'netns', 'exec', ns.client, 'wrk', ...w.args, '-d', `${SECS}s`, `http://${LAB.vip}${w.path}`]);
            const c1 = procCpu(pid);
            const rps = Number(/Requests\/sec:\s*([\d.]+)/.exec(r.out)?.[1] ?? 0);
            row.rps.push(rps);
            row.us.push(((c1 - c0) * 1e6) / Math.max(1, rps * SECS));
          }
          const st = await labForwarderStatus(prefix);
          if (st) {
            const k = st.counters;
            for (const w of WORKLOADS) rows.get(`${cfg.label} | offloads ${offloads} | ${w.name}`)!.counters = `csum completed ${k['csumCompleted']}, super-packets ${k['gsoFrames']} -> ${k['gsoSegments']} segments, frames read ${k['rx']}`;
          }
          await labDown(prefix);
        }
      }
    }
  } finally {
    await labDown(prefix);
  }
  console.log(`\n## Lab (wrk ${SECS} s per run, ${ROUNDS} rounds interleaved, medians)`);
  console.log('| director | workload | req/s | director µs/req |');
  console.log('|---|---|---|---|');
  for (const r of rows.values()) console.log(`| ${r.config} | ${r.workload} | ${fmt(median(r.rps), 0)} | ${fmt(median(r.us))} |`);
  for (const cfg of CONFIGS) for (const w of WORKLOADS) {
    const on = rows.get(`${cfg.label} | offloads default | ${w.name}`), off = rows.get(`${cfg.label} | offloads off | ${w.name}`);
    if (!on || !off) continue;
    console.log(`${cfg.label}, ${w.name}: offloads default / off: req/s ${fmt(median(on.rps) / median(off.rps), 2)}x, director CPU/req ${fmt(median(on.us) / median(off.us), 2)}x (last round: ${on.counters})`);
  }
}

await main();
