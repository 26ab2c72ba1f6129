/**
 * `connect()`: one signed-in user's end-to-end encryption, for a web chat or a Node client.
 */
import { ExtensionApi, type FetchLike, type GroupMembership } from './api.js';
import { checkedCiphertext, checkedPlaintext, requireText, toDate } from './ciphertext.js';
import { CardDirectory, IdentityDirectory } from './directory.js';
import { initializeEThree, type EThreeInstance, type EThreeSource, type VirgilCard } from './e3kit.js';
import { asE2eeError, E2eeError } from './errors.js';
import { E2eeGroup } from './group.js';
import { backupKey, changePassword, login, rotateKey, type LoginOutcome, type RotationOutcome } from './keys.js';
import { VirgilTokenSource } from './virgil-tokens.js';

export interface ConnectOptions {
  /** Base URL of the e2ee-extension service, without `/v1`. */
  apiUrl: string;
  /** The tenant's app id (sent as the `appId` header). */
  appId: string;
  /** The signed-in user's token from the application's backend (`Authorization: Bearer`). */
  getAuthToken: () => string | Promise<string>;
  /**
   * E3Kit's `EThree` class (`import { EThree } from '@virgilsecurity/e3kit-browser'`), initialised
   * with the library's token callback and `eThreeOptions`; or a function that initialises one.
   */
  eThree: EThreeSource;
  /** Options for `EThree.initialize` (e.g. `apiUrl` of the Virgil emulator, storage names). */
  eThreeOptions?: object;
  /** Replace a Virgil token this long before it expires (default 60 s). */
  tokenRefreshMarginMs?: number;
  /** How long a sender's card is reused for verification (default 10 minutes). */
  cardCacheMs?: number;
  fetch?: FetchLike;
  /** Milliseconds since the epoch (injectable for tests). */
  now?: () => number;
}

export interface DirectDecryptOptions {
  /** When the platform says the message was sent. */
  encryptedAt?: Date | number | string;
}

export class E2eeClient {
  /** The user's Virgil identity. */
  readonly identity: string;
  /** The tenant's service identity, which owns every group. */
  readonly groupOwnerIdentity: string;
  /** The E3Kit instance, for what the library does not wrap. */
  readonly eThree: EThreeInstance;
  readonly identities: IdentityDirectory;
  readonly #api: ExtensionApi;
  readonly #cards: CardDirectory;
  readonly #groups = new Map<string, Promise<E2eeGroup>>();

  constructor(parts: { identity: string; groupOwnerIdentity: string; eThree: EThreeInstance; api: ExtensionApi; cardCacheMs?: number; now?: () => number }) {
    this.identity = parts.identity;
    this.groupOwnerIdentity = parts.groupOwnerIdentity;
    this.eThree = parts.eThree;
    this.#api = parts.api;
    this.identities = new IdentityDirectory(parts.api);
    this.#cards = new CardDirectory(parts.eThree, { ...(parts.cardCacheMs !== undefined ? { cacheMs: parts.cardCacheMs } : {}), ...(parts.now ? { now: parts.now } : {}) });
  }

  /** The recommended login flow (see keys.ts): `local-key`, `restored` or `registered`. */
  login(password: string): Promise<LoginOutcome> {
    return login(this.eThree, password);
  }

  /** Backs the key up again (after `BACKUP_FAILED`). */
  backupKey(password: string): Promise<void> {
    return backupKey(this.eThree, password);
  }

  changePassword(oldPassword: string, newPassword: string): Promise<void> {
    return changePassword(this.eThree, oldPassword, newPassword);
  }

