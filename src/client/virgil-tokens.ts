/**
 * Virgil JWTs for E3Kit, from `GET /v1/virgil-jwt`. E3Kit asks its callback again only a few seconds
 * before a token expires, and keeps whatever it gets (CometChat's sample returned the first token
 * forever, so every Virgil call failed after 20 minutes); here a token is replaced once it is within
 * the refresh margin of its expiry, and concurrent asks share one request.
 */
import type { ExtensionApi, VirgilTokenGrant } from './api.js';

export interface VirgilTokenSourceOptions {
  /** Replace a token this long before it expires (default 60 s; at most half its lifetime). */
  refreshMarginMs?: number;
  /** Milliseconds since the epoch (injectable for tests). */
  now?: () => number;
}

const DEFAULT_REFRESH_MARGIN_MS = 60_000;

export class VirgilTokenSource {
  readonly #api: ExtensionApi;
  readonly #marginMs: number;
  readonly #now: () => number;
  #current: { grant: VirgilTokenGrant; refreshAt: number } | null = null;
  #pending: Promise<VirgilTokenGrant> | null = null;

  constructor(api: ExtensionApi, options: VirgilTokenSourceOptions = {}) {
    this.#api = api;
    this.#marginMs = options.refreshMarginMs ?? DEFAULT_REFRESH_MARGIN_MS;
    this.#now = options.now ?? Date.now;
  }

  /** A grant that is not yet due for refresh. */
  async grant(): Promise<VirgilTokenGrant> {
    const current = this.#current;
    if (current && this.#now() < current.refreshAt) return current.grant;
    this.#pending ??= this.#fetch().finally(() => { this.#pending = null; });
    return this.#pending;
  }

  /** The callback E3Kit is initialised with. */
  readonly getToken = async (): Promise<string> => (await this.grant()).virgilToken;

  async #fetch(): Promise<VirgilTokenGrant> {
    const issuedAt = this.#now();
    const grant = await this.#api.virgilToken();
    const lifetime = Math.max(0, grant.expiresAt - issuedAt);
    this.#current = { grant, refreshAt: grant.expiresAt - Math.min(this.#marginMs, lifetime / 2) };
    return grant;
  }
}
