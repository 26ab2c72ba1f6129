/**
 * Import and export of the Ed25519 keys Virgil uses on the wire (base64 PKCS#8 / SPKI DER).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Imports APP_KEY (base64 of a PKCS#8 DER Ed25519 private key). Returns null when it is not one. */
export function importEd25519PrivateKey(base64: string): KeyObject | null {
  if (typeof base64 !== 'string' || base64.length > 4096 || !BASE64.test(base64)) return null;
  try {
    const key = createPrivateKey({ key: Buffer.from(base64, 'base64'), format: 'der', type: 'pkcs8' });
    return key.asymmetricKeyType === 'ed25519' ? key : null;
  } catch {
    return null;
  }
}

/** Imports a base64 SPKI DER Ed25519 public key. Returns null when it is not one. */
export function importEd25519PublicKey(base64: string): KeyObject | null {
  if (typeof base64 !== 'string' || base64.length > 4096 || !BASE64.test(base64)) return null;
  try {
    const key = createPublicKey({ key: Buffer.from(base64, 'base64'), format: 'der', type: 'spki' });
    return key.asymmetricKeyType === 'ed25519' ? key : null;
  } catch {
    return null;
  }
}

export function exportPrivateKeyBase64(key: KeyObject): string {
  return key.export({ format: 'der', type: 'pkcs8' }).toString('base64');
}

export function exportPublicKeyBase64(key: KeyObject): string {
  return (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'der', type: 'spki' }).toString('base64');
}

/** A fresh Ed25519 key pair in Virgil's wire encodings. */
export function generateEd25519KeyPair(): { privateKey: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey: exportPrivateKeyBase64(privateKey), publicKey: exportPublicKeyBase64(publicKey) };
}
