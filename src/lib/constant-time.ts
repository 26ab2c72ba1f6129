/**
 * Comparing secrets without leaking them through timing. Both sides are hashed with SHA-256 first:
 * timingSafeEqual needs equal lengths, and comparing digests reveals neither the length of the
 * expected value nor how much of it matched.
 */
import { timingSafeEqual } from 'node:crypto';
import { sha256 } from './sha256.js';

/** Constant-time equality of two strings (or byte strings). */
export function secretsEqual(given: string | Buffer, expected: string | Buffer): boolean {
  return timingSafeEqual(sha256(given), sha256(expected));
}

/**
 * Index of the digest in `expectedDigests` (SHA-256 of each accepted secret) that `given` matches,
 * or -1. Every entry is compared, so timing tells neither which one matched nor whether any did.
 */
export function matchSecret(given: string | Buffer, expectedDigests: readonly Buffer[]): number {
  const digest = sha256(given);
  let match = -1;
  for (let i = 0; i < expectedDigests.length; i++) {
    if (timingSafeEqual(digest, expectedDigests[i])) match = i;
  }
  return match;
}

/** Constant-time equality of two MACs; false (without comparing) when their lengths differ. */
export function macsEqual(given: Buffer, expected: Buffer): boolean {
  return given.length === expected.length && timingSafeEqual(given, expected);
}
