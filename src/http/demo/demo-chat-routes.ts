/**
 * The demo chat (development only): mounted by `npm run dev` at `/demo`, never by the production
 * API. Serves the page, its esbuild bundle (built on first request), and the relay standing in for
 * the chat platform (src/demo/relay.ts), which sends the demo tenant's webhooks on the pages' behalf.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type, type Static } from '@sinclair/typebox';
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyReply } from 'fastify';
import { bundleForBrowser, type BrowserBundle } from '../../demo/bundle.js';
import { DEMO_CSS, demoPageHtml } from '../../demo/page-html.js';
import { DEMO_USERS, DemoRelay, type DemoUser, type PlatformWebhook } from '../../demo/relay.js';
import { forbidden, unavailable } from '../../lib/errors.js';
import { registerErrorHandling } from '../errors.js';

export interface DemoChatOptions {
  appId: string;
  /** e2ee-extension's base URL for the page; empty when the demo shares the API's origin. */
  apiUrl: string;
  /** Virgil's base URL for E3Kit in the page (the emulator). */
  virgilApiUrl: string;
  /** A caller token for a demo user, as the tenant's backend would issue it, and its expiry (ms). */
  callerToken: (uid: DemoUser) => { token: string; expiresAt: number };
  /** Delivers the relay's webhooks to e2ee-extension. */
  deliverWebhook: (webhook: PlatformWebhook) => Promise<void>;
  /** How often the page asks the relay for news (default 700 ms). */
  pollMs?: number;
}

const DEFAULT_POLL_MS = 700;

/** URL prefix the demo is mounted at. */
export const DEMO_PREFIX = '/demo';
const ASSETS = `${DEMO_PREFIX}/assets`;
const PAGE_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../demo/page/demo-chat.ts');

const User = Type.Union(DEMO_USERS.map((uid) => Type.Literal(uid)));
const Guid = Type.Object({ guid: Type.String({ minLength: 1, maxLength: 64 }) });
const Reader = Type.Object({ uid: User, after: Type.Optional(Type.String({ pattern: '^[0-9]{1,12}$' })) }, { additionalProperties: false });
const CreateGroup = Type.Object({
  uid: User,
  name: Type.String({ minLength: 1, maxLength: 60 }),
  members: Type.Array(User, { maxItems: DEMO_USERS.length }),
}, { additionalProperties: false });
const MemberChange = Type.Object({ uid: User, member: User }, { additionalProperties: false });
const Post = Type.Object({ uid: User, ciphertext: Type.String({ maxLength: 70_000 }) }, { additionalProperties: false });

/** Development routes stay out of the API's OpenAPI document. */
const hidden = (schema: Record<string, unknown> = {}) => ({ schema: { hide: true, ...schema } });

