/**
 * Standard Webhooks verification (https://www.standardwebhooks.com): HMAC-SHA256 over
 * `${webhook-id}.${webhook-timestamp}.${raw body}` with the decoded bytes of the `whsec_<base64>`
 * secret, compared in constant time against every `v1,<base64>` entry of `webhook-signature`
 * (several entries allow secret rotation), and a timestamp within ±5 minutes so a captured request
 * cannot be replayed later. Runs on the raw bytes: re-serialised JSON would not match.
 */
import { createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { macsEqual } from '../lib/constant-time.js';
import { invalid, unauthenticated } from '../lib/errors.js';
import { MAX_SIGNATURES, SIGNATURE_TOLERANCE_SECONDS } from './limits.js';

export interface VerifiedDelivery {
  /** `webhook-id`: the event id, used as the idempotency key. */
  id: string;
  /** `webhook-timestamp` in unix seconds. */
  timestamp: number;
}

const REQUIRED_HEADERS = ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const;
const WEBHOOK_ID_PATTERN = /^[\x21-\x7e]{1,255}$/;
const SECRET_PREFIX = 'whsec_';

const unauthorized = unauthenticated;

/** The HMAC key: the bytes the `whsec_` secret encodes. */
export function signingKeyFromSecret(secret: string): Buffer {
  return Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
}

export function computeSignature(key: Buffer, id: string, timestamp: string, rawBody: Buffer): Buffer {
  return createHmac('sha256', key).update(`${id}.${timestamp}.`, 'utf8').update(rawBody).digest();
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  const text = Array.isArray(value) ? value.join(' ') : value;
  return text === undefined || text.trim() === '' ? undefined : text.trim();
}

/** The delivery's headers, checked: everything that can be decided before the body is read. */
export interface CheckedHeaders extends VerifiedDelivery {
  /** `webhook-timestamp` as sent (the signature covers these exact characters). */
  timestampText: string;
  signatureHeader: string;
}

/**
 * The three headers present and well-formed, and the timestamp within tolerance. Run before the body
 * is read, so a delivery refused by its headers costs no buffering.
 */
export function checkStandardHeaders(headers: IncomingHttpHeaders, nowMs: number): CheckedHeaders {
  const values = REQUIRED_HEADERS.map((name) => header(headers, name));
  const missing = REQUIRED_HEADERS.filter((_, i) => values[i] === undefined);
  if (missing.length > 0) {
    throw unauthorized('WEBHOOK_HEADERS_MISSING', 'Standard Webhooks headers are required', { missing });
  }
  const [id, timestampText, signatureHeader] = values as [string, string, string];

  if (!WEBHOOK_ID_PATTERN.test(id)) {
    throw invalid('WEBHOOK_ID_INVALID', 'webhook-id must be 1-255 printable ASCII characters without spaces');
  }
  if (!/^\d{1,12}$/.test(timestampText)) {
    throw unauthorized('WEBHOOK_TIMESTAMP_INVALID', 'webhook-timestamp must be unix time in seconds');
  }
  const timestamp = Number(timestampText);
  if (Math.abs(nowMs / 1000 - timestamp) > SIGNATURE_TOLERANCE_SECONDS) {
    throw unauthorized('WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE', `webhook-timestamp must be within ${SIGNATURE_TOLERANCE_SECONDS} seconds of the current time`);
  }
  return { id, timestamp, timestampText, signatureHeader };
}

/** Checks the headers, then the signature over the raw body bytes. */
export function verifyStandardWebhook(opts: { secret: string; headers: IncomingHttpHeaders; rawBody: Buffer; nowMs: number }): VerifiedDelivery {
  const { id, timestamp, timestampText, signatureHeader } = checkStandardHeaders(opts.headers, opts.nowMs);
  const expected = computeSignature(signingKeyFromSecret(opts.secret), id, timestampText, opts.rawBody);
  const entries = signatureHeader.split(' ').filter(Boolean).slice(0, MAX_SIGNATURES);
  let matched = false;
  for (const entry of entries) {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== 'v1') continue; // other schemes (e.g. v1a) are not ours
    const given = Buffer.from(entry.slice(comma + 1), 'base64');
    // No early exit: every listed signature is compared.
    if (macsEqual(given, expected)) matched = true;
  }
  if (!matched) throw unauthorized('WEBHOOK_SIGNATURE_INVALID', 'No valid webhook-signature for this body');
  return { id, timestamp };
}
