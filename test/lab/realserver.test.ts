import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { sh, nsSh, shTry, alive } from '../../src/lab/netns.ts';
import { realserverUp, realserverDown, getSysctl, setSysctl, readState, tunOptionsError, type TunOptions, type RsMode } from '../../src/lab/realserver.ts';
import { run as realserverCli } from '../../src/cli/commands/realserver.ts';

const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root (network namespaces)';
const VIP = '10.9.9.9';

function loAddrs(ns: string): string[] {
  const j = JSON.parse(nsSh(ns, ['ip', '-j', 'addr', 'show', 'dev', 'lo'])) as { addr_info: { local: string }[] }[];
  return j[0]!.addr_info.map((a) => a.local);
}

for (const mode of ['dr', 'tun'] as const) {
  test(`realserver up --mode ${mode} sets the VIP on lo and the ARP sysctls; down restores the previous values`, { skip, timeout: 60_000 }, async () => {
    const ns = `tsvs-rs${process.pid}${mode}`;
    sh(['ip', 'netns', 'add', ns]);
    try {
      for (const k of ['all.arp_ignore', 'all.arp_announce', 'lo.arp_ignore', 'lo.arp_announce', 'all.rp_filter']) setSysctl(ns, `net.ipv4.conf.${k}`, '0');
      setSysctl(ns, 'net.ipv4.conf.all.rp_filter', '1');
      const { state } = await realserverUp(VIP, mode, ns);
      assert.ok(loAddrs(ns).includes(VIP));
      assert.equal(getSysctl(ns, 'net.ipv4.conf.all.arp_ignore'), '1');
      assert.equal(getSysctl(ns, 'net.ipv4.conf.all.arp_announce'), '2');
      assert.equal(getSysctl(ns, 'net.ipv4.conf.lo.arp_ignore'), '1');
      assert.equal(getSysctl(ns, 'net.ipv4.conf.lo.arp_announce'), '2');
      if (mode === 'tun') {
        assert.equal(getSysctl(ns, 'net.ipv4.conf.all.rp_filter'), '0');
        assert.ok(state.agentPid && alive(state.agentPid), 'decap agent running');
        assert.equal(shTry(['ip', 'netns', 'exec', ns, 'ip', 'link', 'show', 'tsvstun0']).status, 0);
      }
      const again = await realserverUp(VIP, mode, ns);
      assert.deepEqual(again.actions, ['already up']);
      await realserverDown(VIP, ns);
      assert.ok(!loAddrs(ns).includes(VIP));
      assert.equal(getSysctl(ns, 'net.ipv4.conf.all.arp_ignore'), '0');
      assert.equal(getSysctl(ns, 'net.ipv4.conf.lo.arp_announce'), '0');
      assert.equal(getSysctl(ns, 'net.ipv4.conf.all.rp_filter'), '1');
      assert.equal(readState(ns, VIP), null);
      if (state.agentPid) assert.equal(alive(state.agentPid), false);
    } finally {
      await realserverDown(VIP, ns).catch(() => {});
      shTry(['ip', 'netns', 'del', ns]);
    }
  });
}

test('tsvs realserver up --vip with an IPv6 address sets it on lo as /128 and no IPv4 sysctl; down removes it', { skip, timeout: 60_000 }, async () => {
  const ns = `tsvs-rs${process.pid}v6`;
  const vip6 = 'fd00:99::9';
  const cli = fileURLToPath(new URL('../../bin/tsvs.mjs', import.meta.url));
  const tsvs = (...argv: string[]) => shTry(['ip', 'netns', 'exec', ns, process.execPath, cli, 'realserver', ...argv]);
  sh(['ip', 'netns', 'add', ns]);
  try {
    for (const k of ['all.arp_ignore', 'lo.arp_announce']) setSysctl(ns, `net.ipv4.conf.${k}`, '0');
    const up = tsvs('up', '--vip', vip6);
    assert.equal(up.status, 0, up.err);
    const j = JSON.parse(nsSh(ns, ['ip', '-j', '-6', 'addr', 'show', 'dev', 'lo'])) as { addr_info: { local: string; prefixlen: number }[] }[];
    assert.ok(j[0]!.addr_info.some((a) => a.local === vip6 && a.prefixlen === 128), JSON.stringify(j));
    assert.deepEqual([getSysctl(ns, 'net.ipv4.conf.all.arp_ignore'), getSysctl(ns, 'net.ipv4.conf.lo.arp_announce')], ['0', '0']);
    const down = tsvs('down', '--vip', vip6);
    assert.equal(down.status, 0, down.err);
    assert.ok(!loAddrs(ns).includes(vip6));
    assert.equal(tsvs('up', '--vip', 'fd00::zz').status, 2, 'a bad address is refused');
  } finally {
    await realserverDown(vip6, ns).catch(() => {});
    shTry(['ip', 'netns', 'del', ns]);
  }
});

