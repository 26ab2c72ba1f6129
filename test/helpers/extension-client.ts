/**
 * Calls of the extension API as a chat client makes them, caller tokens in every algorithm a
 * tenant may configure, and verification of the Virgil JWTs we hand out with virgil-sdk's own
 * JwtVerifier (virgil-crypto 5), the way Virgil Cloud checks them.
 */
import { createHmac, sign, type KeyObject } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { initCrypto, VirgilAccessTokenSigner, VirgilCrypto } from 'virgil-crypto';
import { Jwt, JwtVerifier } from 'virgil-sdk';

export function virgilJwtCall(app: FastifyInstance, appId: string | undefined, token: string | undefined, path = '/v1/virgil-jwt') {
  return app.inject({
    method: 'GET',
    url: path,
    headers: { ...(appId === undefined ? {} : { appid: appId }), ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
  });
}

export function getIdentitiesCall(app: FastifyInstance, appId: string, token: string, body: unknown, headers: Record<string, string> = {}) {
  return app.inject({
    method: 'POST',
    url: '/v1/get-identities',
    headers: { appid: appId, authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const b64url = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

export type JwtAlgorithm = 'HS256' | 'HS384' | 'HS512' | 'RS256' | 'RS384' | 'RS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA';

/** Signs a JWT with node:crypto (ES signatures in the JOSE r||s form). */
export function signJwt(alg: JwtAlgorithm, key: KeyObject | string, payload: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const input = `${b64url({ alg, typ: 'JWT', ...header })}.${b64url(payload)}`;
  let signature: Buffer;
  if (alg.startsWith('HS')) {
    signature = createHmac(`sha${alg.slice(2)}`, key as string | KeyObject).update(input).digest();
  } else if (alg === 'EdDSA') {
    signature = sign(null, Buffer.from(input), key as KeyObject);
  } else {
    const digest = `sha${alg.slice(2)}`;
    signature = alg.startsWith('ES')
      ? sign(digest, Buffer.from(input), { key: key as KeyObject, dsaEncoding: 'ieee-p1363' })
      : sign(digest, Buffer.from(input), key as KeyObject);
  }
  return `${input}.${signature.toString('base64url')}`;
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);

export interface VirgilTokenCheck {
  /** virgil-sdk's JwtVerifier accepted the signature, kid, alg, typ and cty. */
  valid: boolean;
  jwt: Jwt;
}

let crypto: VirgilCrypto | null = null;

/** A checker of Virgil JWTs for one app key, as Virgil Cloud would check them. */
export async function virgilTokenChecker(appKey: string, appKeyId: string): Promise<(token: string) => VirgilTokenCheck> {
  if (!crypto) {
    await initCrypto();
    crypto = new VirgilCrypto();
  }
  const publicKey = crypto.extractPublicKey(crypto.importPrivateKey(appKey));
  const verifier = new JwtVerifier({ apiPublicKey: publicKey, apiKeyId: appKeyId, accessTokenSigner: new VirgilAccessTokenSigner(crypto) });
  return (token) => {
    const jwt = Jwt.fromString(token);
    return { valid: verifier.verifyToken(jwt), jwt };
  };
}
