// The console's core pages in Chromium against a real adamd: login (a bad
// token first), the dashboard (node, kernel features, plugins, the live
// rates chart), the firewall started through its generated form (a bad
// interface first: the error shows next to the field) and stopped, the
// events page (kind filter, absolute range, state in the URL, export,
// live), tokens (a viewer token sees no write controls; revoked, its row
// goes). No console errors, failed requests or unexpected HTTP errors.
// Run by tests/integration/console_browser_test.cpp:
//   node console.mjs <adamd url> <admin token> <interface> <screenshot dir>
import fs from 'node:fs';
import path from 'node:path';
import { run, openBrowser, signIn, api } from './lib.mjs';

const [url, adminToken, iface, screenshotDir] = process.argv.slice(2);
const shot = (page, name) => page.screenshot({ path: path.join(screenshotDir, name), fullPage: true });
const fail = (message) => { throw new Error(message); };

async function chartPoints(page) {
  return Number(await page.getAttribute('#rates-chart', 'data-chart-points') ?? 0);
}

await run(async (b) => {
  const { page } = b;

  // Login: a bad token is refused on the form, the admin token opens the dashboard.
  await page.goto(url);
  await page.waitForSelector('input[name="token"]');
  b.expectStatus(401);
  await page.fill('input[name="token"]', 'not-a-token');
  await page.click('button:has-text("sign in")');
  await page.waitForSelector('.login-form [role="alert"]:has-text("not valid")');
  await shot(page, 'login.png');
  await signIn(page, url, adminToken);
  if (new URL(page.url()).pathname !== '/') fail(`signed in, the console opened ${page.url()}`);

  // Dashboard: node facts, kernel features, lost events, plugins, the live chart.
  await page.waitForSelector('#node h2');
  if ((await page.locator('#features tbody tr').count()) < 5) fail('the kernel features table has few rows');
  await page.waitForSelector('#feature-xdp td:has-text("packet filtering")');
  await page.waitForSelector('#lost-events');
  await page.waitForSelector('#plugin-firewall');
  await page.waitForFunction(() => Number(document.querySelector('#rates-chart')?.dataset.chartPoints) >= 2);
  const before = await chartPoints(page);
  await page.waitForFunction((n) => Number(document.querySelector('#rates-chart').dataset.chartPoints) > n, before);
  await page.waitForSelector('#rates-chart .u-legend :text("events/s")');

  // Start the firewall through its form: a bad interface first, its error next to the field.
  const form = page.locator('#plugin-firewall form');
  await form.locator('select[name="hook"]').selectOption('tc');
  await form.locator('input[name="interfaces"]').fill('no-such-if0');
  b.expectStatus(400);
  await form.locator('button:has-text("start")').click();
  const fieldError = form.locator('.field-error[data-error-for="interfaces"]');
  await fieldError.waitFor();
  if (!(await fieldError.innerText()).includes('no-such-if0')) fail(`field error: ${await fieldError.innerText()}`);
  if ((await form.locator('input[name="interfaces"]').getAttribute('aria-invalid')) !== 'true')
    fail('the bad field is not marked invalid');
  if ((await page.locator('#errors').innerText()).trim() !== '') fail('the field error also went to #errors');
  await form.locator('input[name="interfaces"]').fill(iface);
  await form.locator('button:has-text("start")').click();
  await page.waitForSelector('#plugin-firewall .state-running');
  const summary = await page.locator('#plugin-firewall .summary').innerText();
  if (summary.trim() !== `${iface}@tc`) fail(`running firewall's summary is '${summary}'`);
  await page.waitForSelector('#plugin-firewall .counters dt:has-text("passed packets")');
  // The chart gains the firewall's series once it runs.
  await page.waitForSelector('#rates-chart .u-legend :text("firewall: passed packets/s")', { timeout: 20000 });
  await page.waitForTimeout(3000);  // a few points of traffic for the picture
  await shot(page, 'dashboard.png');
  const timings = await page.evaluate(() => window.adamChartTimings);
  console.log(`rates chart updates: ${timings.length}, max ${Math.max(...timings).toFixed(2)} ms`);
  await page.click('#plugin-firewall button:has-text("stop")');
  await page.waitForSelector('#plugin-firewall .state-stopped');

  // Events: filter by kind; the URL holds it and a reload keeps it.
  await page.click('#machine-nav a:has-text("Events")');
  await page.waitForSelector('#event-filter');
  await page.locator('#event-filter input[name="kind"][value="api.change"]').check();
  await page.waitForURL(/kind=api.change/);
  await page.waitForSelector('#event-rows tr');
  const kinds = await page.locator('#event-rows tr .kind').allInnerTexts();
  if (!kinds.length || kinds.some((k) => k !== 'api.change')) fail(`kind filter shows ${kinds}`);
  await page.reload();
  if (!(await page.locator('#event-filter input[name="kind"][value="api.change"]').isChecked()))
    fail('the kind filter is lost on reload');
  const buckets = Number(await page.getAttribute('#event-histogram', 'data-buckets'));
  if (buckets < 60 || buckets > 121) fail(`the 24 h histogram has ${buckets} bars`);

  // An absolute range (UTC, minutes): from an hour ago to an hour ahead holds them; a day in 2020 nothing.
  // Each field submits the form on change; until is set as a user would, while the answer
  // to since is still on its way. The form stays (only the results are swapped), and the
  // URL, pushed with the answer, must end up holding both.
  async function setRange(sinceValue, untilValue) {
    await page.fill('#event-filter input[name="since"]', sinceValue);
    await page.fill('#event-filter input[name="until"]', untilValue);
    const holdsRange = (u) => u.searchParams.get('since') === sinceValue && u.searchParams.get('until') === untilValue;
    await page.waitForURL(holdsRange).catch(() => fail(`the URL does not hold the range: ${page.url()}`));
    if (new URL(page.url()).searchParams.get('last')) fail(`the URL keeps a preset beside the range: ${page.url()}`);
  }
  const minute = (d) => d.toISOString().slice(0, 16);
  const range = [minute(new Date(Date.now() - 3600e3)), minute(new Date(Date.now() + 3600e3))];
  await setRange(...range);
  await page.waitForSelector('#event-rows tr');
  await page.reload();
  if (await page.inputValue('#event-filter input[name="since"]') !== range[0]) fail('the range is lost on reload');
  await setRange('2020-01-01T00:00', '2020-01-02T00:00');
  await page.waitForSelector('#event-table :text("No events in this range.")');
  // A preset clears the range.
  await page.selectOption('#event-filter select[name="last"]', '24h');
  await page.waitForURL(/last=24h/);
  if (await page.inputValue('#event-filter input[name="since"]') !== '') fail('the preset keeps since');
  await setRange(...range);
  await page.waitForSelector('#event-rows tr');

  // Export the range: JSON lines through a download, CSV fetched from its link.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-jsonl')]);
  const jsonl = fs.readFileSync(await download.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  if (!jsonl.length || jsonl.some((e) => e.kind !== 'api.change')) fail(`JSONL export: ${JSON.stringify(jsonl)}`);
  const csvHref = await page.getAttribute('#export-csv', 'href');
  const csv = await page.evaluate(async (href) => (await fetch(href)).text(), csvHref);
  const csvLines = csv.trim().split('\r\n');
  if (csvLines[0] !== 'id,time,plugin,kind,machine,data') fail(`CSV header: ${csvLines[0]}`);
  if (!csvLines.slice(1).some((l) => l.startsWith(`${jsonl[0].id},`))) fail('the CSV lacks the JSONL events');

  // Live: an event caused now (a token created) shows up without a reload.
  await page.locator('#event-filter input[name="live"]').check();
  await page.waitForSelector('#event-live');
  await page.waitForTimeout(500);  // the stream is connected
  const created = await api(url, adminToken, 'POST', '/api/v1/tokens', { name: 'live-viewer', role: 'viewer' });
  if (created.status !== 201) fail(`POST /api/v1/tokens: ${created.status}`);
  await page.waitForSelector('#event-rows tr:has-text("live-viewer")');
  await shot(page, 'events.png');

  // Tokens: the viewer token made above signs in elsewhere and sees no write controls.
  await page.click('#machine-nav a:has-text("Tokens")');
  await page.waitForSelector('#token-list tr:has-text("live-viewer")');
  const viewer = await openBrowser();
  try {
    await signIn(viewer.page, url, created.json.token);
    await viewer.page.waitForSelector('#plugin-firewall');
    for (const selector of ['#plugin-firewall form', 'button:has-text("stop")', 'button:has-text("start")', '[hx-post]', '[hx-delete]'])
      if (await viewer.page.locator(selector).count()) fail(`a viewer sees ${selector} on the dashboard`);
    if (await viewer.page.locator('#machine-nav a:has-text("Tokens")').count()) fail('a viewer sees the Tokens page');
    await viewer.page.click('#machine-nav a:has-text("Events")');
    await viewer.page.waitForSelector('#event-filter');
    if (await viewer.page.locator('[hx-post], [hx-delete], [hx-put]').count()) fail('a viewer sees write controls on Events');
    await viewer.page.click('#machine-nav a:has-text("Firewall")');
    await viewer.page.waitForSelector('#fw-rules');
    for (const selector of ['[hx-post]:not(#fw-explain)', '[hx-delete]', '[hx-put]', '#fw-rule-form', '#fw-copy', '#fw-import', '.fw-select'])
      if (await viewer.page.locator(selector).count()) fail(`a viewer sees ${selector} on the Firewall page`);
  } finally {
    b.problems.push(...viewer.problems.map((p) => `viewer: ${p}`));
    await viewer.close();
  }

  // A token made through the form, then both revoked: their rows go.
  await page.fill('#token-create input[name="name"]', 'browser-made');
  await page.click('#token-create button');
  await page.waitForSelector('#token-created :text("browser-made")');
  await page.waitForSelector('#token-list tr:has-text("browser-made")');
  await shot(page, 'tokens.png');
  for (const name of ['live-viewer', 'browser-made']) {
    const row = page.locator('#token-list tbody tr', { hasText: name });
    await row.locator('button:has-text("revoke")').click();
    await row.waitFor({ state: 'detached' });
  }
  const left = (await api(url, adminToken, 'GET', '/api/v1/tokens')).json.tokens.map((t) => t.name);
  if (left.includes('live-viewer') || left.includes('browser-made')) fail(`tokens left after revoking: ${left}`);

  // Sign out: back to the login form.
  await page.click('button:has-text("sign out")');
  await page.waitForSelector('input[name="token"]');
});
