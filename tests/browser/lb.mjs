// The Load balancer page in Chromium against a real adamd balancing on
// veth-b (tests/integration/lb_browser_test.cpp), with UDP to the VIP from
// namespace a:
//   node lb.mjs <adamd url> <admin token> <screenshot dir>
// A service added through the form (a bad weight refused beside the
// backends field first), listed with its backends as the API has them, one
// drained and one weighted through their controls, explain through its form,
// the rates chart drawing, a name with markup shown as text.
import path from 'node:path';
import { run, signIn, api } from './lib.mjs';

const [url, token, screenshotDir] = process.argv.slice(2);
const name = '<i onclick=x>dns</i>';

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function services() {
  return (await api(url, token, 'GET', '/api/v1/lb/services')).json.services;
}

await run(async ({ page, expectStatus }) => {
  await signIn(page, url, token);
  await page.click('header nav a:has-text("Load balancer")');
  await page.waitForSelector('#lb-services');
  check(await page.locator('#lb-services section.lb-service').count() === 0, 'a service before any was added');

  const form = page.locator('#lb-add');
  await form.locator('input[name="name"]').fill(name);
  await form.locator('input[name="vip"]').fill('203.0.113.10');
  await form.locator('input[name="port"]').fill('53');
  await form.locator('select[name="proto"]').selectOption('udp');
  await form.locator('textarea[name="backends"]').fill('198.51.100.11 100\n198.51.100.12 70000\n198.51.100.13 50');
  await form.locator('select[name="health.type"]').selectOption('none');
  expectStatus(400);
  await form.locator('button.primary').click();
  await form.locator('.field-error[data-error-for="backends"]').filter({ hasText: '65535' }).waitFor();
  check((await services()).length === 0, 'a refused service was stored');

  await form.locator('textarea[name="backends"]').fill('198.51.100.11 100\n198.51.100.12 100\n198.51.100.13 50');
  await form.locator('button.primary').click();
  await page.locator('#lb-services section.lb-service').first().waitFor();
  let stored = await services();
  check(stored.length === 1 && stored[0].name === name && stored[0].proto === 'udp', JSON.stringify(stored));
  const id = stored[0].id;
  check(JSON.stringify(stored[0].backends.map((b) => [b.address, b.weight])) ===
        JSON.stringify([['198.51.100.11', 100], ['198.51.100.12', 100], ['198.51.100.13', 50]]),
        `backends: ${JSON.stringify(stored[0].backends)}`);
  check(await page.locator('main i[onclick]').count() === 0, 'markup came out of the name');
  check((await page.textContent(`#lb-service-${id} h3`)).includes(name), 'the name is not shown as text');

  // Once the next hops resolve, the page shows every backend up with its share.
  for (let i = 0; i < 50 && !(await services())[0].backends.every((b) => b.state === 'up'); ++i)
    await page.waitForTimeout(100);
  await page.reload();
  const section = page.locator(`#lb-service-${id}`);
  await section.waitFor();
  const row = (address) => section.locator(`tr.lb-backend[data-address="${address}"]`);
  for (const b of (await services())[0].backends) {
    check((await row(b.address).locator('td.state').textContent()) === b.state, `${b.address}: state`);
    check((await row(b.address).locator('td.weight').textContent()) === String(b.weight), `${b.address}: weight`);
  }
  check((await row('198.51.100.13').locator('td.share').textContent()) === '20.0 %',
        `share of weight 50 of 250: ${await row('198.51.100.13').locator('td.share').textContent()}`);

  // Drain .12: its row says draining; the API agrees.
  await row('198.51.100.12').locator('button.lb-drain').click();
  await page.locator(`#lb-service-${id} tr.lb-backend[data-address="198.51.100.12"] td.state`)
    .filter({ hasText: 'draining' }).waitFor();
  stored = await services();
  check(stored[0].backends[1].weight === 0 && stored[0].backends[1].state === 'draining', JSON.stringify(stored));

  // Weight 200 for .13 through its form.
  await row('198.51.100.13').locator('input[name="weight"]').fill('200');
  await row('198.51.100.13').locator('form.lb-weight button').click();
  await page.locator(`#lb-service-${id} tr.lb-backend[data-address="198.51.100.13"] td.weight`)
    .filter({ hasText: '200' }).waitFor();
  check((await services())[0].backends[2].weight === 200, 'weight not stored');

  // Explain: a new UDP flow to the VIP goes to a backend that is not drained.
  const explain = page.locator('#lb-explain');
  await explain.locator('input[name="src"]').fill('198.51.100.1');
  await explain.locator('input[name="dst"]').fill('203.0.113.10');
  await explain.locator('select[name="proto"]').selectOption('udp');
  await explain.locator('input[name="src_port"]').fill('5353');
  await explain.locator('input[name="dst_port"]').fill('53');
  await explain.locator('button').click();
  const decision = page.locator('#lb-explain-result .lb-decision');
  await decision.waitFor();
  const backend = await decision.locator('code.backend').textContent();
  check(['198.51.100.11', '198.51.100.13'].includes(backend), `explain chose ${backend}`);
  check((await decision.getAttribute('data-source')) === 'hash', 'explain: not from the hash');

  // The rates chart draws the backends' packets per second.
  const chart = page.locator(`#lb-service-${id} .chart`);
  await page.waitForFunction((el) => Number(el.dataset.chartPoints || 0) >= 3, await chart.elementHandle(),
                             { timeout: 15000 });
  await page.screenshot({ path: path.join(screenshotDir, 'lb.png'), fullPage: true });
});
