/**
 * A drain while health checkers run (keepalived mode, real TCP_CHECKs against real listeners):
 * the drain is the operator's intent and holds the server at weight 0 whatever the checker
 * decides, the checker's up/down is still recorded (tsvs_backend_up), a cancel would restore the
 * checker's latest weight, and the drain completes when the last connection ends — not `failed`.
 * A checker that removes a `--then delete` server (down, no inhibit_on_failure) ends it drained.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { DrainObserved } from '../../src/observe/snapshot.ts';
import { closeServer, freePort, nameServer, sleep, tmpDir, tsvsadm } from '../daemon/helpers.ts';
import { call, metrics, startHttpDaemon, until, value, type HttpDaemon } from './helpers.ts';

const ADMIN = 'admin-token-0123456789abcdef';
const A = { authorization: `Bearer ${ADMIN}` };

/**
 * A plain TCP real server that can stop listening (its open connections stay) and listen again.
 * `clients` counts connections that sent data: the TCP_CHECKs connect and close without any.
 */
class Real {
  server: Server | null = null;
  clients = 0;
  readonly sockets: Socket[] = [];
  constructor(readonly port: number) {}
  async up(): Promise<void> {
    const s = createServer((c) => { this.sockets.push(c); c.once('data', () => this.clients++); c.on('error', () => {}); });
    await new Promise<void>((r, j) => { s.once('error', j); s.listen(this.port, '127.0.0.1', () => r()); });
    this.server = s;
  }
  /** Stops listening at once; the connections it accepted stay open (close()'s callback would wait for them). */
  down(): void {
    this.server?.close();
    this.server = null;
  }
  stop(): void {
    for (const c of this.sockets) c.destroy();
    this.down();
  }
}

let d: HttpDaemon;
let rs1: Real;
let rs3: Real;
let rs2: Awaited<ReturnType<typeof nameServer>>;
let vport1 = 0;
let vport2 = 0;
const clients: Socket[] = [];

before(async () => {
  rs1 = new Real(await freePort());
  rs3 = new Real(await freePort());
  await rs1.up();
  await rs3.up();
  rs2 = await nameServer('rs2');
  vport1 = await freePort();
  vport2 = await freePort();
  const dir = tmpDir();
  writeFileSync(join(dir, 'tokens'), `admin ${ADMIN}\n`);
  chmodSync(join(dir, 'tokens'), 0o600);
  const check = '    TCP_CHECK {\n      connect_timeout 1\n    }\n';
  const vs = (vport: number, port: number, inhibit: boolean) => `virtual_server 127.0.0.1 ${vport} {\n  delay_loop 0.3\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n`
    + `  real_server 127.0.0.1 ${port} {\n    weight 3\n${inhibit ? '    inhibit_on_failure\n' : ''}${check}  }\n`
    + `  real_server 127.0.0.1 ${rs2.port} {\n    weight 1\n${check}  }\n}\n`;
  writeFileSync(join(dir, 'k.conf'), vs(vport1, rs1.port, true) + vs(vport2, rs3.port, false));
  d = await startHttpDaemon(['--keepalived', join(dir, 'k.conf'), '--no-state', '--workers', '0', '--http-token', join(dir, 'tokens')], dir);
});
after(async () => {
  for (const c of clients) c.destroy();
  await d?.stop();
  rs1?.stop();
  rs3?.stop();
  if (rs2) await closeServer(rs2.server);
});

async function weight(vport: number, port: number): Promise<number | null> {
  const out = (await tsvsadm(d.socket, ['-L', '-n', '-t', `127.0.0.1:${vport}`])).stdout;
  const line = out.split('\n').find((l) => l.includes(`127.0.0.1:${port} `));
  return line ? Number(line.trim().split(/\s+/)[3]) : null;
}

/** A client through the VIP that sent a byte; resolves once connected. */
async function viaVip(vport: number): Promise<Socket> {
  const s = connect(vport, '127.0.0.1');
  s.on('error', () => {});
  await new Promise<void>((r, j) => { s.once('connect', () => r()); s.once('error', j); });
  s.write('x');
  return s;
}

