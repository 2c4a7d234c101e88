import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { labUp, labDown, curlFromClient, labNs, LAB, readLabState } from '../../src/lab/topology.ts';
import { listNetns, alive } from '../../src/lab/netns.ts';

const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root (network namespaces, AF_PACKET)';

for (const mode of ['dr', 'nat', 'tun'] as const) {
  test(`lab ${mode}: curl through the packet forwarder alternates test1/test2, the real server sees the client, 10 MiB arrive intact, down leaves nothing`, { skip, timeout: 120_000 }, async () => {
    const prefix = `tsvs-t${process.pid}${mode}`;
    try {
      const st = await labUp(mode, { prefix });
      const bodies = curlFromClient(prefix, 4);
      assert.equal(new Set(bodies).size, 2, `both servers answered: ${bodies.join(',')}`);
      for (let i = 1; i < bodies.length; i++) assert.notEqual(bodies[i], bodies[i - 1], `alternation: ${bodies.join(',')}`);
      assert.ok(bodies.every((b) => b === 'test1' || b === 'test2'), bodies.join(','));
      const who = curlFromClient(prefix, 1, '/whoami')[0]!;
      assert.match(who, new RegExp(` ${LAB.client.replace(/\./g, '\\.')}$`), `real server saw the client's address: ${who}`);
      const big = execFileSync('ip', ['netns', 'exec', labNs(prefix).client, 'curl', '-s', '-m', '20', `http://${LAB.vip}/big`], { maxBuffer: 64 << 20 });
      const want = Buffer.alloc(10 * 1024 * 1024);
      for (let i = 0; i < want.length; i++) want[i] = (i * 31 + 7) & 255;
      assert.equal(big.length, want.length);
      assert.equal(createHash('sha256').update(big).digest('hex'), createHash('sha256').update(want).digest('hex'));
      const pids = [...st.pids];
      const r = await labDown(prefix);
      assert.equal(r.namespaces.length, 5);
      assert.deepEqual(listNetns().filter((n) => n.startsWith(prefix)), []);
      for (const p of pids) assert.equal(alive(p), false, `pid ${p} stopped`);
      assert.equal(readLabState(prefix), null);
    } finally {
      await labDown(prefix);
    }
  });
}
