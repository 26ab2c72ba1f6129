/**
 * A chat group's E3Kit group, kept current without the application calling `update()`.
 *
 * The service identity owns every Virgil group, so a member loads it with the owner's card and
 * keeps E3Kit's local copy. When a member is removed the service starts a new epoch, and a sender
 * whose copy predates it would still encrypt for the old epoch, which the removed member can read.
 * So before encrypting, the group asks the service (`GET /v1/groups/{guid}`) for its
 * `membershipVersion`, which rises on every change the service makes to the Virgil group, and calls
 * `update()` when its copy was loaded at an older version. A service without that route gets an
 * `update()` before every send instead. When decrypting, a message from a newer epoch ("group is
 * outdated") triggers an update and one retry.
 */
import type { ExtensionApi, GroupMembership, Optional } from './api.js';
import { checkedCiphertext, checkedPlaintext, requireText, toDate } from './ciphertext.js';
import type { CardDirectory, IdentityDirectory } from './directory.js';
import type { EThreeGroup, EThreeInstance, VirgilCard } from './e3kit.js';
import { asE2eeError, E2eeError, GroupErrorCode, groupErrorCode, isGroupAccessError } from './errors.js';

export interface GroupDependencies {
  api: ExtensionApi;
  eThree: EThreeInstance;
  identities: IdentityDirectory;
  cards: CardDirectory;
  groupOwnerIdentity: string;
}

export interface DecryptOptions {
  /** The uid the chat platform names as the sender: the signature must be theirs. */
  senderUid: string;
  /** When the platform says the message was sent; lets messages signed before a key rotation verify. */
  encryptedAt?: Date | number | string;
}

export interface GroupStats {
  /** `update()` calls made by the library (on a version change, an outdated message, or the fallback). */
  updates: number;
  /** Remote loads (`loadGroup`). */
  loads: number;
  /** Whether the service reports membership versions (`GET /v1/groups/{guid}`). */
  versioned: boolean | null;
}

export class E2eeGroup {
  readonly guid: string;
  readonly identity: string;
  readonly #deps: GroupDependencies;
  #group: EThreeGroup | null;
  /** The service's membershipVersion when the local copy was last loaded or updated; null: unknown. */
  #version: number | null;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #stats: GroupStats;

  private constructor(deps: GroupDependencies, guid: string, identity: string, group: EThreeGroup | null, version: number | null, stats: GroupStats) {
    this.#deps = deps;
    this.guid = guid;
    this.identity = identity;
    this.#group = group;
    this.#version = version;
    this.#stats = stats;
  }

  /** Takes E3Kit's local copy when there is one, else loads the group through the owner's card. */
  static async open(deps: GroupDependencies, guid: string): Promise<E2eeGroup> {
    try {
      const membership = await deps.api.groupMembership(guid);
      const known = membership.supported ? membership.value : null;
      const identity = known?.identity ?? await deps.identities.group(guid);
      const stats: GroupStats = { updates: 0, loads: 0, versioned: membership.supported };
      const local = await deps.eThree.getGroup(identity);
      if (local) return new E2eeGroup(deps, guid, identity, local, null, stats);
      const group = new E2eeGroup(deps, guid, identity, null, null, stats);
      await group.#load(known?.membershipVersion ?? null);
      return group;
    } catch (error) {
      throw asE2eeError(error, 'GROUP_UNAVAILABLE', `Group ${guid} could not be opened.`);
    }
  }

