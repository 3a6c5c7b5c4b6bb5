// The fleet in Chromium: console A registers machine B (HTTPS, its pinned
// fingerprint) on the Machines page, sees it on the Fleet page, selects it,
// opens B's Firewall page through A, adds two rules there with the page's
// form (through A's proxy) and copies one of them to A with the page's
// copy form; after B changed its certificate ("changed" phase) the page
// says so. Run by tests/integration/fleet_browser_test.cpp, which checks on
// both machines' own APIs where the rules landed:
//   node fleet.mjs <A url> <A admin token> <B url> <B token> <B fingerprint> <screenshot dir> add|changed
import { run, signIn, api } from './lib.mjs';

const [url, adminToken, bUrl, bToken, bFingerprint, screenshotDir, phase] = process.argv.slice(2);

async function machineB() {
  const r = await api(url, adminToken, 'GET', '/api/v1/machines');
  const b = r.json?.machines?.find((m) => m.name === 'b');
  if (!b) throw new Error(`machine b is not in A's registry: ${r.text}`);
  return b;
}

await run(async ({ page, expectStatus, problems }) => {
  await signIn(page, url, adminToken);
  if (phase === 'changed') {
    const b = await machineB();
    // The page of B answers 502 and says why inside the console.
    expectStatus(502);
    await page.goto(`${url}/m/${b.id}/firewall`);
    const error = await page.textContent('.error');
    if (!error.includes('presents another TLS certificate') || !error.includes(bFingerprint))
      throw new Error(`the page does not say the certificate changed: ${error}`);
    if (!(await page.isVisible('#machine-nav'))) throw new Error('the error is not inside the console');
    await page.screenshot({ path: `${screenshotDir}/fleet-fingerprint-changed.png`, fullPage: true });
    // Chromium logs the expected 502 of that page as a console error too.
    const logged = problems.findIndex((p) => p.includes('status of 502'));
    if (logged >= 0) problems.splice(logged, 1);
    return;
  }

  // Machines: add B with its fingerprint; the page shows the pinned fingerprint.
  await page.click('#console-nav a:has-text("Machines")');
  await page.waitForSelector('#machine-add');
  await page.fill('#machine-add input[name="name"]', 'b');
  await page.fill('#machine-add input[name="url"]', bUrl);
  await page.fill('#machine-add input[name="token"]', bToken);
  await page.fill('#machine-add input[name="fingerprint"]', bFingerprint);
  await page.click('#machine-add button');
  await page.waitForSelector(`#machine-added code.fingerprint:has-text("${bFingerprint}")`);
  await page.waitForSelector('#machine-list tr:has-text("b")');
  if (await page.inputValue('#machine-add input[name="token"]')) throw new Error('the token stayed in the form');
  if ((await page.content()).includes(bToken)) throw new Error('the token is in the page');
  const b = await machineB();
  await page.screenshot({ path: `${screenshotDir}/machines.png`, fullPage: true });

  // Fleet: B and this machine, reachable (the table refreshes itself).
  await page.click('#console-nav a:has-text("Fleet")');
  await page.waitForSelector(`#fleet-${b.id}[data-state="reachable"]`, { timeout: 20000 });
  await page.waitForSelector('#fleet-local[data-state="reachable"]');
  await page.screenshot({ path: `${screenshotDir}/fleet.png`, fullPage: true });

  // Select B: its dashboard, at /m/{id}/.
  await page.click(`#fleet-${b.id} a:has-text("select")`);
  await page.waitForURL(`${url}/m/${b.id}/`);
  await page.click('#machine-nav a:has-text("Firewall")');
  await page.waitForURL(`${url}/m/${b.id}/firewall`);
  await page.waitForSelector('#fw-rules');

  // Two rules added through the form of B's page, through A's proxy.
  const form = page.locator('#fw-rule-form');
  for (const [name, src] of [['added in the browser', '203.0.113.0/24'], ['copy me', '198.51.100.77/32']]) {
    await form.locator('input[name="name"]').fill(name);
    await form.locator('select[name="action"]').selectOption('drop');
    await form.locator('.fw-condition').nth(0).locator('select[name="field"]').selectOption('src');
    await form.locator('.fw-condition').nth(0).locator('input[name="values"]').fill(src);
    await form.locator('button[type="submit"]').click();
    await page.waitForSelector(`#fw-rules tr:has-text("${name}")`);
  }
  // One of them copied from B's page to this machine (A), checked by the caller.
  await page.locator('#fw-rules tr:has-text("copy me") .fw-select').check();
  await page.locator('#fw-copy select[name="target"]').selectOption({ label: 'this machine' });
  await page.locator('#fw-copy button').click();
  await page.waitForSelector('#fw-copy-result:has-text("copied 1 rule")');
});
