// The decisions-ahead policy (src/dataplane/ahead.ts): which services get a ring, what drops the
// decisions waiting in one, when and how far rings are refilled -- over a real Engine, with rings
// that are plain arrays (the policy decides; the forwarders' rings only store).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rig, destSpec, svcKey, svcSpec } from '../core/engine-rig.ts';
import { decidesAhead, type RtDest } from '../../src/core/scheduler.ts';
import { serviceKeyString } from '../../src/core/service-key.ts';
import { SVC_F, type DestSpec, type ServiceKey, type ServiceSnapshot, type ServiceSpec } from '../../src/core/types.ts';
import { AheadRings, aheadSignature, kernelEligible, proxyEligible, wantsRefill, type AheadStore } from '../../src/dataplane/ahead.ts';

/** A service snapshot as the engine lists it, built by a real engine. */
function snapshot(o: Partial<ServiceSpec> = {}, dests: Partial<DestSpec>[] = [{}], key = svcKey('tcp', '10.0.0.1', 80)): ServiceSnapshot {
  const r = new Rig().service(key, { scheduler: 'rr', ...o });
  dests.forEach((d, i) => r.dest(key, d.addr ?? `10.1.0.${i + 1}`, 80, d.fwd ?? 'route', d));
  return r.e.service(key)!;
}

describe('decisions ahead: eligibility', () => {
  const reachable = (addr: string): boolean => addr !== '10.1.0.99';
  // [what, service, dests, key, engine decides ahead, proxy rings, kernel rings (XDP), kernel rings (tc: NAT and IPIP/GRE tunnels too) when it differs]
  const rows: [string, Partial<ServiceSpec>, Partial<DestSpec>[], ServiceKey | undefined, boolean, boolean, boolean, boolean?][] = [
    ['rr, DR destinations with next hops', {}, [{}, {}], undefined, true, true, true],
    ['wrr', { scheduler: 'wrr' }, [{ weight: 3 }, {}], undefined, true, true, true],
    ['rr, NAT destinations', {}, [{ fwd: 'masq' }], undefined, true, true, false, true],
    ['rr, one NAT among DR', {}, [{}, { fwd: 'masq' }], undefined, true, true, false, true],
    ['rr, a NAT destination without next hop', {}, [{ fwd: 'masq' }, { fwd: 'masq', addr: '10.1.0.99' }], undefined, true, true, false],
    ['rr, an IPIP tunnel destination', {}, [{ fwd: 'tunnel' }], undefined, true, true, false, true],
    ['rr, a GRE tunnel without checksum (the program builds it; user space keeps GRE for now)', {}, [{ fwd: 'tunnel', tunType: 'gre' }], undefined, true, true, false],
    ['rr, a GRE tunnel with checksum', {}, [{ fwd: 'tunnel', tunType: 'gre', tunCsum: 'csum' }], undefined, true, true, false],
    ['rr, a GUE tunnel', {}, [{ fwd: 'tunnel', tunType: 'gue', tunPort: 6080 }], undefined, true, true, false],
    ['rr, no destination', {}, [], undefined, true, true, false],
    ['rr, a DR destination without next hop', {}, [{}, { addr: '10.1.0.99' }], undefined, true, true, false],
    ['lc (live counts)', { scheduler: 'lc' }, [{}], undefined, false, false, false],
    ['wlc', { scheduler: 'wlc' }, [{}], undefined, false, false, false],
    ['sh (hashes the client)', { scheduler: 'sh' }, [{}], undefined, false, false, false],
    ['persistence', { flags: SVC_F.PERSISTENT, timeout: 300 }, [{}], undefined, false, false, false],
    ['one-packet scheduling', { flags: SVC_F.ONEPACKET }, [{}], svcKey('udp', '10.0.0.1', 53), false, false, false],
    ['an upper threshold', {}, [{ uThreshold: 10 }], undefined, false, false, false],
    ['a lower threshold', {}, [{}, { uThreshold: 5, lThreshold: 2 }], undefined, false, false, false],
    ['UDP', {}, [{}], svcKey('udp', '10.0.0.1', 53), true, false, true],
    ['IPv6', {}, [{ addr: '2001:db8::2', fwd: 'masq' }], svcKey('tcp', '2001:db8::1', 80), true, true, false],
    ['a firewall mark', {}, [{}], svcKey('tcp', '0.0.0.0', 0, 7), false, false, false],
  ];
  for (const [what, o, dests, key, engine, proxy, kernel, tc = kernel] of rows) {
    it(`${what}: engine ${engine ? 'yes' : 'no'}, proxy ${proxy ? 'yes' : 'no'}, kernel ${kernel ? 'yes' : 'no'} (tc ${tc ? 'yes' : 'no'})`, () => {
      const s = snapshot(o, dests, key);
      assert.equal(decidesAhead(s.scheduler, s.fwmark, s.flags, s.dests), engine, 'decidesAhead');
      assert.equal(proxyEligible(s), proxy, 'proxyEligible');
      assert.equal(kernelEligible(s, reachable), kernel, 'kernelEligible');
      assert.equal(kernelEligible(s, reachable, true), tc, 'kernelEligible on tc');
    });
  }

  // IPv6 services when the kernel program takes IPv6 decisions (kernelEligible's `ipv6`): DR, and NAT on tc; no IPv6 tunnel.
  const rows6: [string, Partial<DestSpec>[], boolean, boolean][] = [
    ['IPv6 DR', [{ addr: '2001:db8::2' }, { addr: '2001:db8::3' }], true, true],
    ['IPv6 NAT', [{ addr: '2001:db8::2', fwd: 'masq' }], false, true],
    ['IPv6 NAT without next hop', [{ addr: '2001:db8::2', fwd: 'masq' }, { addr: '2001:db8::99', fwd: 'masq' }], false, false],
    ['IPv6 IPIP tunnel', [{ addr: '2001:db8::2', fwd: 'tunnel' }], false, false],
  ];
  for (const [what, dests, xdp, tc] of rows6) {
    it(`${what}: kernel (IPv6 rings) ${xdp ? 'yes' : 'no'}, tc ${tc ? 'yes' : 'no'}; never without the IPv6 rings`, () => {
      const s = snapshot({}, dests.map((d) => ({ ...d, af: 6 as const })), svcKey('tcp', '2001:db8::1', 80));
      const reach6 = (addr: string): boolean => addr !== '2001:db8::99';
      assert.equal(kernelEligible(s, reach6, false, true), xdp);
      assert.equal(kernelEligible(s, reach6, true, true), tc);
      assert.equal(kernelEligible(s, reach6, true, false), false);
    });
  }

  it('the engine gives no decision ahead exactly where decidesAhead says no', () => {
    for (const [what, o, dests, key, engine] of rows) {
      if (dests.length === 0) continue;
      const k = key ?? svcKey('tcp', '10.0.0.1', 80);
      const r = new Rig().service(k, { scheduler: 'rr', ...o });
      dests.forEach((d, i) => r.dest(k, d.addr ?? `10.1.0.${i + 1}`, 80, d.fwd ?? 'route', d));
      assert.equal(r.e.scheduleAhead(k) !== null, engine, what);
    }
  });
});

