/** scripts/demo.sh end to end (non-interactive: DEMO_EXIT_AFTER=1, random ports, setup skipped). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort, REPO } from './helpers.ts';

test('the demo starts three real servers and a wrr 3/2/1 VIP, lists it and spreads 12 requests 6/4/2, then cleans up', { skip: !process.env['PATH']?.includes('/usr') && 'no PATH' }, async () => {
  let base = await freePort();
  while (base > 65000) base = await freePort();
  const vport = await freePort();
  const out = await new Promise<{ code: number | null; text: string }>((resolve) => {
    const p = spawn('bash', [join(REPO, 'scripts/demo.sh')], { env: { ...process.env, DEMO_EXIT_AFTER: '1', DEMO_SKIP_SETUP: '1', DEMO_PORT: String(vport), DEMO_RS_BASE: String(base) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    p.stdout!.on('data', (d: Buffer) => (text += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (text += d.toString()));
    p.on('exit', (code) => resolve({ code, text }));
  });
  assert.equal(out.code, 0, out.text);
  assert.match(out.text, new RegExp(`TCP  127\\.0\\.0\\.1:${vport} wrr\\n  -> 127\\.0\\.0\\.1:${base} +Masq +3`));
  assert.match(out.text, / 6 rs1\n +4 rs2\n +2 rs3\n/);
  assert.match(out.text, /== stopping the demo/);
});
