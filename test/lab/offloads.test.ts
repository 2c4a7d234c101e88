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

/** Starts tcpdump -vv on a real server; stop() ends it and returns what it printed. */
function capture(ns: string): { stop: () => Promise<string> } {
  let out = '';
  const p = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-i', 'eth0', '-nn', '-vv', '-l', 'tcp or udp or proto 4 or proto 47'], { stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  p.stderr.on('data', () => {});
  return {
    stop: async () => {
      await sleep(300);
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r));
      return out;
    },
  };
}

const RUNS: readonly (readonly [LabMode, readonly string[]])[] = [
  ['nat', ['--fast-path', 'none']], ['dr', ['--fast-path', 'none']], ['tun', ['--fast-path', 'none']],
  ['dr', []], ['nat', ['--workers', '2']], ['dr', ['--workers', '2']],
];

for (const [mode, daemonArgs] of RUNS) {
  const prefix = `tsvs-o${process.pid % 10000}${mode}${daemonArgs[0] === '--workers' ? 'w' : daemonArgs.length ? 'k' : ''}`;
  const ns = labNs(prefix);
  describe(`lab ${mode} (${daemonArgs.join(' ') || 'defaults'}) with the veths' default offloads: every packet reaches the real servers with a correct checksum`, { skip, timeout: 240_000 }, () => {
    before(async () => {
      await labUp(mode, { prefix, daemonArgs });
    });
    after(async () => {
      await labDown(prefix);
    });

    it('the lab left checksum offload and TSO on (no ethtool step)', () => {
      for (const [n, dev] of [[ns.client, 'eth0'], [ns.dir, 'eth0'], [ns.rs[0]!, 'eth0']] as const) {
        const f = features(n, dev);
        assert.equal(f.get('tx-checksumming'), 'on', `${n} ${dev}`);
        assert.equal(f.get('tcp-segmentation-offload'), 'on', `${n} ${dev}`);
      }
    });

    it('requests, a 10 MiB download and a 3 MiB upload arrive intact; tcpdump -vv on the real servers finds no incorrect checksum', async () => {
      const caps = ns.rs.map((n) => capture(n));
      await sleep(500);
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
      const all = dumps.join('\n');
      assert.ok(/cksum 0x[0-9a-f]+ \(correct\)/.test(all), 'tcpdump verified checksums');
      const bad = all.split('\n').filter((l) => l.includes('incorrect'));
      assert.deepEqual(bad.slice(0, 5), [], `${bad.length} packets with incorrect checksums`);
      const st = await labForwarderStatus(prefix);
      assert.ok(st);
      assert.ok(st.counters['csumCompleted']! > 0 || (st.fastPath?.['forwarded'] ?? 0) > 0, `partial checksums completed: ${JSON.stringify(st.counters)}`);
      assert.ok(st.counters['gsoFrames']! > 0, `super-packets segmented: ${JSON.stringify(st.counters)}`);
      assert.ok(st.counters['gsoSegments']! > st.counters['gsoFrames']!);
    });
  });
}
