// The console in a real browser (Debian's Chromium driven by playwright-core):
// sign in with the admin token, create a token through the form, revoke it,
// start a plugin through the form generated from its config_schema, stop
// it; no
// console errors, no failed requests. Run by tests/integration/console_browser_test.cpp:
//   node console.mjs <adamd url> <admin token> <interface> <screenshot dir>
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [url, adminToken, iface, screenshotDir] = process.argv.slice(2);
const problems = [];
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'adam-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});

async function apiTokens() {
  const r = await fetch(`${url}/api/v1/tokens`, { headers: { Authorization: `Bearer ${adminToken}` } });
  if (r.status !== 200) throw new Error(`GET /api/v1/tokens: ${r.status}`);
  return (await r.json()).tokens;
}

try {
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', async (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}: ${await r.text()}`);
  });
  page.on('dialog', (d) => d.accept());  // hx-confirm

  await page.goto(url);
  await page.fill('input[name="token"]', adminToken);
  await page.click('button:has-text("sign in")');
  await page.waitForSelector('#token-list');
  await page.waitForSelector('#plugin-firewall');
  await page.waitForSelector('#node');

  // Create a token through the form: its secret is shown, the list gains its row.
  const name = 'browser-made';
  await page.fill('#token-create input[name="name"]', name);
  await page.selectOption('#token-create select[name="role"]', 'viewer');
  await page.click('#token-create button');
  await page.waitForSelector(`#token-created :text("${name}")`);
  const row = page.locator('#token-list tbody tr', { hasText: name });
  await row.waitFor();
  const created = (await apiTokens()).find((t) => t.name === name);
  if (!created) throw new Error(`token ${name} is not in GET /api/v1/tokens after the form`);

  // Revoke it: the row goes, and so does the token.
  await row.locator('button:has-text("revoke")').click();
  await row.waitFor({ state: 'detached' });
  if ((await apiTokens()).some((t) => t.name === name))
    throw new Error(`token ${name} is still in GET /api/v1/tokens after revoking it`);

  // Start the firewall through its generated form.
  const form = page.locator('#plugin-firewall form');
  await form.locator('input[name="interfaces"]').fill(iface);
  await form.locator('select[name="hook"]').selectOption('tc');
  await form.locator('button:has-text("start")').click();
  await page.waitForSelector('#plugin-firewall .state-running');
  const summary = await page.locator('#plugin-firewall .summary').innerText();
  if (summary.trim() !== `${iface}@tc`) throw new Error(`running firewall's summary is '${summary}'`);
  await page.screenshot({ path: path.join(screenshotDir, 'console-running.png'), fullPage: true });

  // The firewall's own console page, reached from the navigation the core
  // builds from the plugins' routes; a rule named like a script shows as text.
  const hostile = '<script>alert(1)</script>';
  const added = await fetch(`${url}/api/v1/firewall/rules`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: hostile, action: 'drop', priority: 10,
                           match: { src: ['203.0.113.0/24'], proto: ['tcp'], dst_port: [8080] } }),
  });
  if (added.status !== 201) throw new Error(`POST /api/v1/firewall/rules: ${added.status}`);
  await page.click('header nav a:has-text("Firewall")');
  await page.waitForSelector('#fw-rules');
  const ruleName = await page.locator('#fw-rules tbody tr td:nth-child(4)').first().innerText();
  if (ruleName !== hostile) throw new Error(`the rule's name shows as '${ruleName}'`);
  if (new URL(page.url()).pathname !== '/ui/firewall') throw new Error(`the Firewall link led to ${page.url()}`);
  await page.screenshot({ path: path.join(screenshotDir, 'firewall.png'), fullPage: true });
  await page.click('header nav a:has-text("Overview")');
  await page.waitForSelector('#plugin-firewall .state-running');

  // Stop it: the form is back, holding the config it ran with.
  await page.click('#plugin-firewall button:has-text("stop")');
  await page.waitForSelector('#plugin-firewall .state-stopped');
  await page.reload();  // the events table now lists the changes above
  await page.waitForSelector('#plugin-firewall form');
  const interfaces = await page.inputValue('#plugin-firewall input[name="interfaces"]');
  if (interfaces !== iface) throw new Error(`the start form's interfaces are '${interfaces}', not the last config's`);
  await page.waitForSelector('.events td:has-text("api.change")');
  await page.screenshot({ path: path.join(screenshotDir, 'console.png'), fullPage: true });
} catch (e) {
  problems.push(String(e.stack ?? e));
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
for (const p of problems) console.error(p);
process.exit(problems.length ? 1 : 0);
