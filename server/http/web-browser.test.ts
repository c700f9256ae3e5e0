// The web client in a real browser (Debian's chromium driven by playwright-core): key, enroll, list, verify, search, delete.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { PROJECT_ROOT } from '../config.ts';
import { testConfig, testServer, lfwPhoto, LFW_DIR, LFW_MISSING, TEST_ADMIN_KEY } from '../test-support.ts';

const CHROMIUM = '/usr/bin/chromium';
const LEAD_COPY = '/tmp/irface-web.png';

/**
 * Never a silent pass: a missing chromium is installed by scripts/ensure-chromium.sh (as .ci/run does);
 * the test skips only when that script says installation is impossible here, and shows its reason.
 */
function chromiumSkip(): string | false {
  if (existsSync(CHROMIUM)) return false;
  const r = spawnSync('bash', [resolve(PROJECT_ROOT, 'scripts/ensure-chromium.sh')], { encoding: 'utf8', timeout: 600_000 });
  if (r.status === 0 && existsSync(CHROMIUM)) return false;
  const lines = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n');
  return lines[lines.length - 1] || `${CHROMIUM} is missing and scripts/ensure-chromium.sh failed (${r.status ?? r.signal})`;
}

const skip = LFW_MISSING ? `LFW not found at ${LFW_DIR} (set IRFACE_LFW)` : chromiumSkip();
const server = testServer(testConfig());
let browser: Browser | undefined;

before(async () => {
  if (skip) return;
  await server.start();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // A synthetic camera (test pattern) with the permission granted, so the capture path runs too.
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
  });
});

after(async () => {
  await browser?.close();
  await server.close();
});

/** Clears the status line, runs the action, then waits until the status matches or reports an error. */
async function expectStatus(page: Page, action: () => Promise<void>, pattern: RegExp): Promise<void> {
  await page.evaluate(() => { document.getElementById('status')!.textContent = ''; });
  await action();
  await page.waitForFunction(([source, flags]) => {
    const text = document.getElementById('status')?.textContent ?? '';
    return new RegExp(source, flags).test(text) || text.startsWith('Error');
  }, [pattern.source, pattern.flags] as const, { timeout: 30_000 });
  assert.match(await page.locator('#status').innerText(), pattern);
}

async function enroll(page: Page, name: string, lfwName: string, photos: number[]): Promise<void> {
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Photos', { exact: true }).setInputFiles(photos.map((n) => lfwPhoto(lfwName, n)));
  // LFW photos often show bystanders: the subject is the largest face.
  await page.getByLabel('When a photo shows several faces, use the largest').check();
  await expectStatus(page, () => page.getByRole('button', { name: 'Enroll', exact: true }).click(),
    new RegExp(`Enrolled ${name}: ${photos.length} of ${photos.length} photo`));
}

async function search(page: Page, file: string): Promise<string[]> {
  await page.getByLabel('Photo', { exact: true }).setInputFiles(file);
  await expectStatus(page, () => page.getByRole('button', { name: 'Search', exact: true }).click(), /face\(s\): \d+ recognised/);
  return page.locator('#search-labels .face-label').allInnerTexts();
}

