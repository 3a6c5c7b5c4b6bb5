// The Enforcement page in Chromium against a real adamd
// (tests/integration/lsm_browser_test.cpp):
//   node lsm.mjs <adamd url> <admin token> <screenshot dir>
// The mechanism of each kind as the API says; the add form generated from
// the policy schema, showing only the chosen kind's match fields; a bad
// path refused next to its field; an audit policy added through the form,
// listed with its mechanism; promoted to deny with its would-have-denied
// count; a name with markup shown as text.
import path from 'node:path';
import { run, signIn, api } from './lib.mjs';

const [url, token, screenshotDir] = process.argv.slice(2);
const name = '<i onclick=x>audit netcat</i>';

function check(condition, message) {
  if (!condition) throw new Error(message);
}

await run(async ({ page, expectStatus }) => {
  const list = (await api(url, token, 'GET', '/api/v1/lsm/policies')).json;
  await signIn(page, url, token);
  await page.click('header nav a:has-text("Enforcement")');
  await page.waitForSelector('#lsm-policies');

  for (const [kind, mechanism] of Object.entries(list.mechanisms)) {
    const shown = await page.textContent(`#lsm-mechanisms tr[data-kind="${kind}"] td.mechanism`);
    check(shown === (mechanism ?? 'none'), `${kind}: the page shows ${shown}, the API ${mechanism}`);
  }

  // The form shows an exec policy's match fields only.
  const form = page.locator('#lsm-add');
  await form.locator('select[name="kind"]').selectOption('exec');
  check(await form.locator('input[name="match.path"]').isVisible(), 'no match.path for exec');
  check(await form.locator('input[name="match.dst"]').isHidden(), 'match.dst shown for exec');
  await form.locator('select[name="kind"]').selectOption('connect');
  check(await form.locator('input[name="match.dst"]').isVisible(), 'no match.dst for connect');
  check(await form.locator('input[name="match.path"]').isHidden(), 'match.path shown for connect');
  await form.locator('select[name="kind"]').selectOption('exec');

  // A relative path: the 400 beside the field, nothing added.
  await form.locator('input[name="name"]').fill(name);
  await form.locator('select[name="action"]').selectOption('audit');
  await form.locator('input[name="match.path"]').fill('/usr/bin/nc, bin/nc');
  expectStatus(400);
  await form.locator('button.primary').click();
  const error = form.locator('.field-error[data-error-for="match.path"]');
  await error.filter({ hasText: 'absolute' }).waitFor();
  check(await page.locator('#lsm-policies tbody tr').count() === 0, 'a refused policy is listed');

  await form.locator('input[name="match.path"]').fill('/usr/bin/nc, /tmp/adam-lsm-browser/');
  await form.locator('button.primary').click();
  const row = page.locator('#lsm-policies tbody tr').first();
  await row.waitFor();
  const stored = (await api(url, token, 'GET', '/api/v1/lsm/policies')).json.policies;
  check(stored.length === 1 && stored[0].name === name && stored[0].action === 'audit',
        `stored: ${JSON.stringify(stored)}`);
  check(JSON.stringify(stored[0].match.path) === JSON.stringify(['/usr/bin/nc', '/tmp/adam-lsm-browser/']),
        `paths: ${JSON.stringify(stored[0].match)}`);
  check((await row.locator('td').nth(2).textContent()) === name, 'the name is not shown as text');
  check((await row.locator('td.mechanism').textContent()).startsWith(stored[0].mechanism ?? 'none'),
        `the row's mechanism: ${await row.locator('td.mechanism').textContent()}`);
  check(await page.locator('main i[onclick]').count() === 0, 'markup came out of the name');

  await row.locator('form.lsm-promote button').click();
  const promoted = page.locator(`#lsm-policy-${stored[0].id} .lsm-promoted`);
  await promoted.waitFor();
  check((await promoted.textContent()).includes('would have denied 0 in the last 24h'), await promoted.textContent());
  check((await page.textContent(`#lsm-policy-${stored[0].id} td.action-deny`)) === 'deny', 'not shown as deny');
  const after = (await api(url, token, 'GET', `/api/v1/lsm/policies/${stored[0].id}`)).json;
  check(after.action === 'deny', `after promote: ${after.action}`);
  await page.screenshot({ path: path.join(screenshotDir, 'lsm.png'), fullPage: true });
});
