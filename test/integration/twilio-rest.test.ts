/**
 * The Conversations REST client against a loopback stand-in answering Twilio's documented shapes:
 * lists followed page by page through meta.next_page_url, 429 (Retry-After) and 5xx retried with
 * backoff on an injected clock, what is not retried, and a next page on another host never followed.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { DomainError } from '../../src/lib/errors.js';
import { TwilioConversationsClient, startOfDayUtc } from '../../src/twilio/conversations-client.js';
import { waitFor } from '../helpers/wait.js';
import { sid, TwilioStandIn, twilioDate, twilioTestSettings } from '../helpers/twilio.js';

const settings = twilioTestSettings('https://chat.example.com/hook');
const standIn = await TwilioStandIn.start(t, settings, { maxPageSize: 2 });
const service = settings.conversationsServiceSid;

function client(opts: { password?: string; attempts?: number; sleeps?: number[]; signal?: AbortSignal } = {}) {
  return new TwilioConversationsClient({
    baseUrl: standIn.url, username: settings.apiKeySid, password: opts.password ?? settings.apiKeySecret,
    retry: { attempts: opts.attempts ?? 5, baseDelayMs: 1_000, maxDelayMs: 8_000, maxRetryAfterMs: 60_000 },
    // The schedule is recorded, not waited for; the jitter is fixed at one half.
    sleep: async (ms) => { opts.sleeps?.push(ms); },
    random: () => 0.5,
    signal: opts.signal,
  });
}

const conversation = sid('CH');
const participants = ['alice', 'bob', null, 'carol', 'dave'].map((identity) => ({ sid: sid('MB'), identity, dateCreated: twilioDate() }));
standIn.conversations.set(conversation, { sid: conversation, dateCreated: '2026-11-20T10:00:00Z', participants: new Map(participants.map((p) => [p.sid, p])) });
const older = sid('CH');
standIn.conversations.set(older, { sid: older, dateCreated: '2026-11-01T10:00:00Z', participants: new Map() });

const codeOf = async (promise: Promise<unknown>) => promise.then(() => null, (err: unknown) => (err instanceof DomainError ? `${err.kind}:${err.code}` : String(err)));

t.test('lists are read page by page through meta.next_page_url', async (t) => {
  standIn.requests.length = 0;
  const read = await client().participants(service, conversation);
  t.same(read?.map((p) => p.identity), ['alice', 'bob', null, 'carol', 'dave'], 'every participant, the SMS one without identity');
  t.equal(standIn.requests.length, 3, 'five participants in pages of two: three requests');
  t.match(standIn.requests[0], /PageSize=100/, 'the first page asks for Twilio\'s largest page');
  t.match(standIn.requests[2], /Page=2&PageToken=PT/, 'later pages are the URLs Twilio named');

  const all: string[] = [];
  for await (const c of client().conversations(service)) all.push(c.sid);
  t.same(all.sort(), [conversation, older].sort());
  const recent: string[] = [];
  for await (const c of client().conversations(service, { createdSince: new Date('2026-11-15T17:30:00Z') })) recent.push(c.sid);
  t.same(recent, [conversation], 'StartDate filters by creation day');
  t.equal(startOfDayUtc(new Date('2026-11-15T17:30:00Z')), '2026-11-15T00:00:00Z');
  t.equal(await client().participants(service, sid('CH')), null, 'an unknown conversation is null (404)');
});

t.test('429 and 5xx are retried with exponential backoff, Retry-After honoured', async (t) => {
  const sleeps: number[] = [];
  standIn.failNext({ status: 429, retryAfter: '3' }, { status: 503 }, { status: 500 }, { status: 502 });
  const read = await client({ sleeps }).participants(service, conversation);
  t.equal(read?.length, 5, 'the list arrives after four failures');
  // Full jitter at one half of base × 2^(attempt-1): 500, 1000, 2000, 4000 ms; the 429 asked for 3 s.
  t.same(sleeps, [3_000, 1_000, 2_000, 4_000]);

  const mid: number[] = [];
  standIn.failNext({ status: 429, retryAfter: '0' });
  const pages = client({ sleeps: mid }).participants(service, conversation);
  t.equal((await pages)?.length, 5, 'a failure on a later page is retried too');
  t.same(mid, [500]);

  const exhausted: number[] = [];
  standIn.failNext(...Array.from({ length: 5 }, () => ({ status: 503 })));
  t.equal(await codeOf(client({ sleeps: exhausted }).participants(service, conversation)), 'unavailable:TWILIO_UNAVAILABLE', 'five failures: unavailable');
  t.same(exhausted, [500, 1_000, 2_000, 4_000], 'four waits between five attempts');

  standIn.failNext({ status: 429, retryAfter: '3600' });
  t.equal(await codeOf(client().participants(service, conversation)), 'rate_limited:TWILIO_RATE_LIMITED', 'a wait longer than a minute is not waited');
});

t.test('what is not retried: refused credentials, other 4xx', async (t) => {
  const sleeps: number[] = [];
  standIn.requests.length = 0;
  t.equal(await codeOf(client({ password: 'wrong-secret-0123456789', sleeps }).participants(service, conversation)), 'misconfigured:TWILIO_CREDENTIALS_REJECTED');
  standIn.failNext({ status: 400 });
  t.equal(await codeOf(client({ sleeps }).participants(service, conversation)), 'unprocessable:TWILIO_REQUEST_REFUSED');
  t.same(sleeps, [], 'no wait, one request each');
  t.equal(standIn.requests.length, 2);
});

t.test('a next page on another host is not followed; a stop ends a wait at once', async (t) => {
  let hits = 0;
  const rogue = createServer((req, res) => {
    hits++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ participants: [{ sid: sid('MB'), identity: 'x' }], meta: { key: 'participants', next_page_url: 'http://127.0.0.2:9/steal' } }));
  });
  await new Promise<void>((resolve) => rogue.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { rogue.closeAllConnections(); rogue.close(() => resolve()); }));
  const other = new TwilioConversationsClient({ baseUrl: `http://127.0.0.1:${(rogue.address() as AddressInfo).port}`, username: 'SK', password: 'secret' });
  t.equal(await codeOf(other.participants(service, conversation)), 'unprocessable:TWILIO_RESPONSE_INVALID');
  t.equal(hits, 1, 'the credentials went to the configured host only');

  const controller = new AbortController();
  standIn.failNext({ status: 503 });
  const stoppable = new TwilioConversationsClient({
    baseUrl: standIn.url, username: settings.apiKeySid, password: settings.apiKeySecret, retry: { baseDelayMs: 3_600_000, maxDelayMs: 3_600_000 }, random: () => 1, signal: controller.signal,
  });
  standIn.requests.length = 0;
  const pending = stoppable.participants(service, conversation).then(() => 'read', (err: Error) => err.name);
  // Once the failed attempt was answered, stop: the hour-long backoff must not hold the caller.
  await waitFor(() => standIn.requests.length === 1, 'the first attempt');
  controller.abort();
  t.equal(await pending, 'AbortError');
  t.equal(standIn.requests.length, 1, 'no further attempt');
});
