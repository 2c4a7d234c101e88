/**
 * Every TCP relay kind of the proxy forwarder (epoll: bare descriptors in our own epoll loop;
 * net: net.Socket), both the same flow machine, through the same table of behaviours on real
 * loopback sockets, with a stand-in engine that records every synthesized packet.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ProxyForwarder, type RelayKind } from '../../src/forwarders/proxy/forwarder.ts';
import { TCP_FLAG, type Flow, type FlowPort, type Target } from '../../src/forwarders/proxy/flow.ts';
import { closeServer, freePort, sleep } from '../daemon/helpers.ts';

const { SYN, ACK, FIN, PSH, RST } = TCP_FLAG;

interface Pkt { dir: 'in' | 'out'; flags: number; bytes: number; pkts: number; flow: Flow }

class RecordingPort implements FlowPort {
  targets: Target[] = [];
  i = 0;
  log: Pkt[] = [];
  closedCount = 0;
  open(f: Flow, bytes: number): Target | null {
    this.log.push({ dir: 'in', flags: SYN, bytes, pkts: 1, flow: f });
    if (this.targets.length === 0) return null;
    return this.targets[this.i++ % this.targets.length]!;
  }
  packet(f: Flow, dir: 'in' | 'out', flags: number, bytes: number, pkts: number): boolean {
    this.log.push({ dir, flags, bytes, pkts, flow: f });
    return true;
  }
  closed(): void {
    this.closedCount++;
  }
  /** Payload bytes of the data packets one way (bytes minus 40 header bytes per IPv4 packet). */
  payload(dir: 'in' | 'out', hdr = 40): number {
    return this.log.filter((p) => p.dir === dir && p.flags === (ACK | PSH)).reduce((n, p) => n + p.bytes - hdr * p.pkts, 0);
  }
  /** The flag sequence of one flow, as 'in:SYN' style strings. */
  flags(cport: number): string[] {
    const name = (f: number): string => [[SYN, 'SYN'], [FIN, 'FIN'], [RST, 'RST'], [PSH, 'PSH'], [ACK, 'ACK']].filter(([b]) => f & (b as number)).map(([, n]) => n).join('|');
    return this.log.filter((p) => p.flow.cport === cport).map((p) => `${p.dir}:${name(p.flags)}`);
  }
}

const silent = { info() {}, warn() {}, debug() {} };
const open: { fwd: ProxyForwarder; servers: Server[] }[] = [];
after(async () => {
  for (const o of open) {
    await o.fwd.close();
    for (const s of o.servers) await closeServer(s).catch(() => {});
  }
});

async function listen(handler: (s: Socket) => void, opts: { allowHalfOpen?: boolean } = {}, host = '127.0.0.1'): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: opts.allowHalfOpen ?? false }, (s) => {
    s.on('error', () => {}); // resets from the relay are part of several tests
    handler(s);
  });
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  return { server, port: (server.address() as { port: number }).port };
}

/** A forwarder of the given kind with one service in front of a real server built by `handler`. */
async function rig(kind: RelayKind, handler: ((s: Socket) => void) | null, opts: { allowHalfOpen?: boolean; tcpTimeout?: number; host?: string } = {}) {
  const host = opts.host ?? '127.0.0.1';
  const port = new RecordingPort();
  const servers: Server[] = [];
  if (handler) {
    const rs = await listen(handler, opts, host);
    servers.push(rs.server);
    port.targets = [{ addr: host, port: rs.port }];
  }
  const fwd = new ProxyForwarder({ open: (f, b) => port.open(f, b), packet: (f, d, fl, b, n) => port.packet(f, d, fl, b, n), closed: () => port.closed() }, {
    proxyProtocol: null, connectTimeoutMs: 2000, relay: kind, log: silent,
    timeouts: () => ({ tcp: opts.tcpTimeout ?? 900, tcpfin: 120, udp: 30 }),
  });
  assert.equal(fwd.relayKind, kind, `relay kind ${kind} available`);
  const vport = await freePort();
  assert.deepEqual(await fwd.sync([{ af: host.includes(':') ? 6 : 4, fwmark: 0, protocol: 'tcp', addr: host, port: vport }]), []);
  const o = { fwd, servers };
  open.push(o);
  const done = async (): Promise<void> => {
    open.splice(open.indexOf(o), 1);
    await fwd.close();
    for (const s of servers) await closeServer(s).catch(() => {});
  };
  return { port, fwd, vport, host, done };
}