  /** A new key (old 1:1 messages become unreadable); see keys.ts. */
  async rotateKey(password: string): Promise<RotationOutcome> {
    // E3Kit wipes its local groups with the old key; so must the wrappers.
    this.#groups.clear();
    this.#cards.forgetAll();
    return rotateKey(this.eThree, this.#api, password);
  }

  /** Deletes this device's copy of the key and groups; the next login restores it from the backup. */
  async logout(): Promise<void> {
    this.#groups.clear();
    await this.eThree.cleanup();
  }

  /**
   * What the service says about the user's membership of a group: `null` when it does not count
   * the user as a member, `undefined` when the service does not report memberships.
   */
  async membership(guid: string): Promise<GroupMembership | null | undefined> {
    const answer = await this.#api.groupMembership(requireText(guid, 'guid'));
    return answer.supported ? answer.value : undefined;
  }

  /** The group of a chat-platform guid, loaded through the group owner and kept locally. */
  group(guid: string): Promise<E2eeGroup> {
    requireText(guid, 'guid');
    let group = this.#groups.get(guid);
    if (!group) {
      group = E2eeGroup.open({ api: this.#api, eThree: this.eThree, identities: this.identities, cards: this.#cards, groupOwnerIdentity: this.groupOwnerIdentity }, guid);
      this.#groups.set(guid, group);
      // A failed open is not kept: the next call tries again (the worker may not have created it yet).
      group.catch(() => { if (this.#groups.get(guid) === group) this.#groups.delete(guid); });
    }
    return group;
  }

  /** Encrypts a 1:1 message for `uid` (and the sender's other devices), signed by the sender. */
  async encryptFor(uid: string, text: string): Promise<string> {
    const plaintext = requireText(text, 'text');
    requireText(uid, 'uid');
    try {
      const card = await this.#cards.current(await this.identities.user(uid));
      return checkedCiphertext(await this.eThree.authEncrypt(plaintext, card), plaintext);
    } catch (error) {
      throw asE2eeError(error, 'ENCRYPT_FAILED', `Encrypting for ${uid} failed; nothing was encrypted.`);
    }
  }

  /** Decrypts a 1:1 message and verifies that `senderUid` signed it (the sender may be the user). */
  async decryptFrom(senderUid: string, ciphertext: string, options: DirectDecryptOptions = {}): Promise<string> {
    const data = requireText(ciphertext, 'ciphertext');
    requireText(senderUid, 'senderUid');
    const encryptedAt = toDate(options.encryptedAt);
    let identity: string;
    let card: VirgilCard;
    try {
      identity = await this.identities.user(senderUid);
      card = await this.#cards.cached(identity);
    } catch (error) {
      throw asE2eeError(error, 'DECRYPT_FAILED', `The sender ${senderUid} could not be looked up.`);
    }
    try {
      return checkedPlaintext(await this.eThree.authDecrypt(data, card, encryptedAt));
    } catch (first) {
      // A cached card may predate the sender's key rotation: try once with the current one.
      try {
        const current = await this.#cards.current(identity);
        if (current.id === card.id) throw first;
        return checkedPlaintext(await this.eThree.authDecrypt(data, current, encryptedAt));
      } catch (error) {
        throw asE2eeError(error, 'DECRYPT_FAILED', `A message from ${senderUid} could not be decrypted or verified.`);
      }
    }
  }
}

/**
 * Connects a signed-in user: fetches their Virgil token (which names their identity and the group
 * owner), initialises E3Kit with a callback that refreshes tokens before they expire, and returns
 * the client. Call `login(password)` next.
 */
export async function connect(options: ConnectOptions): Promise<E2eeClient> {
  const api = new ExtensionApi({ apiUrl: options.apiUrl, appId: options.appId, getAuthToken: options.getAuthToken, ...(options.fetch ? { fetch: options.fetch } : {}) });
  const tokens = new VirgilTokenSource(api, {
    ...(options.tokenRefreshMarginMs !== undefined ? { refreshMarginMs: options.tokenRefreshMarginMs } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  const grant = await tokens.grant();
  let eThree: EThreeInstance;
  try {
    eThree = await initializeEThree(options.eThree, tokens.getToken, options.eThreeOptions);
  } catch (error) {
    throw asE2eeError(error, 'LOGIN_FAILED', 'E3Kit could not be initialised.');
  }
  if (eThree.identity !== grant.identity) {
    throw new E2eeError('IDENTITY_MISMATCH', 'E3Kit was initialised for another identity than the one the service gave this user.');
  }
  return new E2eeClient({
    identity: grant.identity, groupOwnerIdentity: grant.groupOwnerIdentity, eThree, api,
    ...(options.cardCacheMs !== undefined ? { cardCacheMs: options.cardCacheMs } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
}
