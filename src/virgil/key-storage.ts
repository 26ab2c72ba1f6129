/**
 * E3Kit key storage for a tenant's service identity, backed by the encrypted database.
 *
 * E3Kit's default storage writes the private key in plaintext under `.virgil-local-storage`. Here
 * the key lives only sealed in `tenants.service_private_key` (created at onboarding); `load()`
 * opens it on demand and hands it to E3Kit in memory. Nothing is ever written to disk and the
 * stored key can never be replaced through E3Kit: `save()` accepts only the very key already held
 * (E3Kit saves after publishing a card with a key pair we gave it) and refuses anything else, and
 * `remove()`/`clear()` only make E3Kit forget its cached copy.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { DomainError } from '../lib/errors.js';
import type { E3kitModule } from './e3kit-runtime.js';

type InitializeOptions = NonNullable<Parameters<E3kitModule['EThree']['initialize']>[1]>;
export type KeyEntryStorage = NonNullable<InitializeOptions['keyEntryStorage']>;
type KeyEntry = NonNullable<Awaited<ReturnType<KeyEntryStorage['load']>>>;
type SaveParams = Parameters<KeyEntryStorage['save']>[0];

/** E3Kit tried to replace or change the service key: a permanent refusal, never retried. */
export class ServiceKeyStorageError extends DomainError {
  constructor(message: string) {
    super('misconfigured', 'SERVICE_KEY_UNAVAILABLE', message);
  }
}

/** Public key (SPKI DER, base64) of a base64 PKCS#8 private key; null when it does not parse. */
function publicKeyOf(privateKeyBase64: string): string | null {
  try {
    const key = createPrivateKey({ key: Buffer.from(privateKeyBase64, 'base64'), format: 'der', type: 'pkcs8' });
    return createPublicKey(key).export({ format: 'der', type: 'spki' }).toString('base64');
  } catch {
    return null;
  }
}

export class SealedServiceKeyStorage implements KeyEntryStorage {
  readonly #createdAt = new Date();

  /**
   * @param identity the service identity this storage serves (the only entry name it knows)
   * @param openPrivateKey returns the decrypted base64 PKCS#8 key, read from the database
   */
  constructor(
    private readonly identity: string,
    private readonly openPrivateKey: () => Promise<string>,
  ) {}

  async load(name: string): Promise<KeyEntry | null> {
    if (name !== this.identity) return null;
    const value = await this.openPrivateKey();
    return { name, value, meta: {}, creationDate: this.#createdAt, modificationDate: this.#createdAt };
  }

  async exists(name: string): Promise<boolean> {
    return name === this.identity;
  }

  async save(params: SaveParams): Promise<KeyEntry> {
    if (params.name !== this.identity) throw new ServiceKeyStorageError('this key storage only holds the service identity key');
    const held = publicKeyOf(await this.openPrivateKey());
    if (held === null || publicKeyOf(params.value) !== held) {
      throw new ServiceKeyStorageError('refusing to replace the stored service identity key');
    }
    return { name: params.name, value: params.value, meta: params.meta ?? {}, creationDate: this.#createdAt, modificationDate: this.#createdAt };
  }

  async update(): Promise<KeyEntry> {
    throw new ServiceKeyStorageError('the service identity key cannot be changed through E3Kit');
  }

  /** The key stays in the database; E3Kit only drops its cached copy. */
  async remove(name: string): Promise<boolean> {
    return name === this.identity;
  }

  async list(): Promise<KeyEntry[]> {
    const entry = await this.load(this.identity);
    return entry ? [entry] : [];
  }

  async clear(): Promise<void> {}
}
