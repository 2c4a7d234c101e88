/** keepalived 2.2.7's static track groups as read: `track_group NAME { group { ... } }` and static lines naming them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseKeepalived } from '../../src/config/keepalived.ts';
import { memorySource } from '../../src/config/source.ts';

const read = (text: string) => {
  const r = parseKeepalived('k.conf', memorySource({ 'k.conf': text }));
  return { groups: r.state?.vrrp.trackGroups.map((g) => ({ name: g.name, group: g.group, devs: g.devs })), says: r.diagnostics.map((d) => `${d.line}: ${d.message}`) };
};

test('static addresses, routes and rules naming a track group give its instances their interfaces to track; no_track entries are not tracked', () => {
  const r = read(`track_group TG {
  group {
    VI_1 VI_2
  }
}
static_ipaddress {
  10.0.0.1/24 dev eth1 track_group TG
  10.0.0.2/24 dev eth4 track_group TG no_track
}
static_routes {
  10.1.0.0/16 dev eth2 track_group TG
}
static_rules {
  from 10.2.0.0/16 iif eth3 table 100 priority 10 track_group TG
}
`);
  assert.deepEqual(r.groups, [{ name: 'TG', group: ['VI_1', 'VI_2'], devs: ['eth1', 'eth2', 'eth3'] }]);
  assert.ok(!r.says.some((s) => /not implemented/.test(s)), r.says.join('\n'));
});

test("keepalived's words: a group named before it is defined, a second definition, a group without a name or members", () => {
  const r = read(`static_routes {
  10.1.0.0/16 dev eth2 track_group TG
}
track_group TG {
  group {
  }
}
track_group TG {
}
track_group {
}
`);
  assert.deepEqual(r.says.filter((s) => !s.includes('note')), [
    '2: track_group TG not found',
    '5: Warning - track group TG has empty group block',
    '8: track_group TG already defined',
    '10: track_group must have a name - skipping',
  ]);
});
