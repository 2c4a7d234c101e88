/**
 * `tsvs daemon --procfs DIR` read by the real node_exporter (Debian's prometheus-node-exporter,
 * `--path.procfs DIR --collector.disable-defaults --collector.ipvs`): every node_ipvs_* series
 * it reports equals tsvs's own /metrics, names, types, HELP, labels and values.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { closeServer, freePort, httpGet, nameServer, sleep, tmpDir, tsvsadm } from '../daemon/helpers.ts';
import { parsePromText, type ParsedSample } from '../../src/observe/prom.ts';
import { call, startHttpDaemon, until, type HttpDaemon } from './helpers.ts';

const NODE_EXPORTER = '/usr/bin/prometheus-node-exporter';
const skip = !existsSync(NODE_EXPORTER) && `${NODE_EXPORTER} missing (Debian package prometheus-node-exporter; scripts/setup.sh installs it)`;

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

async function startNodeExporter(procfs: string): Promise<number> {
  const port = await freePort();
  const p: ChildProcess = spawn(NODE_EXPORTER, ['--path.procfs', procfs, '--collector.disable-defaults', '--collector.ipvs', '--web.listen-address', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  p.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  cleanups.push(async () => {
    if (p.exitCode === null) p.kill('SIGTERM');
    await exited;
  });
  await until(`node_exporter on ${port} (${log})`, async () => (await call(port, 'GET', '/metrics')).status === 200);
  return port;
}

const key = (s: ParsedSample): string => `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`;

/** node_ipvs_* samples and their TYPE/HELP, keyed for comparison. */
async function nodeIpvs(port: number): Promise<{ samples: Map<string, number>; meta: Map<string, string> }> {
  const r = await call(port, 'GET', '/metrics');
  const p = parsePromText(r.text);
  const samples = new Map(p.samples.filter((s) => s.name.startsWith('node_ipvs_')).map((s) => [key(s), s.value]));
  const meta = new Map<string, string>();
  for (const [n, t] of p.types) if (n.startsWith('node_ipvs_')) meta.set(n, `${t} | ${p.helps.get(n)}`);
  return { samples, meta };
}

/** Waits until both sides agree (the files are rewritten every second), then asserts equality. */
async function assertSame(tsvs: HttpDaemon, ne: number): Promise<Map<string, number>> {
  let last: [Awaited<ReturnType<typeof nodeIpvs>>, Awaited<ReturnType<typeof nodeIpvs>>] | null = null;
  const end = Date.now() + 8000;
  while (Date.now() < end) {
    last = [await nodeIpvs(tsvs.http), await nodeIpvs(ne)];
    if (JSON.stringify([...last[0].samples].sort()) === JSON.stringify([...last[1].samples].sort())) break;
    await sleep(250);
  }
  const [ours, theirs] = last!;
  assert.deepEqual(new Map([...ours.samples].sort()), new Map([...theirs.samples].sort()), 'node_ipvs_* samples');
  assert.deepEqual(new Map([...ours.meta].sort()), new Map([...theirs.meta].sort()), 'node_ipvs_* TYPE and HELP');
  return ours.samples;
}

async function adm(d: HttpDaemon, ...argv: string[]): Promise<void> {
  const r = await tsvsadm(d.socket, argv);
  assert.equal(r.code, 0, `tsvsadm ${argv.join(' ')}: ${r.stderr}`);
}

async function daemon(args: string[]): Promise<{ d: HttpDaemon; procfs: string }> {
  const dir = tmpDir();
  const procfs = join(dir, 'proc');
  const d = await startHttpDaemon(['--no-state', '--procfs', procfs, ...args], dir);
  cleanups.push(async () => { await d.stop(); });
  return { d, procfs };
}

