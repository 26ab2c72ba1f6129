/**
 * Who is who: Virgil identities of uids and guids (`POST /v1/get-identities`, batched, cached for
 * good: identities never change), and Virgil cards of identities (E3Kit's `findUsers`, batched,
 * cached for a while: a card changes when its owner rotates their key).
 */
import type { ExtensionApi } from './api.js';
import { BatchLoader } from './batch-loader.js';
import type { EThreeInstance, VirgilCard } from './e3kit.js';
import { E2eeError, e3kitErrorName } from './errors.js';

/** The API's limit on uids and guids per get-identities request. */
const MAX_IDS_PER_REQUEST = 1000;
/** E3Kit's own chunk size for card searches. */
const MAX_CARDS_PER_SEARCH = 50;

export class IdentityDirectory {
  readonly #loader: BatchLoader<string>;

  constructor(api: ExtensionApi) {
    // One loader for both kinds, so uids and guids asked for together share a request.
    this.#loader = new BatchLoader(async (keys) => {
      const uids = keys.filter((key) => key.startsWith('u:')).map((key) => key.slice(2));
      const guids = keys.filter((key) => key.startsWith('g:')).map((key) => key.slice(2));
      const { users, groups } = await api.identities(uids, guids);
      const answers = new Map<string, string | Error>();
      for (const uid of uids) answers.set(`u:${uid}`, users.get(uid) ?? new E2eeError('NETWORK_ERROR', 'get-identities left a uid out.'));
      for (const guid of guids) answers.set(`g:${guid}`, groups.get(guid) ?? new E2eeError('NETWORK_ERROR', 'get-identities left a guid out.'));
      return answers;
    }, { maxBatch: MAX_IDS_PER_REQUEST });
  }

  user(uid: string): Promise<string> {
    return this.#loader.get(`u:${uid}`);
  }

  users(uids: string[]): Promise<string[]> {
    return this.#loader.getMany(uids.map((uid) => `u:${uid}`));
  }

  group(guid: string): Promise<string> {
    return this.#loader.get(`g:${guid}`);
  }
}

export interface CardDirectoryOptions {
  /** How long a card found for verifying a sender is reused (default 10 minutes). */
  cacheMs?: number;
  now?: () => number;
}

const DEFAULT_CARD_CACHE_MS = 10 * 60_000;

export class CardDirectory {
  readonly #loader: BatchLoader<VirgilCard>;

  constructor(eThree: EThreeInstance, options: CardDirectoryOptions = {}) {
    this.#loader = new BatchLoader((identities) => findCards(eThree, identities), {
      maxBatch: MAX_CARDS_PER_SEARCH,
      maxAgeMs: options.cacheMs ?? DEFAULT_CARD_CACHE_MS,
      ...(options.now ? { now: options.now } : {}),
    });
  }

  /** For verifying what `identity` signed: a cached card is fine (a stale one is retried by the caller). */
  cached(identity: string): Promise<VirgilCard> {
    return this.#loader.get(identity);
  }

  /** For encrypting to `identity`: always the current card, so a rotated key is never written to. */
  current(identity: string): Promise<VirgilCard> {
    return this.#loader.get(identity, 0);
  }

  forgetAll(): void {
    this.#loader.clear();
  }
}

/** `findUsers` fails the whole search when one identity has no card; those get their own error. */
async function findCards(eThree: EThreeInstance, identities: string[]): Promise<Map<string, VirgilCard | Error>> {
  const answers = new Map<string, VirgilCard | Error>();
  let remaining = identities;
  while (remaining.length > 0) {
    try {
      const found = await eThree.findUsers(remaining);
      for (const identity of remaining) answers.set(identity, found[identity] ?? notRegistered(identity));
      return answers;
    } catch (error) {
      const missing = e3kitErrorName(error) === 'UsersNotFoundError' ? (error as { identities?: unknown }).identities : undefined;
      if (!Array.isArray(missing) || missing.length === 0) throw error;
      for (const identity of missing) answers.set(String(identity), notRegistered(String(identity)));
      remaining = remaining.filter((identity) => !answers.has(identity));
    }
  }
  return answers;
}

function notRegistered(identity: string): E2eeError {
  return new E2eeError('USER_NOT_REGISTERED', `Identity ${identity} has no Virgil card: that user has not logged in with encryption yet.`);
}
