// `tsvs lab` as a user runs it: bad option combinations exit 2 with a message; `up dr --ipv6`
// shows the alternation over IPv4 and IPv6; `down` removes everything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { listNetns } from '../../src/lab/netns.ts';

const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root (network namespaces)';
const TSVS = fileURLToPath(new URL('../../bin/tsvs.mjs', import.meta.url));
const tsvs = (...argv: string[]) => spawnSync(process.execPath, [TSVS, ...argv], { encoding: 'utf8', timeout: 120_000 });

const BAD: readonly [string, string[], RegExp][] = [
  ['--ipv6 with tun', ['lab', 'up', 'tun', '--ipv6'], /--ipv6 works with nat and dr/],
  ['--ipv6 with --ha', ['lab', 'up', 'dr', '--ipv6', '--ha'], /--ipv6 works with nat and dr/],
  ['--advert-int without --ha', ['lab', 'up', 'dr', '--advert-int', '1'], /need --ha/],
  ['a prefix outside tsvs*', ['lab', 'up', 'dr', '--prefix', 'other'], /must start with "tsvs"/],
  ['--directors with nat', ['lab', 'up', 'nat', '--directors', '2'], /--directors works with dr and tun, without --ha or --ipv6 \(NAT replies must come back through the director that has the connection\)/],
  ['--directors with --ha', ['lab', 'up', 'dr', '--directors', '2', '--ha'], /--directors works with dr and tun, without --ha/],
  ['--directors 9', ['lab', 'up', 'dr', '--directors', '9'], /--directors must be 1\.\.8/],
  ['--forwarder proxy without --directors', ['lab', 'up', 'dr', '--forwarder', 'proxy'], /--forwarder proxy needs dr --directors N \(without --fast-path\)/],
  ['--forwarder proxy with tun', ['lab', 'up', 'tun', '--directors', '2', '--forwarder', 'proxy'], /--forwarder proxy needs dr --directors N/],
  ['--forwarder nat', ['lab', 'up', 'dr', '--directors', '2', '--forwarder', 'nat'], /--forwarder must be packet or proxy/],
];
for (const [name, argv, msg] of BAD) {
  test(`tsvs lab: ${name} exits 2 with a message and builds nothing`, { skip }, () => {
    // The default prefix's namespaces (other tests on this machine may create their own meanwhile).
    const ours = () => listNetns().filter((n) => n.startsWith('tsvs-lab-')).length;
    const before = ours();
    const r = tsvs(...argv);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, msg);
    assert.equal(ours(), before);
  });
}

test('tsvs lab up dr --ipv6: curl alternates test1/test2 over IPv4 and over IPv6; down removes the namespaces', { skip, timeout: 180_000 }, () => {
  const prefix = `tsvs-lc${process.pid % 10000}`;
  try {
    const r = tsvs('lab', 'up', 'dr', '--ipv6', '--prefix', prefix, '--requests', '4');
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const [v4, v6] = r.stdout.split('curl -6');
    assert.ok(v6, r.stdout);
    const bodies = (s: string) => s.split('\n').filter((l) => /^test[12]$/.test(l));
    for (const [family, out] of [['IPv4', v4!], ['IPv6', v6]] as const) {
      const b = bodies(out);
      assert.equal(b.length, 4, `${family}: ${out}`);
      for (let i = 1; i < b.length; i++) assert.notEqual(b[i], b[i - 1], `${family} alternates: ${b.join(',')}`);
    }
  } finally {
    const d = tsvs('lab', 'down', '--prefix', prefix);
    assert.equal(d.status, 0, d.stderr);
    assert.deepEqual(listNetns().filter((n) => n.startsWith(prefix)), []);
  }
});
