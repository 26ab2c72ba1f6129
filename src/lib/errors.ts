/**
 * The service's error model, free of any framework: an error says what went wrong (a stable
 * UPPER_SNAKE_CASE `code`, a message a person can act on, optional `details`) and what kind of
 * failure it is. Code below src/http throws these; src/http alone turns a kind into an HTTP status
 * and the response envelope, and the group worker decides "retry later" or "record and stop" by
 * kind, never by an error's name.
 */

export type ErrorKind =
  /** The input is malformed or breaks a documented rule (400). */
  | 'invalid'
  /** The caller did not prove who they are (401). */
  | 'unauthenticated'
  /** The caller is known but may not do this (403). */
  | 'forbidden'
  | 'not_found'
  /** The request conflicts with the current state (409). */
  | 'conflict'
  | 'too_large'
  /** Well-formed, but its content cannot be used (422). */
  | 'unprocessable'
  | 'rate_limited'
  /** A dependency is down or busy: the same request may work later (503). */
  | 'unavailable'
  /** Our own stored configuration is unusable: retrying will not help until someone fixes it. */
  | 'misconfigured';

export class DomainError extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly code: string,
    message: string,
    readonly details?: Readonly<Record<string, unknown>>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Worth retrying later (a dependency failed); everything else needs a change first. */
export function isTransient(err: DomainError): boolean {
  return err.kind === 'unavailable' || err.kind === 'rate_limited';
}

export const invalid = (code: string, message: string, details?: Record<string, unknown>) => new DomainError('invalid', code, message, details);
export const unauthenticated = (code: string, message: string, details?: Record<string, unknown>) => new DomainError('unauthenticated', code, message, details);
export const forbidden = (code: string, message: string) => new DomainError('forbidden', code, message);
export const notFound = (code: string, message: string) => new DomainError('not_found', code, message);
export const conflict = (code: string, message: string) => new DomainError('conflict', code, message);
export const tooLarge = (code: string, message: string, details?: Record<string, unknown>) => new DomainError('too_large', code, message, details);
export const unprocessable = (code: string, message: string, details?: Record<string, unknown>) => new DomainError('unprocessable', code, message, details);
export const unavailable = (code: string, message: string) => new DomainError('unavailable', code, message);
export const misconfigured = (code: string, message: string) => new DomainError('misconfigured', code, message);
