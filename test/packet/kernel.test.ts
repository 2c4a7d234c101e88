/**
 * The real kernel judges the golden outputs: the rewritten frames are sent on a veth pair inside
 * a namespace we create, whose far end holds the real-server address (and the VIP on lo, as a DR
 * real server does). Linux drops a segment with a bad IP/TCP/UDP checksum silently; a good one to
 * a closed port is answered (TCP RST, ICMP port unreachable). A corrupted control frame must get
 * no answer, so the test can fail.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { fromHex } from '../../src/codec/build.ts';
import { createFrameMeta, parseFrame } from '../../src/codec/frame.ts';
import { createForwardResult, forwardFrame, SCRATCH_BYTES } from '../../src/codec/forward.ts';
import { toHex } from '../../src/codec/build.ts';
import { drCases } from './golden/dr.ts';
import { natCases } from './golden/nat.ts';
import { toDecision, type GoldenCase } from './golden/types.ts';

const isRoot = process.getuid?.() === 0;
const here = dirname(fileURLToPath(import.meta.url));
const ns = `tsvspkt${process.pid}`;

function sh(args: string[]): void {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
}
const nsx = (name: string, cmd: string) => sh(['ip', 'netns', 'exec', name, 'sh', '-c', cmd]);

/** Produces the output of the forwarding step itself (not the table's expected bytes). */
function stepOutput(c: GoldenCase): Uint8Array {
  const input = fromHex(c.input);
  const meta = parseFrame(input, 0, input.length, createFrameMeta());
  const res = createForwardResult();
  forwardFrame(input, 0, input.length, meta, toDecision(c.decision), res, new Uint8Array(SCRATCH_BYTES));
  return res.buf.slice(res.off, res.off + res.len);
}

interface Host { ns: string; macA: string; macB: string; setup: string[] }

/** A namespace with a veth pair va—vb; vb (macB) plays the host that receives the frames. */
function judge(host: Host, frames: Uint8Array[]): boolean[] {
  sh(['ip', 'netns', 'add', host.ns]);
  try {
    nsx(host.ns, [
      'ip link add va type veth peer name vb', `ip link set va address ${host.macA}`, `ip link set vb address ${host.macB}`,
      'ip link set lo up', 'ip link set va up', 'ip link set vb up',
      'sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0', ...host.setup,
    ].join(' && '));
    const r = spawnSync('ip', ['netns', 'exec', host.ns, process.execPath, '--import', 'tsx', join(here, 'kernel-inject.ts'), 'va', '250'],
      { input: JSON.stringify(frames.map(toHex)), encoding: 'utf8', timeout: 60000 });
    assert.equal(r.status, 0, r.stderr);
    const results = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { i: number; frames: string[] });
    assert.equal(results.length, frames.length);
    return frames.map((sent, i) => {
      const sm = parseFrame(sent, 0, sent.length, createFrameMeta());
      return results[i]!.frames.some((hex) => {
        const f = fromHex(hex);
        const m = parseFrame(f, 0, f.length, createFrameMeta());
        if (m.reason !== 0 || m.af !== sm.af) return false;
        // An answer comes from the address we sent to, back to our source.
        for (let w = 0; w < 4; w++) if (m.src[w] !== sm.dst[w] || m.dst[w] !== sm.src[w]) return false;
        if (sm.protocol === 6) return m.protocol === 6 && (m.tcpFlags & 4) !== 0 && m.sport === sm.dport && m.dport === sm.sport;
        return m.icmpError && m.innerSport === sm.sport && m.innerDport === sm.dport; // port unreachable
      });
    });
  } finally {
    spawnSync('ip', ['netns', 'del', host.ns]);
  }
}

const RS_MAC = '02:00:00:00:01:11', CLIENT_MAC = '02:00:00:00:00:01';

test('the kernel answers every NAT-in and DR output of the forwarding step and ignores a corrupted one', { skip: isRoot ? false : 'needs root (network namespace)' }, () => {
  const wanted = [...natCases, ...drCases].filter((c) => c.verdict === 'forward' && c.decision.dstMac === RS_MAC && !c.name.includes('802.1Q'));
  const sent = wanted.map(stepOutput);
  for (let i = 0; i < wanted.length; i++) assert.equal(toHex(sent[i]!), wanted[i]!.expected, wanted[i]!.name);
  const corrupt = new Uint8Array(sent[0]!);
  corrupt[corrupt.length - 1] ^= 0x01; // last TCP option byte: the checksum is now wrong
  const ok = judge({ ns: `${ns}r`, macA: '02:00:00:00:01:fe', macB: RS_MAC, setup: [
    'ip addr add 10.1.0.11/24 dev vb', 'ip addr add 10.0.0.100/32 dev lo',
    'ip route add default dev vb', 'ip neigh replace 192.0.2.10 lladdr 02:00:00:00:01:fe dev vb',
    'ip -6 addr add 2001:db8:1::11/64 dev vb nodad', 'ip -6 addr add 2001:db8::100/128 dev lo',
    'ip -6 route add default dev vb', 'ip -6 neigh replace 2001:db8::10 lladdr 02:00:00:00:01:fe dev vb',
  ] }, [...sent, corrupt]);
  assert.ok(wanted.length >= 10);
  for (let i = 0; i < wanted.length; i++) assert.ok(ok[i], `kernel answered "${wanted[i]!.name}"`);
  assert.equal(ok[wanted.length], false, 'a frame with a broken TCP checksum is ignored by the kernel');
});

test('the kernel (as the client) answers every NAT-out output of the forwarding step', { skip: isRoot ? false : 'needs root (network namespace)' }, () => {
  const wanted = natCases.filter((c) => c.verdict === 'forward' && c.decision.dstMac === CLIENT_MAC);
  const sent = wanted.map(stepOutput);
  const ok = judge({ ns: `${ns}c`, macA: '02:00:00:00:00:fe', macB: CLIENT_MAC, setup: [
    'ip addr add 192.0.2.10/24 dev vb', 'ip route add default dev vb', 'ip neigh replace 10.0.0.100 lladdr 02:00:00:00:00:fe dev vb',
    'ip -6 addr add 2001:db8::10/64 dev vb nodad', 'ip -6 route add default dev vb', 'ip -6 neigh replace 2001:db8::100 lladdr 02:00:00:00:00:fe dev vb',
  ] }, sent);
  assert.ok(wanted.length >= 3);
  for (let i = 0; i < wanted.length; i++) assert.ok(ok[i], `kernel answered "${wanted[i]!.name}"`);
});
