/**
 * The E3Kit group operations the reconciler needs, made tolerant and idempotent:
 * card lookups that report missing users instead of failing, "load or nothing", "create or load",
 * and removal/revocation by identity alone.
 */
import type { EThree, ServiceIdentity, VirgilCard } from './service-identities.js';

export type VirgilGroup = Awaited<ReturnType<EThree['loadGroup']>>;
type FindUsersResult = Record<string, VirgilCard>;

/** Virgil Cards search accepts at most this many identities per request (E3Kit uses the same). */
const SEARCH_CHUNK = 50;

/** E3Kit GroupError codes (compared by number; the class comes from E3Kit's own module copy). */
const GROUP_ERROR = { RemoteGroupNotFound: 3, NoAccess: 11, ParticipantAlreadyAdded: 12 } as const;

function isGroupError(err: unknown, ...codes: number[]): boolean {
  const e = err as { name?: string; errorCode?: number } | null;
  return e?.name === 'GroupError' && typeof e.errorCode === 'number' && codes.includes(e.errorCode);
}

/**
 * The newest card of each identity that has one. Unlike E3Kit's findUsers, identities without a
 * card are simply absent from the result (they are pending registration, not an error).
 */
export async function findCards(eThree: EThree, identities: string[]): Promise<Map<string, VirgilCard>> {
  const found = new Map<string, VirgilCard>();
  for (let i = 0; i < identities.length; i += SEARCH_CHUNK) {
    const cards = await eThree.cardManager.searchCards(identities.slice(i, i + SEARCH_CHUNK));
    for (const card of cards) {
      const seen = found.get(card.identity);
      if (!seen || card.createdAt > seen.createdAt) found.set(card.identity, card);
    }
  }
  return found;
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
 * Creates the group with the given members. If it already exists (a previous run created it and
 * stopped before recording that), the existing group is loaded instead.
 */
export async function createOrLoadOwnGroup(svc: ServiceIdentity, groupId: string, cards: VirgilCard[]): Promise<{ group: VirgilGroup; created: boolean }> {
  try {
    const group = cards.length > 0
      ? await svc.eThree.createGroup(groupId, asFindUsersResult(cards))
      : await svc.eThree.createGroup(groupId);
    return { group, created: true };
  } catch (err) {
    if ((err as { name?: string } | null)?.name !== 'GroupTicketAlreadyExistsError') throw err;
    const group = await loadOwnGroup(svc, groupId);
    if (!group) throw new Error('the group exists on Virgil but could not be loaded');
    return { group, created: false };
  }
}

/** Adds members (cards); members already present are skipped. */
export async function addMembers(group: VirgilGroup, cards: VirgilCard[]): Promise<void> {
  const present = new Set(group.participants);
  const missing = cards.filter((card) => !present.has(card.identity));
  if (missing.length === 0) return;
  try {
    await group.add(asFindUsersResult(missing));
  } catch (err) {
    if (!isGroupError(err, GROUP_ERROR.ParticipantAlreadyAdded)) throw err;
  }
}

/**
 * Removes participants by identity: a new epoch for the remaining members, then the removed
 * identities lose access to every ticket. E3Kit reads only `identity` from the cards of removed
 * members, so members whose card is gone (unregistered users) can be removed too.
 */
export async function removeMembers(group: VirgilGroup, identities: string[]): Promise<void> {
  const present = new Set(group.participants);
  const targets = identities.filter((identity) => present.has(identity) && identity !== group.initiator);
  if (targets.length === 0) return;
  const byIdentity = Object.fromEntries(targets.map((identity) => [identity, { identity, publicKey: null } as unknown as VirgilCard]));
  await group.remove(byIdentity);
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
