// The firewall's console page in Chromium against a real adamd whose
// interface sees traffic (ping from the lab's other namespace, started by
// tests/integration/firewall_browser_test.cpp):
//   node firewall.mjs <adamd url> <admin token> <interface> <screenshot dir>
// A chain rule added through the form, toggled, its counter and the flow
// chart moving, explain, a bad value's error next to its field, a hostile
// name as text, delete with confirmation, a rule edited through its form,
// the default policy, a ClassBench import (and a bad line named), then
// 10,000 rules paged and searched. Prints the figures as one JSON line.
import path from 'node:path';
import { run, signIn, api } from './lib.mjs';

const [url, token, iface, screenshotDir] = process.argv.slice(2);

function check(condition, message) {
  if (!condition) throw new Error(message);
}

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : null;
}

await run(async ({ page, expectStatus, problems }) => {
  const started = await api(url, token, 'POST', '/api/v1/plugins/firewall/start', { interfaces: [iface] });
  check(started.status === 200, `starting the firewall: ${started.status} ${started.text}`);
  await signIn(page, url, token);
  await page.click('header nav a:has-text("Firewall")');
  await page.waitForSelector('#fw-rules');

  // A chain rule through the form: src AND proto (the lab's pings).
  const form = page.locator('#fw-rule-form');
  await form.locator('input[name="name"]').fill('lab pings');
  await form.locator('input[name="priority"]').fill('10');
  await form.locator('select[name="action"]').selectOption('drop');
  const rows = form.locator('.fw-condition');
  await rows.nth(0).locator('select[name="field"]').selectOption('src');
  await rows.nth(0).locator('input[name="values"]').fill('198.51.100.1/32, 203.0.113.0/24');
  await form.locator('button.fw-add-condition').click();
  await rows.nth(1).locator('select[name="field"]').selectOption('proto');
  await rows.nth(1).locator('input[name="values"]').fill('icmp');
  await form.locator('button[type="submit"]').click();
  const row = page.locator('#fw-rules tbody tr', { hasText: 'lab pings' });
  await row.waitFor();
  const rule = (await api(url, token, 'GET', '/api/v1/firewall/rules')).json.rules.find((r) => r.name === 'lab pings');
  check(rule, 'the rule added through the form is not in the API');
  check(JSON.stringify(rule.match.src) === JSON.stringify(['198.51.100.1/32', '203.0.113.0/24']) &&
        JSON.stringify(rule.match.proto) === JSON.stringify(['icmp']) && Object.keys(rule.match).length === 2,
        `the form made match ${JSON.stringify(rule.match)}`);
  check(await form.locator('input[name="name"]').inputValue() === '', 'the add form is not empty again');

  // Toggle it: the row swaps itself.
  await row.locator('button:has-text("disable")').click();
  await page.waitForSelector(`#fw-rule-${rule.id}.disabled`);
  await page.locator(`#fw-rule-${rule.id} button:has-text("enable")`).click();
  await page.waitForSelector(`#fw-rule-${rule.id}.enabled`);

  // Its hit counter moves with the pings, cell by cell (every 2 s).
  const packets = page.locator(`#fw-packets-${rule.id}`);
  const count = async () => Number((await packets.innerText()).trim()) || 0;
  await page.waitForFunction((id) => Number(document.getElementById(`fw-packets-${id}`)?.textContent) > 0,
                             rule.id, { timeout: 10000 });
  const before = await count();
  await page.waitForFunction(([id, n]) => Number(document.getElementById(`fw-packets-${id}`)?.textContent) > n,
                             [rule.id, before], { timeout: 10000 });
  // The flow chart: points arrive, and the busy rule is one of its series.
  await page.waitForFunction(() => Number(document.getElementById('fw-flow')?.dataset.chartPoints) >= 3,
                             null, { timeout: 10000 });
  await page.waitForSelector(`#fw-flow .u-legend :text("rule ${rule.id} lab pings")`);

  // Explain a packet of the lab's: dropped by that rule, linked to its row.
  const explain = page.locator('#fw-explain');
  await explain.locator('input[name="src"]').fill('198.51.100.1');
  await explain.locator('input[name="dst"]').fill('198.51.100.2');
  await explain.locator('input[name="proto"]').fill('icmp');
  await explain.locator('button').click();
  await page.waitForSelector('#fw-explain-result .verdict-drop');
  const link = await page.locator('#fw-explain-result a').getAttribute('href');
  check(link === `?rule=${rule.id}`, `explain links to ${link}`);

  // A bad value: the 400's message next to the condition that caused it.
  await form.locator('input[name="name"]').fill('bad port');
  await form.locator('.fw-condition').nth(0).locator('select[name="field"]').selectOption('dst_port');
  await form.locator('.fw-condition').nth(0).locator('input[name="values"]').fill('22, 70000');
  expectStatus(400);
  await form.locator('button[type="submit"]').click();
  const slot = form.locator('.fw-condition').nth(0).locator('.field-error');
  await slot.locator('.error').waitFor();
  check((await slot.innerText()).includes('70000'), `the error next to dst_port reads '${await slot.innerText()}'`);
  check(await page.locator('#errors .error').count() === 0, 'the field error also went to #errors');
  // Chromium logs every 4xx answer as a console error: this one was expected.
  const logged = problems.findIndex((p) => p.startsWith('console error: Failed to load resource') && p.includes('400'));
  if (logged >= 0) problems.splice(logged, 1);

  // A rule named like a script shows as text.
  const hostile = '<script>alert(1)</script>';
  check((await api(url, token, 'POST', '/api/v1/firewall/rules', { name: hostile, action: 'drop', priority: 5 })).status === 201,
        'adding the hostile rule');
  await page.goto(`${url}/firewall?rule=${rule.id}`);
  await page.waitForSelector(`#fw-rule-${rule.id}.highlighted`);
  const hostileName = await page.locator('#fw-rules tbody tr td:nth-child(4)').first().innerText();
  check(hostileName === hostile, `the hostile rule's name shows as '${hostileName}'`);
  await page.waitForFunction(() => Number(document.getElementById('fw-flow')?.dataset.chartPoints) >= 5,
                             null, { timeout: 15000 });
  const timings = await page.evaluate(() => window.adamChartTimings);
  await page.screenshot({ path: path.join(screenshotDir, 'firewall.png'), fullPage: true });

  // Delete with confirmation (lib.mjs accepts the dialog).
  await page.locator(`#fw-rule-${rule.id} button:has-text("delete")`).click();
  await page.locator(`#fw-rule-${rule.id}`).waitFor({ state: 'detached' });
  const left = (await api(url, token, 'GET', '/api/v1/firewall/rules')).json.rules;
  check(!left.some((r) => r.id === rule.id), 'the deleted rule is still in the API');

  // Edit a rule through its form: the form fills from the rule, the row swaps.
  const hostileRule = left.find((r) => r.name === hostile);
  await page.locator(`#fw-rule-${hostileRule.id} button:has-text("edit")`).click();
  await page.waitForSelector(`#fw-rule-form h3:has-text("Edit rule ${hostileRule.id}")`);
  check(await form.locator('input[name="name"]').inputValue() === hostile, 'the edit form does not hold the name');
  await form.locator('input[name="priority"]').fill('7');
  await form.locator('button[type="submit"]').click();
  await page.waitForSelector(`#fw-rule-${hostileRule.id} td:nth-child(2):text-is("7")`);
  await page.waitForSelector('#fw-rule-form h3:has-text("Add a rule")');

  // The default policy alone.
  await page.selectOption('#fw-default select[name="default"]', 'drop');
  await page.click('#fw-default button');
  await page.waitForSelector('#fw-default:has-text("now drop")');
  check((await api(url, token, 'GET', '/api/v1/firewall/default')).json.default === 'drop', 'the default is not drop');
  await page.selectOption('#fw-default select[name="default"]', 'pass');
  await page.click('#fw-default button');
  await page.waitForSelector('#fw-default:has-text("now pass")');

  // Import a ClassBench file: the table shows its rules; a bad line is named.
  const filter = '@203.0.113.0/24\t198.51.100.0/24\t0 : 65535\t80 : 80\t0x06/0xFF\t0x0000/0x0000\n';
  await page.setInputFiles('#fw-import-file', { name: 'acl.rules', mimeType: 'text/plain', buffer: Buffer.from(filter + filter) });
  await page.click('#fw-import');
  await page.waitForSelector('#fw-rules td:has-text("classbench line 2")');
  check((await page.locator('.fw-range').innerText()).includes('of 2'), 'the import did not replace the rules');
  await page.setInputFiles('#fw-import-file', { name: 'bad.rules', mimeType: 'text/plain', buffer: Buffer.from(`${filter}@nonsense\n`) });
  expectStatus(400);
  await page.click('#fw-import');
  await page.waitForSelector('#fw-import-error:has-text("line 2")');
  const importLogged = problems.findIndex((p) => p.startsWith('console error: Failed to load resource') && p.includes('400'));
  if (importLogged >= 0) problems.splice(importLogged, 1);

  // 10,000 rules: the page answers with one page of them; search and page on.
  const many = [];
  for (let i = 0; i < 10000; i++)
    many.push({ name: `bulk-${String(i).padStart(5, '0')}`, priority: i, action: 'drop',
                match: { proto: ['udp'], dst_port: [10000 + i] } });
  const loaded = await api(url, token, 'PUT', '/api/v1/firewall/ruleset', { rules: many });
  check(loaded.status === 200, `loading 10,000 rules: ${loaded.status} ${loaded.text.slice(0, 200)}`);
  const serverMs = [];
  for (let i = 0; i < 5; i++) {
    await page.goto(`${url}/firewall`);
    await page.waitForSelector('#fw-rules tbody tr');
    const nav = await page.evaluate(() => performance.getEntriesByType('navigation')[0].toJSON());
    serverMs.push(nav.responseStart - nav.requestStart);
  }
  check(await page.locator('#fw-rules tbody tr').count() === 50, 'a page of the table is not 50 rows');
  check((await page.locator('.fw-range').innerText()).includes('1-50 of 10000'), 'the range is not 1-50 of 10000');
  await page.locator('.fw-next').click();
  await page.waitForSelector('.fw-range:has-text("51-100 of 10000")');
  const t0 = Date.now();
  await page.fill('.fw-search input[name="q"]', 'bulk-09999');
  await page.click('.fw-search button');
  await page.waitForSelector('.fw-range:has-text("1-1 of 1")');
  const searchMs = Date.now() - t0;
  check(await page.locator('#fw-rules tbody tr td:nth-child(4)').innerText() === 'bulk-09999', 'search found another rule');

  console.log(JSON.stringify({
    firewall_page_server_ms_10k_rules: { p50: percentile(serverMs, 0.5), max: Math.max(...serverMs), n: serverMs.length },
    search_round_trip_ms_10k_rules: searchMs,
    chart_update_ms: { p50: percentile(timings, 0.5), max: Math.max(...timings), n: timings.length },
  }));
});
