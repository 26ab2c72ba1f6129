/**
 * A client of Twilio's Conversations REST API for what the service reads: the conversations of a
 * service and the participants of one conversation. Both lists are paged: each page names the next
 * one in `meta.next_page_url` (null on the last), which is followed as given, but only on the
 * configured origin, so the API key never travels anywhere else.
 *
 * Twilio answers 429 when an account sends too much and 5xx when it is in trouble: both, and
 * network failures and timeouts, are retried with exponential backoff and full jitter, waiting at
 * least what `Retry-After` asks. 401/403 (wrong or revoked credentials) and other 4xx are not
 * retried. The clock (sleep) and the jitter are injectable so tests replay the schedule exactly.
 */
import { setTimeout as sleepFor } from 'node:timers/promises';
import { DomainError, misconfigured, unavailable, unprocessable } from '../lib/errors.js';

export const TWILIO_CONVERSATIONS_URL = 'https://conversations.twilio.com';

/** Twilio's largest page for both lists. */
const PAGE_SIZE = 100;
/** A runaway `next_page_url` chain (a page pointing at itself) stops here. */
const MAX_PAGES = 10_000;

export interface RetrySettings {
  /** Requests per page, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** The longest `Retry-After` honoured; a longer one fails the call (the next sweep tries again). */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetrySettings = { attempts: 5, baseDelayMs: 500, maxDelayMs: 8_000, maxRetryAfterMs: 60_000 };

export interface ConversationsClientOptions {
  /** Base URL of the Conversations API (Twilio's by default; a local stand-in in tests). */
  baseUrl?: string;
  /** Basic auth: an API key SID and its secret (or the account SID and auth token). */
  username: string;
  password: string;
  retry?: Partial<RetrySettings>;
  /** Per request (default 10 s). */
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<unknown>;
  /** In [0, 1): the jitter of each backoff. */
  random?: () => number;
  /** Ends a request or a wait in progress (shutdown): the call rejects with the abort reason. */
  signal?: AbortSignal;
}

export interface ConversationRecord { sid: string; state: string | null; dateCreated: string | null }
/** `identity` is null for participants reached over SMS, WhatsApp and other messaging bindings. */
export interface ParticipantRecord { sid: string; identity: string | null; dateCreated: string | null }

type Json = Record<string, unknown>;

/** The YYYY-MM-DDT00:00:00Z form Twilio's `StartDate` filter takes (it filters by whole days). */
export function startOfDayUtc(date: Date): string {
  return `${date.toISOString().slice(0, 10)}T00:00:00Z`;
}

export class TwilioConversationsClient {
  readonly #base: URL;
  readonly #authorization: string;
  readonly #retry: RetrySettings;
  readonly #timeoutMs: number;
  readonly #sleep: (ms: number) => Promise<unknown>;
  readonly #random: () => number;
  readonly #signal: AbortSignal | undefined;

  constructor(opts: ConversationsClientOptions) {
    this.#base = new URL(opts.baseUrl ?? TWILIO_CONVERSATIONS_URL);
    this.#authorization = `Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString('base64')}`;
    this.#retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    this.#signal = opts.signal;
    this.#sleep = opts.sleep ?? ((ms) => sleepFor(ms, undefined, { signal: opts.signal }));
    this.#random = opts.random ?? Math.random;
  }

  /** Every conversation of the service, or those created on or after the day of `createdSince`. */
  async *conversations(serviceSid: string, opts: { createdSince?: Date } = {}): AsyncGenerator<ConversationRecord> {
    const url = this.#url(`/v1/Services/${serviceSid}/Conversations`);
    if (opts.createdSince) url.searchParams.set('StartDate', startOfDayUtc(opts.createdSince));
    for await (const item of this.#pages(url, 'conversations', false)) {
      if (typeof item.sid !== 'string') continue;
      yield { sid: item.sid, state: typeof item.state === 'string' ? item.state : null, dateCreated: typeof item.date_created === 'string' ? item.date_created : null };
    }
  }

  /** Every participant of the conversation, or null when Twilio does not know it (404). */
  async participants(serviceSid: string, conversationSid: string): Promise<ParticipantRecord[] | null> {
    const url = this.#url(`/v1/Services/${serviceSid}/Conversations/${conversationSid}/Participants`);
    const result: ParticipantRecord[] = [];
    try {
      for await (const item of this.#pages(url, 'participants', true)) {
        if (typeof item.sid !== 'string') continue;
        result.push({
          sid: item.sid,
          identity: typeof item.identity === 'string' && item.identity !== '' ? item.identity : null,
          dateCreated: typeof item.date_created === 'string' ? item.date_created : null,
        });
      }
    } catch (err) {
      if (err instanceof NotFound) return null;
      throw err;
    }
    return result;
  }

