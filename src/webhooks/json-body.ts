/**
 * Webhook bodies arrive as raw bytes (signatures are computed over them) and are parsed here, only
 * after the caller has been authenticated.
 *
 * Nothing here walks the parsed value: JSON.parse itself is iterative (any nesting the body limit
 * allows parses), and the fields the service uses are checked by the parsers. Content the service
 * does not use — names with lone surrogates, escaped NULs, deep metadata, huge numbers — must never
 * stop an event from applying; the delivery is stored as the text received (see
 * webhook-event-repository.ts), which PostgreSQL always accepts.
 */
import { invalid } from '../lib/errors.js';

export interface JsonBody {
  value: unknown;
  /** The body as received, decoded as UTF-8 (invalid bytes become U+FFFD, as a text column needs). */
  text: string;
}

const malformed = (message: string) => invalid('MALFORMED_JSON', message);

export function parseJsonBody(raw: unknown): JsonBody {
  if (!Buffer.isBuffer(raw) || raw.length === 0) throw malformed('Body must be a non-empty JSON document');
  const text = raw.toString('utf8');
  try {
    return { value: JSON.parse(text), text };
  } catch {
    throw malformed('Body is not valid JSON');
  }
}
