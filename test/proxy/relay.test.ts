/**
 * The proxy forwarder's socket relays on real loopback sockets, driven by a stand-in for the
 * engine (round robin over fixed targets) so the relay layer is tested on its own. The engine
 * wiring is covered by test/proxy/forwarding.test.ts through a real daemon.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server } from 'node:net';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { ProxyForwarder } from '../../src/forwarders/proxy/forwarder.ts';
import { TCP_FLAG, type Flow, type FlowPort, type Target } from '../../src/forwarders/proxy/flow.ts';
import { parseProxyHeader } from '../../src/forwarders/proxy/proxy-protocol.ts';
import { closeServer, freePort, freePortBoth, httpGet, httpPost, nameServer, tcpExchange, udpExchange, sleep } from '../daemon/helpers.ts';

interface Pkt { dir: string; flags: number; bytes: number; pkts: number; flow: Flow }

class FakePort implements FlowPort {
  targets: Target[] = [];
  i = 0;
  log: Pkt[] = [];
  closedFlows = 0;
  refuseData = false;
  open(f: Flow, bytes: number): Target | null {
    this.log.push({ dir: 'in', flags: f.protocol === 'tcp' ? TCP_FLAG.SYN : 0, bytes, pkts: 1, flow: f });
    if (this.targets.length === 0) return null;
    return this.targets[this.i++ % this.targets.length]!;
  }
  packet(f: Flow, dir: 'in' | 'out', flags: number, bytes: number, pkts: number): boolean {
    this.log.push({ dir, flags, bytes, pkts, flow: f });
    return !(this.refuseData && flags & TCP_FLAG.PSH);
  }
  closed(): void {
    this.closedFlows++;
  }
}

const silent = { info() {}, warn() {}, debug() {} };
const servers: { server: Server | import('node:http').Server; port: number }[] = [];
let fake: FakePort;
let fwd: ProxyForwarder;

function svc(port: number, protocol: 'tcp' | 'udp' = 'tcp') {
  return { af: 4 as const, fwmark: 0, protocol, addr: '127.0.0.1', port };
}

before(async () => {
  for (const n of ['rs1', 'rs2', 'rs3']) servers.push(await nameServer(n));
});
after(async () => {
  await fwd?.close();
  for (const s of servers) await closeServer(s.server);
});

async function setup(opts: { proxyProtocol?: 'v1' | 'v2' } = {}): Promise<number> {
  await fwd?.close();
  fake = new FakePort();
  fake.targets = servers.map((s) => ({ addr: '127.0.0.1', port: s.port }));
  fwd = new ProxyForwarder(fake, { proxyProtocol: opts.proxyProtocol ?? null, connectTimeoutMs: 2000, timeouts: () => ({ tcp: 900, tcpfin: 120, udp: 2 }), log: silent });
  const vport = await freePort();
  const failed = await fwd.sync([svc(vport)]);
  assert.deepEqual(failed, []);
  return vport;
}

test('each new TCP connection goes to the target the engine chose (round robin here)', async () => {
  const vport = await setup();
  const got: string[] = [];
  for (let i = 0; i < 6; i++) got.push((await httpGet(vport)).body.toString().trim());
  assert.deepEqual(got, ['rs1', 'rs2', 'rs3', 'rs1', 'rs2', 'rs3']);
});

test('a connection reports SYN in, SYN+ACK out, ACK in, data both ways, then FINs and the last ACK', async () => {
  const vport = await setup();
  await httpGet(vport);
  await sleep(50);
  const flags = fake.log.map((p) => `${p.dir}:${p.flags}`);
  const { SYN, ACK, FIN, PSH } = TCP_FLAG;
  assert.deepEqual(flags.slice(0, 4), [`in:${SYN}`, `out:${SYN | ACK}`, `in:${ACK}`, `in:${ACK | PSH}`]);
  assert.ok(flags.includes(`out:${ACK | PSH}`), 'reply data counted');
  assert.ok(flags.includes(`out:${FIN | ACK}`) && flags.includes(`in:${FIN | ACK}`), 'both FINs');
  assert.equal(flags.at(-1), `in:${ACK}`, 'last ACK closes the connection');
  const dataIn = fake.log.filter((p) => p.dir === 'in' && p.flags & PSH);
  assert.ok(dataIn.every((p) => p.bytes > 40 * p.pkts), 'bytes include payload plus headers');
  assert.equal(fake.closedFlows, 1);
});

test('1 MiB bodies pass intact both ways, and packets are counted per MSS', async () => {
  const vport = await setup();
  const body = randomBytes(1024 * 1024);
  const r = await httpPost(vport, body);
  assert.equal(r.status, 200);
  assert.ok(r.body.equals(body), 'echoed body identical');
  const inPkts = fake.log.filter((p) => p.dir === 'in' && p.flags & TCP_FLAG.PSH).reduce((n, p) => n + p.pkts, 0);
  assert.ok(inPkts >= Math.ceil(body.length / 1460), `at least ${Math.ceil(body.length / 1460)} packets in, got ${inPkts}`);
  const big = await httpGet(vport, '/?size=1048576');
  assert.equal(big.body.length, 1048576);
});

test('half-close: the client ends its side and still receives the whole answer', async () => {
  // A real server that answers only after the client's FIN, then closes.
  const echo = createServer({ allowHalfOpen: true }, (s) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => s.end(Buffer.concat([Buffer.from('got:'), ...chunks])));
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  const vport = await setup();
  fake.targets = [{ addr: '127.0.0.1', port: (echo.address() as { port: number }).port }];
  const out = await tcpExchange(vport, Buffer.from('hello'));
  assert.equal(out.toString(), 'got:hello');
  await closeServer(echo);
});

test('a refusing real server: the client gets a reset quickly and the engine sees RST out', async () => {
  const vport = await setup();
  fake.targets = [{ addr: '127.0.0.1', port: await freePort() }];
  const t0 = Date.now();
  const err = await new Promise<string>((resolve) => {
    const s = connect(vport, '127.0.0.1');
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    s.on('close', () => resolve('closed'));
  });
  assert.ok(['ECONNRESET', 'closed'].includes(err), err);
  assert.ok(Date.now() - t0 < 1000, 'fails fast');
  await sleep(20);
  assert.ok(fake.log.some((p) => p.dir === 'out' && p.flags & TCP_FLAG.RST));
  fake.targets = servers.map((s) => ({ addr: '127.0.0.1', port: s.port }));
  assert.equal((await httpGet(vport)).status, 200, 'forwarder still serves');
});

test('no destination: the client connection is reset', async () => {
  const vport = await setup();
  fake.targets = [];
  const err = await new Promise<string>((resolve) => {
    const s = connect(vport, '127.0.0.1');
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    s.on('close', () => resolve('closed'));
  });
  assert.ok(['ECONNRESET', 'closed'].includes(err), err);
});

test('a client vanishing mid-transfer leaves the forwarder serving', async () => {
  const vport = await setup();
  await new Promise<void>((resolve) => {
    const s = connect(vport, '127.0.0.1', () => {
      s.write('GET /?size=8388608 HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    let n = 0;
    s.on('data', (d: Buffer) => {
      n += d.length;
      if (n > 100000) { s.resetAndDestroy(); resolve(); }
    });
    s.on('error', () => resolve());
  });
  await sleep(100);
  assert.ok(fake.log.some((p) => p.dir === 'in' && p.flags & TCP_FLAG.RST), 'engine told about the client reset');
  assert.equal((await httpGet(vport)).body.toString().trim().length, 3);
  await sleep(100);
  assert.equal(fwd.activeRelays, 0, 'no relay left behind');
});

test('an engine that refuses a flow mid-stream (destination removed) resets both sides', async () => {
  const vport = await setup();
  fake.refuseData = true;
  await assert.rejects(httpGet(vport));
  fake.refuseData = false;
});

test('PROXY protocol v1 and v2 headers tell the real server the client address', async () => {
  for (const v of ['v1', 'v2'] as const) {
    const seen: Buffer[] = [];
    const rs = createServer((s) => s.once('data', (d: Buffer) => { seen.push(d); s.end('ok'); }));
    await new Promise<void>((r) => rs.listen(0, '127.0.0.1', () => r()));
    const vport = await setup({ proxyProtocol: v });
    fake.targets = [{ addr: '127.0.0.1', port: (rs.address() as { port: number }).port }];
    const out = await tcpExchange(vport, Buffer.from('payload'));
    assert.equal(out.toString(), 'ok');
    const h = parseProxyHeader(seen[0]!);
    assert.ok(h, `${v} header parsed`);
    assert.equal(h!.version, v === 'v1' ? 1 : 2);
    assert.equal(h!.endpoints!.srcAddr, '127.0.0.1');
    assert.equal(h!.endpoints!.dstPort, vport);
    await closeServer(rs);
  }
});

test('UDP: datagrams are relayed to the chosen server and answers come back from the VIP', async () => {
  const echo = createSocket('udp4');
  echo.on('message', (m, r) => echo.send(Buffer.concat([Buffer.from('echo:'), m]), r.port, r.address));
  await new Promise<void>((r) => echo.bind(0, '127.0.0.1', () => r()));
  await fwd?.close();
  fake = new FakePort();
  fake.targets = [{ addr: '127.0.0.1', port: echo.address().port }];
  fwd = new ProxyForwarder(fake, { proxyProtocol: null, connectTimeoutMs: 2000, timeouts: () => ({ tcp: 900, tcpfin: 120, udp: 1 }), log: silent });
  const vport = await freePortBoth();
  assert.deepEqual(await fwd.sync([svc(vport, 'udp')]), []);
  const r = await udpExchange(vport, Buffer.from('ping'));
  assert.equal(r.toString(), 'echo:ping');
  assert.ok(fake.log.some((p) => p.dir === 'out' && p.bytes === 'echo:ping'.length + 28), 'reply counted with IPv4+UDP headers');
  echo.close();
});

test('listeners follow the services: removed services stop listening, failures are reported', async () => {
  const vport = await setup();
  assert.equal((await httpGet(vport)).status, 200);
  await fwd.sync([]);
  await assert.rejects(httpGet(vport, '/', '127.0.0.1', 500));
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  const failed = await fwd.sync([svc((busy.address() as { port: number }).port)]);
  assert.equal(failed.length, 1);
  assert.equal(failed[0]!.error, 'EADDRINUSE');
  await closeServer(busy);
});