/** Connects, sends `data` (then ends unless keepOpen), collects everything until the stream ends. */
function exchange(vport: number, data: Buffer, host = '127.0.0.1'): Promise<{ got: Buffer; cport: number; err?: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let cport = 0;
    const s = connect({ port: vport, host, allowHalfOpen: true }, () => {
      cport = s.localPort!;
      s.end(data);
    });
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => { s.end(); });
    s.on('close', () => resolve({ got: Buffer.concat(chunks), cport }));
    s.on('error', (e: NodeJS.ErrnoException) => resolve({ got: Buffer.concat(chunks), cport, err: e.code }));
  });
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const echo = (s: Socket): void => { s.pipe(s); };

const KINDS: RelayKind[] = ['epoll', 'net'];

for (const kind of KINDS) {
  test(`[${kind}] 200 concurrent connections each get their own data back, and every relay is gone afterwards`, async () => {
    const r = await rig(kind, echo);
    const N = 200;
    const msgs = Array.from({ length: N }, (_, i) => Buffer.from(`conn ${i} `.repeat(50 + (i % 7))));
    const outs = await Promise.all(msgs.map((m) => exchange(r.vport, m)));
    outs.forEach((o, i) => assert.ok(o.got.equals(msgs[i]!), `connection ${i}: ${o.err ?? ''} ${o.got.length} bytes`));
    await sleep(50);
    assert.equal(r.fwd.activeRelays, 0);
    assert.equal(r.port.closedCount, N);
    const total = msgs.reduce((n, m) => n + m.length, 0);
    assert.equal(r.port.payload('in'), total, 'exact payload in');
    assert.equal(r.port.payload('out'), total, 'exact payload out');
    await r.done();
  });

  test(`[${kind}] 4 MiB both ways at once (echo): intact, exact byte counts, packets per MSS`, async () => {
    const r = await rig(kind, echo);
    const body = randomBytes(4 * 1024 * 1024);
    const o = await exchange(r.vport, body);
    assert.equal(o.got.length, body.length, o.err);
    assert.equal(sha(o.got), sha(body));
    assert.equal(r.port.payload('in'), body.length);
    assert.equal(r.port.payload('out'), body.length);
    const pktsIn = r.port.log.filter((p) => p.dir === 'in' && p.flags === (ACK | PSH)).reduce((n, p) => n + p.pkts, 0);
    assert.ok(pktsIn >= Math.ceil(body.length / 1460), `${pktsIn} packets in`);
    await r.done();
  });

  test(`[${kind}] a slow reader: the relay stops reading the real server (backpressure) and every byte still arrives`, async () => {
    const big = randomBytes(48 * 1024 * 1024);
    const r = await rig(kind, (s) => s.end(big));
    let taken = -1;
    const got = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const s = connect(r.vport, '127.0.0.1');
      s.pause();
      setTimeout(() => {
        // Kernel buffers hold a few MiB; without backpressure the relay would read on.
        taken = r.port.payload('out');
        s.resume();
      }, 300);
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('end', () => resolve(Buffer.concat(chunks)));
      s.on('error', reject);
    });
    assert.ok(taken < 8 * 1024 * 1024, `relay read only ${taken} bytes from the real server meanwhile`);
    assert.equal(sha(got), sha(big));
    await r.done();
  });

  test(`[${kind}] the real server closes first: its data and FIN reach the client, then the client's FIN closes both`, async () => {
    const r = await rig(kind, (s) => s.end('bye from server'), { allowHalfOpen: true });
    const o = await new Promise<{ got: string; cport: number }>((resolve) => {
      let got = '';
      const s = connect({ port: r.vport, host: '127.0.0.1', allowHalfOpen: true });
      s.on('data', (d: Buffer) => (got += d.toString()));
      s.on('end', () => setTimeout(() => s.end(), 20)); // half-open for a moment, then our FIN
      s.on('close', () => resolve({ got, cport: s.localPort ?? 0 }));
    });
    assert.equal(o.got, 'bye from server');
    await sleep(30);
    const f = r.port.log.filter((p) => p.flags & FIN).map((p) => p.dir);
    assert.deepEqual(f, ['out', 'in'], 'FIN out (server) first, then FIN in (client)');
    assert.equal(r.port.log.at(-1)!.dir, 'in');
    assert.equal(r.port.log.at(-1)!.flags, ACK, 'the last ACK closes the flow');
    assert.equal(r.fwd.activeRelays, 0);
    await r.done();
  });

  test(`[${kind}] client half-close: the real server sees EOF, answers afterwards, and the answer arrives`, async () => {
    const r = await rig(kind, (s) => {
      const parts: Buffer[] = [];
      s.on('data', (d: Buffer) => parts.push(d));
      s.on('end', () => setTimeout(() => s.end(Buffer.concat([Buffer.from('len='), Buffer.from(String(Buffer.concat(parts).length))])), 30));
    }, { allowHalfOpen: true });
    const o = await exchange(r.vport, randomBytes(100000));
    assert.equal(o.got.toString(), 'len=100000');
    await sleep(30);
    const seq = r.port.flags(o.cport);
    assert.deepEqual(seq.slice(0, 3), ['in:SYN', 'out:SYN|ACK', 'in:ACK']);
    const fins = seq.filter((x) => x.includes('FIN'));
    assert.deepEqual(fins, ['in:FIN|ACK', 'out:FIN|ACK'], 'FIN in (client) first, then FIN out');
    assert.equal(seq.at(-1), 'in:ACK');
    await r.done();
  });

  test(`[${kind}] a refused connect resets the client at once and reports RST out`, async () => {
    const r = await rig(kind, null);
    r.port.targets = [{ addr: '127.0.0.1', port: await freePort() }];
    const t0 = Date.now();
    const o = await exchange(r.vport, Buffer.from('hello'));
    assert.ok(o.err === 'ECONNRESET' || o.got.length === 0, String(o.err));
    assert.ok(Date.now() - t0 < 1000, 'fails fast');
    await sleep(20);
    assert.ok(r.port.log.some((p) => p.dir === 'out' && p.flags & RST), 'RST out');
    assert.equal(r.fwd.activeRelays, 0);
    await r.done();
  });

  test(`[${kind}] the real server resets mid-stream: the client is reset too`, async () => {
    const r = await rig(kind, (s) => {
      s.once('data', () => s.write('partial', () => setTimeout(() => s.resetAndDestroy(), 20)));
    });
    const o = await new Promise<{ got: string; err?: string }>((resolve) => {
      let got = '';
      const s = connect(r.vport, '127.0.0.1', () => s.write('go'));
      s.on('data', (d: Buffer) => (got += d.toString()));
      s.on('error', (e: NodeJS.ErrnoException) => resolve({ got, err: e.code }));
      s.on('close', () => resolve({ got }));
    });
    assert.equal(o.got, 'partial');
    assert.equal(o.err, 'ECONNRESET');
    await sleep(20);
    assert.ok(r.port.log.some((p) => p.dir === 'out' && p.flags & RST), 'RST out');
    await r.done();
  });

  test(`[${kind}] an idle connection is reset after the engine's tcp timeout`, async () => {
    const r = await rig(kind, echo, { tcpTimeout: 1 });
    const t0 = Date.now();
    const o = await new Promise<{ err?: string; ms: number }>((resolve) => {
      const s = connect(r.vport, '127.0.0.1', () => s.write('x'));
      s.on('error', (e: NodeJS.ErrnoException) => resolve({ err: e.code, ms: Date.now() - t0 }));
      s.on('close', () => resolve({ ms: Date.now() - t0 }));
      s.resume();
    });
    assert.ok(o.ms >= 900 && o.ms < 3000, `reset after ${o.ms} ms`);
    assert.ok(r.port.log.some((p) => p.dir === 'in' && p.flags & RST), 'RST in reported');
    await r.done();
  });

  test(`[${kind}] IPv6: a service on ::1 relays to an IPv6 real server with IPv6 header sizes`, async (t) => {
    let r;
    try {
      r = await rig(kind, echo, { host: '::1' });
    } catch (e) {
      t.skip(`no IPv6 loopback: ${(e as Error).message}`);
      return;
    }
    const o = await exchange(r.vport, Buffer.from('over v6'), '::1');
    assert.equal(o.got.toString(), 'over v6');
    assert.equal(r.port.log[0]!.flow.caddr, '::1');
    assert.equal(r.port.log[0]!.flow.af, 6);
    assert.equal(r.port.payload('in', 60), 'over v6'.length, 'IPv6 + TCP headers: 60 bytes a packet');
    await r.done();
  });
}

