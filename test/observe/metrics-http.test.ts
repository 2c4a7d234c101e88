/**
 * `tsvs daemon --http`: a real daemon (proxy forwarder in-process), real connections through a
 * virtual service, real HTTP scrapes of /metrics.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { closeServer, freePort, httpGet, nameServer, REPO, startDaemon, tmpDir, tsvsadm, type DaemonProc } from '../daemon/helpers.ts';
import { NODE_IPVS_FAMILIES } from '../../src/observe/metrics.ts';
import { call, metrics, startHttpDaemon, until, value, type HttpDaemon } from './helpers.ts';

let d: HttpDaemon;
let rs1: Awaited<ReturnType<typeof nameServer>>;
let rs2: Awaited<ReturnType<typeof nameServer>>;
let vport = 0;

async function adm(...argv: string[]): Promise<void> {
  const r = await tsvsadm(d.socket, argv);
  assert.equal(r.code, 0, `tsvsadm ${argv.join(' ')}: ${r.stderr}`);
}

before(async () => {
  rs1 = await nameServer('rs1');
  rs2 = await nameServer('rs2');
  d = await startHttpDaemon(['--forwarder', 'proxy', '--workers', '0', '--no-state']);
  vport = await freePort();
  await adm('-A', '-t', `127.0.0.1:${vport}`, '-s', 'rr');
  await adm('-a', '-t', `127.0.0.1:${vport}`, '-r', `127.0.0.1:${rs1.port}`, '-m', '-w', '3');
  await adm('-a', '-t', `127.0.0.1:${vport}`, '-r', `127.0.0.1:${rs2.port}`, '-m', '-w', '1');
});
after(async () => {
  await d?.stop();
  await closeServer(rs1.server);
  await closeServer(rs2.server);
});

test('/metrics counts the connections made through a virtual service, in node_exporter\'s names and labels', async () => {
  for (let i = 0; i < 6; i++) assert.equal((await httpGet(vport)).status, 200);
  const m = await until('6 connections counted', async () => {
    const x = await metrics(d.http);
    return value(x.samples, 'node_ipvs_connections_total') === 6 ? x : null;
  });
  const backend = { local_address: '127.0.0.1', local_mark: '', local_port: String(vport), proto: 'TCP', remote_address: '127.0.0.1' };
  assert.equal(value(m.samples, 'node_ipvs_backend_weight', { ...backend, remote_port: String(rs1.port) }), 3);
  assert.equal(value(m.samples, 'node_ipvs_backend_weight', { ...backend, remote_port: String(rs2.port) }), 1);
  assert.ok(value(m.samples, 'node_ipvs_incoming_packets_total') >= 6 * 3, 'at least SYN, request, FIN per connection');
  assert.ok(value(m.samples, 'node_ipvs_incoming_bytes_total') > 0);
  assert.equal(value(m.samples, 'tsvs_service_connections_total', { local_port: String(vport), proto: 'TCP' }), 6);
  // rr: 3 each, whatever the weights
  assert.equal(rs1.hits() + rs2.hits(), 6);
  // Every node_ipvs family has node_exporter's type and HELP text, and the same label names.
  for (const [name, f] of Object.entries(NODE_IPVS_FAMILIES)) {
    assert.equal(m.types.get(name), f.type, name);
    assert.equal(m.helps.get(name), f.help, name);
  }
  for (const s of m.samples.filter((x) => x.name.startsWith('node_ipvs_backend_'))) {
    assert.deepEqual(Object.keys(s.labels), ['local_address', 'local_mark', 'local_port', 'proto', 'remote_address', 'remote_port']);
  }
  // The connection table and process metrics from prom-client.
  assert.equal(value(m.samples, 'tsvs_connection_table_limit'), 1 << 20);
  assert.ok(value(m.samples, 'tsvs_connection_table_entries') >= 0);
  assert.equal(value(m.samples, 'tsvs_forwarder_info', { forwarder: 'proxy' }), 1);
  assert.ok(value(m.samples, 'process_resident_memory_bytes') > 0);
  assert.ok(m.types.get('nodejs_eventloop_lag_seconds') === 'gauge');
});

test('a weight change shows in the next scrape', async () => {
  await adm('-e', '-t', `127.0.0.1:${vport}`, '-r', `127.0.0.1:${rs2.port}`, '-m', '-w', '7');
  const m = await metrics(d.http);
  assert.equal(value(m.samples, 'node_ipvs_backend_weight', { local_port: String(vport), remote_port: String(rs2.port) }), 7);
});

test('/metrics answers GET and HEAD only; other paths are 404 with a stable code', async () => {
  const post = await call(d.http, 'POST', '/metrics', '');
  assert.equal(post.status, 405);
  assert.equal(post.headers['allow'], 'GET, HEAD');
  assert.equal(JSON.parse(post.text).error.code, 'EMETHOD');
  const head = await call(d.http, 'HEAD', '/metrics');
  assert.equal(head.status, 200);
  assert.equal(head.text, '');
  assert.match(String(head.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const nf = await call(d.http, 'GET', '/nope');
  assert.equal(nf.status, 404);
  assert.equal(JSON.parse(nf.text).error.code, 'ENOTFOUND');
});

/** TCP sockets the process listens on, from ss (empty when ss is missing). */
function listening(pid: number): string[] {
  const r = spawnSync('ss', ['-Hltnp'], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return r.stdout.split('\n').filter((l) => l.includes(`pid=${pid},`)).map((l) => l.trim().split(/\s+/)[3]!);
}

test('without --http the daemon opens no TCP listener; --http PORT binds loopback only', { skip: spawnSync('ss', ['-V']).status !== 0 && 'ss missing' }, async () => {
  const plain: DaemonProc = await startDaemon(['--forwarder', 'none', '--no-state']);
  try {
    assert.deepEqual(listening(plain.proc.pid!), []);
  } finally {
    await plain.stop();
  }
  const port = await freePort();
  const lo = await startDaemon(['--forwarder', 'none', '--no-state', '--http', String(port)]);
  try {
    assert.deepEqual(listening(lo.proc.pid!), [`127.0.0.1:${port}`]);
    assert.equal((await call(port, 'GET', '/metrics')).status, 200);
  } finally {
    await lo.stop();
  }
});

function daemonExit(args: string[]): { code: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO, 'bin/tsvs.mjs'), 'daemon', '--no-state', '--forwarder', 'none', '--socket', join(tmpDir(), 's.sock'), ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stderr: r.stderr };
}

