// The monitor's Processes page in Chromium against a real adamd running the
// monitor, with a chain started by tests/integration/monitor_browser_test.cpp:
// an outer sh (pid <outer pid>, its script holding <marker> and markup)
// running an inner sh running sleep through a link named "<i onclick=x>".
//   node monitor.mjs <adamd url> <admin token> <marker> <outer pid> <before> <screenshot dir>
// <before>: a moment (UTC, YYYY-MM-DDTHH:MM:SS) after the monitor's start
// snapshot and before the chain started.
// The chain in the live tree, each level one deeper; the search; the leaf's
// page with its ancestors up to pid 1 and its exec event; the Events page on
// its exec id and back through an event's process link; the tree at
// <before> without the chain; markup in comm and args shown as text.
import path from 'node:path';
import { run, signIn, api } from './lib.mjs';

const [url, token, marker, outerPid, before, screenshotDir] = process.argv.slice(2);
const hostileComm = '<i onclick=x>';

function check(condition, message) {
  if (!condition) throw new Error(message);
}

// The tree's rows as the page shows them.
function treeRows(page) {
  return page.$$eval('#mon-tree tbody tr', (rows) => rows.map((r) => ({
    execId: r.dataset.execId,
    depth: Number(r.dataset.depth),
    comm: r.querySelector('td.comm a').textContent,
    pid: r.children[1].textContent,
    args: r.querySelector('td.args').textContent,
    context: r.classList.contains('context'),
  })));
}

async function noMarkupFromValues(page) {
  const injected = await page.$$eval('main i[onclick], main script:not([src])', (els) => els.length);
  check(injected === 0, `${injected} elements came out of comm or args`);
}

