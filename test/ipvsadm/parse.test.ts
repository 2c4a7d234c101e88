import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIpvsadm, usageText, versionText } from '../../src/ipvsadm/index.ts';
import type { Invocation, ParseResult, SyncResolver } from '../../src/ipvsadm/index.ts';
import type { IpvsCommand } from '../../src/core/types.ts';

const v4key = (addr: string, port: number, protocol: 'tcp' | 'udp' | 'sctp' = 'tcp') =>
  ({ af: 4 as const, fwmark: 0, protocol, addr, port });
const svcDefaults = { scheduler: 'wlc', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' };
const destDefaults = {
  af: 4 as const, fwd: 'route' as const, weight: 1, uThreshold: 0, lThreshold: 0,
  tunType: 'ipip' as const, tunPort: 0, tunCsum: 'nocsum' as const,
};

function cmdOf(r: ParseResult): IpvsCommand {
  assert.equal(r.kind, 'apply', JSON.stringify(r));
  return (r as Extract<Invocation, { kind: 'apply' }>).command;
}

const commandCases: Array<[string, string[], IpvsCommand]> = [
  ['-A applies wlc and no persistence by default', ['-A', '-t', '10.0.0.1:80'],
    { kind: 'add-service', svc: { ...v4key('10.0.0.1', 80), ...svcDefaults } }],
  ['-p without value is 360 s (code, not man page)', ['-A', '-t', '10.0.0.1:80', '-p'],
    { kind: 'add-service', svc: { ...v4key('10.0.0.1', 80), ...svcDefaults, flags: 1, timeout: 360 } }],
  ['-p takes a following value', ['-A', '-t', '10.0.0.1:80', '-p', '600', '-s', 'rr'],
    { kind: 'add-service', svc: { ...v4key('10.0.0.1', 80), ...svcDefaults, scheduler: 'rr', flags: 1, timeout: 600 } }],
  ['--persistent=VALUE form', ['-A', '-t', '10.0.0.1:80', '--persistent=42'],
    { kind: 'add-service', svc: { ...v4key('10.0.0.1', 80), ...svcDefaults, flags: 1, timeout: 42 } }],
  ['-p does not take a following option', ['-A', '-t', '10.0.0.1:0', '-p', '-s', 'sh', '-M', '255.255.255.0'],
    { kind: 'add-service', svc: { ...v4key('10.0.0.1', 0), ...svcDefaults, scheduler: 'sh', flags: 1, timeout: 360, netmask: 0xffffff00 } }],
  ['-E also defaults the scheduler to wlc', ['-E', '-u', '10.0.0.1:53'],
    { kind: 'edit-service', svc: { ...v4key('10.0.0.1', 53, 'udp'), ...svcDefaults } }],
  ['-o on UDP and sched flags', ['-A', '-u', '10.0.0.1:53', '-o', '-s', 'sh', '-b', 'sh-fallback,sh-port'],
    { kind: 'add-service', svc: { ...v4key('10.0.0.1', 53, 'udp'), ...svcDefaults, scheduler: 'sh', flags: 4 | 8 | 16 } }],
  ['-b before -s is checked against the final -s', ['-A', '-t', '1.2.3.4:80', '-b', 'mh-port', '-s', 'mh'],
    { kind: 'add-service', svc: { ...v4key('1.2.3.4', 80), ...svcDefaults, scheduler: 'mh', flags: 16 } }],
  ['--sctp-service', ['-A', '--sctp-service', '1.2.3.4:5060'],
    { kind: 'add-service', svc: { ...v4key('1.2.3.4', 5060, 'sctp'), ...svcDefaults } }],
  ['fwmark service: tcp, 0.0.0.0, port 0', ['-A', '-f', '7'],
    { kind: 'add-service', svc: { af: 4, fwmark: 7, protocol: 'tcp', addr: '0.0.0.0', port: 0, ...svcDefaults } }],
  ['fwmark -6 is IPv6 with netmask 128', ['-A', '-f', '4294967295', '-6', '-p', '-M', '64'],
    { kind: 'add-service', svc: { af: 6, fwmark: 4294967295, protocol: 'tcp', addr: '::', port: 0, ...svcDefaults, flags: 1, timeout: 360, netmask: 64 } }],
  ['IPv6 service in brackets gets netmask 128', ['-A', '-t', '[2001:DB8::1]:443', '--pe', 'sip', '-p', '10'],
    { kind: 'add-service', svc: { af: 6, fwmark: 0, protocol: 'tcp', addr: '2001:db8::1', port: 443, ...svcDefaults, flags: 1, timeout: 10, netmask: 128, pe: 'sip' } }],
  ['-M before an IPv6 -t is overridden to 128', ['-A', '-t', '[::1]:80', '-M', '64'].slice(0, 0).concat(['-A', '-M', '64', '-t', '[::1]:80']),
    { kind: 'add-service', svc: { af: 6, fwmark: 0, protocol: 'tcp', addr: '::1', port: 80, ...svcDefaults, netmask: 128 } }],
  ['inet_aton forms are accepted for IPv4', ['-A', '-t', '10.1:0x50'.replace(':0x50', ':80')],
    { kind: 'add-service', svc: { ...v4key('10.0.0.1', 80), ...svcDefaults } }],
  ['scheduler names are truncated to 15 characters', ['-A', '-t', '1.2.3.4:80', '-s', 'abcdefghijklmnopq'],
    { kind: 'add-service', svc: { ...v4key('1.2.3.4', 80), ...svcDefaults, scheduler: 'abcdefghijklmno' } }],
  ['empty -s falls back to wlc', ['-A', '-t', '1.2.3.4:80', '-s', ''],
    { kind: 'add-service', svc: { ...v4key('1.2.3.4', 80), ...svcDefaults } }],
  ['-D', ['-D', '-t', '1.2.3.4:80'], { kind: 'delete-service', key: v4key('1.2.3.4', 80) }],
  ['-C', ['-C'], { kind: 'flush' }],
  ['-a defaults: weight 1, DR, port forced to the service port', ['-a', '-t', '10.0.0.1:80', '-r', '10.0.0.2:8080'],
    { kind: 'add-dest', key: v4key('10.0.0.1', 80), dest: { ...destDefaults, addr: '10.0.0.2', port: 80 } }],
  ['-a -m keeps its own port', ['-a', '-t', '10.0.0.1:80', '-r', '10.0.0.2:8080', '-m', '-w', '0', '-x', '10', '-y', '5'],
    { kind: 'add-dest', key: v4key('10.0.0.1', 80), dest: { ...destDefaults, addr: '10.0.0.2', port: 8080, fwd: 'masq', weight: 0, uThreshold: 10, lThreshold: 5 } }],
  ['-a -m without port takes the service port', ['-a', '-t', '10.0.0.1:80', '-r', '10.0.0.2', '-m'],
    { kind: 'add-dest', key: v4key('10.0.0.1', 80), dest: { ...destDefaults, addr: '10.0.0.2', port: 80, fwd: 'masq' } }],
  ['-r before -t without port gets port 0 under -m', ['-a', '-r', '10.0.0.2', '-m', '-t', '10.0.0.1:80'],
    { kind: 'add-dest', key: v4key('10.0.0.1', 80), dest: { ...destDefaults, addr: '10.0.0.2', port: 0, fwd: 'masq' } }],
  ['fwmark dest keeps its port with -g', ['-a', '-f', '3', '-r', '10.0.0.2:8080'],
    { kind: 'add-dest', key: { af: 4, fwmark: 3, protocol: 'tcp', addr: '0.0.0.0', port: 0 }, dest: { ...destDefaults, addr: '10.0.0.2', port: 8080 } }],
  ['-e is a full replacement with defaults', ['-e', '-t', '10.0.0.1:80', '-r', '10.0.0.2'],
    { kind: 'edit-dest', key: v4key('10.0.0.1', 80), dest: { ...destDefaults, addr: '10.0.0.2', port: 80 } }],
  ['-i with gue tunnel', ['-a', '-t', '10.0.0.1:80', '-r', '10.0.0.2', '-i', '--tun-type', 'gue', '--tun-port', '6080', '--tun-csum'],
    { kind: 'add-dest', key: v4key('10.0.0.1', 80), dest: { ...destDefaults, addr: '10.0.0.2', port: 80, fwd: 'tunnel', tunType: 'gue', tunPort: 6080, tunCsum: 'csum' } }],
  ['-i with gre remcsum is not allowed but gre nocsum is', ['-a', '-t', '10.0.0.1:80', '-r', '10.0.0.2', '-i', '--tun-type', 'gre', '--tun-nocsum'],
    { kind: 'add-dest', key: v4key('10.0.0.1', 80), dest: { ...destDefaults, addr: '10.0.0.2', port: 80, fwd: 'tunnel', tunType: 'gre' } }],
  ['IPv6 dest of an IPv4 service is allowed for tunnels', ['-a', '-t', '10.0.0.1:80', '-r', '[2001:db8::2]:80', '-i'],
    { kind: 'add-dest', key: v4key('10.0.0.1', 80), dest: { ...destDefaults, af: 6, addr: '2001:db8::2', port: 80, fwd: 'tunnel' } }],
  ['-d keeps the given dest port', ['-d', '-t', '10.0.0.1:80', '-r', '10.0.0.2:8080'],
    { kind: 'delete-dest', key: v4key('10.0.0.1', 80), af: 4, addr: '10.0.0.2', port: 8080 }],
  ['-Z without service zeroes all', ['-Z'], { kind: 'zero' }],
  ['-Z with a service', ['-Z', '-t', '1.2.3.4:80'], { kind: 'zero', key: v4key('1.2.3.4', 80) }],
  ['-Z with 0.0.0.0:0 is libipvs "all"', ['-Z', '-t', '0.0.0.0:0'], { kind: 'zero' }],
  ['--set', ['--set', '900', '0', '300'], { kind: 'set-timeouts', tcp: 900, tcpfin: 0, udp: 300 }],
  ['--start-daemon defaults', ['--start-daemon', 'master'],
    { kind: 'start-daemon', daemon: { state: 'master', mcastIfn: 'eth0', syncid: 0, maxlen: 0, group: '', port: 0, ttl: 0 } }],
  ['--start-daemon with every option', ['--start-daemon=backup', '--mcast-interface', 'lo', '--syncid', '9', '--mcast-group', '239.1.2.3', '--mcast-port', '9999', '--mcast-ttl', '3', '--sync-maxlen', '1400'],
    { kind: 'start-daemon', daemon: { state: 'backup', mcastIfn: 'lo', syncid: 9, maxlen: 1400, group: '239.1.2.3', port: 9999, ttl: 3 } }],
  ['--stop-daemon', ['--stop-daemon', 'backup', '--syncid', '3'], { kind: 'stop-daemon', state: 'backup', syncid: 3 }],
  ['short option argument glued (-w5) and -w=5', ['-a', '-t', '1.2.3.4:80', '-r1.2.3.5', '-w=5', '-m'],
    { kind: 'add-dest', key: v4key('1.2.3.4', 80), dest: { ...destDefaults, addr: '1.2.3.5', port: 80, fwd: 'masq', weight: 5 } }],
  ['clustered short options -at', ['-at', '1.2.3.4:80', '-r', '1.2.3.5'],
    { kind: 'add-dest', key: v4key('1.2.3.4', 80), dest: { ...destDefaults, addr: '1.2.3.5', port: 80 } }],
];

for (const [name, argv, want] of commandCases) {
  test(`parse: ${name}`, () => {
    assert.deepEqual(cmdOf(parseIpvsadm(argv)), want);
  });
}

test('parse: -L variants map to list targets and formats', () => {
  const r = parseIpvsadm(['-Ln', '--stats', '--exact', '--nosort']);
  assert.deepEqual(r, {
    kind: 'list', target: { what: 'all' },
    format: { numeric: true, stats: true, rate: false, thresholds: false, persistentConn: false, nosort: true, exact: true, tunInfo: false },
  });
  assert.deepEqual((parseIpvsadm(['-l', '-t', '1.2.3.4:80']) as { target: unknown }).target, { what: 'service', key: v4key('1.2.3.4', 80) });
  assert.deepEqual((parseIpvsadm(['--list', '-c']) as { target: unknown }).target, { what: 'connections' });
  assert.deepEqual((parseIpvsadm(['-L', '--timeout']) as { target: unknown }).target, { what: 'timeout' });
  assert.deepEqual((parseIpvsadm(['-L', '--daemon']) as { target: unknown }).target, { what: 'daemon' });
  assert.deepEqual(parseIpvsadm([]), { kind: 'list', target: { what: 'all' }, format: { numeric: false, stats: false, rate: false, thresholds: false, persistentConn: false, nosort: false, exact: false, tunInfo: false } });
  assert.deepEqual(parseIpvsadm(['-S', '-n']), { kind: 'save', numeric: true });
  assert.deepEqual(parseIpvsadm(['-R']), { kind: 'restore' });
  assert.equal((parseIpvsadm(['-L', '--sort']) as { kind: string }).kind, 'list');
});

test('parse: -h and -v as the first option win over everything after', () => {
  assert.deepEqual(parseIpvsadm(['-h', '--bogus']), { kind: 'help', text: usageText('ipvsadm') });
  assert.deepEqual(parseIpvsadm(['--version', 'x']), { kind: 'version', text: versionText() });
  assert.equal(versionText(), 'ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n');
  const u = usageText('ipvsadm');
  assert.ok(u.startsWith('ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\nUsage:\n  ipvsadm -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]\n'));
  assert.ok(u.includes('  --scheduler    -s scheduler         one of rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh,\n                                      the default scheduler is wlc.\n'));
  assert.ok(u.includes('  --tun-type      type                one of ipip|gue|gre,\n                                      the default tunnel type is ipip.\n'));
  assert.ok(u.endsWith('  --mcast-ttl ttl                     Multicast TTL (default=1)\n'));
  assert.equal(u.split('\n').length, 83); // 82 lines + final newline
});

const TRY = "Try `ipvsadm -h' or 'ipvsadm --help' for more information.";
const errorCases: Array<[string[], string, number]> = [
  [['foo'], TRY, 255],
  [['-t', '1.2.3.4:80'], TRY, 255],
  [['--bogus'], TRY, 255],
  [['-6'], TRY, 255],
  [['-Lq'], '-Lq: unknown option', 255],
  [['-L', '--foo=bar'], '--foo=bar: unknown option', 255],
  [['-A', '-t'], '-t: missing argument', 255],
  [['-L', '-A'], "invalid option `-A'", 2],
  [['-L', '-h'], "invalid option `-h'", 2],
  [['-L', '--start-daemon', 'master'], "invalid option `master'", 2],
  [['--start-daemon', 'slave'], 'illegal start-daemon parameter specified', 2],
  [['--stop-daemon', 'slave'], 'illegal start_daemon specified', 2],
  [['-A'], "You need to supply the 'service-address' option for the 'add-service' command", 2],
  [['-a', '-t', '1.2.3.4:80'], "You need to supply the 'real-server' option for the 'add-server' command", 2],
  [['-A', '-t', '1.2.3.4:80', '-w', '2'], "Illegal 'weight' option with the 'add-service' command", 2],
  [['-A', '-t', '1.2.3.4:80', '-n'], "Illegal 'numeric' option with the 'add-service' command", 2],
  [['-C', '-n'], "Illegal 'numeric' option with the 'flush' command", 2],
  [['-S', '--stats'], "Illegal 'stats' option with the 'save' command", 2],
  [['-L', '-c', '--timeout'], "The option 'timeout' conflicts with the 'connection' option in the 'list' command", 2],
  [['-L', '-t', '1.2.3.4:80', '--daemon'], "The option 'daemon' conflicts with the 'service-address' option in the 'list' command", 2],
  [['-L', '-c', '--stats'], 'options conflicts in the list command', 2],
  [['-L', '--timeout', '--persistent-conn'], 'options conflicts in the list command', 2],
  [['-A', '-t', '1.2.3.4:80', '-s', 'rr', '-s', 'wrr'], "multiple 'scheduler' options specified", 2],
  [['-a', '-t', '1.2.3.4:80', '-r', '1.1.1.1', '-m', '-g'], "multiple 'forwarding-method' options specified", 2],
  [['-A', '-t', '1.2.3.4:80', '-f', '1'], "multiple 'service-address' options specified", 2],
  [['-A', '-t', 'nosuchhost:80'], 'illegal virtual server address[:port] specified', 2],
  [['-A', '-t', '80'], 'illegal virtual server address[:port] specified', 2],
  [['-A', '-t', '1.2.3.4:http'], 'illegal virtual server address[:port] specified', 2],
  [['-A', '-t', '1.2.3.4:65536'], 'illegal virtual server address[:port] specified', 2],
  [['-A', '-t', '[::1]80'], 'illegal virtual server address[:port] specified', 2],
  [['-a', '-t', '1.2.3.4:80', '-r', '1.2.3.256'], 'illegal real server address[:port] specified', 2],
  [['-a', '-t', '1.2.3.4:80', '-r', '1.2.3.5', '-w', '65536'], 'illegal weight specified', 2],
  [['-a', '-t', '1.2.3.4:80', '-r', '1.2.3.5', '-w', '-1'], 'illegal weight specified', 2],
  [['-a', '-t', '1.2.3.4:80', '-r', '1.2.3.5', '-x', '2147483648'], 'illegal u_threshold specified', 2],
  [['-a', '-t', '1.2.3.4:80', '-r', '1.2.3.5', '-y', 'x'], 'illegal l_threshold specified', 2],
  [['-A', '-t', '1.2.3.4:80', '-p', '0'], "invalid timeout value `0' specified", 2],
  [['-A', '-t', '1.2.3.4:80', '-p', '2678401'], "invalid timeout value `2678401' specified", 2],
  [['-A', '-t', '1.2.3.4:80', '-p', 'rr'], "invalid timeout value `rr' specified", 2],
  [['--set', '1', '2', 'x'], "invalid timeout value `x' specified", 2],
  [['-A', '-f', '0'], "invalid fwmark value `0' specified", 2],
  [['-A', '-f', '4294967296'], "invalid fwmark value `4294967296' specified", 2],
  [['-A', '-f', '-5'], "invalid fwmark value `-5' specified", 2],
  [['-A', '-t', '1.2.3.4:80', '-M', 'bogus'], 'illegal virtual server persistent mask specified', 2],
  [['-A', '-t', '[::1]:80', '-M', '129'], 'illegal ipv6 netmask specified', 2],
  [['-A', '-t', '[::1]:80', '-M', '0'], 'illegal ipv6 netmask specified', 2],
  [['-A', '-t', '1.2.3.4'], 'Zero port specified for non-persistent service', 2],
  [['-A', '-t', '[1.2.3.4]:80'], 'Zero port specified for non-persistent service', 2],
  [['-A', '-t', '1.2.3.4:80', '-o'], 'One-Packet Scheduling is only for UDP virtual services', 2],
  [['-a', '-t', '1.2.3.4:80', '-r', '[::2]:80'], 'Different address family is allowed only for tunneling servers', 2],
  [['-a', '-t', '1.2.3.4:80', '-r', '1.2.3.5', '--tun-type', 'ipip'], 'Tunnel options conflict with forward method', 2],
  [['-a', '-t', '1.2.3.4:80', '-r', '1.2.3.5', '-i', '--tun-type', 'vxlan'], 'illegal tunnel type specified', 2],
  [['-a', '-t', '1.2.3.4:80', '-r', '1.2.3.5', '-i', '--tun-port', '0'], 'illegal tunnel port specified', 2],
  [['-a', '-t', '1.2.3.4:80', '-r', '1.2.3.5', '-i', '--tun-port', '5'], "Illegal 'tun-port' option with the 'ipip' tunnel type", 2],
  [['-a', '-t', '1.2.3.4:80', '-r', '1.2.3.5', '-i', '--tun-type', 'gue'], "You need to supply the 'tun-port' option for the 'gue' tunnel type", 2],
  [['-a', '-t', '1.2.3.4:80', '-r', '1.2.3.5', '-i', '--tun-type', 'gue', '--tun-port', '1', '--tun-csum', '--tun-remcsum'],
    "The option 'tun-remcsum' conflicts with the 'tun-csum' option in the 'gue' tunnel type", 2],
  [['-a', '-t', '1.2.3.4:80', '-r', '1.2.3.5', '-i', '--tun-type', 'gre', '--tun-remcsum'], "Illegal 'tun-remcsum' option with the 'gre' tunnel type", 2],
  [['--set', '1', '2'], '--set option requires 3 timeout values', 2],
  [['-A', '-t', '1.2.3.4:80', 'extra'], 'unexpected argument extra', 2],
  [['-L', '--', '-n'], 'unexpected argument -n', 2],
  [['-A', '-t', '1.2.3.4:80', '-b', 'flag-9'], "invalid scheduler flag `flag-9'", 2],
  [['-A', '-t', '1.2.3.4:80', '-b', 'sh-port'], "incompatible scheduler flag `sh-port'", 2],
  [['-E', '-t', '1.2.3.4:80', '-s', 'sh', '-b', 'flag-1,mh-port'], "incompatible scheduler flag `mh-port'", 2],
  [['--start-daemon', 'master', '--syncid', '256'], 'illegal syncid specified', 2],
  [['--start-daemon', 'master', '--mcast-group', '10.0.0.1'], "invalid IPv4 mcast-group `10.0.0.1'", 2],
  [['--start-daemon', 'master', '--mcast-group', 'fe80::1'], "invalid IPv6 mcast-group `fe80::1'", 2],
  [['--start-daemon', 'master', '--mcast-port', '0'], 'illegal mcast-port specified', 2],
  [['--start-daemon', 'master', '--mcast-ttl', '256'], 'illegal mcast-ttl specified', 2],
  [['--start-daemon', 'master', '--sync-maxlen', '65508'], 'illegal sync-maxlen specified', 2],
  [['-A', '-6', '-f', '1'], '-6 used before -f\n', 2],
  [['-A', '-t', '1.2.3.4:80', '-b', ','], 'Segmentation fault', 139],
];

for (const [argv, message, code] of errorCases) {
  test(`parse error: ${JSON.stringify(argv)} → ${JSON.stringify(message)} (exit ${code})`, () => {
    const r = parseIpvsadm(argv);
    assert.equal(r.kind, 'failure', JSON.stringify(r));
    if (r.kind !== 'failure') return;
    assert.equal(r.message, message);
    assert.equal(r.stderr, `${message}\n`);
    assert.equal(r.code, code);
  });
}

test('parse error: popt errors after the first option return instead of exiting; fail() exits', () => {
  const popt = parseIpvsadm(['-L', '--nope']);
  assert.equal(popt.kind === 'failure' && popt.exits, false);
  const failed = parseIpvsadm(['-L', '-A']);
  assert.equal(failed.kind === 'failure' && failed.exits, true);
});

test('parse error: the first failing option in argv order wins over table checks', () => {
  const r = parseIpvsadm(['-A', '-w', 'x', '-t', '1.2.3.4:80']);
  assert.equal(r.kind === 'failure' && r.message, 'illegal weight specified');
});

test('parse: names are looked up through the injected resolver (IPv4 hosts, /etc/services ports)', () => {
  const asked: string[] = [];
  const names: SyncResolver = {
    addrToHost: () => null,
    portToService: () => null,
    hostToAddr: (n) => { asked.push(`h:${n}`); return n === 'www.example' ? '192.0.2.10' : null; },
    serviceToPort: (n, p) => { asked.push(`s:${n}/${p}`); return n === 'http' && p === 'tcp' ? 80 : null; },
  };
  assert.deepEqual(cmdOf(parseIpvsadm(['-A', '-t', 'www.example:http'], names)),
    { kind: 'add-service', svc: { ...v4key('192.0.2.10', 80), ...svcDefaults } });
  assert.deepEqual(asked, ['h:www.example', 's:http/tcp']);
  const bad = parseIpvsadm(['-A', '-u', 'www.example:http'], names);
  assert.equal(bad.kind === 'failure' && bad.message, 'illegal virtual server address[:port] specified');
  const badHost = parseIpvsadm(['-A', '-t', 'unknown.example:80'], names);
  assert.equal(badHost.kind === 'failure' && badHost.code, 2);
});

test('parse: IPv6 without brackets takes the whole text as the address (::1:80 has no port)', () => {
  const r = parseIpvsadm(['-A', '-t', '::1:80']);
  assert.equal(r.kind === 'failure' && r.message, 'Zero port specified for non-persistent service');
  const p = cmdOf(parseIpvsadm(['-A', '-t', '::1:80', '-p']));
  assert.equal(p.kind === 'add-service' && p.svc.addr, '::1:80');
});
