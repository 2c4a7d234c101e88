/**
 * How a VRRP instance starts, beside Debian's keepalived 2.2.7 given the same file: each runs alone
 * in a namespace of its own (no other router on its link), both at once. For each way of writing
 * the instance (state MASTER / BACKUP, priority 255 or lower, nopreempt), the same:
 * - state lines in their log, in order, matched by meaning (keepalived's "(VI_1) Entering BACKUP
 *   STATE (init)", tsvs's "VRRP_Instance(VI_1) Entering BACKUP STATE" with reason init);
 * - states its `notify` script is told, in order;
 * - time from the first state to MASTER (the master-down timer, or at once for the address owner),
 *   within a second of keepalived's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, hasAddr, nsExec, sleep, waitFor, keepalivedSkip } from '../helpers/netns.ts';
import { collect } from '../helpers/vrrp-log.ts';

const skip = keepalivedSkip();
if (skip) console.log(`# skipping VRRP start sequence tests: ${skip}`);

const VIP = '10.98.0.100';
const DEV = 't0';

interface Case {
  readonly name: string;
  /** The instance's lines besides interface, router id, advert_int and VIP. */
  readonly body: string;
  /** The log's state lines, in order, once MASTER (keepalived's words). */
  readonly lines: readonly string[];
  /** About how long from the first state line to the last (MASTER), in seconds. */
  readonly toMaster: number;
  /** Its interface down before it starts: it ends in FAULT instead (unless dont_track_primary). */
  readonly linkDown?: boolean;
}

const CASES: Case[] = [
  { name: 'state MASTER, priority 100: BACKUP (init), MASTER after the master-down timer', body: 'state MASTER\n  priority 100', lines: ['(VI_1) Entering BACKUP STATE (init)', '(VI_1) Entering MASTER STATE'], toMaster: 3.6 },
  { name: 'state BACKUP, priority 100: the same', body: 'state BACKUP\n  priority 100', lines: ['(VI_1) Entering BACKUP STATE (init)', '(VI_1) Entering MASTER STATE'], toMaster: 3.6 },
  { name: 'state BACKUP, priority 100, nopreempt: the same (no master to wait for)', body: 'state BACKUP\n  priority 100\n  nopreempt', lines: ['(VI_1) Entering BACKUP STATE (init)', '(VI_1) Entering MASTER STATE'], toMaster: 3.6 },
  { name: 'state MASTER, priority 255 (the address owner): MASTER at once', body: 'state MASTER\n  priority 255', lines: ['(VI_1) Entering MASTER STATE'], toMaster: 0 },
  { name: 'state BACKUP, priority 255: BACKUP (init), MASTER after the master-down timer', body: 'state BACKUP\n  priority 255', lines: ['(VI_1) Entering BACKUP STATE (init)', '(VI_1) Entering MASTER STATE'], toMaster: 3 },
  { name: 'no state, priority 100', body: 'priority 100', lines: ['(VI_1) Entering BACKUP STATE (init)', '(VI_1) Entering MASTER STATE'], toMaster: 3.6 },
  { name: 'its interface down at start: FAULT, not BACKUP first', body: 'state MASTER\n  priority 100', lines: ['(VI_1) Entering FAULT STATE'], toMaster: 0, linkDown: true },
  { name: 'its interface down at start, dont_track_primary: MASTER all the same', body: 'state MASTER\n  priority 100\n  dont_track_primary', lines: ['(VI_1) Entering BACKUP STATE (init)', '(VI_1) Entering MASTER STATE'], toMaster: 3.6, linkDown: true },
];

const conf = (body: string, notify: string) => `vrrp_instance VI_1 {
  ${body}
  interface ${DEV}
  virtual_router_id 68
  advert_int 1
  notify ${notify}
  virtual_ipaddress {
    ${VIP}/24
  }
}
`;

for (const c of CASES) {
  test(`VRRP start, ${c.name}, as keepalived 2.2.7 does`, { skip, timeout: 60_000 }, async () => {
    const lab = new Lab('vss');
    const dir = mkdtempSync(join(tmpdir(), 'tsvs-vss-'));
    try {
      const sides = ['keepalived', 'tsvs'].map((who) => {
        const ns = lab.ns(who === 'keepalived' ? 'ka' : 'tv');
        nsExec(ns, ['ip', 'link', 'add', DEV, 'type', 'veth', 'peer', 'name', `${DEV}p`]);
        nsExec(ns, ['ip', 'addr', 'add', '10.98.0.1/24', 'dev', DEV]);
        for (const x of [`${DEV}p`, ...(c.linkDown ? [] : [DEV])]) nsExec(ns, ['ip', 'link', 'set', x, 'up']);
        const states = join(dir, `${who}.states`);
        const script = join(dir, `${who}.notify`);
        writeFileSync(script, `#!/bin/sh\necho "$3" >> ${states}\n`);
        chmodSync(script, 0o755);
        const f = join(dir, `${who}.conf`);
        writeFileSync(f, conf(c.body, script));
        const p = who === 'keepalived'
          ? lab.spawnIn(ns, 'keepalived', ['-n', '-l', '-P', '-f', f, '-p', join(dir, 'ka.pid'), '-r', join(dir, 'vrrp.pid')])
          : lab.spawnIn(ns, process.execPath, ['bin/tsvs.mjs', 'vrrp', '--keepalived', f]);
        return { who, ns, states, log: collect(p) };
      });
      const notified = (s: typeof sides[0]) => (existsSync(s.states) ? readFileSync(s.states, 'utf8').trim().split('\n').filter(Boolean) : []);
      const final = /Entering (\w+) STATE/.exec(c.lines.at(-1)!)![1]!;
      const done = (s: typeof sides[0]) => s.log.length >= c.lines.length && s.log.at(-1)!.line.includes(`Entering ${final} STATE`) && hasAddr(s.ns, DEV, VIP) === (final === 'MASTER') && notified(s).at(-1) === final;
      const ok = (await waitFor(() => sides.every(done), 15_000, 20)) >= 0;
      const show = (s: typeof sides[0]) => `${s.who}: log ${JSON.stringify(s.log.map((l) => l.line))}, notify ${JSON.stringify(notified(s))}`;
      assert.ok(ok, `both ${final}:\n ${sides.map(show).join('\n ')}`);
      // A while longer: nothing more happens to either.
      await sleep(1500);
      const [ka, tv] = sides as [typeof sides[0], typeof sides[0]];
      assert.deepEqual(ka.log.map((l) => l.line), c.lines, `keepalived's state lines: ${show(ka)}`);
      assert.deepEqual(tv.log.map((l) => l.line), ka.log.map((l) => l.line), `the same state lines:\n ${show(ka)}\n ${show(tv)}`);
      assert.deepEqual(notified(tv), notified(ka), 'the same notify sequence');
      const span = (s: typeof sides[0]) => (s.log.at(-1)!.at - s.log[0]!.at) / 1000;
      console.log(`# ${c.name}: to MASTER keepalived ${span(ka).toFixed(2)} s, tsvs ${span(tv).toFixed(2)} s`);
      assert.ok(Math.abs(span(ka) - c.toMaster) < 1, `keepalived's time to MASTER ${span(ka)} s, about ${c.toMaster}`);
      assert.ok(Math.abs(span(tv) - span(ka)) < 1, `tsvs's time to MASTER ${span(tv)} s vs keepalived's ${span(ka)} s`);
    } finally {
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