  #url(path: string): URL {
    const url = new URL(path, this.#base);
    url.searchParams.set('PageSize', String(PAGE_SIZE));
    return url;
  }

  async *#pages(first: URL, key: string, notFoundIsNull: boolean): AsyncGenerator<Json> {
    let next: string | null = first.toString();
    const seen = new Set<string>();
    while (next !== null) {
      if (seen.has(next) || seen.size >= MAX_PAGES) throw unprocessable('TWILIO_PAGING_LOOP', 'Twilio\'s next_page_url chain does not end');
      seen.add(next);
      const page = await this.#get(next, notFoundIsNull && seen.size === 1);
      const meta = (page.meta ?? {}) as Json;
      const items = page[typeof meta.key === 'string' ? meta.key : key];
      if (!Array.isArray(items)) throw unprocessable('TWILIO_RESPONSE_INVALID', `Twilio's answer has no "${key}" list`);
      for (const item of items) if (item !== null && typeof item === 'object') yield item as Json;
      next = typeof meta.next_page_url === 'string' && meta.next_page_url !== '' ? this.#sameOrigin(meta.next_page_url) : null;
    }
  }

  #sameOrigin(pageUrl: string): string {
    let url: URL;
    try {
      url = new URL(pageUrl, this.#base);
    } catch {
      throw unprocessable('TWILIO_RESPONSE_INVALID', 'Twilio\'s next_page_url is not a URL');
    }
    if (url.origin !== this.#base.origin) throw unprocessable('TWILIO_RESPONSE_INVALID', 'Twilio\'s next_page_url points to another host; not followed');
    return url.toString();
  }

  /** One page, retried as described at the top. */
  async #get(url: string, notFoundIsNull: boolean): Promise<Json> {
    const { attempts } = this.#retry;
    let lastProblem = '';
    for (let attempt = 1; ; attempt++) {
      let delayMs: number;
      this.#signal?.throwIfAborted();
      const timeout = AbortSignal.timeout(this.#timeoutMs);
      try {
        const res = await fetch(url, {
          headers: { authorization: this.#authorization, accept: 'application/json' },
          signal: this.#signal ? AbortSignal.any([this.#signal, timeout]) : timeout,
        });
        if (res.ok) return await this.#json(res);
        await res.body?.cancel().catch(() => {});
        if (res.status === 404 && notFoundIsNull) throw new NotFound();
        if (res.status === 401 || res.status === 403) {
          throw misconfigured('TWILIO_CREDENTIALS_REJECTED', `Twilio refused the tenant's API key (${res.status})`);
        }
        if (res.status !== 429 && res.status < 500) throw unprocessable('TWILIO_REQUEST_REFUSED', `Twilio answered ${res.status}`);
        lastProblem = `HTTP ${res.status}`;
        delayMs = this.#backoff(attempt);
        const retryAfterMs = retryAfterToMs(res.headers.get('retry-after'));
        if (retryAfterMs !== null) {
          if (retryAfterMs > this.#retry.maxRetryAfterMs) throw new DomainError('rate_limited', 'TWILIO_RATE_LIMITED', `Twilio asks to wait ${Math.ceil(retryAfterMs / 1000)} s`);
          delayMs = Math.max(delayMs, retryAfterMs);
        }
      } catch (err) {
        if (err instanceof DomainError || err instanceof NotFound || this.#signal?.aborted) throw err;
        lastProblem = (err as Error).name === 'TimeoutError' ? 'timed out' : (err as Error).message;
        delayMs = this.#backoff(attempt);
      }
      if (attempt >= attempts) throw unavailable('TWILIO_UNAVAILABLE', `Twilio did not answer after ${attempts} attempts (${lastProblem})`);
      await this.#sleep(delayMs);
    }
  }

  async #json(res: Response): Promise<Json> {
    try {
      const body: unknown = await res.json();
      if (body !== null && typeof body === 'object' && !Array.isArray(body)) return body as Json;
    } catch {
      // answered below
    }
    throw unprocessable('TWILIO_RESPONSE_INVALID', 'Twilio\'s answer is not a JSON object');
  }

  /** Full jitter: a uniform wait up to base × 2^(attempt-1), capped. */
  #backoff(attempt: number): number {
    const ceiling = Math.min(this.#retry.maxDelayMs, this.#retry.baseDelayMs * 2 ** (attempt - 1));
    return Math.floor(this.#random() * ceiling);
  }
}

class NotFound extends Error {}

/** `Retry-After` in seconds or as an HTTP date; null when absent or unreadable. */
export function retryAfterToMs(value: string | null, nowMs: number = Date.now()): number | null {
  if (value === null || value.trim() === '') return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs);
}
