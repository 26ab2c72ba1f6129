/**
 * Headless Chromium for browser tests: Debian's `chromium` driven by puppeteer-core (no browser
 * download), one browser per test file with a fresh profile, isolated contexts per user; pages
 * served from their own loopback origin; screenshots into a git-ignored folder.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser, type BrowserContext, type Page } from 'puppeteer-core';
import type { BrowserAsset } from '../../src/demo/bundle.js';
import type { Teardown } from './virgil-clients.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Screenshots of browser tests (git-ignored), like the console test's. */
export const SCREENSHOT_DIR = path.resolve(process.env.SCREENSHOT_DIR ?? 'test-output/screenshots');

export function chromiumMissing(): string | false {
  return existsSync(CHROMIUM_PATH) ? false : `${CHROMIUM_PATH} is missing (Debian: apt-get install -y chromium)`;
}

export async function launchBrowser(t: Teardown): Promise<Browser> {
  const profile = await mkdtemp(path.join(tmpdir(), 'e2ee-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    userDataDir: profile,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  t.teardown(async () => {
    await browser.close();
    await rm(profile, { recursive: true, force: true });
  });
  return browser;
}

/** A page in a fresh context (its own IndexedDB and storage: another device), errors kept for failure messages. */
export async function newDevicePage(browser: Browser): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  // Chromium logs every HTTP error answer as a console error; those are the library's to handle.
  page.on('console', (message) => { if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) errors.push(message.text()); });
  return { context, page, errors };
}

/** Serves `assets` (by URL path) and `pages` (HTML by URL path) on a loopback port; returns the origin. */
export async function serveStatic(t: Teardown, assets: Map<string, BrowserAsset>, pages: Record<string, string>): Promise<string> {
  const server = createServer((request, response) => {
    const urlPath = (request.url ?? '/').split('?')[0];
    const asset = assets.get(urlPath);
    if (asset) {
      response.writeHead(200, { 'content-type': asset.contentType, 'cache-control': 'no-store' });
      response.end(asset.body);
      return;
    }
    const html = pages[urlPath];
    if (html !== undefined) {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      response.end(html);
      return;
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file as `${string}.png`, fullPage: true });
  return file;
}
