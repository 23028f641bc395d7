// The dashboard under load, measured in the browser (examples/bench_dashboard.rs runs
// this; it is a benchmark, not a test). Signs in, waits until the list holds
// TE_EXPECT torrents, prints READY (the Rust side then pushes progress events for the
// active torrents), and measures for TE_SECONDS:
// - long tasks (PerformanceObserver 'longtask': main-thread work over 50 ms), their
//   count, total and longest;
// - frames (requestAnimationFrame callbacks per second) while the updates arrive;
// - the page's JS heap (performance.memory) and DOM nodes (CDP Performance.getMetrics);
// - the time from submitting the sign-in form to the full list.
// Prints one line `RESULT {json}`.

import { chromium } from 'playwright-core';

const BASE = process.env.TE_BASE;
const PASSWORD = process.env.TE_ADMIN_PASSWORD;
const EXPECT = Number(process.env.TE_EXPECT);
const SECONDS = Number(process.env.TE_SECONDS || 20);
const CHROMIUM = process.env.TE_CHROMIUM || '/usr/bin/chromium';

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--no-first-run', '--enable-precise-memory-info'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.addInitScript(() => {
    window.__long = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__long.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  });
  await page.goto(`${BASE}/`);
  await page.getByLabel('User name').fill('admin');
  await page.getByLabel('Password').fill(PASSWORD);
  const submitted = Date.now();
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('option', { name: `All states (${EXPECT})` }).waitFor({ state: 'attached', timeout: 120_000 });
  await page.locator('.tbody .tr').first().waitFor();
  const listMs = Date.now() - submitted;
  await page.waitForTimeout(1000);

  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  let frames = 0;
  cdp.on('Network.webSocketFrameReceived', () => frames++);
  await cdp.send('Network.enable');

  console.log('READY');
  const measured = await page.evaluate(async (seconds) => {
    const from = performance.now();
    const longBefore = window.__long.length;
    let count = 0;
    await new Promise((resolve) => {
      const tick = () => {
        count++;
        if (performance.now() - from < seconds * 1000) requestAnimationFrame(tick);
        else resolve();
      };
      requestAnimationFrame(tick);
    });
    const elapsed = (performance.now() - from) / 1000;
    const long = window.__long.slice(longBefore);
    return {
      fps: count / elapsed,
      longTasks: long.length,
      longTaskMs: long.reduce((s, e) => s + e.duration, 0),
      longestTaskMs: long.reduce((m, e) => Math.max(m, e.duration), 0),
      heapMiB: performance.memory ? performance.memory.usedJSHeapSize / 1048576 : null,
      rows: document.querySelectorAll('.tbody .tr').length,
      downloading: document.querySelector('select[aria-label="Filter by state"] option[value="downloading"]')?.textContent,
    };
  }, SECONDS);
  const metrics = Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
  const loadLong = await page.evaluate(() => window.__long.reduce((s, e) => s + e.duration, 0));
  console.log(`RESULT ${JSON.stringify({
    ...measured,
    seconds: SECONDS,
    socketFrames: frames,
    listMs,
    longTaskMsSinceLoad: loadLong,
    domNodes: metrics.Nodes,
    jsHeapUsedMiB: metrics.JSHeapUsedSize / 1048576,
    errors,
  })}`);
} finally {
  await browser.close();
}