test('node_exporter reading --procfs reports what /metrics reports: live traffic, open connections, weights', { skip }, async () => {
  const rs1 = await nameServer('a');
  const rs2 = await nameServer('b');
  cleanups.push(() => closeServer(rs1.server), () => closeServer(rs2.server));
  const { d, procfs } = await daemon(['--forwarder', 'proxy', '--workers', '0']);
  const vport = await freePort();
  const vip = `127.0.0.1:${vport}`;
  await adm(d, '-A', '-t', vip, '-s', 'wrr');
  await adm(d, '-a', '-t', vip, '-r', `127.0.0.1:${rs1.port}`, '-m', '-w', '2');
  await adm(d, '-a', '-t', vip, '-r', `127.0.0.1:${rs2.port}`, '-m', '-w', '1');
  for (let i = 0; i < 9; i++) assert.equal((await httpGet(vport)).status, 200);
  // Idle connections stay ESTABLISHED: ActiveConn > 0 on both sides.
  const idle: Socket[] = [];
  for (let i = 0; i < 3; i++) {
    const s = connect(vport, '127.0.0.1');
    await new Promise<void>((r, j) => { s.once('connect', () => r()); s.once('error', j); });
    idle.push(s);
  }
  cleanups.push(async () => { for (const s of idle) s.destroy(); });
  const ne = await startNodeExporter(procfs);
  const same = await assertSame(d, ne);
  const total = [...same].find(([k]) => k.startsWith('node_ipvs_connections_total'))![1];
  assert.equal(total, 12);
  const active = [...same].filter(([k]) => k.startsWith('node_ipvs_backend_connections_active')).reduce((n, [, v]) => n + v, 0);
  assert.equal(active, 3);
  // A change reaches the files within the rewrite interval.
  await adm(d, '-e', '-t', vip, '-r', `127.0.0.1:${rs2.port}`, '-m', '-w', '9');
  const after = await assertSame(d, ne);
  assert.ok([...after].some(([k, v]) => k.startsWith('node_ipvs_backend_weight') && k.includes(String(rs2.port)) && v === 9));
  assert.match(readFileSync(join(procfs, 'net/ip_vs_conn'), 'utf8'), /^Pro FromIP {3}FPrt ToIP {5}TPrt DestIP {3}DPrt State {7}Expires PEName PEData\nTCP 7F000001 [0-9A-F]{4} 7F000001 /);
});

test('node_exporter agrees on IPv6, firewall-mark, persistent and one-packet services', { skip }, async () => {
  const { d, procfs } = await daemon(['--forwarder', 'none']);
  const rules: string[][] = [
    ['-A', '-t', '10.20.0.1:443', '-s', 'sh', '-p', '600', '-M', '255.255.255.0'],
    ['-a', '-t', '10.20.0.1:443', '-r', '192.168.7.1:8443', '-m', '-w', '0'],
    ['-a', '-t', '10.20.0.1:443', '-r', '192.168.7.2:8443', '-m', '-w', '65535'],
    ['-A', '-u', '10.20.0.2:53', '-s', 'rr', '-o'],
    ['-a', '-u', '10.20.0.2:53', '-r', '192.168.7.3', '-g'],
    ['-A', '-f', '268439552', '-s', 'wlc'],
    ['-a', '-f', '268439552', '-r', '192.168.7.4', '-g', '-w', '5'],
    ['-a', '-f', '268439552', '-r', '192.168.7.5', '-i', '-w', '6'],
    ['-A', '-t', '[2001:db8::1]:80', '-s', 'wlc', '-p', '60'],
    ['-a', '-t', '[2001:db8::1]:80', '-r', '[2001:db8::a]:8080', '-m', '-w', '3'],
    ['-a', '-t', '[2001:db8::1]:80', '-r', '[::ffff:192.168.7.9]:8080', '-m', '-w', '4'],
    ['-A', '-u', '[2001:db8:0:1::1]:5353', '-s', 'rr'],
    ['-a', '-u', '[2001:db8:0:1::1]:5353', '-r', '[fe80::1:2]:5353', '-m'],
  ];
  for (const r of rules) await adm(d, ...r);
  const ne = await startNodeExporter(procfs);
  const same = await assertSame(d, ne);
  assert.equal([...same].filter(([k]) => k.startsWith('node_ipvs_backend_weight')).length, 8);
  assert.ok([...same].some(([k]) => k.includes('"local_mark","10001000"') && k.includes('"proto","FWM"')), 'the mark as %08X');
});
