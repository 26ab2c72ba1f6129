/**
 * Caller tokens as a tenant's backend issues them: HS256 JWTs with distinct `sub`, made with
 * node:crypto so no JWT library of ours is involved on the client side.
 */
import { createHmac, randomBytes } from 'node:crypto';

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

export interface CallerTokenSet {
  secret: string;
  uids: string[];
  tokens: string[];
}

export function makeCallerTokens(count: number, ttlSeconds = 3600): CallerTokenSet {
  const secret = randomBytes(32).toString('base64url');
  const header = b64url({ alg: 'HS256', typ: 'JWT' });
  const now = Math.floor(Date.now() / 1000);
  const uids: string[] = [];
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) {
    const uid = `bench-user-${i.toString(36)}-${randomBytes(3).toString('hex')}`;
    const signingInput = `${header}.${b64url({ sub: uid, iat: now, exp: now + ttlSeconds })}`;
    uids.push(uid);
    tokens.push(`${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`);
  }
  return { secret, uids, tokens };
}
