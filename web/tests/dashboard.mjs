// The dashboard in a real browser (Debian's chromium, driven by playwright-core),
// against the real server and a real local swarm that tests/it/dashboard.rs starts.
//
// The Rust test gives the server's address and the torrents in the environment, and
// restarts the server when this script prints RESTART (it answers RESTARTED on stdin).
// Every HTTP request the page makes is recorded: during the downloads the page must not
// poll REST. The script exits non-zero on the first failed check, saying which.
//
// Environment: TE_BASE, TE_ADMIN_PASSWORD, TE_FILE (a .torrent, added through the file
// input) and TE_FILE_HASH, TE_MAGNET and TE_MAGNET_HASH, TE_DROP (a .torrent dropped on
// the page) and TE_DROP_HASH, TE_SHOTS (where screenshots go), TE_CHROMIUM.

import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const BASE = env('TE_BASE');
const PASSWORD = env('TE_ADMIN_PASSWORD');
const FILE = env('TE_FILE');
const FILE_HASH = env('TE_FILE_HASH');
const MAGNET = env('TE_MAGNET');
const MAGNET_HASH = env('TE_MAGNET_HASH');
const DROP = env('TE_DROP');
const DROP_HASH = env('TE_DROP_HASH');
const SHOTS = env('TE_SHOTS');
const CHROMIUM = process.env.TE_CHROMIUM || '/usr/bin/chromium';

const LONG = 120_000;
const started = Date.now();
const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s]`, ...a);

function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
  log('ok:', what);
}

// --- The Rust side: restart requests over stdout/stdin. --------------------------------
const lines = createInterface({ input: process.stdin });
const answers = [];
let waiting = null;
lines.on('line', (l) => (waiting ? (waiting(l), (waiting = null)) : answers.push(l)));
function ask(what) {
  console.log(what);
  return new Promise((resolve) => (answers.length ? resolve(answers.shift()) : (waiting = resolve)));
}

// --- REST, from this script (the state the page's actions must have reached). ---------
async function rest(method, path, body) {
  const login = await fetch(`${BASE}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: PASSWORD }),
  });
  const { accessToken } = await login.json();
  const res = await fetch(`${BASE}${path}`, {
    method,
    headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function until(what, f, timeout = LONG) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// --- TOTP (RFC 6238) as an authenticator app computes it, from the secret the page shows.
function base32(text) {
  let bits = 0, acc = 0;
  const out = [];
  for (const c of text.replace(/=+$/, '')) {
    acc = (acc << 5) | 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}
const totpStep = () => Math.floor(Date.now() / 1000 / 30);
function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const h = createHmac('sha1', base32(secret)).update(counter).digest();
  const at = h[19] & 0x0f;
  const value = ((h[at] & 0x7f) << 24) | (h[at + 1] << 16) | (h[at + 2] << 8) | h[at + 3];
  return String(value % 1_000_000).padStart(6, '0');
}

// --- The browser. -----------------------------------------------------------------------
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--no-first-run',
  ],
});

/** A page whose every request, failure and console error is recorded. */
async function openPage(name, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, ...options });
  const page = await context.newPage();
  const record = { name, requests: [], problems: [] };
  page.on('request', (r) => record.requests.push({ t: Date.now(), method: r.method(), url: r.url() }));
  page.on('requestfailed', (r) =>
    record.problems.push({ t: Date.now(), what: `request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`, url: r.url() }),
  );
  page.on('response', (r) => {
    if (r.status() >= 400) record.problems.push({ t: Date.now(), what: `HTTP ${r.status()} for ${r.url()}`, url: r.url() });
  });
  page.on('console', (m) => {
    if (m.type() === 'info') log(`${name} page:`, m.text());
    if (m.type() === 'error') record.problems.push({ t: Date.now(), what: `console error: ${m.text()}`, url: m.location()?.url ?? '' });
  });
  page.on('pageerror', (e) => record.problems.push({ t: Date.now(), what: `page error: ${e.message}`, url: '' }));
  page.on('dialog', (d) => void d.accept());
  return { context, page, record };
}

async function signIn(page, user, password) {
  await page.goto(BASE + '/');
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('[data-connection="live"]').waitFor({ timeout: 20_000 });
}

const row = (page, hash) => page.locator(`.tbody [data-hash="${hash}"]`);

