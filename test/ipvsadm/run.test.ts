import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRulesText, runIpvsadm, usageText, versionText } from '../../src/ipvsadm/index.ts';
import type { Resolver } from '../../src/ipvsadm/index.ts';
import { createNodeResolver } from '../../src/ipvsadm/resolver-node.ts';
import { Engine } from '../../src/core/engine.ts';
import type { Errno, IpvsBackend } from '../../src/core/types.ts';
import { FakeBackend } from './fake-backend.ts';

const TRY = "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n";
const TITLE = 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
const HEADER = 'IP Virtual Server version 1.2.1 (size=4096)\n';

async function run(b: IpvsBackend, line: string, stdin?: string, resolver?: Resolver) {
  return runIpvsadm(line === '' ? [] : line.split(' '), b, { stdin, resolver });
}

test('run: -h prints usage to stdout, -v the version, both exit 0', async () => {
  const b = new FakeBackend();
  assert.deepEqual(await run(b, '-h'), { stdout: usageText('ipvsadm'), stderr: '', code: 0 });
  assert.deepEqual(await run(b, '--version'), { stdout: versionText(), stderr: '', code: 0 });
});

test('run: unknown first option prints the try-help line and exits 255', async () => {
  assert.deepEqual(await run(new FakeBackend(), '--bogus'), { stdout: '', stderr: TRY, code: 255 });
});

test('run: no arguments lists everything (names resolved) like -L', async () => {
  const b = new FakeBackend();
  await run(b, '-A -t 10.0.0.1:80');
  const resolver = createNodeResolver({ hostsText: '10.0.0.1 vip.example\n', servicesText: 'http 80/tcp www\n' });
  const r = await run(b, '', undefined, resolver);
  assert.deepEqual(r, { stdout: `${HEADER}${TITLE}TCP  vip.example:http wlc\n`, stderr: '', code: 0 });
  const n = await run(b, '-L -n', undefined, resolver);
  assert.equal(n.stdout, `${HEADER}${TITLE}TCP  10.0.0.1:80 wlc\n`);
});

test('run: host and service names in arguments go through the (async) resolver', async () => {
  const b = new FakeBackend();
  const resolver: Resolver = {
    addrToHost: async () => null,
    portToService: async () => null,
    hostToAddr: async (n) => (n === 'www.example' ? '192.0.2.7' : null),
    serviceToPort: async (n, p) => (n === 'https' && p === 'tcp' ? 443 : null),
  };
  const ok = await run(b, '-A -t www.example:https -s rr', undefined, resolver);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(b.applied[0], { kind: 'add-service', svc: { af: 4, fwmark: 0, protocol: 'tcp', addr: '192.0.2.7', port: 443, scheduler: 'rr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' } });
  const bad = await run(b, '-A -t nowhere.example:80', undefined, resolver);
  assert.deepEqual(bad, { stdout: '', stderr: 'illegal virtual server address[:port] specified\n', code: 2 });
});

const kernelErrors: Array<[string, Errno, string]> = [
  ['-A -t 1.2.3.4:80', 'EEXIST', 'Service already exists'],
  ['-A -t 1.2.3.4:80', 'ENOENT', 'Scheduler or persistence engine not found'],
  ['-E -t 1.2.3.4:80', 'ESRCH', 'No such service'],
  ['-E -t 1.2.3.4:80', 'ENOENT', 'Scheduler or persistence engine not found'],
  ['-D -t 1.2.3.4:80', 'ESRCH', 'No such service'],
  ['-Z -t 1.2.3.4:80', 'ESRCH', 'No such service'],
  ['-a -t 1.2.3.4:80 -r 1.1.1.1', 'ESRCH', 'Service not defined'],
  ['-a -t 1.2.3.4:80 -r 1.1.1.1', 'EEXIST', 'Destination already exists'],
  ['-e -t 1.2.3.4:80 -r 1.1.1.1', 'ESRCH', 'Service not defined'],
  ['-e -t 1.2.3.4:80 -r 1.1.1.1', 'ENOENT', 'No such destination'],
  ['-d -t 1.2.3.4:80 -r 1.1.1.1', 'ESRCH', 'Service not defined'],
  ['-d -t 1.2.3.4:80 -r 1.1.1.1', 'ENOENT', 'No such destination'],
  ['--start-daemon master', 'EEXIST', 'Daemon has already run'],
  ['--stop-daemon master', 'ESRCH', 'No daemon is running'],
  ['-C', 'EPERM', 'Permission denied (you must be root)'],
  ['-A -t 1.2.3.4:80', 'EINVAL', 'Invalid operation.  Possibly wrong module version, address not unicast, ...'],
  ['-C', 'ENOPROTOOPT', 'Protocol not available'],
  ['-C', 'ENOMEM', 'Memory allocation problem'],
  ['-A -t [::1]:80', 'EOPNOTSUPP', 'Operation not supported with IPv6'],
  ['-A -t 1.2.3.4:80', 'EAFNOSUPPORT', 'Operation not supported with specified address family'],
  ['--set 1 1 1', 'EMSGSIZE', 'Module is wrong version'],
  ['-a -t 1.2.3.4:80 -r 1.1.1.1 -x 1 -y 5', 'ERANGE', 'Numerical result out of range'],
  ['--start-daemon master --mcast-interface bogus0', 'ENODEV', 'No such device'],
  ['-C', 'EEXIST', 'File exists'],
  ['-D -t 1.2.3.4:80', 'ENOENT', 'No such file or directory'],
  ['--set 1 1 1', 'ESRCH', 'No such process'],
];

