/**
 * Secrets at rest: AES-256-GCM with a random 96-bit nonce per value. The tenant id and the column
 * name are bound as associated data, so a sealed value copied to another tenant or field fails to
 * open. Each value names the master key that sealed it, so keys can rotate: add a new key first in
 * MASTER_KEYS, run the re-wrap command, then drop the old key.
 *
 * Format: `ev1.<keyId>.<nonce b64url>.<ciphertext||tag b64url>`
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { DomainError } from '../lib/errors.js';

/** A master key and the id stored with every value it seals. */
export interface MasterKey { id: string; key: Buffer }

const VERSION = 'ev1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** A stored secret does not open: our configuration (master keys) is wrong, retrying will not help. */
export class SecretDecryptionError extends DomainError {
  constructor(message: string) {
    super('misconfigured', 'SECRET_UNREADABLE', message);
  }
}

/** The associated data: which tenant and which field a value belongs to. */
export interface SecretContext { tenant: string; field: string }

function aad(ctx: SecretContext): Buffer {
  return Buffer.from(`${VERSION}|tenant:${ctx.tenant}|field:${ctx.field}`, 'utf8');
}

export class Keyring {
  readonly #keys: Map<string, Buffer>;
  readonly activeKeyId: string;

  constructor(keys: MasterKey[]) {
    if (keys.length === 0) throw new Error('a keyring needs at least one key');
    this.#keys = new Map(keys.map((k) => [k.id, k.key]));
    this.activeKeyId = keys[0].id;
  }

  seal(plaintext: string | Buffer, ctx: SecretContext): string {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#keys.get(this.activeKeyId)!, nonce);
    cipher.setAAD(aad(ctx));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return `${VERSION}.${this.activeKeyId}.${nonce.toString('base64url')}.${body.toString('base64url')}`;
  }

  openBuffer(sealed: string, ctx: SecretContext): Buffer {
    const parts = sealed.split('.');
    if (parts.length !== 4 || parts[0] !== VERSION) throw new SecretDecryptionError('not a sealed value');
    const key = this.#keys.get(parts[1]);
    if (!key) throw new SecretDecryptionError(`master key "${parts[1]}" is not configured`);
    const nonce = Buffer.from(parts[2], 'base64url');
    const body = Buffer.from(parts[3], 'base64url');
    if (nonce.length !== NONCE_BYTES || body.length < TAG_BYTES) throw new SecretDecryptionError('malformed sealed value');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, nonce);
      decipher.setAAD(aad(ctx));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new SecretDecryptionError(`sealed value for ${ctx.field} does not open (wrong key, tenant or field)`);
    }
  }

  open(sealed: string, ctx: SecretContext): string {
    return this.openBuffer(sealed, ctx).toString('utf8');
  }

  /** The id of the master key a value was sealed with. */
  static keyIdOf(sealed: string): string | null {
    const parts = sealed.split('.');
    return parts.length === 4 && parts[0] === VERSION ? parts[1] : null;
  }

  /** Re-seals with the active key when the value was sealed with another one; null if already current. */
  rewrap(sealed: string, ctx: SecretContext): string | null {
    if (Keyring.keyIdOf(sealed) === this.activeKeyId) return null;
    return this.seal(this.openBuffer(sealed, ctx), ctx);
  }
}
