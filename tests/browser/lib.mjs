// What every console test in Chromium shares (Debian's /usr/bin/chromium
// driven by playwright-core): a fresh profile, the flags CI needs, and the
// problems a page must not have (console errors, page errors, failed
// requests, HTTP errors the test did not expect), gathered per page.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export async function openBrowser() {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'adam-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    ignoreHTTPSErrors: false,
    viewport: { width: 1280, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
  const problems = [];
  // Statuses a step expects (e.g. a form's 400 shown next to its field):
  // `expectStatus(400)` before the step, and that one response is no problem.
  const expected = [];
  // What Chromium and htmx log for an expected response: excused once each.
  const expectedLogs = [];
  function excusedLog(text) {
    const status = Number((/status of (\d{3})|Response Status Error Code (\d{3})/.exec(text) ?? [])
      .slice(1).find(Boolean));
    const kind = text.includes('Response Status Error Code') ? 'htmx' : 'chromium';
    const i = expectedLogs.findIndex((e) => e.status === status && e.kind === kind);
    if (i < 0) return false;
    expectedLogs.splice(i, 1);
    return true;
  }
  function watch(page) {
    page.setDefaultTimeout(15000);
    page.on('console', (m) => {
      if (m.type() !== 'error' || excusedLog(m.text())) return;
      // A request the page replaced by a newer one (hx-sync): htmx logs its
      // afterRequest and then the abort, which are no failure.
      const abort = /^htmx:sendAbort(.*)$/.exec(m.text());
      if (abort) {
        const i = problems.lastIndexOf(`console error: htmx:afterRequest${abort[1]}`);
        if (i >= 0) problems.splice(i, 1);
        return;
      }
      problems.push(`console error: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => {
      // A stream the page closed (a swap, a navigation) is no failure.
      if (r.failure()?.errorText === 'net::ERR_ABORTED') return;
      problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`);
    });
    page.on('response', async (r) => {
      if (r.status() < 400) return;
      const i = expected.indexOf(r.status());
      if (i >= 0) {
        expected.splice(i, 1);
        return;
      }
      problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}: ${await r.text().catch(() => '')}`);
    });
    page.on('dialog', (d) => d.accept());  // hx-confirm
    return page;
  }
  const page = watch(context.pages()[0] ?? await context.newPage());
  return {
    context, page, problems,
    expectStatus: (status) => {
      expected.push(status);
      expectedLogs.push({ status, kind: 'chromium' }, { status, kind: 'htmx' });
    },
    async newPage() { return watch(await context.newPage()); },
    async close() {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

// Signs in through the login form; the console opens on the dashboard.
export async function signIn(page, url, token) {
  await page.goto(url);
  await page.waitForSelector('input[name="token"]');
  await page.fill('input[name="token"]', token);
  await page.click('button:has-text("sign in")');
  await page.waitForSelector('#machine-nav');
}

// The API with a bearer token, as a script would call it.
export async function api(url, token, method, apiPath, body) {
  const r = await fetch(`${url}${apiPath}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, json, text };
}

// Runs `steps(browser)`; prints every problem and exits 1 if there was one.
export async function run(steps) {
  const browser = await openBrowser();
  try {
    await steps(browser);
  } catch (e) {
    browser.problems.push(String(e.stack ?? e));
  } finally {
    await browser.close();
  }
  for (const p of browser.problems) console.error(p);
  process.exit(browser.problems.length ? 1 : 0);
}
