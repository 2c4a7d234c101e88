/**
 * ldirectord checktype = N ("combined", ldirectord's _check_real): a negotiate check, then N
 * connect checks while they pass, then a negotiate again; a failed connect brings the negotiate
 * back at once. Against a real TCP server on loopback that records what each connection sent.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { runCheck } from '../../src/health/checkers/index.ts';
import { realScriptRunner } from '../../src/health/io.ts';
import type { CheckerDef } from '../../src/health/types.ts';
import { parseLdirectord } from '../../src/config/ldirectord.ts';
import { memorySource } from '../../src/config/source.ts';

/** What each connection sent before it closed ('' for a bare connect). */
const seen: string[] = [];
const server = net.createServer((c) => {
  let got = '';
  c.setEncoding('latin1');
  c.on('data', (d: string) => { got += d; if (got.includes('PING')) c.end('PONG\n'); });
  c.on('close', () => seen.push(got));
  c.on('error', () => {});
});
const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as net.AddressInfo).port)));
after(() => server.close());

const ctx = (p: number) => ({ target: { addr: '127.0.0.1', port: p, protocol: 'tcp' as const }, scripts: realScriptRunner, delayLoop: 5 });
/** Waits (bounded) until the server has seen `n` connections close. */
async function closed(n: number): Promise<void> {
  for (let i = 0; i < 400 && seen.length < n; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(seen.length, n);
}

test('checktype = 2: negotiate, connect, connect, negotiate; a failed check brings the negotiate back', async () => {
  const def: CheckerDef = { type: 'negotiate', service: 'simpletcp', request: 'PING\\n', receive: 'PONG', negotiatetimeout: 2, every: 2, checktimeout: 2 };
  const kinds: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await runCheck(def, ctx(port));
    assert.ok(r.ok, r.reason);
    await closed(i + 1);
    kinds.push(seen[i] === '' ? 'connect' : 'negotiate');
  }
  assert.deepEqual(kinds, ['negotiate', 'connect', 'connect', 'negotiate']);
  // A connect that fails (nobody listens on the port) is followed by a negotiate.
  const dead = net.createServer();
  const deadPort = await new Promise<number>((r) => dead.listen(0, '127.0.0.1', () => r((dead.address() as net.AddressInfo).port)));
  await new Promise<void>((r) => dead.close(() => r()));
  const moved: CheckerDef = { ...def, connect_port: deadPort };
  assert.equal((await runCheck(moved, ctx(port))).ok, false, 'the first check of a new def negotiates, and fails');
  const back = await runCheck({ ...def, connect_port: port }, ctx(port));
  assert.ok(back.ok);
  await closed(5);
  assert.equal(seen[4], 'PING\n', 'a new def (a reload) starts with a negotiate');
});

test('ldirectord checktype = N is read silently, as ldirectord reads it, into the combined check', () => {
  const L = '/etc/ha.d/ldirectord.cf';
  const r = parseLdirectord(L, memorySource({ [L]: 'checktimeout=3\nvirtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate\n\tchecktype=5\n\tservice=http\n\trequest="index.html"\n\treceive="ok"\n' }));
  assert.deepEqual(r.diagnostics, []);
  const ck = r.state!.services[0]!.reals[0]!.checkers[0] as { type: string; every?: number; checktimeout?: number };
  assert.deepEqual([ck.type, ck.every, ck.checktimeout], ['negotiate', 5, 3]);
});