async function rowState(page, hash) {
  const r = row(page, hash);
  if (!(await r.count())) return null;
  const state = await r.locator('[data-state]').getAttribute('data-state');
  const progress = Number(await r.getByRole('progressbar').getAttribute('aria-valuenow'));
  return { state, progress };
}

async function select(page, hashes) {
  const boxes = page.locator('.tbody input[type="checkbox"]:checked');
  for (let i = await boxes.count(); i > 0; i--) await boxes.first().uncheck();
  for (const h of hashes) await row(page, h).locator('input[type="checkbox"]').check();
}

async function shots(page, tag) {
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const [w, h, form] of [[1280, 860, 'desktop'], [390, 844, 'phone']]) {
      await page.setViewportSize({ width: w, height: h });
      await page.waitForTimeout(150);
      await page.screenshot({ path: join(SHOTS, `${tag}-${form}-${scheme}.png`) });
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 1280, height: 860 });
}

const admin = await openPage('admin');
const { page } = admin;
try {
  await signIn(page, 'admin', PASSWORD);
  check(true, 'signed in; the socket is live');

  // 1. Add: a .torrent through the file input, a magnet link, a .torrent dropped.
  await page.getByRole('button', { name: '+ Add' }).click();
  await page.getByLabel('.torrent files').setInputFiles(FILE);
  await page.getByRole('dialog').getByRole('button', { name: 'Add', exact: true }).click();
  await row(page, FILE_HASH).waitFor();
  check(true, 'the .torrent from the file input is listed');

  await page.getByRole('button', { name: '+ Add' }).click();
  await page.getByLabel('Magnet link or URL of a .torrent').fill(MAGNET);
  await page.getByRole('dialog').getByRole('button', { name: 'Add', exact: true }).click();
  await row(page, MAGNET_HASH).waitFor();
  check(true, 'the magnet is listed');

  const bytes = readFileSync(DROP).toString('base64');
  const transfer = await page.evaluateHandle(
    ({ name, b64 }) => {
      const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([data], name, { type: 'application/x-bittorrent' }));
      return dt;
    },
    { name: basename(DROP), b64: bytes },
  );
  await page.dispatchEvent('main', 'dragover', { dataTransfer: transfer });
  await page.locator('.dropzone').waitFor();
  await page.dispatchEvent('main', 'drop', { dataTransfer: transfer });
  await row(page, DROP_HASH).waitFor();
  check(true, 'the dropped .torrent is listed');

  // A duplicate is refused in words (its 409 is the one expected failed request).
  const duplicateFrom = Date.now();
  await page.getByRole('button', { name: '+ Add' }).click();
  await page.getByLabel('Magnet link or URL of a .torrent').fill(MAGNET);
  await page.getByRole('dialog').getByRole('button', { name: 'Add', exact: true }).click();
  await page.getByRole('dialog').getByText('already in your list').waitFor();
  const duplicateUntil = Date.now();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  check(true, 'adding it twice says it is already in the list');
  const downloadStart = Date.now();

  // 2. The server restarts mid-download: reconnecting, then live again, no reload.
  await until('the first download to pass 10 %', async () => (await rowState(page, FILE_HASH))?.progress > 10);
  const marker = await page.evaluate(() => (window.__notReloaded = true));
  const restartFrom = Date.now();
  const restarted = ask('RESTART');
  await page.locator('[data-connection="reconnecting"]').waitFor({ timeout: 30_000 });
  check(true, 'the page shows reconnecting while the server is down');
  check((await restarted) === 'RESTARTED', 'the server restarted');
  await page.locator('[data-connection="live"]').waitFor({ timeout: 30_000 });
  const restartUntil = Date.now();
  check(await page.evaluate(() => window.__notReloaded === true) && marker, 'live again without a reload');

  // 3. Both downloads finish; the bar reads 100 % and the state seeding.
  for (const hash of [FILE_HASH, MAGNET_HASH]) {
    await until(`${hash} seeding at 100 %`, async () => {
      const s = await rowState(page, hash);
      return s?.state === 'seeding' && s.progress === 100;
    });
  }
  const downloadEnd = Date.now();
  check(true, `both downloads seed at 100 % (${((downloadEnd - downloadStart) / 1000).toFixed(0)} s)`);

  // 4. No REST polling: the list was loaded once, and once more after the restart.
  const listGets = admin.record.requests.filter(
    (r) => r.method === 'GET' && /\/api\/torrents(\/|\?|$)/.test(new URL(r.url).pathname + new URL(r.url).search),
  );
  log('GET /api/torrents* requests:', listGets.map((r) => new URL(r.url).pathname));
  check(listGets.length <= 3, `at most 3 GET /api/torrents* in the whole run (got ${listGets.length})`);

  // 5. Details: pieces, files, peers, trackers, events.
  await row(page, FILE_HASH).getByRole('link').click();
  await page.locator('#details-title').waitFor();
  const pieces = page.locator('canvas.pieces');
  await pieces.waitFor();
  await until('the pieces map to be full', async () => {
    const have = await pieces.getAttribute('data-have');
    return have && have === (await pieces.getAttribute('data-total'));
  });
  const fileBars = page.locator('tr[data-file] [role="progressbar"]');
  check((await fileBars.count()) >= 2, 'the files are listed');
  for (const v of await fileBars.evaluateAll((els) => els.map((e) => e.getAttribute('aria-valuenow')))) {
    check(Number(v) === 100, `a file at 100 % (${v})`);
  }
  check((await page.locator('.events li code').allTextContents()).includes('torrent:complete'), 'the recent events show torrent:complete');
  // A file's stream link: shown in the page, and it opens without a token.
  const firstFile = page.locator('tr[data-file]').first();
  check((await firstFile.getByRole('button', { name: /^Play / }).count()) === 0, 'no Play button for a file that is not media');
  await firstFile.getByRole('button', { name: /^Copy a stream link/ }).click();
  const linkBox = firstFile.getByRole('textbox', { name: /^Stream link of / });
  await linkBox.waitFor();
  const streamUrl = await linkBox.inputValue();
  check(/\/api\/torrents\/[0-9a-f]{40}\/stream\/\d+\/.+\?u=.+&exp=\d+&sig=/.test(streamUrl), `a signed stream link (${streamUrl.slice(0, 60)}…)`);
  const ranged = await fetch(streamUrl, { headers: { range: 'bytes=0-99' } });
  check(ranged.status === 206 && (await ranged.arrayBuffer()).byteLength === 100, 'the link streams a range without a token');
  await shots(page, 'details');
  await page.goto(BASE + '/#/');
  await row(page, FILE_HASH).waitFor();

  // 6. Pause, resume, priority, remove: each reaches the REST state.
  await select(page, [FILE_HASH]);
  await page.getByRole('toolbar', { name: 'Selected torrents' }).getByRole('button', { name: 'Pause' }).click();
  await until('paused in the page', async () => (await rowState(page, FILE_HASH))?.state === 'paused');
  check((await rest('GET', `/api/torrents/${FILE_HASH}`)).body.state === 'paused', 'paused in REST');
  await page.getByRole('toolbar', { name: 'Selected torrents' }).getByRole('button', { name: 'Resume' }).click();
  await until('resumed in the page', async () => (await rowState(page, FILE_HASH))?.state === 'seeding');
  check((await rest('GET', `/api/torrents/${FILE_HASH}`)).body.paused === false, 'resumed in REST');
  await page.getByLabel('Set priority').selectOption('high');
  await until('high priority in the page', async () =>
    (await row(page, FILE_HASH).locator('[data-priority]').getAttribute('data-priority')) === 'high');
  check((await rest('GET', `/api/torrents/${FILE_HASH}`)).body.priority === 'high', 'high priority in REST');
  await select(page, [DROP_HASH]);
  await page.getByRole('toolbar', { name: 'Selected torrents' }).getByRole('button', { name: 'Remove', exact: true }).click();
  await row(page, DROP_HASH).waitFor({ state: 'detached' });
  check((await rest('GET', `/api/torrents/${DROP_HASH}`)).status === 404, 'removed in REST');

  // 7. The access token expired (ACCESS_TOKEN_TTL is short) and was renewed silently.
  const renewals = admin.record.requests.filter((r) => r.url.endsWith('/api/auth/refresh'));
  check(renewals.length >= 2, `the access token was renewed ${renewals.length} times`);
  check(!(await page.getByRole('button', { name: 'Sign in' }).count()), 'still signed in');

  // 8. Another user never sees these torrents.
  const bobPassword = 'bob-password-123';
  const created = await rest('POST', '/api/users', { username: 'bob', password: bobPassword });
  check(created.status === 201, 'bob created');
  const bob = await openPage('bob');
  await signIn(bob.page, 'bob', bobPassword);
  await bob.page.getByText('No torrents yet').waitFor();
  await page.waitForTimeout(2_000); // the admin's torrents keep sending events meanwhile
  for (const h of [FILE_HASH, MAGNET_HASH]) {
    check(!(await row(bob.page, h).count()), `bob does not see ${h.slice(0, 8)}`);
  }
  check((await bob.page.getByRole('link', { name: 'Admin' }).count()) === 0, 'bob has no admin view');

  // 9a. The library: a movie added and assigned a file of a torrent from the page.
  await page.getByRole('link', { name: 'Library' }).click();
  await page.locator('#library-title').waitFor();
  await page.getByLabel('Add movie: title').fill('Heat');
  await page.getByLabel('Add movie: year').fill('1995');
  await page.getByRole('button', { name: 'Add movie' }).click();
  const movieRow = page.locator('li.movie', { hasText: 'Heat (1995)' });
  await movieRow.waitFor();
  await movieRow.getByRole('button', { name: 'Assign' }).click();
  await movieRow.getByLabel('Torrent', { exact: true }).selectOption(FILE_HASH);
  const fileSelect = movieRow.getByRole('combobox', { name: 'File', exact: true });
  await fileSelect.waitFor();
  const filePath = await fileSelect.locator('option').nth(1).getAttribute('value');
  await fileSelect.selectOption(filePath);
  await movieRow.getByRole('button', { name: 'Assign', exact: true }).last().click();
  await movieRow.getByRole('link', { name: filePath }).waitFor();
  const movies = (await rest('GET', '/api/movies')).body;
  check(movies.length === 1 && movies[0].assignment?.filePath === filePath && movies[0].assignment.infoHash === FILE_HASH,
    `the movie assigned from the page is in REST (${filePath})`);
  await shots(page, 'library');

  // 9b. The catalog: a .torrent published from the page, suggested and found by search,
  // its details with files, swarm counts and a comment.
  await page.getByRole('link', { name: 'Catalog' }).click();
  await page.locator('#catalog-title').waitFor();
  const publish = page.getByRole('form', { name: 'Publish a torrent' });
  await publish.getByLabel('Torrent file').setInputFiles(FILE);
  await publish.getByLabel('Title', { exact: true }).fill('Dashboard Catalog Test');
  await publish.getByLabel('Description').fill('published from the browser');
  await publish.getByLabel('Tags').fill('e2e, browser');
  await publish.getByRole('button', { name: 'Publish' }).click();
  await page.locator('.catalog-entries li', { hasText: 'Dashboard Catalog Test' }).waitFor();
  const searchBox = page.getByLabel('Search the catalog');
  await searchBox.fill('dashboard cat');
  await page.getByRole('list', { name: 'Suggestions' }).getByRole('button', { name: 'Dashboard Catalog Test' }).waitFor();
  await searchBox.fill('browser');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.getByText('1 matching “browser”').waitFor();
  await page.getByRole('link', { name: 'Dashboard Catalog Test' }).click();
  await page.locator('#entry-title', { hasText: 'Dashboard Catalog Test' }).waitFor();
  await page.locator('[data-count="seeders"]').waitFor();
  check((await page.locator('ul.files li').count()) > 0, 'the catalog entry lists its files');
  check((await page.getByRole('button', { name: 'Download .torrent' }).count()) === 1, 'the entry offers its .torrent');
  await page.getByLabel('Comment', { exact: true }).fill('looks good');
  await page.getByRole('button', { name: 'Comment', exact: true }).click();
  await page.locator('ul.comments li', { hasText: 'looks good' }).waitFor();
  const published = (await rest('GET', '/api/catalog/search?q=browser')).body;
  check(published.total === 1 && published.entries[0].infoHash === FILE_HASH, 'the entry published from the page is in REST');
  await shots(page, 'catalog');

  // 9. Overview and admin views render; screenshots of the list.
  await page.getByRole('link', { name: 'Overview' }).click();
  await page.locator('#overview-title').waitFor();
  await page.getByText('Disk free').waitFor();
  await shots(page, 'overview');
  await page.getByRole('link', { name: 'Admin' }).click();
  await page.getByRole('cell', { name: 'bob' }).waitFor();
  await page.getByLabel('Torrents downloading at once').fill('7');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText('Saved.').waitFor();
  check((await rest('GET', '/api/settings')).body.maxConcurrentTorrents === 7, 'the download slots saved from the page are in REST');
  await page.getByRole('link', { name: 'Torrents' }).click();
  await row(page, FILE_HASH).waitFor();
  await shots(page, 'list');

  // 10. Sign-out revokes: the old access token no longer works.
  const token = await page.evaluate(() => JSON.parse(localStorage.getItem('torrentedge.session')).accessToken);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  const after = await fetch(`${BASE}/api/torrents`, { headers: { authorization: `Bearer ${token}` } });
  check(after.status === 401, 'the signed-out access token is refused');

  // 11. A session whose renewal is refused goes back to the sign-in page.
  const stale = await openPage('stale');
  await signIn(stale.page, 'bob', bobPassword);
  await stale.page.evaluate(() => {
    const s = JSON.parse(localStorage.getItem('torrentedge.session'));
    s.refreshToken = 'not-a-refresh-token';
    s.expiresAt = Date.now() - 1000;
    localStorage.setItem('torrentedge.session', JSON.stringify(s));
  });
  await stale.page.reload();
  await stale.page.getByRole('button', { name: 'Sign in' }).waitFor();
  const refused = stale.record.problems.filter((p) => !/HTTP 401 .*\/api\/auth\/refresh|status of 401/.test(p.what));
  check(refused.length === 0, `a refused renewal signs out, and only its 401 is logged ${JSON.stringify(refused.map((p) => p.what))}`);
  await stale.context.close();

  // 11b. Two-factor login: set up from the Security page (QR code, key, a first code,
  // the recovery codes shown once), then a sign-in through the code prompt, one with a
  // recovery code, and turning it off again.
  const carolPassword = 'carol-password-123';
  check((await rest('POST', '/api/users', { username: 'carol', password: carolPassword })).status === 201, 'carol created');
  const carol = await openPage('carol');
  const cp = carol.page;
  await signIn(cp, 'carol', carolPassword);
  await cp.getByRole('link', { name: 'Security' }).click();
  await cp.locator('[data-two-factor="off"]').waitFor();
  await cp.getByRole('button', { name: 'Set up two-factor login' }).click();
  const qr = cp.getByRole('img', { name: 'QR code for your authenticator app' });
  await qr.waitFor();
  check(await qr.evaluate((img) => img.complete && img.naturalWidth > 0), 'the QR code image loads');
  const secret = (await cp.locator('[data-totp-secret]').textContent()).trim();
  check(/^[A-Z2-7]{32}$/.test(secret), 'the key is shown in base32');
  const confirmStep = totpStep();
  await cp.getByLabel('Code from your app').fill(totp(secret, confirmStep));
  await cp.getByRole('button', { name: 'Turn on' }).click();
  const recoveryList = cp.getByRole('list', { name: 'Recovery codes' });
  await recoveryList.waitFor();
  const recoveryCodes = await recoveryList.locator('code').allTextContents();
  check(recoveryCodes.length === 10, 'ten recovery codes are shown once');
  await cp.locator('[data-two-factor="on"]').waitFor();
  await cp.getByRole('button', { name: 'I saved them' }).click();
  // The tracker account below: the private announce URL with carol's passkey, and a
  // new passkey that makes the tracker refuse the old one.
  await cp.locator('[data-tracker-mode="private"]').waitFor();
  const announceUrl = async () => (await cp.locator('[data-announce-url]').textContent()).trim();
  const firstUrl = await announceUrl();
  check(new RegExp(`^${BASE}/announce/[0-9a-f]{32}$`).test(firstUrl), `the announce URL carries a passkey (${firstUrl})`);
  check((await cp.locator('[data-stat="ratio"]').textContent()) === '—', 'no ratio before any download');
  await shots(cp, 'security');
  await cp.getByRole('button', { name: 'New passkey' }).click();
  await cp.getByText('A new passkey is in use').waitFor();
  const secondUrl = await announceUrl();
  check(secondUrl !== firstUrl && /\/announce\/[0-9a-f]{32}$/.test(secondUrl), 'a new passkey is shown');
  const announce = (url) => fetch(`${url}?info_hash=${'%aa'.repeat(20)}&peer_id=${'-TE0001-'}abcdefghijkl&port=6881&uploaded=0&downloaded=0&left=0&compact=1`)
    .then((r) => r.arrayBuffer()).then((b) => new TextDecoder().decode(b));
  const oldKey = await announce(firstUrl);
  check(oldKey.includes('failure reason') && oldKey.includes('passkey'), `the old passkey is refused (${oldKey})`);
  await cp.getByRole('button', { name: 'Sign out' }).click();
  const twoFactorFrom = Date.now();
  await cp.getByLabel('User name').fill('carol');
  await cp.getByLabel('Password').fill(carolPassword);
  await cp.getByRole('button', { name: 'Sign in' }).click();
  // The code after the confirming one (the server takes one step of skew, and a step once).
  await cp.getByLabel('Authentication code').fill(totp(secret, confirmStep + 1));
  await cp.getByRole('button', { name: 'Verify' }).click();
  await cp.locator('[data-connection="live"]').waitFor({ timeout: 20_000 });
  check(true, 'signed in with a code from the prompt');
  await cp.getByRole('button', { name: 'Sign out' }).click();
  await cp.getByLabel('User name').fill('carol');
  await cp.getByLabel('Password').fill(carolPassword);
  await cp.getByRole('button', { name: 'Sign in' }).click();
  await cp.getByRole('button', { name: 'Use a recovery code instead' }).click();
  await cp.getByLabel('Recovery code').fill(recoveryCodes[0]);
  await cp.getByRole('button', { name: 'Verify' }).click();
  await cp.locator('[data-connection="live"]').waitFor({ timeout: 20_000 });
  const twoFactorUntil = Date.now();
  check(true, 'signed in with a recovery code');
  await cp.goto(BASE + '/#/security');
  await cp.getByText('9 recovery codes left').waitFor();
  const disableForm = cp.getByRole('form', { name: 'Turn off two-factor login' });
  await disableForm.getByLabel('Password').fill(carolPassword);
  await disableForm.getByLabel('Code or recovery code').fill(recoveryCodes[1]);
  await disableForm.getByRole('button', { name: 'Turn off' }).click();
  await cp.locator('[data-two-factor="off"]').waitFor();
  const plain = await fetch(`${BASE}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'carol', password: carolPassword }),
  });
  check(plain.status === 200, 'turned off from the page: the password alone signs in again');
  // The prompts' `two_factor_required` answers are the expected failed requests.
  const asked = (p) => p.t >= twoFactorFrom && p.t <= twoFactorUntil && /401/.test(p.what);
  const carolProblems = carol.record.problems.filter((p) => !asked(p));
  check(carolProblems.length === 0, `carol: no console errors or failed requests ${JSON.stringify(carolProblems.map((p) => p.what))}`);
  await carol.context.close();

  // 12. No console errors and no failed requests, but for connections the server
  // refused while it was down (the socket reconnecting, a token renewal that fell in
  // that window and was retried) and the refused duplicate.
  const refusedWhileDown = (p) => p.what.includes('/socket.io/') || p.what.includes('ERR_CONNECTION_REFUSED');
  const expected = (p) =>
    (p.t >= restartFrom && p.t <= restartUntil + 1_000 && refusedWhileDown(p)) ||
    (p.t >= duplicateFrom && p.t <= duplicateUntil && (p.what.includes('409') || p.what.includes('Conflict')));
  for (const rec of [admin.record, bob.record]) {
    const problems = rec.problems.filter((p) => !expected(p));
    check(problems.length === 0, `${rec.name}: no console errors or failed requests ${JSON.stringify(problems.map((p) => p.what))}`);
  }
  await bob.context.close();
  console.log('PASSED');
} catch (e) {
  await page.screenshot({ path: join(SHOTS, 'failure.png') }).catch(() => undefined);
  console.log(`FAILED: ${e.stack ?? e}`);
  for (const p of admin.record.problems) console.log(`  ${p.what}`);
  process.exitCode = 1;
} finally {
  await browser.close();
  lines.close();
}
