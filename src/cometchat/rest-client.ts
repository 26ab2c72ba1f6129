/**
 * The part of CometChat's REST API (v3) the service reads: groups, group members, and the lookup
 * of a user's auth token. Host `https://{appId}.api-{region}.cometchat.io/v3` (region us, eu or
 * in), authenticated with the lowercase `apikey` header carrying a full-access REST API key.
 *
 * The base URL comes from a template (COMETCHAT_API_URL), so tests and proxies can point it
 * elsewhere; never from anything a caller sends.
 *
 * Two kinds of callers:
 *  - background readers (imports, drift repair) pace their requests (RequestPacer, per CometChat
 *    app) under CometChat's limits (10,000 core requests a minute), and retry: a 429 after its
 *    Retry-After, a 5xx or a network failure with capped exponential backoff, `attempts` times;
 *  - the request path (auth-token checks) makes one attempt with a short timeout and answers at once.
 * What is still failing after that is a DomainError: `unavailable` (COMETCHAT_UNAVAILABLE) for
 * network errors, timeouts, 429 and 5xx; `misconfigured` (COMETCHAT_CREDENTIALS_REJECTED) when
 * CometChat refuses the key; `unprocessable` (COMETCHAT_BAD_RESPONSE) for a reply of the wrong shape.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { DomainError, misconfigured, unavailable, unprocessable } from '../lib/errors.js';

export const COMETCHAT_REGIONS = ['us', 'eu', 'in'] as const;
export type CometChatRegion = (typeof COMETCHAT_REGIONS)[number];

/** CometChat's documented host; `{appId}` and `{region}` are filled in per tenant. */
export const DEFAULT_COMETCHAT_API_URL = 'https://{appId}.api-{region}.cometchat.io/v3';

/** CometChat app ids go into a host name: letters, digits and hyphens. */
export const COMETCHAT_APP_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/;

/** Largest page CometChat serves for groups and members. */
export const MAX_PER_PAGE = 1000;

/** The base URL of one CometChat app. */
export function cometChatBaseUrl(template: string, appId: string, region: CometChatRegion): string {
  return template.replaceAll('{appId}', encodeURIComponent(appId)).replaceAll('{region}', region).replace(/\/+$/, '');
}

export interface CometChatGroup {
  guid: string;
  owner: string | null;
  /** Unix seconds, when CometChat gives them. */
  createdAt: number | null;
  updatedAt: number | null;
}

export interface Page<T> {
  items: T[];
  page: number;
  totalPages: number;
  /** Entries in all pages, as CometChat counts them now (null when it does not say). */
  total: number | null;
  /** Entries that were not usable (no string id), skipped. */
  skipped: number;
}

export interface AuthTokenRecord { uid: string; authToken: string; createdAt: number | null }

export interface RetryPolicy {
  /** Attempts in total (1 = no retry). */
  attempts: number;
  baseMs: number;
  capMs: number;
  /** Longest Retry-After honoured; a longer one waits this long. */
  maxRetryAfterMs: number;
}

/** For background readers. */
export const BACKGROUND_RETRY: RetryPolicy = { attempts: 8, baseMs: 500, capMs: 30_000, maxRetryAfterMs: 120_000 };
/** For the request path: one attempt. */
export const NO_RETRY: RetryPolicy = { attempts: 1, baseMs: 0, capMs: 0, maxRetryAfterMs: 0 };

/**
 * Spaces requests evenly so that at most `perMinute` start in any minute (one process; several
 * processes reading one app at once each keep their own pace).
 */
export class RequestPacer {
  readonly #intervalMs: number;
  readonly #now: () => number;
  #next = 0;

  constructor(perMinute: number, now: () => number = Date.now) {
    this.#intervalMs = 60_000 / perMinute;
    this.#now = now;
  }

