import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import dgram from 'node:dgram';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCheck, CHECKERS } from '../../src/health/checkers/index.ts';
import { realScriptRunner, splitCommand } from '../../src/health/io.ts';
import type { CheckerDef, CheckResult } from '../../src/health/types.ts';
import { RESULT_CODES } from '../../src/health/types.ts';

const tmp = mkdtempSync(join(tmpdir(), 'tsvs-health-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const ctx = (port: number, extra: { vip?: string; vport?: number; protocol?: 'tcp' | 'udp' } = {}) =>
  ({ target: { addr: '127.0.0.1', port, ...extra }, scripts: realScriptRunner, delayLoop: 5 });

const conns = new WeakMap<net.Server, Set<net.Socket>>();
function listen(server: net.Server | dgram.Socket): Promise<number> {
  if (!(server instanceof dgram.Socket)) {
    const set = new Set<net.Socket>();
    conns.set(server, set);
    server.on(server instanceof https.Server ? 'secureConnection' : 'connection', (c: net.Socket) => { set.add(c); c.on('close', () => set.delete(c)); });
  }
  return new Promise((resolve) => {
    if (server instanceof dgram.Socket) server.bind(0, '127.0.0.1', () => resolve(server.address().port));
    else server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}
/** Closes a server and destroys its open connections (so close() cannot wait on a half-closed one). */
const closeServer = (s: net.Server) => new Promise<void>((r) => {
  s.close(() => r());
  for (const c of conns.get(s) ?? []) c.destroy();
});

/** A port nobody listens on (bound then released). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  const p = await listen(s);
  await closeServer(s);
  return p;
}

function code(r: CheckResult): string { return r.reason.split(':')[0]!; }

test('every checker kind is registered and every reason code used below is in the stable list', () => {
  for (const k of ['TCP_CHECK', 'HTTP_GET', 'SSL_GET', 'MISC_CHECK', 'DNS_CHECK', 'SMTP_CHECK', 'UDP_CHECK', 'PING_CHECK', 'connect', 'negotiate', 'ping', 'external', 'on', 'off'] as const) {
    assert.ok(CHECKERS.has(k), k);
  }
});

// ---------- TCP ----------
test('TCP_CHECK passes against a listening server, fails with refused once it is stopped, passes again when restarted', async () => {
  const s = net.createServer((c) => c.end());
  const port = await listen(s);
  const def: CheckerDef = { type: 'TCP_CHECK', connect_timeout: 1 };
  assert.equal((await runCheck(def, ctx(port))).ok, true);
  await closeServer(s);
  const r = await runCheck(def, ctx(port));
  assert.equal(r.ok, false);
  assert.equal(code(r), 'refused');
  const s2 = net.createServer((c) => c.end());
  await new Promise<void>((res) => s2.listen(port, '127.0.0.1', () => res()));
  assert.equal((await runCheck(def, ctx(port))).ok, true);
  await closeServer(s2);
});

test('connect_ip / connect_port override the target', async () => {
  const s = net.createServer((c) => c.end());
  const port = await listen(s);
  const dead = await freePort();
  assert.equal((await runCheck({ type: 'TCP_CHECK', connect_port: port }, ctx(dead))).ok, true);
  assert.equal((await runCheck({ type: 'TCP_CHECK', connect_ip: '127.0.0.1' }, { ...ctx(port), target: { addr: '127.0.0.2', port } })).ok, true);
  await closeServer(s);
});

// ---------- HTTP ----------
let web: http.Server;
let webPort = 0;
const seen: { path: string; host: string | undefined; ua: string | undefined }[] = [];
const BODY = 'hello from the real server\n';
before(async () => {
  web = http.createServer((req, res) => {
    seen.push({ path: req.url ?? '', host: req.headers.host, ua: req.headers['user-agent'] });
    if (req.url === '/slow') { setTimeout(() => { res.end('late'); }, 3000).unref(); return; }
    if (req.url === '/500') { res.statusCode = 500; res.end('oops'); return; }
    if (req.url === '/204') { res.statusCode = 204; res.end(); return; }
    if (req.url === '/301') { res.statusCode = 301; res.setHeader('location', '/'); res.end(); return; }
    if (req.url === '/chunked') { res.write('hello from '); res.end('the real server\n'); return; }
    if (req.url === '/vhost') { res.end(`host=${req.headers.host}`); return; }
    res.setHeader('content-length', Buffer.byteLength(BODY));
    res.end(BODY);
  });
  webPort = await listen(web);
});
after(() => closeServer(web));

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

const httpCases: { name: string; url: { path: string; digest?: string; status_code?: (number | [number, number])[]; regex?: string; regex_no_match?: boolean }; ok: boolean; code?: string }[] = [
  { name: 'status 200 with no status_code given', url: { path: '/' }, ok: true },
  { name: 'status 204 is inside the default 200-299', url: { path: '/204' }, ok: true },
  { name: 'status 301 is outside the default range', url: { path: '/301' }, ok: false, code: 'status 301' },
  { name: 'status 500 fails', url: { path: '/500' }, ok: false, code: 'status 500' },
  { name: 'status_code 500 accepts 500', url: { path: '/500', status_code: [500] }, ok: true },
  { name: 'status_code range 300-399 accepts 301', url: { path: '/301', status_code: [[300, 399]] }, ok: true },
  { name: 'status_code 200 rejects 204', url: { path: '/204', status_code: [200] }, ok: false, code: 'status 204' },
  { name: 'the right digest (MD5 of the body, as genhash) passes', url: { path: '/', digest: md5(BODY) }, ok: true },
  { name: 'digests compare case-insensitively', url: { path: '/', digest: md5(BODY).toUpperCase() }, ok: true },
  { name: 'a wrong digest fails', url: { path: '/', digest: md5('something else') }, ok: false, code: 'digest mismatch' },
  { name: 'a chunked body is digested after de-chunking', url: { path: '/chunked', digest: md5('hello from the real server\n') }, ok: true },
  { name: 'regex matching the body passes', url: { path: '/', regex: 'real\\s+server' }, ok: true },
  { name: 'regex not matching fails', url: { path: '/', regex: '^nope' }, ok: false, code: 'regex mismatch' },
  { name: 'regex_no_match inverts', url: { path: '/', regex: '^nope', regex_no_match: true }, ok: true },
];
for (const c of httpCases) {
  test(`HTTP_GET: ${c.name}`, async () => {
    const r = await runCheck({ type: 'HTTP_GET', url: [c.url], connect_timeout: 2 }, ctx(webPort));
    assert.equal(r.ok, c.ok, r.reason);
    if (c.code) assert.equal(code(r), c.code);
  });
}

test('HTTP_GET sends keepalived\'s request: GET path, User-Agent KeepAliveClient, Host = virtualhost or ip:port', async () => {
  seen.length = 0;
  await runCheck({ type: 'HTTP_GET', url: [{ path: '/a?b=1' }] }, ctx(webPort));
  await runCheck({ type: 'HTTP_GET', url: [{ path: '/' }], virtualhost: 'www.example.test' }, ctx(webPort));
  assert.deepEqual(seen, [
    { path: '/a?b=1', host: `127.0.0.1:${webPort}`, ua: 'KeepAliveClient' },
    { path: '/', host: 'www.example.test', ua: 'KeepAliveClient' },
  ]);
});

test('HTTP_GET with several urls passes only when all pass', async () => {
  const good = await runCheck({ type: 'HTTP_GET', url: [{ path: '/' }, { path: '/204' }] }, ctx(webPort));
  const bad = await runCheck({ type: 'HTTP_GET', url: [{ path: '/' }, { path: '/500' }] }, ctx(webPort));
  assert.equal(good.ok, true);
  assert.equal(bad.reason, 'status 500: /500');
});

test('HTTP_GET against a slow server fails with timeout after connect_timeout', async () => {
  const r = await runCheck({ type: 'HTTP_GET', url: [{ path: '/slow' }], connect_timeout: 0.3 }, ctx(webPort));
  assert.equal(code(r), 'timeout');
  assert.ok(r.latencyMs >= 290 && r.latencyMs < 1500, `latency ${r.latencyMs}`);
});

test('HTTP_GET against a stopped server is refused', async () => {
  const r = await runCheck({ type: 'HTTP_GET', url: [{ path: '/' }] }, ctx(await freePort()));
  assert.equal(code(r), 'refused');
});

test('HTTP_GET against something that is not HTTP is a bad response', async () => {
  const s = net.createServer((c) => c.end('SSH-2.0-OpenSSH\r\n'));
  const port = await listen(s);
  const r = await runCheck({ type: 'HTTP_GET', url: [{ path: '/' }] }, ctx(port));
  assert.equal(code(r), 'bad response');
  await closeServer(s);
});

// ---------- SSL ----------
test('SSL_GET: TLS with SNI from virtualhost, status and digest; plain HTTP on that port fails', async () => {
  const key = join(tmp, 'k.pem'), crt = join(tmp, 'c.pem');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt, '-days', '1', '-subj', '/CN=tsvs.test'], { stdio: 'ignore' });
  } catch {
    return; // openssl missing: nothing to test against
  }
  const snis: (string | false | null)[] = [];
  const s = https.createServer({ key: readFileSync(key), cert: readFileSync(crt) }, (req, res) => res.end(`tls ${req.url}`));
  s.on('secureConnection', (t) => snis.push(t.servername));
  const port = await listen(s);
  const ok = await runCheck({ type: 'SSL_GET', virtualhost: 'www.tsvs.test', url: [{ path: '/x', digest: md5('tls /x') }] }, ctx(port));
  assert.equal(ok.ok, true, ok.reason);
  const bad = await runCheck({ type: 'SSL_GET', url: [{ path: '/x', digest: md5('nope') }] }, ctx(port));
  assert.equal(code(bad), 'digest mismatch');
  assert.deepEqual(snis, ['www.tsvs.test', false]);
  const plain = await runCheck({ type: 'SSL_GET', url: [{ path: '/' }], connect_timeout: 1 }, ctx(webPort));
  assert.equal(plain.ok, false);
  assert.ok(['tls error', 'reset', 'closed', 'error'].includes(code(plain)), plain.reason);
  await closeServer(s);
});

// ---------- MISC / external ----------
function script(name: string, body: string): string {
  const p = join(tmp, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

const miscCases: { name: string; body: string; dynamic?: boolean; timeout?: number; ok: boolean; code?: string; weight?: number }[] = [
  { name: 'exit 0 passes', body: 'exit 0', ok: true },
  { name: 'exit 1 fails', body: 'exit 1', ok: false, code: 'exit' },
  { name: 'exit 5 fails without misc_dynamic', body: 'exit 5', ok: false, code: 'exit' },
  { name: 'exit 5 with misc_dynamic passes with weight 3', body: 'exit 5', dynamic: true, ok: true, weight: 3 },
  { name: 'exit 1 with misc_dynamic still fails', body: 'exit 1', dynamic: true, ok: false, code: 'exit' },
  { name: 'a script running past misc_timeout is killed and fails', body: 'sleep 5', timeout: 0.3, ok: false, code: 'timeout' },
];
for (const c of miscCases) {
  test(`MISC_CHECK: ${c.name}`, async () => {
    const p = script(`m${miscCases.indexOf(c)}.sh`, c.body);
    const r = await runCheck({ type: 'MISC_CHECK', misc_path: p, misc_dynamic: c.dynamic, misc_timeout: c.timeout ?? 5 }, ctx(80));
    assert.equal(r.ok, c.ok, r.reason);
    if (c.code) assert.equal(code(r), c.code);
    assert.equal(r.weight, c.weight);
    if (c.timeout) assert.ok(r.latencyMs < 2000, `killed promptly (${r.latencyMs} ms)`);
  });
}

test('MISC_CHECK: a missing program fails with spawn failed', async () => {
  const r = await runCheck({ type: 'MISC_CHECK', misc_path: join(tmp, 'does-not-exist') }, ctx(80));
  assert.equal(code(r), 'spawn failed');
});

test('MISC_CHECK passes quoted arguments as keepalived splits them', async () => {
  const out = join(tmp, 'args.txt');
  const p = script('args.sh', `printf '%s|' "$@" > ${out}`);
  await runCheck({ type: 'MISC_CHECK', misc_path: `${p} "two words" 'x y' plain` }, ctx(80));
  assert.equal(readFileSync(out, 'utf8'), 'two words|x y|plain|');
  assert.deepEqual(splitCommand(`a "b c" d\\ e 'f"g'`), ['a', 'b c', 'd e', 'f"g']);
});

test('ldirectord external: the command gets VIP VPORT RIP RPORT and its exit code decides', async () => {
  const out = join(tmp, 'ext.txt');
  const p = script('ext.sh', `echo "$@" > ${out}; [ "$4" = 8080 ]`);
  const r = await runCheck({ type: 'external', checkcommand: p }, { ...ctx(8080, { vip: '10.0.0.1', vport: 80 }) });
  assert.equal(r.ok, true, r.reason);
  assert.equal(readFileSync(out, 'utf8').trim(), '10.0.0.1 80 127.0.0.1 8080');
  const bad = await runCheck({ type: 'external', checkcommand: p }, ctx(81, { vip: '10.0.0.1', vport: 80 }));
  assert.equal(bad.reason, 'exit: 1');
});

// ---------- SMTP ----------
function smtpServer(banner: string, heloReply: string): net.Server {
  return net.createServer((c) => {
    c.write(banner);
    c.on('data', (d) => {
      const s = d.toString();
      if (s.startsWith('HELO')) c.write(heloReply);
      if (s.startsWith('QUIT')) c.end('221 bye\r\n');
    });
    c.on('error', () => {});
  });
}
const smtpCases = [
  { name: 'banner 220 and HELO 250 pass', banner: '220 mx ESMTP\r\n', helo: '250 hi\r\n', ok: true },
  { name: 'a multi-line 220 banner passes', banner: '220-mx first\r\n220 mx ready\r\n', helo: '250 hi\r\n', ok: true },
  { name: 'banner 554 fails', banner: '554 go away\r\n', helo: '250 hi\r\n', ok: false, code: 'smtp banner' },
  { name: 'HELO answered 501 fails', banner: '220 mx\r\n', helo: '501 bad\r\n', ok: false, code: 'smtp helo' },
];
for (const c of smtpCases) {
  test(`SMTP_CHECK: ${c.name}`, async () => {
    const s = smtpServer(c.banner, c.helo);
    const port = await listen(s);
    const r = await runCheck({ type: 'SMTP_CHECK', connect_timeout: 2, helo_name: 'director' }, ctx(port));
    assert.equal(r.ok, c.ok, r.reason);
    if (c.code) assert.equal(code(r), c.code);
    await closeServer(s);
  });
}

test('SMTP_CHECK: a server that never sends a banner times out', async () => {
  const s = net.createServer(() => {});
  const port = await listen(s);
  const r = await runCheck({ type: 'SMTP_CHECK', connect_timeout: 0.3 }, ctx(port));
  assert.equal(code(r), 'timeout');
  await closeServer(s);
});

// ---------- UDP / DNS ----------
test('UDP_CHECK: require_reply passes on a matching reply, fails on a wrong one, and a closed port is icmp unreachable', async () => {
  const u = dgram.createSocket('udp4');
  u.on('message', (m, rinfo) => u.send(m[0] === 0x01 ? Buffer.from('PONG') : Buffer.from('XXXX'), rinfo.port, rinfo.address));
  const port = await listen(u);
  const good = await runCheck({ type: 'UDP_CHECK', payload: '01', require_reply: Buffer.from('PONG').toString('hex'), connect_timeout: 1 }, ctx(port));
  assert.equal(good.ok, true, good.reason);
  const wrong = await runCheck({ type: 'UDP_CHECK', payload: '02', require_reply: Buffer.from('PONG').toString('hex'), connect_timeout: 1 }, ctx(port));
  assert.equal(code(wrong), 'udp reply mismatch');
  const short = await runCheck({ type: 'UDP_CHECK', payload: '01', require_reply: true, min_reply_length: 10, connect_timeout: 1 }, ctx(port));
  assert.equal(code(short), 'udp reply mismatch');
  u.close();
  const closed = await runCheck({ type: 'UDP_CHECK', payload: '01', connect_timeout: 1 }, ctx(port));
  assert.equal(code(closed), 'icmp unreachable');
});

test('UDP_CHECK: a silent server passes without require_reply and times out with it', async () => {
  const u = dgram.createSocket('udp4');
  const port = await listen(u);
  const quiet = await runCheck({ type: 'UDP_CHECK', payload: '01', connect_timeout: 0.3 }, ctx(port));
  assert.equal(quiet.ok, true, quiet.reason);
  const need = await runCheck({ type: 'UDP_CHECK', payload: '01', require_reply: true, connect_timeout: 0.3 }, ctx(port));
  assert.equal(code(need), 'timeout');
  u.close();
});

function dnsServer(rcode: number, answers: number): dgram.Socket {
  const u = dgram.createSocket('udp4');
  u.on('message', (q, rinfo) => {
    const r = Buffer.from(q);
    r.writeUInt16BE(0x8180 | rcode, 2);
    r.writeUInt16BE(answers, 6);
    u.send(r, rinfo.port, rinfo.address);
  });
  return u;
}
const dnsCases = [
  { name: 'NOERROR with an answer passes', rcode: 0, answers: 1, ok: true },
  { name: 'NXDOMAIN fails with its rcode', rcode: 3, answers: 0, ok: false, reason: 'dns rcode: 3' },
  { name: 'NOERROR with no answer fails', rcode: 0, answers: 0, ok: false, reason: 'dns no answer' },
];
for (const c of dnsCases) {
  test(`DNS_CHECK: ${c.name}`, async () => {
    const u = dnsServer(c.rcode, c.answers);
    let question = Buffer.alloc(0);
    u.on('message', (q) => { question = q; });
    const port = await listen(u);
    const r = await runCheck({ type: 'DNS_CHECK', dns_type: 'A', name: 'www.example.test', connect_timeout: 1 }, ctx(port));
    assert.equal(r.ok, c.ok, r.reason);
    if (c.reason) assert.equal(r.reason, c.reason);
    assert.ok(question.includes(Buffer.from('\x03www\x07example\x04test\x00\x00\x01\x00\x01', 'latin1')), 'query carries name, type A, class IN');
    u.close();
  });
}

// ---------- ldirectord ----------
test('ldirectord connect: TCP connect passes / refused fails; udp services use a datagram probe', async () => {
  const s = net.createServer((c) => c.end());
  const port = await listen(s);
  assert.equal((await runCheck({ type: 'connect', checktimeout: 1 }, ctx(port))).ok, true);
  await closeServer(s);
  assert.equal(code(await runCheck({ type: 'connect', checktimeout: 1 }, ctx(port))), 'refused');
  assert.equal(code(await runCheck({ type: 'connect', checktimeout: 1 }, ctx(port, { protocol: 'udp' }))), 'icmp unreachable');
});

test('ldirectord negotiate http: GET /request, the body must match receive', async () => {
  seen.length = 0;
  const good = await runCheck({ type: 'negotiate', service: 'http', request: 'index.html', receive: 'real server', virtualhost: 'vh.test' }, ctx(webPort));
  assert.equal(good.ok, true, good.reason);
  assert.deepEqual(seen[0], { path: '/index.html', host: 'vh.test', ua: 'KeepAliveClient' });
  const miss = await runCheck({ type: 'negotiate', service: 'http', request: '/', receive: 'Welcome to nginx' }, ctx(webPort));
  assert.equal(code(miss), 'receive mismatch');
  const err = await runCheck({ type: 'negotiate', service: 'http', request: '/500', receive: 'oops' }, ctx(webPort));
  assert.equal(code(err), 'status 500');
});

test('ldirectord negotiate simpletcp: send request, match receive; silence times out at negotiatetimeout', async () => {
  const s = net.createServer((c) => c.on('data', (d) => { if (d.toString() === 'PING\r\n') c.write('+PONG\r\n'); }));
  const port = await listen(s);
  const good = await runCheck({ type: 'negotiate', service: 'simpletcp', request: 'PING\\r\\n', receive: '^\\+PONG' }, ctx(port));
  assert.equal(good.ok, true, good.reason);
  const silent = await runCheck({ type: 'negotiate', service: 'simpletcp', request: 'HELLO\\r\\n', receive: 'PONG', negotiatetimeout: 0.3 }, ctx(port));
  assert.equal(code(silent), 'timeout');
  await closeServer(s);
});

test('ldirectord checktype on/off', async () => {
  assert.equal((await runCheck({ type: 'on' }, ctx(1))).ok, true);
  assert.equal((await runCheck({ type: 'off' }, ctx(1))).reason, 'disabled: checktype off');
});

// ---------- PING ----------
test('PING_CHECK / ping: loopback answers ICMP echo (v4 and v6)', async (t) => {
  if (process.getuid?.() !== 0) { t.skip('needs root for a raw ICMP socket (no ping binary installed)'); return; }
  for (const addr of ['127.0.0.1', '::1']) {
    const r = await runCheck({ type: 'PING_CHECK', connect_ip: addr, connect_timeout: 1 }, ctx(0));
    assert.equal(r.ok, true, `${addr}: ${r.reason}`);
  }
  assert.equal((await runCheck({ type: 'ping', checktimeout: 1 }, ctx(0))).ok, true);
});

test('every failure reason starts with a stable code', async () => {
  const reasons = [
    await runCheck({ type: 'TCP_CHECK' }, ctx(await freePort())),
    await runCheck({ type: 'HTTP_GET', url: [{ path: '/500' }] }, ctx(webPort)),
    await runCheck({ type: 'off' }, ctx(1)),
  ].map(code);
  for (const r of reasons) assert.ok((RESULT_CODES as readonly string[]).includes(r.replace(/^status \d+$/, 'status')), r);
});
