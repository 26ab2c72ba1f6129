/**
 * The client library and the demo chat in headless Chromium, with @virgilsecurity/e3kit-browser
 * bundled by esbuild. Pages are served from their own origin; E3Kit talks to the emulator directly
 * (its CORS), the library to the API (its CORS). One browser, one context per device.
 */
import path from 'node:path';
import t from 'tap';
import type { Page } from 'puppeteer-core';
import { bundleForBrowser } from '../../src/demo/bundle.js';
import { buildDemoApp } from '../../src/http/demo/demo-chat-routes.js';
import { chromiumMissing, launchBrowser, newDevicePage, screenshot, serveStatic } from '../helpers/browser.js';
import { basicAuthHeader } from '../helpers/deliveries.js';
import { sendCometChat, startWorkerStack, waitForStatus } from '../helpers/worker-stack.js';
import { waitFor } from '../helpers/wait.js';

const missing = chromiumMissing();
if (missing) throw new Error(`browser tests need Chromium: ${missing}`);

const stack = await startWorkerStack(t, { app: { listen: true } });
const { h } = stack;
const browser = await launchBrowser(t);

type Outcome = { ok?: unknown; error?: { code: string | null; message: string } };
type HarnessWindow = { harness: Record<string, (...args: unknown[]) => Promise<Outcome>> };

/** Calls `window.harness[name](...args)` in the page. */
async function call(page: Page, name: string, ...args: unknown[]): Promise<Outcome> {
  return page.evaluate((fn, fnArgs) => (globalThis as unknown as HarnessWindow).harness[fn](...fnArgs), name, args);
}

async function ok<T>(page: Page, name: string, ...args: unknown[]): Promise<T> {
  const outcome = await call(page, name, ...args);
  if (outcome.error) throw new Error(`${name}: ${outcome.error.code} ${outcome.error.message}`);
  return outcome.ok as T;
}