  /** Milliseconds to wait before the caller's request may start (its slot is taken). */
  take(): number {
    const now = this.#now();
    const slot = Math.max(now, this.#next);
    this.#next = slot + this.#intervalMs;
    return slot - now;
  }
}

export interface CometChatClientOptions {
  baseUrl: string;
  apiKey: string;
  retry?: RetryPolicy;
  /** Per attempt (default 10 s). */
  timeoutMs?: number;
  pacer?: RequestPacer;
  /** Aborts waits and requests (a stopping import). */
  signal?: AbortSignal;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  fetch?: typeof fetch;
}

const sleepFor = (ms: number, signal?: AbortSignal) => delay(ms, undefined, signal ? { signal } : undefined);

/** Seconds or an HTTP date; null when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number = Date.now()): number | null {
  if (header === null || header.trim() === '') return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const numberOrNull = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

class Retryable extends Error {
  constructor(message: string, readonly waitMs: number | null) {
    super(message);
  }
}

export class CometChatRestClient {
  readonly #opts: CometChatClientOptions;
  readonly #retry: RetryPolicy;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #fetch: typeof fetch;

  constructor(opts: CometChatClientOptions) {
    this.#opts = opts;
    this.#retry = opts.retry ?? NO_RETRY;
    this.#sleep = opts.sleep ?? sleepFor;
    this.#fetch = opts.fetch ?? fetch;
  }

  /** One page of groups; with `updatedAfter` (unix seconds) only groups changed since, oldest change first. */
  async listGroups(opts: { page: number; perPage?: number; updatedAfter?: number }): Promise<Page<CometChatGroup>> {
    const query = new URLSearchParams({ perPage: String(opts.perPage ?? MAX_PER_PAGE), page: String(opts.page) });
    if (opts.updatedAfter !== undefined) {
      query.set('updatedAt', String(opts.updatedAfter));
      query.set('affix', 'append');
    } else {
      query.set('sortBy', 'createdAt');
      query.set('sortOrder', 'asc');
    }
    const body = await this.#get(`/groups?${query}`);
    return this.#page(body!, opts.page, opts.perPage ?? MAX_PER_PAGE, (item) => (typeof item.guid === 'string'
      ? { guid: item.guid, owner: typeof item.owner === 'string' ? item.owner : null, createdAt: numberOrNull(item.createdAt), updatedAt: numberOrNull(item.updatedAt) }
      : null));
  }

  /** One page of a group's member uids; null when the group does not exist (any more). */
  async listMembers(guid: string, opts: { page: number; perPage?: number }): Promise<Page<string> | null> {
    const query = new URLSearchParams({ perPage: String(opts.perPage ?? MAX_PER_PAGE), page: String(opts.page) });
    const body = await this.#get(`/groups/${encodeURIComponent(guid)}/members?${query}`, { notFoundIsNull: true });
    if (body === null) return null;
    return this.#page(body, opts.page, opts.perPage ?? MAX_PER_PAGE, (item) => (typeof item.uid === 'string' ? item.uid : null));
  }

  /** Every member uid of a group (all pages); null when the group does not exist. */
  async allMembers(guid: string, perPage = MAX_PER_PAGE): Promise<string[] | null> {
    const uids: string[] = [];
    for (let page = 1; ; page++) {
      const members = await this.listMembers(guid, { page, perPage });
      if (members === null) return null;
      uids.push(...members.items);
      if (page >= members.totalPages || members.items.length === 0) return uids;
    }
  }

  /**
   * `GET /users/{uid}/auth_tokens/{authToken}`: the token's record, or null when CometChat does not
   * know it (any 4xx but 429: unknown, deleted, flushed, or a uid it does not belong to).
   */
  async getAuthToken(uid: string, authToken: string): Promise<AuthTokenRecord | null> {
    const body = await this.#get(`/users/${encodeURIComponent(uid)}/auth_tokens/${encodeURIComponent(authToken)}`, { refusedIsNull: true });
    if (body === null) return null;
    const data = body.data;
    if (!isObject(data) || typeof data.uid !== 'string' || typeof data.authToken !== 'string') {
      throw unprocessable('COMETCHAT_BAD_RESPONSE', 'CometChat answered an auth-token lookup with an unexpected shape');
    }
    return { uid: data.uid, authToken: data.authToken, createdAt: numberOrNull(data.createdAt) };
  }

  #page<T>(body: Record<string, unknown>, page: number, perPage: number, map: (item: Record<string, unknown>) => T | null): Page<T> {
    if (!Array.isArray(body.data)) throw unprocessable('COMETCHAT_BAD_RESPONSE', 'CometChat answered a list without a data array');
    const items: T[] = [];
    let skipped = 0;
    for (const item of body.data) {
      const mapped = isObject(item) ? map(item) : null;
      if (mapped === null) skipped++;
      else items.push(mapped);
    }
    const pagination = isObject(body.meta) && isObject(body.meta.pagination) ? body.meta.pagination : {};
    const totalPages = numberOrNull(pagination.total_pages);
    // Without pagination meta, a full page means there may be another.
    return { items, page, totalPages: totalPages ?? (items.length + skipped >= perPage ? page + 1 : page), total: numberOrNull(pagination.total), skipped };
  }

  async #get(path: string, opts: { notFoundIsNull?: boolean; refusedIsNull?: boolean } = {}): Promise<Record<string, unknown> | null> {
    const { signal } = this.#opts;
    for (let attempt = 1; ; attempt++) {
      const wait = this.#opts.pacer?.take() ?? 0;
      if (wait > 0) await this.#sleep(wait, signal);
      try {
        return await this.#attempt(path, opts);
      } catch (err) {
        if (!(err instanceof Retryable)) throw err;
        if (signal?.aborted) throw unavailable('COMETCHAT_UNAVAILABLE', 'stopped while CometChat was failing');
        if (attempt >= this.#retry.attempts) throw unavailable('COMETCHAT_UNAVAILABLE', `CometChat is unavailable: ${err.message}`);
        const backoff = Math.min(this.#retry.capMs, this.#retry.baseMs * 2 ** (attempt - 1));
        await this.#sleep(err.waitMs === null ? backoff : Math.min(err.waitMs, this.#retry.maxRetryAfterMs), signal);
      }
    }
  }

  async #attempt(path: string, opts: { notFoundIsNull?: boolean; refusedIsNull?: boolean }): Promise<Record<string, unknown> | null> {
    const timeout = AbortSignal.timeout(this.#opts.timeoutMs ?? 10_000);
    const signal = this.#opts.signal ? AbortSignal.any([timeout, this.#opts.signal]) : timeout;
    let response: Response;
    try {
      response = await this.#fetch(`${this.#opts.baseUrl}${path}`, {
        headers: { apikey: this.#opts.apiKey, accept: 'application/json' },
        signal,
        redirect: 'error',
      });
    } catch (err) {
      throw new Retryable(timeout.aborted ? 'timed out' : `network error (${(err as Error).message})`, null);
    }
    const { status } = response;
    if (status === 429) {
      await response.body?.cancel();
      throw new Retryable('429 Too Many Requests', retryAfterMs(response.headers.get('retry-after')));
    }
    if (status >= 500) {
      await response.body?.cancel();
      throw new Retryable(`HTTP ${status}`, retryAfterMs(response.headers.get('retry-after')));
    }
    if (status === 404 && (opts.notFoundIsNull || opts.refusedIsNull)) {
      await response.body?.cancel();
      return null;
    }
    if (status >= 400 && opts.refusedIsNull && status !== 401 && status !== 403) {
      await response.body?.cancel();
      return null;
    }
    if (status === 401 || status === 403) {
      await response.body?.cancel();
      throw misconfigured('COMETCHAT_CREDENTIALS_REJECTED', `CometChat refused the REST API key (HTTP ${status}); check the tenant's cometchat settings`);
    }
    if (status !== 200) {
      await response.body?.cancel();
      throw unprocessable('COMETCHAT_BAD_RESPONSE', `CometChat answered HTTP ${status}`);
    }
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      if (timeout.aborted) throw new Retryable('timed out', null);
      throw unprocessable('COMETCHAT_BAD_RESPONSE', 'CometChat answered with a body that is not JSON');
    }
    if (!isObject(body)) throw unprocessable('COMETCHAT_BAD_RESPONSE', 'CometChat answered with a body that is not a JSON object');
    return body;
  }
}

export function isCometChatUnavailable(err: unknown): boolean {
  return err instanceof DomainError && err.code === 'COMETCHAT_UNAVAILABLE';
}
