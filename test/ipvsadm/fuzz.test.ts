import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIpvsadm, parseRulesText, runIpvsadm } from '../../src/ipvsadm/index.ts';
import type { ParseResult } from '../../src/ipvsadm/index.ts';
import { FakeBackend } from './fake-backend.ts';

/** Deterministic PRNG so failures reproduce. */
import { seededRandom as rng } from '../../src/core/random.ts';

const WORDS = [
  '-A', '-E', '-D', '-C', '-R', '-S', '-a', '-e', '-d', '-L', '-l', '-Z', '--set', '-h', '-v',
  '--start-daemon', '--stop-daemon', 'master', 'backup', '-t', '-u', '--sctp-service', '-f', '-6',
  '-s', '-p', '-M', '--pe', '-b', '-o', '-r', '-g', '-i', '-m', '-w', '-x', '-y', '-n', '-c',
  '--timeout', '--daemon', '--stats', '--rate', '--thresholds', '--persistent-conn', '--tun-info',
  '--nosort', '--sort', '-X', '--exact', '--syncid', '--mcast-interface', '--mcast-group', '--mcast-port',
  '--mcast-ttl', '--sync-maxlen', '--tun-type', '--tun-port', '--tun-nocsum', '--tun-csum', '--tun-remcsum',
  '10.0.0.1:80', '10.0.0.2', '[::1]:80', '[2001:db8::1]:443', '::1', '1.2.3.4:http', '255.255.255.0', '64',
  '0', '1', '65535', '65536', '-1', 'rr', 'wlc', 'sh', 'mh', 'sh-port', 'flag-1,flag-3', ',', '', '--',
  '-', 'gue', 'gre', 'ipip', '239.1.1.1', 'ff02::1', 'x', '--bogus', '-Lnc', '-At', '-w=5', '--persistent=9',
  '4294967295', '0x10', '010', '1.2', '[1.2.3.4]:80', '[', ']', ':', '#', 'ipvsadm',
];

function randomArgv(r: () => number): string[] {
  const n = Math.floor(r() * 9);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    if (r() < 0.85) out.push(WORDS[Math.floor(r() * WORDS.length)]!);
    else {
      const len = Math.floor(r() * 12);
      let s = '';
      for (let k = 0; k < len; k++) s += String.fromCharCode(r() < 0.9 ? 32 + Math.floor(r() * 95) : Math.floor(r() * 0x3000));
      out.push(s);
    }
  }
  return out;
}

function checkClean(argv: string[], res: ParseResult): void {
  if (res.kind !== 'failure') return;
  assert.ok(res.message.length > 0, `empty message for ${JSON.stringify(argv)}`);
  assert.equal(res.stderr, `${res.message}\n`);
  assert.ok([2, 139, 255].includes(res.code), `code ${res.code} for ${JSON.stringify(argv)}`);
  assert.ok(!res.message.startsWith('internal error'), `${res.message} for ${JSON.stringify(argv)}`);
}

test('fuzz: 20,000 random argv never throw; failures carry a message and an ipvsadm exit code', () => {
  const r = rng(12345);
  let failures = 0;
  for (let i = 0; i < 20000; i++) {
    const argv = randomArgv(r);
    const res = parseIpvsadm(argv);
    checkClean(argv, res);
    if (res.kind === 'failure') failures++;
  }
  assert.ok(failures > 1000 && failures < 20000, `failures ${failures}`);
});

test('fuzz: mutated valid rule lines (drop/duplicate/swap/replace words) parse cleanly', () => {
  const seeds = [
    '-A -t 10.0.0.1:80 -s rr -p 60 -M 255.255.255.0',
    '-a -t 10.0.0.1:80 -r 10.0.0.2:8080 -m -w 3 -x 10 -y 2',
    '-a -t [2001:db8::1]:443 -r [2001:db8::2]:443 -i --tun-type gue --tun-port 6080 --tun-csum',
    '-E -f 5 -6 -s mh -b mh-port,flag-3 -p',
    '--start-daemon master --mcast-interface eth0 --syncid 3 --mcast-group 239.0.0.1',
    '-L -n --stats --exact -t 10.0.0.1:80',
    '--set 900 120 300',
  ];
  const r = rng(777);
  for (let i = 0; i < 20000; i++) {
    const words = seeds[i % seeds.length]!.split(' ');
    const ops = 1 + Math.floor(r() * 3);
    for (let k = 0; k < ops; k++) {
      const j = Math.floor(r() * words.length);
      const op = Math.floor(r() * 5);
      if (op === 0) words.splice(j, 1);
      else if (op === 1) words.splice(j, 0, words[j] ?? '-n');
      else if (op === 2) words.splice(j, 1, WORDS[Math.floor(r() * WORDS.length)]!);
      else if (op === 3 && words.length > 1) {
        const t = words[j]!; words[j] = words[(j + 1) % words.length]!; words[(j + 1) % words.length] = t;
      } else words[j] = (words[j] ?? '').slice(0, Math.floor(r() * 6));
    }
    checkClean(words, parseIpvsadm(words));
  }
});

test('fuzz: random rules text through parseRulesText and -R never throws', async () => {
  const r = rng(99);
  let text = '';
  for (let i = 0; i < 300; i++) text += randomArgv(r).join(r() < 0.5 ? ' ' : '\t') + (r() < 0.1 ? '\r\n' : '\n');
  for (const { result } of parseRulesText(text)) checkClean([], result);
  const out = await runIpvsadm(['-R'], new FakeBackend(), { stdin: text });
  assert.ok([0, 2, 139, 255].includes(out.code));
  assert.ok(!out.stderr.includes('internal error'), out.stderr);
});
