/**
 * Compiled TypeBox checks for webhook bodies. Bodies are validated inside the handler (not by the
 * route schema) because authentication must run first and the raw bytes must stay untouched.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ApiError } from '../http/errors.js';
import { MAX_ID_LENGTH } from './limits.js';

const MAX_REPORTED_ERRORS = 10;

export function compileCheck<T extends TSchema>(schema: T): (value: unknown) => Static<T> {
  const check = TypeCompiler.Compile(schema);
  return (value) => {
    if (check.Check(value)) return value;
    const errors: { path: string; message: string }[] = [];
    for (const e of check.Errors(value)) {
      errors.push({ path: e.path || '/', message: e.message });
      if (errors.length >= MAX_REPORTED_ERRORS) break;
    }
    throw payloadInvalid('The webhook body does not match the expected schema', { errors });
  };
}

export function payloadInvalid(message: string, details?: Record<string, unknown>): ApiError {
  return new ApiError(400, 'WEBHOOK_PAYLOAD_INVALID', message, details);
}

/** uids and guids: what the platform uses, minus what would break storage or logs. */
// eslint-disable-next-line no-control-regex
const ID_PATTERN = /^[^\u0000-\u001f\u007f]+$/;
export const ID_PATTERN_SOURCE = '^[^\\u0000-\\u001f\\u007f]+$';

export function isValidId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH && ID_PATTERN.test(value);
}