test('[epoll] out of descriptors (EMFILE): the listener pauses instead of spinning, and serves again once descriptors are free', async () => {
  const rs = await listen(echo);
  const vport = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', new URL('./fixtures/fd-starved-forwarder.ts', import.meta.url).pathname, String(vport), String(rs.port), '4'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); });
      child.once('exit', (c) => reject(new Error(`child exited ${c}`)));
    });
    const cpu = (): number => {
      const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return Number(f[11]) + Number(f[12]); // utime + stime, clock ticks
    };
    // Two relays take the four free descriptors; the next clients wait in the accept queue.
    const socks: Socket[] = [];
    const replies: Promise<string>[] = [];
    for (let i = 0; i < 5; i++) {
      const s = connect(vport, '127.0.0.1');
      s.on('error', () => {});
      socks.push(s);
      replies.push(new Promise((resolve) => {
        let got = '';
        s.on('data', (d: Buffer) => { got += d.toString(); if (got === `hello ${i}`) resolve(got); });
        s.on('close', () => resolve(got));
      }));
      s.write(`hello ${i}`);
    }
    assert.equal(await replies[0], 'hello 0');
    assert.equal(await replies[1], 'hello 1');
    const t0 = cpu();
    await sleep(1000);
    const used = cpu() - t0;
    assert.ok(used < 30, `child used ${used} ticks of CPU in 1 s while out of descriptors`);
    // Free the descriptors: the waiting clients are served.
    socks[0]!.destroy();
    socks[1]!.destroy();
    assert.equal(await replies[2], 'hello 2');
    socks[2]!.destroy();
    assert.equal(await replies[3], 'hello 3');
    for (const s of socks) s.destroy();
  } finally {
    child.kill('SIGKILL');
    await closeServer(rs.server);
  }
});

