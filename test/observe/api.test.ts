/**
 * The HTTP API on a real daemon (proxy forwarder in-process, real real servers, real HTTP):
 * access by token, every write as tsvsadm would make it, errors with stable codes that change
 * nothing, the OpenAPI document describing exactly the served routes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { closeServer, freePort, httpGet, nameServer, REPO, startDaemon, tmpDir, tsvsadm } from '../daemon/helpers.ts';
import { call, startHttpDaemon, type HttpDaemon } from './helpers.ts';

const ADMIN = 'admin-token-0123456789abcdef';
const READ = 'read-token-0123456789abcdef';
const A = { authorization: `Bearer ${ADMIN}` };
const R = { authorization: `Bearer ${READ}` };

let d: HttpDaemon;
let rs1: Awaited<ReturnType<typeof nameServer>>;
let rs2: Awaited<ReturnType<typeof nameServer>>;

before(async () => {
  rs1 = await nameServer('rs1');
  rs2 = await nameServer('rs2');
  const dir = tmpDir();
  const tokens = join(dir, 'tokens');
  writeFileSync(tokens, `# API tokens\nadmin ${ADMIN}\nread ${READ}\n`);
  chmodSync(tokens, 0o600);
  d = await startHttpDaemon(['--forwarder', 'proxy', '--workers', '0', '--no-state', '--http-token', tokens], dir);
});
after(async () => {
  await d?.stop();
  await closeServer(rs1.server);
  await closeServer(rs2.server);
});

const json = (r: { text: string }) => JSON.parse(r.text) as Record<string, any>;
const save = async () => (await tsvsadm(d.socket, ['-S', '-n'])).stdout;

test('access: no or unknown token 401, read token reads, read token cannot write (403), admin writes; the OpenAPI document is open', async () => {
  const cases: [string, string, Record<string, string>, unknown, number, string | null][] = [
    ['GET', '/api/v1/services', {}, undefined, 401, 'EAUTH'],
    ['GET', '/api/v1/services', { authorization: 'Bearer not-a-token-at-all-xx' }, undefined, 401, 'EAUTH'],
    ['GET', '/api/v1/services', { authorization: 'Basic abc' }, undefined, 401, 'EAUTH'],
    ['GET', '/api/v1/services', R, undefined, 200, null],
    ['GET', '/api/v1/whoami', R, undefined, 200, null],
    ['PUT', '/api/v1/timeouts', R, { tcp: 100 }, 403, 'EFORBIDDEN'],
    ['PUT', '/api/v1/timeouts', {}, { tcp: 100 }, 401, 'EAUTH'],
    ['GET', '/api/v1/openapi.json', {}, undefined, 200, null],
  ];
  for (const [m, p, h, b, status, code] of cases) {
    const r = await call(d.http, m, p, b, h);
    assert.equal(r.status, status, `${m} ${p} ${JSON.stringify(h)}: ${r.text}`);
    if (code) assert.equal(json(r).error.code, code, `${m} ${p}`);
  }
  assert.equal((await call(d.http, 'GET', '/api/v1/services', undefined, {})).headers['www-authenticate'], 'Bearer realm="tsvs"');
  assert.equal(json(await call(d.http, 'GET', '/api/v1/whoami', undefined, A)).role, 'admin');
  assert.equal(json(await call(d.http, 'GET', '/api/v1/whoami', undefined, R)).role, 'read');
  assert.equal((await tsvsadm(d.socket, ['-L', '--timeout'])).stdout.includes('100'), false, 'the refused writes changed nothing');
});

test('services and real servers made through the API are what tsvsadm makes, and carry traffic', async () => {
  const vport = await freePort();
  const sid = `tcp-127.0.0.1-${vport}`;
  const svc = await call(d.http, 'POST', '/api/v1/services', { protocol: 'tcp', addr: '127.0.0.1', port: vport, scheduler: 'wrr' }, A);
  assert.equal(svc.status, 201, svc.text);
  assert.equal(json(svc).id, sid);
  for (const [rs, w] of [[rs1, 3], [rs2, 1]] as const) {
    const r = await call(d.http, 'POST', `/api/v1/services/${sid}/reals`, { addr: '127.0.0.1', port: rs.port, fwd: 'masq', weight: w }, A);
    assert.equal(r.status, 201, r.text);
    assert.equal(json(r).id, `127.0.0.1-${rs.port}`);
    assert.equal(json(r).weight, w);
  }
  const list = await tsvsadm(d.socket, ['-L', '-n', '-t', `127.0.0.1:${vport}`]);
  assert.match(list.stdout, new RegExp(`TCP  127\\.0\\.0\\.1:${vport} wrr\\n`));
  assert.match(list.stdout, new RegExp(`-> 127\\.0\\.0\\.1:${rs1.port} +Masq +3 `));
  const before1 = rs1.hits();
  for (let i = 0; i < 4; i++) assert.equal((await httpGet(vport)).status, 200);
  assert.equal(rs1.hits() - before1, 3, 'wrr 3:1');
  // PUT changes only what it names.
  const put = await call(d.http, 'PUT', `/api/v1/services/${sid}/reals/127.0.0.1-${rs2.port}`, { weight: 7 }, A);
  assert.equal(put.status, 200, put.text);
  assert.deepEqual([json(put).weight, json(put).fwd], [7, 'masq']);
  const edit = await call(d.http, 'PUT', `/api/v1/services/${sid}`, { persistent: 120, netmask: '255.255.255.0' }, A);
  assert.equal(edit.status, 200, edit.text);
  assert.deepEqual([json(edit).scheduler, json(edit).timeout, json(edit).netmask], ['wrr', 120, 0xffffff00]);
  assert.match((await tsvsadm(d.socket, ['-L', '-n', '-t', `127.0.0.1:${vport}`])).stdout, /wrr persistent 120 mask 255\.255\.255\.0/);
  const one = json(await call(d.http, 'GET', `/api/v1/services/${sid}`, undefined, R));
  assert.equal(one.dests.length, 2);
  assert.ok(one.stats.conns >= 4);
  const conns = json(await call(d.http, 'GET', `/api/v1/connections?service=${sid}&limit=2`, undefined, R));
  assert.ok(conns.total >= 4 && conns.connections.length === 2);
  // Delete the real server, then the service.
  assert.equal((await call(d.http, 'DELETE', `/api/v1/services/${sid}/reals/127.0.0.1-${rs2.port}`, undefined, A)).status, 200);
  assert.equal((await call(d.http, 'DELETE', `/api/v1/services/${sid}`, undefined, A)).status, 200);
  assert.doesNotMatch(await save(), new RegExp(`:${vport} `));
});

test('bad requests are refused with a stable code and a clear message, and change nothing', async () => {
  const vport = await freePort();
  const sid = `tcp-127.0.0.1-${vport}`;
  assert.equal((await call(d.http, 'POST', '/api/v1/services', { protocol: 'tcp', addr: '127.0.0.1', port: vport }, A)).status, 201);
  const saved = await save();
  const cases: [string, string, unknown, Record<string, string>, number, string, RegExp][] = [
    ['POST', '/api/v1/services', { protocol: 'tcp', addr: '127.0.0.1', port: vport }, {}, 409, 'EEXIST', /Service already exists/],
    ['POST', '/api/v1/services', { protocol: 'tcp', addr: '127.0.0.1', port: 1, scheduler: 'nope' }, {}, 400, 'ENOENT', /Scheduler or persistence engine not found/],
    ['POST', '/api/v1/services', { protocol: 'tcp', addr: '127.0.0.1', port: 1, weight: 3 }, {}, 400, 'EBADREQ', /body\.weight: unknown property/],
    ['POST', '/api/v1/services', { protocol: 'tcp', addr: '127.0.0.1', port: 70000 }, {}, 400, 'EBADREQ', /body\.port: must be at most 65535/],
    ['POST', '/api/v1/services', { protocol: 'tcp', addr: 'not-an-address', port: 80 }, {}, 400, 'EBADREQ', /.+/],
    ['POST', '/api/v1/services', { protocol: 'tcp', addr: '127.0.0.1', port: 0 }, {}, 400, 'EBADREQ', /Zero port specified for non-persistent service/],
    ['POST', '/api/v1/services', { fwmark: 5, port: 80 }, {}, 400, 'EBADREQ', /no protocol, addr or port/],
    ['POST', '/api/v1/services', '{"protocol": "tcp",', {}, 400, 'EBADREQ', /malformed JSON/],
    ['POST', '/api/v1/services', '[1]', {}, 400, 'EBADREQ', /must be a JSON object/],
    ['POST', '/api/v1/services', 'protocol=tcp', { 'content-type': 'text/plain' }, 415, 'EBADREQ', /Content-Type: application\/json/],
    ['GET', '/api/v1/services/tcp-10.255.255.1-80', undefined, {}, 404, 'ESRCH', /No such service/],
    ['GET', '/api/v1/services/bogus', undefined, {}, 400, 'EBADREQ', /not a service id/],
    ['PUT', `/api/v1/services/${sid}/reals/127.0.0.1-9`, { weight: 1 }, {}, 404, 'ENOENT', /No such destination/],
    ['PUT', `/api/v1/services/${sid}`, { scheduler: 'xx' }, {}, 400, 'ENOENT', /Scheduler or persistence engine not found/],
    ['POST', `/api/v1/services/${sid}/reals`, { addr: '127.0.0.1', port: 1, weight: -1 }, {}, 400, 'EBADREQ', /body\.weight: must be at least 0/],
    ['POST', `/api/v1/services/${sid}/reals`, { addr: '10.1.1.1', fwd: 'route' }, {}, 400, 'EINVAL', /direct routing .*packet mode is needed/],
    ['PATCH', '/api/v1/services', undefined, {}, 405, 'EMETHOD', /not allowed/],
    ['GET', '/api/v1/nothing-here', undefined, {}, 404, 'ENOTFOUND', /no such API path/],
    ['GET', '/api/v1/connections?limit=0', undefined, {}, 400, 'EBADREQ', /limit/],
    ['POST', '/api/v1/reload', undefined, {}, 422, 'ERELOAD', /without --rules/],
    ['POST', '/api/v1/services', 'x'.repeat(1_100_000), {}, 413, 'ETOOBIG', /request body over/],
  ];
  for (const [m, p, b, h, status, code, re] of cases) {
    const r = await call(d.http, m, p, b, { ...A, ...(typeof b === 'string' && !h['content-type'] ? { 'content-type': 'application/json' } : {}), ...h });
    assert.equal(r.status, status, `${m} ${p} ${String(JSON.stringify(b)).slice(0, 60)}: ${r.text}`);
    assert.equal(json(r).error.code, code, `${m} ${p}`);
    assert.match(json(r).error.message, re, `${m} ${p}`);
  }
  assert.equal(await save(), saved, 'nothing changed');
});

test('the OpenAPI document describes exactly the routes served, writes need an admin token', async () => {
  const doc = json(await call(d.http, 'GET', '/api/v1/openapi.json'));
  assert.equal(doc.openapi, '3.0.3');
  const index = json(await call(d.http, 'GET', '/api/v1', undefined, R));
  const served = (index.paths as string[]).map((x) => x.split(' ')).map(([m, p]) => `${m!.toLowerCase()} ${p}`).sort();
  const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`)).sort();
  assert.deepEqual(documented, served);
  for (const [p, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
    for (const [m, op] of Object.entries(ops)) {
      const write = m !== 'get';
      assert.deepEqual(op.security, write ? [{ bearer: ['admin'] }] : [{}, { bearer: ['read'] }], `${m} ${p}`);
      if (op.requestBody) assert.ok(doc.components.schemas[op.requestBody.content['application/json'].schema.$ref.split('/').pop()], `${m} ${p} schema`);
      assert.match(op.operationId, /^[a-z]+[A-Za-z]*$/);
    }
  }
  assert.equal(new Set(Object.values(doc.paths as Record<string, Record<string, any>>).flatMap((o) => Object.values(o).map((x) => x.operationId))).size, served.length, 'operationIds are unique');
});

test('without --http-token the API reads are open and every write is refused (403 EREADONLY)', async () => {
  const open = await startDaemon(['--forwarder', 'none', '--no-state', '--http', `127.0.0.1:${await freePort()}`]);
  try {
    const port = Number(/"http":"127\.0\.0\.1:(\d+)"/.exec(open.logs())![1]);
    assert.equal((await call(port, 'GET', '/api/v1/services')).status, 200);
    assert.equal(json(await call(port, 'GET', '/api/v1/whoami')).role, 'open');
    const w = await call(port, 'POST', '/api/v1/services', { protocol: 'tcp', addr: '10.0.0.1', port: 80 });
    assert.equal(w.status, 403);
    assert.equal(json(w).error.code, 'EREADONLY');
    assert.equal((await tsvsadm(open.socket, ['-S', '-n'])).stdout, '');
  } finally {
    await open.stop();
  }
});

const BAD_TOKEN_FILES: [string, string, number, RegExp][] = [
  ['group-readable', `admin ${ADMIN}\n`, 0o640, /readable or writable by group or others \(mode 640\); chmod 600 it/],
  ['empty', '# nothing\n', 0o600, /no tokens/],
  ['short token', 'admin short\n', 0o600, /tokens:1: a token is 16\.\.512 printable characters/],
  ['unknown role', `root ${ADMIN}\n`, 0o600, /tokens:1: expected "admin TOKEN" or "read TOKEN"/],
];

test('a bad --http-token file stops the start with a clear error (exit 1)', () => {
  for (const [what, text, mode, re] of BAD_TOKEN_FILES) {
    const dir = tmpDir();
    const f = join(dir, 'tokens');
    writeFileSync(f, text);
    chmodSync(f, mode);
    const r = spawnSync(process.execPath, [join(REPO, 'bin/tsvs.mjs'), 'daemon', '--no-state', '--forwarder', 'none', '--socket', join(dir, 's.sock'), '--http', '127.0.0.1:0', '--http-token', f], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 1, `${what}: ${r.stderr}`);
    assert.match(r.stderr, re, what);
  }
  const r = spawnSync(process.execPath, [join(REPO, 'bin/tsvs.mjs'), 'daemon', '--no-state', '--forwarder', 'none', '--http-token', '/nonexistent'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--http-token needs --http/);
});
