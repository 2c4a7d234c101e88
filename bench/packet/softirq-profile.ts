/**
 * bench/packet/softirq-profile.ts: where the machine's CPU goes for one workload through a NAT
 * director, ours (the tc fast path) against kernel nftables DNAT, sampled whole-machine
 * (`perf record -a -g`, softirq and the tc program's JIT symbols included: bpf_jit_kallsyms=1).
 * One fresh lab per director (namespaces tsvs-sprof<PID>-*, removed at the end); wrk bounded.
 * Writes /run/tsvs/sprof-<director>-<workload>.data; prints the top symbols of each.
 *
 *   node --import tsx bench/packet/softirq-profile.ts [ka|new|big] [seconds]
 */
import { spawn, spawnSync } from 'node:child_process';
import { labUp, labDown, labNs, LAB } from '../../src/lab/topology.ts';
import { shTry } from '../../src/lab/netns.ts';

const wl = process.argv[2] ?? 'ka';
const secs = Math.max(4, Number(process.argv[3] ?? 8));
const W: Record<string, { path: string; conns: number; close: boolean }> = {
  new: { path: '/1k', conns: 32, close: true }, ka: { path: '/1k', conns: 32, close: false }, big: { path: '/stream/1', conns: 4, close: false },
};
const spec = W[wl];
if (!spec) throw new Error(`unknown workload ${wl} (new, ka, big)`);
const prefix = `tsvs-sprof${process.pid}`;
const ns = labNs(prefix);
spawnSync('sysctl', ['-q', '-w', 'net.core.bpf_jit_kallsyms=1']);

async function sample(name: string): Promise<void> {
  const data = `/run/tsvs/sprof-${name}-${wl}.data`;
  const wrkArgs = (d: number) => ['ip', 'netns', 'exec', ns.client, 'wrk', '-t', '2', '-c', String(spec.conns), '-d', `${d}s`, ...(spec.close ? ['-H', 'Connection: close'] : []), `http://${LAB.vip}${spec.path}`];
  shTry(wrkArgs(2)); // warm-up, unmeasured
  const rec = spawn('perf', ['record', '-q', '-a', '-g', '-F', '999', '-o', data, '--', 'sleep', String(secs - 2)], { stdio: 'ignore' });
  const r = shTry(wrkArgs(secs));
  if (rec.exitCode === null) await new Promise((res) => rec.once('exit', res));
  console.log(`${name} ${wl}: ${/Requests\/sec:\s*([\d.]+)/.exec(r.out)?.[1]} req/s -> ${data}`);
}

try {
  await labUp('nat', { prefix });
  await sample('tsvs');
  await labDown(prefix);
  await labUp('nat', { prefix, director: 'none' });
  shTry(['ip', 'netns', 'exec', ns.dir, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  shTry(['sh', '-c', `printf 'table ip tsvsdnat {\\n chain pre {\\n  type nat hook prerouting priority -100;\\n  ip daddr ${LAB.vip} tcp dport 80 dnat to numgen inc mod 2 map { 0 : ${LAB.rs[0]}, 1 : ${LAB.rs[1]} }\\n }\\n}\\n' | ip netns exec ${ns.dir} nft -f -`]);
  await new Promise((r) => setTimeout(r, 300));
  await sample('dnat');
} finally {
  await labDown(prefix);
}
