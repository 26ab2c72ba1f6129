/**
 * Sorting failures of a reconcile run into "retry later" and "record and stop".
 *
 *   - Our own errors (DomainError) by kind: `unavailable` and `rate_limited` are transient;
 *     anything else (our configuration is unusable: the service key does not open, the service
 *     card belongs to another key...) is permanent.
 *   - E3Kit's errors by their fields: e3kit-node carries its own copies of virgil-sdk and keyknox,
 *     so `instanceof` against any class we could import is unreliable. Virgil answered 5xx, 429,
 *     408 or 401 (an expired token; a fresh one is signed next time), or the network failed →
 *     transient; Virgil refused a well-formed request with another 4xx → permanent.
 *   - PostgreSQL or the queue hiccupped → transient: BullMQ retries with backoff.
 * Unknown errors are treated as transient: retried a bounded number of times, then recorded.
 */
import type { GroupError } from '../db/schema.js';
import { DomainError, isTransient } from '../lib/errors.js';

export type FailureKind = 'transient' | 'permanent';
export interface Failure { kind: FailureKind; error: GroupError }

const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH',
  'ENETUNREACH', 'ECONNABORTED', 'ESOCKETTIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT',
]);
/** E3Kit's own error when its key storage has no key for the identity. */
const E3KIT_MISSING_KEY = 'MissingPrivateKeyError';
const MAX_MESSAGE = 300;

interface ErrorLike { name?: string; message?: string; code?: unknown; httpStatus?: unknown; status?: unknown; errno?: unknown }

function short(message: string): string {
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message;
}

/** The HTTP status of a Virgil client error (cards: httpStatus; keyknox: status; pythia: httpStatus). */
function virgilHttpStatus(err: ErrorLike): number | undefined {
  const status = err.name === 'KeyknoxClientError' ? err.status : err.httpStatus;
  return typeof status === 'number' && status >= 100 ? status : undefined;
}

export function classifyFailure(raw: unknown): Failure {
  const err = (typeof raw === 'object' && raw !== null ? raw : { message: String(raw) }) as ErrorLike;
  const name = err.name ?? 'Error';
  const message = short(err.message ?? String(raw));

  if (raw instanceof DomainError) {
    return { kind: isTransient(raw) ? 'transient' : 'permanent', error: { code: raw.code, message } };
  }
  if (name === E3KIT_MISSING_KEY) return { kind: 'permanent', error: { code: 'SERVICE_KEY_UNAVAILABLE', message } };


  const status = virgilHttpStatus(err);
  if (status !== undefined) {
    if (status === 429) return { kind: 'transient', error: { code: 'VIRGIL_RATE_LIMITED', message: `Virgil answered 429: ${message}` } };
    if (status >= 500) return { kind: 'transient', error: { code: 'VIRGIL_UNAVAILABLE', message: `Virgil answered ${status}: ${message}` } };
    if (status === 401) return { kind: 'transient', error: { code: 'VIRGIL_UNAUTHORIZED', message: `Virgil answered 401: ${message}` } };
    if (status === 408) return { kind: 'transient', error: { code: 'VIRGIL_UNAVAILABLE', message: `Virgil answered 408: ${message}` } };
    return { kind: 'permanent', error: { code: 'VIRGIL_REJECTED', message: `Virgil answered ${status}: ${message}` } };
  }
  // A keyknox error without a status never got an HTTP answer.
  if (name === 'KeyknoxClientError' || name === 'FetchError' || name === 'AbortError'
    || (typeof err.code === 'string' && NETWORK_CODES.has(err.code))) {
    return { kind: 'transient', error: { code: 'VIRGIL_UNREACHABLE', message } };
  }
  // node-postgres errors carry a five-character SQLSTATE.
  if (typeof err.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code)) {
    return { kind: 'transient', error: { code: 'DATABASE_ERROR', message } };
  }
  return { kind: 'transient', error: { code: 'RECONCILE_ERROR', message } };
}
