/**
 * The extension API as a chat client calls it: the tenant in the `appId` header, the caller's token
 * from the application's backend as `Authorization: Bearer`, envelopes `{"data"}` / `{"error"}`.
 */
import { E2eeError } from './errors.js';

export type FetchLike = (input: string, init?: { method?: string; headers?: Record<string, string>; body?: string }) => Promise<{
  status: number;
  text(): Promise<string>;
}>;

export interface ExtensionApiOptions {
  /** Base URL of the service, e.g. `https://e2ee.example.com` (without `/v1`). */
  apiUrl: string;
  appId: string;
  /** The caller's token from the application's own backend. Asked again once after a 401. */
  getAuthToken: () => string | Promise<string>;
  fetch?: FetchLike;
}

export interface VirgilTokenGrant {
  virgilToken: string;
  identity: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  groupOwnerIdentity: string;
}

/** `GET /v1/groups/{guid}`, for a caller who is a member. */
export interface GroupMembership {
  guid: string;
  identity: string;
  groupOwnerIdentity: string;
  /** Rises every time the service changes the Virgil group. */
  membershipVersion: number;
  status: string;
  updatedAt: string;
}

/** A server without the route answers 404 `ROUTE_NOT_FOUND` (or something that is not our envelope). */
export type Optional<T> = { supported: true; value: T } | { supported: false };

interface Answer { status: number; data?: unknown; error?: { code?: string; message?: string }; enveloped: boolean }

const ROUTE_NOT_FOUND = 'ROUTE_NOT_FOUND';
const GROUP_NOT_FOUND = 'GROUP_NOT_FOUND';

export class ExtensionApi {
  readonly #base: string;
  readonly #appId: string;
  readonly #getAuthToken: () => string | Promise<string>;
  readonly #fetch: FetchLike;

  constructor(options: ExtensionApiOptions) {
    this.#base = options.apiUrl.replace(/\/+$/, '');
    this.#appId = options.appId;
    this.#getAuthToken = options.getAuthToken;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  async virgilToken(): Promise<VirgilTokenGrant> {
    const data = this.#dataOf(await this.#call('GET', '/v1/virgil-jwt'), 'GET /v1/virgil-jwt') as Record<string, unknown>;
    const expiresAt = Date.parse(String(data.expiresAt));
    if (typeof data.virgilToken !== 'string' || typeof data.identity !== 'string' || typeof data.groupOwnerIdentity !== 'string' || Number.isNaN(expiresAt)) {
      throw new E2eeError('NETWORK_ERROR', 'GET /v1/virgil-jwt answered an unexpected shape.');
    }
    return { virgilToken: data.virgilToken, identity: data.identity, groupOwnerIdentity: data.groupOwnerIdentity, expiresAt };
  }

  /** Identities of uids and guids, keyed by id (one request; at most 1,000 ids in all). */
  async identities(uids: string[], guids: string[]): Promise<{ users: Map<string, string>; groups: Map<string, string> }> {
    const body = { ...(uids.length > 0 ? { uids } : {}), ...(guids.length > 0 ? { guids } : {}) };
    const data = this.#dataOf(await this.#call('POST', '/v1/get-identities', body), 'POST /v1/get-identities') as {
      userIdentities?: Array<Record<string, string>>; groupIdentities?: Array<Record<string, string>>;
    };
    const flatten = (list: Array<Record<string, string>> | undefined) => new Map(list?.flatMap((entry) => Object.entries(entry)) ?? []);
    return { users: flatten(data.userIdentities), groups: flatten(data.groupIdentities) };
  }

  /** The caller's membership of a group; `null` when the service says the caller is not a member. */
  async groupMembership(guid: string): Promise<Optional<GroupMembership | null>> {
    const answer = await this.#call('GET', `/v1/groups/${encodeURIComponent(guid)}`);
    if (isMissingRoute(answer)) return { supported: false };
    if (answer.status === 404 && answer.error?.code === GROUP_NOT_FOUND) return { supported: true, value: null };
    const data = this.#dataOf(answer, 'GET /v1/groups/{guid}') as Partial<GroupMembership>;
    if (typeof data.identity !== 'string' || typeof data.membershipVersion !== 'number' || !Number.isSafeInteger(data.membershipVersion)) {
      throw new E2eeError('NETWORK_ERROR', 'GET /v1/groups/{guid} answered an unexpected shape.');
    }
    return { supported: true, value: data as GroupMembership };
  }

  /** Tells the service the caller's card changed, so it re-adds the new card to the caller's groups. */
  async keysChanged(): Promise<Optional<true>> {
    const answer = await this.#call('POST', '/v1/keys/changed');
    if (isMissingRoute(answer)) return { supported: false };
    this.#dataOf(answer, 'POST /v1/keys/changed', { allowEmpty: true });
    return { supported: true, value: true };
  }

  async #call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Answer> {
    const first = await this.#authToken();
    const answer = await this.#send(method, path, first, body);
    if (answer.status !== 401) return answer;
    // The application's token may have just expired: ask once more, and retry only with a new one.
    const second = await this.#authToken();
    return second === first ? answer : this.#send(method, path, second, body);
  }

  async #authToken(): Promise<string> {
    try {
      return await this.#getAuthToken();
    } catch (error) {
      throw new E2eeError('API_ERROR', 'getAuthToken() failed.', { cause: error });
    }
  }

  async #send(method: string, path: string, authToken: string, body: unknown): Promise<Answer> {
    const headers: Record<string, string> = { appId: this.#appId, authorization: `Bearer ${authToken}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let status: number;
    let text: string;
    try {
      const response = await this.#fetch(`${this.#base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      status = response.status;
      text = await response.text();
    } catch (error) {
      throw new E2eeError('NETWORK_ERROR', `${method} ${path}: the extension API could not be reached.`, { cause: error });
    }
    return parseAnswer(status, text);
  }

  #dataOf(answer: Answer, what: string, opts: { allowEmpty?: boolean } = {}): unknown {
    if (answer.status >= 200 && answer.status < 300) {
      if (answer.data !== undefined) return answer.data;
      if (opts.allowEmpty && !answer.enveloped) return undefined;
    }
    if (answer.error) {
      throw new E2eeError('API_ERROR', `${what}: ${answer.error.code ?? 'error'} (HTTP ${answer.status})`, {
        status: answer.status, ...(answer.error.code ? { apiCode: answer.error.code } : {}),
      });
    }
    throw new E2eeError('NETWORK_ERROR', `${what}: unexpected answer (HTTP ${answer.status}).`, { status: answer.status });
  }
}

function parseAnswer(status: number, text: string): Answer {
  if (text.trim() === '') return { status, enveloped: false };
  try {
    const json = JSON.parse(text) as { data?: unknown; error?: { code?: string; message?: string } };
    if (json !== null && typeof json === 'object' && ('data' in json || 'error' in json)) {
      return { status, data: json.data, error: json.error, enveloped: true };
    }
  } catch {
    // Not JSON: a proxy's page, or a server that does not speak the envelope.
  }
  return { status, enveloped: false };
}

/** A 404 or 405 that is not one of the route's own answers: the server predates the route. */
function isMissingRoute(answer: Answer): boolean {
  if (answer.status !== 404 && answer.status !== 405) return false;
  return !answer.enveloped || answer.error?.code === ROUTE_NOT_FOUND || answer.status === 405;
}
