// The Linux kernel's own IPVS selftest (tools/testing/selftests/net/netfilter/ipvs.sh, copied in
// test/lab/fixtures/kernel-ipvs/, GPL-2.0) run against tsvs: its DR, NAT and TUN cases, each a
// socat client sending 32 bytes through VIP:8080 to a socat server behind a director, in three
// namespaces joined by veths left at their default offloads. It passes only if every case does.
//
// What differs from running it on a kernel with IPVS, and why:
//   1. `ipvsadm` on PATH is tsvsadm: a shim (below) that talks to a `tsvs daemon --forwarder packet`
//      running in the namespace it is called in, and starts that daemon there on first use (the
//      script calls ipvsadm in its director namespace before any traffic, as it would configure
//      the kernel). The daemon's extra arguments are the run's (default, --fast-path none,
//      --workers 2). In the runner's own namespace (checktool's `ipvsadm -v`) it prints
//      tsvsadm's version line and starts nothing: no director outside the test's namespaces.
//   2. `modprobe` on PATH answers 0 for ip_vs (there is no kernel IPVS to load: tsvs is the
//      director) and runs the real modprobe for anything else (ipip).
//   3. `tsvs` on PATH is this checkout's CLI (the script's TUN fallback, change 2 below).
//   In the script (marked "tsvs:" there):
//   1. The VIP is 10.200.44.110, not 207.175.44.110: traffic only to private addresses.
//   2. TUN: where the real server's namespace has no tunl0 (kernel without ipip, as these
//      machines), `tsvs realserver up --vip VIP --mode tun` decapsulates instead; where the kernel
//      has ipip, its own tunl0 does, as in the original.
//   lib.sh is ours (namespaces named tsvs-ks<PID>-*, processes left in them ended by PID).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listNetns } from '../../src/lab/netns.ts';
import { versionText } from '../../src/ipvsadm/texts.ts';

const root = process.getuid?.() === 0;
const haveSocat = spawnSync('socat', ['-V']).status === 0;
const skip = !root ? 'needs root (network namespaces, AF_PACKET, nftables)' : !haveSocat ? 'socat not installed (scripts/setup.sh installs it)' : false;
const fixture = fileURLToPath(new URL('./fixtures/kernel-ipvs/', import.meta.url));
const repo = fileURLToPath(new URL('../../', import.meta.url));
const realModprobe = spawnSync('sh', ['-c', 'command -v modprobe']).stdout?.toString().trim() || '/usr/sbin/modprobe';
/** Does this kernel have ipip (the TUN case then uses the kernel's tunl0, else the agent)? */
const kernelIpip = spawnSync(realModprobe, ['-n', '-q', 'ipip']).status === 0;

/** Writes the PATH shims of the list above into `bin`; director logs go to `logs`. */
function shims(bin: string, logs: string, daemonArgs: readonly string[]): void {
  const node = process.execPath;
  const hostNs = statSync('/proc/self/ns/net').ino;
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const files: Record<string, string> = {
    ipvsadm: `#!/bin/sh
# tsvs selftest shim: ipvsadm is tsvsadm, the client of a tsvs director in this namespace.
here=$(stat -L -c %i /proc/self/ns/net)
if [ "$here" = ${hostNs} ]; then
  case "$*" in -v|--version) printf '%s' ${q(versionText())}; exit 0;; esac
  echo "ipvsadm shim: no director in the runner's namespace" >&2; exit 2
fi
sock=${q(logs)}/director-$here.sock
if [ ! -S "$sock" ]; then
  setsid ${q(node)} ${q(join(repo, 'bin/tsvs.mjs'))} daemon --forwarder packet --socket "$sock" --no-state --log-level info ${daemonArgs.map(q).join(' ')} >> ${q(logs)}/director-$here.log 2>&1 < /dev/null &
  i=0
  until [ -S "$sock" ] && TSVS_SOCKET="$sock" ${q(node)} ${q(join(repo, 'bin/tsvsadm.mjs'))} -L -n > /dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "ipvsadm shim: the director did not start" >&2; exit 2; }
    sleep 0.2
  done
fi
TSVS_SOCKET="$sock" exec ${q(node)} ${q(join(repo, 'bin/tsvsadm.mjs'))} "$@"
`,
    modprobe: `#!/bin/sh
# tsvs selftest shim: no kernel IPVS to load (tsvs is the director); anything else as usual.
for a in "$@"; do [ "$a" = ip_vs ] && exit 0; done
exec ${q(realModprobe)} "$@"
`,
    tsvs: `#!/bin/sh
exec ${q(node)} ${q(join(repo, 'bin/tsvs.mjs'))} "$@"
`,
  };
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(join(bin, name), text);
    chmodSync(join(bin, name), 0o755);
  }
}

