/**
 * The instance's own interface (the primary) going down and coming back, beside Debian's
 * keepalived 2.2.7 given the same file, each alone in a namespace of its own (MASTER: unicast to
 * an address nobody has), on an interface of a veth pair inside that namespace so that one side's
 * link does not touch the other's:
 * - without dont_track_primary the instance tracks its interface: down = FAULT (the VIP goes),
 *   up = BACKUP then MASTER again; so too when its VIP is on another interface (keepalived tracks
 *   the primary itself, not only through the VIPs on it);
 * - with dont_track_primary it stays MASTER through it, the VIP kept (an IPv4 address stays on a
 *   down link), even though its VIP is on that interface.
 * - its interface losing its address (the instance's source; the VIP, a secondary of its subnet,
 *   goes with it) puts it in FAULT, dont_track_primary or not; the address back, BACKUP then MASTER.
 * The states are read from each one's log (every transition, in order; its `notify` script saw
 * the same states, compared as a multiset since two quick forks may append out of order): the same
 * sequence under tsvs as under keepalived, and the same VIP at each step.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, hasAddr, nsExec, sleep, waitFor, keepalivedSkip } from '../helpers/netns.ts';
import { collect } from '../helpers/vrrp-log.ts';

const skip = keepalivedSkip();
if (skip) console.log(`# skipping dont_track_primary tests: ${skip}`);

const VIP = '10.96.0.100';
const DEV = 't0';
/** The interface's own address, the instance's source. */
const OWN = '10.96.0.1/24';

const conf = (dontTrack: boolean, notify: string, vipDev?: string) => `vrrp_instance VI_1 {
  state MASTER
  interface ${DEV}
  virtual_router_id 67
  priority 150
  advert_int 1
${dontTrack ? '  dont_track_primary\n' : ''}  unicast_peer {
    10.96.0.9
  }
  notify ${notify}
  virtual_ipaddress {
    ${VIP}/24${vipDev ? ` dev ${vipDev}` : ''}
  }
}
`;

interface Case {
  readonly name: string;
  readonly dontTrack: boolean;
  /** The states notified after the link went down, and after it came back (the whole sequence so far). */
  readonly down: readonly string[];
  readonly up: readonly string[];
  /** The VIP while the link is down. */
  readonly vipWhileDown: boolean;
  /** The VIP on another interface (the other end of a second veth pair, OTHER). */
  readonly vipElsewhere?: boolean;
  /** What goes and comes back: the interface's link (default), or its address (the instance's source). */
  readonly lose?: 'link' | 'address';
}

const OTHER = 't1';

const CASES: Case[] = [
  {
    name: 'without dont_track_primary, its interface going down puts the instance in FAULT (the VIP goes); back up, BACKUP then MASTER',
    dontTrack: false, down: ['BACKUP', 'MASTER', 'FAULT'], up: ['BACKUP', 'MASTER', 'FAULT', 'BACKUP', 'MASTER'], vipWhileDown: false,
  },
  {
    name: 'without dont_track_primary and the VIP on another interface, its own interface going down still puts the instance in FAULT',
    dontTrack: false, down: ['BACKUP', 'MASTER', 'FAULT'], up: ['BACKUP', 'MASTER', 'FAULT', 'BACKUP', 'MASTER'], vipWhileDown: false, vipElsewhere: true,
  },
  {
    name: 'with dont_track_primary, the instance stays MASTER through its interface going down and up, the VIP kept',
    dontTrack: true, down: ['BACKUP', 'MASTER'], up: ['BACKUP', 'MASTER'], vipWhileDown: true,
  },
  // The interface's address deleted takes the VIP (a secondary of its subnet) with it: BACKUP,
  // then FAULT for want of a source address, dont_track_primary or not; assigned again, BACKUP.
  ...[false, true].map((dontTrack): Case => ({
    name: `${dontTrack ? 'with' : 'without'} dont_track_primary, its interface losing its address puts the instance in FAULT; the address back, BACKUP then MASTER`,
    dontTrack, lose: 'address', down: ['BACKUP', 'MASTER', 'BACKUP', 'FAULT'], up: ['BACKUP', 'MASTER', 'BACKUP', 'FAULT', 'BACKUP', 'MASTER'], vipWhileDown: false,
  })),
];

