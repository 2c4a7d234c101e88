// The connection table's maximum and the kernel's defence sysctls reach the engine from the
// daemon's options and show in status (table: entries, tableFull, max, defense); bad values are
// refused with exit 2 naming the option.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startDaemon, REPO, sleep } from './helpers.ts';
import { callDaemon } from '../../src/daemon/protocol.ts';
import { ENTRY_BYTES } from '../../src/daemon/defense.ts';

test('--conn-max and --drop-entry/--drop-packet/--amemthresh/--am-droprate show in status table', async () => {
  const d = await startDaemon(['--no-state', '--workers', '0', '--conn-max', '5000', '--drop-entry', '1', '--drop-packet', '3', '--am-droprate', '7', '--amemthresh', '2048']);
  try {
    await sleep(1200); // one defence round
    const r = (await callDaemon(d.socket, { v: 1, id: 1, op: 'status' })) as unknown as { table: { max: number; entries: number; tableFull: number; defense: { dropEntry: number; dropPacket: number; dropRate: number; availPages: number } } };
    assert.equal(r.table.max, 5000);
    assert.equal(r.table.entries, 0);
    assert.equal(r.table.tableFull, 0);
    // 5,000 free entries at ENTRY_BYTES (512) are 625 pages: under amemthresh 2048, so drop_entry 1 turned on (2).
    assert.deepEqual({ e: r.table.defense.dropEntry, p: r.table.defense.dropPacket, rate: r.table.defense.dropRate, avail: r.table.defense.availPages }, { e: 2, p: 3, rate: 7, avail: (5000 * ENTRY_BYTES) / 4096 });
    assert.equal(ENTRY_BYTES, 512);
  } finally {
    await d.stop();
  }
});

test('bad defence and table values are refused with exit 2 naming the option', () => {
  const cases: [string[], RegExp][] = [
    [['--conn-max', '10'], /--conn-max must be an integer 1024\.\./],
    [['--drop-entry', '4'], /--drop-entry must be 0, 1, 2 or 3 \(the kernel's drop_entry modes\), not '4'/],
    [['--drop-packet', 'x'], /--drop-packet must be 0, 1, 2 or 3/],
    [['--amemthresh', '0'], /--amemthresh must be a number of pages >= 1, not '0'/],
    [['--am-droprate', '0'], /--am-droprate must be an integer >= 1, not '0'/],
  ];
  for (const [argv, re] of cases) {
    const r = spawnSync(process.execPath, [join(REPO, 'bin/tsvs.mjs'), 'daemon', '--no-state', '--socket', '/nonexistent/x.sock', ...argv], { encoding: 'utf8' });
    assert.equal(r.status, 2, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
});
