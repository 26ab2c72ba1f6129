/**
 * The E3Kit group operations the reconciler needs, made tolerant and idempotent:
 * card lookups that report missing users instead of failing, "load or nothing", "create or load",
 * adding, removal and revocation by identity alone, all in ticket batches Virgil accepts.
 */
import { releaseCards } from './e3kit-runtime.js';
import type { EThree, ServiceIdentity, VirgilCard, VirgilGroup } from './service-identities.js';

export type { VirgilGroup };
type FindUsersResult = Record<string, VirgilCard>;

/** Virgil Cards search accepts at most this many identities per request (E3Kit uses the same). */
const SEARCH_CHUNK = 50;

/** E3Kit GroupError codes (compared by number; the class comes from E3Kit's own module copy). */
const GROUP_ERROR = { RemoteGroupNotFound: 3, NoAccess: 11 } as const;
/** E3Kit's bound on participants, the owner included. */
const MAX_PARTICIPANTS = 100;

function isGroupError(err: unknown, ...codes: number[]): boolean {
  const e = err as { name?: string; errorCode?: number } | null;
  return e?.name === 'GroupError' && typeof e.errorCode === 'number' && codes.includes(e.errorCode);
}

/** Every card Virgil has for `identities`, one search per 50. */
async function searchCards(eThree: EThree, identities: string[]): Promise<VirgilCard[]> {
  const found: VirgilCard[] = [];
  for (let i = 0; i < identities.length; i += SEARCH_CHUNK) found.push(...await eThree.cardManager.searchCards(identities.slice(i, i + SEARCH_CHUNK)));
  return found;
}

function newestByIdentity(cards: VirgilCard[]): Map<string, VirgilCard> {
  const found = new Map<string, VirgilCard>();
  for (const card of cards) {
    const seen = found.get(card.identity);
    if (!seen || card.createdAt > seen.createdAt) found.set(card.identity, card);
  }
  releaseCards(cards.filter((card) => found.get(card.identity) !== card));
  return found;
}

/**
 * Cards found by a search hold their public keys in WASM memory, which virgil-crypto frees only
 * when told: the caller calls this once it is done with them (at the end of a run).
 */
export function doneWithCards(cards: Iterable<VirgilCard>): void {
  releaseCards(cards);
}

/**
 * The newest card of each identity that has one. Unlike E3Kit's findUsers, identities without a
 * card are simply absent from the result (they are pending registration, not an error).
 */
export async function findCards(eThree: EThree, identities: string[]): Promise<Map<string, VirgilCard>> {
  return newestByIdentity(await searchCards(eThree, identities));
}

/**
 * The members' newest cards (as findCards). When the instance does not know the service
 * identity's own card yet, it is looked up in the same search if that costs no extra request
 * (and published if Virgil has none).
 */
export async function findMemberCards(svc: ServiceIdentity, identities: string[]): Promise<Map<string, VirgilCard>> {
  if (svc.ownCardKnown) return findCards(svc.eThree, identities);
  if (identities.length > 0 && identities.length % SEARCH_CHUNK === 0) {
    const [cards] = await Promise.all([findCards(svc.eThree, identities), svc.ownCard()]);
    return cards;
  }
  const all = await searchCards(svc.eThree, [...identities, svc.identity]);
  await svc.ownCardFrom(all.filter((card) => card.identity === svc.identity));
  return newestByIdentity(all.filter((card) => card.identity !== svc.identity));
}

function asFindUsersResult(cards: Iterable<VirgilCard>): FindUsersResult {
  const result: FindUsersResult = {};
  for (const card of cards) result[card.identity] = card;
  return result;
}

/** The service identity's group, or null when it does not exist (or was deleted). */
export async function loadOwnGroup(svc: ServiceIdentity, groupId: string): Promise<VirgilGroup | null> {
  try {
    return await svc.eThree.loadGroup(groupId, await svc.ownCard());
  } catch (err) {
    // E3Kit maps "no ticket" and "no access" onto these two codes (their names are swapped).
    if (isGroupError(err, GROUP_ERROR.NoAccess, GROUP_ERROR.RemoteGroupNotFound)) return null;
    throw err;
  }
}

/**
 * Creates the group with the first batch of members (the caller adds the rest with addMembers). If
 * it already exists (a previous run created it and stopped before recording that), the existing
 * group is loaded instead.
 */
export async function createOrLoadOwnGroup(svc: ServiceIdentity, groupId: string, firstBatch: VirgilCard[]): Promise<{ group: VirgilGroup; created: boolean }> {
  try {
    const group = firstBatch.length > 0
      ? await svc.eThree.createGroup(groupId, asFindUsersResult(firstBatch))
      : await svc.eThree.createGroup(groupId);
    return { group, created: true };
  } catch (err) {
    if ((err as { name?: string } | null)?.name !== 'GroupTicketAlreadyExistsError') throw err;
    const group = await loadOwnGroup(svc, groupId);
    if (!group) throw new Error('the group exists on Virgil but could not be loaded');
    return { group, created: false };
  }
}

/**
 * Adds members (cards) in batches whose tickets stay under Keyknox's meta limit; members already
 * present are skipped. Each batch gets a copy of every ticket of the group (every epoch, as E3Kit's
 * `add` does), pulled and pushed again per epoch; unlike `add`, the epochs come from the group
 * object instead of one more Keyknox listing, and E3Kit's local copy is not read.
 * `onBatch` runs after each batch is on Virgil, so a run that fails half way has recorded what it
 * did; the next run sees the added ones as participants and adds the rest.
 */