  /** Participants' identities in the local copy (the service identity included). */
  get participants(): string[] {
    return [...(this.#group?.participants ?? [])];
  }

  get stats(): Readonly<GroupStats> {
    return { ...this.#stats };
  }

  /** Encrypts for the group's current members, or throws: never returns its input. */
  async encrypt(text: string): Promise<string> {
    const plaintext = requireText(text, 'text');
    try {
      const group = await this.#exclusive(() => this.#current());
      return checkedCiphertext(await group.encrypt(plaintext), plaintext);
    } catch (error) {
      throw asE2eeError(error, 'ENCRYPT_FAILED', `Encrypting for group ${this.guid} failed; nothing was encrypted.`);
    }
  }

  /** Decrypts a message and verifies that `senderUid` signed it, or throws. */
  async decrypt(ciphertext: string, options: DecryptOptions): Promise<string> {
    const data = requireText(ciphertext, 'ciphertext');
    const senderUid = requireText(options?.senderUid, 'senderUid');
    const encryptedAt = toDate(options.encryptedAt);
    try {
      const sender = await this.#deps.identities.user(senderUid);
      let card = await this.#deps.cards.cached(sender);
      let retriedCard = false;
      let updated = false;
      for (;;) {
        try {
          const group = this.#group ?? await this.#exclusive(() => this.#load(null));
          return checkedPlaintext(await group.decrypt(data, card, encryptedAt));
        } catch (error) {
          const code = groupErrorCode(error);
          if (code === GroupErrorCode.GroupIsOutdated && !updated) {
            updated = true;
            await this.#exclusive(() => this.#update(null));
            continue;
          }
          if (code === GroupErrorCode.LocalGroupNotFound && !updated) {
            updated = true;
            this.#group = null;
            continue;
          }
          if (code === GroupErrorCode.DataVerificationFailed) {
            // The cached card may predate the sender's key rotation: look once more.
            if (!retriedCard) {
              retriedCard = true;
              card = await this.#deps.cards.current(sender);
              continue;
            }
            throw new E2eeError('SENDER_NOT_VERIFIED', `The message was not signed by ${senderUid}.`, { cause: error });
          }
          throw error;
        }
      }
    } catch (error) {
      throw asE2eeError(error, 'DECRYPT_FAILED', `A message of group ${this.guid} could not be decrypted.`);
    }
  }

  /** Brings the local copy up to date now (the library does this by itself when needed). */
  async update(): Promise<void> {
    try {
      await this.#exclusive(() => this.#update(null));
    } catch (error) {
      throw asE2eeError(error, 'GROUP_UNAVAILABLE', `Group ${this.guid} could not be updated.`);
    }
  }

  /** The local copy, updated first if the service changed the group since it was loaded. */
  async #current(): Promise<EThreeGroup> {
    const membership: Optional<GroupMembership | null> = await this.#deps.api.groupMembership(this.guid);
    this.#stats.versioned = membership.supported;
    if (membership.supported && membership.value === null) {
      throw new E2eeError('NOT_A_MEMBER', `The service does not count this user as a member of group ${this.guid}; nothing was encrypted.`);
    }
    const version = membership.supported ? membership.value!.membershipVersion : null;
    if (!this.#group) return this.#load(version);
    if (version === null || this.#version === null || version > this.#version) return this.#update(version);
    return this.#group;
  }

  async #load(version: number | null): Promise<EThreeGroup> {
    try {
      const ownerCard: VirgilCard = await this.#deps.cards.cached(this.#deps.groupOwnerIdentity);
      this.#stats.loads += 1;
      this.#group = await this.#deps.eThree.loadGroup(this.identity, ownerCard);
      this.#version = version;
      return this.#group;
    } catch (error) {
      throw this.#accessError(error);
    }
  }

  async #update(version: number | null): Promise<EThreeGroup> {
    if (!this.#group) return this.#load(version);
    try {
      this.#stats.updates += 1;
      await this.#group.update();
      this.#version = version;
      return this.#group;
    } catch (error) {
      // E3Kit drops its local copy when the caller lost access.
      if (isGroupAccessError(error)) this.#group = null;
      throw this.#accessError(error);
    }
  }

  #accessError(error: unknown): unknown {
    if (!isGroupAccessError(error)) return error;
    return new E2eeError('GROUP_UNAVAILABLE', `This user cannot read group ${this.guid}: not a member (any more), or not added yet.`, { cause: error });
  }

  /** Loads and updates one at a time per group. */
  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