/** The three ways the director runs: the default packet path (with the kernel fast path), all in user space, ring workers. */
const RUNS: readonly (readonly string[])[] = [[], ['--fast-path', 'none'], ['--workers', '2']];

for (const daemonArgs of RUNS) {
  test(`the kernel's IPVS selftest (ipvs.sh) passes its DR, NAT and TUN cases against tsvs daemon --forwarder packet${daemonArgs.length ? ` ${daemonArgs.join(' ')}` : ''}, TUN through ${kernelIpip ? "the kernel's tunl0" : 'the decapsulation agent'}`, { skip, timeout: 150_000 }, () => {
    const dir = mkdtempSync('/tmp/tsvs-kselftest-');
    const bin = join(dir, 'bin');
    const logs = join(dir, 'logs');
    const work = join(dir, 'script');
    mkdirSync(bin);
    mkdirSync(logs);
    mkdirSync(work);
    let pid = 0;
    try {
      shims(bin, logs, daemonArgs);
      for (const f of ['ipvs.sh', 'lib.sh']) copyFileSync(join(fixture, f), join(work, f));
      // xtrace (stderr) only to tell which case failed: run_tests adds each case's status to
      // `errors`, and prints only the sum.
      const r = spawnSync('bash', ['-x', 'ipvs.sh'], {
        cwd: work, encoding: 'utf8', timeout: 120_000,
        env: { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` },
      });
      pid = r.pid ?? 0;
      const trace = (r.stderr ?? '').split('\n');
      const out = `${r.stdout ?? ''}${trace.filter((l) => !l.startsWith('+')).join('\n')}`;
      const sums = trace.map((l) => /^\+ errors=(\d+)$/.exec(l)).filter((m) => m !== null).map((m) => Number(m[1]));
      const cases = { DR: sums[0], NAT: sums[1]! - sums[0]!, TUN: sums[2]! - sums[1]! };
      const directorLogs = readdirSync(logs).filter((f) => f.endsWith('.log')).map((f) => `--- ${f}\n${readFileSync(join(logs, f), 'utf8').slice(-3000)}`).join('\n');
      const why = `ipvs.sh said:\n${out}\n${directorLogs}\n--- trace (end)\n${trace.slice(-60).join('\n')}`;
      assert.deepEqual(cases, { DR: 0, NAT: 0, TUN: 0 }, `cases failed (non-zero): ${JSON.stringify(cases)}\n${why}`);
      assert.equal(r.status, 0, why);
      for (const line of ['Testing DR mode...', 'Testing NAT mode...', 'Testing Tunnel mode...']) assert.ok(out.includes(line), why);
      assert.match(out, /ipvs\.sh: .*PASS/, why);
      // One director per case, each started by the ipvsadm shim in the script's director namespace
      // (a recreated namespace may get the inode, hence the log, of the one it replaces).
      const ready = readdirSync(logs).filter((f) => f.endsWith('.log')).map((f) => readFileSync(join(logs, f), 'utf8').split('tsvs daemon ready').length - 1);
      assert.equal(ready.reduce((a, b) => a + b, 0), 3, why);
      if (!kernelIpip) assert.match(out, /tsvstun0|agent/i, `the TUN case ran through the decapsulation agent\n${why}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      if (pid) assert.deepEqual(listNetns().filter((n) => n.startsWith(`tsvs-ks${pid}-`)), [], 'the script removed its namespaces');
    }
  });
}