export async function addMembers(
  group: VirgilGroup, cards: VirgilCard[], batches: (cards: VirgilCard[]) => Promise<VirgilCard[][]>, onBatch: (added: VirgilCard[]) => Promise<void>,
): Promise<void> {
  const present = new Set(group.participants);
  const missing = cards.filter((card) => !present.has(card.identity));
  if (missing.length === 0) return;
  if (present.size + missing.length > MAX_PARTICIPANTS) throw new Error(`a group holds at most ${MAX_PARTICIPANTS} participants`);
  const internals = group as unknown as GroupInternals;
  const sessionId = internals._session.getSessionId();
  const epochs = internals._session.export().map((message) => String(internals._session.parseMessage(message).epochNumber));
  const storage = await internals._groupManager.getCloudTicketStorage();
  for (const batch of await batches(missing)) {
    await Promise.all(epochs.map((epoch) => shareTicket(storage, sessionId, epoch, batch)));
    group.participants = [...group.participants, ...batch.map((card) => card.identity)];
    await onBatch(batch);
  }
}

/** E3Kit's internals a batched removal goes through (there is no public call for either step). */
interface GroupInternals {
  _session: {
    addNewEpoch(): { epochNumber: number; sessionId: string; data: string };
    getSessionId(): string;
    export(): Buffer[];
    parseMessage(message: Buffer): { epochNumber: number };
  };
  _groupManager: {
    store(ticket: { groupSessionMessage: { epochNumber: number; sessionId: string; data: string }; participants: string[] }, cards: VirgilCard[]): Promise<unknown>;
    removeAccess(sessionId: string, identities: string[]): Promise<void>;
    getCloudTicketStorage(): Promise<TicketStorage>;
  };
}
interface TicketStorage {
  root: string;
  identity: string;
  privateKey: unknown;
  publicKey: unknown;
  keyknoxManager: {
    v2Pull(args: Record<string, unknown>): Promise<Record<string, unknown>>;
    v2Push(args: Record<string, unknown>): Promise<unknown>;
  };
}

/**
 * Removes participants by identity: a new epoch for the remaining members, then the removed
 * identities lose access to every ticket. E3Kit's `group.remove` pushes the new epoch's ticket to
 * every remaining member at once, which Virgil refuses beyond about 28 members (50005); this does
 * the same in batches: the ticket is stored for the first batch, then shared with each further
 * batch, then access is revoked. `remaining` are the cards of the members who stay (members without
 * a card get no ticket, as with E3Kit). If a run stops half way, the members still without the new
 * epoch are not participants of it, so the next run adds them, and revokes the removed ones again.
 */
export async function removeMembers(
  group: VirgilGroup, identities: string[], remaining: VirgilCard[], batches: (cards: VirgilCard[]) => Promise<VirgilCard[][]>,
): Promise<void> {
  const present = new Set(group.participants);
  const targets = new Set(identities.filter((identity) => present.has(identity) && identity !== group.initiator));
  if (targets.size === 0) return;
  const internals = group as unknown as GroupInternals;
  const staying = group.participants.filter((identity) => !targets.has(identity) && identity !== group.initiator);
  const stayingSet = new Set(staying);
  const [first = [], ...rest] = await batches(remaining.filter((card) => stayingSet.has(card.identity)));
  const epoch = internals._session.addNewEpoch();
  await internals._groupManager.store({ groupSessionMessage: epoch, participants: staying }, first);
  if (rest.length > 0) {
    const storage = await internals._groupManager.getCloudTicketStorage();
    for (const batch of rest) await shareTicket(storage, epoch.sessionId, String(epoch.epochNumber), batch);
  }
  group.participants = [...staying, group.initiator];
  await internals._groupManager.removeAccess(epoch.sessionId, [...targets]);
}

/** Gives `cards` a copy of one ticket the owner holds (what E3Kit's addRecipients does for every ticket). */
async function shareTicket(storage: TicketStorage, sessionId: string, key: string, cards: VirgilCard[]): Promise<void> {
  const pulled = await storage.keyknoxManager.v2Pull({
    root: storage.root, path: sessionId, key, identity: storage.identity, privateKey: storage.privateKey, publicKeys: storage.publicKey,
  });
  await storage.keyknoxManager.v2Push({
    ...pulled,
    identities: cards.map((card) => card.identity),
    publicKeys: [storage.publicKey, ...cards.map((card) => card.publicKey)],
    privateKey: storage.privateKey,
  });
}

/**
 * Re-shares every ticket of the group with a member's new card (after they rotated their key or
 * registered again). The caller must have checked that the member is a desired member and a current
 * participant: this grants every epoch, including those made to exclude somebody.
 */
export async function reAddMember(group: VirgilGroup, card: VirgilCard): Promise<void> {
  await group.reAdd(card);
}

/**
 * Revokes any remaining access of identities that are no longer participants. Needed when a
 * previous run stopped between starting the new epoch and revoking (E3Kit does these in two steps):
 * the identity is no longer a participant, yet can still read older tickets. Idempotent.
 * Goes through E3Kit's group manager; there is no public call for this.
 */
export async function revokeAccess(svc: ServiceIdentity, groupId: string, identities: string[]): Promise<void> {
  if (identities.length === 0) return;
  const eThree = svc.eThree as unknown as {
    virgilCrypto: { calculateGroupSessionId(id: string): string };
    groupManager?: { removeAccess?(sessionId: string, identities: string[]): Promise<void> };
  };
  const removeAccess = eThree.groupManager?.removeAccess;
  if (typeof removeAccess !== 'function') return;
  await removeAccess.call(eThree.groupManager, eThree.virgilCrypto.calculateGroupSessionId(groupId), identities);
}
