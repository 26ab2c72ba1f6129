/**
 * The pieces of the slow-client and envelope defences that need no server: the body byte budget,
 * what a request reserves, the timeout settings, and the raw enveloped answer Node's errors get.
 */
import t from 'tap';
import { loadDevConfig } from '../../src/config/config.js';
import { rawErrorResponse } from '../../src/http/errors.js';
import { ByteBudget, bodyBytesToReserve } from '../../src/http/plugins/body-budget.js';
import { SECURITY_HEADERS } from '../../src/http/plugins/security-headers.js';

const MiB = 1024 * 1024;

t.test('the byte budget', async (t) => {
  const budget = new ByteBudget(3 * MiB);
  const a = budget.tryReserve(MiB);
  const b = budget.tryReserve(2 * MiB);
  t.ok(a && b, 'reservations up to the capacity fit');
  t.equal(budget.tryReserve(1), null, 'one byte more does not');
  a!();
  a!();
  t.equal(budget.inUse, 2 * MiB, 'a release counts once, however often it is called');
  t.equal(budget.tryReserve(MiB + 1), null, 'more than what was given back does not fit');
  t.ok(budget.tryReserve(MiB), 'what was given back does');
  t.equal(budget.inUse, 3 * MiB);
});

t.test('what a request reserves', async (t) => {
  const limit = MiB;
  t.equal(bodyBytesToReserve({ 'content-length': '1200' }, limit), 1200, 'its declared length');
  t.equal(bodyBytesToReserve({ 'content-length': String(50 * MiB) }, limit), limit, 'never more than the body limit');
  t.equal(bodyBytesToReserve({ 'transfer-encoding': 'chunked' }, limit), limit, 'the whole limit for a chunked body');
  t.equal(bodyBytesToReserve({}, limit), 0, 'nothing without a body');
});

t.test('timeout and budget settings', async (t) => {
  const base = { NODE_ENV: 'test', ADMIN_TOKENS: 'a'.repeat(16), MASTER_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}` };
  const defaults = loadDevConfig(base);
  t.same(defaults.httpTimeouts, { requestMs: 30_000, headersMs: 10_000, keepAliveMs: 72_000 }, 'defaults');
  t.ok(defaults.httpTimeouts.keepAliveMs > 60_000, 'keep-alive outlives a 60 s load-balancer idle timeout');
  t.equal(defaults.webhookBodyBytesInFlight, 64 * MiB);
  const set = loadDevConfig({ ...base, HTTP_REQUEST_TIMEOUT_MS: '2000', HTTP_KEEP_ALIVE_TIMEOUT_MS: '620000', WEBHOOK_BODY_BYTES_IN_FLIGHT: String(2 * MiB) });
  t.same(set.httpTimeouts, { requestMs: 2000, headersMs: 2000, keepAliveMs: 620_000 }, 'headers default to no more than the request timeout');
  t.throws(() => loadDevConfig({ ...base, HTTP_REQUEST_TIMEOUT_MS: '5000', HTTP_HEADERS_TIMEOUT_MS: '6000' }), /HTTP_HEADERS_TIMEOUT_MS/, 'headers may not outlast the request');
  t.throws(() => loadDevConfig({ ...base, HTTP_REQUEST_TIMEOUT_MS: '0' }), /HTTP_REQUEST_TIMEOUT_MS/, 'no request timeout is not an option');
  t.throws(() => loadDevConfig({ ...base, WEBHOOK_BODY_BYTES_IN_FLIGHT: String(MiB - 1) }), /WEBHOOK_BODY_BYTES_IN_FLIGHT/, 'the budget holds at least one largest body');
});

t.test('the raw enveloped answer', async (t) => {
  const raw = rawErrorResponse(431, 'HEADERS_TOO_LARGE', 'too large');
  const [head, body] = raw.split('\r\n\r\n');
  const [statusLine, ...lines] = head.split('\r\n');
  t.equal(statusLine, 'HTTP/1.1 431 Request Header Fields Too Large');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
  t.same(JSON.parse(body), { error: { code: 'HEADERS_TOO_LARGE', message: 'too large' } });
  t.equal(Number(headers['content-length']), Buffer.byteLength(body));
  t.equal(headers.connection, 'close');
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) t.equal(headers[name], value, name);
});
