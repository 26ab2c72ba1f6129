/**
 * Sorting failures of a reconcile run into "retry later" and "record and stop".
 *
 * Errors are recognised by `name` and fields, never by class: e3kit-node carries its own copies of
 * virgil-sdk and keyknox, so `instanceof` against any class we could import is unreliable.
 *   - Virgil answered 5xx, 429, 408 or 401 (an expired token; a fresh one is signed next time),
 *     the network failed, PostgreSQL or the queue hiccupped → transient: BullMQ retries with backoff.
 *   - Virgil refused a well-formed request with another 4xx, or our own configuration is unusable
 *     (the service key does not open, the service card belongs to another key) → permanent.
 * Unknown errors are treated as transient: retried a bounded number of times, then recorded.
 */
import type { GroupError } from '../db/schema.js';

export type FailureKind = 'transient' | 'permanent';
export interface Failure { kind: FailureKind; error: GroupError }

/** A permanent failure detected by our own checks. */
export class PermanentReconcileError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'PermanentReconcileError';
  }
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH',
  'ENETUNREACH', 'ECONNABORTED', 'ESOCKETTIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT',
]);
const PERMANENT_CONFIGURATION_ERRORS: Record<string, string> = {
  SecretDecryptionError: 'SERVICE_KEY_UNAVAILABLE',
  ServiceKeyStorageError: 'SERVICE_KEY_UNAVAILABLE',
  MissingPrivateKeyError: 'SERVICE_KEY_UNAVAILABLE',
};
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

  if (name === 'PermanentReconcileError' && typeof err.code === 'string') {
    return { kind: 'permanent', error: { code: err.code, message } };
  }
  if (PERMANENT_CONFIGURATION_ERRORS[name]) {
    return { kind: 'permanent', error: { code: PERMANENT_CONFIGURATION_ERRORS[name], message } };
  }

  if (name === 'ReconcileTimeoutError') return { kind: 'transient', error: { code: 'RECONCILE_TIMEOUT', message } };

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
