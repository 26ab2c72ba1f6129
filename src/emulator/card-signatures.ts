/**
 * Verification of a card's self signature for every key type E3Kit can generate.
 *
 * Ed25519 (the default) is checked with node:crypto. Everything else (secp256r1, RSA, the compound
 * Curve25519+Ed25519 and post-quantum Round5+Falcon keys) goes through the top-level virgil-crypto 5,
 * whose WASM loads from disk and works on Node 20 without workarounds.
 */
import { createPublicKey } from 'node:crypto';
import type { VirgilCrypto } from 'virgil-crypto';
import { importEd25519PublicKey } from '../virgil/keys.js';
import { virgilVerify } from '../virgil/jwt.js';

export type SelfSignatureCheck = 'valid' | 'invalid-signature' | 'unusable-key';

let virgilCrypto: Promise<VirgilCrypto> | undefined;

/** Loads virgil-crypto once; call at start-up so the first publish is not slowed down. */
export function warmUpCardCrypto(): Promise<VirgilCrypto> {
  virgilCrypto ??= (async () => {
    const { initCrypto, VirgilCrypto } = await import('virgil-crypto');
    await initCrypto();
    return new VirgilCrypto();
  })();
  return virgilCrypto;
}

export async function verifySelfSignature(publicKeyDer: Buffer, signedData: Buffer, signature: Buffer): Promise<SelfSignatureCheck> {
  const ed25519 = importEd25519PublicKey(publicKeyDer.toString('base64'));
  if (ed25519) return virgilVerify(signedData, signature, ed25519) ? 'valid' : 'invalid-signature';
  if (isKeyAgreementOnly(publicKeyDer)) return 'unusable-key';

  const crypto = await warmUpCardCrypto();
  let publicKey: ReturnType<VirgilCrypto['importPublicKey']>;
  try {
    publicKey = crypto.importPublicKey(publicKeyDer);
  } catch {
    return 'unusable-key';
  }
  try {
    if (!safeVerify(crypto, signedData, signature, publicKey)) return 'invalid-signature';
    // Negative control: virgil-crypto 5 answers `true` for any signature when the key cannot sign
    // (seen with Curve25519 keys). A genuine signature never also matches different data.
    const tampered = Buffer.concat([signedData, Buffer.from([0])]);
    return safeVerify(crypto, tampered, signature, publicKey) ? 'unusable-key' : 'valid';
  } finally {
    publicKey.dispose();
  }
}

function safeVerify(crypto: VirgilCrypto, data: Buffer, signature: Buffer, publicKey: ReturnType<VirgilCrypto['importPublicKey']>): boolean {
  try {
    return crypto.verifySignature(data, signature, publicKey);
  } catch {
    return false; // malformed signature encodings throw FoundationError
  }
}

/** X25519/X448 keys can only agree on keys; card signatures made "with" them are meaningless. */
function isKeyAgreementOnly(publicKeyDer: Buffer): boolean {
  try {
    const type = createPublicKey({ key: publicKeyDer, format: 'der', type: 'spki' }).asymmetricKeyType;
    return type === 'x25519' || type === 'x448';
  } catch {
    return false; // not a key Node knows (e.g. compound keys): let virgil-crypto decide
  }
}
