/**
 * GET /api/v1/explain on a real daemon (proxy forwarder in-process, real real servers), as
 * test/daemon/explain.test.ts checks `tsvs explain`: the real server it names is the one the next
 * real connection reaches, a read token is enough, a persistent client is shown its template and
 * an open connection its entry, bad requests get a stable code, and the OpenAPI document has it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Explanation } from '../../src/core/explain.ts';
import { closeServer, freePort, httpGet, nameServer, nameServers, tmpDir, tsvsadm } from '../daemon/helpers.ts';
import { call, startHttpDaemon, type HttpDaemon } from './helpers.ts';

const ADMIN = 'admin-token-0123456789abcdef';
const READ = 'read-token-0123456789abcdef';
const R = { authorization: `Bearer ${READ}` };

let d: HttpDaemon;
let rs: Awaited<ReturnType<typeof nameServer>>[] = [];
let byPort = new Map<number, string>();

before(async () => {
  ({ servers: rs, byPort } = await nameServers(['rs1', 'rs2', 'rs3']));
  const dir = tmpDir();
  const tokens = join(dir, 'tokens');
  writeFileSync(tokens, `admin ${ADMIN}\nread ${READ}\n`);
  chmodSync(tokens, 0o600);
  d = await startHttpDaemon(['--forwarder', 'proxy', '--workers', '0', '--no-state', '--http-token', tokens], dir);
});
after(async () => {
  await d?.stop();
  for (const s of rs) await closeServer(s.server);
});

async function adm(...argv: string[]): Promise<void> {
  const r = await tsvsadm(d.socket, argv);
  assert.equal(r.code, 0, `tsvsadm ${argv.join(' ')}: ${r.stderr}`);
}

/** A service over rs1..rs3 (rs3 at weight 0); returns its port. */
async function service(extra: string[], destExtra: string[] = []): Promise<number> {
  const port = await freePort();
  await adm('-A', '-t', `127.0.0.1:${port}`, '-s', 'rr', ...extra);
  for (const [i, s] of rs.entries()) await adm('-a', '-t', `127.0.0.1:${port}`, '-r', `127.0.0.1:${s.port}`, '-m', '-w', i === 2 ? '0' : '1', ...destExtra);
  return port;
}

async function explain(query: string): Promise<Explanation> {
  const r = await call(d.http, 'GET', `/api/v1/explain?${query}`, undefined, R);
  assert.equal(r.status, 200, `explain ${query}: ${r.text}`);
  return JSON.parse(r.text) as Explanation;
}

const nameOf = (x: Explanation): string => byPort.get(x.dest?.port ?? -1) ?? `none (${x.outcome})`;

test('explain over HTTP (read token) names the real server each next connection reaches, and moves no rr cursor', async () => {
  const port = await service([], ['-x', '1000']); // a threshold: rr decided by the engine per connection
  const q = `service=tcp-127.0.0.1-${port}&client=127.0.0.1`;
  const got: string[] = [];
  for (let i = 0; i < 4; i++) {
    const a = await explain(q);
    const b = await explain(q); // a second dry run: same answer
    assert.equal(nameOf(b), nameOf(a));
    assert.equal(a.outcome, 'scheduled');
    assert.equal(a.scheduler, 'rr');
    assert.deepEqual(a.dests.find((x) => x.port === rs[2]!.port)!.skipped, ['weight-0']);
    const r = await httpGet(port, '/', '127.0.0.1');
    assert.equal(r.body.toString().trim(), nameOf(a), `connection ${i}`);
    got.push(nameOf(a));
  }
  assert.deepEqual(new Set(got), new Set(['rs1', 'rs2']), 'rr alternates over the two servers of weight 1');
});

test('explain over HTTP shows a persistent client its template and an open connection its entry', async () => {
  const port = await service(['-p', '300']);
  const q = `service=tcp-127.0.0.1-${port}&client=127.0.0.1`;
  const first = await explain(q);
  assert.equal(first.outcome, 'scheduled');
  assert.equal(first.template, null);
  assert.equal((await httpGet(port, '/', '127.0.0.1')).body.toString().trim(), nameOf(first));
  const again = await explain(q);
  assert.equal(again.outcome, 'template');
  assert.equal(nameOf(again), nameOf(first));
  const s: Socket = connect({ host: '127.0.0.1', port });
  await new Promise<void>((res, rej) => { s.once('connect', () => res()); s.once('error', rej); });
  try {
    const x = await explain(`${q}&cport=${s.localPort}`);
    assert.equal(x.outcome, 'existing', 'the connection the forwarder accepted is settled into the table first');
    assert.equal(x.connection?.cport, s.localPort);
    assert.equal(nameOf(x), nameOf(first));
  } finally {
    s.destroy();
  }
});

test('explain over HTTP: bad requests get a stable code and change nothing; a token is needed', async () => {
  const port = await service([]);
  const sid = `tcp-127.0.0.1-${port}`;
  const cases: [string, Record<string, string>, number, string][] = [
    [`service=${sid}&client=127.0.0.1`, {}, 401, 'EAUTH'],
    [`client=127.0.0.1`, R, 400, 'EBADREQ'],
    [`service=${sid}`, R, 400, 'EBADREQ'],
    [`service=tcp-127.0.0.1-99999&client=127.0.0.1`, R, 400, 'EBADREQ'],
    [`service=tcp-127.0.0.1-1&client=127.0.0.1`, R, 404, 'ESRCH'],
    [`service=${sid}&client=not-an-address`, R, 400, 'EINVAL'],
    [`service=${sid}&client=::1`, R, 400, 'EINVAL'],
    [`service=${sid}&client=127.0.0.1&cport=70000`, R, 400, 'EBADREQ'],
    [`service=${sid}&client=127.0.0.1&port=1`, R, 400, 'EBADREQ'],
  ];
  const before = (await tsvsadm(d.socket, ['-L', '-n', '--stats'])).stdout;
  for (const [q, h, status, code] of cases) {
    const r = await call(d.http, 'GET', `/api/v1/explain?${q}`, undefined, h);
    assert.equal(r.status, status, `${q}: ${r.text}`);
    assert.equal((JSON.parse(r.text) as { error: { code: string } }).error.code, code, q);
  }
  const post = await call(d.http, 'POST', `/api/v1/explain?service=${sid}&client=127.0.0.1`, {}, { authorization: `Bearer ${ADMIN}` });
  assert.equal(post.status, 405);
  assert.equal((await tsvsadm(d.socket, ['-L', '-n', '--stats'])).stdout, before, 'nothing changed');
});

test('the OpenAPI document describes GET /api/v1/explain with its query parameters, readable with a read token', async () => {
  const doc = JSON.parse((await call(d.http, 'GET', '/api/v1/openapi.json')).text) as { paths: Record<string, Record<string, { parameters?: { name: string; in: string }[]; security: unknown[] }>> };
  const op = doc.paths['/api/v1/explain']?.['get'];
  assert.ok(op, 'GET /api/v1/explain is in the document');
  assert.deepEqual(op.parameters?.map((p) => `${p.in}:${p.name}`), ['query:service', 'query:client', 'query:cport']);
  assert.deepEqual(op.security, [{}, { bearer: ['read'] }]);
});
