/**
 * Callers in the cometchat mode send the `authtoken` header CometChat SDKs already send (and
 * optionally `uid`); the token is checked with CometChat itself,
 * `GET /users/{uid}/auth_tokens/{authToken}` with the tenant's REST API key.
 *
 * - The uid is the `uid` header when sent, else read from the token: every token CometChat issues
 *   has the shape `<uid>_<createdAt: 10 digits><30 hex>` (not a documented contract, so a token of
 *   another shape needs the `uid` header). When the shape is there and CometChat reports createdAt,
 *   the two must agree.
 * - CometChat's answer must name the same token and the same uid (CometChat lowercases uids, so the
 *   comparison ignores case; the uid used is CometChat's).
 * - A verified token is trusted for `verifiedCacheSeconds` (default 60), a refused one refused for
 *   `refusedCacheSeconds` (default 10) without asking again: tokens do not expire at CometChat, and
 *   deleting or flushing them is the only revocation, which therefore takes effect within a minute.
 * - CometChat unreachable, slow (3 s), rate limiting or failing is COMETCHAT_UNAVAILABLE (a 503),
 *   never a pass, and is not cached. A REST key CometChat refuses is AUTH_MISCONFIGURED.
 */
import type { CometChatUserAuthSettings } from '../db/schema.js';
import { DomainError } from '../lib/errors.js';
import { ID_RULE, isValidId } from '../lib/ids.js';
import { Lru } from '../lib/lru.js';
import type { AuthTokenRecord } from '../cometchat/rest-client.js';
import { CALLER_FAILURES, callerFailure as failure, type CallerTokenFailure } from './caller-token.js';

/** Far above CometChat's ~50-character tokens. */
export const MAX_AUTH_TOKEN_LENGTH = 512;
const MAX_CACHED_TOKENS = 10_000;
const TOKEN_SHAPE = /^(.+)_(\d{10})[0-9a-f]{30}$/;
const TOKEN_CHARS = /^[\x21-\x7e]+$/;

const FAILURES = {
  missing: failure('TOKEN_MISSING', 'Send the CometChat auth token in the "authtoken" header'),
  malformed: failure('TOKEN_INVALID', 'The auth token is not a CometChat auth token'),
  needsUid: failure('TOKEN_INVALID', 'The auth token does not show its uid: send the "uid" header too'),
  badUid: failure('TOKEN_INVALID', `The uid must be ${ID_RULE}`),
  refused: failure('TOKEN_INVALID', 'CometChat does not know this auth token for this user'),
  unavailable: failure('COMETCHAT_UNAVAILABLE', 'CometChat cannot be reached to check the auth token; retry shortly'),
} as const;

export interface AuthTokenLookup { getAuthToken(uid: string, authToken: string): Promise<AuthTokenRecord | null> }

export type CometChatTokenVerifier = (authToken: string | undefined, uidHeader: string | undefined) => string | CallerTokenFailure | Promise<string | CallerTokenFailure>;

interface Cached { result: string | CallerTokenFailure; until: number }

export function buildCometChatVerifier(
  settings: CometChatUserAuthSettings, lookup: AuthTokenLookup, { now }: { now: () => number },
): CometChatTokenVerifier {
  const cache = new Lru<string, Cached>(MAX_CACHED_TOKENS);
  const pending = new Map<string, Promise<string | CallerTokenFailure>>();

  async function ask(uid: string, authToken: string, shapedAt: number | null): Promise<string | CallerTokenFailure> {
    let record: AuthTokenRecord | null;
    try {
      record = await lookup.getAuthToken(uid, authToken);
    } catch (err) {
      if (err instanceof DomainError && err.kind === 'misconfigured') return CALLER_FAILURES.misconfigured;
      return FAILURES.unavailable;
    }
    if (record === null || record.authToken !== authToken || record.uid.toLowerCase() !== uid.toLowerCase() || !isValidId(record.uid)) return FAILURES.refused;
    if (shapedAt !== null && record.createdAt !== null && record.createdAt !== shapedAt) return FAILURES.refused;
    return record.uid;
  }

  return (authToken, uidHeader) => {
    if (authToken === undefined || authToken === '') return FAILURES.missing;
    if (authToken.length > MAX_AUTH_TOKEN_LENGTH || !TOKEN_CHARS.test(authToken)) return FAILURES.malformed;
    const shape = TOKEN_SHAPE.exec(authToken);
    const uid = uidHeader ?? shape?.[1];
    if (uid === undefined) return FAILURES.needsUid;
    if (!isValidId(uid)) return FAILURES.badUid;
    const shapedAt = shape && shape[1].toLowerCase() === uid.toLowerCase() ? Number(shape[2]) : null;

    const key = `${uid}\0${authToken}`;
    const hit = cache.get(key);
    if (hit !== undefined && hit.until > now()) return hit.result;
    let inflight = pending.get(key);
    if (inflight === undefined) {
      inflight = ask(uid, authToken, shapedAt).then((result) => {
        const ttl = typeof result === 'string' ? settings.verifiedCacheSeconds : result === FAILURES.refused ? settings.refusedCacheSeconds : 0;
        if (ttl > 0) cache.set(key, { result, until: now() + ttl * 1000 });
        else cache.delete(key);
        return result;
      }).finally(() => pending.delete(key));
      pending.set(key, inflight);
    }
    return inflight;
  };
}
