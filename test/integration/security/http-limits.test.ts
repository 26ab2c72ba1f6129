/**
 * Slow and malformed clients, over real sockets: clients that trickle a body or never finish their
 * headers are cut off at the configured deadlines while normal requests keep working; a Standard
 * Webhooks delivery that its headers already condemn is refused before its body is sent; the
 * webhook body budget refuses with 503 once spent and recovers when bodies are done; and the
 * answers Node and the router write themselves (431, 414, bad URLs, unparsable requests) use the
 * error envelope, on the public and the admin app.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import t, { type Test } from 'tap';
import { buildAdminApp } from '../../../src/http/app.js';
import { SECURITY_HEADERS } from '../../../src/http/plugins/security-headers.js';
import { startTestApp } from '../../helpers/app.js';
import { standardDelivery, standardEvent } from '../../helpers/deliveries.js';
import { waitFor } from '../../helpers/wait.js';

const MiB = 1024 * 1024;
/** Only a safety net: the deadlines under test are 1-2 s. */
const SAFETY_NET_MS = 20_000;

const h = await startTestApp(t, {
  listen: true,
  env: { HTTP_REQUEST_TIMEOUT_MS: '2000', HTTP_HEADERS_TIMEOUT_MS: '1000', WEBHOOK_BODY_BYTES_IN_FLIGHT: String(2 * MiB) },
});
const publicUrl = new URL(h.url!);
const tenant = await h.onboardTenant();

interface RawAnswer { status: number; headers: Record<string, string>; body: string }

interface RawConn {
  socket: net.Socket;
  closed: boolean;
  received: () => string;
  /** Writes `chunk` every `everyMs` until the connection closes or answers. */
  trickle(chunk: string, everyMs: number): void;
  /** The first complete answer on the connection (headers and a Content-Length body). */
  answer(): Promise<RawAnswer>;
}

function parseAnswer(text: string): RawAnswer | undefined {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const body = text.slice(end + 4);
  const length = Number(headers['content-length'] ?? 0);
  if (Buffer.byteLength(body) < length) return undefined;
  return { status: Number(statusLine.split(' ')[1]), headers, body: body.slice(0, length) };
}

async function connect(t: Test, url: URL, first?: string): Promise<RawConn> {
  const socket = net.connect(Number(url.port), url.hostname);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let data = '';
  let timer: NodeJS.Timeout | undefined;
  const conn: RawConn = {
    socket,
    closed: false,
    received: () => data,
    trickle(chunk, everyMs) {
      timer = setInterval(() => {
        if (!conn.closed && data === '') socket.write(chunk);
      }, everyMs);
    },
    answer: () => waitFor(() => parseAnswer(data), 'an answer on the raw connection', SAFETY_NET_MS),
  };
  socket.on('data', (chunk: Buffer) => { data += chunk.toString('latin1'); });
  socket.on('error', () => {});
  socket.on('close', () => {
    conn.closed = true;
    clearInterval(timer);
  });
  t.teardown(() => { clearInterval(timer); socket.destroy(); });
  if (first !== undefined) socket.write(first);
  return conn;
}

