/**
 * bench/packet/profile.ts: where a lab director's CPU goes under one of bench/packet's workloads.
 * One lab (namespaces tsvs-prof<PID>-*, removed at the end), the daemon with the default fast
 * path; per workload: req/s, machine and daemon CPU per request, and what moved in the
 * forwarder's counters (ring frames read vs packets the kernel fast path carried, its reports per
 * request). With --perf the daemon is restarted under `node --perf-basic-prof` and sampled with
 * `perf record -g` during each workload (/run/tsvs/prof-<workload>.data; read it with
 * `perf report -i FILE --no-children --sort sym`). Not V8's --cpu-prof: its SIGPROF every few
 * hundred µs makes the kernel's verifier give up loading the fast path program (EAGAIN).
 *
 *   node --import tsx bench/packet/profile.ts [nat|dr|tun] [new,ka,big] [seconds] [--perf]
 */
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { labUp, labDown, labNs, LAB, labForwarderStatus, readLabState, labKillDirector, labStartDirector, labAdm, seedCommands, type LabMode } from '../../src/lab/topology.ts';
import { shTry } from '../../src/lab/netns.ts';

const args = process.argv.slice(2).filter((a) => a !== '--perf');
const perf = process.argv.includes('--perf');
const mode = (args[0] ?? 'nat') as LabMode;
const which = (args[1] ?? 'new,ka,big').split(',');
const secs = Math.max(3, Number(args[2] ?? 8));
const WORKLOADS: Record<string, { path: string; conns: number; close: boolean }> = {
  new: { path: '/1k', conns: 32, close: true }, ka: { path: '/1k', conns: 32, close: false }, big: { path: '/stream/1', conns: 4, close: false },
};
for (const w of which) if (!WORKLOADS[w]) throw new Error(`unknown workload ${w} (new, ka, big)`);
const prefix = `tsvs-prof${process.pid}`;
const ns = labNs(prefix);
const busy = (): number => { const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number); return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) / 100; };
const cpu = (pid: number): number => { const s = readFileSync(`/proc/${pid}/stat`, 'utf8'); const f = s.slice(s.lastIndexOf(')') + 2).split(' '); return (Number(f[11]) + Number(f[12])) / 100; };
const moved = (a: Record<string, unknown> | null | undefined, b: Record<string, unknown> | null | undefined): Record<string, number> => {
  const o: Record<string, number> = {};
  for (const [k, v] of Object.entries(b ?? {})) if (typeof v === 'number' && v !== (a?.[k] ?? 0)) o[k] = v - (typeof a?.[k] === 'number' ? (a[k] as number) : 0);
  return o;
};
const wrapper = `/run/tsvs/${prefix}-node.sh`;
try {
  await labUp(mode, { prefix });
  if (perf) {
    // The lab starts directors with process.execPath: a wrapper adding --perf-basic-prof (JIT names for perf).
    writeFileSync(wrapper, `#!/bin/sh\nexec ${process.execPath} --perf-basic-prof "$@"\n`);
    chmodSync(wrapper, 0o755);
    await labKillDirector(prefix, 'dir', 'SIGTERM');
    const real = process.execPath;
    process.execPath = wrapper;
    try { await labStartDirector(prefix, 'dir'); } finally { process.execPath = real; }
    for (const c of seedCommands(mode)) await labAdm(prefix, c);
  }
  const pid = readLabState(prefix)!.directors[0]!.pid;
  for (const w of which) {
    const spec = WORKLOADS[w]!;
    const s0 = await labForwarderStatus(prefix);
    const rec = perf ? spawn('perf', ['record', '-q', '-F', '1999', '-g', '-o', `/run/tsvs/prof-${w}.data`, '-p', String(pid), '--', 'sleep', String(secs - 2)], { stdio: 'ignore' }) : null;
    const m0 = busy(), d0 = cpu(pid);
    const r = shTry(['ip', 'netns', 'exec', ns.client, 'wrk', '-t', '2', '-c', String(spec.conns), '-d', `${secs}s`, ...(spec.close ? ['-H', 'Connection: close'] : []), `http://${LAB.vip}${spec.path}`]);
    const m1 = busy(), d1 = cpu(pid);
    if (rec && rec.exitCode === null) await new Promise((res) => rec.once('exit', res));
    const s1 = await labForwarderStatus(prefix);
    const rps = Number(/Requests\/sec:\s*([\d.]+)/.exec(r.out)?.[1] ?? 0), n = Math.max(1, rps * secs);
    const c = moved(s0?.counters, s1?.counters), f = moved(s0?.fastPath, s1?.fastPath);
    console.log(`${mode} ${w}: ${rps.toFixed(0)} req/s; machine ${((m1 - m0) * 1e6 / n).toFixed(1)} µs/req; daemon ${((d1 - d0) * 1e6 / n).toFixed(2)} µs/req; ` +
      `per request: ring frames ${((c['rx'] ?? 0) / n).toFixed(3)}, kernel-carried packets ${((f['forwarded'] ?? 0) / n).toFixed(2)}, kernel packets the engine decided ${((f['events'] ?? 0) / n).toFixed(2)}, kernel reports ${f['reports'] === undefined ? '-' : (f['reports'] / n).toFixed(2)}`);
    console.log(`  counters ${JSON.stringify(c)}\n  fastPath ${JSON.stringify(f)}`);
  }
} finally {
  await labDown(prefix);
  rmSync(wrapper, { force: true });
}
