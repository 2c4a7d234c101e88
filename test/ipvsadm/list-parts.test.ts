// A long -L rendered in parts (the daemon's way: a `between` hook and a backend with pages) is
// the same text as in one go, and `between` runs between the parts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runIpvsadm } from '../../src/ipvsadm/index.ts';
import { Engine } from '../../src/core/engine.ts';

/** `services` services (added out of order, so the sort is exercised), 3 real servers each. */
function rules(services: number): string {
  let out = '';
  for (let i = 0; i < services; i++) {
    const k = (i * 7919) % services;
    out += `-A -t 10.${(k >> 8) & 255}.${k & 255}.1:80 -s rr\n`;
    for (let j = 1; j <= 3; j++) out += `-a -t 10.${(k >> 8) & 255}.${k & 255}.1:80 -r 192.168.${j}.${(k % 250) + 1}:80 -m -w ${j}\n`;
  }
  return out;
}

test('-L -n, -L -n --nosort, --stats and -L -n -c in parts equal the same listings in one go; between runs once per part', async () => {
  const e = new Engine({ random: () => 0.5 });
  assert.equal((await runIpvsadm(['-R'], e, { stdin: rules(1_234) })).code, 0);
  e.setTime(1);
  for (let i = 0; i < 2_345; i++) {
    const k = i % 1_234;
    e.processPacket({ dir: 'in', af: 4, protocol: 'tcp', saddr: { af: 4, words: [(0xac100000 + i) >>> 0] }, sport: 1024 + i, daddr: { af: 4, words: [(0x0a000001 + (((k >> 8) & 255) << 16) + ((k & 255) << 8)) >>> 0] }, dport: 80, tcpFlags: 0x02, bytes: 60, mark: 0 });
  }
  assert.equal(e.sizes().entries, 2_345);
  for (const argv of [['-L', '-n'], ['-L', '-n', '--nosort'], ['-L', '-n', '--stats'], ['-L', '-n', '-c'], ['-L', '-c', '-n', '--persistent-conn']]) {
    // One go: a backend without pages.
    const whole = await runIpvsadm(argv, { info: () => e.info(), apply: (c) => e.apply(c), services: () => e.services(), service: (k) => e.service(k), connections: () => e.connections(), timeouts: () => e.timeouts(), daemons: () => e.daemons() });
    let parts = 0;
    const inParts = await runIpvsadm(argv, e, { between: () => { parts++; return new Promise<void>((r) => setImmediate(r)); } });
    assert.equal(inParts.code, 0);
    assert.equal(inParts.stdout, whole.stdout, argv.join(' '));
    assert.ok(parts >= (argv.includes('-c') ? 5 : 3), `${argv.join(' ')}: between ran ${parts} times`);
  }
  const lines = (await runIpvsadm(['-L', '-n'], e, { between: () => undefined })).stdout.trimEnd().split('\n').length;
  assert.equal(lines, 3 + 1_234 * 4, 'header, title lines, services and real servers');
});
