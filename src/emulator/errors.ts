/**
 * Error bodies of the emulated Virgil services.
 *
 * Every 4xx must be JSON `{"code": <non-zero int>, "message": "<non-empty>"}`: virgil-sdk parses 4xx
 * bodies with `response.json()` (a non-JSON body becomes a SyntaxError instead of VirgilHttpError), and
 * the keyknox client keeps `code` only when both `code` and `message` are truthy.
 */

/** Stable error codes. Those the clients interpret are Virgil's own; the rest are the emulator's choice. */
export const ErrorCode = {
  // Interpreted by clients.
  CARD_NOT_FOUND: 10001,
  TOKEN_EXPIRED: 20304,
  KEYKNOX_META_TOO_LARGE: 50005,
  KEYKNOX_INVALID_PREVIOUS_HASH: 50010,
  KEYKNOX_IDENTITIES_NOT_SET: 50021,

  // Authentication (never 20304, so virgil-sdk does not retry them).
  AUTH_HEADER_MISSING: 20300,
  TOKEN_MALFORMED: 20301,
  TOKEN_CLAIMS_INVALID: 20302,
  TOKEN_SIGNATURE_INVALID: 20303,

  // Generic request problems.
  ROUTE_NOT_FOUND: 10404,
  JSON_INVALID: 30000,
  BODY_INVALID: 30001,
  BASE64_INVALID: 30002,
  BODY_TOO_LARGE: 30003,
  MEDIA_TYPE_UNSUPPORTED: 30004,
  /** A management mutation without `content-type: application/json`. */
  JSON_CONTENT_TYPE_REQUIRED: 30005,
  INTERNAL: 10000,

  // Cards.
  CARD_CONTENT_INVALID: 30100,
  CARD_SELF_SIGNATURE_INVALID: 30101,
  CARD_IDENTITY_MISMATCH: 30102,
  CARD_PREVIOUS_INVALID: 30103,
  CARD_ALREADY_EXISTS: 30104,
  CARD_REVOKE_FORBIDDEN: 30105,

  // Keyknox.
  KEYKNOX_FIELD_MISSING: 50020,
  KEYKNOX_VALUE_INVALID: 50022,

  // Pythia.
  PYTHIA_BLINDED_PASSWORD_INVALID: 60010,

  // Management API.
  ADMIN_UNAUTHORIZED: 40100,
  ADMIN_FORBIDDEN: 40300,
  ADMIN_HOST_FORBIDDEN: 40301,
  APP_KEY_ADD_FORBIDDEN: 40302,
  APP_CONFLICT: 40900,
  FAULT_INJECTED: 90000,
} as const;

export class EmulatorError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'EmulatorError';
  }

  toBody(): VirgilErrorBody {
    return { code: this.code, message: this.message };
  }
}

export interface VirgilErrorBody {
  code: number;
  message: string;
}

export const badRequest = (code: number, message: string): EmulatorError => new EmulatorError(400, code, message);
export const unauthorized = (code: number, message: string): EmulatorError => new EmulatorError(401, code, message);
export const forbidden = (code: number, message: string): EmulatorError => new EmulatorError(403, code, message);
export const notFound = (code: number, message: string): EmulatorError => new EmulatorError(404, code, message);
export const conflict = (code: number, message: string): EmulatorError => new EmulatorError(409, code, message);

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Strict, canonical base64 (padded). Buffer.from() silently skips bad characters, which would let
 * garbage through; the clients only ever send canonical base64.
 */
export function decodeBase64(value: string, field: string, options: { allowEmpty?: boolean } = {}): Buffer {
  if (value === '' && options.allowEmpty) return Buffer.alloc(0);
  if (value === '' || !BASE64.test(value)) {
    throw badRequest(ErrorCode.BASE64_INVALID, `\`${field}\` must be non-empty standard base64.`);
  }
  return Buffer.from(value, 'base64');
}
