import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VrrpMachine, type VrrpMachineConfig, type VrrpAction } from '../../src/ha/vrrp-machine.ts';

const ip = (s: string) => new Uint8Array(s.split('.').map(Number));
const base: VrrpMachineConfig = {
  vrid: 51, priority: 100, version: 2, advertInterval: 1, preempt: true,
  preemptDelay: 0, primaryIp: ip('10.0.0.2'), garpRepeat: 5, garpDelay: 5,
};
const kinds = (a: VrrpAction[]) => a.map((x) => (x.kind === 'state' ? `state:${x.to}` : x.kind === 'send-advert' ? `advert:${x.priority}` : x.kind));

/** A machine that became master at time 0: started one master-down interval before, in silence. */
function masterAtZero(cfg: Partial<VrrpMachineConfig> = {}): VrrpMachine {
  const m = new VrrpMachine({ ...base, ...cfg });
  m.start(-m.masterDownInterval());
  m.tick(0);
  assert.equal(m.state, 'MASTER');
  return m;
}

test('every instance but the address owner starts in BACKUP and is elected by its master-down timer (keepalived 2.2.7 vrrp_init_state)', () => {
  const m = new VrrpMachine({ ...base, priority: 254 });
  assert.deepEqual(kinds(m.start(0)), ['state:BACKUP']);
  assert.equal(m.nextDeadline(), 3 + 2 / 256);
});

test('the address owner (priority 255) is master at once', () => {
  const m = new VrrpMachine({ ...base, priority: 255 });
  assert.deepEqual(kinds(m.start(0)), ['state:MASTER', 'add-vips', 'advert:255', 'garp']);
});

test('the address owner written `state BACKUP` starts in BACKUP and is elected by its master-down timer like the others (keepalived\'s wantstate)', () => {
  const m = new VrrpMachine({ ...base, priority: 255, initialState: 'BACKUP' });
  assert.deepEqual(kinds(m.start(0)), ['state:BACKUP']);
  assert.equal(m.nextDeadline(), 3 + 1 / 256);
});

test('a backup takes over after 3 x advert_int + skew of silence (v2 skew = (256-prio)/256)', () => {
  const m = new VrrpMachine(base);
  assert.deepEqual(kinds(m.start(0)), ['state:BACKUP']);
  const down = 3 * 1 + (256 - 100) / 256;
  assert.equal(m.nextDeadline(), down);
  assert.deepEqual(m.tick(down - 0.001), []);
  assert.deepEqual(kinds(m.tick(down)), ['state:MASTER', 'add-vips', 'advert:100', 'garp']);
});

test('v3 skew and master-down interval scale with the learned master advert interval', () => {
  const m = new VrrpMachine({ ...base, version: 3, advertInterval: 0.1 });
  m.start(0);
  m.receive(0.05, { priority: 150, interval: 0.1, srcIp: ip('10.0.0.9') });
  const down = 0.05 + 3 * 0.1 + (156 * 0.1) / 256;
  assert.ok(Math.abs(m.nextDeadline() - down) < 1e-9);
  assert.ok(m.nextDeadline() - 0.05 < 0.5, 'failover under 0.5 s with 0.1 s adverts');
});

const backupCases: { name: string; cfg: Partial<VrrpMachineConfig>; adv: number; resets: boolean }[] = [
  { name: 'higher priority advert resets the timer', cfg: {}, adv: 150, resets: true },
  { name: 'equal priority advert resets the timer', cfg: {}, adv: 100, resets: true },
  { name: 'lower priority advert is ignored when preempting', cfg: {}, adv: 50, resets: false },
  { name: 'lower priority advert resets the timer with nopreempt', cfg: { preempt: false }, adv: 50, resets: true },
  { name: 'lower priority advert resets the timer during preempt_delay', cfg: { preemptDelay: 10 }, adv: 50, resets: true },
];
for (const c of backupCases) {
  test(`backup: ${c.name}`, () => {
    const m = new VrrpMachine({ ...base, ...c.cfg });
    m.start(0);
    const before = m.nextDeadline();
    m.receive(2, { priority: c.adv, interval: 1, srcIp: ip('10.0.0.9') });
    assert.equal(m.nextDeadline() !== before, c.resets);
  });
}

test('backup: priority 0 advert (master resigning) makes it take over after skew time only', () => {
  const m = new VrrpMachine(base);
  m.start(0);
  m.receive(1, { priority: 0, interval: 1, srcIp: ip('10.0.0.9') });
  assert.equal(m.nextDeadline(), 1 + (256 - 100) / 256);
});

test('master: steps down to a higher priority, and on equal priority to the higher primary address', () => {
  const m = masterAtZero();
  assert.equal(m.state, 'MASTER');
  assert.deepEqual(m.receive(1, { priority: 100, interval: 1, srcIp: ip('10.0.0.1') }), []);
  assert.equal(m.state, 'MASTER');
  assert.deepEqual(kinds(m.receive(1, { priority: 100, interval: 1, srcIp: ip('10.0.0.3') })), ['state:BACKUP', 'del-vips']);
});

test('master: sends adverts every advert_int and a second GARP burst after garp_master_delay', () => {
  const m = masterAtZero();
  assert.deepEqual(kinds(m.tick(1)), ['advert:100']);
  assert.deepEqual(kinds(m.tick(2)), ['advert:100']);
  assert.deepEqual(kinds(m.tick(5)), ['garp', 'advert:100']);
});

test('stop: a master resigns with a priority 0 advert and removes its addresses', () => {
  const m = masterAtZero();
  assert.deepEqual(kinds(m.stop(3)), ['advert:0', 'state:STOP', 'del-vips']);
});

test('fault: a tracked interface going down leaves MASTER and releases addresses; recovery returns to BACKUP', () => {
  const m = masterAtZero();
  assert.deepEqual(kinds(m.setFault(1, 'eth0', true)), ['state:FAULT', 'del-vips']);
  assert.deepEqual(kinds(m.setFault(2, 'eth0', false)), ['state:BACKUP']);
});

test('track_script weight lowers the effective priority and the advertised priority', () => {
  const m = masterAtZero();
  m.setPriorityDelta(-60);
  assert.deepEqual(kinds(m.tick(1)), ['advert:40']);
});
