/** scripts/demo.sh end to end (non-interactive: DEMO_EXIT_AFTER=1, random ports, setup skipped). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { REPO } from './helpers.ts';

/**
 * n consecutive free ports below the ephemeral range (32768+): ports the kernel hands out for
 * outgoing connections can sit in TIME_WAIT after heavy loopback traffic and break the demo's
 * fixed consecutive real-server ports.
 */
async function consecutiveFreePorts(n: number): Promise<number> {
  const bindable = (port: number) => new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
  for (;;) {
    const base = 20000 + Math.floor(Math.random() * 12000);
    let ok = true;
    for (let i = 0; i < n && ok; i++) ok = await bindable(base + i);
    if (ok) return base;
  }
}

test('the demo starts three real servers and a wrr 3/2/1 VIP, lists it and spreads 12 requests 6/4/2, then cleans up', { skip: !process.env['PATH']?.includes('/usr') && 'no PATH' }, async () => {
  const base = await consecutiveFreePorts(4);
  const vport = base + 3;
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
