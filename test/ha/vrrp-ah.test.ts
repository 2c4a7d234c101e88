/**
 * auth_type AH (RFC 2402 as keepalived 2.2.7 does it): golden packets captured from a real
 * keepalived (vrid 60, priority 150, password s3cret, 10.96.0.2 to 224.0.0.18), built and checked
 * byte for byte; and what makes a packet fail.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ahKey, checkAhPacket, encodeAhPacket } from '../../src/ha/vrrp-ah.ts';
import { decodeAdvert, encodeAdvert } from '../../src/ha/vrrp-codec.ts';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, isRoot, hasAddr, waitFor, sleep, keepalivedSkip } from '../helpers/netns.ts';

/** tcpdump -x of keepalived's first two adverts (IP header with the kernel's checksum). */
const CAPTURED = [
  '45c0 0040 0001 0000 ff33 d055 0a60 0002 e000 0012 7004 0000 0a60 0002 0000 0001 8763 ace5 421b fc86 d1be c660 213c 9601 0201 3bfd 0a60 0064 0000 0000 0000 0000',
  '45c0 0040 0002 0000 ff33 d054 0a60 0002 e000 0012 7004 0000 0a60 0002 0000 0002 562b 8336 581f dc35 31d7 9250 213c 9601 0201 3bfd 0a60 0064 0000 0000 0000 0000',
].map((h) => new Uint8Array(Buffer.from(h.replace(/ /g, ''), 'hex')));
const SRC = new Uint8Array([10, 96, 0, 2]);
const DST = new Uint8Array([224, 0, 0, 18]);
const key = ahKey('s3cret');

test('keepalived\'s AH adverts are accepted: ICV, SPI and the sequence number read; the VRRP message inside has auth type 2', () => {
  CAPTURED.forEach((pkt, i) => {
    const r = checkAhPacket(pkt, key, false);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.seq, i + 1);
    const d = decodeAdvert(r.vrrp, 4, SRC, DST, 255);
    assert.ok(!('error' in d));
    assert.deepEqual([d.vrid, d.priority, d.authType, d.interval], [60, 150, 2, 1]);
  });
});

test('tsvs builds the packets keepalived sends, byte for byte (the kernel adds the IP checksum)', () => {
  CAPTURED.forEach((pkt, i) => {
    const vrrp = encodeAdvert({ version: 2, vrid: 60, priority: 150, interval: 1, af: 4, addrs: [new Uint8Array([10, 96, 0, 100])], authType: 2, password: '' }, SRC, DST);
    const mine = encodeAhPacket({ src: SRC, dst: DST, id: i + 1, ttl: 255, seq: i + 1, unicast: false, vrrp }, key);
    const want = Buffer.from(pkt);
    want[10] = 0; want[11] = 0;
    assert.equal(Buffer.from(mine).toString('hex'), want.toString('hex'));
  });
});

test('a wrong password, a changed byte, a rewritten source or an AH for another protocol fail the check; TOS and TTL (multicast) changes do not', () => {
  const pkt = CAPTURED[0]!;
  const mutate = (f: (b: Uint8Array) => void) => { const b = new Uint8Array(pkt); f(b); return b; };
  assert.deepEqual(checkAhPacket(pkt, ahKey('s3cre7'), false), { ok: false, error: 'bad-icv' });
  assert.deepEqual(checkAhPacket(mutate((b) => { b[46] = 200; }), key, false), { ok: false, error: 'bad-icv' }, 'priority changed');
  assert.deepEqual(checkAhPacket(mutate((b) => { b[4] = 9; }), key, false), { ok: false, error: 'bad-icv' }, 'IP id is covered');
  assert.deepEqual(checkAhPacket(mutate((b) => { b[20] = 6; }), key, false), { ok: false, error: 'other-protocol' });
  assert.deepEqual(checkAhPacket(pkt.subarray(0, 40), key, false), { ok: false, error: 'truncated' });
  assert.ok(checkAhPacket(mutate((b) => { b[1] = 0; b[10] = 1; }), key, false).ok, 'TOS and checksum are mutable');
  // Unicast: the TTL is left out of the ICV (keepalived), so a router's decrement is allowed.
  const uni = encodeAhPacket({ src: SRC, dst: new Uint8Array([10, 96, 0, 1]), id: 1, ttl: 255, seq: 1, unicast: true, vrrp: pkt.subarray(44) }, key);
  assert.ok(checkAhPacket(new Uint8Array([...uni.subarray(0, 8), 250, ...uni.subarray(9)]), key, true).ok);
  assert.deepEqual(checkAhPacket(new Uint8Array([...uni.subarray(0, 8), 250, ...uni.subarray(9)]), key, false), { ok: false, error: 'bad-icv' });
  // A rewritten source address (the ICV covers it, and the SPI names the sender) fails.
  assert.deepEqual(checkAhPacket(mutate((b) => { b.set([10, 96, 0, 1], 12); }), key, false), { ok: false, error: 'bad-icv' });
});

// --- beside a real keepalived 2.2.7 in a namespace pair ---

const skipNs = keepalivedSkip();
if (skipNs) console.log(`# skipping AH mixed-pair tests: ${skipNs}`);
const VIP = '10.96.0.100';

function ahConf(dev: string, prio: number, pass: string, peer?: string): string {
  return `vrrp_instance VI_1 {\n  state BACKUP\n  interface ${dev}\n  virtual_router_id 61\n  priority ${prio}\n  advert_int 1\n` +
    `  authentication {\n    auth_type AH\n    auth_pass ${pass}\n  }\n` +
    (peer ? `  unicast_peer {\n    ${peer}\n  }\n` : '') +
    `  virtual_ipaddress {\n    ${VIP}/24\n  }\n}\n`;
}

