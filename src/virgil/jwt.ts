/**
 * Virgil JWT (`alg: VEDS512`) signing and verification without virgil-crypto's WASM.
 *
 * Virgil signs the SHA-512 digest of `base64url(header).base64url(body)` with Ed25519 and wraps the
 * 64-byte signature in a DER `SEQUENCE { AlgorithmIdentifier(sha512), OCTET STRING }` (83 bytes).
 * Ed25519 is deterministic, so the output is byte-identical to virgil-crypto's signer and accepted by
 * virgil-sdk's `JwtVerifier`, while several times faster on the hot path: SHA-512 and verification
 * come from node:crypto, the signature of a JWT from libsodium where it loads (src/crypto/ed25519.ts).
 */
import { KeyObject, sign, verify } from 'node:crypto';
import { digest } from '../lib/sha256.js';
import { createEd25519Signer, type Ed25519EngineName, type Ed25519Signer } from '../crypto/ed25519.js';

/** DER prefix of `SEQUENCE { SEQUENCE { OID sha512, NULL }, OCTET STRING(64) }`. */
const SIGNATURE_PREFIX = Buffer.from('3051300d060960864801650304020305000440', 'hex');
export const VIRGIL_SIGNATURE_LENGTH = SIGNATURE_PREFIX.length + 64;

export const VIRGIL_JWT_ALG = 'VEDS512';
export const VIRGIL_JWT_TYP = 'JWT';
export const VIRGIL_JWT_CTY = 'virgil-jwt;v=1';

export interface VirgilJwtHeader { alg: string; kid: string; typ: string; cty: string }
export interface VirgilJwtBody { iss: string; sub: string; iat: number; exp: number; ada?: unknown }

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** SHA-512, one-shot (src/lib/sha256.ts): a measurable share of a token's cost besides the signature itself. */
const sha512 = (data: Buffer | string): Buffer => digest('sha512', data);

/**
 * Signs data the Virgil way: Ed25519 over SHA-512(data), DER-wrapped. A KeyObject is used with
 * node:crypto as it is (one-off signatures); hot paths keep an Ed25519Signer per key.
 */
export function virgilSign(data: Buffer | string, key: KeyObject | Ed25519Signer): Buffer {
  const digest = sha512(data);
  return Buffer.concat([SIGNATURE_PREFIX, key instanceof KeyObject ? sign(null, digest, key) : key.sign(digest)]);
}

/** Verifies a Virgil (VEDS512) signature made over `data`. Never throws on malformed input. */
export function virgilVerify(data: Buffer | string, signature: Buffer, publicKey: KeyObject): boolean {
  if (signature.length !== VIRGIL_SIGNATURE_LENGTH) return false;
  if (!signature.subarray(0, SIGNATURE_PREFIX.length).equals(SIGNATURE_PREFIX)) return false;
  try {
    return verify(null, sha512(data), publicKey, signature.subarray(SIGNATURE_PREFIX.length));
  } catch {
    return false;
  }
}

export interface VirgilJwtSignerOptions {
  appId: string;
  appKeyId: string;
  /** Ed25519 private key imported from APP_KEY. */
  appKey: KeyObject;
  ttlSeconds: number;
  /** The Ed25519 engine; default: the process's (see src/crypto/ed25519.ts). */
  engine?: Ed25519EngineName;
}

export interface SignedVirgilJwt { token: string; expiresAt: Date }

/**
 * A per-app signer: the header is constant, so its base64url is computed once.
 * `sign(identity)` costs one SHA-512 and one Ed25519 signature.
 */
export class VirgilJwtSigner {
  readonly appId: string;
  readonly appKeyId: string;
  readonly ttlSeconds: number;
  readonly #signer: Ed25519Signer;
  readonly #headerB64: string;
  /** The issuer as a JSON string literal, quoted once. */
  readonly #issuerJson: string;

  constructor(opts: VirgilJwtSignerOptions) {
    this.appId = opts.appId;
    this.appKeyId = opts.appKeyId;
    this.ttlSeconds = opts.ttlSeconds;
    this.#signer = createEd25519Signer(opts.appKey, opts.engine);
    this.#issuerJson = JSON.stringify(`virgil-${opts.appId}`);
    // Key order matches virgil-sdk's JwtGenerator (alg, kid, typ, cty).
    this.#headerB64 = b64url(JSON.stringify({ alg: VIRGIL_JWT_ALG, kid: opts.appKeyId, typ: VIRGIL_JWT_TYP, cty: VIRGIL_JWT_CTY }));
  }

  sign(identity: string, nowMs: number = Date.now()): SignedVirgilJwt {
    const iat = Math.floor(nowMs / 1000);
    const exp = Math.floor((nowMs + this.ttlSeconds * 1000) / 1000);
    // The bytes of JSON.stringify({ iss, sub, iat, exp }) (virgil-sdk's key order), without building
    // the object: only the two strings need quoting.
    const body = `{"iss":${this.#issuerJson},"sub":${JSON.stringify(`identity-${identity}`)},"iat":${iat},"exp":${exp}}`;
    const unsigned = `${this.#headerB64}.${b64url(body)}`;
    return { token: `${unsigned}.${virgilSign(unsigned, this.#signer).toString('base64url')}`, expiresAt: new Date(exp * 1000) };
  }
}

export interface DecodedVirgilJwt {
  header: VirgilJwtHeader;
  body: VirgilJwtBody;
  signingInput: string;
  signature: Buffer;
}

/**
 * Splits and parses a Virgil JWT without checking its signature. Header and body are decoded as
 * Latin-1, mirroring virgil-sdk's `base-64` encoder. Returns null for anything malformed.
 */
export function decodeVirgilJwt(token: string): DecodedVirgilJwt | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('latin1'));
    const body = JSON.parse(Buffer.from(parts[1], 'base64url').toString('latin1'));
    if (typeof header !== 'object' || header === null || typeof body !== 'object' || body === null) return null;
    return { header, body, signingInput: `${parts[0]}.${parts[1]}`, signature: Buffer.from(parts[2], 'base64url') };
  } catch {
    return null;
  }
}