await run(async ({ page }) => {
  // The chain is in the live table (the leaf's exec may take a moment).
  let leafExecId = null;
  for (let i = 0; i < 100 && !leafExecId; ++i) {
    const table = (await api(url, token, 'GET', '/api/v1/monitor/processes')).json;
    leafExecId = table?.processes?.find((p) => p.comm === hostileComm)?.exec_id ?? null;
    if (!leafExecId) await new Promise((r) => setTimeout(r, 100));
  }
  check(leafExecId, `no process with comm ${hostileComm} in the live table`);

  await signIn(page, url, token);
  await page.click('header nav a:has-text("Processes")');
  await page.waitForSelector('#mon-tree');
  let rows = await treeRows(page);
  const outer = rows.findIndex((r) => r.pid === outerPid);
  check(outer >= 0, `the outer sh (pid ${outerPid}) is not in the tree of ${rows.length} rows`);
  check(rows[outer].comm === 'sh' && rows[outer].args.includes(marker), `outer row: ${JSON.stringify(rows[outer])}`);
  check(rows[outer].args.includes('<script>alert(1)</script>'), `the outer's args as text: ${rows[outer].args}`);
  const inner = rows[outer + 1], leaf = rows[outer + 2];
  check(inner && inner.comm === 'sh' && inner.depth === rows[outer].depth + 1, `under the outer sh: ${JSON.stringify(inner)}`);
  check(leaf && leaf.comm === hostileComm && leaf.depth === rows[outer].depth + 2 && leaf.execId === leafExecId,
        `under the inner sh: ${JSON.stringify(leaf)} (the live table: ${leafExecId}; outer ${JSON.stringify(rows[outer])})`);
  check(rows[outer].depth >= 1, 'the outer sh has no ancestors in the tree');
  await noMarkupFromValues(page);

  // Folding the outer sh hides its subtree; unfolding shows it again.
  const outerRow = page.locator(`#mon-tree tr[data-exec-id="${rows[outer].execId}"]`);
  await outerRow.locator('button.toggle').click();
  check(await page.locator(`#mon-tree tr[data-exec-id="${leafExecId}"]`).isHidden(), 'folded, the leaf is still shown');
  await outerRow.locator('button.toggle').click();
  check(await page.locator(`#mon-tree tr[data-exec-id="${leafExecId}"]`).isVisible(), 'unfolded, the leaf is hidden');

  // The search keeps the URL and shows the match with its ancestors as context.
  await page.fill('#mon-filter input[name="q"]', marker);
  await Promise.all([page.waitForURL((u) => u.searchParams.get('q') === marker), page.click('#mon-filter button')]);
  rows = await treeRows(page);
  // (node and the shell that started it have the marker in their args too)
  const matches = rows.filter((r) => !r.context);
  check(matches.some((r) => r.pid === outerPid) && matches.every((r) => r.args.includes(marker)),
        `the search matched ${JSON.stringify(matches)}`);
  check(!rows.some((r) => r.execId === leafExecId), 'the leaf, which does not match, is shown');
  check(rows.some((r) => r.pid === '1' && r.context), 'the match is shown without its ancestors');
  await page.screenshot({ path: path.join(screenshotDir, 'processes.png'), fullPage: true });

  // The leaf's page: its ancestors to pid 1, each a link; its exec event.
  await page.goto(`${url}/processes`);
  await page.click(`#mon-tree tr[data-exec-id="${leafExecId}"] td.comm a`);
  await page.waitForSelector(`#mon-process[data-exec-id="${leafExecId}"]`);
  const ancestors = await page.$$eval('#mon-ancestors li', (items) => items.map((li) => li.textContent));
  check(ancestors.length >= 3, `ancestors: ${JSON.stringify(ancestors)}`);
  check(ancestors[0].startsWith('sh') && ancestors[1].startsWith('sh') && ancestors[1].includes(`pid ${outerPid},`),
        `the first ancestors: ${JSON.stringify(ancestors)}`);
  check(ancestors[ancestors.length - 1].includes('pid 1,'), `the chain ends at ${ancestors[ancestors.length - 1]}`);
  check((await page.locator('#mon-ancestors li a').count()) === ancestors.length, 'an ancestor is not a link');
  check((await page.locator('#mon-process h2').innerText()).includes(hostileComm), 'the title lacks the comm as text');
  await page.waitForSelector('#mon-process #event-rows tr[data-kind="process.exec"]');
  await noMarkupFromValues(page);
  await page.screenshot({ path: path.join(screenshotDir, 'process.png'), fullPage: true });

  // An ancestor's link opens that process.
  await page.click('#mon-ancestors li:nth-child(2) a');
  await page.waitForSelector('#mon-process h2:has-text("pid ' + outerPid + '")');
  await page.goBack();
  await page.waitForSelector(`#mon-process[data-exec-id="${leafExecId}"]`);

  // Every event of its exec id on the Events page, the filter kept in the URL and the form.
  await page.click('#mon-exec-events');
  await page.waitForSelector('#events-page #event-rows tr');
  check(new URL(page.url()).searchParams.get('data.exec_id') === leafExecId, `the events page is ${page.url()}`);
  check(await page.isChecked(`#event-filter input[name="data.exec_id"][value="${leafExecId}"]`),
        'the exec id filter is not in the form');
  const events = await page.$$eval('#event-rows tr', (trs) => trs.map((tr) => ({
    kind: tr.dataset.kind, data: tr.querySelector('.event-data').textContent,
  })));
  check(events.some((e) => e.kind === 'process.exec'), `no process.exec among ${JSON.stringify(events)}`);
  check(events.every((e) => e.data.includes(leafExecId)), `an event of another exec id: ${JSON.stringify(events)}`);
  // The event's process link opens the process's page.
  await page.click('#event-rows tr[data-kind="process.exec"] a.link:text-is("process")');
  await page.waitForSelector(`#mon-process[data-exec-id="${leafExecId}"]`);

  // The tree at a moment before the chain started: it is not there.
  await page.goto(`${url}/processes`);
  await page.fill('#mon-filter input[name="at"]', before);
  await Promise.all([page.waitForURL((u) => u.searchParams.has('at')), page.click('#mon-filter button')]);
  await page.waitForSelector('#mon-tree');
  check(new URL(page.url()).searchParams.get('at').startsWith(before.slice(0, 16)), `at= is ${page.url()}`);
  check((await page.locator('#mon-processes h2').innerText()).includes('at '), 'the title does not say the time');
  rows = await treeRows(page);
  check(rows.some((r) => r.pid === '1'), `pid 1 is not in the tree at ${before}`);
  check(!rows.some((r) => r.pid === outerPid || r.execId === leafExecId || r.args.includes(marker)),
        `the chain is in the tree at ${before}, before it started`);
  await page.click('#mon-live');
  await page.waitForSelector(`#mon-tree tr[data-exec-id="${leafExecId}"]`);
});
