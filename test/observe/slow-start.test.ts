/** --slow-start S on a real daemon: a real server entering service ramps its weight up over S seconds. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO, sleep, tmpDir, tsvsadm } from '../daemon/helpers.ts';
import { metrics, startHttpDaemon, value, type HttpDaemon } from './helpers.ts';

let d: HttpDaemon;
before(async () => {
  d = await startHttpDaemon(['--forwarder', 'none', '--no-state', '--slow-start', '3']);
  for (const a of [['-A', '-t', '10.7.0.1:80', '-s', 'wrr'], ['-a', '-t', '10.7.0.1:80', '-r', '10.8.0.2:80', '-g', '-w', '4']]) {
    const r = await tsvsadm(d.socket, a);
    assert.equal(r.code, 0, r.stderr);
  }
});
after(async () => { await d?.stop(); });

async function weight(rip: string): Promise<number> {
  const out = (await tsvsadm(d.socket, ['-L', '-n', '-t', '10.7.0.1:80'])).stdout;
  const line = out.split('\n').find((l) => l.includes(`${rip}:80 `));
  return line ? Number(line.trim().split(/\s+/)[3]) : NaN;
}

/** Weights seen every 100 ms until `target` (or 6 s), with the time it took. */
async function watch(rip: string, target: number): Promise<{ seen: number[]; ms: number }> {
  const t0 = Date.now();
  const seen: number[] = [];
  while (Date.now() - t0 < 6000) {
    const w = await weight(rip);
    if (seen[seen.length - 1] !== w) seen.push(w);
    if (w === target) break;
    await sleep(100);
  }
  return { seen, ms: Date.now() - t0 };
}

test('a real server added with weight 9 has 3 in its first second, 6 in the second, 9 from the third on', async () => {
  const r = await tsvsadm(d.socket, ['-a', '-t', '10.7.0.1:80', '-r', '10.8.0.1:80', '-g', '-w', '9']);
  assert.equal(r.code, 0, r.stderr);
  const m = await metrics(d.http);
  assert.equal(value(m.samples, 'tsvs_backend_slow_start_target_weight', { remote_address: '10.8.0.1' }), 9);
  const { seen, ms } = await watch('10.8.0.1', 9);
  assert.deepEqual(seen, [3, 6, 9]);
  assert.ok(ms >= 1500 && ms < 4500, `${ms} ms`);
  assert.equal((await metrics(d.http)).samples.filter((s) => s.name === 'tsvs_backend_slow_start_target_weight').length, 0, 'the ramp is over');
});

test('a weight raised from 0 ramps; an operator\'s weight during the ramp wins; weight 1 and raises from non-zero do not ramp', async () => {
  const e = (w: string) => tsvsadm(d.socket, ['-e', '-t', '10.7.0.1:80', '-r', '10.8.0.2:80', '-g', '-w', w]);
  assert.equal((await e('0')).code, 0);
  assert.equal((await e('12')).code, 0);
  assert.equal(await weight('10.8.0.2'), 4, 'ceil(12 / 3)');
  assert.equal((await e('5')).code, 0);
  await sleep(2500);
  assert.equal(await weight('10.8.0.2'), 5, 'the operator\'s weight stays');
  assert.equal((await e('20')).code, 0);
  assert.equal(await weight('10.8.0.2'), 20, 'from non-zero: at once');
  assert.equal((await e('0')).code, 0);
  assert.equal((await e('1')).code, 0);
  assert.equal(await weight('10.8.0.2'), 1);
});

test('a bad --slow-start is refused on the command line', () => {
  for (const v of ['-1', 'x', '3601', '1.5']) {
    const r = spawnSync(process.execPath, [join(REPO, 'bin/tsvs.mjs'), 'daemon', '--no-state', '--forwarder', 'none', '--socket', join(tmpDir(), 's.sock'), `--slow-start=${v}`], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 2, `${v}: ${r.stderr}`);
    assert.match(r.stderr, /--slow-start must be seconds 0\.\.3600/);
  }
});