describe('decisions ahead: the signature a ring was filled under', () => {
  const base = snapshot({}, [{ weight: 1 }, { weight: 2 }]);
  // [what, changed service, drops what waits]
  const rows: [string, ServiceSnapshot, boolean][] = [
    ['the same rules', snapshot({}, [{ weight: 1 }, { weight: 2 }]), false],
    ['traffic counted', { ...base, stats: { ...base.stats, conns: 99, inpkts: 1000 }, dests: base.dests.map((d) => ({ ...d, activeConns: 5 })) }, false],
    ['a persistence timeout edited while not persistent', { ...base, timeout: 600 }, false],
    ['a weight', snapshot({}, [{ weight: 1 }, { weight: 3 }]), true],
    ['a destination added', snapshot({}, [{ weight: 1 }, { weight: 2 }, {}]), true],
    ['a destination removed', snapshot({}, [{ weight: 1 }]), true],
    ['the scheduler', snapshot({ scheduler: 'wrr' }, [{ weight: 1 }, { weight: 2 }]), true],
    ['a flag', snapshot({ flags: SVC_F.SCHED1 }, [{ weight: 1 }, { weight: 2 }]), true],
    ['a method', snapshot({}, [{ weight: 1 }, { weight: 2, fwd: 'masq' }]), true],
    ['a tunnel type', snapshot({}, [{ weight: 1 }, { weight: 2, fwd: 'tunnel', tunType: 'gue', tunPort: 6080 }]), true],
  ];
  for (const [what, s, drops] of rows) {
    it(`${what}: ${drops ? 'drops' : 'keeps'} what waits`, () => {
      assert.equal(aheadSignature(s) !== aheadSignature(base), drops);
    });
  }
});