/** The page may load its own script and styles, run E3Kit's WASM, and talk to the API and Virgil. */
function pageSecurityPolicy(options: DemoChatOptions): string {
  const origins = [options.apiUrl, options.virgilApiUrl].filter((url) => url !== '').map((url) => new URL(url).origin);
  return [
    "default-src 'none'",
    "script-src 'self' 'wasm-unsafe-eval'",
    `connect-src 'self' ${origins.join(' ')}`.trim(),
    "style-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

const demoChatRoutes: FastifyPluginAsync<DemoChatOptions> = async (app, options) => {
  const relay = new DemoRelay({ appId: options.appId, deliver: options.deliverWebhook });
  const policy = pageSecurityPolicy(options);
  let bundle: Promise<BrowserBundle> | null = null;
  const loadBundle = () => {
    bundle ??= bundleForBrowser(PAGE_ENTRY, ASSETS).catch((err: Error) => {
      bundle = null;
      throw unavailable('DEMO_BUNDLE_FAILED', `The demo page could not be bundled: ${err.message}`);
    });
    return bundle;
  };
  const send = (reply: FastifyReply, contentType: string, body: string | Uint8Array) => reply.type(contentType).header('cache-control', 'no-store').send(body);

  // The relay hands out caller tokens and acts on the pages' behalf: the demo's own pages only. The
  // API's any-origin CORS does not extend to it, and a request another site's page makes is refused.
  app.addHook('onRequest', async (request, reply) => {
    reply.removeHeader('access-control-allow-origin');
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== `${request.protocol}://${request.headers.host}`) {
      throw forbidden('DEMO_CROSS_ORIGIN', 'The demo chat answers its own pages only.');
    }
  });

  app.get('/', hidden(), async (_request, reply) => {
    const { script } = await loadBundle();
    const config = { appId: options.appId, apiUrl: options.apiUrl, virgilApiUrl: options.virgilApiUrl, relayUrl: `${DEMO_PREFIX}/relay`, users: DEMO_USERS, pollMs: options.pollMs ?? DEFAULT_POLL_MS };
    reply.header('content-security-policy', policy).header('referrer-policy', 'no-referrer');
    return send(reply, 'text/html; charset=utf-8', demoPageHtml(config, { script, css: `${DEMO_PREFIX}/demo.css` }));
  });
  app.get('/demo.css', hidden(), async (_request, reply) => send(reply, 'text/css; charset=utf-8', DEMO_CSS));
  app.get('/assets/:file', hidden(), async (request, reply) => {
    const asset = (await loadBundle()).assets.get(`${ASSETS}/${(request.params as { file: string }).file}`);
    if (!asset) return reply.code(404).send({ error: { code: 'DEMO_ASSET_NOT_FOUND', message: 'No such asset' } });
    return send(reply, asset.contentType, asset.body);
  });

  // The relay: the chat platform's API as the demo pages use it.
  app.get('/relay/token', hidden({ querystring: Type.Object({ uid: User }, { additionalProperties: false }) }), async (request) => ({
    data: options.callerToken((request.query as { uid: DemoUser }).uid),
  }));
  app.get('/relay/groups', hidden({ querystring: Type.Object({ uid: User }, { additionalProperties: false }) }), async (request) => ({
    data: relay.groupsOf((request.query as { uid: DemoUser }).uid),
  }));
  app.post('/relay/groups', hidden({ body: CreateGroup }), async (request) => {
    const body = request.body as Static<typeof CreateGroup>;
    return { data: await relay.createGroup(body.uid, body.name, body.members) };
  });
  app.post('/relay/groups/:guid/members', hidden({ params: Guid, body: MemberChange }), async (request) => {
    const body = request.body as Static<typeof MemberChange>;
    return { data: await relay.addMember(body.uid, (request.params as Static<typeof Guid>).guid, body.member) };
  });
  app.post('/relay/groups/:guid/kick', hidden({ params: Guid, body: MemberChange }), async (request) => {
    const body = request.body as Static<typeof MemberChange>;
    return { data: await relay.kick(body.uid, (request.params as Static<typeof Guid>).guid, body.member) };
  });
  app.get('/relay/groups/:guid/messages', hidden({ params: Guid, querystring: Reader }), async (request) => {
    const query = request.query as Static<typeof Reader>;
    return { data: relay.messages(query.uid, (request.params as Static<typeof Guid>).guid, Number(query.after ?? 0)) };
  });
  app.post('/relay/groups/:guid/messages', hidden({ params: Guid, body: Post }), async (request) => {
    const body = request.body as Static<typeof Post>;
    return { data: relay.post(body.uid, (request.params as Static<typeof Guid>).guid, body.ciphertext) };
  });
  app.get('/relay/stored', hidden(), async () => ({ data: relay.stored() }));
};

export default demoChatRoutes;

/** The demo on its own server (another origin than the API), as the browser tests run it. */
export async function buildDemoApp(options: DemoChatOptions): Promise<FastifyInstance> {
  const app = Fastify({
    routerOptions: { ignoreTrailingSlash: true },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
    // Open pages poll it: a keep-alive connection busy at close time would otherwise hold the close
    // until its keep-alive timeout.
    forceCloseConnections: true,
  });
  registerErrorHandling(app);
  await app.register(demoChatRoutes, { ...options, prefix: DEMO_PREFIX });
  return app;
}
