/**
 * Cards v5 semantics (virgil-protocol.md §3): publish with self-signature check and rotation,
 * search (non-revoked cards, superseded ones included so clients can link chains), get, revoke.
 */
import { cardIdOf } from '../virgil/cards.js';
import { verifySelfSignature } from './card-signatures.js';
import { badRequest, conflict, decodeBase64, ErrorCode, forbidden, notFound } from './errors.js';
import type { AppCards, CardRecord, RawCardSignature } from './model.js';

export interface RawSignedModel {
  content_snapshot: string;
  signatures: RawCardSignature[];
}

interface CardContent {
  identity: string;
  previousCardId?: string;
  publicKey: Buffer;
}

const CARD_VERSION = '5.0';
const SELF_SIGNER = 'self';
const CARD_ID = /^[0-9a-f]{64}$/;

/**
 * The clients decode base64 with a Latin-1 decoder and hash/sign the UTF-8 encoding of that string;
 * doing the same keeps ids and signatures identical for every byte value.
 */
function clientText(bytes: Buffer): string {
  return bytes.toString('latin1');
}


export async function publishCard(cards: AppCards, callerIdentity: string, model: RawSignedModel): Promise<CardRecord> {
  const contentText = clientText(decodeBase64(model.content_snapshot, 'content_snapshot'));
  const content = parseContent(contentText);
  if (content.identity !== callerIdentity) {
    throw forbidden(ErrorCode.CARD_IDENTITY_MISMATCH, 'Card identity does not match the access token identity.');
  }
  await checkSelfSignature(model.signatures, contentText, content.publicKey);

  // Everything below is synchronous, so concurrent publishes cannot interleave between check and write.
  const id = cardIdOf(contentText);
  if (cards.byId.has(id)) throw conflict(ErrorCode.CARD_ALREADY_EXISTS, 'Card with the same content already exists.');
  const previous = content.previousCardId === undefined ? undefined : cards.byId.get(content.previousCardId);
  if (content.previousCardId !== undefined) {
    if (!previous || previous.identity !== content.identity) {
      throw badRequest(ErrorCode.CARD_PREVIOUS_INVALID, '`previous_card_id` does not name a card of this identity.');
    }
    if (previous.supersededBy !== undefined || previous.revoked) {
      throw badRequest(ErrorCode.CARD_PREVIOUS_INVALID, '`previous_card_id` names a card that is already superseded or revoked.');
    }
  }

  const record: CardRecord = {
    id,
    identity: content.identity,
    contentSnapshot: model.content_snapshot,
    signatures: model.signatures.map(({ signer, signature, snapshot }) => (snapshot === undefined ? { signer, signature } : { signer, signature, snapshot })),
    ...(content.previousCardId === undefined ? {} : { previousCardId: content.previousCardId }),
    revoked: false,
    createdAt: Date.now(),
  };
  if (previous) previous.supersededBy = id;
  cards.byId.set(id, record);
  const ids = cards.byIdentity.get(record.identity) ?? [];
  ids.push(id);
  cards.byIdentity.set(record.identity, ids);
  return record;
}

function parseContent(contentText: string): CardContent {
  let content: unknown;
  try {
    content = JSON.parse(contentText);
  } catch {
    throw badRequest(ErrorCode.CARD_CONTENT_INVALID, '`content_snapshot` is not base64 of a JSON object.');
  }
  if (typeof content !== 'object' || content === null || Array.isArray(content)) {
    throw badRequest(ErrorCode.CARD_CONTENT_INVALID, '`content_snapshot` is not base64 of a JSON object.');
  }
  const fields = content as Record<string, unknown>;
  if (typeof fields.identity !== 'string' || fields.identity.length === 0) {
    throw badRequest(ErrorCode.CARD_CONTENT_INVALID, 'Card content needs a non-empty `identity`.');
  }
  if (fields.version !== CARD_VERSION) throw badRequest(ErrorCode.CARD_CONTENT_INVALID, 'Card content `version` must be "5.0".');
  if (!Number.isSafeInteger(fields.created_at) || (fields.created_at as number) < 0) {
    throw badRequest(ErrorCode.CARD_CONTENT_INVALID, 'Card content `created_at` must be Unix seconds.');
  }
  if (typeof fields.public_key !== 'string') throw badRequest(ErrorCode.CARD_CONTENT_INVALID, 'Card content needs a `public_key`.');
  const previous = fields.previous_card_id;
  if (previous !== undefined && (typeof previous !== 'string' || !CARD_ID.test(previous))) {
    throw badRequest(ErrorCode.CARD_CONTENT_INVALID, 'Card content `previous_card_id` must be 64 lowercase hex characters.');
  }
  return {
    identity: fields.identity,
    publicKey: decodeBase64(fields.public_key, 'public_key'),
    ...(previous === undefined ? {} : { previousCardId: previous as string }),
  };
}

