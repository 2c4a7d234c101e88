/**
 * `tsvs explain` against a real daemon (proxy forwarder in-process): the real server it names
 * is the one a real connection then reaches, explaining moves no scheduler (rr with thresholds,
 * which the forwarder does not decide ahead), a persistent client is shown its template, an open
 * connection its table entry, and bad input is refused with a clear error.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Explanation } from '../../src/core/explain.ts';
import { closeServer, freePort, httpGet, nameServer, nameServers, REPO, startDaemon, tsvsadm, type DaemonProc } from './helpers.ts';

let d: DaemonProc;
let rs: Awaited<ReturnType<typeof nameServer>>[] = [];
let byPort = new Map<number, string>();

before(async () => {
  ({ servers: rs, byPort } = await nameServers(['rs1', 'rs2', 'rs3']));
  d = await startDaemon(['--forwarder', 'proxy', '--workers', '0', '--no-state']);
});
after(async () => {
  await d?.stop();
  for (const s of rs) await closeServer(s.server);
});

function tsvs(argv: string[]): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(REPO, 'bin/tsvs.mjs'), 'explain', '--socket', d.socket, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (x: Buffer) => (stdout += x.toString()));
    p.stderr.on('data', (x: Buffer) => (stderr += x.toString()));
    p.on('exit', (code) => resolve({ stdout, stderr, code }));
  });
}

async function explain(argv: string[]): Promise<Explanation> {
  const r = await tsvs([...argv, '--json']);
  assert.equal(r.code, 0, `tsvs explain ${argv.join(' ')}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout) as Explanation;
}

async function adm(...argv: string[]): Promise<void> {
  const r = await tsvsadm(d.socket, argv);
  assert.equal(r.code, 0, `tsvsadm ${argv.join(' ')}: ${r.stderr}`);
}

/** A service over rs1..rs3 (rs3 at weight 0). */
async function service(extra: string[], destExtra: string[] = []): Promise<string> {
  const vip = `127.0.0.1:${await freePort()}`;
  await adm('-A', '-t', vip, '-s', 'rr', ...extra);
  for (const [i, s] of rs.entries()) await adm('-a', '-t', vip, '-r', `127.0.0.1:${s.port}`, '-m', '-w', i === 2 ? '0' : '1', ...destExtra);
  return vip;
}

const nameOf = (x: Explanation): string => byPort.get(x.dest?.port ?? -1) ?? `none (${x.outcome})`;

test('explain names the real server each next connection reaches, and moves no rr cursor', async () => {
  const vip = await service([], ['-x', '1000']); // a threshold: rr decided by the engine per connection
  const port = Number(vip.split(':')[1]);
  const got: string[] = [];
  for (let i = 0; i < 4; i++) {
    const a = await explain(['-t', vip, '127.0.0.1']);
    const b = await explain(['-t', vip, '127.0.0.1']); // a second dry run: same answer
    assert.equal(nameOf(b), nameOf(a));
    assert.equal(a.outcome, 'scheduled');
    assert.deepEqual(a.dests.find((x) => x.port === rs[2]!.port)!.skipped, ['weight-0']);
    const r = await httpGet(port, '/', '127.0.0.1');
    assert.equal(r.body.toString().trim(), nameOf(a), `connection ${i}`);
    got.push(nameOf(a));
  }
  assert.deepEqual(new Set(got), new Set(['rs1', 'rs2']), 'rr alternates over the two servers of weight 1');
  const text = await tsvs(['-t', vip, '127.0.0.1']);
  assert.equal(text.code, 0);
  assert.match(text.stdout, /scheduler rr/);
  assert.match(text.stdout, /weight-0/);
});

test('a persistent client is shown its template, an open connection its table entry', async () => {
  const vip = await service(['-p', '300']);
  const port = Number(vip.split(':')[1]);
  const first = await explain(['-t', vip, '127.0.0.1']);
  assert.equal(first.outcome, 'scheduled');
  assert.equal(first.template, null);
  const r = await httpGet(port, '/', '127.0.0.1');
  assert.equal(r.body.toString().trim(), nameOf(first));
  const again = await explain(['-t', vip, '127.0.0.1']);
  assert.equal(again.outcome, 'template');
  assert.equal(nameOf(again), nameOf(first));
  assert.equal(again.template?.caddr, '127.0.0.1');
  // an open connection: its own entry
  const s: Socket = connect({ host: '127.0.0.1', port });
  await new Promise<void>((res, rej) => { s.once('connect', () => res()); s.once('error', rej); });
  try {
    let x: Explanation | null = null;
    for (let i = 0; i < 40 && x?.outcome !== 'existing'; i++) {
      x = await explain(['-t', vip, `127.0.0.1:${s.localPort}`]);
      if (x.outcome !== 'existing') await new Promise((w) => setTimeout(w, 50));
    }
    assert.equal(x?.outcome, 'existing');
    assert.equal(x?.connection?.cport, s.localPort);
    assert.equal(nameOf(x!), nameOf(first));
  } finally {
    s.destroy();
  }
});

test('explain refuses bad input with a clear error and a non-zero exit', async () => {
  const cases: [string[], number, RegExp][] = [
    [['-t', '127.0.0.1:1', '127.0.0.1'], 1, /ESRCH: no such virtual service/],
    [['-t', '127.0.0.1:80'], 2, /give one client/],
    [['127.0.0.1'], 2, /exactly one service/],
    [['-t', '127.0.0.1:80', 'not-an-address'], 2, /not a numeric CLIENT/],
    [['-t', '127.0.0.1:80', '127.0.0.1:99999'], 2, /not a numeric CLIENT/],
  ];
  for (const [argv, code, msg] of cases) {
    const r = await tsvs(argv);
    assert.equal(r.code, code, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
  }
  const vip = await service([]);
  const r = await tsvs(['-t', vip, '2001:db8::1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /EINVAL/);
});
