/**
 * Webhook bodies arrive as raw bytes (signatures are computed over them) and are parsed here, only
 * after the caller has been authenticated.
 */
import { invalid } from '../lib/errors.js';

const malformed = (message: string) => invalid('MALFORMED_JSON', message);

export function parseJsonBody(raw: unknown): unknown {
  if (!Buffer.isBuffer(raw) || raw.length === 0) throw malformed('Body must be a non-empty JSON document');
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    throw malformed('Body is not valid JSON');
  }
  // PostgreSQL text and jsonb cannot hold U+0000: refuse it here rather than fail at insert time.
  if (containsNul(value)) throw malformed('Body must not contain the character U+0000');
  return value;
}

function containsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (Array.isArray(value)) return value.some(containsNul);
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) if (k.includes('\u0000') || containsNul(v)) return true;
  }
  return false;
}
