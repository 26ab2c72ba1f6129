import { createHmac } from 'node:crypto';

/** An HS256 caller token as the demo tenant's backend would issue it (development only). */
export function demoCallerToken(secret: string, uid: string, ttlSeconds = 3600): string {
  const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: uid, iat: now, exp: now + ttlSeconds })}`;
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}
