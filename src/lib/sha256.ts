/**
 * SHA-256, the one way the service hashes (content keys, job ids, secret comparison). Node's
 * one-shot crypto.hash (20.12 and later) skips building a Hash object per call, which the webhook
 * hot path does several times per delivery; earlier Node 20 releases fall back to createHash.
 */
import * as crypto from 'node:crypto';

type OneShot = (algorithm: string, data: string | Buffer, outputEncoding: 'buffer' | 'hex') => Buffer | string;
const oneShot = (crypto as unknown as { hash?: OneShot }).hash;

export function sha256(value: string | Buffer): Buffer {
  return oneShot ? oneShot('sha256', value, 'buffer') as Buffer : crypto.createHash('sha256').update(value).digest();
}

export function sha256Hex(value: string | Buffer): string {
  return oneShot ? oneShot('sha256', value, 'hex') as string : crypto.createHash('sha256').update(value).digest('hex');
}
