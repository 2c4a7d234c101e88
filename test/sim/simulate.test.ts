/** `tsvs simulate`: end to end through the real CLI process, bad input, and trace fuzzing. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimError, seededRandom, simulate } from '../../src/sim/simulate.ts';
import { loadRunIpvsadm } from '../../src/sim/ipvsadm.ts';

const dir = mkdtempSync(join(tmpdir(), 'tsvs-sim-'));
function files(rules: string, trace: string): [string, string] {
  const r = join(dir, `r${Math.random().toString(36).slice(2)}.rules`);
  const t = join(dir, `t${Math.random().toString(36).slice(2)}.jsonl`);
  writeFileSync(r, rules);
  writeFileSync(t, trace);
  return [r, t];
}
function cli(args: string[]): { code: number; out: string[]; err: string } {
  const r = spawnSync('npx', ['tsvs', 'simulate', ...args], { encoding: 'utf8', cwd: join(import.meta.dirname, '../..') });
  return { code: r.status ?? -1, out: r.stdout.split('\n').filter((l) => l), err: r.stderr.replace(/npm warn.*\n/g, '') };
}

const RULES = `-A -t 10.0.0.1:80 -s wrr
-a -t 10.0.0.1:80 -r 192.168.10.1:80 -m -w 3
-a -t 10.0.0.1:80 -r 192.168.10.2:80 -m -w 1
--set 900 120 300
`;
const pkt = (t: number, src: string, flags: string, extra = ''): string =>
  `{"t":${t},"proto":"tcp","src":"${src}","dst":"10.0.0.1:80","flags":"${flags}"${extra}}`;

test('worked example through the real CLI: packets, reply, rule change, listing, summary', () => {
  const trace = [
    pkt(0.5, '172.16.5.77:40001', 'S'),
    '{"t":0.6,"proto":"tcp","src":"192.168.10.2:80","dst":"172.16.5.77:40001","flags":"SA","dir":"out"}',
    pkt(0.7, '172.16.5.77:40001', 'A'),
    ...[1, 2, 3, 4, 5, 6, 7].map((i) => pkt(1 + i / 10, `172.16.5.${i}:1000`, 'S')),
    '{"t":12,"cmd":"-e -t 10.0.0.1:80 -r 192.168.10.2:80 -m -w 0"}',
    '{"t":13,"cmd":"-d -t 10.0.0.1:80 -r 192.168.10.9:80"}',
    pkt(14, '172.16.6.1:1000', 'S'),
    '{"t":30,"list":"-L -n"}',
    '{"t":31,"list":"-c -n"}',
  ].join('\n');
  const [r, t] = files(RULES, trace);
  const res = cli(['--rules', r, '--trace', t, '--summary', '--seed', '7']);
  assert.equal(res.code, 0, res.err);
  const lines = res.out.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 16);
  assert.deepEqual(lines[0], { t: 0.5, dest: '192.168.10.2:80', new: true, state: 'SYN_RECV' });
  assert.deepEqual(lines[1], { t: 0.6, dest: '192.168.10.2:80', new: false, state: 'SYN_RECV' });
  assert.deepEqual(lines[2], { t: 0.7, dest: '192.168.10.2:80', new: false, state: 'ESTABLISHED' });
  const wrr = lines.slice(0, 10).filter((l) => l.new).map((l) => l.dest);
  assert.equal(wrr.filter((d) => d === '192.168.10.1:80').length, 6, 'wrr 3:1 over 8 connections');
  assert.deepEqual(lines[10], { t: 12, ok: true });
  assert.equal(lines[11]!.ok, false);
  assert.equal(lines[11]!.error, 'No such destination');
  assert.equal(lines[12]!.dest, '192.168.10.1:80', 'weight 0 gets no new connections');
  const listing = lines[13]!.listing as string;
  assert.match(listing, /^IP Virtual Server version 1\.2\.1 \(size=4096\)\n/);
  // SYN_RECV entries (60 s) count as active, like ESTABLISHED
  assert.match(listing, /  -> 192\.168\.10\.1:80 +Masq +3 +7 +0 +\n/);
  assert.match(listing, /  -> 192\.168\.10\.2:80 +Masq +0 +2 +0 +\n/);
  assert.match(lines[14]!.listing as string, /ESTABLISHED 172\.16\.5\.77:40001 +10\.0\.0\.1:80 +192\.168\.10\.2:80/);
  const sum = lines.at(-1) as { summary: { connections: number; dests: { dest: string; conns: number; share: number }[] } };
  assert.equal(sum.summary.connections, 9);
  assert.deepEqual(sum.summary.dests.map((d) => [d.dest, d.conns]), [['192.168.10.1:80', 7], ['192.168.10.2:80', 2]]);
});

const badCases: { name: string; rules?: string; trace: string; line: number; file: 'rules' | 'trace'; msg: RegExp }[] = [
  { name: 'invalid JSON', trace: `${pkt(1, '1.1.1.1:1', 'S')}\n{"t":2,`, file: 'trace', line: 2, msg: /not valid JSON/ },
  { name: 'time goes backwards', trace: `${pkt(5, '1.1.1.1:1', 'S')}\n${pkt(4, '1.1.1.1:1', 'A')}`, file: 'trace', line: 2, msg: /backwards/ },
  { name: 'bad address', trace: '{"t":1,"proto":"tcp","src":"1.1.1:1","dst":"10.0.0.1:80","flags":"S"}', file: 'trace', line: 1, msg: /"src"/ },
  { name: 'bad flag', trace: pkt(1, '1.1.1.1:1', 'SX'), file: 'trace', line: 1, msg: /flag "X"/ },
  { name: 'unknown field', trace: '{"t":1,"list":"-L -n","x":1}', file: 'trace', line: 1, msg: /unknown field "x"/ },
  { name: 'command in a list line', trace: '{"t":1,"list":"-C"}', file: 'trace', line: 1, msg: /is a command/ },
  { name: '-S in a cmd line points to a list line', trace: '{"t":1,"cmd":"-S -n"}', file: 'trace', line: 1, msg: /use a "list" line for -S/ },
  { name: 'a change glued to -S in a list line', trace: '{"t":1,"list":"-SC"}', file: 'trace', line: 1, msg: /is a command/ },
  { name: 'two kinds on one line', trace: '{"t":1,"list":"-L","cmd":"-C"}', file: 'trace', line: 1, msg: /exactly one/ },
  { name: 'missing t', trace: '{"proto":"udp","src":"1.1.1.1:1","dst":"10.0.0.1:80"}', file: 'trace', line: 1, msg: /"t"/ },
  { name: 'bad rule', rules: `${RULES}-a -t 10.0.0.1:80 -r 192.168.10.1:80 -w 99999999\n`, trace: '', file: 'rules', line: 5, msg: /weight/ },
  { name: 'rule for a missing service', rules: '-a -t 10.0.0.9:80 -r 192.168.10.1:80\n', trace: '', file: 'rules', line: 1, msg: /Service not defined/ },
];

for (const c of badCases) {
  test(`bad input exits 2 naming the line: ${c.name}`, () => {
    const [r, t] = files(c.rules ?? RULES, c.trace);
    const res = cli(['--rules', r, '--trace', t]);
    assert.equal(res.code, 2);
    assert.match(res.err, new RegExp(`${c.file} line ${c.line}: `));
    assert.match(res.err, c.msg);
    // nothing printed for lines after the bad one
    assert.ok(res.out.length <= c.line - 1, `printed ${res.out.length} lines`);
  });
}

test('a "list" line with -S prints the rules as ipvsadm -S does, after the trace changed them', async () => {
  const runIpvsadm = await loadRunIpvsadm();
  const out: string[] = [];
  const trace = ['{"t":1,"cmd":"-e -t 10.0.0.1:80 -r 192.168.10.2:80 -m -w 0"}', '{"t":2,"list":"-S -n"}', '{"t":3,"list":"-Sn"}',
    '{"t":4,"list":"--save -n"}'].join('\n');
  await simulate({ rules: RULES, trace, runIpvsadm, emit: (l) => out.push(l) });
  const saved = '-A -t 10.0.0.1:80 -s wrr\n-a -t 10.0.0.1:80 -r 192.168.10.1:80 -m -w 3\n-a -t 10.0.0.1:80 -r 192.168.10.2:80 -m -w 0\n';
  assert.deepEqual(out.map((l) => JSON.parse(l) as unknown), [
    { t: 1, ok: true }, { t: 2, listing: saved }, { t: 3, listing: saved }, { t: 4, listing: saved },
  ]);
});

test('CLI usage errors exit 2', () => {
  assert.equal(cli([]).code, 2);
  assert.equal(cli(['--rules', '/nonexistent', '--trace', '/nonexistent']).code, 2);
  assert.equal(cli(['--bogus']).code, 2);
});

test('--seed makes twos reproducible', async () => {
  const runIpvsadm = await loadRunIpvsadm();
  const rules = '-A -t 10.0.0.1:80 -s twos\n' + [1, 2, 3, 4].map((i) => `-a -t 10.0.0.1:80 -r 192.168.10.${i}:80 -m -w ${i}`).join('\n');
  const trace = Array.from({ length: 40 }, (_, i) => pkt(i, `172.16.0.${i}:1000`, 'S')).join('\n');
  const run = async (seed: number): Promise<string[]> => {
    const out: string[] = [];
    await simulate({ rules, trace, seed, runIpvsadm, emit: (l) => out.push(l) });
    return out;
  };
  assert.deepEqual(await run(42), await run(42));
  assert.notDeepEqual(await run(42), await run(43));
});

test('fuzz: random and mutated trace lines only ever produce clean SimErrors or output', async () => {
  const runIpvsadm = await loadRunIpvsadm();
  const rnd = seededRandom(2024);
  const seeds = [
    pkt(1, '172.16.0.1:1000', 'S'), '{"t":2,"cmd":"-e -t 10.0.0.1:80 -r 192.168.10.1:80 -m -w 0"}',
    '{"t":3,"list":"-L -n --stats"}', '{"t":4,"proto":"udp","src":"[2001:db8::1]:53","dst":"[2001:db8::2]:53"}',
    '{"t":5,"proto":"tcp","src":"192.168.10.1:80","dst":"172.16.0.1:1000","flags":"FA","dir":"out","bytes":1500,"mark":3}',
  ];
  const alphabet = '{}[]":,0123456789.-tSAFRP abcdefxyz\\';
  for (let i = 0; i < 400; i++) {
    let line = seeds[Math.floor(rnd() * seeds.length)]!;
    const muts = 1 + Math.floor(rnd() * 4);
    for (let m = 0; m < muts; m++) {
      const pos = Math.floor(rnd() * (line.length + 1));
      const op = rnd();
      if (op < 0.4) line = line.slice(0, pos) + line.slice(pos + 1);
      else if (op < 0.8) line = line.slice(0, pos) + alphabet[Math.floor(rnd() * alphabet.length)] + line.slice(pos);
      else line = line.slice(0, pos) + line.slice(pos).toUpperCase();
    }
    try {
      await simulate({ rules: RULES, trace: line, runIpvsadm, emit: () => {} });
    } catch (e) {
      assert.ok(e instanceof SimError, `line ${JSON.stringify(line)} threw ${String(e)}`);
      assert.equal(e.line, 1);
    }
  }
});