function requestHead(method: string, path: string, headers: Record<string, string | number>): string {
  const lines = Object.entries({ host: publicUrl.host, ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return `${method} ${path} HTTP/1.1\r\n${lines}\r\n`;
}

/** Headers a Standard Webhooks sender would send (fresh timestamp), with a signature no body matches. */
function plausibleWebhookHeaders(contentLength: number): Record<string, string | number> {
  return {
    'content-type': 'application/json',
    'content-length': contentLength,
    'webhook-id': `msg_${randomBytes(8).toString('hex')}`,
    'webhook-timestamp': Math.floor(Date.now() / 1000),
    'webhook-signature': `v1,${randomBytes(32).toString('base64')}`,
  };
}

async function validDelivery(guid: string) {
  const d = standardDelivery(tenant.signingSecret, standardEvent('group.member_added', { guid, occurredAt: new Date(), members: ['bob'] }));
  return fetch(new URL(`/v1/webhooks/${tenant.appId}`, publicUrl), { method: 'POST', headers: d.headers, body: d.payload });
}

const allClosed = (conns: RawConn[], what: string) => waitFor(() => conns.every((c) => c.closed), what, SAFETY_NET_MS);

function checkEnvelope(t: Test, answer: RawAnswer, status: number, code: string, what: string) {
  t.equal(answer.status, status, `${what}: status ${status}`);
  let parsed: { error?: { code?: unknown; message?: unknown } } = {};
  try { parsed = JSON.parse(answer.body); } catch { /* reported below */ }
  t.equal(parsed.error?.code, code, `${what}: code ${code}`);
  t.type(parsed.error?.message, 'string', `${what}: a message`);
  t.match(answer.headers['content-type'], /^application\/json/, `${what}: JSON`);
  t.equal(answer.headers['x-content-type-options'], SECURITY_HEADERS['x-content-type-options'], `${what}: security headers`);
}

/** Every connection that got an answer got this one (a closing socket may lose its last bytes). */
function checkTimeoutAnswers(t: Test, conns: RawConn[], what: string) {
  const answers = conns.map((c) => parseAnswer(c.received())).filter((a): a is RawAnswer => a !== undefined);
  t.ok(answers.length > 0, `${what}: the server said why`);
  for (const a of answers) checkEnvelope(t, a, 408, 'REQUEST_TIMEOUT', what);
}

t.test('clients that trickle a webhook body are cut off; others are served meanwhile', async (t) => {
  const slow = await Promise.all(Array.from({ length: 20 }, () =>
    connect(t, publicUrl, requestHead('POST', `/v1/webhooks/${tenant.appId}`, plausibleWebhookHeaders(64 * 1024)))));
  for (const c of slow) c.trickle('{', 100);

  const health = await fetch(new URL('/health', publicUrl));
  t.equal(health.status, 200, 'health answers while slow clients are connected');
  const delivered = await validDelivery('g-meanwhile');
  t.equal(delivered.status, 200, 'a signed webhook is accepted while slow clients are connected');

  await allClosed(slow, 'the server to close every slow-body connection');
  t.pass('every slow-body connection was closed by the server');
  checkTimeoutAnswers(t, slow, 'slow body');
});

t.test('clients that never finish their headers are cut off', async (t) => {
  const slow = await Promise.all(Array.from({ length: 10 }, () =>
    connect(t, publicUrl, `POST /v1/webhooks/${tenant.appId} HTTP/1.1\r\nhost: ${publicUrl.host}\r\n`)));
  for (const c of slow) c.trickle('x-pad: 1\r\n', 100);
  await allClosed(slow, 'the server to close every slow-header connection');
  t.pass('every slow-header connection was closed by the server');
  checkTimeoutAnswers(t, slow, 'slow headers');
});

t.test('a Standard Webhooks delivery its headers condemn is refused before its body', async (t) => {
  const cases: Array<[string, Record<string, string | number>, string]> = [
    ['no signature header', (() => { const hd = plausibleWebhookHeaders(MiB); delete hd['webhook-signature']; return hd; })(), 'WEBHOOK_HEADERS_MISSING'],
    ['a stale timestamp', { ...plausibleWebhookHeaders(MiB), 'webhook-timestamp': Math.floor(Date.now() / 1000) - 3600 }, 'WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE'],
    ['a malformed timestamp', { ...plausibleWebhookHeaders(MiB), 'webhook-timestamp': 'soon' }, 'WEBHOOK_TIMESTAMP_INVALID'],
  ];
  for (const [what, headers, code] of cases) {
    // Headers only: not one byte of the announced 1 MiB body is sent.
    const conn = await connect(t, publicUrl, requestHead('POST', `/v1/webhooks/${tenant.appId}`, headers));
    checkEnvelope(t, await conn.answer(), 401, code, what);
    conn.socket.destroy();
  }
});

t.test('the webhook body budget refuses with 503 when spent and recovers', async (t) => {
  // Three announced 1 MiB bodies, two signed-format and one CometChat, against a 2 MiB budget shared
  // by both routes: whichever the server sees last finds no room.
  const cometchatAuth = `Basic ${Buffer.from(`${tenant.webhookBasic.username}:${tenant.webhookBasic.password}`).toString('base64')}`;
  const heads = [
    requestHead('POST', `/v1/webhooks/${tenant.appId}`, plausibleWebhookHeaders(MiB)),
    requestHead('POST', `/v1/webhooks/${tenant.appId}`, plausibleWebhookHeaders(MiB)),
    requestHead('POST', `/v1/webhooks/${tenant.appId}/cometchat`, { 'content-type': 'application/json', 'content-length': MiB, authorization: cometchatAuth }),
  ];
  const hogs = await Promise.all(heads.map((head) => connect(t, publicUrl, head)));
  for (const c of hogs) c.trickle('{', 100);

  await waitFor(() => hogs.some((c) => parseAnswer(c.received())), 'one body to be refused', SAFETY_NET_MS);
  const answers = hogs.map((c) => parseAnswer(c.received()));
  const refused = answers.filter((a) => a?.status === 503);
  t.equal(refused.length, 1, 'exactly one body found no room');
  checkEnvelope(t, refused[0]!, 503, 'WEBHOOK_INTAKE_BUSY', 'budget spent');
  t.equal(refused[0]!.headers['retry-after'], '5', 'Retry-After');
  // On a slow machine the two others may already have hit the request deadline; never anything else.
  t.ok(answers.every((a) => a === undefined || a.status === 503 || a.status === 408), 'the others are still receiving (or timed out)');

  const unauthenticated = await fetch(new URL(`/v1/webhooks/${tenant.appId}/cometchat`, publicUrl), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  t.equal(unauthenticated.status, 401, 'a sender refused by its headers is refused as before');

  for (const c of hogs) c.socket.destroy();
  const accepted = await waitFor(async () => {
    const res = await validDelivery('g-budget');
    return res.status === 200 ? res : undefined;
  }, 'the budget to be given back', SAFETY_NET_MS);
  t.equal(((await accepted.json()) as { data: { status: string } }).data.status, 'accepted', 'a delivery is accepted once the bodies are gone');
});

t.test('answers written outside the routes use the envelope, on the public and the admin app', async (t) => {
  const admin = await buildAdminApp(h.ctx);
  const adminUrl = new URL(await admin.listen({ port: 0, host: '127.0.0.1' }));
  t.teardown(() => admin.close());

  for (const [name, url] of [['public', publicUrl], ['admin', adminUrl]] as const) {
    const ask = async (raw: string) => (await connect(t, url, raw)).answer();
    checkEnvelope(t, await ask(requestHead('GET', '/health', { 'x-big': 'a'.repeat(20_000) })), 431, 'HEADERS_TOO_LARGE', `${name}: oversized headers`);
    checkEnvelope(t, await ask(requestHead('GET', `/admin/v1/tenants/${'a'.repeat(600)}`, {})), 414, 'URI_TOO_LONG', `${name}: an over-long path parameter`);
    checkEnvelope(t, await ask(requestHead('GET', '/admin/v1/tenants/%E0%A4%A', {})), 400, 'BAD_URL', `${name}: an undecodable path parameter`);
    checkEnvelope(t, await ask('NOT HTTP AT ALL\r\n\r\n'), 400, 'BAD_REQUEST', `${name}: an unparsable request line`);
    checkEnvelope(t, await ask(`GET /health HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n`), 400, 'BAD_REQUEST', `${name}: conflicting lengths`);
  }
});

t.test('a request that arrives while the server drains gets the envelope', async (t) => {
  const admin = await buildAdminApp(h.ctx);
  const adminUrl = new URL(await admin.listen({ port: 0, host: '127.0.0.1' }));
  // A body still owed keeps the connection busy, so closing the server does not drop it.
  const conn = await connect(t, adminUrl, requestHead('POST', '/admin/v1/tenants', { 'content-type': 'application/json', 'content-length': 2 }));
  t.equal((await conn.answer()).status, 401, 'the first request is refused before its body');
  const closing = admin.close();
  conn.socket.write(`{}${requestHead('GET', '/health', {})}`);
  const second = await waitFor(() => {
    const text = conn.received();
    const first = parseAnswer(text)!;
    const rest = text.slice(text.indexOf('\r\n\r\n') + 4 + Buffer.byteLength(first.body));
    return parseAnswer(rest);
  }, 'an answer to the request sent while draining', SAFETY_NET_MS);
  checkEnvelope(t, second, 503, 'SHUTTING_DOWN', 'draining');
  t.equal(second.headers.connection, 'close', 'the connection is not kept');
  await closing;
});
