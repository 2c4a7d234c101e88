// The lab with the veths' default offloads (tx checksum offload, TSO, GSO on: what every container
// has): the director's rings see partial checksums and GSO super-packets. The real servers must
// receive only packets with correct checksums (tcpdump -vv prints "incorrect" otherwise), and
// downloads and uploads larger than one segment arrive intact, in every forwarding method, on the
// main-thread path without the kernel fast path and with ring workers.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync, rmSync } from 'node:fs';
import {
  labUp, labDown, curlFromClient, labNs, LAB, labForwarderStatus, type LabMode,
} from '../../src/lab/topology.ts';
import { shTry } from '../../src/lab/netns.ts';

const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root (network namespaces, AF_PACKET, nftables)';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What /big serves (rs-server.mjs): 10 MiB of (i * 31 + 7) & 255. */
function bigPattern(): Buffer {
  const b = Buffer.alloc(10 * 1024 * 1024);
  for (let i = 0; i < b.length; i++) b[i] = (i * 31 + 7) & 255;
  return b;
}
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** `ethtool -k` features of a device in a namespace, as name -> on/off. */
function features(ns: string, dev: string): Map<string, string> {
  const out = shTry(['ip', 'netns', 'exec', ns, 'ethtool', '-k', dev]).out;
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const x = /^\s*([a-z0-9-]+): (on|off)/.exec(line);
    if (x) m.set(x[1]!, x[2]!);
  }
  return m;
}

/**
 * Starts tcpdump -vv on a real server, for what it receives only (what it sends itself carries
 * partial checksums before its own veth completes them: tcpdump calls those incorrect too).
 */
function capture(ns: string): { ready: Promise<void>; stop: () => Promise<string> } {
  let out = '', err = '';
  const p = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-i', 'eth0', '-Q', 'in', '-nn', '-vv', '-l', 'tcp or udp or proto 4 or proto 47'], { stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  // Capturing once it says so (bounded at 5 s: a slow start on a busy machine misses no packet).
  const ready = new Promise<void>((resolve) => {
    const t = setTimeout(resolve, 5000);
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('listening on')) { clearTimeout(t); resolve(); }
    });
  });
  return {
    ready,
    stop: async () => {
      await sleep(300);
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r));
      return out;
    },
  };
}

/** TCP and UDP InCsumErrors of a namespace (/proc/net/snmp): packets its stack dropped for a bad checksum. */
function csumErrors(ns: string): number {
  const lines = shTry(['ip', 'netns', 'exec', ns, 'cat', '/proc/net/snmp']).out.split('\n');
  let n = 0;
  for (const proto of ['Tcp:', 'Udp:']) {
    const [names, values] = lines.filter((l) => l.startsWith(proto)).map((l) => l.split(/\s+/));
    const i = names!.indexOf('InCsumErrors');
    assert.ok(i > 0, `${proto} InCsumErrors in /proc/net/snmp`);
    n += Number(values![i]);
  }
  return n;
}

/** Mode, daemon arguments, the lab's offloads (the last run keeps the old ethtool step: nothing to complete or cut). */
const RUNS: readonly (readonly [LabMode, readonly string[], 'default' | 'off'])[] = [
  ['nat', ['--fast-path', 'none'], 'default'], ['dr', ['--fast-path', 'none'], 'default'], ['tun', ['--fast-path', 'none'], 'default'],
  ['dr', [], 'default'], ['nat', [], 'default'], ['nat', ['--workers', '2'], 'default'], ['dr', ['--workers', '2'], 'default'],
  ['nat', [], 'off'],
];

