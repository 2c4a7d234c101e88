/**
 * Control-socket abuse against a real daemon (proxy forwarder relaying in its main thread, so a
 * stalled event loop stalls forwarding): a 100 MB line, a client pipelining thousands of
 * requests and never reading, 1,000 simultaneous connects, partial big lines from many clients,
 * junk lines. Each case runs on a fresh daemon and prints its figures: the worst forwarding
 * round trip (an echo through the proxy every 10 ms), the daemon's worst event-loop pause
 * (monitorEventLoopDelay, status `eventLoop.maxMs`), the slowest ping of another client, and
 * the daemon's RSS before, at its peak and after.
 */
import { test, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, tmpDir, closeServer, freePort, sleep, type DaemonProc } from '../daemon/helpers.ts';
import { Probe, RawClient, daemonStatus, echoServer, figures, rssMb } from './helpers.ts';
import { MAX_REQUEST_BYTES, callDaemon } from '../../src/daemon/protocol.ts';
import { CONTROL_LIMITS } from '../../src/daemon/control-server.ts';

/** What a case may cost: forwarding and the event loop stall at most this long (a loaded 2-vCPU CI box). */
const MAX_STALL_MS = 500;
/** RSS the daemon may keep after a case (its buffers are bounded; V8 returns the rest lazily). */
const MAX_RSS_GROWTH_MB = 64;

const echo = await echoServer();
after(() => closeServer(echo.server));

interface Lab { d: DaemonProc; probe: Probe; rss0: number; peak: number; sampler: NodeJS.Timeout }

/** A daemon with 200 services (so -L -n answers are ~20 KB) and one echo service through it. */
async function startLab(t: TestContext): Promise<Lab> {
  const dir = tmpDir('tsvs-rel-ctl-');
  const vport = await freePort();
  const rules = [`-A -t 127.0.0.1:${vport} -s rr`, `-a -t 127.0.0.1:${vport} -r 127.0.0.1:${echo.port} -m -w 1`];
  // Loopback addresses the proxy can listen on (127/8), on the probe's free port.
  for (let i = 0; i < 200; i++) rules.push(`-A -t 127.77.${i >> 8}.${(i & 255) + 1}:${vport} -s wlc`, `-a -t 127.77.${i >> 8}.${(i & 255) + 1}:${vport} -r 127.0.0.1:${echo.port} -m -w 2`);
  writeFileSync(join(dir, 'rules'), rules.join('\n') + '\n');
  let lab: Lab;
  const d = await startDaemon(['--forwarder', 'proxy', '--workers', '0', '--no-state', '--rules', join(dir, 'rules')], dir);
  const probe = new Probe(vport, d.socket);
  t.after(async () => {
    clearInterval(lab.sampler);
    probe.stop();
    await d.stop('SIGKILL');
  });
  await sleep(300);
  probe.reset();
  const rss0 = rssMb(d.proc.pid!);
  lab = { d, probe, rss0, peak: rss0, sampler: setInterval(() => { lab.peak = Math.max(lab.peak, rssMb(d.proc.pid!)); }, 50) };
  return lab;
}

interface Outcome { loopMaxMs: number; forwardWorstMs: number; pingWorstMs: number; pingErrors: number; rssAfter: number }

/** Reads the probe and the daemon, prints the case's figures, stops the daemon. */
async function finish(name: string, lab: Lab, extra: Record<string, number | string> = {}): Promise<Outcome> {
  const p = await lab.probe.report();
  const st = await daemonStatus(lab.d.socket);
  const loop = st['eventLoop'] as { maxMs: number };
  // The daemon's buffers are garbage once a case ends; V8 collects them when it next runs a GC.
  let rssAfter = rssMb(lab.d.proc.pid!);
  const settle = Date.now() + 10_000;
  while (rssAfter - lab.rss0 >= MAX_RSS_GROWTH_MB && Date.now() < settle) {
    await sleep(500);
    rssAfter = rssMb(lab.d.proc.pid!);
  }
  clearInterval(lab.sampler);
  lab.probe.stop();
  figures(`control ${name}`, {
    forwardWorstMs: p.forwardWorstMs, echoRounds: p.rounds, loopMaxMs: loop.maxMs,
    pingWorstMs: p.pingWorstMs, pings: p.pings, pingBusy: p.pingBusy, pingErrors: p.pingErrors,
    rssBeforeMb: lab.rss0, rssPeakMb: lab.peak, rssAfterMb: rssAfter, ...extra,
  });
  assert.equal(await lab.d.stop(), 0, 'the daemon stops cleanly after the abuse');
  return { loopMaxMs: loop.maxMs, forwardWorstMs: p.forwardWorstMs, pingWorstMs: p.pingWorstMs, pingErrors: p.pingErrors, rssAfter };
}

