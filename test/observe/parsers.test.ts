/** The small parsers of the observers: --http addresses, API ids, request schemas, token files. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseListenAddr } from '../../src/daemon/http/listen-addr.ts';
import { parseRealId, parseServiceId, realId, serviceId } from '../../src/observe/ids.ts';
import { validate } from '../../src/daemon/http/schema.ts';
import { SCHEMAS } from '../../src/daemon/http/api.ts';
import { parseTokens } from '../../src/daemon/http/tokens.ts';

const ADDRS: [string, { host: string; port: number } | RegExp][] = [
  ['9180', { host: '127.0.0.1', port: 9180 }],
  [':9180', { host: '127.0.0.1', port: 9180 }],
  ['0', { host: '127.0.0.1', port: 0 }],
  ['0.0.0.0:9180', { host: '0.0.0.0', port: 9180 }],
  ['10.0.0.5:80', { host: '10.0.0.5', port: 80 }],
  ['[::1]:9180', { host: '::1', port: 9180 }],
  ['[::]:9180', { host: '::', port: 9180 }],
  ['[]:9180', { host: '127.0.0.1', port: 9180 }],
  ['host:80', /not an IPv4 address/],
  ['1.2.3.4:', /not \[ADDR:\]PORT/],
  ['1.2.3.4:65536', /out of range/],
  ['::1:80', /not \[ADDR:\]PORT/],
];

test('--http [ADDR:]PORT: loopback unless an address is named', () => {
  for (const [s, want] of ADDRS) {
    const r = parseListenAddr(s);
    if (want instanceof RegExp) assert.match((r as { error: string }).error, want, s);
    else assert.deepEqual(r, want, s);
  }
});

test('service and real server ids round-trip and are canonical', () => {
  const keys = [
    { af: 4, fwmark: 0, protocol: 'tcp', addr: '10.0.0.1', port: 80 },
    { af: 6, fwmark: 0, protocol: 'udp', addr: '2001:db8::1', port: 53 },
    { af: 4, fwmark: 0, protocol: 'sctp', addr: '10.0.0.2', port: 0 },
    { af: 4, fwmark: 7, protocol: 'tcp', addr: '0.0.0.0', port: 0 },
    { af: 6, fwmark: 4294967295, protocol: 'tcp', addr: '::', port: 0 },
  ] as const;
  for (const k of keys) assert.deepEqual(parseServiceId(serviceId(k)), k, serviceId(k));
  assert.equal(serviceId(keys[3]), 'fwm-7');
  assert.deepEqual(parseServiceId('udp-2001:0db8:0:0::1-53'), keys[1], 'non-canonical IPv6 is accepted and canonicalised');
  for (const bad of ['', 'tcp', 'tcp-10.0.0.1', 'icmp-10.0.0.1-80', 'tcp-10.0.0.1-65536', 'tcp-host-80', 'fwm-0', 'fwm-4294967296', 'fwm6-x']) assert.equal(parseServiceId(bad), null, bad);
  assert.deepEqual(parseRealId(realId('2001:db8::a', 8080)), { af: 6, addr: '2001:db8::a', port: 8080 });
  assert.equal(parseRealId('10.0.0.1'), null);
});

const BODIES: [keyof typeof SCHEMAS, unknown, string | null][] = [
  ['RealInput', { addr: '10.0.0.1', weight: 3 }, null],
  ['RealInput', { weight: 3 }, 'body.addr: is required'],
  ['RealInput', { addr: '10.0.0.1', weight: 1.5 }, 'body.weight: must be an integer'],
  ['RealInput', { addr: '10.0.0.1', fwd: 'nat' }, 'body.fwd: must be one of masq, route, tunnel'],
  ['ServiceInput', { protocol: 'tcp', addr: '10.0.0.1', port: 80, schedFlags: ['sh-port', 'x'] }, 'body.schedFlags[1]: must be one of sh-fallback, sh-port, mh-fallback, mh-port, flag-1, flag-2, flag-3'],
  ['ServiceInput', { protocol: 'tcp', addr: '10.0.0.1', port: 80, onePacket: 'yes' }, 'body.onePacket: must be true or false'],
  ['ServiceInput', { protocol: 'tcp', addr: '10.0.0.1', port: 80, scheduler: 'WLC' }, 'body.scheduler: does not match ^[a-z]{1,16}$'],
  ['DrainInput', { timeout: -1 }, 'body.timeout: must be at least 0'],
  ['DrainInput', { then: 'keep', extra: 1 }, 'body.extra: unknown property (known: timeout, then)'],
  ['SyncInput', { state: 'master', mcastIfn: 'eth0 ; rm' }, 'body.mcastIfn: does not match ^[A-Za-z0-9_.:-]+$'],
];

test('request bodies are checked against the schemas the OpenAPI document publishes', () => {
  for (const [schema, body, want] of BODIES) assert.equal(validate(SCHEMAS[schema], body), want, `${schema} ${JSON.stringify(body)}`);
});

test('token files: roles, comments, a read token that is also an admin one is admin', () => {
  const t = parseTokens('# tokens\n\nadmin aaaaaaaaaaaaaaaa1\nread  bbbbbbbbbbbbbbbb2\nread aaaaaaaaaaaaaaaa1\n');
  assert.equal(t.roleOf('aaaaaaaaaaaaaaaa1'), 'admin');
  assert.equal(t.roleOf('bbbbbbbbbbbbbbbb2'), 'read');
  assert.equal(t.roleOf('cccccccccccccccc3'), null);
  assert.equal(t.roleOf(''), null);
  assert.deepEqual(t.counts, { admin: 1, read: 2 });
});