for (const [line, errno, message] of kernelErrors) {
  test(`run: ${errno} from "${line}" prints "${message}" and exits 255`, async () => {
    const b = new FakeBackend();
    b.forceErrno = errno;
    assert.deepEqual(await run(b, line), { stdout: '', stderr: `${message}\n`, code: 255 });
  });
}

test('run: -L of a missing service prints "No such service" and exits 1', async () => {
  assert.deepEqual(await run(new FakeBackend(), '-L -n -t 1.2.3.4:80'), { stdout: '', stderr: 'No such service\n', code: 1 });
});

test('run: --set, --timeout, --start-daemon, --daemon, --stop-daemon', async () => {
  const b = new FakeBackend();
  assert.equal((await run(b, '--set 100 0 50')).code, 0);
  assert.equal((await run(b, '-L --timeout')).stdout, 'Timeout (tcp tcpfin udp): 100 120 50\n');
  assert.equal((await run(b, '--start-daemon master')).code, 0);
  assert.equal((await run(b, '-L --daemon')).stdout,
    'master sync daemon (mcast=eth0, syncid=0, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n');
  assert.deepEqual(await run(b, '--start-daemon master'), { stdout: '', stderr: 'Daemon has already run\n', code: 255 });
  assert.equal((await run(b, '--stop-daemon master')).code, 0);
  assert.equal((await run(b, '-L --daemon')).stdout, '');
});

