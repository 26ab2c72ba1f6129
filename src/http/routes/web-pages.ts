/**
 * The two HTML pages the service serves, from files in `web/` (plain HTML, CSS and JavaScript
 * modules: nothing to build), read once at start:
 *   /admin/console  the operators' console (its API calls carry the admin token; the page does not);
 *   /docs           the API reference, rendered from /openapi.json.
 *
 * They get their own Content-Security-Policy, replacing the API's deny-all one for these routes
 * only: scripts, styles and fetches from this origin, nothing inline, no framing, no form posts.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';

export const WEB_DIR = fileURLToPath(new URL('../../../web/', import.meta.url));

export const PAGE_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** Serves `files` (route path → file under web/) with the pages' policy. */
function pages(files: Record<string, string>): FastifyPluginAsync {
  return async (app) => {
    for (const [route, file] of Object.entries(files)) {
      const body = await readFile(path.join(WEB_DIR, file));
      const type = TYPES[path.extname(file)];
      app.get(route, { schema: { hide: true } }, (_request, reply) => {
        reply.header('content-security-policy', PAGE_CSP).header('referrer-policy', 'no-referrer').type(type).send(body);
      });
    }
  };
}

export const consolePages = pages({
  '/admin/console': 'console/index.html',
  '/admin/console/console.js': 'console/console.js',
  '/admin/console/style.css': 'style.css',
});

export const docsPages = pages({
  '/docs': 'docs/index.html',
  '/docs/docs.js': 'docs/docs.js',
  '/docs/style.css': 'style.css',
});