t.test('the client library in a browser: register, back up, 1:1, a worker-made group, a kick, a second device', async (t) => {
  const tenant = await h.onboardTenant();
  const bundle = await bundleForBrowser(path.resolve('test/browser/client-harness.ts'), '/assets');
  t.ok([...bundle.assets.keys()].filter((name) => name.endsWith('.wasm')).length === 2, 'esbuild emits E3Kit\'s two WASM files as assets');
  const origin = await serveStatic(t, bundle.assets, { '/': `<!doctype html><link rel="icon" href="data:,"><script type="module" src="${bundle.script}"></script>` });
  const emulatorOrigin = new URL(h.emulator.url).origin;

  async function device(uid: string) {
    const { page, errors } = await newDevicePage(browser);
    let virgilRequests = 0;
    page.on('request', (request) => { if (request.url().startsWith(emulatorOrigin)) virgilRequests += 1; });
    await page.exposeFunction('callerToken', () => tenant.userToken(uid));
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => (globalThis as unknown as Partial<HarnessWindow>).harness !== undefined);
    const who = await ok<{ identity: string; groupOwnerIdentity: string }>(page, 'connect', h.url, tenant.appId, h.emulator.url);
    return { page, errors, who, virgilRequests: () => virgilRequests };
  }

  const runtime = (await h.ctx.tenants.get(tenant.appId))!;
  const alice = await device('alice');
  t.equal(alice.who.identity, runtime.userIdentity('alice'), 'connect: the identity the API derives');
  t.equal(alice.who.groupOwnerIdentity, tenant.view.groupOwnerIdentity, 'connect: the group owner');
  t.equal(await ok(alice.page, 'login', 'alice-pw-1'), 'registered', 'alice registers and backs her key up');
  await ok(alice.page, 'changePassword', 'alice-pw-1', 'alice-pw-2');
  t.pass('alice changes her backup password (Keyknox hash headers readable across origins)');
  const bob = await device('bob');
  t.equal(await ok(bob.page, 'login', 'bob-pw'), 'registered', 'bob registers');
  t.ok(alice.virgilRequests() > 0 && bob.virgilRequests() > 0, 'E3Kit called the emulator directly, from another origin');

  const sentAt = () => new Date().toISOString();
  const hiBob = { ciphertext: await ok<string>(alice.page, 'encryptFor', 'bob', 'Hi Bob'), at: sentAt() };
  t.equal(await ok(bob.page, 'decryptFrom', 'alice', hiBob.ciphertext, hiBob.at), 'Hi Bob', '1:1 alice → bob');
  const hiAlice = { ciphertext: await ok<string>(bob.page, 'encryptFor', 'alice', 'Hi Alice'), at: sentAt() };
  t.equal(await ok(alice.page, 'decryptFrom', 'bob', hiAlice.ciphertext, hiAlice.at), 'Hi Alice', '1:1 bob → alice');
  const forged = await call(alice.page, 'decryptFrom', 'alice', hiAlice.ciphertext, hiAlice.at);
  t.equal(forged.error?.code, 'DECRYPT_FAILED', 'a message claimed to be from the wrong sender is refused');

  const now = Math.floor(Date.now() / 1000);
  await sendCometChat(h, tenant, 'group_created', { guid: 'trip', owner: 'alice', members: ['alice', 'bob'], createdAt: now });
  await waitForStatus(h, tenant.appId, 'trip', (s) => s.status === 'synced' && s.virgilMembers.length === 2);
  const planA = { ciphertext: await ok<string>(alice.page, 'groupEncrypt', 'trip', 'Plan A'), at: sentAt() };
  t.equal(await ok(bob.page, 'groupDecrypt', 'trip', planA.ciphertext, 'alice', planA.at), 'Plan A', 'bob reads the worker-made group');
  await ok(alice.page, 'groupEncrypt', 'trip', 'Plan A, again');
  t.same(await ok(alice.page, 'groupStats', 'trip'), { updates: 0, loads: 1, versioned: true }, 'membershipVersion unchanged: no update before sending');

  await sendCometChat(h, tenant, 'group_member_kicked', { guid: 'trip', members: ['bob'], updatedAt: now + 1 });
  await waitForStatus(h, tenant.appId, 'trip', (s) => s.status === 'synced' && !s.virgilMembers.includes('bob'));
  const planB = { ciphertext: await ok<string>(alice.page, 'groupEncrypt', 'trip', 'Plan B'), at: sentAt() };
  const kicked = await call(bob.page, 'groupDecrypt', 'trip', planB.ciphertext, 'alice', planB.at);
  t.equal(kicked.error?.code, 'GROUP_UNAVAILABLE', 'after the kick, bob cannot decrypt the next message');
  t.same(await ok(alice.page, 'groupStats', 'trip'), { updates: 1, loads: 1, versioned: true },
    'alice never called update(): her library did, once, because membershipVersion rose');

  const restored = await device('alice');
  t.equal((await call(restored.page, 'login', 'alice-pw-1')).error?.code, 'WRONG_PASSWORD', 'a second device: the old password no longer opens the backup');
  t.equal(await ok(restored.page, 'login', 'alice-pw-2'), 'restored', 'a second device restores the key with the new password');
  t.equal(await ok(restored.page, 'decryptFrom', 'bob', hiAlice.ciphertext, hiAlice.at), 'Hi Alice', 'history: a 1:1 message received');
  t.equal(await ok(restored.page, 'decryptFrom', 'alice', hiBob.ciphertext, hiBob.at), 'Hi Bob', 'history: a 1:1 message sent');
  t.equal(await ok(restored.page, 'groupDecrypt', 'trip', planA.ciphertext, 'alice', planA.at), 'Plan A', 'history: the group before the kick');
  t.equal(await ok(restored.page, 'groupDecrypt', 'trip', planB.ciphertext, 'alice', planB.at), 'Plan B', 'history: the group after the kick');
  t.same([...alice.errors, ...bob.errors, ...restored.errors], [], 'no page errors');
});

