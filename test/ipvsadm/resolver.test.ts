import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createNodeResolver, parseHosts, parseServices } from '../../src/ipvsadm/resolver-node.ts';

const HOSTS = '# comment\n127.0.0.1 localhost\n10.0.0.1\tvip.example vip\n2001:DB8::1 v6.example\n10.0.0.1 second.example\n';
const SERVICES = 'http\t\t80/tcp\t\twww\t# WorldWideWeb HTTP\nhttp 80/udp\ndomain 53/udp\nsip 5060/sctp\nbogus\n';

test('resolver-node: /etc/hosts and /etc/services parsing as the files NSS backend answers', async () => {
  assert.equal(parseHosts(HOSTS).length, 4);
  assert.equal(parseServices(SERVICES).length, 4);
  const r = createNodeResolver({ hostsText: HOSTS, servicesText: SERVICES });
  assert.equal(await r.addrToHost(4, '10.0.0.1'), 'vip.example');
  assert.equal(await r.addrToHost(6, '2001:db8::1'), 'v6.example');
  assert.equal(await r.addrToHost(4, '10.9.9.9'), null);
  assert.equal(await r.portToService(80, 'tcp'), 'http');
  assert.equal(await r.portToService(53, 'tcp'), null);
  assert.equal(await r.portToService(5060, 'sctp'), 'sip');
  assert.equal(await r.hostToAddr('vip'), '10.0.0.1');
  assert.equal(await r.hostToAddr('v6.example'), null); // gethostbyname(AF_INET) only
  assert.equal(await r.serviceToPort('www', 'tcp'), 80);
  assert.equal(await r.serviceToPort('domain', 'tcp'), null);
});

test('resolver-node: reads the real /etc/services by default', async () => {
  const r = createNodeResolver();
  assert.equal(await r.portToService(22, 'tcp'), 'ssh');
  assert.equal(await r.serviceToPort('ssh', 'tcp'), 22);
});
