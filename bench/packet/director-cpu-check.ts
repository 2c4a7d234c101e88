/**
 * bench/packet/director-cpu-check.ts: what the direct reading (director-cpu.ts) costs and how
 * steady it is. One lab per director (ours NAT with the tc fast path, kernel nftables DNAT), and
 * keep-alive 1 KiB through each in windows of `seconds`, alternately with the tracer attached
 * and detached (`pairs` pairs): req/s and machine µs/req with and without it (its overhead), the
 * direct reading per window (its spread); then one window with the kernel's BPF statistics on:
 * the tracer's programs' runs per request and ns per run (what one probe adds to a director's
 * stretch). Namespaces tsvs-dcpu-*, removed at the end; wrk bounded.
 *
 *   node --import tsx bench/packet/director-cpu-check.ts [seconds=6] [pairs=3]
 */
import { readFileSync } from 'node:fs';
import { labUp, labDown, labNs, LAB } from '../../src/lab/topology.ts';
import { shTry } from '../../src/lab/netns.ts';
import { DirectorCpuTracer, cpuDelta } from './director-cpu.ts';

const secs = Math.max(2, Number(process.argv[2] ?? 6));
const pairs = Math.max(1, Number(process.argv[3] ?? 3));
const prefix = 'tsvs-dcpu';
const ns = labNs(prefix);
const busy = () => { const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number); return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) / 100; };
const wrk = (d: number) => shTry(['ip', 'netns', 'exec', ns.client, 'wrk', '-t', '2', '-c', '32', '-d', `${d}s`, `http://${LAB.vip}/1k`]);
const rps = (out: string) => Number(/Requests\/sec:\s*([\d.]+)/.exec(out)?.[1] ?? 0);
const f = (v: number, d = 2) => v.toFixed(d);

async function director(name: string, up: () => Promise<void>): Promise<void> {
  await up();
  let t: DirectorCpuTracer | null = null;
  try {
    wrk(3); // warm-up
    for (let i = 0; i < pairs * 2; i++) {
      const on = i % 2 === 0;
      if (on) { t = DirectorCpuTracer.open(); t.namespace(ns.dir); }
      const m0 = busy(), c0 = t?.read();
      const r = rps(wrk(secs).out);
      const m1 = busy(), c1 = t?.read();
      const n = r * secs;
      const line = `${name} tracer ${on ? 'on ' : 'off'}: ${f(r, 0)} req/s, machine ${f(((m1 - m0) * 1e6) / n)} µs/req`;
      if (c0 && c1) {
        const d = cpuDelta(c0, c1);
        console.log(`${line}; direct: rx ${f(d.rxNs / 1e3 / n)} + proc ${f(d.procNs / 1e3 / n)} µs/req, ${f(d.rxFrames / n)} frames/req${d.rxTask ? `, ${d.rxTask} outside softirq` : ''}`);
      } else console.log(line);
      if (on) { t!.close(); t = null; }
    }
    t = DirectorCpuTracer.open();
    t.namespace(ns.dir);
    const stop = t.enableStats();
    const r = rps(wrk(secs).out);
    stop();
    for (const p of t.programStats()) console.log(`${name} probe ${p.name}: ${f(p.runs / (r * secs))} runs/req, ${f(p.runNs / Math.max(1, p.runs), 0)} ns/run, ${f(p.runNs / 1e3 / (r * secs))} µs/req (stats on: ${f(r, 0)} req/s)`);
  } finally {
    t?.close();
    await labDown(prefix);
  }
}

try {
  await director('tsvs NAT', () => labUp('nat', { prefix, fastPath: 'tc' }).then(() => {}));
  await director('nftables DNAT', async () => {
    await labUp('nat', { prefix, director: 'none' });
    shTry(['ip', 'netns', 'exec', ns.dir, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    shTry(['sh', '-c', `printf 'table ip tsvsdnat {\\n chain pre {\\n  type nat hook prerouting priority -100;\\n  ip daddr ${LAB.vip} tcp dport 80 dnat to numgen inc mod 2 map { 0 : ${LAB.rs[0]}, 1 : ${LAB.rs[1]} }\\n }\\n}\\n' | ip netns exec ${ns.dir} nft -f -`]);
  });
} finally {
  await labDown(prefix);
}
