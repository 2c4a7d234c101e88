// Engine.scheduleAhead / processPacket(..., ahead): decisions made before the connection arrives
// (the proxy's relay workers connect without a round trip to the engine).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rig, svcKey, ip, flags } from './engine-rig.ts';
import type { RtDest } from '../../src/core/scheduler.ts';

const VIP = '10.0.0.1:80';
const key = svcKey('tcp', '10.0.0.1', 80);

function rig(o: Record<string, unknown> = {}, dests: [string, number, Record<string, unknown>?][] = [['10.1.0.1', 1], ['10.1.0.2', 1]]): Rig {
  const r = new Rig();
  r.service(key, { scheduler: 'rr', ...o });
  for (const [a, w, x] of dests) r.dest(key, a, 80, 'masq', { weight: w, ...x });
  return r.at(1);
}

/** A SYN from client:port bound to `ahead`. */
function synAhead(r: Rig, client: string, ahead: RtDest) {
  const [a, p] = client.split(':');
  return r.e.processPacket({ dir: 'in', af: 4, protocol: 'tcp', saddr: ip(a!), sport: Number(p), daddr: ip('10.0.0.1'), dport: 80, tcpFlags: flags('S'), bytes: 60, mark: 0 }, undefined, ahead);
}

describe('engine: decisions ahead for rr and wrr', () => {
  it('rr hands out destinations in its own order, and connections opened on them are bound to them', () => {
    const r = rig();
    const ahead = [0, 1, 2, 3].map(() => r.e.scheduleAhead(key)!);
    // rr starts after the last destination added (kernel list order: newest first).
    assert.deepEqual(ahead.map((d) => d.addr), ['10.1.0.2', '10.1.0.1', '10.1.0.2', '10.1.0.1']);
    ahead.forEach((d, i) => {
      const v = synAhead(r, `192.0.2.9:${1000 + i}`, d);
      assert.equal(v.action, 'forward');
      assert.equal(v.dest!.addr, d.addr);
    });
    assert.deepEqual(r.dests(key).map((d) => d.active + d.inact), [2, 2]);
    assert.equal(r.e.service(key)!.stats.conns, 4);
    // A connection asked for normally continues the same rr sequence.
    assert.equal(r.in('tcp', '192.0.2.9:2000', VIP, 'S').dest!.addr, '10.1.0.2');
  });

  it('wrr 3:1 ahead gives the weight-3 server 6 of 8', () => {
    const r = rig({ scheduler: 'wrr' }, [['10.1.0.1', 3], ['10.1.0.2', 1]]);
    const got = Array.from({ length: 8 }, () => r.e.scheduleAhead(key)!.addr);
    assert.equal(got.filter((a) => a === '10.1.0.1').length, 6, got.join(','));
  });

  const ineligible: [string, Record<string, unknown>, [string, number, Record<string, unknown>?][]?][] = [
    ['lc (depends on live counts)', { scheduler: 'lc' }],
    ['persistence (depends on the client)', { flags: 0x1, timeout: 300 }],
    ['a threshold on a destination', {}, [['10.1.0.1', 1, { uThreshold: 10 }], ['10.1.0.2', 1]]],
  ];
  for (const [what, o, d] of ineligible) {
    it(`no decision ahead with ${what}`, () => {
      const r = rig(o, d);
      assert.equal(r.e.scheduleAhead(key), null);
    });
  }

  it('no decision ahead when every destination has weight 0', () => {
    const r = rig({}, [['10.1.0.1', 0]]);
    assert.equal(r.e.scheduleAhead(key), null);
  });

  it('a destination deleted after it was handed out: the connection is rejected, nothing is created', () => {
    const r = rig();
    const d = r.e.scheduleAhead(key)!;
    r.ok(r.e.apply({ kind: 'delete-dest', key, af: 4, addr: d.addr, port: 80 }));
    const v = synAhead(r, '192.0.2.9:1000', d);
    assert.equal(v.action, 'reject');
    assert.equal(r.e.connections().length, 0);
  });

  it('a destination quiesced (weight 0) after it was handed out still takes the connection it was chosen for', () => {
    const r = rig();
    const d = r.e.scheduleAhead(key)!;
    r.ok(r.e.apply({ kind: 'edit-dest', key, dest: { af: 4, addr: d.addr, port: 80, fwd: 'masq', weight: 0, uThreshold: 0, lThreshold: 0, tunType: 'ipip', tunPort: 0, tunCsum: 'nocsum' } }));
    assert.equal(synAhead(r, '192.0.2.9:1000', d).dest!.addr, d.addr);
  });

  it('a reused client port makes a new connection on the destination chosen ahead, whatever the old entry held', () => {
    const r = rig();
    const first = r.in('tcp', '192.0.2.9:1000', VIP, 'S').dest!.addr;
    r.in('tcp', '192.0.2.9:1000', VIP, 'A');
    r.in('tcp', '192.0.2.9:1000', VIP, 'FA');
    let d = r.e.scheduleAhead(key)!;
    if (d.addr === first) d = r.e.scheduleAhead(key)!;
    const v = synAhead(r, '192.0.2.9:1000', d);
    assert.equal(v.dest!.addr, d.addr);
    assert.equal(v.isNew, true);
    assert.equal(r.e.service(key)!.stats.conns, 2);
  });
});