function assertBounded(lab: Lab, r: Outcome, rssToo = true): void {
  assert.ok(r.forwardWorstMs < MAX_STALL_MS, `forwarding stalled ${r.forwardWorstMs.toFixed(0)} ms`);
  assert.ok(r.loopMaxMs < MAX_STALL_MS, `event loop paused ${r.loopMaxMs} ms`);
  assert.ok(r.pingWorstMs < MAX_STALL_MS * 2, `another client's ping took ${r.pingWorstMs.toFixed(0)} ms`);
  assert.equal(r.pingErrors, 0, 'every ping of another client was answered');
  if (rssToo) assert.ok(r.rssAfter - lab.rss0 < MAX_RSS_GROWTH_MB, `RSS grew ${lab.rss0} -> ${r.rssAfter} MB`);
}

test('baseline: no abuse (the figures the cases compare with)', async (t) => {
  const lab = await startLab(t);
  await sleep(1500);
  assertBounded(lab, await finish('baseline', lab));
});

test('a 100 MB request line is refused with ETOOBIG as soon as it passes the limit, in linear time, without stalling forwarding', async (t) => {
  const lab = await startLab(t);
  const { sentMb, ms, answer } = await (async () => {
    const c = new RawClient(lab.d.socket);
    await c.connected();
    const chunk = Buffer.alloc(1024 * 1024, 'a');
    let sent = 0;
    const t0 = performance.now();
    while (sent < 100 * 1024 * 1024 && c.lines.length === 0 && !c.closed && c.error === null) {
      await new Promise<void>((resolve) => c.sock.write(chunk, () => resolve()));
      sent += chunk.length;
    }
    await c.until(() => c.lines.length > 0 || c.closed, 5000);
    const ms = performance.now() - t0;
    c.sock.destroy();
    return { sentMb: sent / 1048576, ms, answer: c.lines[0] ?? '' };
  })();
  assert.match(answer, /"code":"ETOOBIG"/);
  // The daemon stops reading at the limit: what the client got into the socket is the limit plus buffers.
  assert.ok(sentMb < MAX_REQUEST_BYTES / 1048576 + 8, `${sentMb} MB were taken before the refusal`);
  assert.ok(ms < 3000, `refused after ${ms.toFixed(0)} ms`);
  const r = await finish('100MB line', lab, { sentMb, refusedAfterMs: ms });
  assertBounded(lab, r);
});

test('a client pipelining 20,000 requests without reading its answers is not read further (RSS bounded), others are served', async (t) => {
  const lab = await startLab(t);
  const req = (i: number): string => JSON.stringify({ v: 1, id: i, op: 'ipvsadm', argv: ['-L', '-n'] }) + '\n';
  const { written } = await (async () => {
    const c = new RawClient(lab.d.socket, false);
    await c.connected();
    let written = 0;
    const end = Date.now() + 4000;
    // Write until the kernel stops taking (the daemon stopped reading) or 20,000 requests or 4 s.
    while (written < 20_000 && Date.now() < end) {
      const batch = Array.from({ length: 100 }, (_, k) => req(written + k)).join('');
      const ok = await Promise.race([
        new Promise<boolean>((resolve) => c.sock.write(batch, () => resolve(true))),
        sleep(1000).then(() => false),
      ]);
      if (!ok) break;
      written += 100;
    }
    await sleep(500);
    c.sock.destroy();
    return { written };
  })();
  const st = await daemonStatus(lab.d.socket);
  const ctl = st['control'] as { backpressured: number };
  assert.ok(ctl.backpressured > 0, 'the daemon stopped reading the client');
  assert.ok(written < 20_000, `the kernel took all ${written} requests: the daemon never stopped reading`);
  const r = await finish('pipelining non-reader', lab, { requestsTaken: written, answersUnread: 'all' });
  assert.ok(lab.peak - lab.rss0 < MAX_RSS_GROWTH_MB, `RSS peaked ${lab.rss0} -> ${lab.peak} MB`);
  assertBounded(lab, r);
});

test('1,000 simultaneous connects: every client gets an answer or an EBUSY line, none a reset or a refusal', async (t) => {
  const lab = await startLab(t);
  const res = await (async () => {
    const clients = Array.from({ length: 1000 }, () => new RawClient(lab.d.socket));
    for (const [i, c] of clients.entries()) c.sock.write(JSON.stringify({ v: 1, id: i, op: 'ping' }) + '\n');
    await Promise.all(clients.map((c) => c.until(() => c.lines.length > 0 || c.closed, 10_000)));
    const answered = clients.filter((c) => c.lines.some((l) => l.includes('"pong":true'))).length;
    const busy = clients.filter((c) => c.lines.some((l) => l.includes('"code":"EBUSY"'))).length;
    const errors = clients.filter((c) => c.lines.length === 0).map((c) => c.error ?? 'closed');
    for (const c of clients) c.sock.destroy();
    return { answered, busy, errors };
  })();
  assert.deepEqual(res.errors, [], 'no client is reset, refused or left without a line');
  assert.equal(res.answered + res.busy, 1000);
  // Answered clients stay connected, so the others (less the pinging one) are refused.
  assert.ok(res.answered >= CONTROL_LIMITS.maxClients - 2, `${res.answered} answered`);
  const r = await finish('1000 connects', lab, { answered: res.answered, busy: res.busy, errors: res.errors.length });
  assertBounded(lab, r);
});

