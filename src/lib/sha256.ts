/**
 * Hashing, in one place: SHA-256 for content keys, job ids and secret comparison, and the digest
 * Virgil's signatures are made over (src/virgil/jwt.ts). Node's one-shot crypto.hash (20.12 and
 * later) skips building a Hash object per call, which the webhook hot path does several times per
 * delivery and every token signature once.
 */
import { createHash, hash } from 'node:crypto';

export const digest: (algorithm: 'sha256' | 'sha512', data: string | Buffer) => Buffer = typeof hash === 'function'
  ? (algorithm, data) => hash(algorithm, data, 'buffer')
  : (algorithm, data) => createHash(algorithm).update(data).digest();

export const sha256 = (value: string | Buffer): Buffer => digest('sha256', value);

export const sha256Hex = (value: string | Buffer): string => digest('sha256', value).toString('hex');
