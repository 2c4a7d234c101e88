/**
 * GUE and GRE (ipvsadm --tun-type gue|gre): overheads, the flow-hash source port, encapsulation
 * and decapsulation round trips (what the real-server agent does), the options a decoder must
 * handle (GUE REMCSUM and direct IP, GRE key/sequence/checksum), and tcpdump's view of the golden
 * outputs (GRE decoded natively; GUE's inner packets re-framed, as tcpdump has no GUE decoder).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseIp } from '../../src/core/addr.ts';
import { buildEthernet, buildPacket, fromHex, toHex } from '../../src/codec/build.ts';
import { checksum, pseudoSum4, rd16, rd32, wr16 } from '../../src/codec/checksum.ts';
import { createFrameMeta, DropReason, parseFrame } from '../../src/codec/frame.ts';
import { tunnelOverhead } from '../../src/codec/forward.ts';
import { createIpipInner, ipipPayloadDecapsulate } from '../../src/codec/ipip.ts';
import {
  flowHash, gueDecapsulate, gueEncapsulate, gueSourcePort, GUE_SPORT_MAX, GUE_SPORT_MIN, writeGueRemcsumHeader,
} from '../../src/codec/gue.ts';
import { greDecapsulate, greDecapsulatePayload, greEncapsulate, greOverhead } from '../../src/codec/gre.ts';
import { tuntypesCases } from './golden/tuntypes.ts';
import { writePcap } from './pcap.ts';

const W = (s: string) => parseIp(s)!.words;
const DIP = W('10.1.0.1'), RIP = W('10.1.0.11');
const DIP6 = W('2001:db8:1::1'), RIP6 = W('2001:db8:1::11');

test('tunnel overhead per type and checksum option (what the MTU check subtracts)', () => {
  const table: [4 | 6, 'ipip' | 'gue' | 'gre' | undefined, 'nocsum' | 'csum' | 'remcsum' | undefined, number][] = [
    [4, undefined, undefined, 20], [4, 'ipip', undefined, 20], [6, 'ipip', undefined, 40],
    [4, 'gue', 'nocsum', 32], [4, 'gue', 'csum', 32], [4, 'gue', 'remcsum', 32], [6, 'gue', 'csum', 52],
    [4, 'gre', 'nocsum', 24], [4, 'gre', 'csum', 28], [6, 'gre', undefined, 44], [6, 'gre', 'csum', 48],
  ];
  for (const [af, t, c, want] of table) assert.equal(tunnelOverhead(af, t, c), want, `${af}/${t}/${c}`);
  assert.equal(greOverhead(4, true), 28);
});

test('GUE source port: stable per flow, inside the ephemeral range, spread over flows', () => {
  const c = W('192.0.2.10'), v = W('10.0.0.100');
  assert.equal(flowHash(4, c, v, 6, 40000, 80), flowHash(4, c, v, 6, 40000, 80));
  const ports = new Set<number>();
  for (let p = 0; p < 2000; p++) {
    const sp = gueSourcePort(flowHash(4, c, v, 6, 30000 + p, 80));
    assert.ok(sp >= GUE_SPORT_MIN && sp < GUE_SPORT_MAX, `${sp}`);
    ports.add(sp);
  }
  // 2000 flows into 28231 ports: about 70 collisions expected from a uniform hash.
  assert.ok(ports.size > 1850, `distinct ports ${ports.size}`);
  assert.notEqual(flowHash(4, c, v, 6, 40000, 80), flowHash(4, c, v, 17, 40000, 80), 'protocol is part of the flow');
  assert.notEqual(flowHash(4, c, v, 6, 40000, 80), flowHash(4, v, c, 6, 80, 40000), 'direction is part of the flow');
  assert.equal(gueSourcePort(0), GUE_SPORT_MIN);
  assert.equal(gueSourcePort(0xffffffff), GUE_SPORT_MAX - 1);
});

/** An inner TCP packet (v4 or v6). */
function innerPacket(v6: boolean, payload = 'hello'): Uint8Array {
  return v6
    ? buildPacket({ ip: { src: '2001:db8::10', dst: '2001:db8::100', ttl: 63 }, tcp: { sport: 40000, dport: 80, flags: 24, payload: new TextEncoder().encode(payload) } })
    : buildPacket({ ip: { src: '192.0.2.10', dst: '10.0.0.100', ttl: 63, df: true, id: 7 }, tcp: { sport: 40000, dport: 80, flags: 24, payload: new TextEncoder().encode(payload) } });
}