test('in chromium: enter the key, enroll two LFW people, list, verify, search a known face and a stranger', { skip, timeout: 120_000 }, async (t) => {
  const t0 = Date.now();
  const page = await browser!.newPage({ viewport: { width: 1100, height: 900 } });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(m.text()); });

  await page.goto(`${server.base}/`);
  assert.equal(await page.evaluate(() => document.compatMode), 'CSS1Compat', 'standards mode');

  // Keyboard: the key field is reachable and Enter submits it.
  await page.getByLabel('Key', { exact: true }).fill(TEST_ADMIN_KEY);
  await expectStatus(page, () => page.getByLabel('Key', { exact: true }).press('Enter'), /Key accepted/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('irface.apiKey')), TEST_ADMIN_KEY);
  assert.equal(await page.evaluate(() => localStorage.length), 0, 'the key is not kept beyond the tab');

  // The webcam path: a captured frame becomes a thumbnail that can be removed again.
  await expectStatus(page, () => page.getByRole('button', { name: 'Start camera' }).click(), /Camera on/);
  await expectStatus(page, () => page.getByRole('button', { name: 'Capture', exact: true }).click(), /Captured photo 1/);
  assert.equal(await page.locator('#captures img').count(), 1);
  await page.getByRole('button', { name: 'Remove captured photo 1' }).click();
  assert.equal(await page.locator('#captures li').count(), 0);
  await expectStatus(page, () => page.getByRole('button', { name: 'Stop camera' }).click(), /Camera off/);

  await enroll(page, 'Al Gore', 'Al_Gore', [1, 2, 3]);
  await enroll(page, 'Colin Powell', 'Colin_Powell', [1, 2, 3]);
  const rows = await page.locator('#people-body tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].slice(0, 3).map((td) => td.textContent)));
  assert.deepEqual(rows.map((r) => [r[0], r[2]]).sort(), [['Al Gore', '3'], ['Colin Powell', '3']]);

  await page.getByLabel('First photo').setInputFiles(lfwPhoto('Al_Gore', 4));
  await page.getByLabel('Second photo').setInputFiles(lfwPhoto('Al_Gore', 1));
  await expectStatus(page, () => page.getByRole('button', { name: 'Verify', exact: true }).click(), /^(Same person|Different people): similarity 0\.\d{4}, threshold/);
  t.diagnostic(`verify Al_Gore 4 vs 1: ${await page.locator('#status').innerText()}`);

  const known = await search(page, lfwPhoto('Al_Gore', 4));
  assert.match(known[0] ?? '', /^1\. Al Gore 0\.\d{3}$/, `labels: ${known.join(' | ')}`);
  const canvas = await page.locator('#search-canvas').evaluate((c: HTMLCanvasElement) => [c.width, c.height]);
  assert.deepEqual(canvas, [250, 250], 'the photo is drawn at its size');
  const dir = mkdtempSync(join(tmpdir(), 'irface-web-shot-'));
  const knownShot = join(dir, 'search-known.png');
  await page.screenshot({ path: knownShot, fullPage: true });

  const stranger = await search(page, lfwPhoto('Halle_Berry', 1));
  assert.ok(stranger.some((l) => /^\d+\. unknown$/.test(l)), `labels: ${stranger.join(' | ')}`);
  assert.ok(!stranger.some((l) => /Al Gore|Colin Powell/.test(l)), `labels: ${stranger.join(' | ')}`);
  await page.screenshot({ path: join(dir, 'search-stranger.png'), fullPage: true });
  copyFileSync(knownShot, LEAD_COPY);
  assert.ok(statSync(knownShot).size > 10_000, 'the screenshot has content');
  t.diagnostic(`screenshots in ${dir} (search-known.png copied to ${LEAD_COPY})`);

  // Delete from the list; the row goes and the count follows.
  await expectStatus(page, () => page.getByRole('button', { name: 'Delete Colin Powell' }).click(), /Deleted Colin Powell/);
  assert.deepEqual(await page.locator('#people-body tr td:first-child').allInnerTexts(), ['Al Gore']);

  // Without a key the API error is shown with its code.
  await page.getByRole('button', { name: 'Forget key' }).click();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('irface.apiKey')), null);
  await expectStatus(page, () => page.getByRole('button', { name: 'Search', exact: true }).click(), /^Error unauthorized: /);
  assert.match(await page.locator('#search-result .error').innerText(), /unauthorized/);

  assert.deepEqual(problems, [], 'no script errors or CSP violations');
  t.diagnostic(`browser flow ${Date.now() - t0} ms`);
});

test('in chromium: /docs renders the API reference without a key', { skip, timeout: 60_000 }, async () => {
  const page = await browser!.newPage();
  const outside: string[] = [];
  page.on('request', (r) => { if (!r.url().startsWith(server.base) && !r.url().startsWith('data:')) outside.push(r.url()); });
  await page.goto(`${server.base}/docs`);
  await page.locator('.opblock-summary-path', { hasText: '/v1/search' }).first().waitFor({ timeout: 20_000 });
  assert.match(await page.locator('.info .title').innerText(), /irface/);
  assert.deepEqual(outside, [], 'no requests leave the server');
  await page.close();
});