const BAD_HTTP: [string, RegExp][] = [
  ['', /--http '' is not \[ADDR:\]PORT/],
  ['localhost:9100', /'localhost' is not an IPv4 address/],
  ['127.0.0.1:70000', /port 70000 is out of range/],
  ['[10.0.0.1]:80', /'10.0.0.1' is not an IPv6 address/],
  ['::1:80', /is not \[ADDR:\]PORT/],
];

test('a bad --http value is refused on the command line (exit 2, nothing started)', () => {
  for (const [v, re] of BAD_HTTP) {
    const r = daemonExit(['--http', v]);
    assert.equal(r.code, 2, `--http ${v}: ${r.stderr}`);
    assert.match(r.stderr, re, `--http ${v}`);
  }
});

test('an --http port already in use stops the start with a clear error (exit 1)', async () => {
  const blocker = createServer();
  const port = await new Promise<number>((r) => blocker.listen(0, '127.0.0.1', () => r((blocker.address() as { port: number }).port)));
  try {
    const dir = tmpDir();
    const r = spawnSync(process.execPath, [join(REPO, 'bin/tsvs.mjs'), 'daemon', '--no-state', '--forwarder', 'none', '--socket', join(dir, 's.sock'), '--http', `127.0.0.1:${port}`], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot listen on http 127\\.0\\.0\\.1:${port}: address already in use`));
  } finally {
    blocker.close();
  }
});