for (const outer6 of [false, true]) {
  for (const inner6 of [false, true]) {
    for (const csum of [false, true]) {
      const label = `${inner6 ? 'IPv6' : 'IPv4'} in ${outer6 ? 'IPv6' : 'IPv4'}, ${csum ? 'checksum' : 'no checksum'}`;
      test(`GUE round trip: ${label}: the UDP payload decapsulates to the inner packet`, () => {
        const inner = innerPacket(inner6);
        const out = new Uint8Array(200);
        const n = gueEncapsulate(out, 0, inner, 0, inner.length, inner6 ? 6 : 4, outer6 ? 6 : 4, outer6 ? DIP6 : DIP, outer6 ? RIP6 : RIP, 45000, 6080, csum);
        const hl = outer6 ? 40 : 20;
        assert.equal(n, hl + 12 + inner.length);
        assert.equal(out[outer6 ? 6 : 9], 17, 'outer protocol UDP');
        assert.equal(rd16(out, hl), 45000);
        assert.equal(rd16(out, hl + 2), 6080);
        assert.equal(rd16(out, hl + 4), 12 + inner.length);
        assert.equal(rd16(out, hl + 6) !== 0, csum);
        if (csum && !outer6) assert.equal(checksum(out, hl, 12 + inner.length, pseudoSum4(rd32(out, 12), rd32(out, 16), 17, 12 + inner.length)), 0);
        assert.deepEqual([...out.subarray(hl + 8, hl + 12)], [0, inner6 ? 41 : 4, 0, 0]);
        const res = createIpipInner();
        assert.equal(gueDecapsulate(out, hl + 8, n - hl - 8, res), 0);
        assert.equal(res.innerAf, inner6 ? 6 : 4);
        assert.equal(toHex(out.subarray(res.innerOff, res.innerOff + res.innerLen)), toHex(inner));
      });
      test(`GRE round trip: ${label}: the raw packet decapsulates to the inner packet`, () => {
        const inner = innerPacket(inner6);
        const out = new Uint8Array(200);
        const n = greEncapsulate(out, 0, inner, 0, inner.length, inner6 ? 6 : 4, outer6 ? 6 : 4, outer6 ? DIP6 : DIP, outer6 ? RIP6 : RIP, csum);
        const hl = outer6 ? 40 : 20;
        assert.equal(n, hl + (csum ? 8 : 4) + inner.length);
        assert.equal(out[outer6 ? 6 : 9], 47, 'outer protocol GRE');
        assert.equal(rd16(out, hl), csum ? 0x8000 : 0);
        assert.equal(rd16(out, hl + 2), inner6 ? 0x86dd : 0x0800);
        if (csum) assert.equal(checksum(out, hl, n - hl), 0, 'GRE checksum verifies');
        const res = createIpipInner();
        assert.equal(greDecapsulate(out, 0, n, res), 0);
        assert.equal(res.innerAf, inner6 ? 6 : 4);
        assert.equal(toHex(out.subarray(res.innerOff, res.innerOff + res.innerLen)), toHex(inner));
        if (!outer6) assert.equal(res.outerSrc[0], DIP[0]);
        // What a raw IPv6 socket for protocol 47 receives: the payload after the outer header.
        const pres = createIpipInner();
        assert.equal(greDecapsulatePayload(out, hl, n - hl, pres), 0);
        assert.deepEqual([pres.innerOff, pres.innerLen, pres.innerAf], [res.innerOff, res.innerLen, res.innerAf]);
        if (csum) {
          out[n - 1]! ^= 0x5a;
          assert.equal(greDecapsulate(out, 0, n, res), DropReason.BAD_TUNNEL_CSUM, 'a corrupted payload fails the GRE checksum');
        }
      });
    }
  }
}

