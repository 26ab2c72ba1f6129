/**
 * Ed25519 signing for the hot path: libsodium when its native addon loads, node:crypto otherwise.
 *
 * Every Virgil JWT costs one Ed25519 signature, the largest single cost of GET /v1/virgil-jwt.
 * libsodium (through sodium-native, which ships prebuilt binaries in its npm package) signs in about
 * 14 µs on our 2-core machines, where node:crypto takes about 24 µs: the OpenSSL 3.0 inside Node 20
 * computes Ed25519 with portable 32-bit field arithmetic, libsodium with 64-bit limbs. Ed25519 is
 * deterministic (RFC 8032 §5.1.6), so both engines give the same bytes for the same key and message,
 * and anything that verifies one verifies the other. node:crypto stays as the fallback for a
 * platform without a prebuilt addon; `ed25519Engine` tells which one a process uses.
 */
import { createPublicKey, sign as nodeSign, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';

export type Ed25519EngineName = 'libsodium' | 'node:crypto';

export interface Ed25519Signer {
  readonly engine: Ed25519EngineName;
  /** The 64-byte Ed25519 signature of `message`. */
  sign(message: Uint8Array): Buffer;
}

/** The part of sodium-native used here. */
interface Sodium {
  crypto_sign_BYTES: number;
  crypto_sign_SECRETKEYBYTES: number;
  crypto_sign_PUBLICKEYBYTES: number;
  crypto_sign_seed_keypair(publicKey: Buffer, secretKey: Buffer, seed: Buffer): void;
  crypto_sign_detached(signature: Buffer, message: Uint8Array, secretKey: Buffer): void;
  sodium_memzero(buffer: Buffer): void;
}

function loadSodium(): { sodium: Sodium | null; reason: string | null } {
  try {
    return { sodium: createRequire(import.meta.url)('sodium-native') as Sodium, reason: null };
  } catch (err) {
    return { sodium: null, reason: (err as Error).message.split('\n')[0] };
  }
}

const loaded = loadSodium();

/** The engine this process signs with, and why libsodium is not it (null when it is). */
export const ed25519Engine: { name: Ed25519EngineName; unavailableReason: string | null } = Object.freeze({
  name: loaded.sodium ? 'libsodium' : 'node:crypto',
  unavailableReason: loaded.reason,
});

class NodeCryptoSigner implements Ed25519Signer {
  readonly engine = 'node:crypto';
  readonly #key: KeyObject;

  constructor(key: KeyObject) {
    this.#key = key;
  }

  sign(message: Uint8Array): Buffer {
    return nodeSign(null, message, this.#key);
  }
}

class LibsodiumSigner implements Ed25519Signer {
  readonly engine = 'libsodium';
  readonly #sodium: Sodium;
  /** libsodium's 64-byte secret key (seed ‖ public key); never leaves this object. */
  readonly #secretKey: Buffer;

  constructor(sodium: Sodium, key: KeyObject) {
    this.#sodium = sodium;
    const seed = Buffer.from(key.export({ format: 'jwk' }).d!, 'base64url');
    const publicKey = Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES);
    this.#secretKey = Buffer.alloc(sodium.crypto_sign_SECRETKEYBYTES);
    try {
      sodium.crypto_sign_seed_keypair(publicKey, this.#secretKey, seed);
    } finally {
      sodium.sodium_memzero(seed);
    }
    // The same key pair or nothing: a mismatch here would mean signatures nobody can verify.
    const expected = Buffer.from(createPublicKey(key).export({ format: 'jwk' }).x!, 'base64url');
    if (!publicKey.equals(expected)) throw new Error('libsodium derived a different Ed25519 public key');
  }

  sign(message: Uint8Array): Buffer {
    const signature = Buffer.allocUnsafe(this.#sodium.crypto_sign_BYTES);
    this.#sodium.crypto_sign_detached(signature, message, this.#secretKey);
    return signature;
  }
}

/**
 * A signer for an Ed25519 private key, with the process's engine unless one is asked for
 * (the benchmark's ceiling pins node:crypto; tests compare both).
 */
export function createEd25519Signer(key: KeyObject, engine: Ed25519EngineName = ed25519Engine.name): Ed25519Signer {
  if (key.asymmetricKeyType !== 'ed25519' || key.type !== 'private') throw new TypeError('an Ed25519 private key is required');
  if (engine === 'node:crypto') return new NodeCryptoSigner(key);
  if (!loaded.sodium) throw new Error(`libsodium is not available: ${loaded.reason}`);
  return new LibsodiumSigner(loaded.sodium, key);
}
