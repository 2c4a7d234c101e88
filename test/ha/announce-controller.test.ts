// The announcement decision (src/ha/announce/controller.ts): pure, driven by an injected clock.
// A prefix is announced once it has been wanted for the rise time, withdrawn at once on quorum
// loss, drain or stop; quorum follows keepalived's rule (hysteresis), or the health checker's verdict.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AnnounceController, parsePrefix, type AnnounceInput, type ServiceHealth } from '../../src/ha/announce/controller.ts';

const svc = (key: string, vip: string | null, aliveWeight: number, o: Partial<ServiceHealth> = {}): ServiceHealth => ({ key, vip, aliveWeight, quorum: 1, hysteresis: 0, ...o });
const WEB = (w: number, o: Partial<ServiceHealth> = {}) => svc('tcp 10.0.0.100:80', '10.0.0.100', w, o);
const DNS = (w: number) => svc('udp 10.0.0.100:53', '10.0.0.100', w);
const V6 = (w: number) => svc('tcp [fd00:100::100]:80', 'fd00:100::100', w);

function input(now: number, services: readonly ServiceHealth[], o: Partial<AnnounceInput> = {}): AnnounceInput {
  return { now, services, ready: true, draining: false, stopping: false, ...o };
}

describe('announce controller: when a prefix is announced', () => {
  it('each service address becomes a host prefix, announced after the rise time, not before', () => {
    const c = new AnnounceController({ prefixes: [], riseMs: 1000 });
    const s = [WEB(2), V6(1)];
    let d = c.step(input(0, s));
    assert.deepEqual(d.announce, []);
    assert.deepEqual(d.prefixes.map((p) => [p.prefix, p.af, p.announced, p.reason]), [
      ['10.0.0.100/32', 4, false, 'rising (announced in 1000 ms)'],
      ['fd00:100::100/128', 6, false, 'rising (announced in 1000 ms)'],
    ]);
    assert.equal(c.nextChangeIn(400), 600);
    d = c.step(input(999, s));
    assert.equal(d.changed, false);
    d = c.step(input(1000, s));
    assert.deepEqual([d.announce, d.changed], [['10.0.0.100/32', 'fd00:100::100/128'], true]);
    assert.equal(d.prefixes[0]!.since, 1000);
    assert.equal(c.nextChangeIn(1000), null);
    assert.equal(c.step(input(5000, s)).changed, false);
  });

  it('rise 0 announces at the first ready step; nothing before the forwarder is ready', () => {
    const c = new AnnounceController({ prefixes: [], riseMs: 0 });
    assert.deepEqual(c.step(input(0, [WEB(1)], { ready: false })).prefixes.map((p) => p.reason), ['starting']);
    assert.deepEqual(c.step(input(10, [WEB(1)])).announce, ['10.0.0.100/32']);
  });

  // [what happens at t=2000, expected reason] after announcing at t=0 (rise 0)
  const withdrawals: [string, Partial<AnnounceInput>, ServiceHealth[], RegExp][] = [
    ['the last real server of a service goes', {}, [WEB(0), DNS(1)], /^quorum lost: tcp 10\.0\.0\.100:80 \(alive weight 0, quorum 1\)$/],
    ['drain', { draining: true }, [WEB(1), DNS(1)], /^draining$/],
    ['stop', { stopping: true }, [WEB(1), DNS(1)], /^stopping$/],
    ['the service is deleted (no service left on the address)', {}, [], /.*/],
  ];
  for (const [what, o, services, reason] of withdrawals) {
    it(`withdrawn at once when ${what}`, () => {
      const c = new AnnounceController({ prefixes: [], riseMs: 0 });
      assert.deepEqual(c.step(input(0, [WEB(1), DNS(1)])).announce, ['10.0.0.100/32']);
      const d = c.step(input(2000, services, o));
      assert.deepEqual([d.announce, d.changed], [[], true]);
      if (services.length > 0) assert.match(d.prefixes[0]!.reason, reason);
      else assert.deepEqual(d.prefixes, []);
    });
  }

  it('a service that recovers rises again from its recovery (a flap does not flap the route faster than the rise)', () => {
    const c = new AnnounceController({ prefixes: [], riseMs: 1000 });
    c.step(input(0, [WEB(1)]));
    assert.deepEqual(c.step(input(1000, [WEB(1)])).announce, ['10.0.0.100/32']);
    assert.deepEqual(c.step(input(1500, [WEB(0)])).announce, []);
    assert.deepEqual(c.step(input(1600, [WEB(1)])).announce, []);
    assert.deepEqual(c.step(input(2000, [WEB(0)])).announce, []);
    assert.deepEqual(c.step(input(2100, [WEB(1)])).announce, []);
    assert.deepEqual(c.step(input(3099, [WEB(1)])).announce, []);
    assert.deepEqual(c.step(input(3100, [WEB(1)])).announce, ['10.0.0.100/32']);
  });

  it('drain withdraws, resume announces again after the rise', () => {
    const c = new AnnounceController({ prefixes: [], riseMs: 500 });
    c.step(input(0, [WEB(1)]));
    assert.deepEqual(c.step(input(500, [WEB(1)])).announce, ['10.0.0.100/32']);
    assert.deepEqual(c.step(input(600, [WEB(1)], { draining: true })).announce, []);
    assert.deepEqual(c.step(input(700, [WEB(1)])).announce, []);
    assert.deepEqual(c.step(input(1200, [WEB(1)])).announce, ['10.0.0.100/32']);
  });
});

