/**
 * Compiled TypeBox checks for webhook bodies. Bodies are validated inside the handler (not by the
 * route schema) because authentication must run first and the raw bytes must stay untouched.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Type } from '@sinclair/typebox';
import { DomainError, invalid } from '../lib/errors.js';
import { ID_PATTERN } from '../lib/ids.js';

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

export function payloadInvalid(message: string, details?: Record<string, unknown>): DomainError {
  return invalid('WEBHOOK_PAYLOAD_INVALID', message, details);
}

/**
 * A uid or guid (src/lib/ids.ts). A RegExp schema, not a `pattern` string: TypeBox compiles string
 * patterns without the `u` flag the rule needs.
 */
export const Id = Type.RegExp(ID_PATTERN);
