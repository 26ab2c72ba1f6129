/**
 * Caller tokens as a tenant's backend would issue them (HS256 with node:crypto, no library), plus
 * deliberately broken variants for negative tests.
 */
import { createHmac } from 'node:crypto';

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

export function signHs(payload: Record<string, unknown>, secret: string, alg: 'HS256' | 'HS384' | 'HS512' = 'HS256'): string {
  const head = `${b64({ alg, typ: 'JWT' })}.${b64(payload)}`;
  const hash = alg === 'HS256' ? 'sha256' : alg === 'HS384' ? 'sha384' : 'sha512';
  return `${head}.${createHmac(hash, secret).update(head).digest('base64url')}`;
}

/** A valid caller token for `uid`, expiring in `ttl` seconds. */
export function userToken(secret: string, uid: string, extra: Record<string, unknown> = {}, ttl = 600): string {
  const now = Math.floor(Date.now() / 1000);
  return signHs({ sub: uid, iat: now, exp: now + ttl, ...extra }, secret);
}

export function unsignedToken(payload: Record<string, unknown>): string {
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`;
}
