/**
 * The dashboard in headless Chromium (Debian's chromium, driven by playwright-core) against a
 * real daemon running a keepalived.conf with health checks: the page shows the daemon's
 * services, follows a weight change and a real server going down, and changes a weight and
 * starts a drain with an admin token. A screenshot of each state is saved in
 * test-output/dashboard/ (printed as test diagnostics).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { closeServer, freePort, nameServer, REPO, tmpDir, tsvsadm } from '../daemon/helpers.ts';
import { startHttpDaemon, until, type HttpDaemon } from './helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
const skip = !existsSync(CHROMIUM) && `${CHROMIUM} missing (Debian package chromium; scripts/setup.sh installs it)`;
const OUT = join(REPO, 'test-output', 'dashboard');
const ADMIN = 'admin-token-0123456789abcdef';

let d: HttpDaemon;
let browser: Browser;
let page: Page;
let rs1: Awaited<ReturnType<typeof nameServer>>;
let rs2: Awaited<ReturnType<typeof nameServer>> | null;
let vport = 0;
let sid = '';

before(async () => {
  if (skip) return;
  rs1 = await nameServer('rs1');
  rs2 = await nameServer('rs2');
  vport = await freePort();
  sid = `tcp-127.0.0.1-${vport}`;
  const dir = tmpDir();
  const conf = join(dir, 'keepalived.conf');
  const real = (port: number, weight: number) => `  real_server 127.0.0.1 ${port} {\n    weight ${weight}\n    inhibit_on_failure\n    TCP_CHECK {\n      connect_timeout 1\n    }\n  }\n`;
  writeFileSync(conf, `virtual_server 127.0.0.1 ${vport} {\n  delay_loop 0.3\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n${real(rs1.port, 3)}${real(rs2.port, 2)}}\n`);
  writeFileSync(join(dir, 'tokens'), `admin ${ADMIN}\n`);
  chmodSync(join(dir, 'tokens'), 0o600);
  d = await startHttpDaemon(['--keepalived', conf, '--no-state', '--workers', '0', '--http-token', join(dir, 'tokens')], dir);
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 520 } });
  mkdirSync(OUT, { recursive: true });
});
after(async () => {
  await browser?.close();
  await d?.stop();
  if (rs1) await closeServer(rs1.server);
  if (rs2) await closeServer(rs2.server);
});

async function shot(t: { diagnostic(m: string): void }, name: string): Promise<void> {
  const path = join(OUT, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  t.diagnostic(`screenshot: ${path}`);
}

const realRow = (port: number) => page.locator(`tr[data-real="${sid}/127.0.0.1-${port}"]`);
const text = async (port: number, testid: string) => (await realRow(port).locator(`[data-testid="${testid}"]`).first().textContent({ timeout: 1000 }))?.trim();

test('the page renders the running daemon\'s service and real servers, health up', { skip }, async (t) => {
  await page.goto(`http://127.0.0.1:${d.http}/`);
  // With a token file the API needs a token even to read: the page says so until one is given.
  await until('the page asks for a token', async () => /EAUTH/.test((await page.locator('[data-testid="error"]').textContent()) ?? ''));
  await page.fill('#token', ADMIN);
  await page.click('#auth button');
  await until('rows and health', async () => (await text(rs1.port, 'health')) === 'up' && (await text(rs2!.port, 'health')) === 'up');
  assert.equal(await page.locator(`tr[data-service="${sid}"]`).count(), 1);
  assert.match((await page.locator(`tr[data-service="${sid}"] td`).first().textContent()) ?? '', new RegExp(`TCP 127\\.0\\.0\\.1:${vport} wrr`));
  assert.equal(await page.locator('[data-testid="role"]').textContent(), 'admin');
  assert.equal(await realRow(rs1.port).locator('td[data-testid="weight"]').getAttribute('data-weight'), '3');
  assert.match((await page.locator('[data-testid="daemon"]').textContent()) ?? '', /pid \d+ .* proxy forwarder/);
  await shot(t, '1-services');
});

test('a weight changed with tsvsadm shows on the page within a poll', { skip }, async (t) => {
  const r = await tsvsadm(d.socket, ['-e', '-t', `127.0.0.1:${vport}`, '-r', `127.0.0.1:${rs1.port}`, '-m', '-w', '7']);
  assert.equal(r.code, 0, r.stderr);
  await until('weight 7 on the page', async () => (await realRow(rs1.port).locator('td[data-testid="weight"]').getAttribute('data-weight')) === '7', 5000);
  await shot(t, '2-weight-changed');
});

test('a real server that stops answering turns down on the page, with the reason', { skip }, async (t) => {
  const port = rs2!.port;
  await closeServer(rs2!.server);
  rs2 = null;
  await until('down on the page', async () => (await text(port, 'health')) === 'down', 8000);
  assert.match((await text(port, 'reason')) ?? '', /^(refused|timeout|reset|closed)/);
  assert.equal(await realRow(port).locator('td[data-testid="weight"]').getAttribute('data-weight'), '0', 'inhibit_on_failure: weight 0');
  await shot(t, '3-real-server-down');
});

test('with the admin token the page changes a weight and starts a drain', { skip }, async (t) => {
  const row = realRow(rs1.port);
  await row.locator('[data-testid="weight-input"]').fill('5');
  await row.locator('[data-testid="weight-set"]').click();
  await until('weight 5 in the table', async () => / 127\.0\.0\.1:\d+ +Masq +5 /.test((await tsvsadm(d.socket, ['-L', '-n'])).stdout.split('\n').find((l) => l.includes(`:${rs1.port} `)) ?? ''));
  await until('weight 5 on the page', async () => (await row.locator('td[data-testid="weight"]').getAttribute('data-weight')) === '5');
  await shot(t, '4-weight-set-from-page');
  page.once('dialog', (dlg) => void dlg.accept());
  await row.locator('[data-testid="drain"]').click();
  // No connection is open: the drain ends at once and the real server leaves the table.
  await until('rs1 drained and gone', async () => !(await tsvsadm(d.socket, ['-L', '-n'])).stdout.includes(`:${rs1.port} `), 8000);
  await until('row gone from the page', async () => (await row.count()) === 0);
  await shot(t, '5-drained-from-page');
});