test('GRE decapsulation: key and sequence fields are skipped; routing, version 1 and other protocol types are refused', () => {
  const inner = innerPacket(false);
  const res = createIpipInner();
  const gre = (flags: number, pt: number, extra: number) => {
    const g = new Uint8Array(4 + extra + inner.length);
    wr16(g, 0, flags); wr16(g, 2, pt);
    g.set(inner, 4 + extra);
    return buildPacket({ ip: { src: '10.1.0.1', dst: '10.1.0.11', protocol: 47 }, raw: g });
  };
  const table: [string, Uint8Array, number][] = [
    ['key', gre(0x2000, 0x0800, 4), 0],
    ['key + sequence', gre(0x3000, 0x0800, 8), 0],
    ['routing present', gre(0x4000, 0x0800, 4), DropReason.UNSUPPORTED],
    ['version 1 (PPTP)', gre(0x0001, 0x880b, 0), DropReason.UNSUPPORTED],
    ['transparent Ethernet bridging', gre(0, 0x6558, 0), DropReason.UNSUPPORTED],
    ['key flag without the key bytes', gre(0x2000, 0x0800, 0).subarray(0, 20 + 6), DropReason.BAD_TOTAL_LEN],
  ];
  for (const [name, pkt, want] of table) {
    assert.equal(greDecapsulate(pkt, 0, pkt.length, res), want, name);
    if (want === 0) assert.equal(toHex(pkt.subarray(res.innerOff, res.innerOff + res.innerLen)), toHex(inner), name);
  }
  const ipip = buildPacket({ ip: { src: '10.1.0.1', dst: '10.1.0.11', protocol: 4 }, raw: inner });
  assert.equal(greDecapsulate(ipip, 0, ipip.length, res), DropReason.UNSUPPORTED, 'not GRE');
});

test('GUE decapsulation: REMCSUM completes the inner checksum; direct IP (version 1) is accepted; control and unknown flags are refused', () => {
  const inner = innerPacket(false, 'remote checksum offload');
  const res = createIpipInner();
  // REMCSUM: the sender leaves the pseudo-header sum (not complemented) in the TCP checksum field.
  const partial = new Uint8Array(inner);
  const l4 = 20, tcpLen = inner.length - 20;
  const pseudo = pseudoSum4(rd32(inner, 12), rd32(inner, 16), 6, tcpLen);
  wr16(partial, l4 + 16, ~checksum(new Uint8Array(0), 0, 0, pseudo) & 0xffff);
  const buf = new Uint8Array(12 + inner.length);
  const hl = writeGueRemcsumHeader(buf, 0, 4, l4, l4 + 16);
  buf.set(partial, hl);
  assert.equal(gueDecapsulate(buf, 0, hl + inner.length, res), 0);
  assert.equal(toHex(buf.subarray(res.innerOff, res.innerOff + res.innerLen)), toHex(inner), 'the completed checksum equals the real one');

  const v1 = new Uint8Array(inner); // version 1: the IP header itself (0100 ...) follows the UDP header
  assert.equal(gueDecapsulate(v1, 0, v1.length, res), 0);
  assert.equal(res.innerOff, 0);
  const table: [string, number[], number][] = [
    ['control message (C bit)', [0x20, 0, 0, 0], DropReason.UNSUPPORTED],
    ['unknown flag', [0x00, 4, 0x80, 0], DropReason.UNSUPPORTED],
    ['inner protocol UDP', [0x00, 17, 0, 0], DropReason.UNSUPPORTED],
    ['version 2', [0x80, 4, 0, 0], DropReason.BAD_VERSION],
    ['options longer than the datagram', [0x1f, 4, 0, 0], DropReason.TRUNCATED_L4],
    ['PRIV flag without its field', [0x00, 4, 0, 1], DropReason.TRUNCATED_L4],
  ];
  for (const [name, hdr, want] of table) {
    const b = new Uint8Array(4 + inner.length);
    b.set(hdr, 0); b.set(inner, 4);
    assert.equal(gueDecapsulate(b, 0, b.length, res), want, name);
  }
  assert.equal(gueDecapsulate(new Uint8Array(3), 0, 3, res), DropReason.TRUNCATED_L4);
});

const haveTcpdump = spawnSync('tcpdump', ['--version']).status === 0;