/** An idle connection through the VIP that reached `rs` (rr: at most a few tries). */
async function idleTo(vport: number, rs: Real): Promise<Socket> {
  for (let i = 0; i < 6; i++) {
    const before = rs.clients;
    const s = await viaVip(vport);
    await sleep(200);
    if (rs.clients > before) {
      clients.push(s);
      return s;
    }
    s.destroy();
  }
  throw new Error(`no connection reached 127.0.0.1:${rs.port}`);
}

const backendUp = async (port: number): Promise<number> => value((await metrics(d.http)).samples, 'tsvs_backend_up', { remote_port: String(port) });

async function drainOf(id: string): Promise<DrainObserved> {
  const r = await call(d.http, 'GET', '/api/v1/drains', undefined, A);
  const x = (JSON.parse(r.text) as { drains: DrainObserved[] }).drains.find((y) => y.id === id);
  assert.ok(x, `drain ${id} listed`);
  return x;
}

test('a drain holds weight 0 over the health checker (down and up again), records its verdicts, and completes when the last connection ends', async () => {
  await until('both real servers up at their weights', async () => (await weight(vport1, rs1.port)) === 3 && (await weight(vport1, rs2.port)) === 1);
  const idle = await idleTo(vport1, rs1);
  const id = `tcp-127.0.0.1-${vport1}/127.0.0.1-${rs1.port}`;
  const r = await call(d.http, 'POST', `/api/v1/services/tcp-127.0.0.1-${vport1}/reals/127.0.0.1-${rs1.port}/drain`, { timeout: 60, then: 'keep' }, A);
  assert.equal(r.status, 202, r.text);
  assert.equal(await weight(vport1, rs1.port), 0);

  // The checker sees it go down (inhibit_on_failure: it would set weight 0) and come back (it would set 3).
  rs1.down();
  await until('the checker records it down', async () => (await backendUp(rs1.port)) === 0);
  await rs1.up();
  await until('the checker records it up again', async () => (await backendUp(rs1.port)) === 1);
  await sleep(700); // a few more check rounds: the checker's weight would be in force by now
  assert.equal(await weight(vport1, rs1.port), 0, 'held at 0: the drain wins over the checker');
  let x = await drainOf(id);
  assert.equal(x.state, 'draining');
  assert.equal(x.weightBefore, 3, 'a cancel would restore the checker\'s latest weight');
  assert.match(x.note ?? '', /health checker set weight 3/);

  // New connections go to the other server only.
  const before = rs1.clients;
  const fresh = await Promise.all(Array.from({ length: 4 }, () => viaVip(vport1)));
  await sleep(300);
  for (const s of fresh) s.destroy();
  assert.equal(rs1.clients, before, 'no new connection reached the draining server');

  // The last connection ends: drained, kept at weight 0 (not failed).
  idle.destroy();
  x = await until('drain ends', async () => { const y = await drainOf(id); return y.state !== 'draining' ? y : null; });
  assert.equal(x.state, 'drained', JSON.stringify(x));
  await sleep(700);
  assert.equal(await weight(vport1, rs1.port), 0, 'kept at weight 0');
});

test('a health checker removing a --then delete server during its drain ends the drain as drained', async () => {
  await until('up at weight 3', async () => (await weight(vport2, rs3.port)) === 3);
  await idleTo(vport2, rs3);
  const id = `tcp-127.0.0.1-${vport2}/127.0.0.1-${rs3.port}`;
  const r = await call(d.http, 'POST', `/api/v1/services/tcp-127.0.0.1-${vport2}/reals/127.0.0.1-${rs3.port}/drain`, { timeout: 60, then: 'delete' }, A);
  assert.equal(r.status, 202, r.text);
  rs3.down(); // no inhibit_on_failure: the checker removes it
  const x = await until('drain ends', async () => { const y = await drainOf(id); return y.state !== 'draining' ? y : null; });
  assert.equal(x.state, 'drained', JSON.stringify(x));
  assert.match(x.note ?? '', /left the table/);
  assert.equal(await weight(vport2, rs3.port), null);
});