t.test('the demo chat: create a group, talk, kick, and the kicked user cannot read what follows', async (t) => {
  t.equal((await h.app.inject({ method: 'GET', url: '/demo' })).statusCode, 404, 'the production API does not serve the demo');
  const tenant = await h.onboardTenant();
  const authorization = basicAuthHeader(tenant.webhookBasic.username, tenant.webhookBasic.password);
  const demo = await buildDemoApp({
    appId: tenant.appId,
    apiUrl: h.url!,
    virgilApiUrl: h.emulator.url,
    pollMs: 300,
    callerToken: (uid) => ({ token: tenant.userToken(uid, {}, 3600), expiresAt: Date.now() + 3_600_000 }),
    deliverWebhook: async (webhook) => {
      const res = await h.app.inject({ method: 'POST', url: `/v1/webhooks/${tenant.appId}/cometchat`, headers: { authorization, 'content-type': 'application/json' }, payload: JSON.stringify(webhook) });
      if (res.statusCode !== 200) throw new Error(`webhook ${webhook.trigger}: ${res.statusCode} ${res.body}`);
    },
  });
  const origin = await demo.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => demo.close());

  const foreign = await fetch(`${origin}/demo/relay/token?uid=alice`, { headers: { origin: 'https://evil.example' } });
  t.equal(foreign.status, 403, 'another site\'s page gets no caller token from the relay');
  const html = await (await fetch(`${origin}/demo`)).text();
  const script = /src="(\/demo\/assets\/[^"]+\.js)"/.exec(html)![1];
  const bundled = await (await fetch(`${origin}${script}`)).text();
  const wasm = [...new Set(bundled.match(/\/demo\/assets\/lib[a-z]+\.browser-[A-Z0-9]+\.wasm/g) ?? [])];
  t.equal(wasm.length, 2, 'the esbuild bundle refers to E3Kit\'s two WASM files by URL');
  for (const file of wasm) t.equal((await fetch(`${origin}${file}`)).headers.get('content-type'), 'application/wasm', `${file} is served as application/wasm`);

  async function open(uid: string) {
    const { context, page, errors } = await newDevicePage(browser);
    t.teardown(() => context.close()); // before the demo server closes: its pages poll it
    await page.setViewport({ width: 1280, height: 760 });
    await page.goto(`${origin}/demo`);
    await page.click(`[data-user=${uid}]`);
    await page.waitForSelector('#me[data-state=ready]', { timeout: 60_000 });
    return { page, errors };
  }
  const [alice, bob, carol] = await Promise.all([open('alice'), open('bob'), open('carol')]);
  t.equal(await alice.page.$eval('#me', (el) => (el as unknown as { dataset: { outcome: string } }).dataset.outcome), 'registered', 'alice registered in the page');

  await alice.page.type('#create-group input[name=name]', 'Hiking');
  await alice.page.click('#create-group button[type=submit]');
  const guid = await alice.page.waitForSelector('#groups li[data-guid]').then((el) => el!.evaluate((li) => (li as unknown as { dataset: { guid: string } }).dataset.guid));
  await waitForStatus(h, tenant.appId, guid, (s) => s.status === 'synced' && s.virgilMembers.length === 3, 60_000);

  const textsOf = (page: Page, state: string) => page.$$eval(`#messages li[data-state=${state}] .text`, (items) => items.map((item) => item.textContent));
  const waitForText = (page: Page, state: string, text: string) => waitFor(async () => (await textsOf(page, state)).includes(text), `"${text}" shown as ${state}`, 60_000);
  const send = async (page: Page, text: string) => {
    await page.type('#compose input[name=text]', text);
    await page.click('#compose button[type=submit]');
    await waitForText(page, 'decrypted', text);
  };

  await waitFor(async () => /membership version \d+/.test(await alice.page.$eval('#group-status', (el) => el.textContent ?? '')), 'alice\'s page to show the group\'s version', 60_000);
  await send(alice.page, 'Meet at 9');
  await waitForText(bob.page, 'decrypted', 'Meet at 9');
  await waitForText(carol.page, 'decrypted', 'Meet at 9');
  t.pass('bob and carol read alice\'s message');

  await alice.page.$eval('#members button[data-kick=bob]', (button) => (button as unknown as { click(): void }).click());
  await waitForStatus(h, tenant.appId, guid, (s) => s.status === 'synced' && !s.virgilMembers.includes('bob'), 60_000);
  await send(alice.page, 'New meeting point: the lake');
  await waitForText(carol.page, 'decrypted', 'New meeting point: the lake');
  await waitFor(async () => (await textsOf(bob.page, 'failed')).length === 1, 'bob\'s screen to fail on the new message', 60_000);
  t.same(await textsOf(bob.page, 'decrypted'), ['Meet at 9'], 'bob still shows the message from before the kick, and not the new one');
  t.match((await textsOf(bob.page, 'failed'))[0], /cannot decrypt/, 'bob\'s screen says it cannot decrypt');
  t.match(await bob.page.$eval('#group-status', (el) => el.textContent), /does not count you as a member/, 'and that the service no longer counts him in');

  const stored = JSON.stringify(await (await fetch(`${origin}/demo/relay/stored`)).json());
  t.notMatch(stored, /Meet at 9|meeting point/, 'the relay stores no plaintext');
  const cells = await waitFor(async () => {
    const shown = await alice.page.$$eval('#stored-rows td.ciphertext', (tds) => tds.map((td) => td.textContent ?? ''));
    return shown.length === 2 ? shown : undefined;
  }, 'the page to show what the relay stores');
  t.ok(cells.every((cell) => /^[A-Za-z0-9+/]{64,}={0,2}$/.test(cell)), 'ciphertext only');

  await screenshot(bob.page, 'demo-chat-bob-after-kick');
  await screenshot(alice.page, 'demo-chat-alice');
  t.same([...alice.errors, ...bob.errors, ...carol.errors], [], 'no page errors');
});