test('tcpdump: GRE golden outputs decode with the inner packet; GUE inner packets carry correct checksums', { skip: haveTcpdump ? false : 'tcpdump not installed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-tuntypes-'));
  try {
    const outs = tuntypesCases.filter((c) => c.verdict === 'forward').map((c) => ({ c, f: fromHex(c.expected) }));
    const gre = outs.filter(({ c }) => c.decision.tunType === 'gre');
    const gue = outs.filter(({ c }) => c.decision.tunType === 'gue');
    assert.ok(gre.length >= 5 && gue.length >= 7);
    // GRE: tcpdump decodes it; it does not verify the GRE checksum, so do that here.
    const f1 = join(dir, 'gre.pcap');
    writePcap(f1, gre.map((x) => x.f));
    const r1 = spawnSync('tcpdump', ['-nn', '-vv', '-r', f1], { encoding: 'utf8' });
    assert.equal(r1.status, 0, r1.stderr);
    assert.equal((r1.stdout.match(/GREv0/g) ?? []).length, gre.length);
    assert.equal((r1.stdout.match(/\(correct\)/g) ?? []).length, gre.length, 'every inner TCP checksum correct');
    assert.match(r1.stdout, /10\.1\.0\.1 > 10\.1\.0\.11: GREv0, Flags \[checksum present\]/);
    assert.match(r1.stdout, /2001:db8:1::1 > 2001:db8:1::11: GREv0/);
    assert.doesNotMatch(r1.stdout, /incorrect|bad/i);
    for (const { c, f } of gre) {
      const m = parseFrame(f, 0, f.length, createFrameMeta());
      if (f[m.l4Off]! & 0x80) assert.equal(checksum(f, m.l4Off, m.l4Len), 0, `GRE checksum of ${c.name}`);
    }
    // GUE: tcpdump checks the outer UDP checksum; the inner packets are re-framed and checked too.
    const f2 = join(dir, 'gue.pcap');
    const inner: Uint8Array[] = [];
    for (const { f } of gue) {
      const m = parseFrame(f, 0, f.length, createFrameMeta());
      assert.equal(m.protocol, 17);
      assert.equal(m.dport, 6080);
      const ip = f.subarray(m.l4Off + 12, m.l4Off + m.l4Len);
      inner.push(buildEthernet({ src: '02:00:00:00:01:fe', dst: '02:00:00:00:01:11' }, ip[0]! >>> 4 === 4 ? 0x0800 : 0x86dd, ip));
    }
    writePcap(f2, [...gue.map((x) => x.f), ...inner]);
    const r2 = spawnSync('tcpdump', ['-nn', '-vv', '-r', f2], { encoding: 'utf8' });
    assert.equal(r2.status, 0, r2.stderr);
    const t = r2.stdout;
    assert.equal((t.match(/ > 10\.1\.0\.11\.6080: \[(udp sum ok|no cksum)\]/g) ?? []).length + (t.match(/ > 2001:db8:1::11\.6080: \[udp sum ok\]/g) ?? []).length, gue.length);
    assert.doesNotMatch(t, /incorrect|bad/i);
    assert.ok((t.match(/192\.0\.2\.10\.4000[01] > 10\.0\.0\.100\.80: Flags \[[SP]\.?\], cksum 0x[0-9a-f]+ \(correct\)/g) ?? []).length >= 5, t);
    assert.match(t, /192\.0\.2\.10\.33333 > 10\.0\.0\.100\.53: \[udp sum ok\]/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('IPIP payload decapsulation (raw IPv6 sockets for protocols 41 and 4): the inner packet of the expected family, or a reason', () => {
  const res = createIpipInner();
  const table: [string, Uint8Array, 4 | 6, number][] = [
    ['IPv6 in IPv6 (ip6ip6)', innerPacket(true), 6, 0],
    ['IPv4 in IPv6', innerPacket(false), 4, 0],
    ['IPv4 bytes on the protocol 41 socket', innerPacket(false), 6, DropReason.BAD_VERSION],
    ['a truncated inner IPv6 packet', innerPacket(true).subarray(0, 50), 6, DropReason.BAD_TOTAL_LEN],
    ['nothing', new Uint8Array(0), 4, DropReason.TRUNCATED_IP],
  ];
  for (const [name, pkt, af, want] of table) {
    const buf = new Uint8Array(pkt.length + 8);
    buf.set(pkt, 8);
    assert.equal(ipipPayloadDecapsulate(buf, 8, pkt.length, af, res), want, name);
    if (want === 0) assert.deepEqual([res.innerOff, res.innerLen, res.innerAf], [8, pkt.length, af], name);
  }
});
