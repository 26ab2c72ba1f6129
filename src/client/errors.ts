/**
 * The one error type of the client library. Every failure surfaces as an `E2eeError` with a stable
 * `code`; an encryption path never falls back to returning its input, and no message ever quotes a
 * plaintext or a password.
 */

export type E2eeErrorCode =
  /** The extension API answered with an error envelope (see `status` and `apiCode`). */
  | 'API_ERROR'
  /** The extension API could not be reached, or answered something that is not its envelope. */
  | 'NETWORK_ERROR'
  /** E3Kit's identity is not the one the extension API gave this caller. */
  | 'IDENTITY_MISMATCH'
  /** The user has a Virgil card but no key backup: only `rotateKey()` (losing history) can help. */
  | 'KEY_BACKUP_MISSING'
  /** The backup password is wrong. */
  | 'WRONG_PASSWORD'
  /** The key was made and published, but its backup failed: call `backupKey()` again. */
  | 'BACKUP_FAILED'
  | 'LOGIN_FAILED'
  | 'KEY_ROTATION_FAILED'
  /** No private key on this device: call `login()` first. */
  | 'NOT_LOGGED_IN'
  /** The other user has no Virgil card yet (has never logged in with encryption). */
  | 'USER_NOT_REGISTERED'
  /** The service says the caller is not a member of the group: nothing is encrypted for it. */
  | 'NOT_A_MEMBER'
  /** The Virgil group is not readable by the caller: not created yet, not added yet, or removed. */
  | 'GROUP_UNAVAILABLE'
  | 'ENCRYPT_FAILED'
  | 'DECRYPT_FAILED'
  /** The message's signature does not belong to the claimed sender. */
  | 'SENDER_NOT_VERIFIED'
  | 'INVALID_ARGUMENT';

export interface E2eeErrorDetails {
  /** HTTP status of an `API_ERROR`. */
  status?: number;
  /** The API's own error code (`TOKEN_EXPIRED`, `RATE_LIMITED`, …) of an `API_ERROR`. */
  apiCode?: string;
  cause?: unknown;
}

export class E2eeError extends Error {
  readonly code: E2eeErrorCode;
  readonly status: number | undefined;
  readonly apiCode: string | undefined;

  constructor(code: E2eeErrorCode, message: string, details: E2eeErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'E2eeError';
    this.code = code;
    this.status = details.status;
    this.apiCode = details.apiCode;
  }
}

export function isE2eeError(value: unknown, code?: E2eeErrorCode): value is E2eeError {
  return value instanceof E2eeError && (code === undefined || value.code === code);
}

/**
 * E3Kit's errors, recognised by name: e3kit bundles several copies of virgil-sdk, so `instanceof`
 * across them is unreliable.
 */
export function e3kitErrorName(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && typeof (error as { name?: unknown }).name === 'string'
    ? (error as { name: string }).name
    : undefined;
}

/** E3Kit's `GroupError` codes the library acts on. */
export const GroupErrorCode = {
  LocalGroupNotFound: 1,
  RemoteGroupNotFound: 3,
  DataVerificationFailed: 7,
  GroupIsOutdated: 10,
  NoAccess: 11,
} as const;

export function groupErrorCode(error: unknown): number | undefined {
  if (e3kitErrorName(error) !== 'GroupError') return undefined;
  const code = (error as { errorCode?: unknown }).errorCode;
  return typeof code === 'number' ? code : undefined;
}

/** E3Kit's way of saying the caller cannot read the group's tickets (its names are swapped; both mean this). */
export function isGroupAccessError(error: unknown): boolean {
  const code = groupErrorCode(error);
  return code === GroupErrorCode.NoAccess || code === GroupErrorCode.RemoteGroupNotFound;
}

/** Keeps an `E2eeError` as it is; wraps anything else under `code`. */
export function asE2eeError(error: unknown, code: E2eeErrorCode, message: string): E2eeError {
  if (error instanceof E2eeError) return error;
  if (e3kitErrorName(error) === 'MissingPrivateKeyError') {
    return new E2eeError('NOT_LOGGED_IN', 'No private key on this device: call login() first.', { cause: error });
  }
  return new E2eeError(code, message, { cause: error });
}
