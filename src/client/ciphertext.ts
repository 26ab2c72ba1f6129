/**
 * Fail-closed checks on both ends of E3Kit. An encryption result is accepted only if it looks like
 * E3Kit's output (base64, and not the input handed back); anything else is an error, never a
 * message to send. A decryption result must be text.
 */
import { E2eeError } from './errors.js';

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** A signed and encrypted message is far longer than this, whatever its text. */
const MIN_CIPHERTEXT_LENGTH = 64;

export function requireText(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new E2eeError('INVALID_ARGUMENT', `${what} must be a string.`);
  return value;
}

export function checkedCiphertext(output: unknown, plaintext: string): string {
  if (typeof output !== 'string' || output === plaintext || output.length < MIN_CIPHERTEXT_LENGTH || !BASE64.test(output)) {
    throw new E2eeError('ENCRYPT_FAILED', 'E3Kit returned something that is not a ciphertext; nothing was encrypted.');
  }
  return output;
}

export function checkedPlaintext(output: unknown): string {
  if (typeof output !== 'string') throw new E2eeError('DECRYPT_FAILED', 'E3Kit returned no text.');
  return output;
}

/** `encryptedAt` as E3Kit wants it: the time the platform says the message was sent. */
export function toDate(value: Date | number | string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) throw new E2eeError('INVALID_ARGUMENT', 'encryptedAt is not a valid time.');
  return date;
}
