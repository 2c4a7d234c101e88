/**
 * The proxy forwarder inside a real daemon process (2 relay worker threads; the other modes:
 * ./options.test.ts), real HTTP real servers, real curl clients, configured with tsvsadm.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { closeServer, freePort, freePortBoth, httpPost, nameServer, startDaemon, tcpExchange, tsvsadm, udpExchange, sleep, type DaemonProc } from '../daemon/helpers.ts';
import { callDaemon } from '../../src/daemon/protocol.ts';

let d: DaemonProc;
const rs: Awaited<ReturnType<typeof nameServer>>[] = [];
const hasCurl = spawnSync('curl', ['--version']).status === 0;

/** curl runs asynchronously: the real servers live in this process and must keep answering. */
function curl(port: number): Promise<string> {
  return new Promise((resolve) => {
    execFile('curl', ['-s', '--max-time', '5', `http://127.0.0.1:${port}/`], (err, stdout) => {
      resolve(err ? `(curl exit ${(err as { code?: number }).code})` : stdout.trim());
    });
  });
}
async function curlN(port: number, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await curl(port));
  return out;
}
function tally(xs: string[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const x of xs) t[x] = (t[x] ?? 0) + 1;
  return t;
}
async function adm(...argv: string[]): Promise<string> {
  const r = await tsvsadm(d.socket, argv);
  assert.equal(r.code, 0, `tsvsadm ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
/** An idle TCP connection through the VIP (waits until the real server side is connected). */
async function openIdle(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  await new Promise<void>((r, j) => { s.once('connect', () => r()); s.once('error', j); });
  await sleep(100);
  return s;
}

before(async () => {
  for (const n of ['rs1', 'rs2', 'rs3']) rs.push(await nameServer(n));
  d = await startDaemon(['--workers', '2', '--no-state']);
});
after(async () => {
  await d?.stop();
  for (const s of rs) await closeServer(s.server).catch(() => {});
});

test('wrr 3/2/1 spreads curl requests by weight; rr spreads evenly', { skip: !hasCurl && 'curl missing' }, async () => {
  const vip = `127.0.0.1:${await freePort()}`;
  await adm('-A', '-t', vip, '-s', 'wrr');
  for (const [i, w] of [[0, 3], [1, 2], [2, 1]]) await adm('-a', '-t', vip, '-r', `127.0.0.1:${rs[i]!.port}`, '-m', '-w', String(w));
  const port = Number(vip.split(':')[1]);
  const got = tally(await curlN(port, 12));
  assert.deepEqual(got, { rs1: 6, rs2: 4, rs3: 2 });
  await adm('-E', '-t', vip, '-s', 'rr');
  const even = tally(await curlN(port, 9));
  assert.deepEqual(even, { rs1: 3, rs2: 3, rs3: 3 });
  const stats = await adm('-L', '-n', '-t', vip, '--stats');
  assert.match(stats, new RegExp(`TCP  ${vip.replace(/\./g, '\\.')} +21 `), 'Conns counts every connection of both workers');
  await adm('-D', '-t', vip);
});

test('persistence keeps a client on one real server', { skip: !hasCurl && 'curl missing' }, async () => {
  const vip = `127.0.0.1:${await freePort()}`;
  await adm('-A', '-t', vip, '-s', 'rr', '-p', '60');
  for (const s of rs) await adm('-a', '-t', vip, '-r', `127.0.0.1:${s.port}`, '-m');
  const port = Number(vip.split(':')[1]);
  const got = tally(await curlN(port, 8));
  assert.equal(Object.keys(got).length, 1, JSON.stringify(got));
  assert.match(await adm('-L', '-n', '-c'), /TCP +\d\d:\d\d +NONE|ASSURED/);
  await adm('-D', '-t', vip);
});

test('ActiveConn counts open connections of every worker; weight 0 drains: no new connections, existing ones continue', async () => {
  const vip = `127.0.0.1:${await freePort()}`;
  const port = Number(vip.split(':')[1]);
  await adm('-A', '-t', vip, '-s', 'lc');
  await adm('-a', '-t', vip, '-r', `127.0.0.1:${rs[0]!.port}`, '-m');
  const idle = await Promise.all(Array.from({ length: 4 }, () => openIdle(port)));
  await sleep(200);
  assert.match(await adm('-L', '-n', '-t', vip), new RegExp(`127\\.0\\.0\\.1:${rs[0]!.port} +Masq +1 +4 +0`));
  await adm('-a', '-t', vip, '-r', `127.0.0.1:${rs[1]!.port}`, '-m');
  await adm('-e', '-t', vip, '-r', `127.0.0.1:${rs[0]!.port}`, '-m', '-w', '0');
  const got = tally(await curlN(port, 5));
  assert.deepEqual(got, { rs2: 5 }, 'weight 0: new connections go elsewhere');
  // An existing connection to the drained server still works.
  const s = idle[0]!;
  const answer = await new Promise<string>((resolve) => {
    let b = '';
    s.on('data', (c: Buffer) => (b += c.toString()));
    s.on('end', () => resolve(b));
    s.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  });
  assert.match(answer, /\r\n\r\nrs1\n$/);
  for (const x of idle) x.destroy();
  await adm('-D', '-t', vip);
});

test('a dying real server: its connections fail fast; once removed, new ones go elsewhere', async () => {
  const doomed = await nameServer('doomed');
  const vip = `127.0.0.1:${await freePort()}`;
  const port = Number(vip.split(':')[1]);
  await adm('-A', '-t', vip, '-s', 'rr');
  await adm('-a', '-t', vip, '-r', `127.0.0.1:${doomed.port}`, '-m');
  const s = await openIdle(port);
  const t0 = Date.now();
  const ended = new Promise<string>((resolve) => {
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    s.on('close', () => resolve('closed'));
  });
  await closeServer(doomed.server);
  const how = await ended;
  assert.ok(Date.now() - t0 < 1000, `client noticed in ${Date.now() - t0} ms (${how})`);
  // While it is still configured, new connections to it are refused quickly (reset).
  const r = await new Promise<string>((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    c.on('close', () => resolve('closed'));
  });
  assert.ok(['ECONNRESET', 'closed'].includes(r), r);
  await adm('-a', '-t', vip, '-r', `127.0.0.1:${rs[2]!.port}`, '-m');
  await adm('-d', '-t', vip, '-r', `127.0.0.1:${doomed.port}`);
  const got = tally(await curlN(port, 4));
  assert.deepEqual(got, { rs3: 4 });
  await adm('-D', '-t', vip);
});

test('1 MiB bodies pass intact both ways through the daemon; in/out bytes are counted', async () => {
  const vip = `127.0.0.1:${await freePort()}`;
  const port = Number(vip.split(':')[1]);
  await adm('-A', '-t', vip, '-s', 'rr');
  await adm('-a', '-t', vip, '-r', `127.0.0.1:${rs[0]!.port}`, '-m');
  const body = randomBytes(1 << 20);
  const r = await httpPost(port, body);
  assert.ok(r.body.equals(body));
  await sleep(200);
  const st = await adm('-L', '-n', '-t', vip, '--stats', '--exact');
  const m = new RegExp(`TCP  ${vip.replace(/\./g, '\\.')} +(\\d+) +(\\d+) +(\\d+) +(\\d+) +(\\d+)`).exec(st)!;
  assert.ok(Number(m[4]) > 1 << 20 && Number(m[5]) > 1 << 20, st);
  assert.ok(Number(m[2]) >= (1 << 20) / 1460, 'InPkts at least one per MSS');
  await adm('-D', '-t', vip);
});

test('statistics through the relay workers are exact: bytes minus 40 header bytes per packet are the payload each way', async () => {
  // A real server echoing everything, closing after the client's FIN: payload in = payload out.
  const echo = createServer({ allowHalfOpen: true }, (c) => {
    c.pipe(c);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  const vip = `127.0.0.1:${await freePort()}`;
  const port = Number(vip.split(':')[1]);
  await adm('-A', '-t', vip, '-s', 'rr');
  await adm('-a', '-t', vip, '-r', `127.0.0.1:${(echo.address() as { port: number }).port}`, '-m');
  const sizes = [1, 1460, 1461, 65536 * 3 + 7, 1 << 20];
  for (const n of sizes) {
    const out = await tcpExchange(port, randomBytes(n));
    assert.equal(out.length, n);
  }
  const total = sizes.reduce((a, b) => a + b, 0);
  await sleep(150); // packet reports may be 20 ms late
  const st = await adm('-L', '-n', '-t', vip, '--stats', '--exact');
  const m = new RegExp(`TCP  ${vip.replace(/\./g, '\\.')} +(\\d+) +(\\d+) +(\\d+) +(\\d+) +(\\d+)`).exec(st)!;
  const [conns, inPkts, outPkts, inBytes, outBytes] = m.slice(1).map(Number) as [number, number, number, number, number];
  assert.equal(conns, sizes.length, st);
  assert.equal(inBytes - 40 * inPkts, total, `payload in: ${st}`);
  assert.equal(outBytes - 40 * outPkts, total, `payload out: ${st}`);
  assert.ok(inPkts >= sizes.length * 4 + Math.ceil(total / 1460), `InPkts: SYN, ACK, FIN, last ACK per connection plus data per MSS: ${st}`);
  await adm('-D', '-t', vip);
  await closeServer(echo);
});

test('UDP: an echo server answers through the VIP; the flow shows in -L -c', async () => {
  const echo = createSocket('udp4');
  echo.on('message', (m, r) => echo.send(m, r.port, r.address));
  await new Promise<void>((r) => echo.bind(0, '127.0.0.1', () => r()));
  const vport = await freePortBoth();
  await adm('-A', '-u', `127.0.0.1:${vport}`, '-s', 'rr');
  await adm('-a', '-u', `127.0.0.1:${vport}`, '-r', `127.0.0.1:${echo.address().port}`, '-m');
  await sleep(200);
  assert.equal((await udpExchange(vport, Buffer.from('hello udp'))).toString(), 'hello udp');
  assert.match(await adm('-L', '-n', '-c'), new RegExp(`UDP +\\d\\d:\\d\\d +UDP +127\\.0\\.0\\.1:\\d+ +127\\.0\\.0\\.1:${vport}`));
  await adm('-D', '-u', `127.0.0.1:${vport}`);
  echo.close();
});

test('the proxy forwarder refuses what needs packet mode, naming it; the rules are unchanged', async () => {
  const vip = `127.0.0.1:${await freePort()}`;
  await adm('-A', '-t', vip);
  const cases: [string[], RegExp][] = [
    [['-a', '-t', vip, '-r', '127.0.0.1:1'], /direct routing \(-g, the default forwarding method\): packet mode is needed/],
    [['-a', '-t', vip, '-r', '127.0.0.1:1', '-i'], /tunnel forwarding \(-i\): packet mode is needed/],
    [['-A', '-f', '12'], /firewall-mark services .* packet mode is needed/],
  ];
  for (const [argv, re] of cases) {
    const r = await tsvsadm(d.socket, argv);
    assert.equal(r.code, 255, argv.join(' '));
    assert.match(r.stderr, /^Invalid operation\. {2}Possibly wrong module version, address not unicast, \.\.\.\n/);
    assert.match(r.stderr, re);
  }
  assert.doesNotMatch(await adm('-L', '-n'), /FWM|127\.0\.0\.1:1 /);
  await adm('-D', '-t', vip);
});

test('a VIP port already taken: the service is kept, tsvsadm warns that it cannot listen', async () => {
  const busy = rs[0]!.port;
  const r = await tsvsadm(d.socket, ['-A', '-t', `127.0.0.1:${busy}`]);
  assert.equal(r.code, 0);
  assert.match(r.stderr, new RegExp(`tsvs: warning: cannot listen on TCP 127\\.0\\.0\\.1:${busy}: EADDRINUSE`));
  await adm('-D', '-t', `127.0.0.1:${busy}`);
});

test('status names the TCP relay kind the workers use (epoll by default; --proxy-relay: ./options.test.ts)', async () => {
  const vip = `127.0.0.1:${await freePort()}`;
  await adm('-A', '-t', vip, '-s', 'rr');
  await adm('-a', '-t', vip, '-r', `127.0.0.1:${rs[0]!.port}`, '-m');
  const st = (await callDaemon(d.socket, { v: 1, id: 's', op: 'status' })) as unknown as { listeners: { protocol: string; port: number; relay?: string }[] };
  const l = st.listeners.find((x) => x.protocol === 'tcp' && x.port === Number(vip.split(':')[1]));
  assert.equal(l?.relay, 'epoll', JSON.stringify(l));
  assert.equal(await tcpExchange(Number(vip.split(':')[1]), Buffer.from('GET / HTTP/1.0\r\n\r\n')).then((b) => b.toString().includes('rs1')), true);
  await adm('-D', '-t', vip);
});