test('many clients holding big partial lines: past the buffered-request budget the next one gets EBUSY; memory stays bounded', async (t) => {
  const lab = await startLab(t);
  const perClient = 15 * 1024 * 1024;
  const res = await (async () => {
    const clients = Array.from({ length: 6 }, () => new RawClient(lab.d.socket));
    await Promise.all(clients.map((c) => c.connected()));
    for (const c of clients) {
      const chunk = Buffer.alloc(1024 * 1024, 'b');
      for (let sent = 0; sent < perClient && c.lines.length === 0 && !c.closed; sent += chunk.length) {
        await Promise.race([new Promise<void>((resolve) => c.sock.write(chunk, () => resolve())), sleep(2000)]);
      }
    }
    // (Bounded wait for the refusal's line to arrive.)
    const refused = (c: RawClient): boolean => c.lines.some((l) => l.includes('"code":"EBUSY"'));
    await clients[0]!.until(() => clients.some(refused), 3000);
    const busy = clients.filter(refused).length;
    for (const c of clients) c.sock.destroy();
    return { busy };
  })();
  assert.ok(res.busy >= 1, 'a client past the budget is refused');
  const r = await finish('partial big lines', lab, { clients: 6, mbEach: 15, busy: res.busy });
  assert.ok(lab.peak - lab.rss0 < CONTROL_LIMITS.maxBufferedRequestBytes / 1048576 * 2, `RSS peaked ${lab.rss0} -> ${lab.peak} MB`);
  assertBounded(lab, r);
});

test('junk lines (5 MB of them, pipelined) are each answered EBADREQ in order without stalling forwarding', async (t) => {
  const lab = await startLab(t);
  const res = await (async () => {
    const c = new RawClient(lab.d.socket);
    await c.connected();
    const lines: string[] = [];
    for (let i = 0; lines.length < 50_000; i++) lines.push(i % 3 === 0 ? '{"v":1,"id":' + i + ',"op":"nope"}' : i % 3 === 1 ? '{{{' + 'x'.repeat(i % 200) : '[' + '['.repeat(i % 100));
    const text = lines.join('\n') + '\n';
    c.sock.write(text);
    const ok = await c.until(() => c.lines.length >= lines.length, 60_000);
    c.sock.destroy();
    return { ok, bytes: text.length, answers: c.lines.length, bad: c.lines.filter((l) => /"code":"(EBADREQ|EUNKNOWNOP)"/.test(l)).length };
  })();
  assert.ok(res.ok, `${res.answers} of 50,000 answered`);
  assert.equal(res.bad, 50_000);
  const r = await finish('junk lines', lab, { lines: 50_000, mb: res.bytes / 1048576 });
  assertBounded(lab, r);
});

test('a -R of 110,000 rule lines (5 MB), then a -L -n of them, let forwarding run between their parts', async (t) => {
  const lab = await startLab(t);
  const lines: string[] = [];
  for (let i = 0; i < 10_000; i++) {
    const vip = `10.${(i >> 8) & 255}.${i & 255}.1:80`;
    lines.push(`-A -t ${vip} -s rr`);
    for (let j = 1; j <= 10; j++) lines.push(`-a -t ${vip} -r 192.168.${j}.${(i % 250) + 1}:80 -m -w 1`);
  }
  const t0 = performance.now();
  const r = await callDaemon(lab.d.socket, { v: 1, id: 1, op: 'ipvsadm', argv: ['-R'], stdin: lines.join('\n') + '\n' }, 120_000);
  const ms = performance.now() - t0;
  assert.ok(r.ok && (r as unknown as { code: number }).code === 0, JSON.stringify(r).slice(0, 300));
  const st = await daemonStatus(lab.d.socket);
  assert.equal(st['services'], 10_201);
  // Then `-L -n` of those 110,000 lines: rendered in parts, the event loop running between them.
  await sleep(200);
  lab.probe.reset();
  const l0 = performance.now();
  const list = await callDaemon(lab.d.socket, { v: 1, id: 2, op: 'ipvsadm', argv: ['-L', '-n'] }, 120_000);
  const listMs = performance.now() - l0;
  const listOut = (list as unknown as { stdout: string }).stdout;
  assert.ok(list.ok, JSON.stringify(list).slice(0, 300));
  assert.equal(listOut.trimEnd().split('\n').length, 3 + 10_201 + 100_201, 'every service and real server listed');
  const lp = await lab.probe.report();
  figures('control -L -n of 110k lines', { listMs, forwardWorstMs: lp.forwardWorstMs, pingWorstMs: lp.pingWorstMs, mb: listOut.length / 1048576 });
  assert.ok(lp.forwardWorstMs < MAX_STALL_MS, `forwarding stalled ${lp.forwardWorstMs.toFixed(0)} ms during -L -n`);
  const out = await finish('-R 110k lines', lab, { restoreMs: ms, lines: lines.length });
  // The daemon now holds 10,000 services and 100,000 destinations: its memory grows with them.
  assertBounded(lab, out, false);
});