async function checkSelfSignature(signatures: RawCardSignature[], contentText: string, publicKey: Buffer): Promise<void> {
  const signers = new Set<string>();
  for (const entry of signatures) {
    if (signers.has(entry.signer)) throw badRequest(ErrorCode.BODY_INVALID, `Duplicate signature of signer "${entry.signer}".`);
    signers.add(entry.signer);
  }
  const self = signatures.find((entry) => entry.signer === SELF_SIGNER);
  if (!self) throw badRequest(ErrorCode.CARD_SELF_SIGNATURE_INVALID, 'Card has no "self" signature.');
  const signature = decodeBase64(self.signature, 'signatures[].signature');
  const extra = self.snapshot === undefined ? '' : clientText(decodeBase64(self.snapshot, 'signatures[].snapshot', { allowEmpty: true }));
  for (const other of signatures) {
    decodeBase64(other.signature, 'signatures[].signature');
    if (other.snapshot !== undefined) decodeBase64(other.snapshot, 'signatures[].snapshot', { allowEmpty: true });
  }

  const verdict = await verifySelfSignature(publicKey, Buffer.from(contentText + extra, 'utf8'), signature);
  if (verdict === 'unusable-key') {
    throw badRequest(ErrorCode.CARD_CONTENT_INVALID, 'Card `public_key` is not a signing key virgil-crypto can import.');
  }
  if (verdict === 'invalid-signature') throw badRequest(ErrorCode.CARD_SELF_SIGNATURE_INVALID, 'Card "self" signature is invalid.');
}

/** Non-revoked cards of the identities (superseded ones included), in request then publication order. */
export function searchCards(cards: AppCards, identities: string[]): CardRecord[] {
  const found: CardRecord[] = [];
  for (const identity of new Set(identities)) {
    for (const id of cards.byIdentity.get(identity) ?? []) {
      const card = cards.byId.get(id);
      if (card && !card.revoked) found.push(card);
    }
  }
  return found;
}

export function getCard(cards: AppCards, id: string): CardRecord {
  const card = CARD_ID.test(id) ? cards.byId.get(id) : undefined;
  if (!card) throw notFound(ErrorCode.CARD_NOT_FOUND, 'Requested card entity not found.');
  return card;
}

export function isOutdated(card: CardRecord): boolean {
  return card.revoked || card.supersededBy !== undefined;
}

/**
 * Revokes a card and its predecessors: e3kit's unregister revokes only the chain heads it sees, and a
 * superseded card must not resurface as current afterwards. Revoking twice is harmless.
 */
export function revokeCard(cards: AppCards, callerIdentity: string, id: string): void {
  const card = getCard(cards, id);
  if (card.identity !== callerIdentity) throw forbidden(ErrorCode.CARD_REVOKE_FORBIDDEN, 'Only the card owner may revoke a card.');
  for (let current: CardRecord | undefined = card; current && !current.revoked; ) {
    current.revoked = true;
    current = current.previousCardId === undefined ? undefined : cards.byId.get(current.previousCardId);
  }
}

export function outdatedCardIds(cards: AppCards, ids: string[]): string[] {
  return [...new Set(ids)].filter((id) => {
    const card = cards.byId.get(id);
    return card !== undefined && isOutdated(card);
  });
}

export function toRawModel(card: CardRecord): RawSignedModel {
  return { content_snapshot: card.contentSnapshot, signatures: card.signatures };
}