/** How long a state must hold to count as kept (tsvs polls links each second, keepalived hears netlink). */
const HOLD_MS = 3000;

for (const c of CASES) {
  test(`${c.name}, as keepalived 2.2.7 does`, { skip, timeout: 120_000 }, async () => {
    const lab = new Lab('dtp');
    const dir = mkdtempSync(join(tmpdir(), 'tsvs-dtp-'));
    try {
      const sides = ['keepalived', 'tsvs'].map((who) => {
        const ns = lab.ns(who === 'keepalived' ? 'ka' : 'tv');
        for (const d of [DEV, OTHER]) {
          nsExec(ns, ['ip', 'link', 'add', d, 'type', 'veth', 'peer', 'name', `${d}p`]);
          for (const x of [`${d}p`, d]) nsExec(ns, ['ip', 'link', 'set', x, 'up']);
        }
        nsExec(ns, ['ip', 'addr', 'add', OWN, 'dev', DEV]);
        // keepalived's notify: INSTANCE VI_1 STATE PRIORITY; each state on a line of its own.
        const states = join(dir, `${who}.states`);
        const script = join(dir, `${who}.notify`);
        writeFileSync(script, `#!/bin/sh\necho "$3" >> ${states}\n`);
        chmodSync(script, 0o755);
        const f = join(dir, `${who}.conf`);
        writeFileSync(f, conf(c.dontTrack, script, c.vipElsewhere ? OTHER : undefined));
        return { who, ns, states, f };
      });
      const [ka, tv] = sides as [typeof sides[0], typeof sides[0]];
      const logs = new Map([
        [ka, collect(lab.spawnIn(ka.ns, 'keepalived', ['-n', '-l', '-P', '-f', ka.f, '-p', join(dir, 'ka.pid'), '-r', join(dir, 'vrrp.pid')]))],
        [tv, collect(lab.spawnIn(tv.ns, process.execPath, ['bin/tsvs.mjs', 'vrrp', '--keepalived', tv.f]))],
      ]);
      // The order from each one's log (written in order); the notify script saw every state too
      // (its file, in whatever order two quick forks appended: compared as a multiset).
      const seq = (s: typeof ka) => logs.get(s)!.map((l) => /Entering (\w+) STATE/.exec(l.line)![1]!);
      const notified = (s: typeof ka) => (existsSync(s.states) ? readFileSync(s.states, 'utf8').trim().split('\n').filter(Boolean) : []).sort().join(',');
      const view = (s: typeof ka) => `${seq(s).join(' > ')} | ${hasAddr(s.ns, c.vipElsewhere ? OTHER : DEV, VIP) ? 'VIP' : 'no VIP'}`;
      const both = async (what: string, states: readonly string[], vip: boolean, holdMs = 0) => {
        const want = `${states.join(' > ')} | ${vip ? 'VIP' : 'no VIP'}`;
        const sorted = [...states].sort().join(',');
        const ok = (await waitFor(() => view(ka) === want && view(tv) === want && notified(ka) === sorted && notified(tv) === sorted, 15_000, 50)) >= 0;
        assert.ok(ok, `${what}: want ${want}\n keepalived: ${view(ka)} (notified ${notified(ka)})\n tsvs: ${view(tv)} (notified ${notified(tv)})`);
        if (holdMs) {
          await sleep(holdMs);
          assert.equal(view(ka), want, `${what}: keepalived held`);
          assert.equal(view(tv), want, `${what}: tsvs held`);
        }
      };
      await both('started: MASTER', ['BACKUP', 'MASTER'], true);
      const own = [OWN, 'dev', DEV];
      for (const s of sides) nsExec(s.ns, c.lose === 'address' ? ['ip', 'addr', 'del', ...own] : ['ip', 'link', 'set', DEV, 'down']);
      await both('its interface down', c.down, c.vipWhileDown, HOLD_MS);
      for (const s of sides) nsExec(s.ns, c.lose === 'address' ? ['ip', 'addr', 'add', ...own] : ['ip', 'link', 'set', DEV, 'up']);
      await both('its interface up again', c.up, true, c.dontTrack ? HOLD_MS : 0);
    } finally {
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
