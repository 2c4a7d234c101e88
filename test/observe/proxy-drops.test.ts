/**
 * tsvs_forwarder_drops_total in proxy mode on real daemons: every new connection the proxy
 * refuses is counted under its reason, with the relay in the daemon's thread and in relay
 * threads: no real server available (no-dest), the service at --proxy-maxconn (maxconn), the
 * descriptor budget used up under a low RLIMIT_NOFILE (descriptor-budget). A refused client gets
 * a reset; admitted ones are not counted.
 */
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { closeServer, freePort, sleep, tmpDir } from '../daemon/helpers.ts';
import { call, metrics, startHttpDaemon, value, type HttpDaemon } from './helpers.ts';

let echo: Server;
let echoPort = 0;
before(async () => {
  echo = createServer((s) => { s.on('error', () => {}); s.pipe(s); });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  echoPort = (echo.address() as { port: number }).port;
});
after(() => closeServer(echo as never));

/** A client: 'open' once the echo answers through the proxy, 'reset' when refused. */
function client(port: number): Promise<{ s: Socket; state: 'open' | 'reset' | 'closed' | 'timeout' }> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    let done = false;
    const end = (state: 'open' | 'reset' | 'closed' | 'timeout'): void => {
      if (done) return;
      done = true;
      clearTimeout(t);
      resolve({ s, state });
    };
    const t = setTimeout(() => end('timeout'), 3000);
    s.on('error', (e: NodeJS.ErrnoException) => end(e.code === 'ECONNRESET' || e.code === 'EPIPE' ? 'reset' : 'closed'));
    s.on('close', () => end('closed'));
    s.on('data', () => end('open'));
    s.on('connect', () => s.write('x'));
  });
}

async function lab(t: TestContext, workers: number, rules: (vport: number) => string, extra: string[] = [], launcher: string[] = []): Promise<{ d: HttpDaemon; vport: number }> {
  const dir = tmpDir('tsvs-obs-drops-');
  const vport = await freePort();
  writeFileSync(join(dir, 'rules'), rules(vport));
  const d = await startHttpDaemon(['--forwarder', 'proxy', '--workers', String(workers), '--no-state', '--rules', join(dir, 'rules'), ...extra], dir, launcher);
  t.after(() => d.stop('SIGKILL'));
  return { d, vport };
}

const drops = async (d: HttpDaemon, reason: string): Promise<number> => {
  const m = await metrics(d.http);
  return m.samples.some((s) => s.name === 'tsvs_forwarder_drops_total' && s.labels['reason'] === reason) ? value(m.samples, 'tsvs_forwarder_drops_total', { reason }) : 0;
};

const live = (vport: number, weight: number) => `-A -t 127.0.0.1:${vport} -s rr\n-a -t 127.0.0.1:${vport} -r 127.0.0.1:${echoPort} -m -w ${weight}\n`;

for (const workers of [0, 2]) {
  const where = workers === 0 ? 'relay in the daemon\'s thread' : `${workers} relay threads`;

  test(`proxy drops (${where}): no real server available counts as no-dest, one per refused client`, async (t) => {
    const { d, vport } = await lab(t, workers, (p) => live(p, 0)); // the only real server at weight 0
    assert.equal(await drops(d, 'no-dest'), 0);
    const cs = await Promise.all(Array.from({ length: 3 }, () => client(vport)));
    assert.deepEqual(cs.map((c) => c.state), ['reset', 'reset', 'reset']);
    assert.equal(await drops(d, 'no-dest'), 3);
    assert.equal(await drops(d, 'maxconn'), 0);
  });

  test(`proxy drops (${where}): clients past --proxy-maxconn count as maxconn`, async (t) => {
    const { d, vport } = await lab(t, workers, (p) => live(p, 1), ['--proxy-maxconn', '2']);
    const cs = await Promise.all(Array.from({ length: 5 }, () => client(vport)));
    assert.equal(cs.filter((c) => c.state === 'open').length, 2);
    assert.equal(cs.filter((c) => c.state === 'reset').length, 3);
    assert.equal(await drops(d, 'maxconn'), 3);
    assert.equal(await drops(d, 'no-dest'), 0, 'admitted clients are not drops');
    for (const c of cs) c.s.destroy();
  });

  test(`proxy drops (${where}): clients past the descriptor budget (RLIMIT_NOFILE 256) count as descriptor-budget`, async (t) => {
    const { d, vport } = await lab(t, workers, (p) => live(p, 1), [], ['prlimit', '--nofile=256:256', '--']);
    const st = JSON.parse((await call(d.http, 'GET', '/api/v1/status')).text) as { limits: { proxy: { budget: number } } };
    const budget = st.limits.proxy.budget;
    assert.ok(budget > 10 && budget < 100, `budget ${budget}`);
    const held: Socket[] = [];
    for (let i = 0; i < budget; i++) {
      const c = await client(vport);
      assert.equal(c.state, 'open', `client ${i} of ${budget}`);
      held.push(c.s);
    }
    const extra = await Promise.all(Array.from({ length: 4 }, () => client(vport)));
    assert.deepEqual(extra.map((c) => c.state), ['reset', 'reset', 'reset', 'reset']);
    assert.equal(await drops(d, 'descriptor-budget'), 4);
    for (const s of held) s.destroy();
    await sleep(200);
  });
}