test('[epoll] a request read before the real server finished its handshake waits for it, then goes on, accounted after SYN+ACK and ACK', async () => {
  // A real server whose accept queue is full (backlog 0, one connection queued): the relay's SYN
  // is dropped and retried a second later, so connect() is still in progress when the relay reads
  // the client's request (speculate()). Once the queue drains, the handshake completes.
  const { listenSocket, sockaddr } = await import('../../src/os/epoll.ts');
  const { sys, sysTcp } = await import('../../src/os/libc.ts');
  const rsPort = await freePort();
  const lfd = listenSocket({ af: 4, fwmark: 0, protocol: 'tcp', addr: '127.0.0.1', port: rsPort }, { backlog: 0 });
  const filler = connect(rsPort, '127.0.0.1');
  filler.on('error', () => {});
  await new Promise((r) => filler.once('connect', r));
  const port = new RecordingPort();
  port.targets = [{ addr: '127.0.0.1', port: rsPort }];
  const fwd = new ProxyForwarder({ open: (f, b) => port.open(f, b), packet: (f, d, fl, b, n) => port.packet(f, d, fl, b, n), closed: () => port.closed() }, {
    proxyProtocol: null, connectTimeoutMs: 5000, relay: 'epoll', log: silent, timeouts: () => ({ tcp: 900, tcpfin: 120, udp: 30 }),
  });
  const vport = await freePort();
  assert.deepEqual(await fwd.sync([{ af: 4, fwmark: 0, protocol: 'tcp', addr: '127.0.0.1', port: vport }]), []);
  const fds: number[] = [lfd];
  try {
    // The client connects and writes before this thread's loop runs again (blocking calls), so
    // the request is there when the relay accepts.
    const cfd = sys.socket(2, 1, 0) as number;
    fds.push(cfd);
    const vsa = sockaddr('127.0.0.1', vport)!;
    assert.equal(sysTcp.connect(cfd, vsa, vsa.length), 0);
    assert.equal(Number(sys.send(cfd, Buffer.from('early request'), 13, 0)), 13);
    await sleep(300);
    assert.deepEqual(port.log.map((p) => p.flags), [SYN], 'only the SYN while the real server has not answered');
    // Drain the accept queue (the filler), so the relay's retried SYN completes; then accept the relayed one.
    const sa = Buffer.alloc(128), len = Buffer.alloc(4);
    len.writeUInt32LE(128);
    fds.push(sysTcp.accept4(lfd, sa, len, 0) as number);
    let rfd = -1;
    for (let i = 0; i < 60 && rfd < 0; i++) {
      await sleep(50);
      len.writeUInt32LE(128);
      rfd = sysTcp.accept4(lfd, sa, len, 0x800 /* SOCK_NONBLOCK */) as number;
    }
    assert.ok(rfd >= 0, 'the relay connected once the queue had room');
    fds.push(rfd);
    const buf = Buffer.alloc(64);
    let n = -1;
    for (let i = 0; i < 40 && n <= 0; i++) {
      await sleep(25);
      n = Number(sys.read(rfd, buf, 64));
    }
    assert.equal(buf.subarray(0, Math.max(n, 0)).toString(), 'early request');
    const seq = port.flags(port.log[0]!.flow.cport);
    assert.deepEqual(seq.slice(0, 4), ['in:SYN', 'out:SYN|ACK', 'in:ACK', 'in:PSH|ACK']);
    assert.equal(port.payload('in'), 'early request'.length);
  } finally {
    for (const fd of fds) sys.close(fd);
    filler.destroy();
    await fwd.close();
  }
});
