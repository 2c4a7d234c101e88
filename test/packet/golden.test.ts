import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromHex, toHex } from '../../src/codec/build.ts';
import { checksum, pseudoSum4, pseudoSum6, rd16, rd32 } from '../../src/codec/checksum.ts';
import { DropCounters } from '../../src/codec/counters.ts';
import { createFrameMeta, DROP_REASON_NAMES, parseFrame, type FrameMeta } from '../../src/codec/frame.ts';
import { createForwardResult, forwardFrame, SCRATCH_BYTES } from '../../src/codec/forward.ts';
import { ACTION_NAMES } from '../../src/core/types.ts';
import { buildIcmpErrorFrame, IcmpErrorKind } from '../../src/codec/icmp.ts';
import { drCases } from './golden/dr.ts';
import { icmpCases } from './golden/icmp.ts';
import { malformedCases } from './golden/malformed.ts';
import { natCases } from './golden/nat.ts';
import { tunCases } from './golden/tun.ts';
import { tuntypesCases } from './golden/tuntypes.ts';
import { toDecision, type GoldenCase } from './golden/types.ts';
import { writePcap } from './pcap.ts';

const tables: Record<string, GoldenCase[]> = { nat: natCases, dr: drCases, tun: tunCases, tuntypes: tuntypesCases, icmp: icmpCases, malformed: malformedCases };
const all = Object.values(tables).flat();

function run(c: GoldenCase) {
  const input = fromHex(c.input);
  const head = c.headroom ?? 0;
  const buf = new Uint8Array(head + input.length + 7); // trailing slack: must not be read as packet
  buf.set(input, head);
  const before = new Uint8Array(buf);
  const meta = createFrameMeta();
  parseFrame(buf, head, input.length, meta);
  const res = createForwardResult();
  const scratch = new Uint8Array(SCRATCH_BYTES);
  const counters = new DropCounters();
  forwardFrame(buf, head, input.length, meta, toDecision(c.decision), res, scratch, counters);
  const out = res.buf.subarray(res.off, res.off + res.len);
  return { res, out, buf, before, counters, meta };
}

for (const [table, cases] of Object.entries(tables)) {
  describe(`golden ${table}`, () => {
    for (const c of cases) {
      if (c.verdict === 'builder') continue;
      test(c.name, () => {
        const { res, out, buf, before, counters } = run(c);
        assert.equal(ACTION_NAMES[res.verdict], c.verdict);
        assert.equal(res.reason === 0 ? '' : DROP_REASON_NAMES[res.reason], c.reason);
        if (c.verdict === 'drop') {
          assert.deepEqual(buf, before, 'a dropped frame is left untouched');
        } else {
          assert.equal(toHex(out), c.expected);
        }
        if (c.reason !== '') assert.equal(counters.snapshot()[c.reason], 1, 'the drop is counted by reason');
        else assert.equal(counters.total(), 0);
        if (c.verdict === 'forward' && (c.headroom ?? 0) > 0) assert.equal(res.buf, buf, 'encapsulated in place');
      });
    }
  });
}

test('ICMP port-unreachable builder answers a client frame from the VIP with the quoted packet', () => {
  const c = icmpCases.find((x) => x.verdict === 'builder')!;
  const input = fromHex(c.input);
  const meta = parseFrame(input, 0, input.length, createFrameMeta());
  assert.equal(meta.reason, 0);
  const out = new Uint8Array(2000);
  const n = buildIcmpErrorFrame(out, 0, input, meta, IcmpErrorKind.PORT_UNREACH);
  assert.equal(toHex(out.subarray(0, n)), c.expected);
});

/** Full-recompute validation of every checksum in a frame: IPv4 header, TCP/UDP/ICMP(v6). */
function checksumsValid(frame: Uint8Array, m: FrameMeta): boolean {
  if (m.af === 4 && checksum(frame, m.l3Off, m.l3HdrLen) !== 0) return false;
  const l4 = m.l4Off, n = m.l4Len;
  const pseudo = (proto: number) => m.af === 4
    ? pseudoSum4(rd32(frame, m.l3Off + 12), rd32(frame, m.l3Off + 16), proto, n)
    : pseudoSum6(frame, m.l3Off + 8, m.l3Off + 24, proto, n);
  if (m.protocol === 6) return checksum(frame, l4, n, pseudo(6)) === 0;
  if (m.protocol === 17) return (m.af === 4 && rd16(frame, l4 + 6) === 0) || checksum(frame, l4, n, pseudo(17)) === 0;
  if (m.protocol === 1) return checksum(frame, l4, n) === 0;
  if (m.protocol === 58) return checksum(frame, l4, n, pseudo(58)) === 0;
  return true;
}