test('keepalived mode: a real server whose health check passes again comes back ramping (tsvs_slow_start in global_defs)', async () => {
  const { nameServer, closeServer, freePort, startDaemon } = await import('../daemon/helpers.ts');
  const { writeFileSync } = await import('node:fs');
  const rs = await nameServer('rs');
  const vport = await freePort();
  const dir = tmpDir();
  writeFileSync(join(dir, 'k.conf'), `global_defs {\n  tsvs_slow_start 2\n}\nvirtual_server 127.0.0.1 ${vport} {\n  delay_loop 0.3\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n  real_server 127.0.0.1 ${rs.port} {\n    weight 10\n    TCP_CHECK {\n      connect_timeout 1\n    }\n  }\n}\n`);
  const k = await startDaemon(['--keepalived', join(dir, 'k.conf'), '--no-state', '--workers', '0'], dir);
  const w = async () => {
    const line = (await tsvsadm(k.socket, ['-L', '-n'])).stdout.split('\n').find((l) => l.includes(`:${rs.port} `));
    return line ? Number(line.trim().split(/\s+/)[3]) : null;
  };
  try {
    const t0 = Date.now();
    while ((await w()) !== 10 && Date.now() - t0 < 8000) await sleep(100);
    assert.equal(await w(), 10, 'up and ramped after the start');
    await closeServer(rs.server);
    while ((await w()) !== null && Date.now() - t0 < 15000) await sleep(100);
    assert.equal(await w(), null, 'removed when down');
    const back = await nameServer('rs', rs.port);
    try {
      const seen: (number | null)[] = [];
      const t1 = Date.now();
      while (Date.now() - t1 < 8000) {
        const x = await w();
        if (seen[seen.length - 1] !== x) seen.push(x);
        if (x === 10) break;
        await sleep(100);
      }
      assert.deepEqual(seen.filter((x) => x !== null), [5, 10], `weights seen: ${seen.join(',')}`);
    } finally {
      await closeServer(back.server);
    }
  } finally {
    await k.stop();
  }
});

test('a reload of --rules (SIGHUP) ramps the real servers it adds or raises from weight 0; the rules at start do not ramp', async () => {
  const { startDaemon } = await import('../daemon/helpers.ts');
  const { writeFileSync } = await import('node:fs');
  const dir = tmpDir();
  const rules = join(dir, 'rules');
  const svc = '-A -t 10.9.0.1:80 -s wrr\n';
  writeFileSync(rules, `${svc}-a -t 10.9.0.1:80 -r 10.9.1.1:80 -g -w 8\n-a -t 10.9.0.1:80 -r 10.9.1.2:80 -g -w 0\n`);
  const k = await startDaemon(['--forwarder', 'none', '--no-state', '--rules', rules, '--slow-start', '3'], dir);
  const w = async (rip: string) => {
    const line = (await tsvsadm(k.socket, ['-L', '-n', '-t', '10.9.0.1:80'])).stdout.split('\n').find((l) => l.includes(`${rip}:80 `));
    return line ? Number(line.trim().split(/\s+/)[3]) : null;
  };
  try {
    assert.equal(await w('10.9.1.1'), 8, 'the rules at start are in force at once');
    writeFileSync(rules, `${svc}-a -t 10.9.0.1:80 -r 10.9.1.1:80 -g -w 8\n-a -t 10.9.0.1:80 -r 10.9.1.2:80 -g -w 6\n-a -t 10.9.0.1:80 -r 10.9.1.3:80 -g -w 9\n`);
    k.proc.kill('SIGHUP');
    const seen: Record<string, (number | null)[]> = { '10.9.1.2': [], '10.9.1.3': [] };
    const t0 = Date.now();
    while (Date.now() - t0 < 6000) {
      for (const rip of Object.keys(seen)) {
        const x = await w(rip);
        const s = seen[rip]!;
        if (s[s.length - 1] !== x) s.push(x);
      }
      if (seen['10.9.1.3']!.at(-1) === 9 && seen['10.9.1.2']!.at(-1) === 6) break;
      await sleep(100);
    }
    assert.deepEqual(seen['10.9.1.3']!.filter((x) => x !== null), [3, 6, 9], `added: ${seen['10.9.1.3']!.join(',')}`);
    assert.deepEqual(seen['10.9.1.2']!.filter((x) => x !== 0), [2, 4, 6], `raised from 0: ${seen['10.9.1.2']!.join(',')}`);
    assert.equal(await w('10.9.1.1'), 8, 'unchanged ones keep their weight');
  } finally {
    await k.stop();
  }
});
