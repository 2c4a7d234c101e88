// Several active directors (docs/SCALE-OUT.md): each is an engine with the same rules; a flow that
// started on one reaches another mid-stream (ECMP moved it). With mh + sloppy_tcp the other
// director schedules the mid-stream packet to the real server the first one chose; when the real
// server set changed meanwhile, only the flows whose mh slot moved go elsewhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rig, svcKey } from './engine-rig.ts';
import { SVC_F } from '../../src/core/types.ts';

const VIP = '10.0.0.100:80';
const key = svcKey('tcp', '10.0.0.100', 80);
const RS = ['192.168.10.11', '192.168.10.12', '192.168.10.13'];

/** A director: mh (with mh-port: one client's connections spread too), DR real servers added in order. */
function director(reals: readonly string[], sloppy: boolean, flags: number = SVC_F.SCHED2): Rig {
  const r = new Rig({ sysctl: { sloppy_tcp: sloppy ? 1 : 0 } }).service(key, { scheduler: 'mh', flags });
  for (const a of reals) r.dest(key, a, 80, 'route');
  return r;
}

/** 300 client flows from a few addresses and many ports. */
const FLOWS = Array.from({ length: 300 }, (_, i) => `172.16.${i % 3}.${2 + (i % 7)}:${20000 + i * 13}`);

/** Where each flow's SYN goes on `r` (opens the connection). */
function synPicks(r: Rig): string[] {
  return FLOWS.map((c) => {
    const v = r.in('tcp', c, VIP, 'S');
    assert.equal(v.action, 'forward');
    return v.dest!.addr;
  });
}

test('a mid-stream ACK on another director (sloppy_tcp, mh) goes to the real server the first director chose, for every flow', () => {
  const a = director(RS.slice(0, 2), true), b = director(RS.slice(0, 2), true);
  const first = synPicks(a);
  assert.ok(new Set(first).size === 2, 'mh-port spreads one client over both real servers');
  FLOWS.forEach((c, i) => {
    const v = b.in('tcp', c, VIP, 'A');
    assert.equal(v.action, 'forward', c);
    assert.equal(v.isNew, true);
    assert.equal(v.dest!.addr, first[i], c);
    assert.equal(v.fwd, 'route');
    assert.equal(v.state, 'ESTABLISHED');
    // The connection now exists on b: later packets follow it.
    assert.equal(b.in('tcp', c, VIP, 'PA').dest!.addr, first[i]);
  });
});

test('without sloppy_tcp the other director passes mid-stream packets (the flow breaks there)', () => {
  const a = director(RS.slice(0, 2), true), b = director(RS.slice(0, 2), false);
  synPicks(a);
  for (const c of FLOWS.slice(0, 20)) {
    const v = b.in('tcp', c, VIP, 'A');
    assert.deepEqual([v.action, v.reason], ['pass', 'no-conn']);
  }
});

test('a RST mid-stream never creates a connection, sloppy or not', () => {
  const b = director(RS.slice(0, 2), true);
  assert.deepEqual([b.in('tcp', FLOWS[0]!, VIP, 'R').action, b.in('tcp', FLOWS[1]!, VIP, 'RA').action], ['pass', 'pass']);
  assert.equal(b.e.connections().length, 0);
});

test('with a real server added meanwhile, exactly the flows whose mh slot moved go elsewhere, and only to the new server', () => {
  const a = director(RS.slice(0, 2), true);
  const before = synPicks(a);
  // b has the third real server (the set changed while the flows ran on a)
  const b = director(RS, true);
  const after = synPicks(director(RS, true));
  const moved = FLOWS.filter((_, i) => before[i] !== after[i]);
  FLOWS.forEach((c, i) => assert.equal(b.in('tcp', c, VIP, 'A').dest!.addr, after[i]));
  // Maglev's promise: the new server takes its share from the others, nothing else moves.
  for (const [i] of FLOWS.entries()) if (before[i] !== after[i]) assert.equal(after[i], RS[2]);
  assert.ok(moved.length > 300 / 6 && moved.length < 300 / 2, `moved ${moved.length} of 300 (about a third)`);
  // Flows b already carries keep their real server when the set changes again (the connection table wins).
  b.ok(b.e.apply({ kind: 'delete-dest', key, af: 4, addr: RS[2]!, port: 80 }));
  b.ok(b.e.apply({ kind: 'add-dest', key, dest: { af: 4, addr: '192.168.10.14', port: 80, fwd: 'route', weight: 1, uThreshold: 0, lThreshold: 0, tunType: 'ipip', tunPort: 0, tunCsum: 'nocsum' } }));
  FLOWS.forEach((c, i) => {
    if (after[i] !== RS[2]) assert.equal(b.in('tcp', c, VIP, 'A').dest!.addr, after[i]);
  });
});

test('the mh table depends on the order real servers were added: directors must add them in the same order', () => {
  const a = director(RS, true), b = director([...RS].reverse(), true);
  const pa = synPicks(a), pb = synPicks(b);
  // Same set, different list order: Maglev's round-robin fill gives a different table.
  assert.ok(pa.some((x, i) => x !== pb[i]), 'some flows land elsewhere');
  // Weight 0 (keepalived inhibit_on_failure, ldirectord quiescent) keeps the order and the slots;
  // with mh-fallback the failed server's flows fall back, the others stay where they were.
  const c = director(RS, true, SVC_F.SCHED1 | SVC_F.SCHED2);
  const pc = synPicks(c);
  c.ok(c.e.apply({ kind: 'edit-dest', key, dest: { af: 4, addr: RS[0]!, port: 80, fwd: 'route', weight: 0, uThreshold: 0, lThreshold: 0, tunType: 'ipip', tunPort: 0, tunCsum: 'nocsum' } }));
  const d = director(RS, true, SVC_F.SCHED1 | SVC_F.SCHED2);
  d.ok(d.e.apply({ kind: 'edit-dest', key, dest: { af: 4, addr: RS[0]!, port: 80, fwd: 'route', weight: 0, uThreshold: 0, lThreshold: 0, tunType: 'ipip', tunPort: 0, tunCsum: 'nocsum' } }));
  FLOWS.forEach((f, i) => {
    const v = d.in('tcp', f, VIP, 'A');
    if (pc[i] !== RS[0]) assert.equal(v.dest!.addr, pc[i], f);
    else assert.notEqual(v.dest!.addr, RS[0]);
  });
});