test('every expected output frame parses cleanly and all its checksums verify in full', () => {
  let checked = 0;
  for (const c of all) {
    if (!c.expected || c.verdict === 'drop') continue;
    const f = fromHex(c.expected);
    const m = parseFrame(f, 0, f.length, createFrameMeta());
    assert.equal(m.reason, 0, c.name);
    assert.ok(checksumsValid(f, m), `checksums of ${c.name}`);
    // Tunnels: where the inner packet starts (IPIP: the payload; GUE on port 6080: after UDP + 4;
    // GRE: after the 4/8-byte header).
    const encap = m.protocol === 4 || m.protocol === 41 ? 0
      : m.protocol === 17 && m.dport === 6080 ? 12
      : m.protocol === 47 ? (f[m.l4Off]! & 0x80 ? 8 : 4) : -1;
    if (encap >= 0) {
      // Tunnel: check the inner packet too, by re-framing it.
      const n = m.l4Len - encap;
      const inner = new Uint8Array(14 + n);
      inner.set(f.subarray(m.l4Off + encap, m.l4Off + m.l4Len), 14);
      const v6 = inner[14]! >>> 4 === 6;
      inner[12] = v6 ? 0x86 : 0x08; inner[13] = v6 ? 0xdd : 0x00;
      const im = parseFrame(inner, 0, inner.length, createFrameMeta());
      assert.equal(im.reason, 0, `inner of ${c.name}`);
      assert.ok(checksumsValid(inner, im), `inner checksums of ${c.name}`);
    }
    checked++;
  }
  assert.ok(checked >= 30, `checked ${checked}`);
});

const haveTcpdump = spawnSync('tcpdump', ['--version']).status === 0;

test('tcpdump decodes every golden frame with correct checksums and the expected addresses', { skip: haveTcpdump ? false : 'tcpdump not installed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-golden-'));
  try {
    const frames: Uint8Array[] = [];
    const names: string[] = [];
    for (const c of all) {
      if (c.verdict === 'drop') continue;
      frames.push(fromHex(c.input)); names.push(`${c.name} (input)`);
      frames.push(fromHex(c.expected)); names.push(`${c.name} (expected)`);
    }
    const file = join(dir, 'golden.pcap');
    writePcap(file, frames);
    const r = spawnSync('tcpdump', ['-nn', '-vv', '-r', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const text = r.stdout;
    // Only the datagram quoted inside the NAT'd port-unreachable may show a stale checksum: IPVS
    // (ip_vs_nat_icmp) rewrites the quoted address and port but not the quoted UDP checksum.
    const lines = text.split('\n');
    const bad = lines.map((l, i) => [l, i] as const).filter(([l]) => /incorrect|bad cksum|bad udp cksum|bad icmp|\[bad/i.test(l));
    assert.equal(bad.length, 1, bad.map(([l]) => l).join('\n'));
    assert.match(lines[bad[0]![1] - 1]!, /^\tIP /, 'the stale checksum is in a quoted datagram');
    assert.match(bad[0]![0], /192\.0\.2\.10\.33333 > 10\.0\.0\.100\.53: \[bad udp cksum/);
    // The rewrites tcpdump must see (a few, by content).
    for (const want of [
      '192.0.2.10.40000 > 10.1.0.11.8080: Flags [S]', // NAT in
      '10.0.0.100.80 > 192.0.2.10.40000: Flags [S.]', // NAT out
      '2001:db8::10.40000 > 2001:db8:1::11.8080', // NAT in v6
      '10.1.0.1 > 10.1.0.11: IP (tos 0x0, ttl 63', // IPIP outer then inner
      'need to frag (mtu 1480)', // TUN too big
      'ICMP6, packet too big, mtu 1460',
      '10.0.0.100 > 192.0.2.10: ICMP 10.0.0.100 udp port 53 unreachable', // NAT out ICMP
      '198.51.100.1 > 10.1.0.11: ICMP 192.0.2.10 unreachable - need to frag (mtu 1400)',
      '[no cksum]',
    ]) assert.ok(text.includes(want), `tcpdump output lacks "${want}"`);
    const packets = text.split('\n').filter((l) => /^\d\d:\d\d:\d\d\./.test(l)).length;
    assert.equal(packets, frames.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