test('TUN options are checked: gue needs a port, the port is for gue only, tunnel types only with --mode tun', () => {
  const table: [RsMode, TunOptions, string | null][] = [
    ['tun', {}, null],
    ['tun', { tunTypes: ['ipip'] }, null],
    ['tun', { tunTypes: ['gre'] }, null],
    ['tun', { tunTypes: ['gue'], tunPort: 6080 }, null],
    ['tun', { tunTypes: ['ipip', 'gue', 'gre'], tunPort: 1 }, null],
    ['tun', { tunTypes: ['gue'] }, '--tun-type gue needs --tun-port 1..65535'],
    ['tun', { tunTypes: ['gue'], tunPort: 65536 }, '--tun-type gue needs --tun-port 1..65535'],
    ['tun', { tunTypes: ['gue'], tunPort: NaN }, '--tun-type gue needs --tun-port 1..65535'],
    ['tun', { tunTypes: ['gre'], tunPort: 6080 }, '--tun-port is only for --tun-type gue'],
    ['dr', { tunTypes: ['gre'] }, '--tun-type/--tun-port need --mode tun'],
    ['dr', { tunPort: 5 }, '--tun-type/--tun-port need --mode tun'],
  ];
  for (const [mode, o, want] of table) assert.equal(tunOptionsError(mode, o), want, `${mode} ${JSON.stringify(o)}`);
});

test('tsvs realserver rejects bad tunnel options with exit status 2 before touching anything', async () => {
  const table: string[][] = [
    ['up', '--vip', VIP, '--mode', 'tun', '--tun-type', 'vxlan'],
    ['up', '--vip', VIP, '--mode', 'tun', '--tun-type', 'gue'],
    ['up', '--vip', VIP, '--mode', 'tun', '--tun-type', 'gue', '--tun-port', 'x'],
    ['up', '--vip', VIP, '--mode', 'dr', '--tun-type', 'gre'],
  ];
  const write = process.stderr.write;
  let err = '';
  process.stderr.write = ((s: string) => { err += s; return true; }) as typeof process.stderr.write;
  try {
    for (const argv of table) {
      err = '';
      assert.equal(await realserverCli(argv), 2, argv.join(' '));
      assert.match(err, /tsvs realserver: /, argv.join(' '));
    }
  } finally {
    process.stderr.write = write;
  }
});

test('realserver up --mode tun --tun-type gue,gre starts one agent listening on the UDP tun port and for GRE', { skip, timeout: 60_000 }, async () => {
  const ns = `tsvs-rs${process.pid}gue`;
  sh(['ip', 'netns', 'add', ns]);
  try {
    const { state, actions } = await realserverUp(VIP, 'tun', ns, { tunTypes: ['gue', 'gre'], tunPort: 6081 });
    assert.ok(state.agentPid && alive(state.agentPid), 'agent running');
    assert.deepEqual(state.tunTypes, ['gue', 'gre']);
    assert.equal(state.tunPort, 6081);
    assert.ok(actions.some((a) => a.includes('gue on udp port 6081, gre')), actions.join('\n'));
    assert.match(shTry(['ip', 'netns', 'exec', ns, 'ss', '-uln']).out, /0\.0\.0\.0:6081\b/);
    // The raw GRE socket shows in /proc/net/raw as protocol 47 (0x2F in the local address' port column).
    assert.match(shTry(['ip', 'netns', 'exec', ns, 'cat', '/proc/net/raw']).out, /:002F /);
    await realserverDown(VIP, ns);
    assert.equal(alive(state.agentPid!), false);
  } finally {
    await realserverDown(VIP, ns).catch(() => {});
    shTry(['ip', 'netns', 'del', ns]);
  }
});