/** The VIP on exactly one side for `ms` (no split brain, no flapping); which side. */
async function holder(a: string, da: string, b: string, db: string, ms: number): Promise<string> {
  const seen = new Set<string>();
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    const x = hasAddr(a, da, VIP), y = hasAddr(b, db, VIP);
    seen.add(x && y ? 'both' : x ? 'keepalived' : y ? 'tsvs' : 'none');
    await sleep(100);
  }
  return [...seen].join(',');
}

for (const mode of ['multicast', 'unicast'] as const) {
  test(`AH (${mode}): tsvs and keepalived elect one master both ways and fail over; a wrong password on one side is refused by the other (split brain, as between two keepalived)`, { skip: skipNs, timeout: 120_000 }, async () => {
    const lab = new Lab(`ah${mode[0]}`);
    const dir = mkdtempSync(join(tmpdir(), 'tsvs-ah-'));
    try {
      const a = lab.ns('ka');
      const b = lab.ns('tv');
      const [da, db] = lab.link(a, '10.96.0.1/24', b, '10.96.0.2/24');
      const uni = mode === 'unicast';
      let runs = 0;
      const ka = (prio: number, pass = 's3cret') => {
        const n = runs++; // pid files of its own: a keepalived still exiting does not stop the next
        writeFileSync(join(dir, `ka${n}.conf`), ahConf(da, prio, pass, uni ? '10.96.0.2' : undefined));
        return lab.spawnIn(a, 'keepalived', ['-n', '-l', '-D', '-f', join(dir, `ka${n}.conf`), '-p', join(dir, `ka${n}.pid`), '-r', join(dir, `vrrp${n}.pid`)]);
      };
      const kaLog: string[] = [];
      const tv = (prio: number, pass = 's3cret') => {
        writeFileSync(join(dir, 'tsvs.conf'), ahConf(db, prio, pass, uni ? '10.96.0.1' : undefined));
        return lab.spawnIn(b, process.execPath, ['bin/tsvs.mjs', 'vrrp', '--keepalived', join(dir, 'tsvs.conf')]);
      };
      // 1. keepalived 100, tsvs 150: tsvs is the one master; keepalived hears tsvs's AH and stays BACKUP.
      let k = ka(100);
      k.stdout!.on('data', (c: Buffer) => kaLog.push(c.toString()));
      k.stderr!.on('data', (c: Buffer) => kaLog.push(c.toString()));
      let t = tv(150);
      // keepalived started first, so its master-down timer may fire before tsvs's (node's
      // start-up): it is then master until tsvs's first advert preempts it, as between two
      // keepalived. The election is judged once that has settled.
      assert.ok((await waitFor(() => hasAddr(b, db, VIP) && !hasAddr(a, da, VIP), 15_000)) >= 0, 'tsvs became the one master');
      assert.equal(await holder(a, da, b, db, 4000), 'tsvs', 'tsvs alone holds the VIP');
      assert.doesNotMatch(kaLog.join(''), /IPSEC|auth/i, 'keepalived accepted every advert of tsvs');
      // 2. tsvs dies: keepalived takes over; tsvs comes back and preempts (sequence numbers carried across).
      t.kill('SIGKILL');
      assert.ok((await waitFor(() => hasAddr(a, da, VIP), 10_000)) >= 0, 'keepalived took over');
      t = tv(150);
      assert.ok((await waitFor(() => hasAddr(b, db, VIP) && !hasAddr(a, da, VIP), 15_000)) >= 0, 'tsvs preempted again');
      assert.equal(await holder(a, da, b, db, 3000), 'tsvs');
      t.kill('SIGKILL');
      k.kill('SIGTERM');
      await new Promise((r) => k.once('exit', r));
      await waitFor(() => !hasAddr(a, da, VIP) && !hasAddr(b, db, VIP), 5000);
      // 3. keepalived 150, tsvs 100: keepalived is master; tsvs hears keepalived's AH and stays BACKUP.
      k = ka(150);
      k.stdout!.on('data', (c: Buffer) => kaLog.push(c.toString()));
      k.stderr!.on('data', (c: Buffer) => kaLog.push(c.toString()));
      assert.ok((await waitFor(() => hasAddr(a, da, VIP), 15_000)) >= 0, `keepalived (150) became master: ${kaLog.join('').slice(-2000)}`);
      t = tv(100);
      await sleep(4500);
      assert.equal(await holder(a, da, b, db, 3000), 'keepalived', 'tsvs accepted keepalived\'s adverts and stayed BACKUP');
      t.kill('SIGKILL');
      // 4. tsvs with another password: its adverts fail keepalived's ICV check and keepalived's fail its own: both master.
      const before = kaLog.join('').length;
      t = tv(100, 'wrong');
      assert.ok((await waitFor(() => hasAddr(b, db, VIP), 15_000)) >= 0, 'tsvs (wrong password) does not hear keepalived and becomes master');
      await waitFor(() => /IPSEC-AH : invalid IPSEC HMAC-MD5/.test(kaLog.join('').slice(before)), 5000);
      assert.match(kaLog.join('').slice(before), /IPSEC-AH : invalid IPSEC HMAC-MD5 value/, 'keepalived refused tsvs\'s adverts');
      assert.ok(hasAddr(a, da, VIP), 'keepalived stays master too');
    } finally {
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