describe('decisions ahead: refill', () => {
  const rows: [number, number, boolean][] = [[0, 8, true], [3, 8, true], [4, 8, false], [8, 8, false], [127, 256, true], [128, 256, false]];
  for (const [waiting, capacity, want] of rows) {
    it(`${waiting} of ${capacity} waiting: ${want ? 'refill' : 'not yet'}`, () => assert.equal(wantsRefill(waiting, capacity), want));
  }
});

/** A ring: the decisions as "addr:port" texts. */
interface ArrayRing { readonly key: string; readonly items: string[] }

/** Rings as arrays; `slots` rings left in the store (a bounded map); a push that can refuse; a log of what the policy did. */
class ArrayStore implements AheadStore<ArrayRing> {
  readonly log: string[] = [];
  refuse: (dest: RtDest) => boolean = () => false;
  constructor(readonly capacity: number, private slots = Infinity) {}
  open(key: ServiceKey): ArrayRing | null {
    if (this.slots === 0) return null;
    this.slots--;
    this.log.push(`open ${key.addr}`);
    return { key: key.addr, items: [] };
  }
  waiting(r: ArrayRing): number {
    return r.items.length;
  }
  push(r: ArrayRing, d: RtDest, key: ServiceKey): boolean {
    if (this.refuse(d)) return false;
    r.items.push(`${d.addr}:${d.port || key.port}`);
    return true;
  }
  drop(r: ArrayRing): void {
    this.log.push(`drop ${r.key} (${r.items.length})`);
    r.items.length = 0;
  }
  close(r: ArrayRing): void {
    this.slots++;
    this.log.push(`close ${r.key}`);
  }
  refilling(r: ArrayRing): void {
    this.log.push(`refill ${r.key} (${r.items.length})`);
  }
}

function rig(capacity = 4, slots = Infinity) {
  const r = new Rig();
  const a = svcKey('tcp', '10.0.0.1', 80), b = svcKey('tcp', '10.0.0.2', 80), c = svcKey('tcp', '10.0.0.3', 80);
  r.service(a, { scheduler: 'rr' }).dest(a, '10.1.0.1', 0).dest(a, '10.1.0.2', 8080);
  r.service(b, { scheduler: 'wlc' }).dest(b, '10.1.0.1', 80);
  r.service(c, { scheduler: 'wrr' }).dest(c, '10.1.0.3', 80, 'masq', { weight: 3 }).dest(c, '10.1.0.4', 80);
  const store = new ArrayStore(capacity, slots);
  const rings = new AheadRings(store, r.e, proxyEligible);
  const ring = (k: ServiceKey): string[] | undefined => [...rings.entries()].find(([x]) => x === serviceKeyString(k))?.[1].items;
  return { r, a, b, c, store, rings, ring };
}