describe('announce controller: quorum', () => {
  it('keepalived\'s rule: lost below quorum - hysteresis (or at 0), gained again at quorum + hysteresis', () => {
    const c = new AnnounceController({ prefixes: [], riseMs: 0 });
    const q = (w: number) => WEB(w, { quorum: 3, hysteresis: 1 });
    const seq: [number, boolean][] = [[4, true], [3, true], [2, true], [1, false], [3, false], [4, true], [0, false]];
    seq.forEach(([w, up], i) => assert.equal(c.step(input(i * 10, [q(w)])).announce.length === 1, up, `alive weight ${w} (step ${i})`));
  });

  it('starts down below quorum + hysteresis', () => {
    const c = new AnnounceController({ prefixes: [], riseMs: 0 });
    assert.deepEqual(c.step(input(0, [WEB(3, { quorum: 3, hysteresis: 1 })])).announce, []);
  });

  it('the health checker\'s own verdict (keepalived.conf) is taken as it is', () => {
    const c = new AnnounceController({ prefixes: [], riseMs: 0 });
    assert.deepEqual(c.step(input(0, [WEB(0, { quorumUp: true })])).announce, ['10.0.0.100/32']);
    assert.deepEqual(c.step(input(1, [WEB(9, { quorumUp: false })])).announce, []);
  });

  it('every service on an address must have its quorum (one down service withdraws the address)', () => {
    const c = new AnnounceController({ prefixes: [], riseMs: 0 });
    assert.deepEqual(c.step(input(0, [WEB(1), DNS(1), V6(1)])).announce, ['10.0.0.100/32', 'fd00:100::100/128']);
    const d = c.step(input(1, [WEB(1), DNS(0), V6(1)]));
    assert.deepEqual(d.announce, ['fd00:100::100/128']);
    assert.match(d.prefixes.find((p) => p.prefix === '10.0.0.100/32')!.reason, /^quorum lost: udp 10\.0\.0\.100:53/);
  });
});

describe('announce controller: explicit prefixes (--bgp-prefix)', () => {
  it('a prefix is gated by the services inside it and by fwmark services; one without any service is never announced', () => {
    const c = new AnnounceController({ prefixes: ['10.0.0.0/24', '10.9.0.0/16'], riseMs: 0 });
    let d = c.step(input(0, [WEB(1), svc('tcp 10.1.0.1:80', '10.1.0.1', 0)]));
    assert.deepEqual(d.announce, ['10.0.0.0/24']);
    assert.equal(d.prefixes.find((p) => p.prefix === '10.9.0.0/16')!.reason, 'no virtual service in it');
    d = c.step(input(1, [WEB(1), svc('fwmark 5', null, 1)]));
    assert.deepEqual(d.announce, ['10.0.0.0/24', '10.9.0.0/16']);
    d = c.step(input(2, [WEB(1), svc('fwmark 5', null, 0)]));
    assert.deepEqual(d.announce, []);
  });

  it('fwmark services alone announce nothing by default (they have no address)', () => {
    const c = new AnnounceController({ prefixes: [], riseMs: 0 });
    assert.deepEqual(c.step(input(0, [svc('fwmark 5', null, 1)])).prefixes, []);
  });
});

describe('parsePrefix', () => {
  const rows: [string, string | null][] = [
    ['10.0.0.100', '10.0.0.100/32'], ['10.0.0.77/24', '10.0.0.0/24'], ['0.0.0.0/0', '0.0.0.0/0'],
    ['fd00:100:0::100', 'fd00:100::100/128'], ['fd00:100::1/64', 'fd00:100::/64'],
    ['10.0.0.1/33', null], ['10.0.0.1/024', null], ['fd00::/129', null], ['host', null], ['10.0.0.1/', null], ['', null],
  ];
  for (const [t, want] of rows) it(`${JSON.stringify(t)} -> ${want}`, () => assert.equal(parsePrefix(t)?.text ?? null, want));
});