for (const [mode, daemonArgs, offloads] of RUNS) {
  const prefix = `tsvs-o${process.pid % 10000}${mode}${daemonArgs[0] === '--workers' ? 'w' : daemonArgs.length ? 'k' : ''}${offloads === 'off' ? 'x' : ''}`;
  const ns = labNs(prefix);
  const on = offloads === 'default';
  describe(`lab ${mode} (${daemonArgs.join(' ') || 'defaults'}) with the veths' ${on ? 'default offloads' : 'offloads turned off'}: every packet reaches the real servers with a correct checksum`, { skip, timeout: 240_000 }, () => {
    before(async () => {
      await labUp(mode, { prefix, daemonArgs, offloads });
    });
    after(async () => {
      await labDown(prefix);
    });

    it(on ? 'the lab left checksum offload and TSO on (no ethtool step)' : 'the lab turned checksum offload and TSO off', () => {
      for (const [n, dev] of [[ns.client, 'eth0'], [ns.dir, 'eth0'], [ns.rs[0]!, 'eth0']] as const) {
        const f = features(n, dev);
        assert.equal(f.get('tx-checksumming'), offloads === 'off' ? 'off' : 'on', `${n} ${dev}`);
        assert.equal(f.get('tcp-segmentation-offload'), offloads === 'off' ? 'off' : 'on', `${n} ${dev}`);
      }
    });

    it('requests, a 10 MiB download and a 3 MiB upload arrive intact; no real server counts a checksum error and tcpdump -vv finds no incorrect checksum in what user space forwarded', async () => {
      const errs0 = ns.rs.map(csumErrors);
      const caps = ns.rs.map((n) => capture(n));
      await Promise.all(caps.map((c) => c.ready));
      const bodies = curlFromClient(prefix, 4);
      assert.ok(bodies.every((b) => b === 'test1' || b === 'test2'), bodies.join(','));
      const big = execFileSync('ip', ['netns', 'exec', ns.client, 'curl', '-s', '-m', '30', `http://${LAB.vip}/big`], { maxBuffer: 64 << 20 });
      assert.equal(big.length, 10 * 1024 * 1024);
      assert.equal(sha(big), sha(bigPattern()));
      const up = Buffer.alloc(3 * 1024 * 1024);
      for (let i = 0; i < up.length; i++) up[i] = (i * 7 + 3) & 255;
      const file = `/tmp/${prefix}-upload.bin`;
      writeFileSync(file, up);
      try {
        const r = shTry(['ip', 'netns', 'exec', ns.client, 'curl', '-s', '-m', '30', '--data-binary', `@${file}`, '-H', 'content-type: application/octet-stream', `http://${LAB.vip}/sum`]);
        assert.equal(r.status, 0, r.err);
        assert.match(r.out.trim(), new RegExp(`^test[12] ${up.length} ${sha(up)}$`));
      } finally {
        rmSync(file, { force: true });
      }
      const dumps = await Promise.all(caps.map((c) => c.stop()));
      assert.deepEqual(ns.rs.map(csumErrors), errs0, 'the real servers dropped no packet for its checksum (TCP/UDP InCsumErrors)');
      const all = dumps.join('\n');
      const st = await labForwarderStatus(prefix);
      assert.ok(st);
      // What user space sent toward the real servers: tcpdump must have verified its checksums.
      // With the tc fast path a NAT connection may be the kernel's from its SYN to its last ACK
      // (decisions ahead, the close carried there): then user space sends none, and the kernel's
      // frames keep their offload state (below).
      const fromUser = st.counters['route']! + st.counters['masqIn']! + st.counters['tunnel']!;
      assert.ok(/cksum 0x[0-9a-f]+ \((in)?correct/.test(all), 'tcpdump checked checksums');
      if (fromUser > 0) assert.ok(/cksum 0x[0-9a-f]+ \(correct\)/.test(all), 'tcpdump verified checksums');
      // The kernel fast path (tc, DR) redirects the client's packets with their offload state
      // (a partial checksum stays partial, completed by whichever device sends it on a wire, as
      // when the kernel routes): tcpdump on a veth receiver shows those as "incorrect", the
      // receiving stack accepts them. What user space sends must be complete.
      if (!st.fastPath || st.fastPath['forwarded'] === 0) {
        const bad = all.split('\n').filter((l) => l.includes('incorrect'));
        assert.deepEqual(bad.slice(0, 5), [], `${bad.length} packets with incorrect checksums`);
      }
      if (on) {
        // With the kernel fast path (DR), established flows -- super-packets included, sent on
        // whole -- are the kernel's: user space may see none of them.
        const kernel = (st.fastPath?.['forwarded'] ?? 0) > 0;
        assert.ok(st.counters['csumCompleted']! > 0 || kernel, `partial checksums completed: ${JSON.stringify(st.counters)}`);
        assert.ok(st.counters['gsoFrames']! > 0 || kernel, `super-packets segmented: ${JSON.stringify(st.counters)}`);
        if (st.counters['gsoFrames']! > 0) assert.ok(st.counters['gsoSegments']! > st.counters['gsoFrames']!);
      } else {
        assert.deepEqual([st.counters['csumCompleted'], st.counters['gsoFrames']], [0, 0], 'full checksums and no super-packets arrive');
      }
      // Nothing dropped, but in TUN: the client's full-size segments no longer fit once
      // encapsulated, and are answered with fragmentation-needed (the client lowers its path MTU).
      const { 'too-big': tooBig = 0, ...dropped } = st.drops;
      assert.deepEqual(dropped, {}, 'nothing dropped');
      assert.equal(tooBig, mode === 'tun' ? st.counters['fragNeeded'] : 0, 'too big only in TUN, each answered');
    });
  });
}
