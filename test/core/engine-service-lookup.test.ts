/**
 * Which virtual service a new connection's first packet finds (ip_vs_service_find): exact
 * address, protocol and port; the FTP service for data ports; the port-0 catch-all; and the
 * index following every add, delete and flush (IPv4 services have a numeric index beside the
 * text one; both must always agree).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SVC_F } from '../../src/core/types.ts';
import { Rig, svcKey } from './engine-rig.ts';

/** Adds a service with one real server on the same port (a setup step of the table). */
const svc = (proto: 'tcp' | 'udp', vip: string, port: number, rs: string, persistent = false) => (r: Rig): void => {
  const k = svcKey(proto, vip, port);
  r.service(k, persistent ? { flags: SVC_F.PERSISTENT, timeout: 300 } : {}).dest(k, rs, port);
};
const del = (proto: 'tcp' | 'udp', vip: string, port: number) => (r: Rig): void => r.ok(r.e.apply({ kind: 'delete-service', key: svcKey(proto, vip, port) }));
const flush = (r: Rig): void => r.ok(r.e.apply({ kind: 'flush' }));

const rows: { name: string; setup: ((r: Rig) => void)[]; pkt: [proto: 'tcp' | 'udp', src: string, dst: string]; want: string }[] = [
  { name: 'IPv4 TCP service on its exact address and port', setup: [svc('tcp', '10.0.0.1', 80, '192.168.10.1')], pkt: ['tcp', '172.16.5.1:1000', '10.0.0.1:80'], want: 'forward 192.168.10.1' },
  { name: 'same address and port, other protocol: no service', setup: [svc('tcp', '10.0.0.1', 53, '192.168.10.1')], pkt: ['udp', '172.16.5.1:1000', '10.0.0.1:53'], want: 'no-service' },
  { name: 'TCP and UDP services on one address and port are told apart', setup: [svc('tcp', '10.0.0.1', 53, '192.168.10.1'), svc('udp', '10.0.0.1', 53, '192.168.10.2')], pkt: ['udp', '172.16.5.1:1000', '10.0.0.1:53'], want: 'forward 192.168.10.2' },
  { name: 'other port of the address: no service', setup: [svc('tcp', '10.0.0.1', 80, '192.168.10.1')], pkt: ['tcp', '172.16.5.1:1000', '10.0.0.1:81'], want: 'no-service' },
  { name: 'a deleted service is no longer found', setup: [svc('tcp', '10.0.0.1', 80, '192.168.10.1'), del('tcp', '10.0.0.1', 80)], pkt: ['tcp', '172.16.5.1:1000', '10.0.0.1:80'], want: 'no-service' },
  { name: 'a service added again after a flush is found again', setup: [svc('tcp', '10.0.0.1', 80, '192.168.10.1'), flush, svc('tcp', '10.0.0.1', 80, '192.168.10.9')], pkt: ['tcp', '172.16.5.1:1000', '10.0.0.1:80'], want: 'forward 192.168.10.9' },
  { name: 'persistent FTP service (port 21) takes a passive data connection to a high port', setup: [svc('tcp', '10.0.0.1', 21, '192.168.10.1', true)], pkt: ['tcp', '172.16.5.1:1000', '10.0.0.1:40000'], want: 'forward 192.168.10.1' },
  { name: 'FTP service does not take a low port other than 20', setup: [svc('tcp', '10.0.0.1', 21, '192.168.10.1', true)], pkt: ['tcp', '172.16.5.1:1000', '10.0.0.1:80'], want: 'no-service' },
  { name: 'persistent port-0 service catches any port of its address', setup: [svc('tcp', '10.0.0.1', 0, '192.168.10.1', true)], pkt: ['tcp', '172.16.5.1:1000', '10.0.0.1:8443'], want: 'forward 192.168.10.1' },
  { name: 'an exact service wins over the port-0 service of the same address', setup: [svc('tcp', '10.0.0.1', 0, '192.168.10.1', true), svc('tcp', '10.0.0.1', 443, '192.168.10.2')], pkt: ['tcp', '172.16.5.1:1000', '10.0.0.1:443'], want: 'forward 192.168.10.2' },
  { name: 'IPv6 service on its exact address and port', setup: [svc('tcp', '2001:db8::1', 80, '2001:db8:1::1')], pkt: ['tcp', '[2001:db8:9::7]:1000', '[2001:db8::1]:80'], want: 'forward 2001:db8:1::1' },
  { name: 'an IPv6 service is not found by the IPv4 address of the same words', setup: [svc('tcp', '::10.0.0.1', 80, '2001:db8:1::1')], pkt: ['tcp', '172.16.5.1:1000', '10.0.0.1:80'], want: 'no-service' },
];

for (const row of rows) {
  test(`service lookup: ${row.name}`, () => {
    const r = new Rig();
    for (const step of row.setup) step(r);
    const v = r.in(row.pkt[0], row.pkt[1], row.pkt[2], row.pkt[0] === 'tcp' ? 'S' : '');
    const got = v.action === 'forward' ? `forward ${v.dest!.addr}` : v.reason;
    assert.equal(got, row.want);
  });
}

test('scheduleAhead finds IPv4 and IPv6 services by key, and none once deleted', () => {
  const r = new Rig();
  const k4 = svcKey('tcp', '10.0.0.1', 80), k6 = svcKey('tcp', '2001:db8::1', 80);
  r.service(k4, { scheduler: 'rr' }).dest(k4, '192.168.10.1', 80);
  r.service(k6, { scheduler: 'rr' }).dest(k6, '2001:db8:1::1', 80);
  assert.equal(r.e.scheduleAhead(k4)?.addr, '192.168.10.1');
  assert.equal(r.e.scheduleAhead(k6)?.addr, '2001:db8:1::1');
  r.ok(r.e.apply({ kind: 'delete-service', key: k4 }));
  assert.equal(r.e.scheduleAhead(k4), null);
  assert.equal(r.e.scheduleAhead(k6)?.addr, '2001:db8:1::1');
});
