/**
 * The operators' console in a real browser (Debian's chromium, headless, driven by puppeteer-core)
 * against the real service: worker on Redis, Virgil emulator. An operator is refused with a wrong
 * token, signs in, onboards a tenant through the form, finds the group Virgil refused with the
 * `failed` filter, opens it, resyncs it once Virgil accepts again and watches it become synced; the
 * API reference renders; no secret of the test appears in the page or in any answer the browser
 * received. Screenshots go to test-output/screenshots/ (git-ignored; SCREENSHOT_DIR to change).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import puppeteer, { type HTTPRequest, type HTTPResponse, type Page } from 'puppeteer-core';
import t from 'tap';
import { publishTestCard } from '../helpers/virgil-clients.js';
import { sendCometChat, startWorkerStack, waitForIdleQueue, waitForStatus } from '../helpers/worker-stack.js';
import type { OnboardedTenant } from '../helpers/app.js';

// The page's globals, for the functions puppeteer runs in the browser (the project's types are Node's).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const document: any, sessionStorage: any, localStorage: any;
type HTMLElement = { hidden: boolean; dataset: Record<string, string> };
type HTMLInputElement = { value: string };

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOTS = path.resolve(process.env.SCREENSHOT_DIR ?? 'test-output/screenshots');
const TIMEOUT_MS = 30_000;

const stack = await startWorkerStack(t, { app: { listen: true } });
const { h } = stack;
const base = h.url!;

const profile = await mkdtemp(path.join(tmpdir(), 'e2ee-chromium-'));
const browser = await puppeteer.launch({
  executablePath: CHROMIUM,
  headless: true,
  userDataDir: profile,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
t.teardown(async () => {
  await browser.close();
  await rm(profile, { recursive: true, force: true });
});
await mkdir(SCREENSHOTS, { recursive: true });

const page = await browser.newPage();
page.setDefaultTimeout(TIMEOUT_MS);
const requests: HTTPRequest[] = [];
const answers: Array<Promise<string>> = [];
const problems: string[] = [];
const refusals: string[] = [];
page.on('request', (request) => requests.push(request));
page.on('response', (response: HTTPResponse) => {
  if (response.status() >= 400) refusals.push(`${response.status()} ${new URL(response.url()).pathname}`);
  // A body the page no longer holds (it navigated on) can be unreadable: give up on it after a while.
  const body = Promise.race([response.text().catch(() => ''), new Promise<string>((resolve) => setTimeout(() => resolve(''), 5_000).unref())]);
  answers.push(body.then((text) => `${response.url()}\n${JSON.stringify(response.headers())}\n${text}`));
});
// Refused requests are checked below (refusals); anything else the console reports is a problem.
page.on('console', (message) => {
  const text = message.text();
  if (/Content.Security.Policy/i.test(text) || (message.type() === 'error' && !text.startsWith('Failed to load resource'))) problems.push(text);
});
page.on('pageerror', (err) => problems.push(String(err)));

const shot = (name: string) => page.screenshot({ path: path.join(SCREENSHOTS, `console-${name}.png`), fullPage: true });
const text = (selector: string) => page.$eval(selector, (el) => el.textContent ?? '');
const heading = (expected: string) => page.waitForFunction((want) => document.querySelector('main h2')?.textContent === want, {}, expected);

// What the operator types in, and what the service makes: none of it may show up afterwards.
const virgil = await h.emulator.createApp();
const appId = 'console-co';
const secrets = {
  'admin token': h.adminToken,
  'master key': h.masterKeys.split(':')[1],
  APP_KEY: virgil.appKey,
  'caller secret': randomBytes(32).toString('base64url'),
  'webhook password': randomBytes(16).toString('hex'),
  'signing secret': `whsec_${randomBytes(32).toString('base64')}`,
};

t.test('a wrong token is refused', async (t) => {
  await page.goto(`${base}/admin/console`);
  await page.locator('#token').fill(`not-${h.adminToken}`);
  await page.locator('#sign-in button[type=submit]').click();
  await page.waitForFunction(() => document.querySelector('#sign-in-error')?.textContent?.includes('refused'));
  t.equal(await text('#sign-in-error'), 'That admin token was refused.');
  t.ok(await page.$eval('#nav', (el) => (el as HTMLElement).hidden), 'nothing but the sign-in form');
  t.equal(await page.evaluate(() => sessionStorage.length), 0, 'nothing kept');
  await shot('1-refused');
});

t.test('signs in and onboards a tenant through the form', async (t) => {
  await page.locator('#token').fill(h.adminToken);
  await page.locator('#sign-in button[type=submit]').click();
  await heading('Tenants');
  t.equal(await page.$eval('#token', () => 'still there').catch(() => 'gone'), 'gone', 'the sign-in form is gone');
  t.same(await page.evaluate(() => ({ local: localStorage.length, cookie: document.cookie, session: sessionStorage.length })), { local: 0, cookie: '', session: 1 },
    'the token is kept in this tab only');

  await page.locator('a[href="#/onboard"]').click();
  await heading('Onboard a tenant');
  await page.locator('[name="appId"]').fill(appId);
  await page.locator('[name="virgil.appId"]').fill(virgil.appId);
  await page.locator('[name="virgil.appKeyId"]').fill(virgil.appKeyId);
  await page.locator('[name="virgil.appKey"]').fill(virgil.appKey);
  await page.select('[name="userAuth.algorithm"]', 'HS256');
  await page.locator('[name="userAuth.secret"]').fill(secrets['caller secret']);
  await page.locator('[name="webhooks.basicAuth.username"]').fill('cometchat');
  await page.locator('[name="webhooks.basicAuth.password"]').fill(secrets['webhook password']);
  await page.locator('[name="webhooks.signingSecret"]').fill(secrets['signing secret']);
  await shot('2-onboarding-form');
  await page.locator('#onboard-submit').click();
  await heading(`Tenant ${appId}`);
  t.match(await text('#status'), `Tenant ${appId} onboarded.`);
  t.match(await text('#tenant-summary'), /Groups\s*0/);
  await shot('3-tenant-onboarded');
});

t.test('finds the failed group, resyncs it, sees it synced', async (t) => {
  const tenant = { appId, webhookBasic: { username: 'cometchat', password: secrets['webhook password'] } } as OnboardedTenant;
  const runtime = (await h.ctx.tenants.get(appId))!;
  for (const uid of ['alice', 'bob']) await publishTestCard(h.emulator.url, virgil, runtime.userIdentity(uid));
  let clock = Math.floor(Date.now() / 1000) - 60;
  await sendCometChat(h, tenant, 'group_created', { guid: 'fine-group', owner: 'alice', members: ['alice', 'bob'], createdAt: ++clock });
  await waitForStatus(h, appId, 'fine-group', (s) => s.status === 'synced');
  // A follow-up run of fine-group (a request that came in while it ran) would meet the fault below too.
  await waitForIdleQueue(stack);
  // Virgil refuses this one's card search: a permanent failure.
  h.emulator.setFaults([{ route: '/card/v5/actions/search', status: 400, code: 40000 }]);
  await sendCometChat(h, tenant, 'group_created', { guid: 'broken-group', owner: 'alice', members: ['alice', 'bob'], createdAt: ++clock });
  await waitForStatus(h, appId, 'broken-group', (s) => s.status === 'failed');

  await page.locator('a[href="#/tenants"]').click();
  await heading('Tenants');
  await page.waitForSelector(`tr[data-app-id="${appId}"]`);
  t.equal(await page.$eval(`tr[data-app-id="${appId}"] .badge`, (el) => el.textContent), '1 failed', 'the tenant list shows its health');
  await shot('4-tenants');

  await page.locator(`tr[data-app-id="${appId}"] a`).click();
  await heading(`Tenant ${appId}`);
  await page.waitForSelector('tr[data-guid="fine-group"]');
  await page.locator('button[data-status="failed"]').click();
  await page.waitForFunction(() => document.querySelectorAll('#group-list tr[data-guid]').length === 1 && document.querySelector('tr[data-guid="broken-group"]'));
  t.same(await page.$$eval('#group-list tr[data-guid]', (rows) => rows.map((r) => (r as HTMLElement).dataset.guid)), ['broken-group'], 'the failed filter shows the failed group only');
  t.match(await text('tr[data-guid="broken-group"]'), /VIRGIL_REJECTED/);
  t.equal(await page.$eval('button[data-status="failed"]', (b) => b.getAttribute('aria-pressed')), 'true');
  await shot('5-failed-filter');

  await page.locator('tr[data-guid="broken-group"] a').click();
  await heading('Group broken-group');
  t.equal(await text('#group-status'), 'failed');
  t.match(await text('#group-error'), /^VIRGIL_REJECTED: Virgil answered 400/);
  t.match(await text('#group-detail'), /alice/, 'desired members are shown');
  await shot('6-group-failed');

  h.emulator.clearFaults();
  await page.locator('#resync').click();
  await page.waitForFunction(() => document.querySelector('#group-status')?.textContent === 'synced');
  t.match(await text('#status'), 'Resync of broken-group queued.');
  t.equal(await text('#group-error'), 'none');
  const members = await page.$$eval('#group-detail tbody tr', (rows) => rows.map((r) => [...r.children].map((c) => c.textContent)));
  t.same(members, [['alice', 'yes', 'yes', '—'], ['bob', 'yes', 'yes', '—']], 'desired and on Virgil');
  t.equal((await h.admin('GET', `/admin/v1/audit?appId=${appId}&guid=broken-group&action=group.resync_requested`)).json().data.items.length, 1, 'the resync is audited');
  await shot('7-group-synced');
});

t.test('the API reference renders under the same policy', async (t) => {
  await page.goto(`${base}/docs`);
  await page.waitForSelector('section[data-tag="admin"] details');
  t.ok(await page.$('section[data-tag="extension"] details[id="get-/v1/virgil-jwt"]'), 'the extension API');
  t.ok(await page.$('section[data-tag="admin"] details[id="get-/admin/v1/tenants/{appId}/groups"]'), 'and, with the token of this tab, the admin API');
  await shot('8-docs');
});

t.test('signing out forgets the token', async (t) => {
  await page.goto(`${base}/admin/console#/tenants`);
  await heading('Tenants');
  await page.locator('#sign-out').click();
  await page.waitForSelector('#token');
  t.equal(await page.evaluate(() => sessionStorage.length), 0);
});

t.test('no secret in the page or in anything the browser received', async (t) => {
  // What the service made and keeps sealed.
  const row = await h.ctx.db.selectFrom('tenants').selectAll().where('app_id', '=', appId).executeTakeFirstOrThrow();
  const all: Record<string, string> = {
    ...secrets,
    'service private key': h.ctx.keyring.open(row.service_private_key, { tenant: appId, field: 'service_private_key' }),
    'identity secret': h.ctx.keyring.open(row.identity_secret, { tenant: appId, field: 'identity_secret' }),
    'sealed APP_KEY': row.virgil_app_key,
  };
  const dom = await page.evaluate(() => [document.documentElement.outerHTML,
    ...[...document.querySelectorAll('input, textarea, select')].map((el) => (el as HTMLInputElement).value)].join('\n'));
  const received = (await Promise.all(answers)).join('\n');
  t.ok(received.length > 1000 && requests.length > 20, `${requests.length} requests and their answers were captured`);
  const onboarding = requests.find((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/admin/v1/tenants')!;
  t.ok(onboarding?.postData()?.includes(secrets['caller secret']), 'the onboarding request carried what was typed (so the search would see it)');

  for (const [name, value] of Object.entries(all)) {
    t.notOk(dom.includes(value), `${name}: not in the page`);
    t.notOk(received.includes(value), `${name}: in no answer`);
    for (const request of requests) {
      const { authorization, ...headers } = request.headers();
      const sent = [request.url(), JSON.stringify(headers), request === onboarding ? '' : request.postData() ?? ''].join('\n');
      if (sent.includes(value)) t.fail(`${name}: sent in ${request.method()} ${request.url()}`);
      if (authorization?.includes(value) && name !== 'admin token') t.fail(`${name}: in an authorization header`);
      if (authorization && !new URL(request.url()).pathname.startsWith('/admin/')) t.fail(`a token was sent outside the admin API: ${request.url()}`);
    }
  }
  t.same(problems, [], 'no script error and no Content-Security-Policy violation');
  t.same(refusals, ['401 /admin/v1/tenants'], 'the only refused request was the wrong token');
});
