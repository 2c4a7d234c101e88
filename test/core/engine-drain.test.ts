/** Engine.setDestQuiesced: a drained destination's persistence templates stop sending clients to it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SVC_F } from '../../src/core/types.ts';
import { Rig, svcKey, destSpec } from './engine-rig.ts';

const VIP = '10.0.0.1:80';

function setup() {
  const key = svcKey('tcp', '10.0.0.1', 80);
  const r = new Rig().service(key, { scheduler: 'rr', flags: SVC_F.PERSISTENT, timeout: 360 });
  r.dest(key, '192.168.10.1', 80).dest(key, '192.168.10.2', 80);
  const first = r.in('tcp', '172.16.5.77:1000', VIP, 'S');
  const home = first.dest!.addr;
  const other = home === '192.168.10.1' ? '192.168.10.2' : '192.168.10.1';
  r.ok(r.e.apply({ kind: 'edit-dest', key, dest: destSpec(home, 80, 'masq', { weight: 0 }) }));
  return { r, key, home, other };
}

test('weight 0 alone: the client\'s template still sends new connections to its server (expire_quiescent_template=0, as the kernel)', () => {
  const { r, home } = setup();
  assert.equal(r.in('tcp', '172.16.5.77:1001', VIP, 'S').dest!.addr, home);
});

test('quiesced at weight 0: the template is not used, the client goes to another server', () => {
  const { r, key, home, other } = setup();
  assert.equal(r.e.setDestQuiesced(key, 4, home, 80, true), null);
  assert.equal(r.in('tcp', '172.16.5.77:1002', VIP, 'S').dest!.addr, other);
  // Unset: templates made meanwhile point to the other server; the old one is gone.
  assert.equal(r.e.setDestQuiesced(key, 4, home, 80, false), null);
  assert.equal(r.in('tcp', '172.16.5.77:1003', VIP, 'S').dest!.addr, other);
});

test('quiescing answers like the other destination calls: ESRCH, ENOENT, EINVAL', () => {
  const { r, key } = setup();
  assert.equal(r.e.setDestQuiesced(svcKey('tcp', '10.9.9.9', 80), 4, '192.168.10.1', 80, true), 'ESRCH');
  assert.equal(r.e.setDestQuiesced(key, 4, '192.168.10.9', 80, true), 'ENOENT');
  assert.equal(r.e.setDestQuiesced(key, 4, 'not-an-ip', 80, true), 'EINVAL');
});