describe('decisions ahead: the rings of a forwarder (AheadRings)', () => {
  it('sync gives the eligible services a ring filled in the engine\'s order, port 0 as the service\'s', () => {
    const { r, a, b, c, rings, ring, store } = rig();
    rings.sync(r.e.services());
    assert.equal(rings.size, 2);
    assert.equal(ring(b), undefined, 'wlc has no ring');
    assert.deepEqual(ring(a), ['10.1.0.2:8080', '10.1.0.1:80', '10.1.0.2:8080', '10.1.0.1:80']);
    // wrr 3:1: any four consecutive choices are one round.
    assert.equal(ring(c)!.filter((x) => x === '10.1.0.3:80').length, 3, ring(c)!.join());
    assert.deepEqual(store.log, ['open 10.0.0.1', 'open 10.0.0.3', 'refill 10.0.0.1 (0)', 'refill 10.0.0.3 (0)']);
    // The engine's next choice continues after the ring's.
    assert.equal(r.e.scheduleAhead(a)!.addr, '10.1.0.2');
  });

  it('refills a ring only once under half full, then up to its capacity', () => {
    const { r, a, rings, ring, store } = rig(4);
    rings.sync(r.e.services());
    ring(a)!.splice(0, 2); // two taken: half full
    assert.equal(rings.refill(), 0);
    ring(a)!.splice(0, 1); // under half
    store.log.length = 0;
    assert.equal(rings.refill(), 3);
    assert.equal(ring(a)!.length, 4);
    assert.deepEqual(store.log, ['refill 10.0.0.1 (1)']);
  });

  it('a refill stops where the ring refuses (a next hop gone) or the engine has no destination', () => {
    const { r, a, rings, ring, store } = rig(4);
    store.refuse = (d) => d.addr === '10.1.0.1';
    rings.sync(r.e.services());
    assert.deepEqual(ring(a), ['10.1.0.2:8080']);
    r.ok(r.e.apply({ kind: 'edit-dest', key: a, dest: destSpec('10.1.0.2', 8080, 'masq', { weight: 0 }) }));
    r.ok(r.e.apply({ kind: 'edit-dest', key: a, dest: destSpec('10.1.0.1', 0, 'masq', { weight: 0 }) }));
    store.refuse = () => false;
    ring(a)!.length = 0;
    assert.equal(rings.refill(), 0, 'every weight 0: no destination');
  });

  // [what, rule change, what the policy does to the rings, rings left]
  const changes: [string, (x: ReturnType<typeof rig>) => void, string[], number][] = [
    ['a weight changed: what waits is dropped, the ring refilled', (x) => x.r.ok(x.r.e.apply({ kind: 'edit-dest', key: x.a, dest: destSpec('10.1.0.1', 0, 'masq', { weight: 5 }) })), ['drop 10.0.0.1 (4)', 'refill 10.0.0.1 (0)'], 2],
    ['another service changed: this ring keeps what waits', (x) => x.r.ok(x.r.e.apply({ kind: 'edit-dest', key: x.c, dest: destSpec('10.1.0.4', 80, 'masq', { weight: 7 }) })), ['drop 10.0.0.3 (4)', 'refill 10.0.0.3 (0)'], 2],
    ['a service that is not eligible changed: nothing', (x) => x.r.ok(x.r.e.apply({ kind: 'edit-dest', key: x.b, dest: destSpec('10.1.0.1', 80, 'masq', { weight: 7 }) })), [], 2],
    ['the service became lc: its ring goes', (x) => x.r.ok(x.r.e.apply({ kind: 'edit-service', svc: svcSpec(x.a, { scheduler: 'lc' }) })), ['drop 10.0.0.1 (4)', 'close 10.0.0.1'], 1],
    ['the service was deleted: its ring goes', (x) => x.r.ok(x.r.e.apply({ kind: 'delete-service', key: x.a })), ['drop 10.0.0.1 (4)', 'close 10.0.0.1'], 1],
    ['a threshold was set: its ring goes', (x) => x.r.ok(x.r.e.apply({ kind: 'edit-dest', key: x.a, dest: destSpec('10.1.0.1', 0, 'masq', { uThreshold: 3 }) })), ['drop 10.0.0.1 (4)', 'close 10.0.0.1'], 1],
    ['the wlc service became rr: it gets a ring', (x) => x.r.ok(x.r.e.apply({ kind: 'edit-service', svc: svcSpec(x.b, { scheduler: 'rr' }) })), ['open 10.0.0.2', 'refill 10.0.0.2 (0)'], 3],
    ['counters only (traffic): nothing', (x) => { x.r.in('tcp', '192.0.2.1:1000', '10.0.0.1:80', 'S'); }, [], 2],
  ];
  for (const [what, change, log, size] of changes) {
    it(what, () => {
      const x = rig();
      x.rings.sync(x.r.e.services());
      x.store.log.length = 0;
      change(x);
      x.rings.sync(x.r.e.services());
      assert.deepEqual(x.store.log, log);
      assert.equal(x.rings.size, size);
    });
  }

  it('a bounded store: services beyond its rings get none until one is freed', () => {
    const { r, a, c, rings, ring } = rig(4, 1);
    rings.sync(r.e.services());
    assert.equal(rings.size, 1);
    assert.equal(ring(c), undefined);
    r.ok(r.e.apply({ kind: 'delete-service', key: a }));
    rings.sync(r.e.services());
    assert.equal(rings.size, 1);
    assert.equal(ring(c)!.length, 4);
  });

  it('clear closes every ring', () => {
    const { r, rings, store } = rig();
    rings.sync(r.e.services());
    store.log.length = 0;
    rings.clear();
    assert.deepEqual(store.log, ['drop 10.0.0.1 (4)', 'close 10.0.0.1', 'drop 10.0.0.3 (4)', 'close 10.0.0.3']);
    assert.equal(rings.size, 0);
  });
});