test('-R: blank lines skipped, "ipvsadm" words dropped, tabs split, listings allowed', async () => {
  const b = new FakeBackend();
  const stdin = '\n-A -t 10.0.0.1:80 -s rr\n  \t\nipvsadm -a\t-t 10.0.0.1:80 -r 10.0.0.2 -m ipvsadm\r\n-L -n\n';
  const r = await run(b, '-R', stdin);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${HEADER}${TITLE}TCP  10.0.0.1:80 rr\n  -> 10.0.0.2:80                  Masq    1      0          0         \n`);
});

test('-R: a kernel error is printed and processing continues; exit is the last line\'s result', async () => {
  const b = new FakeBackend();
  const r1 = await run(b, '-R', '-A -t 10.0.0.1:80\n-A -t 10.0.0.1:80\n-A -t 10.0.0.2:80\n');
  assert.deepEqual(r1, { stdout: '', stderr: 'Service already exists\n', code: 0 });
  assert.equal(b.svcs.size, 2);
  const r2 = await run(b, '-R', '-A -t 10.0.0.3:80\n-D -t 10.0.0.9:80\n');
  assert.deepEqual(r2, { stdout: '', stderr: 'No such service\n', code: 255 });
  assert.equal(b.svcs.size, 3);
});

test('-R: a fail() line stops everything with exit 2; later lines are not applied', async () => {
  const b = new FakeBackend();
  const r = await run(b, '-R', '-A -t 10.0.0.1:80\n-A -t 10.0.0.2:80 -w 3\n-A -t 10.0.0.3:80\n');
  assert.deepEqual(r, { stdout: '', stderr: "Illegal 'weight' option with the 'add-service' command\n", code: 2 });
  assert.equal(b.svcs.size, 1);
});

test('-R: popt errors do not stop processing (parse_options returns -1)', async () => {
  const b = new FakeBackend();
  const r = await run(b, '-R', '-A -t 10.0.0.1:80 --bogus\n-A -t 10.0.0.2:80\n');
  assert.deepEqual(r, { stdout: '', stderr: '--bogus: unknown option\n', code: 0 });
  assert.equal(b.svcs.size, 1);
});

test('-R: "#" comments are not understood (try-help, exit 255); nested -R too', async () => {
  const b = new FakeBackend();
  assert.deepEqual(await run(b, '-R', '# saved rules\n-A -t 10.0.0.1:80\n'), { stdout: '', stderr: TRY, code: 255 });
  assert.equal(b.svcs.size, 0);
  assert.deepEqual(await run(b, '-R', '-R\n'), { stdout: '', stderr: TRY, code: 255 });
  assert.deepEqual(await run(b, '-R -n'), { stdout: '', stderr: "Illegal 'numeric' option with the 'restore' command\n", code: 2 });
});

test('parseRulesText: one result per non-blank line with 1-based line numbers', () => {
  const r = parseRulesText('-A -t 10.0.0.1:80\n\n--set 1 2 3\n-a -t 10.0.0.1:80\n');
  assert.deepEqual(r.map((x) => [x.line, x.result.kind]), [[1, 'apply'], [3, 'apply'], [4, 'failure']]);
});

function buildRules(nSvc: number, nDest: number): string {
  const lines: string[] = [];
  for (let i = 0; i < nSvc; i++) {
    const vip = `10.${(i >> 8) & 255}.${i & 255}.1`;
    const proto = i % 3 === 0 ? '-u' : '-t';
    const sched = i % 5 !== 0 && i % 7 === 0 ? 'sh -b sh-port' : 'wrr';
    const extra = i % 5 === 0 ? ` -p ${60 + i} -M 255.255.255.0` : '';
    lines.push(`-A ${proto} ${vip}:${1000 + (i % 50)} -s ${sched}${extra}`);
    for (let j = 0; j < nDest; j++) {
      const fwd = ['-m', '-g', '-i'][j % 3];
      lines.push(`-a ${proto} ${vip}:${1000 + (i % 50)} -r 172.16.${i & 255}.${j + 2}:${fwd === '-m' ? 8000 + j : 1000 + (i % 50)} ${fwd} -w ${(i * 7 + j) % 100}`);
    }
  }
  lines.push('-A -f 77 -s rr', '-a -f 77 -r 192.168.1.1:0 -g -w 1', '-A -f 78 -6 -s lc -p 30 -M 64', '-A -t [2001:db8::1]:443 -s mh -b mh-fallback');
  lines.push('-a -t [2001:db8::1]:443 -r [2001:db8::2]:443 -i --tun-type gue --tun-port 6080 --tun-remcsum -w 5');
  return lines.join('\n') + '\n';
}

for (const [name, mk] of [['FakeBackend', () => new FakeBackend()], ['core Engine', () => new Engine()]] as const) {
  test(`-S then -R gives the same -S (1,000 services x 10 dests, ${name})`, async () => {
    const a: IpvsBackend = mk();
    const load = await run(a, '-R', buildRules(1000, 10));
    assert.equal(load.stderr, '');
    assert.equal(load.code, 0);
    assert.equal(a.services().length, 1003);
    const saved = await run(a, '-S -n');
    assert.equal(saved.code, 0);
    assert.equal(saved.stdout.split('\n').length - 1, 1003 + 10002);
    const b: IpvsBackend = mk();
    const back = await run(b, '-R', saved.stdout);
    assert.equal(back.stderr, '');
    assert.equal(back.code, 0);
    assert.equal((await run(b, '-S -n')).stdout, saved.stdout);
  });
}

test('Engine: ipvsadm session against the real engine (add, list, edit, errors)', async () => {
  const e = new Engine();
  assert.equal((await run(e, '-A -t 10.0.0.1:80 -s rr')).code, 0);
  assert.deepEqual(await run(e, '-A -t 10.0.0.1:80'), { stdout: '', stderr: 'Service already exists\n', code: 255 });
  assert.deepEqual(await run(e, '-A -t 10.0.0.2:80 -s nosuch'), { stdout: '', stderr: 'Scheduler or persistence engine not found\n', code: 255 });
  assert.equal((await run(e, '-a -t 10.0.0.1:80 -r 10.0.0.3 -m -w 3')).code, 0);
  assert.equal((await run(e, '-a -t 10.0.0.1:80 -r 10.0.0.2 -g')).code, 0);
  assert.deepEqual(await run(e, '-a -t 10.0.0.1:80 -r 10.0.0.2'), { stdout: '', stderr: 'Destination already exists\n', code: 255 });
  assert.deepEqual(await run(e, '-a -t 10.0.0.9:80 -r 10.0.0.2'), { stdout: '', stderr: 'Service not defined\n', code: 255 });
  assert.deepEqual(await run(e, '-e -t 10.0.0.1:80 -r 10.0.0.7'), { stdout: '', stderr: 'No such destination\n', code: 255 });
  assert.deepEqual(await run(e, '-D -t 10.0.0.9:80'), { stdout: '', stderr: 'No such service\n', code: 255 });
  assert.equal((await run(e, '-E -t 10.0.0.1:80 -p 30')).code, 0);
  assert.equal((await run(e, '-L -n')).stdout,
    `${HEADER}${TITLE}TCP  10.0.0.1:80 wlc persistent 30\n` +
    '  -> 10.0.0.2:80                  Route   1      0          0         \n' +
    '  -> 10.0.0.3:80                  Masq    3      0          0         \n');
  assert.equal((await run(e, '-L -n --nosort')).stdout.split('\n')[4], '  -> 10.0.0.2:80                  Route   1      0          0         ');
  assert.deepEqual(await run(e, '-L -n -t 10.0.0.5:80'), { stdout: '', stderr: 'No such service\n', code: 1 });
  assert.equal((await run(e, '-S -n')).stdout,
    '-A -t 10.0.0.1:80 -s wlc -p 30\n-a -t 10.0.0.1:80 -r 10.0.0.2:80 -g -w 1\n-a -t 10.0.0.1:80 -r 10.0.0.3:80 -m -w 3\n');
  assert.equal((await run(e, '-L -c -n')).stdout, 'IPVS connection entries\npro expire state       source             virtual            destination\n');
  assert.equal((await run(e, '-C')).code, 0);
  assert.equal((await run(e, '-S -n')).stdout, '');
});
