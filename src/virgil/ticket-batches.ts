/**
 * Batches of group members whose ticket pushes Virgil Cloud accepts.
 *
 * E3Kit stores a group ticket with one Keyknox push, encrypted once for the owner and every member
 * of that push; the encryption's `meta` carries one recipient entry per key, and Virgil Cloud refuses
 * a push whose `meta` is longer than 10,240 characters (error 50005, virgil-e3kit-js issue #160).
 * An entry's size depends on the member's key type. Measured with E3Kit's own crypto (base64
 * characters of `meta`: 648 for the owner alone, then per member):
 *
 *   ED25519, CURVE25519 339 · CURVE25519_ED25519 371 · RSA_2048 392 · SECP256R1 424
 *   RSA_3072 564 · RSA_4096 734 · RSA_8192 1,416 · CURVE25519_ROUND5_ED25519_FALCON 1,132
 *
 * so with the default key type at most 28 members fit one push, and 6 with RSA 8192 keys. Rather
 * than trusting a table, a batch is planned from each key's measured size (measured once per key
 * size and cached) and then checked by encrypting for the batch's keys: the size that counts is the
 * size E3Kit will produce.
 */
import { KEYKNOX_META_LIMIT } from './cloud-limits.js';
import type { ServiceIdentity, VirgilCard } from './service-identities.js';


type PublicKey = VirgilCard['publicKey'];

/** What planning needs of E3Kit's crypto. */
export interface TicketCrypto {
  /** The length of the `meta` E3Kit produces when it encrypts a ticket for the owner and `keys`. */
  metaLength(keys: PublicKey[]): number;
  /** Keys of one type and size have entries of one size: a name for that class (the exported key's length). */
  keyClass(key: PublicKey): string;
  /** The owner's key class: the base size and every entry's size are measured for one owner class. */
  readonly ownerClass: string;
}

/**
 * An estimate at least this far below the limit (64 characters plus 48 per recipient, many times
 * any difference seen between estimates and real sizes) is trusted without encrypting to check it.
 */
const checkMargin = (recipients: number) => 64 + 48 * recipients;

/** Measured sizes, per owner class: the base (owner alone) and each recipient key class's entry. */
const measured = new Map<string, number>();
const MAX_MEASURED = 1_000;

/**
 * Splits `cards` into batches, in order, whose ticket `meta` stays within `limit`. A card too big
 * for a batch of its own (which no key type E3Kit publishes comes near) still gets a batch of one,
 * so Virgil's own error names the problem instead of a silent skip.
 */
export function planTicketBatches(cards: VirgilCard[], crypto: TicketCrypto, limit = KEYKNOX_META_LIMIT): VirgilCard[][] {
  if (cards.length === 0) return [];
  const metaLength = (keys: PublicKey[]) => crypto.metaLength(keys);
  const remember = (key: string, measure: () => number): number => {
    let value = measured.get(key);
    if (value === undefined) {
      if (measured.size >= MAX_MEASURED) measured.clear();
      measured.set(key, (value = measure()));
    }
    return value;
  };
  const base = remember(`${crypto.ownerClass}|`, () => metaLength([]));
  const costOf = (card: VirgilCard): number => {
    const keyClass = crypto.keyClass(card.publicKey);
    return remember(`${crypto.ownerClass}|${keyClass}`, () => metaLength([card.publicKey]) - base);
  };

  const batches: VirgilCard[][] = [];
  let queue = cards;
  while (queue.length > 0) {
    let total = base;
    let size = 0;
    while (size < queue.length && (size === 0 || total + costOf(queue[size]!) <= limit)) total += costOf(queue[size++]!);
    // The estimate adds entry sizes; encoding lengths may differ by a few characters: near the
    // limit, check, and shrink.
    if (total > limit - checkMargin(size)) {
      while (size > 1 && metaLength(queue.slice(0, size).map((card) => card.publicKey)) > limit) size--;
    }
    batches.push(queue.slice(0, size));
    queue = queue.slice(size);
  }
  return batches;
}

/** The service identity's meta measure: E3Kit's crypto, the owner's keys, a ticket-sized value. */
export async function ticketCrypto(svc: ServiceIdentity): Promise<TicketCrypto> {
  const eThree = svc.eThree as unknown as {
    virgilCrypto: {
      signThenEncryptDetached(data: { value: string; encoding: 'base64' }, privateKey: unknown, publicKeys: unknown[]): { metadata: Uint8Array };
      exportPublicKey(key: unknown): Uint8Array;
    };
    keyLoader: { loadLocalKeyPair(): Promise<{ privateKey: unknown; publicKey: unknown } | null> };
  };
  const own = await eThree.keyLoader.loadLocalKeyPair();
  if (!own) throw new Error('the service identity has no private key');
  const sample = Buffer.alloc(64).toString('base64');
  const { virgilCrypto } = eThree;
  const keyClass = (key: unknown) => String(virgilCrypto.exportPublicKey(key).length);
  return {
    metaLength: (keys) => Buffer.from(virgilCrypto.signThenEncryptDetached({ value: sample, encoding: 'base64' }, own.privateKey, [own.publicKey, ...keys]).metadata)
      .toString('base64').length,
    keyClass,
    ownerClass: keyClass(own.publicKey),
  };
}

/** Batches for the service identity's tickets. */
export async function ticketBatcher(svc: ServiceIdentity): Promise<(cards: VirgilCard[]) => Promise<VirgilCard[][]>> {
  let crypto: TicketCrypto | undefined;
  return async (cards) => {
    if (cards.length === 0) return [];
    crypto ??= await ticketCrypto(svc);
    return planTicketBatches(cards, crypto);
  };
}
